"""
Where the time of a small fit goes: the kernel and the loop around it
=====================================================================

The gallery's first lesson is about one E-step: a loop in Python pays for every element it
touches, so the work moves into a compiled kernel.  This example is the same lesson one level
up.  A latent-class analysis fits *small* tables (hundreds of rows, a few dozen items), and it
fits many of them: starts, values of K, bootstrap replicates.  On such a table one pass of the
compiled kernels over the data takes tens of microseconds, and what Python does around them in
each EM iteration (the M-step in NumPy, the objective, the stopping test, checking the
arguments, allocating the outputs, calling the kernels) costs the same order of time: each of
those steps is a microsecond or more of interpreter and NumPy dispatch, however small its
arrays.  At this size the loop around the kernel is a cost of its own, which no faster kernel
removes.

The estimator therefore runs the whole EM iteration compiled for small in-memory data: one
compiled call runs pass, M-step, objective and stopping test until the fit converges (or a
collapsed component, a progress report or ``max_iter`` hands control back to Python).  Here
we time both ways on the same data and the same pass kernel:

* **before**: ``bmm_numba.em.loop.COMPILED_RUN_MAX_WORK = 0`` makes every fit take the Python
  loop around the backend's pass (what larger data still do, where a pass takes milliseconds);
* **after**: the package as it is (the compiled run, whose pass is one fused loop over each
  row's ones and missing cells, ``bmm_numba.kernels.row_lists``, instead of the backend's two
  kernels: an E-step, then the statistics).

Data: a *generated* survey of 435 respondents x 16 yes/no items with 5 % of the answers missing
(NaN), the size of the classic congressional-votes table, and K = 4 classes.  Everything is
measured when this page is built (perf_counter around the functions named below, medians of
repeated runs): the numbers are that build's, on whatever machine built it.  A few seconds.
"""

# %%
# The data and the timers
# -----------------------
# Four functions are wrapped with a timer that adds up the seconds spent inside them:
# ``run_em`` (one start's EM iterations); the backend's pass ``Backend.em_statistics``, which
# the Python loop calls once per iteration; inside that pass, the calls of its two compiled
# kernels (the E-step and the statistics of data with missing cells, each run through
# ``run_serial_or_parallel``, which picks the one-thread or the threaded build); and
# ``compiled_run``, the compiled EM run, called once per segment of iterations.  Each wrapper
# costs well under a microsecond a call.

import warnings
from contextlib import contextmanager
from time import perf_counter

import matplotlib.pyplot as plt
import numpy as np

from bmm_numba import BernoulliMixture
from bmm_numba.em import backend, loop
from bmm_numba.kernels import em_run, missing

N, D, K, MISSING = 435, 16, 4, 0.05
rng = np.random.default_rng(0)
centres = rng.uniform(0.1, 0.9, size=(2, D))  # two blocs of voters
X = (rng.random((N, D)) < centres[rng.integers(0, 2, N)]).astype(np.float64)
X[rng.random((N, D)) < MISSING] = np.nan
print(f"data: {N} x {D}, {np.isnan(X).mean():.1%} of the cells missing; K = {K}")


class Timer:
    """Seconds spent inside a wrapped function, and its calls."""

    def __init__(self):
        self.seconds, self.calls = 0.0, 0


@contextmanager
def timed(owner, name):
    """Replace ``owner.name`` by a wrapper that adds its time to a :class:`Timer` (yielded)."""
    timer, original = Timer(), getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timer.seconds += perf_counter() - start
            timer.calls += 1

    setattr(owner, name, wrapper)
    try:
        yield timer
    finally:
        setattr(owner, name, original)


@contextmanager
def python_loop(on):
    """With ``on``: every fit runs the Python loop around the backend's pass (the "before")."""
    saved = loop.COMPILED_RUN_MAX_WORK
    loop.COMPILED_RUN_MAX_WORK = 0 if on else saved
    try:
        yield
    finally:
        loop.COMPILED_RUN_MAX_WORK = saved


def fit(**params):
    """Fit K components to X (warnings about max_iter are part of the fixed runs below)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BernoulliMixture(K, **params).fit(X)


WAYS = {"before: Python loop around the pass": True, "after: compiled EM run": False}
for before in WAYS.values():  # compile every kernel both ways before timing anything
    with python_loop(before):
        fit(random_state=0)

# %%
# One EM iteration, taken apart
# -----------------------------
# A fixed run: plain EM (``accelerate="none"``) from the same random means for ``ITERATIONS``
# iterations (``tol=0`` stops only at the fixed point, not reached here), so both ways run the
# same number of passes.  Per iteration, before: the compiled kernels of the pass, the Python
# inside the pass around them (taking logarithms and transposes of the means, allocating the
# outputs, weighting the responsibilities), and the Python loop around the pass (the M-step,
# the objective, the collapse check, the stopping test).  After: the compiled run (which
# holds the pass *and* the M-step, objective and stopping test) and the Python around it.

ITERATIONS, REPEATS = 200, 7
means = rng.uniform(0.25, 0.75, size=(K, D))
fixed = {"means_init": means, "weights_init": np.full(K, 1.0 / K), "tol": 0.0, "max_iter": ITERATIONS,
         "accelerate": "none"}
parts = {}
for label, before in WAYS.items():
    runs = []
    for _ in range(REPEATS):
        with (python_loop(before), timed(loop, "run_em") as em, timed(backend.Backend, "em_statistics") as fused,
              timed(missing, "run_serial_or_parallel") as kernels, timed(em_run, "compiled_run") as compiled):
            model = fit(**fixed)
        passes = model.n_passes_
        if before:  # kernels | Python in the pass | Python loop around the pass
            split = (kernels.seconds, fused.seconds - kernels.seconds, em.seconds - fused.seconds)
        else:  # compiled run | Python around it
            split = (compiled.seconds, 0.0, em.seconds - compiled.seconds)
        runs.append([t / passes for t in split] + [passes, kernels.calls, compiled.calls])
    *split, passes, kernel_calls, compiled_calls = np.median(np.array(runs), axis=0)
    parts[label] = split
    us = [f"{1e6 * t:.1f}" for t in split]
    if before:
        print(f"{label}: {passes:.0f} passes, {1e6 * sum(split):.1f} us per iteration = {us[0]} us in the compiled "
              f"kernels ({kernel_calls / passes:.0f} calls per pass) + {us[1]} us of Python inside the pass + {us[2]} "
              "us of the Python loop around the pass")
    else:
        print(f"{label}: {passes:.0f} passes, {1e6 * sum(split):.1f} us per iteration = {us[0]} us in the compiled "
              f"run ({compiled_calls:.0f} call) + {us[2]} us of Python around it")

(kernel_s, glue_s, loop_s), (compiled_s, _, rest_s) = parts.values()
print(f"before, Python is {(glue_s + loop_s) / (kernel_s + glue_s + loop_s):.0%} of an iteration; after, a whole "
      f"compiled iteration costs {compiled_s / kernel_s:.2f} x the pass's kernels called from Python, and an "
      f"iteration is {(kernel_s + glue_s + loop_s) / (compiled_s + rest_s):.1f} x faster")

# %%
# A whole default fit
# -------------------
# The fit a user runs: ``BernoulliMixture(4, random_state=seed).fit(X)`` with the defaults (a
# short-EM start: the best of five short runs, then EM with SQUAREM to the stopping rule).
# Median over seeds, both ways.

SEEDS = range(7)
whole = {}
for label, before in WAYS.items():
    times, iterations = [], []
    for seed in SEEDS:
        with python_loop(before):
            start = perf_counter()
            model = fit(random_state=seed)
            times.append(perf_counter() - start)
        iterations.append(model.n_iter_)
    whole[label] = float(np.median(times))
    print(f"{label}: whole default fit {1e3 * whole[label]:.2f} ms (median of {len(times)}), "
          f"{np.median(iterations):g} iterations after the start")
slow, fast = whole.values()
print(f"whole default fit: {slow / fast:.1f} x faster with the compiled run")

# %%
# The picture
# -----------
# Left: one EM iteration in microseconds, split into the compiled part and the Python around
# it.  Right: the whole default fit in milliseconds.

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), width_ratios=[2, 1])
names = ["before:\nPython loop\naround the pass", "after:\ncompiled\nEM run"]
stacks = [("compiled: the pass's kernels (before), the whole iteration (after)", [kernel_s, compiled_s], "tab:green"),
          ("Python inside the pass", [glue_s, 0.0], "tab:red"),
          ("Python around the pass (before), around the compiled run (after)", [loop_s, rest_s], "tab:orange")]
left = np.zeros(2)
for label, values, color in stacks:
    values = 1e6 * np.array(values)
    ax.barh(names, values, left=left, color=color, label=label)
    left += values
for y, total in enumerate(left):
    ax.text(total, y, f"  {total:.1f} us", va="center")
ax.set_xlim(0, 1.35 * left.max())
ax.set_xlabel("microseconds per EM iteration")
ax.invert_yaxis()
ax.legend(fontsize=7, loc="lower right")
ax.set_title(f"One EM iteration, {N} x {D}, K = {K}")
ax2.bar(["before", "after"], [1e3 * slow, 1e3 * fast], color=["tab:orange", "tab:green"])
for x, value in enumerate((slow, fast)):
    ax2.text(x, 1e3 * value, f"{1e3 * value:.1f} ms", ha="center", va="bottom")
ax2.set_ylabel("milliseconds")
ax2.set_ylim(0, 1.25e3 * slow)
ax2.set_title("Whole default fit (median)")
fig.tight_layout()
plt.show()

# %%
# Reading the numbers
# -------------------
# Before, an iteration is the pass's two compiled kernels plus Python: inside the pass
# (logarithms and transposes of the means, new output arrays, the responsibilities times the
# weights, a dispatch per kernel call) and around it (the M-step's handful of small NumPy
# operations, the objective and log-prior, the collapse check, the stopping test, the checks
# of the next call).  The printed split says how large the Python share was on the machine
# that built this page; whatever the machine, it is not a share a faster kernel can remove.
# That is the gallery's first lesson one level up: there the Python loop around each
# element was the time, here the Python loop around each pass is a large part of it.
#
# After, the loop is compiled too: one call runs every iteration of a segment, and what Python
# does per iteration (recording the objectives, the progress hooks) is that call's overhead
# spread over the segment, a few percent.  The compiled iteration, pass *and* M-step, costs
# less than the two kernels of the old pass called from Python: it makes no arrays, checks
# nothing twice, and reads each row once for the E-step and the statistics.
#
# The whole default fit gains less than one iteration does.  Its other costs are paid once
# per fit and are now most of it: checking and encoding the input, drawing the five short-EM
# starts and running them (side by side, one thread each), the final E-step and the labels.
# That is what is left in a small fit, and why the estimator runs many small fits (``n_init``
# starts, K values, short-EM candidates) concurrently rather than making one of them faster.
