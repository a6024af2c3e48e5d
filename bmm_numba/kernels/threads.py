"""Threads for the compiled kernels: a guard for ``parallel=True`` kernels, and a block runner.

The ``workqueue`` threading layer aborts the whole process (SIGABRT, "Concurrent access has been
detected") when two Python threads enter parallel regions at once (numba#8563, #9288).  A
``parallel=True`` kernel releases the GIL inside its parallel region, so this really happens
when users call the package from a thread pool.  ``tbb`` and ``omp`` are thread-safe.

Policy: the user's choice of layer (``NUMBA_THREADING_LAYER``) is never overridden.  While the
layer is unknown (no parallel region has run yet in this process) or is ``workqueue``, parallel
calls are serialised by one module-level lock; once a safe layer is known, no lock is taken.

The table kernel (:mod:`bmm_numba._e_step_lut`) does not use a threading layer at all:
:func:`run_blocks` runs its one serial ``nogil`` build on ranges of fixed row blocks in Python
threads.  Its ``parallel=True`` build compiled in ~5 s against ~2.5 s for the serial one
(the cold first ``fit`` went from 5.8 s to 3.3 s), and ran no faster: MNIST train E-step,
2 threads, 4.68 ms median against 4.79 ms under ``omp`` (separate processes; interleaved
with ``omp`` kernels in one process the threads lose, as ``omp`` workers spin for a while
after each parallel region).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba

__all__ = ["parallel_guard", "threading_layer_is_safe", "run_blocks"]

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

    ``kernel`` is a serial ``nogil`` build whose loop runs blocks ``first_block .. stop_block - 1``:
    Python threads run the pieces side by side (one in the calling thread), as many as
    ``numba.get_num_threads()`` allows.  Blocks are fixed by the caller, so results do not depend
    on the number of threads.  No Numba threading layer is involved: safe to call from any number
    of threads at once under every layer, and the kernel compiles once (a ``parallel=True``
    build of the table pass added 2.5 s to the cold compile of a first ``fit``).
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
