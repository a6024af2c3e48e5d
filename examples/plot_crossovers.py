"""
Where compiled loops win and where vectorisation wins
=====================================================

The ladder (:ref:`sphx_glr_auto_examples_plot_ladder.py`) compares the kernels at one shape.
Here one quantity at a time is varied around an MNIST-like shape (N = 2000 rows, D = 784
pixels, K = 10 components, 13 % ones) and the stable kernels of :data:`bmm_numba.E_STEPS`
are timed against attempt 4 (``numpy``: two matrix products and a log-sum-exp):

* ``numpy_gemm`` — attempt 4 folded into one matrix product;
* ``numba_log`` — a compiled loop over n, k, d (all N·K·D terms, like the matrix products);
* ``numba_ones`` — a compiled loop over the ones of each row only;
* ``numba`` — a compiled loop over the non-zero 4-pixel groups of each row, adding look-up
  table entries with vector registers.

Every panel runs on one thread (Numba's and BLAS's) except the last, which compares one
thread with all of them.  Sizes are small (at most 10000 × 784, or 2000 × 8192): the whole
example takes well under a minute.
"""

# %%
# Set-up
# ------
# Each time is the best of 7 runs of about 5 ms each (:mod:`timeit`), after one untimed call
# that compiles the kernel (or loads it from Numba's cache) and prepares the parameters.

import timeit

import matplotlib.pyplot as plt
import numba
import numpy as np
from threadpoolctl import threadpool_limits

from bmm_numba import E_STEPS
from bmm_numba.datasets import make_bernoulli_mixture

KERNELS = ("numpy", "numpy_gemm", "numba_log", "numba_ones", "numba")
BASE = {"N": 2000, "K": 10, "density": 0.13, "D": 784}
SWEEPS = {
    "N": [10, 30, 100, 300, 1000, 3000, 10000],
    "K": [2, 5, 10, 20, 50, 100, 200],
    "density": [0.01, 0.03, 0.13, 0.3, 0.5, 0.7, 0.9],
    "D": [16, 64, 256, 784, 2048, 8192],
}
all_threads = numba.get_num_threads()
print(f"machine: {all_threads} Numba threads available; one is used except in the last panel")


def case(N, K, density, D, seed=0):
    """Return generated rows and random-start parameters for one shape."""
    X, *_ = make_bernoulli_mixture(N, D, 10, density=density, random_state=seed)
    rng = np.random.default_rng(seed)
    return X, rng.uniform(0.25, 0.75, size=(K, D)), np.full(K, 1.0 / K)


def best_seconds(name, X, mu, pi, target=0.005):
    """Best of 7 timeit runs, seconds per call of ``E_STEPS[name](X, mu, pi)``."""
    timer = timeit.Timer(lambda: E_STEPS[name](X, mu, pi))
    once = timer.timeit(number=1)  # the warm-up call
    number = max(1, int(target / max(once, 1e-7)))
    return min(timer.repeat(repeat=7, number=number)) / number


numba.set_num_threads(1)
blas_limit = threadpool_limits(limits=1)
results = {}
for quantity, values in SWEEPS.items():
    results[quantity] = {name: [] for name in KERNELS}
    for value in values:
        X, mu, pi = case(**{**BASE, quantity: value})
        for name in KERNELS:
            results[quantity][name].append(best_seconds(name, X, mu, pi))
    print(f"\nvarying {quantity} (others: {', '.join(f'{q}={v}' for q, v in BASE.items() if q != quantity)});"
          " speed-up over numpy:")
    print(f"{quantity:>10s}" + "".join(f"{name:>12s}" for name in KERNELS) + "   numpy time")
    for i, value in enumerate(values):
        base = results[quantity]["numpy"][i]
        print(f"{value:>10}" + "".join(f"{base / results[quantity][name][i]:>12.2f}" for name in KERNELS)
              + f"   {base * 1e3:8.3f} ms")
blas_limit.restore_original_limits()

# %%
# Threads: one against all
# ------------------------
# The same N sweep for ``numba`` and ``numpy_gemm`` with one thread and with every thread
# (Numba's and BLAS's together).

thread_sweep = {}
for label, n_threads in (("1 thread", 1), (f"{all_threads} threads", all_threads)):
    numba.set_num_threads(n_threads)
    with threadpool_limits(limits=n_threads):
        for name in ("numpy_gemm", "numba"):
            thread_sweep[f"{name}, {label}"] = [best_seconds(name, *case(**{**BASE, "N": n})) for n in SWEEPS["N"]]
numba.set_num_threads(all_threads)
print(f"{'N':>8s}" + "".join(f"{label:>22s}" for label in thread_sweep))
for i, n in enumerate(SWEEPS["N"]):
    print(f"{n:>8d}" + "".join(f"{times[i] * 1e3:>19.3f} ms" for times in thread_sweep.values()))

# %%
# The crossovers
# --------------
# Solid lines: time per call (left axis, log scale).  Each panel varies one quantity; the
# others stay at N = 2000, K = 10, 13 % ones, D = 784.

labels = {"N": "N (rows)", "K": "K (components)", "density": "share of ones", "D": "D (features)"}
fig, axes = plt.subplots(2, 3, figsize=(14, 8.5))
for ax, quantity in zip(axes.flat, SWEEPS, strict=False):
    for name in KERNELS:
        ax.plot(SWEEPS[quantity], results[quantity][name], marker="o", markersize=4, label=name,
                ls="--" if name.startswith("numpy") else "-")
    ax.set_xscale("linear" if quantity == "density" else "log")
    ax.set_yscale("log")
    ax.set_xlabel(labels[quantity])
    ax.set_ylabel("seconds per E-step (1 thread)")
    ax.set_title(f"varying {quantity}")
    ax.grid(True, which="both", alpha=0.3)
axes.flat[0].legend(fontsize=8)
ax = axes.flat[4]
colors = {"numpy_gemm": "tab:orange", "numba": "tab:purple"}
for label, times in thread_sweep.items():
    name = label.split(",")[0]
    ax.loglog(SWEEPS["N"], times, marker="o", markersize=4, label=label, color=colors[name],
              ls="-" if "1 thread" in label else ":")
ax.set_xlabel("N (rows)")
ax.set_ylabel("seconds per E-step")
ax.set_title("one thread against all")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
ax = axes.flat[5]
for name, color in (("numba_ones", "tab:red"), ("numba", "tab:purple"), ("numba_log", "tab:green")):
    ratio = np.array(results["density"]["numpy"]) / np.array(results["density"][name])
    ax.plot(SWEEPS["density"], ratio, marker="o", markersize=4, color=color, label=name)
ax.axhline(1.0, color="k", lw=1, label="as fast as numpy")
ax.set_yscale("log")
ax.set_xlabel("share of ones")
ax.set_ylabel("speed-up over numpy (> 1: faster)")
ax.set_title("speed-up against the share of ones")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# Why each panel looks as it does
# -------------------------------
# The timings come from one short run on the machine that built this page; on a machine
# shared with other jobs they move by tens of percent between runs, so read the trends, not
# the third digit.
#
# **Varying N.**  Every kernel's cost becomes linear in N (the lines turn parallel, slope 1).
# For small N they flatten out: a call then costs tens of microseconds whatever its size
# (input checks, allocating the output, calling into NumPy or into compiled code), so the
# ratios there measure overheads, not loops.  ``numba`` runs the ``numba_ones`` loop below 192
# rows and its pattern table above, which is where it pulls away from every other line.
#
# **Varying K.**  ``numba_log`` does the same N·K·D multiply-adds as the matrix products, but
# one at a time; BLAS's GEMM loads each block of X once for many components and keeps the
# vector units busy, so the compiled loop falls further behind as K grows (its speed-up column
# shrinks).  ``numba``'s lead also shrinks with K: its table holds the summed weights of all
# 16 patterns of every 4-pixel group for every component, 16 × 196 × K doubles (250 KB at
# K = 10, 5 MB at K = 200), which outgrows the fast caches.
#
# **Varying the share of ones.**  ``numpy`` multiplies dense matrices: its work does not depend
# on the values, so its line is flat up to noise.  ``numba_ones`` does work proportional to the
# number of ones: it wins clearly on sparse rows, and its speed-up falls towards 1 (or below)
# as most pixels become 1 (last panel).  ``numba`` adds one table entry per *non-zero group of
# 4 pixels*, at most D / 4 per row and component, so it grows much less with density.
#
# **Varying D.**  At 16 or 64 features a row is so short that the fixed per-call and per-row
# costs dominate, and the compiled kernels' advantage is smaller than at D = 784 and beyond,
# where it is decided by how much arithmetic each kernel skips.
#
# **Threads.**  A parallel call has to wake its worker threads and wait for the slowest one;
# on a few rows that costs more than the whole computation, so the package's compiled kernels
# run serially on small problems (fewer than 2^20 n·d·k steps for the ``prange`` loops, 2^24
# for the table kernel) and only use threads above that.  BLAS decides on its own when to
# split a product.  On a machine whose cores are busy with other jobs a second thread may
# have to wait for a core, and a multi-threaded call can then be *slower* than a
# single-threaded one.  (On the idle 2-core machine of the README's benchmarks, two threads
# took ``numba`` from 11.5 to 6.0 ms on 60000 MNIST-shaped rows, ``numpy_gemm`` from 139 to 101 ms.)
