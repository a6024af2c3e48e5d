"""Plain-Python twins of the vector intrinsics of :mod:`bmm_numba.kernels.simd_llvm`.

Same arguments, same results (a "vector" is a NumPy array of 8 or 2 float64).  They run the
kernels under ``NUMBA_DISABLE_JIT=1`` (coverage of the loop bodies) and are the reference the
intrinsics are tested against, in one process (``tests/test_simd.py``).  NumPy only: importable
whatever the target.
"""

from __future__ import annotations

import math

import numpy as np

from .exp import EXP_TAYLOR, EXP_UNDERFLOW, LN2_HI, LN2_LO, LOG2E, ROUND_TO_INT

__all__ = [
    "LANES", "vload", "vzero", "vadd", "vadd_load", "vstore", "vstore_first", "vmax", "vexp_shifted",
    "vsplat", "vdiv", "vmul", "vtranspose8", "pload", "padd_load", "pstore", "vlog",
]

#: float64 lanes per vector (as :data:`bmm_numba.kernels.simd_llvm.LANES`).
LANES = 8


def _flat(arr, offset, width):
    """View of ``width`` elements at flat ``offset`` (as the compiled loads; C-contiguous only)."""
    return arr.reshape(-1)[offset:offset + width]


def vload(arr, offset):
    """Return ``arr[offset:offset+8]`` as a vector."""
    return _flat(arr, offset, LANES).copy()


def vzero():
    """Return a vector of zeros."""
    return np.zeros(LANES)


def vadd(a, b):
    """Return ``a + b``."""
    return a + b


def vadd_load(acc, arr, offset):
    """Return ``acc + arr[offset:offset+8]``."""
    return acc + _flat(arr, offset, LANES)


def vstore(vec, arr, offset):
    """Write ``vec`` into ``arr[offset:offset+8]``."""
    _flat(arr, offset, LANES)[:] = vec


def vstore_first(vec, arr, offset, count):
    """Write ``vec[:count]`` into ``arr[offset:offset+count]``."""
    _flat(arr, offset, count)[:] = vec[:count]


def vmax(a, b):
    """Return the lane-wise maximum."""
    return np.where(a > b, a, b)


def _fma(a, b, c):
    """Return ``a * b + c`` rounded once where Python has ``math.fma`` (3.13), else rounded twice."""
    if hasattr(math, "fma"):
        return np.array([math.fma(x, y, z) for x, y, z in zip(a, b, np.broadcast_to(c, a.shape), strict=True)])
    return a * b + c


def vexp_shifted(v, top):
    """Return ``exp(v - top)`` lane-wise for ``v <= top``, 0 below ``top - 708``."""
    x = v - top  # top: a scalar or a vector
    y = np.maximum(x, EXP_UNDERFLOW)
    k = (y * LOG2E + ROUND_TO_INT) - ROUND_TO_INT
    r = (y - k * LN2_HI) - k * LN2_LO
    p = np.full(LANES, EXP_TAYLOR[0])
    for c in EXP_TAYLOR[1:]:
        p = _fma(p, r, c)
    scale = ((k.astype(np.int64) + 1023) << 52).view(np.float64)
    return np.where(x >= EXP_UNDERFLOW, p * scale, 0.0)


def vsplat(value):
    """Return a vector with ``value`` in every lane."""
    return np.full(LANES, float(value))


def vdiv(a, b):
    """Return ``a / b`` (IEEE, silently: as the compiled division)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def vmul(a, b):
    """Return ``a * b``."""
    return a * b


def vtranspose8(src, src_at, src_stride, dst, dst_at, dst_stride):
    """Transpose an 8 x 8 block (as the compiled version; flat offsets)."""
    flat_src, flat_dst = src.reshape(-1), dst.reshape(-1)
    block = np.array([flat_src[src_at + r * src_stride:src_at + r * src_stride + LANES] for r in range(LANES)])
    for k in range(LANES):
        flat_dst[dst_at + k * dst_stride:dst_at + k * dst_stride + LANES] = block[:, k]


def pload(arr, offset):
    """Return ``arr[offset:offset+2]`` as a 2-lane vector."""
    return _flat(arr, offset, 2).copy()


def padd_load(acc, arr, offset):
    """Return ``acc + arr[offset:offset+2]``."""
    return acc + _flat(arr, offset, 2)


def pstore(vec, arr, offset):
    """Write a 2-lane vector into ``arr[offset:offset+2]``."""
    _flat(arr, offset, 2)[:] = vec


def vlog(v):
    """Return ``log(v)`` lane-wise (positive normal lanes)."""
    return np.log(v)
