"""Dask scale-out: rows per second per worker on generated data, and the per-iteration overhead.

Two measurements on a ``distributed.LocalCluster`` (2 worker processes, 1 thread each):

* ``test_dask_fit_generated``: EM iterations on a generated data set of ``BMM_BENCH_DASK_ROWS``
  rows (default 200000, the CI smoke size; the README's number uses 10**7) whose chunks are
  made on the workers and never materialised as a whole: every iteration regenerates them, so
  the time of one plain pass over the data (generation + a sum) is measured too and reported
  next to it.
* ``test_iteration_overhead``: seconds per EM iteration on a data set that fits in memory
  (``BMM_BENCH_DASK_SMALL_ROWS``, default 100000), in memory (parallel kernels) against the same
  data persisted on the cluster: the difference is what Dask adds per iteration.

Run::

    BMM_BENCH_DASK_ROWS=10000000 python -m pytest bench/test_bench_dask.py -s --benchmark-autosave

``--benchmark-disable`` runs each once, as a test.  Parameters start from a fixed ``means_init``
(no initialisation pass) and every fit runs exactly ``ITERATIONS`` iterations (``tol=0``).
"""

import os
import time
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from bmm_numba import BernoulliMixture  # noqa: E402

N_ROWS = int(os.environ.get("BMM_BENCH_DASK_ROWS", "200000"))
N_SMALL = int(os.environ.get("BMM_BENCH_DASK_SMALL_ROWS", "100000"))
N_FEATURES, N_COMPONENTS, CHUNK_ROWS, ITERATIONS, N_WORKERS = 100, 10, 100_000, 3, 2
TRUE_MEANS = np.random.default_rng(0).uniform(0.05, 0.6, (N_COMPONENTS, N_FEATURES))
START = np.random.default_rng(1).uniform(0.25, 0.75, (N_COMPONENTS, N_FEATURES))

pytestmark = [
    # distributed's shutdown leaves sockets to the garbage collector (ResourceWarning), and its
    # scheduler warns when port 8787 is taken on this shared machine: neither is ours.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def _make_chunk(block_info=None):
    """One chunk of the mixture, seeded by its position: made on the worker that needs it."""
    info = block_info[None]
    (start, stop), _ = info["array-location"]
    rng = np.random.default_rng((12345, info["chunk-location"][0]))
    z = rng.integers(0, N_COMPONENTS, stop - start)
    return (rng.random((stop - start, N_FEATURES)) < TRUE_MEANS[z]).astype(np.uint8)


def _generated(n_rows):
    chunks = (tuple(min(CHUNK_ROWS, n_rows - s) for s in range(0, n_rows, CHUNK_ROWS)), (N_FEATURES,))
    return da.map_blocks(_make_chunk, chunks=chunks, dtype=np.uint8, meta=np.empty((0, 0), np.uint8))


def _fit(X):
    est = BernoulliMixture(N_COMPONENTS, means_init=START, tol=0.0, max_iter=ITERATIONS, accelerate="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a fixed number of iterations
        return est.fit(X)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=N_WORKERS, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


def test_dask_fit_generated(benchmark, client):
    X = _generated(N_ROWS)
    _fit(_generated(2 * CHUNK_ROWS)[:1000])  # warm-up: workers import and load the kernels
    start = time.perf_counter()
    X.sum().compute()
    plain_pass = time.perf_counter() - start
    benchmark.group = f"Dask fit, {N_ROWS} generated rows"
    est = benchmark.pedantic(_fit, args=(X,), rounds=1, iterations=1)
    per_iteration = benchmark.stats.stats.mean / ITERATIONS if benchmark.stats else float("nan")
    rows_per_s_per_worker = N_ROWS / per_iteration / N_WORKERS
    benchmark.extra_info.update(rows=N_ROWS, features=N_FEATURES, components=N_COMPONENTS, workers=N_WORKERS,
                                seconds_per_iteration=per_iteration, plain_pass_seconds=plain_pass,
                                rows_per_second_per_worker=rows_per_s_per_worker)
    print(f"\n{N_ROWS} rows x {N_FEATURES}, K={N_COMPONENTS}, {N_WORKERS} workers: {per_iteration:.3f} s per "
          f"iteration ({rows_per_s_per_worker:,.0f} rows/s/worker, generation included); "
          f"a plain pass (generate + sum) takes {plain_pass:.3f} s")
    assert np.isfinite(est.means_).all() and est.n_iter_ == ITERATIONS


@pytest.mark.parametrize("where", ["in_memory", "dask_persisted"])
def test_iteration_overhead(benchmark, client, where):
    X = _generated(N_SMALL)
    if where == "in_memory":
        X = X.compute()  # the in-memory fit never touches the cluster
        _fit(X[:1000])  # warm-up: compile or load the parallel kernels
        run = benchmark.pedantic(_fit, args=(X,), rounds=3, iterations=1)
    else:
        X = X.persist()
        distributed.wait(X)
        _fit(X[:1000])
        run = benchmark.pedantic(_fit, args=(X,), rounds=3, iterations=1)
    benchmark.group = f"EM iteration overhead, {N_SMALL} rows"
    per_iteration = benchmark.stats.stats.min / ITERATIONS if benchmark.stats else float("nan")
    benchmark.extra_info.update(rows=N_SMALL, where=where, seconds_per_iteration=per_iteration)
    print(f"\n{where}: {N_SMALL} rows, {per_iteration * 1e3:.1f} ms per iteration (best of 3 fits)")
    assert run.n_iter_ == ITERATIONS

