"""``bmm-numba info`` and the machine description that ``compare`` records."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numba
import numpy as np

from .. import __version__
from ..datasets import MNIST_ENV_VAR, mnist_dir_from_env

__all__ = ["run_info", "cpu_name", "versions", "threading_layer", "cache_files", "clear_cache", "CACHE_ADVICE"]

#: What to do when the compiled-kernel cache is damaged (truncated index files made every fit
#: fail with a pickle traceback).
CACHE_ADVICE = ("the compiled-kernel cache is damaged: run `bmm-numba info --clear-cache` (the kernels compile "
                "again on the next fit), or set BMM_NUMBA_CACHE=0 to run without the cache")


def cpu_name():
    """Return the CPU model name, or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def versions():
    """Return the versions of Python and the packages the results depend on."""
    import importlib.metadata as md

    versions = {"python": platform.python_version(), "bmm_numba": __version__}
    for dist in ("numpy", "numba", "llvmlite", "scipy", "scikit-learn", "matplotlib"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def _parallel_touch(out):  # compiled on demand by threading_layer(), never at import
    for i in numba.prange(out.shape[0]):
        out[i] = i


def threading_layer():
    """Numba's threading layer in use; runs one tiny parallel loop first if none has run yet."""
    from ..kernels import jit as _jit  # noqa: F401  (its import chooses the layer: "forksafe" by default)

    if numba.config.DISABLE_JIT:
        return "none (NUMBA_DISABLE_JIT=1)"
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet: the layer is chosen on the first one
        numba.njit(parallel=True)(_parallel_touch)(np.empty(4))
        return numba.threading_layer()


def package_location():
    """Return the folder of the installed ``bmm_numba`` package."""
    return Path(__file__).resolve().parents[1]


def _under_package(path):
    """Return ``path`` as ``<package>/...`` when it lies inside the package folder.

    The local path is then printed once, on the ``package`` line.
    """
    try:
        return str(Path("<package>") / Path(path).resolve().relative_to(package_location()))
    except ValueError:
        return str(path)


def _cache_dir():
    """Where Numba caches the package's compiled kernels."""
    from ..kernels import e_step_numba as _e_step_numba
    from ..kernels.jit import CACHE_ENABLED

    if not CACHE_ENABLED:
        return "off (BMM_NUMBA_CACHE=0)"
    try:
        kernel = next(iter(_e_step_numba.COMPILED_KERNELS.values())).builds.parallel
        path = kernel._cache._cache_path  # Numba internals: informational only
    except Exception:
        return numba.config.CACHE_DIR or "next to the package, else the user cache folder"
    return _under_package(path) if path else "none (no writable cache location: kernels compile on every run)"


def _probe():  # a function for Numba's cache locators, which locate by function and source file
    pass


def cache_files():
    """Return the package's compiled-kernel cache files (``.nbi`` index and ``.nbc`` data), wherever Numba keeps them.

    Every source file of the package is given to Numba's cache locators in Numba's order (a
    folder named by ``NUMBA_CACHE_DIR``, ``__pycache__`` next to the source if writable, the
    user-wide cache folder), and the first that applies, the one Numba reads, is searched;
    Numba names a kernel's files after its module, so only this package's files match.
    """
    from numba.core.caching import CacheImpl

    found = set()
    for source in sorted(package_location().rglob("*.py")):
        for locator_class in CacheImpl._locator_classes:  # Numba internals: the locators it would use
            try:
                locator = locator_class.from_function(_probe, str(source))
            except Exception:  # a locator that does not apply here (IPython, zip imports)
                continue
            if locator is not None:
                folder = Path(locator.get_cache_path())
                found.update(f for pattern in ("*.nbi", "*.nbc") for f in folder.glob(f"{source.stem}.{pattern}"))
                break
    return sorted(found)


def clear_cache():
    """Delete the package's compiled-kernel cache files; return the number removed."""
    removed = 0
    for path in cache_files():
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:  # removed meanwhile (another process)
            pass
    return removed


def run_info(args):
    """``bmm-numba info`` (``--clear-cache``: delete the compiled-kernel cache files first)."""
    if getattr(args, "clear_cache", False):
        print(f"cleared {clear_cache()} compiled-kernel cache files (the kernels compile again on the next fit)")
        return 0
    rows = list(versions().items())
    rows += [
        ("package", str(package_location())),
        ("platform", platform.platform()),
        ("cpu", cpu_name()),
        ("llvm host cpu", _llvm_cpu()),
        ("logical cpus", f"{os.cpu_count()} ({len(os.sched_getaffinity(0))} usable)"
         if hasattr(os, "sched_getaffinity") else str(os.cpu_count())),
        ("threading layer", f"{threading_layer()} (requested: {numba.config.THREADING_LAYER})"),
        ("numba threads", f"{numba.get_num_threads()} of NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}"),
        ("jit", "disabled (NUMBA_DISABLE_JIT=1)" if numba.config.DISABLE_JIT else "enabled"),
        ("cache dir", _cache_dir()),
        (MNIST_ENV_VAR, mnist_dir_from_env(existing=False) or "not set"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _llvm_cpu():
    try:
        import llvmlite.binding as ll

        return ll.get_host_cpu_name()
    except Exception:  # llvmlite internals: informational only
        return "unknown"
