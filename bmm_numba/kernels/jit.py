"""One place for Numba options: JIT flags, caching, and serial/parallel builds.

Every compiled kernel in the package is built here from one undecorated loop body: a serial
build (``prange`` runs as ``range``; what Dask tasks and thread pools run) and, where threads
pay, a ``parallel=True`` build, the two held in one :class:`Builds` pair.
:func:`bmm_numba.kernels.threads.run_serial_or_parallel` chooses between them.  Why the cache
is switched on after decorating and why each build gets its own name: ``docs/design.md``
(JIT options and caching).
"""

from __future__ import annotations

import os
import types
from typing import NamedTuple

import numba

__all__ = ["JIT_OPTIONS", "CACHE_ENABLED", "JIT_DISABLED", "Builds", "build_serial", "build_serial_and_parallel"]

#: Options shared by every kernel.
#:
#: * ``fastmath=False``: ``nnan``/``ninf`` break ``isnan``/``isfinite`` and turn the log-sum-exp
#:   of an all ``-inf`` row into NaN, and ``reassoc`` changes results between CPU types
#:   (``docs/design.md``).  ``log(0) = -inf`` is a real value in this package.
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

    Caching is enabled after decorating, inside ``try``: ``cache=True`` in the decorator makes
    the import fail where no cache folder is writable (numba#4032).
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

    Each build needs its own cache files: Numba names them after the qualified name, not the
    ``parallel`` flag, and a parallel build loaded the serial one's code from a shared entry.
    """
    clone = types.FunctionType(body.__code__, body.__globals__, body.__name__, body.__defaults__,
                               body.__closure__)
    clone.__qualname__ = f"{body.__qualname__}__{suffix}"
    clone.__doc__ = body.__doc__
    clone.__module__ = body.__module__
    return clone


class Builds(NamedTuple):
    """The two builds of one loop body (unpacks as ``serial, parallel``)."""

    serial: object
    parallel: object


def build_serial(body):
    """Build a loop body once, serial (``prange`` runs as ``range``): for kernels run by threads of ours.

    Parameters
    ----------
    body : function
        Undecorated Python function.

    Returns
    -------
    serial : numba dispatcher
        The same as ``build_serial_and_parallel(body).serial`` (same cache files).
    """
    return _jit(_renamed(body, "serial"), parallel=False)


def build_serial_and_parallel(body):
    """Build one loop body twice.

    Parameters
    ----------
    body : function
        Undecorated Python function whose outer loop uses ``numba.prange``.

    Returns
    -------
    builds : Builds
        ``(serial, parallel)``: the same body compiled with ``parallel=False`` and ``parallel=True``.
    """
    return Builds(build_serial(body), _jit(_renamed(body, "parallel"), parallel=True))
