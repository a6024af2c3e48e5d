"""Threads for the compiled kernels: which build runs, a guard for ``parallel=True`` builds, a block runner.

* :func:`choose_parallel` is the one rule every kernel follows: ``parallel=True`` (or None) means
  "threads allowed", and threads start only from a fixed amount of work (:data:`PARALLEL_MIN_WORK`
  inner-loop steps; :data:`TABLE_MIN_WORK` for the table kernel); False never starts them.
* :func:`run_serial_or_parallel` runs one of a kernel's two builds (:class:`~bmm_numba.kernels.jit.Builds`)
  by that rule.
* :func:`parallel_guard` serialises ``parallel=True`` calls while the threading layer is
  ``workqueue`` (or not chosen yet): two Python threads in its parallel regions at once abort
  the process (numba#8563, #9288).  The user's ``NUMBA_THREADING_LAYER`` is never overridden.
* :func:`run_blocks` runs one serial ``nogil`` build on ranges of fixed row blocks in Python
  threads, with no threading layer at all (the table kernel).

Policy and measurements: ``docs/design.md`` (threads).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba

__all__ = ["PARALLEL_MIN_WORK", "TABLE_MIN_WORK", "COMBINE_MIN_WORK", "WORK_KINDS", "choose_parallel",
           "run_serial_or_parallel", "parallel_guard", "threading_layer_is_safe", "run_blocks"]

#: Fewest inner-loop steps for which a kernel starts threads, a step being one K-entry add of
#: one cell: ``n * d * k`` for the dense and missing-value E-steps and statistics, ``nnz * k`` for
#: the sparse kernels.  Serial against parallel build per call (``python bench/thread_threshold.py``),
#: on the project's 2-core AMD EPYC shared with ~6 other jobs (load 4-4.5, the condition users of a
#: shared machine meet too; wall-clock medians, us):
#:
#: ========================  =========  ======  ========  ================
#: call                      steps      serial  parallel  parallel / serial
#: ========================  =========  ======  ========  ================
#: missing E-step 50 x 16    4 000      7       60        8.5
#: missing stats 435 x 16    34 800     20      72        3.7
#: missing E-step 1000 x 32  160 000    214     360       1.7
#: missing E-step 4000 x 64  1.3 M      1552    3918      2.5
#: missing stats 8000 x 128  5.1 M      9013    4995      0.55
#: sparse fused 100 x 200    16 000     18      129       7.0
#: sparse fused 1760 x 2000  2.8 M      1393    1039      0.75
#: ========================  =========  ======  ========  ================
#:
#: Starting the team costs 50-120 us (parallel minus half the serial time at the small sizes), a
#: step 0.5-1.7 ns: threads can pay only from ~2 x 100 us / 1.5 ns ~ 130 000 steps and gain a
#: quarter from ~4x that.  2^20 (~1-2 ms of serial work) keeps a margin for a busy machine, where
#: below it the parallel build was slower at every size measured (1.2-19x).
PARALLEL_MIN_WORK = 1 << 20

#: The same for the table kernel (:mod:`bmm_numba.kernels.table`), whose steps are ``n * d * KP``
#: (KP: K padded to the vector width): it adds one table row per non-zero 4-pixel group, ~16x
#: less work per counted step.  1000 MNIST rows (12.5 M steps): 277 us on two threads, 216 us on one.
TABLE_MIN_WORK = 1 << 24

#: The same for the table kernel's combine of its per-block partial tables, whose steps are the
#: partial tables' floats (MNIST: 0.5-0.7 ms serial, ~0.35 ms on two threads; a thread hand-off
#: costs ~50-100 us).
COMBINE_MIN_WORK = 1 << 18

#: ``kind`` argument of :func:`choose_parallel` -> name of the module constant it reads.
WORK_KINDS = {"cells": "PARALLEL_MIN_WORK", "table": "TABLE_MIN_WORK", "combine": "COMBINE_MIN_WORK"}

_SAFE_LAYERS = frozenset({"tbb", "omp"})
_LOCK = threading.RLock()
_known_safe = False


def threading_layer_is_safe() -> bool:
    """Return True once a thread-safe Numba threading layer is known to be in use."""
    global _known_safe
    if not _known_safe:
        try:
            _known_safe = numba.threading_layer() in _SAFE_LAYERS
        except ValueError:  # no parallel region has run yet: the layer is not chosen
            return False
    return _known_safe


@contextmanager
def parallel_guard():
    """Context manager around every call of a ``parallel=True`` kernel."""
    if threading_layer_is_safe():
        yield
    else:
        with _LOCK:
            yield


def choose_parallel(parallel, work, kind="cells") -> bool:
    """Decide whether a call uses threads: only when allowed and its work reaches the threshold.

    The one rule of every kernel (dense, missing-value, sparse, statistics, table, initialisation).

    Parameters
    ----------
    parallel : bool or None
        True or None: threads allowed (the estimator's ``parallel=True``); False: stay in the
        calling thread (what Dask tasks and thread pools need).
    work : int
        Inner-loop steps of the call (e.g. ``n_samples * n_features * n_components``).
    kind : {"cells", "table", "combine"}, default="cells"
        Which threshold applies: :data:`PARALLEL_MIN_WORK` (steps of one cell times K),
        :data:`TABLE_MIN_WORK` (the table kernel's ``n * d * KP``) or :data:`COMBINE_MIN_WORK`
        (the table's partial sums).  Read at each call.

    Returns
    -------
    bool
        True where the call should use threads: allowed, enough work, and more than one Numba
        thread (with ``numba.set_num_threads(1)`` the parallel build only adds its start-up:
        the fused sparse pass on 1760 x 2000 text, K = 10, fitted means, took 1.87 ms against
        1.32 ms for the serial build).  Both builds give bit-identical results, so the answer
        never changes a result, only its speed.
    """
    if kind not in WORK_KINDS:
        raise ValueError(f"kind must be one of {list(WORK_KINDS)}; got {kind!r}")
    if parallel is not None and not parallel:
        return False
    return work >= globals()[WORK_KINDS[kind]] and numba.get_num_threads() > 1


def run_serial_or_parallel(builds, args, *, parallel=None, work):
    """Call ``builds.parallel(*args)`` under :func:`parallel_guard`, or ``builds.serial(*args)``.

    Parameters
    ----------
    builds : Builds
        The two builds of one loop body (:func:`bmm_numba.kernels.jit.build_serial_and_parallel`).
    args : tuple
        The kernel's arguments (outputs included: kernels write into them).
    parallel : bool or None, default=None
        As in :func:`choose_parallel` (True and None: threads from :data:`PARALLEL_MIN_WORK` on).
    work : int
        As in :func:`choose_parallel`.  Both builds give bit-identical results (each ``prange``
        iteration owns its output slice), so the choice never changes an answer.
    """
    if choose_parallel(parallel, work):
        with parallel_guard():
            builds.parallel(*args)
    else:
        builds.serial(*args)


_POOL = None
_POOL_PID = None
_POOL_LOCK = threading.Lock()


def _pool():
    """Return the process's worker threads for :func:`run_blocks` (made again after a ``fork``)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():
            _POOL = ThreadPoolExecutor(max_workers=max(1, numba.config.NUMBA_NUM_THREADS - 1),
                                       thread_name_prefix="bmm_numba")
            _POOL_PID = os.getpid()
        return _POOL


def run_blocks(kernel, n_blocks, args, *, parallel=True):
    """Call ``kernel(first_block, stop_block, *args)`` over ``range(n_blocks)`` split in threads.

    Parameters
    ----------
    kernel : numba dispatcher
        A serial ``nogil`` build whose loop runs blocks ``first_block .. stop_block - 1``.
    n_blocks : int
        Number of blocks; they are fixed by the caller, so results do not depend on the number
        of threads.
    args : tuple
        The kernel's remaining arguments.
    parallel : bool, default=True
        Run the pieces side by side in up to ``numba.get_num_threads()`` Python threads (one of
        them the calling thread), or all in the calling thread (False).

    Notes
    -----
    No Numba threading layer is involved: safe from any number of threads under every layer,
    and the kernel compiles once (a ``parallel=True`` build added 2.5 s to a cold first ``fit``).
    """
    n_threads = min(n_blocks, numba.get_num_threads()) if parallel else 1
    if n_threads <= 1:
        kernel(0, n_blocks, *args)
        return
    bounds = [n_blocks * i // n_threads for i in range(n_threads + 1)]
    pool = _pool()
    futures = [pool.submit(kernel, bounds[i], bounds[i + 1], *args) for i in range(1, n_threads)]
    try:
        kernel(bounds[0], bounds[1], *args)
    finally:
        for future in futures:
            future.result()
