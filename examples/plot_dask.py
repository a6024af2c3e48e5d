"""
Fitting from a Dask array on a local cluster
============================================

:meth:`bmm_numba.BernoulliMixture.fit` accepts a ``dask.array.Array`` chunked along the rows.
Each EM iteration is then one map-reduce on the Dask scheduler in use: the K × D parameters
go to every worker, one task per row chunk computes that chunk's sufficient statistics with
the serial compiled kernels, and a tree of tasks adds them in chunk order.  Data larger than
memory never has to be loaded at once, and the result does not depend on how many workers
run the tasks.

Here: 20000 generated MNIST-shaped rows (784 pixels, 16 MB of uint8) in 10 chunks of 2000
rows, made by the workers, on a ``distributed.LocalCluster`` of one worker with two threads inside this process
(``processes=False``: no worker process to spawn, which keeps the example runnable inside a
documentation build), compared with the in-memory fit.  Needs ``dask[distributed]``
(``pip install "bmm_numba[dask]"``).  A few seconds.
"""

# %%
# Data made on the workers
# ------------------------
# ``da.map_blocks`` builds each chunk where it is needed, from its own seed, so the data never
# pass through this process (``da.from_array`` on a large in-memory array would instead put
# the whole array into the task graph).  ``persist()`` keeps the chunks in the workers' memory,
# so the EM iterations do not regenerate them.  The in-memory copy is only for the comparison.

import time
import warnings

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

from bmm_numba import BernoulliMixture
from bmm_numba.datasets import make_bernoulli_mixture

N, D, K, CHUNK = 20000, 784, 10, 2000
_, _, weights, means = make_bernoulli_mixture(1, D, K, density=0.13, sharpness=0.5, random_state=0)


def make_chunk(block_info=None):
    """Return one chunk of rows drawn from the mixture (seeded by the chunk's position)."""
    info = block_info[None]
    rows = info["chunk-shape"][0]
    rng = np.random.default_rng([0, info["chunk-location"][0]])
    labels = rng.choice(K, size=rows, p=weights)
    return (rng.random((rows, D)) < means[labels]).astype(np.uint8)


cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
client = Client(cluster)
print(f"cluster: {len(cluster.workers)} worker, {sum(w.state.nthreads for w in cluster.workers.values())} threads")

X_dask = da.map_blocks(make_chunk, dtype=np.uint8, chunks=((CHUNK,) * (N // CHUNK), (D,))).persist()
X = X_dask.compute()
print(f"X: {N} x {D} uint8, {X.mean():.1%} ones; as Dask: {X_dask.numblocks[0]} chunks of {CHUNK} rows")

# %%
# The two fits
# ------------
# With at most 20000 rows the starting point is computed from all rows, exactly as in memory,
# so both fits start from the same parameters and should end at the same model.  The start
# is ``init_params="random"`` (random soft assignments) so that there are EM iterations to
# watch: the default start (the best of 5 short EM runs) lands so close to the optimum on
# this generated data that EM stops after 2 iterations.  One untimed fit of each kind first
# loads the compiled kernels (the Dask tasks use their serial builds), so the times compare
# the fits, not the loading.

params = {"n_components": K, "init_params": "random", "random_state": 0}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # convergence is printed below
    for data in (X, X_dask):  # untimed warm-up: loads the compiled kernels into this process
        BernoulliMixture(**{**params, "max_iter": 1}).fit(data)
    start = time.perf_counter()
    in_memory = BernoulliMixture(**params).fit(X)
    seconds_memory = time.perf_counter() - start
    start = time.perf_counter()
    on_dask = BernoulliMixture(**params).fit(X_dask)
    seconds_dask = time.perf_counter() - start
for name, model, seconds in (("in memory", in_memory, seconds_memory), ("on Dask", on_dask, seconds_dask)):
    print(f"{name:10s}: {model.n_iter_} iterations (converged: {model.converged_}), {seconds:.2f} s, "
          f"objective per row {model.lower_bound_:.6f}")

# %%
# The same model
# --------------
# The Dask fit adds the chunks' statistics in a different order than the in-memory kernels
# do, so the two models agree to rounding, not bit for bit.  Predictions on a Dask array are
# lazy Dask arrays; ``compute()`` runs them on the cluster.

print(f"max |means difference|   = {np.abs(in_memory.means_ - on_dask.means_).max():.1e}")
print(f"max |weights difference| = {np.abs(in_memory.weights_ - on_dask.weights_).max():.1e}")
labels_dask = on_dask.predict(X_dask)
print(f"predict on Dask returns {type(labels_dask).__name__}; computed labels equal in-memory labels: "
      f"{np.array_equal(labels_dask.compute(), in_memory.predict(X))}")
print(f"score: in memory {in_memory.score(X):.6f}, on Dask {on_dask.score(X_dask):.6f}")

# %%
# Convergence of both fits, iteration by iteration (``lower_bounds_``, the objective EM
# maximises per row): the two curves lie on top of each other.

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(np.arange(1, in_memory.n_iter_ + 1), in_memory.lower_bounds_, lw=3, alpha=0.5, label="in memory")
ax.plot(np.arange(1, on_dask.n_iter_ + 1), on_dask.lower_bounds_, "k.--", lw=1, label="Dask, 10 chunks")
ax.set_xlabel("EM iteration")
ax.set_ylabel("objective per row (nats)")
ax.set_title("EM in memory and on a Dask LocalCluster")
ax.grid(True, alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Costs
# -----
# On data that fits in memory, Dask is slower: every iteration builds a task graph, sends the
# parameters, runs one task per chunk and reduces the results, while the in-memory fit runs
# the fused compiled E+M pass directly.  The printed times show the overhead on this machine.
# Dask pays off when the data do not fit in one process's memory (chunks read from disk, e.g.
# ``da.from_zarr``) or when a cluster of machines shares the work.

client.close()
cluster.close()
