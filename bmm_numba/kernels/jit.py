"""One place for Numba options: JIT flags, caching, and serial/parallel builds.

Every compiled kernel in the package is built here, from one undecorated loop body, twice:
a serial build (``prange`` runs as ``range``) and a ``parallel=True`` build.  The serial
build is what tests compare against and what runs inside Dask tasks; the parallel build is
what the registries expose.
"""

from __future__ import annotations

import os
import types

import numba

__all__ = ["JIT_OPTIONS", "CACHE_ENABLED", "JIT_DISABLED", "build_serial_and_parallel"]

#: Options shared by every kernel.
#:
#: * ``fastmath=False``: ``nnan``/``ninf`` break ``isnan``/``isfinite`` and turn the log-sum-exp
#:   of an all ``-inf`` row into NaN, and ``reassoc`` changes results between CPU types
#:   (NOTES-numba.md).  ``log(0) = -inf`` is a real value in this package.
#: * ``error_model="numpy"``: division by zero gives inf/NaN like NumPy instead of raising,
#:   which keeps ``raise`` (and its serialising effect on ``prange``) out of the loops.
#: * ``nogil=True``: serial builds release the GIL so Python threads (and Dask's threaded
#:   scheduler) really run them side by side.
JIT_OPTIONS = {"nogil": True, "fastmath": False, "error_model": "numpy"}

#: ``BMM_NUMBA_CACHE=0`` switches the on-disk Numba cache off.
CACHE_ENABLED = os.environ.get("BMM_NUMBA_CACHE", "1").strip().lower() not in {"0", "false", "no", "off"}

#: ``NUMBA_DISABLE_JIT=1`` (the ``nojit`` tox env) runs the loop bodies as plain Python.
JIT_DISABLED = bool(numba.config.DISABLE_JIT)

#: Fork-safe by default (docs/design.md, "fork"): with no layer chosen by the user, Numba would
#: pick GNU OpenMP, after which a forked child that runs a kernel is killed and a ``fork`` pool
#: hangs; ``"forksafe"`` picks TBB when installed, else ``workqueue`` (serialised by
#: ``threads.parallel_guard``).  A layer the user chose, by variable or in code, is kept.
if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "forksafe"


def _jit(body, *, parallel: bool):
    """Compile ``body`` lazily with the shared options; enable caching where it can work.

    ``cache=True`` in the decorator raises ``RuntimeError`` at import when no cache directory
    is writable (numba#4032), which would make the package unimportable from a read-only
    install.  Enabling the cache afterwards inside ``try`` degrades to "no cache" instead.
    """
    dispatcher = numba.njit(parallel=parallel, **JIT_OPTIONS)(body)
    if CACHE_ENABLED and not JIT_DISABLED:
        try:
            dispatcher.enable_caching()
        except RuntimeError:  # no writable cache location: run uncached
            pass
    return dispatcher


def _renamed(body, suffix):
    """Return a copy of ``body`` whose ``__qualname__`` ends in ``suffix``.

    Numba names cache files after the function's qualified name and line, not after its
    ``parallel`` flag: two builds of one function would share cache entries, and the parallel
    dispatcher would silently load the serial machine code (seen here: no thread ever started).
    Distinct names give each build its own cache files.
    """
    clone = types.FunctionType(body.__code__, body.__globals__, body.__name__, body.__defaults__,
                               body.__closure__)
    clone.__qualname__ = f"{body.__qualname__}__{suffix}"
    clone.__doc__ = body.__doc__
    clone.__module__ = body.__module__
    return clone


def build_serial_and_parallel(body):
    """Build one loop body twice.

    Parameters
    ----------
    body : function
        Undecorated Python function whose outer loop uses ``numba.prange``.

    Returns
    -------
    serial, parallel : numba dispatchers
        The same body compiled with ``parallel=False`` and ``parallel=True``.
    """
    return _jit(_renamed(body, "serial"), parallel=False), _jit(_renamed(body, "parallel"), parallel=True)
