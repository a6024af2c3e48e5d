"""Eight-lane float64 vectors and unaligned 64-bit loads for Numba kernels.

Numba leaves LLVM's SLP vectoriser off (``NUMBA_SLP_VECTORIZE=0``), and the loop vectoriser
does not turn the K per-component sums of one row into vector code, so the accumulators below
are typed as an LLVM ``<8 x double>`` directly.  Measured on the 2-core AMD EPYC (Zen 4) machine,
60000 MNIST rows, K = 10, one thread: summing nibble look-up rows with these vectors took
10-13 ms; the same sums with a scalar loop over k took 21-25 ms and with 16 scalar locals 18 ms.

``load_u64(X, n, offset)`` reads bytes ``X[n, offset:offset + 8]`` as one little-endian 64-bit
word (an unaligned load), so a row of 0/1 bytes is scanned eight pixels at a time.

With ``NUMBA_DISABLE_JIT=1`` every function here is a plain-Python equivalent, so the kernels that
use them still run (slowly) for coverage.
"""

from __future__ import annotations

import sys

import numpy as np

from ._jit import JIT_DISABLED

__all__ = [
    "LANES",
    "LITTLE_ENDIAN",
    "load_u64",
    "vload",
    "vzero",
    "vadd",
    "vadd_load",
    "vstore",
    "float64_from_bits",
]

#: float64 lanes per vector.
LANES = 8

#: The word-at-a-time scan assumes byte j of a row word holds pixel 8g + j.
LITTLE_ENDIAN = sys.byteorder == "little"

if JIT_DISABLED:

    def load_u64(X, n, offset):
        """Return bytes ``X[n, offset:offset+8]`` as a little-endian uint64."""
        return np.uint64(int.from_bytes(X[n, offset:offset + 8].tobytes(), "little"))

    def vload(arr, offset):
        """Return ``arr[offset:offset+8]`` as a vector."""
        return arr[offset:offset + LANES].copy()

    def vzero():
        """Return a vector of zeros."""
        return np.zeros(LANES)

    def vadd(a, b):
        """Return ``a + b``."""
        return a + b

    def vadd_load(acc, arr, offset):
        """Return ``acc + arr[offset:offset+8]``."""
        return acc + arr[offset:offset + LANES]

    def vstore(vec, arr, offset):
        """Write ``vec`` into ``arr[offset:offset+8]``."""
        arr[offset:offset + LANES] = vec

    def float64_from_bits(bits):
        """Reinterpret the 64 bits of an int64 as a float64."""
        return np.array([bits], dtype=np.int64).view(np.float64)[0]

else:
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic, models, register_model

    _VEC = ir.VectorType(ir.DoubleType(), LANES)

    class _F64x8(types.Type):
        def __init__(self):
            super().__init__(name="f64x8")

    f64x8 = _F64x8()

    @register_model(_F64x8)
    class _F64x8Model(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            super().__init__(dmm, fe_type, _VEC)

    def _element_pointer(context, builder, array_type, array, offset):
        data = context.make_array(array_type)(context, builder, array).data
        return builder.gep(data, [offset])

    @intrinsic
    def load_u64(typingctx, X, n, offset):
        """Bytes ``X[n, offset:offset+8]`` of a C-contiguous uint8 matrix as one uint64."""

        def codegen(context, builder, sig, args):
            array = context.make_array(sig.args[0])(context, builder, args[0])
            row_stride = builder.extract_value(array.strides, 0)
            n_ = context.cast(builder, args[1], sig.args[1], types.intp)
            off = context.cast(builder, args[2], sig.args[2], types.intp)
            start = builder.add(builder.mul(n_, row_stride), off)
            ptr = builder.gep(array.data, [start])
            word = builder.bitcast(ptr, ir.IntType(64).as_pointer())
            return builder.load(word, align=1)

        return types.uint64(X, n, offset), codegen

    @intrinsic
    def vload(typingctx, arr, offset):
        """``arr[offset:offset+8]`` of a float64 array as a vector (no bounds check)."""

        def codegen(context, builder, sig, args):
            ptr = _element_pointer(context, builder, sig.args[0], *args)
            return builder.load(builder.bitcast(ptr, _VEC.as_pointer()), align=8)

        return f64x8(arr, offset), codegen

    @intrinsic
    def vzero(typingctx):
        """Return a vector of zeros."""

        def codegen(context, builder, sig, args):
            return ir.Constant(_VEC, [0.0] * LANES)

        return f64x8(), codegen

    @intrinsic
    def vadd(typingctx, a, b):
        """Lane-wise ``a + b``."""

        def codegen(context, builder, sig, args):
            return builder.fadd(args[0], args[1])

        return f64x8(a, b), codegen

    @intrinsic
    def vadd_load(typingctx, acc, arr, offset):
        """``acc + arr[offset:offset+8]`` (no bounds check)."""

        def codegen(context, builder, sig, args):
            ptr = _element_pointer(context, builder, sig.args[1], args[1], args[2])
            return builder.fadd(args[0], builder.load(builder.bitcast(ptr, _VEC.as_pointer()), align=8))

        return f64x8(acc, arr, offset), codegen

    @intrinsic
    def vstore(typingctx, vec, arr, offset):
        """Write a vector into ``arr[offset:offset+8]`` (no bounds check)."""

        def codegen(context, builder, sig, args):
            ptr = _element_pointer(context, builder, sig.args[1], args[1], args[2])
            builder.store(args[0], builder.bitcast(ptr, _VEC.as_pointer()), align=8)
            return context.get_dummy_value()

        return types.none(vec, arr, offset), codegen

    @intrinsic
    def float64_from_bits(typingctx, bits):
        """Reinterpret the 64 bits of an int64 as a float64 (vectorisable, unlike a view)."""

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return types.float64(types.int64), codegen
