"""Threads for the compiled kernels: which build runs, a guard for ``parallel=True`` builds, a block runner.

* :func:`run_serial_or_parallel` runs one of a kernel's two builds (:class:`~bmm_numba.kernels.jit.Builds`);
  ``parallel=None`` means the same everywhere: choose by size (:func:`choose_parallel`).
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

__all__ = ["PARALLEL_MIN_WORK", "choose_parallel", "run_serial_or_parallel", "parallel_guard",
           "threading_layer_is_safe", "run_blocks"]

#: ``parallel=None`` runs the parallel build from this many inner-loop steps on (``n * d * k`` for a
#: dense E-step): below it starting the thread team costs more than it saves (at n = 5 on MNIST
#: shapes the parallel build took ~8x as long as the serial one on 2 cores).
PARALLEL_MIN_WORK = 1 << 20

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


def choose_parallel(parallel, work, min_work=PARALLEL_MIN_WORK) -> bool:
    """Resolve a kernel's ``parallel`` argument: the one meaning of ``parallel=None``.

    Parameters
    ----------
    parallel : bool or None
        True: use threads; False: stay in the calling thread (what Dask tasks and thread pools
        need); None: choose by size, threads from ``min_work`` steps on.
    work : int
        Inner-loop steps of the call (e.g. ``n_samples * n_features * n_components``).
    min_work : int, default=PARALLEL_MIN_WORK
        The size from which ``None`` uses threads.

    Returns
    -------
    bool
    """
    if parallel is None:
        return work >= min_work
    return bool(parallel)


def run_serial_or_parallel(builds, args, *, parallel=None, work=0):
    """Call ``builds.parallel(*args)`` under :func:`parallel_guard`, or ``builds.serial(*args)``.

    Parameters
    ----------
    builds : Builds
        The two builds of one loop body (:func:`bmm_numba.kernels.jit.build_serial_and_parallel`).
    args : tuple
        The kernel's arguments (outputs included: kernels write into them).
    parallel : bool or None, default=None
        As in :func:`choose_parallel`.
    work : int, default=0
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
