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
    "vmax",
    "hmax",
    "hsum",
    "vexp_shifted",
    "vscale",
]

# exp(x) for x <= 0 as in bmm_numba._exp (same constants), for the vector version below
_EXP_UNDERFLOW = -708.0
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52: (t + _ROUND) - _ROUND rounds t to the nearest integer
_TAYLOR = [1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
           1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0]

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

    def vmax(a, b):
        """Return the lane-wise maximum."""
        return np.where(a > b, a, b)

    def hmax(v):
        """Return the largest lane."""
        return v.max()

    def hsum(v):
        """Return the sum of the lanes, as the pairwise tree of the compiled version."""
        return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))

    def vexp_shifted(v, top):
        """Return ``exp(v - top)`` lane-wise for ``v <= top``, 0 below ``top - 708``."""
        x = v - top
        y = np.maximum(x, _EXP_UNDERFLOW)
        k = (y * _LOG2E + _ROUND) - _ROUND
        r = (y - k * _LN2_HI) - k * _LN2_LO
        p = np.full(LANES, _TAYLOR[0])
        for c in _TAYLOR[1:]:
            p = p * r + c
        scale = ((k.astype(np.int64) + 1023) << 52).view(np.float64)
        return np.where(x >= _EXP_UNDERFLOW, p * scale, 0.0)

    def vscale(v, s):
        """Return ``v * s``."""
        return v * s

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

    def _splat(value):
        return ir.Constant(_VEC, [value] * LANES)

    def _lanes(builder, v):
        return [builder.extract_element(v, ir.Constant(ir.IntType(32), i)) for i in range(LANES)]

    def _tree(builder, values, op):
        while len(values) > 1:
            values = [op(values[i], values[i + 1]) for i in range(0, len(values), 2)]
        return values[0]

    @intrinsic
    def vmax(typingctx, a, b):
        """Lane-wise maximum (no NaN reaches it here)."""

        def codegen(context, builder, sig, args):
            return builder.select(builder.fcmp_ordered(">", args[0], args[1]), args[0], args[1])

        return f64x8(a, b), codegen

    @intrinsic
    def hmax(typingctx, v):
        """Largest lane."""

        def codegen(context, builder, sig, args):
            def larger(x, y):
                return builder.select(builder.fcmp_ordered(">", x, y), x, y)

            return _tree(builder, _lanes(builder, args[0]), larger)

        return types.float64(v), codegen

    @intrinsic
    def hsum(typingctx, v):
        """Sum of the lanes, pairwise: ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))."""

        def codegen(context, builder, sig, args):
            return _tree(builder, _lanes(builder, args[0]), builder.fadd)

        return types.float64(v), codegen

    @intrinsic
    def vexp_shifted(typingctx, v, top):
        """``exp(v - top)`` lane-wise for ``v <= top`` (0 below ``top - 708``), in vector registers.

        The algorithm of :func:`bmm_numba._exp.exp_nonpositive` (fdlibm range reduction, degree-12
        Taylor series, exponent from bits), rounding with the 1.5 * 2**52 trick instead of floor.
        """

        def codegen(context, builder, sig, args):
            top_vec = builder.insert_element(ir.Constant(_VEC, ir.Undefined), args[1], ir.Constant(ir.IntType(32), 0))
            top_vec = builder.shuffle_vector(top_vec, top_vec, ir.Constant(ir.VectorType(ir.IntType(32), LANES),
                                                                           [0] * LANES))
            x = builder.fsub(args[0], top_vec)
            floor = _splat(_EXP_UNDERFLOW)
            keep = builder.fcmp_ordered(">=", x, floor)
            y = builder.select(keep, x, floor)
            k = builder.fsub(builder.fadd(builder.fmul(y, _splat(_LOG2E)), _splat(_ROUND)), _splat(_ROUND))
            r = builder.fsub(builder.fsub(y, builder.fmul(k, _splat(_LN2_HI))), builder.fmul(k, _splat(_LN2_LO)))
            p = _splat(_TAYLOR[0])
            for c in _TAYLOR[1:]:
                p = builder.fadd(builder.fmul(p, r), _splat(c))
            i64 = ir.VectorType(ir.IntType(64), LANES)
            bits = builder.shl(builder.add(builder.fptosi(k, i64), ir.Constant(i64, [1023] * LANES)),
                               ir.Constant(i64, [52] * LANES))
            value = builder.fmul(p, builder.bitcast(bits, _VEC))
            return builder.select(keep, value, _splat(0.0))

        return f64x8(v, types.float64), codegen

    @intrinsic
    def vscale(typingctx, v, s):
        """``v * s`` with a scalar ``s``."""

        def codegen(context, builder, sig, args):
            s_vec = builder.insert_element(ir.Constant(_VEC, ir.Undefined), args[1], ir.Constant(ir.IntType(32), 0))
            s_vec = builder.shuffle_vector(s_vec, s_vec, ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))
            return builder.fmul(args[0], s_vec)

        return f64x8(v, types.float64), codegen

    @intrinsic
    def float64_from_bits(typingctx, bits):
        """Reinterpret the 64 bits of an int64 as a float64 (vectorisable, unlike a view)."""

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return types.float64(types.int64), codegen
