r"""
The E-step ladder: from a Python triple loop to compiled kernels
================================================================

The E-step of a Bernoulli mixture computes, for every row ``x_n`` of a 0/1 matrix ``X``
(N × D), the responsibilities

.. math::

    \gamma_{nk} = \frac{\pi_k \prod_d \mu_{kd}^{x_{nd}} (1-\mu_{kd})^{1-x_{nd}}}
                        {\sum_j \pi_j \prod_d \mu_{jd}^{x_{nd}} (1-\mu_{jd})^{1-x_{nd}}}.

The same formula can be written many ways.  This example climbs the article's ladder, every
rung taken from the package's kernel registry :data:`bmm_numba.E_STEPS` (one signature,
``f(X, mu, pi) -> gamma``), and times each rung live with :mod:`timeit`:

1. ``python_loops`` — pure-Python triple loop over n, k, d multiplying probabilities;
2. ``python_log`` — loop over n and k, the sum over d vectorised in log space;
3. ``numpy_rows`` — loop over n only, two matrix-vector products per row;
4. ``numpy`` — fully vectorised: two matrix products (BLAS) and a log-sum-exp;

then the one-GEMM NumPy form (``numpy_gemm``) and the compiled Numba kernels
(``numba_loops``, ``numba_log``, ``numba_ones``, ``numba``).

Sizes are small so the page builds in seconds: MNIST-shaped generated rows (D = 784 pixels,
about 13 % ones), K = 10 components, N from 5 to 5000 rows — attempt 1 only up to N = 100 and
attempt 2 up to N = 500, the slowest rungs by far.  The whole example takes under half a minute.
"""

# %%
# Data and parameters
# -------------------
# The article's benchmark setup: means drawn from U(0.25, 0.75) (a random EM start), uniform
# weights.  The rows are generated from a Bernoulli mixture shaped like binarised MNIST, so no
# file is needed.
#
# Everything runs on **one thread** here (Numba's and the BLAS library's), so that the ladder
# compares ways of writing the loop, not numbers of cores, and so that the timings stay
# meaningful on a busy machine (a multi-threaded BLAS call waits for its slowest thread).
# :ref:`sphx_glr_auto_examples_plot_crossovers.py` measures what threads add.

import timeit

import matplotlib.pyplot as plt
import numba
import numpy as np
from threadpoolctl import threadpool_limits

from bmm_numba import E_STEPS, TEACHING_KERNELS
from bmm_numba.datasets import make_bernoulli_mixture

D, K = 784, 10
SIZES = [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
MAX_ROWS = {"python_loops": 100, "python_log": 500}  # the slow rungs stop early

X_all, *_ = make_bernoulli_mixture(max(SIZES), D, K, density=0.13, random_state=0)
rng = np.random.default_rng(0)
mu = rng.uniform(0.25, 0.75, size=(K, D))
pi = np.full(K, 1.0 / K)
print(f"X: {X_all.shape[0]} x {D} uint8, {X_all.mean():.1%} ones; K = {K}")
print("registry order:", ", ".join(E_STEPS))

numba_threads = numba.get_num_threads()  # restored at the end of the example
blas_limit = threadpool_limits(limits=1)
numba.set_num_threads(1)

# %%
# Warm up: the first compiled call is not timed
# ---------------------------------------------
# Numba compiles a kernel the first time it is called (or loads the machine code from its
# on-disk cache when an earlier run compiled it).  That one-off cost would swamp every small
# timing, so each compiled kernel is called once on few and on many rows (small and large
# calls may take different compiled paths), timed on its own, and left out of the ladder.
# The compiled kernels also keep the terms they prepared from the last ``(mu, pi)``
# (``log mu``, ``log(1 - mu)``, tables) and reuse them while the parameters are unchanged, as
# they are in this loop of repeated calls; the Python and NumPy rungs recompute everything.

for name, f in E_STEPS.items():
    if name.startswith("numba"):
        start = timeit.default_timer()
        f(X_all[:5], mu, pi)
        f(X_all, mu, pi)
        print(f"first calls of {name:12s} {timeit.default_timer() - start:7.3f} s  (compile or load from cache)")

# %%
# Timing every rung
# -----------------
# Each time is the best of 5 :func:`timeit.Timer.repeat` runs, each run long enough (about
# 5 ms, or one call for the slow rungs) to be well above the clock's resolution.  The best run
# is the least disturbed by other processes.


def seconds_per_call(f, X, repeat=5, target=0.005):
    """Best-of-``repeat`` seconds per call of ``f(X, mu, pi)``, ``number`` sized to ``target`` s."""
    timer = timeit.Timer(lambda: f(X, mu, pi))
    once = timer.timeit(number=1)
    number = max(1, int(target / max(once, 1e-7)))
    return min(timer.repeat(repeat=repeat, number=number)) / number


times = {name: {} for name in E_STEPS}
for name, f in E_STEPS.items():
    for n in SIZES:
        if n <= MAX_ROWS.get(name, max(SIZES)):
            times[name][n] = seconds_per_call(f, X_all[:n])


def fmt(seconds):
    """Seconds as a short string with a unit."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


print(f"{'kernel':14s}" + "".join(f"{'N=' + str(n):>10s}" for n in SIZES))
for name in E_STEPS:
    print(f"{name:14s}" + "".join(f"{fmt(times[name][n]) if n in times[name] else '-':>10s}" for n in SIZES))

# %%
# Every rung computes the same thing
# ----------------------------------
# With these parameters (a random start, every factor about 0.5) the product over 784 pixels
# is around 1e-250: small but still a double, so even the probability-space teaching kernels
# are finite here.  (:ref:`sphx_glr_auto_examples_plot_nan.py` shows the parameters on which
# they are not.)

X_check = X_all[:100]
reference = E_STEPS["numpy"](X_check, mu, pi)
for name, f in E_STEPS.items():
    print(f"{name:14s} max |gamma - gamma_numpy| = {np.abs(f(X_check, mu, pi) - reference).max():.1e}")

# %%
# Time against N
# --------------
# Both axes are logarithmic: a cost proportional to N is a line of slope 1, and the vertical
# gap between two lines is their speed ratio.  Dashed lines are the teaching kernels (they
# keep the article's numerics and may return NaN on a fitted model).

fig, ax = plt.subplots(figsize=(8, 5.5))
for name in E_STEPS:
    ns = sorted(times[name])
    style = "--" if name in TEACHING_KERNELS else "-"
    ax.loglog(ns, [times[name][n] for n in ns], style, marker="o", markersize=4, label=name)
ax.set_xlabel("N (rows)")
ax.set_ylabel("seconds per E-step call (best of 5)")
ax.set_title(f"E-step time against N (D = {D}, K = {K}, one thread)")
ax.grid(True, which="both", alpha=0.3)
ax.legend(ncol=2, fontsize=9)
fig.tight_layout()
plt.show()

# %%
# Speed-ups
# ---------
# At N = 100 every rung ran; at N = 5000 only the fast ones did.  Speed-up = the reference's
# time divided by the kernel's time (more than 1 is faster).

n_small, n_large = 100, max(SIZES)
print(f"{'kernel':14s} {'vs attempt 1, N=' + str(n_small):>22s} {'vs attempt 4, N=' + str(n_small):>22s}"
      f" {'vs attempt 4, N=' + str(n_large):>22s}")
for name in E_STEPS:
    vs1 = times["python_loops"][n_small] / times[name][n_small]
    vs4 = times["numpy"][n_small] / times[name][n_small]
    vs4_large = times["numpy"][n_large] / times[name][n_large] if n_large in times[name] else float("nan")
    print(f"{name:14s} {vs1:22.3g} {vs4:22.3g} {vs4_large:22.3g}")

for (a, b), rung in zip((("python_loops", "python_log"), ("python_log", "numpy_rows"), ("numpy_rows", "numpy")),
                        ("1 -> 2", "2 -> 3", "3 -> 4"), strict=True):
    print(f"attempt {rung}: {times[a][n_small] / times[b][n_small]:.1f}x faster (N = {n_small})")

# %%
# What the ladder teaches
# -----------------------
# * **Leaving the interpreter is the first and biggest step.**  Attempt 1 pays Python's
#   per-operation cost for each of the N·K·D = N × 7840 multiplications.  Attempt 2 moves the
#   sum over d into one NumPy call per (n, k), attempt 3 the sum over k too (a matrix-vector
#   product per row), attempt 4 the loop over n as well (two matrix-matrix products, which
#   BLAS blocks for the cache and vectorises).  Each rung removes a Python loop, and the
#   printed ratios show how much each one was worth on this machine.
# * **Compiling a loop is not automatically faster than vectorising it.**  ``numba_loops`` and
#   ``numba_log`` compile attempts 1 and 2 faithfully.  They still do all N·K·D multiply-adds,
#   one element at a time, and are no faster than the vectorised ``numpy`` (see the speed-up
#   columns): BLAS does the same arithmetic blocked for the cache and with vector instructions.
# * **Compiled loops win when they do less work.**  ``numba_ones`` adds a weight only for the
#   pixels that are 1 (about 13 % here); ``numba`` adds one table entry per non-zero group of 4
#   pixels with vector registers.  No dense matrix product can skip the zeros: at the largest N
#   both are ahead of the NumPy lines, ``numba`` by about an order of magnitude or more.
# * **Small calls are fixed costs.**  From N = 5 to N = 20 the fast kernels' lines are nearly
#   flat: input checks, allocating the output and Python's call overhead cost more than the
#   arithmetic.  Below 192 rows ``numba`` runs the ``numba_ones`` loop (building its table only
#   pays off on more rows); its line bends down between N = 100 and 200, where the table switches on.
#
# The timings vary between machines and runs (±30 % on a shared machine); the shape of the
# ladder does not.  :ref:`sphx_glr_auto_examples_plot_crossovers.py` varies K, density and D.

# restore the thread settings for whatever runs next in this process
blas_limit.restore_original_limits()
numba.set_num_threads(numba_threads)
