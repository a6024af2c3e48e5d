"""Guard parallel kernels against concurrent entry under Numba's ``workqueue`` layer.

The ``workqueue`` threading layer aborts the whole process (SIGABRT, "Concurrent access has been
detected") when two Python threads enter parallel regions at once (numba#8563, #9288).  A
``parallel=True`` kernel releases the GIL inside its parallel region, so this really happens
when users call the package from a thread pool.  ``tbb`` and ``omp`` are thread-safe.

Policy: the user's choice of layer (``NUMBA_THREADING_LAYER``) is never overridden.  While the
layer is unknown (no parallel region has run yet in this process) or is ``workqueue``, parallel
calls are serialised by one module-level lock; once a safe layer is known, no lock is taken.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numba

__all__ = ["parallel_guard", "threading_layer_is_safe"]

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
