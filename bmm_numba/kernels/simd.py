"""The vector primitives the kernels call: LLVM intrinsics, or their Python twins without the JIT.

:mod:`bmm_numba.kernels.simd_llvm` (compiled) and :mod:`bmm_numba.kernels.simd_python`
(``NUMBA_DISABLE_JIT=1``) define the same names; this module picks one set, once.
"""

from __future__ import annotations

from . import simd_llvm, simd_python
from .jit import JIT_DISABLED

__all__ = [
    "LANES", "vload", "vzero", "vadd", "vadd_load", "vstore", "vstore_first", "vmax", "vexp_shifted",
    "vsplat", "vdiv", "vmul", "vtranspose8", "pload", "padd_load", "pstore", "vlog",
]

_impl = simd_python if JIT_DISABLED else simd_llvm
(LANES, vload, vzero, vadd, vadd_load, vstore, vstore_first, vmax, vexp_shifted, vsplat, vdiv, vmul,
 vtranspose8, pload, padd_load, pstore, vlog) = (getattr(_impl, name) for name in __all__)
