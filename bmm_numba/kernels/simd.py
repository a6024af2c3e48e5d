"""Eight-lane float64 vectors and unaligned 64-bit loads for Numba kernels.

Numba leaves LLVM's SLP vectoriser off (``NUMBA_SLP_VECTORIZE=0``), and the loop vectoriser
does not turn the K per-component sums of one row into vector code, so the accumulators below
are typed as an LLVM ``<8 x double>`` directly.  Measured on the 2-core AMD EPYC (Zen 4) machine,
60000 MNIST rows, K = 10, one thread: summing nibble look-up rows with these vectors took
10-13 ms; the same sums with a scalar loop over k took 21-25 ms and with 16 scalar locals 18 ms.

``load_u64(X, n, offset)`` reads bytes ``X[n, offset:offset + 8]`` as one little-endian 64-bit
word (an unaligned load), so a row of 0/1 bytes is scanned eight pixels at a time.

``list_nibbles`` lists the non-zero 4-pixel groups of 64 pixels at once: one 512-bit load, the
16 nibble codes computed in vector registers, and the table offsets of the non-zero ones packed
by AVX-512 ``vpcompressd`` (register form, then a plain store).  Listing MNIST train this way
took ~2.4 ms against 5.4 ms for a branch-free scalar loop over the words (one thread); LLVM's
generic ``llvm.masked.compressstore`` became the memory form of the compress, which Zen 4
runs in microcode (52 ms).  Where the compile target lacks AVX-512F (or
``BMM_NUMBA_GENERIC_SIMD=1``), the same IR packs lane by lane with scalar stores instead.

With ``NUMBA_DISABLE_JIT=1`` every function here is a plain-Python equivalent, so the kernels that
use them still run (slowly) for coverage.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

from .jit import JIT_DISABLED

__all__ = [
    "LANES",
    "LITTLE_ENDIAN",
    "load_u64",
    "vload",
    "vzero",
    "vadd",
    "vadd_load",
    "vstore",
    "vstore_first",
    "float64_from_bits",
    "vmax",
    "vexp_shifted",
    "vsplat",
    "vdiv",
    "vmul",
    "vtranspose8",
    "pload",
    "padd_load",
    "pstore",
    "vlog",
    "list_nibbles",
    "seen_or",
    "any_above_one",
    "CHUNK_BYTES",
]

#: Pixels listed by one :func:`list_nibbles` call (eight 64-bit words).
CHUNK_BYTES = 64

#: ``BMM_NUMBA_GENERIC_SIMD=1`` compiles the target-independent packing even on AVX-512 machines
#: (tests use it to check that path against the fast one).
GENERIC_SIMD = os.environ.get("BMM_NUMBA_GENERIC_SIMD", "0").strip().lower() in {"1", "true", "yes", "on"}

# exp(x) for x <= 0 as in bmm_numba._exp (same constants), for the vector version below
_EXP_UNDERFLOW = -708.0
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52: (t + _ROUND) - _ROUND rounds t to the nearest integer
_TAYLOR = [1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
           1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0]

# log(x) for positive normal x as fdlibm's __ieee754_log (same constants), for vlog below
_LG = [6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01]
_SQRT2 = 1.4142135623730951

#: float64 lanes per vector.
LANES = 8

#: The word-at-a-time scan assumes byte j of a row word holds pixel 8g + j.
LITTLE_ENDIAN = sys.byteorder == "little"

if JIT_DISABLED:

    def load_u64(X, n, offset):
        """Return bytes ``X[n, offset:offset+8]`` as a little-endian uint64."""
        return np.uint64(int.from_bytes(X[n, offset:offset + 8].tobytes(), "little"))

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

    def float64_from_bits(bits):
        """Reinterpret the 64 bits of an int64 as a float64."""
        return np.array([bits], dtype=np.int64).view(np.float64)[0]

    def vmax(a, b):
        """Return the lane-wise maximum."""
        return np.where(a > b, a, b)

    def vexp_shifted(v, top):
        """Return ``exp(v - top)`` lane-wise for ``v <= top``, 0 below ``top - 708``."""
        x = v - top  # top: a scalar or a vector
        y = np.maximum(x, _EXP_UNDERFLOW)
        k = (y * _LOG2E + _ROUND) - _ROUND
        r = (y - k * _LN2_HI) - k * _LN2_LO
        p = np.full(LANES, _TAYLOR[0])
        for c in _TAYLOR[1:]:
            p = np.array([math.fma(a, b, c) for a, b in zip(p, r, strict=True)]) if hasattr(math, "fma") else p * r + c
        scale = ((k.astype(np.int64) + 1023) << 52).view(np.float64)
        return np.where(x >= _EXP_UNDERFLOW, p * scale, 0.0)

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

    def seen_or(seen, word):
        """Return ``seen`` (the bits of a vector, as compiled) with ``word`` ORed into lane 0."""
        bits = seen.view(np.uint64).copy()
        bits[0] |= np.uint64(word)
        return bits.view(np.float64)

    def any_above_one(seen):
        """Return True if any byte recorded in ``seen`` had a bit other than bit 0 set."""
        return bool(np.any(seen.view(np.uint64) & np.uint64(0xFEFEFEFEFEFEFEFE)))

    def list_nibbles(X, n, word, KP, lst, m, seen):
        """Plain-Python :func:`list_nibbles`: same offsets, same order."""
        bits = seen.view(np.uint64).copy()
        for g in range(word, word + 8):
            value = load_u64(X, n, 8 * g)
            bits[g - word] |= value
            code = ((int(value) & 0x0101010101010101) * 0x0102040810204080 % 2**64) >> 56  # Python ints
            for half in (0, 1):
                nibble = (code >> (4 * half)) & 15
                if nibble:
                    lst[m] = (16 * (2 * g + half) + nibble) * KP
                    m += 1
        return m, bits.view(np.float64)

else:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic, models, register_model

    def _vector_type(width):
        """Make a Numba type ``f64x<width>`` lowered to LLVM ``<width x double>``; return (type, LLVM type)."""
        llvm_type = ir.VectorType(ir.DoubleType(), width)
        numba_type = type(f"_F64x{width}", (types.Type,), {})(name=f"f64x{width}")

        @register_model(type(numba_type))
        class _Model(models.PrimitiveModel):
            def __init__(self, dmm, fe_type):
                super().__init__(dmm, fe_type, llvm_type)

        return numba_type, llvm_type

    f64x8, _VEC = _vector_type(LANES)
    f64x2, _PAIR = _vector_type(2)

    def _vector_pointer(context, builder, array_type, array, offset, vec_type):
        data = context.make_array(array_type)(context, builder, array).data
        return builder.bitcast(builder.gep(data, [offset]), vec_type.as_pointer())

    def _load_codegen(vec_type):
        """``arr[offset:offset+width]`` as a vector: args ``(arr, offset)``."""

        def codegen(context, builder, sig, args):
            return builder.load(_vector_pointer(context, builder, sig.args[0], *args, vec_type), align=8)

        return codegen

    def _add_load_codegen(vec_type):
        """``acc + arr[offset:offset+width]``: args ``(acc, arr, offset)``."""

        def codegen(context, builder, sig, args):
            ptr = _vector_pointer(context, builder, sig.args[1], args[1], args[2], vec_type)
            return builder.fadd(args[0], builder.load(ptr, align=8))

        return codegen

    def _store_codegen(vec_type):
        """Write a vector into ``arr[offset:offset+width]``: args ``(vec, arr, offset)``."""

        def codegen(context, builder, sig, args):
            ptr = _vector_pointer(context, builder, sig.args[1], args[1], args[2], vec_type)
            builder.store(args[0], ptr, align=8)
            return context.get_dummy_value()

        return codegen

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
        return f64x8(arr, offset), _load_codegen(_VEC)

    @intrinsic
    def vzero(typingctx):
        """Return a vector of zeros."""

        def codegen(context, builder, sig, args):
            return ir.Constant(_VEC, [0.0] * LANES)

        return f64x8(), codegen

    def _lanewise(name, instruction, doc):
        """Make an intrinsic ``name(a, b)``: one LLVM ``instruction`` (``fadd``, ...) on two vectors."""

        def typer(typingctx, a, b):
            def codegen(context, builder, sig, args):
                return getattr(builder, instruction)(args[0], args[1])

            return f64x8(a, b), codegen

        typer.__name__ = typer.__qualname__ = name
        typer.__doc__ = doc
        return intrinsic(typer)

    vadd = _lanewise("vadd", "fadd", "Lane-wise ``a + b``.")
    vdiv = _lanewise("vdiv", "fdiv", "Lane-wise ``a / b``.")
    vmul = _lanewise("vmul", "fmul", "Lane-wise ``a * b``.")

    @intrinsic
    def vadd_load(typingctx, acc, arr, offset):
        """``acc + arr[offset:offset+8]`` (no bounds check)."""
        return f64x8(acc, arr, offset), _add_load_codegen(_VEC)

    @intrinsic
    def pload(typingctx, arr, offset):
        """``arr[offset:offset+2]`` as a 2-lane vector (no bounds check)."""
        return f64x2(arr, offset), _load_codegen(_PAIR)

    @intrinsic
    def padd_load(typingctx, acc, arr, offset):
        """``acc + arr[offset:offset+2]`` for a 2-lane ``acc`` (no bounds check)."""
        return f64x2(acc, arr, offset), _add_load_codegen(_PAIR)

    @intrinsic
    def pstore(typingctx, vec, arr, offset):
        """Write a 2-lane vector into ``arr[offset:offset+2]`` (no bounds check)."""
        return types.none(vec, arr, offset), _store_codegen(_PAIR)

    @intrinsic
    def vstore_first(typingctx, vec, arr, offset, count):
        """Write lanes ``0 .. count - 1`` of a vector into ``arr[offset:offset+count]`` (one masked store)."""

        def codegen(context, builder, sig, args):
            ptr = _vector_pointer(context, builder, sig.args[1], args[1], args[2], _VEC)
            count = context.cast(builder, args[3], sig.args[3], types.int64)
            lanes = ir.Constant(_I64X8, list(range(LANES)))
            mask = builder.icmp_signed("<", lanes, _broadcast(builder, count, _I64X8))
            store = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [_VEC, _VEC.as_pointer(), ir.IntType(32),
                                                                ir.VectorType(ir.IntType(1), LANES)]),
                "llvm.masked.store.v8f64.p0v8f64")
            builder.call(store, [args[0], ptr, ir.Constant(ir.IntType(32), 8), mask])
            return context.get_dummy_value()

        return types.none(vec, arr, offset, count), codegen

    @intrinsic
    def vstore(typingctx, vec, arr, offset):
        """Write a vector into ``arr[offset:offset+8]`` (no bounds check)."""
        return types.none(vec, arr, offset), _store_codegen(_VEC)

    def _splat(value):
        return ir.Constant(_VEC, [value] * LANES)

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

    def _fma(builder, a, b, c):
        """Return ``a * b + c`` rounded once (``llvm.fma``: one instruction where the target has FMA).

        The Horner steps of the exponential as single fused operations: half the instructions
        and half the dependency chain of a multiply then an add (fastmath stays off, so LLVM
        would not contract them itself).
        """
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC, _VEC, _VEC]),
                                             "llvm.fma.v8f64")
        return builder.call(fma, [a, b, c])

    @intrinsic
    def vexp_shifted(typingctx, v, top):
        """``exp(v - top)`` lane-wise for ``v <= top`` (0 below ``top - 708``), in vector registers.

        The algorithm of :func:`bmm_numba._exp.exp_nonpositive` (fdlibm range reduction, degree-12
        Taylor series, exponent from bits), rounding with the 1.5 * 2**52 trick instead of floor.
        """

        def codegen(context, builder, sig, args):
            # a scalar top: the same shift in every lane
            top_vec = args[1] if sig.args[1] == f64x8 else _broadcast(builder, args[1])
            x = builder.fsub(args[0], top_vec)
            floor = _splat(_EXP_UNDERFLOW)
            keep = builder.fcmp_ordered(">=", x, floor)
            y = builder.select(keep, x, floor)
            k = builder.fsub(builder.fadd(builder.fmul(y, _splat(_LOG2E)), _splat(_ROUND)), _splat(_ROUND))
            r = builder.fsub(builder.fsub(y, builder.fmul(k, _splat(_LN2_HI))), builder.fmul(k, _splat(_LN2_LO)))
            p = _splat(_TAYLOR[0])
            for c in _TAYLOR[1:]:
                p = _fma(builder, p, r, _splat(c))
            i64 = ir.VectorType(ir.IntType(64), LANES)
            bits = builder.shl(builder.add(builder.fptosi(k, i64), ir.Constant(i64, [1023] * LANES)),
                               ir.Constant(i64, [52] * LANES))
            value = builder.fmul(p, builder.bitcast(bits, _VEC))
            return builder.select(keep, value, _splat(0.0))

        return f64x8(v, top if top == f64x8 else types.float64), codegen

    @intrinsic
    def vtranspose8(typingctx, src, src_at, src_stride, dst, dst_at, dst_stride):
        """Transpose an 8 x 8 block: ``dst[dst_at + k * dst_stride + r] = src[src_at + r * src_stride + k]``.

        Eight vector loads, 24 two-source shuffles (pairs of lanes, then pairs of 128-bit and of
        256-bit halves), eight vector stores.  No bounds checks.
        """

        def codegen(context, builder, sig, args):
            i64 = ir.IntType(64)
            src_at = context.cast(builder, args[1], sig.args[1], types.int64)
            src_stride = context.cast(builder, args[2], sig.args[2], types.int64)
            dst_at = context.cast(builder, args[4], sig.args[4], types.int64)
            dst_stride = context.cast(builder, args[5], sig.args[5], types.int64)
            rows = []
            for r in range(LANES):
                at = builder.add(src_at, builder.mul(src_stride, ir.Constant(i64, r)))
                rows.append(builder.load(_vector_pointer(context, builder, sig.args[0], args[0], at, _VEC), align=8))

            def shuffle(a, b, mask):
                return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(ir.IntType(32), LANES), mask))

            # stage 1: lanes of row pairs; stage 2: 128-bit pieces; stage 3: 256-bit halves
            even, odd = [0, 8, 2, 10, 4, 12, 6, 14], [1, 9, 3, 11, 5, 13, 7, 15]
            t = []
            for r in range(0, LANES, 2):
                t += [shuffle(rows[r], rows[r + 1], even), shuffle(rows[r], rows[r + 1], odd)]
            low128, high128 = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
            u = []
            for q in (0, 4):  # t[q..q+3] hold rows 2q/2..: (t0, t2) and (t1, t3) pair up
                u += [shuffle(t[q], t[q + 2], low128), shuffle(t[q + 1], t[q + 3], low128),
                      shuffle(t[q], t[q + 2], high128), shuffle(t[q + 1], t[q + 3], high128)]
            low256, high256 = [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]
            columns = [shuffle(u[k], u[k + 4], low256) for k in range(4)] + \
                      [shuffle(u[k], u[k + 4], high256) for k in range(4)]
            for k in range(LANES):
                at = builder.add(dst_at, builder.mul(dst_stride, ir.Constant(i64, k)))
                builder.store(columns[k], _vector_pointer(context, builder, sig.args[3], args[3], at, _VEC), align=8)
            return context.get_dummy_value()

        return types.none(src, src_at, src_stride, dst, dst_at, dst_stride), codegen

    @intrinsic
    def vlog(typingctx, v):
        """``log(v)`` lane-wise for positive normal ``v``, in vector registers (< 1 ulp).

        fdlibm's ``__ieee754_log``: ``v = m 2^e`` with ``m`` in [sqrt(2)/2, sqrt(2)), then
        ``log(m) = log(1 + f)`` from ``s = f / (2 + f)`` and a degree-14 polynomial in ``s``.
        Where ``log`` was a libm call per row, the E-step's log-normalisers cost ~1 ms of a
        single-thread MNIST pass.
        """

        def codegen(context, builder, sig, args):
            i64 = ir.VectorType(ir.IntType(64), LANES)
            bits = builder.bitcast(args[0], i64)
            exponent = builder.sub(builder.lshr(bits, _splat_i64(52)), _splat_i64(1023))
            mantissa = builder.bitcast(builder.or_(builder.and_(bits, _splat_i64(0x000FFFFFFFFFFFFF)),
                                                   _splat_i64(0x3FF0000000000000)), _VEC)  # in [1, 2)
            big = builder.fcmp_ordered(">=", mantissa, _splat(_SQRT2))
            mantissa = builder.select(big, builder.fmul(mantissa, _splat(0.5)), mantissa)
            exponent = builder.select(big, builder.add(exponent, _splat_i64(1)), exponent)
            e = builder.sitofp(exponent, _VEC)
            f = builder.fsub(mantissa, _splat(1.0))
            s = builder.fdiv(f, builder.fadd(f, _splat(2.0)))
            z = builder.fmul(s, s)
            w = builder.fmul(z, z)
            t1 = builder.fmul(w, _fma(builder, w, _fma(builder, w, _splat(_LG[5]), _splat(_LG[3])), _splat(_LG[1])))
            t2 = builder.fmul(z, _fma(builder, w, _fma(builder, w, _fma(builder, w, _splat(_LG[6]), _splat(_LG[4])),
                                                          _splat(_LG[2])), _splat(_LG[0])))
            r = builder.fadd(t2, t1)
            hfsq = builder.fmul(_splat(0.5), builder.fmul(f, f))
            inner = builder.fadd(builder.fmul(s, builder.fadd(hfsq, r)), builder.fmul(e, _splat(_LN2_LO)))
            return builder.fsub(builder.fmul(e, _splat(_LN2_HI)), builder.fsub(builder.fsub(hfsq, inner), f))

        return f64x8(v), codegen

    def _broadcast(builder, value, vec_type=_VEC):
        """``value`` (a scalar of the lane type) in every lane of a ``vec_type`` vector."""
        vec = builder.insert_element(ir.Constant(vec_type, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(vec, vec, ir.Constant(ir.VectorType(ir.IntType(32), vec_type.count),
                                                            [0] * vec_type.count))

    @intrinsic
    def vsplat(typingctx, value):
        """Return a vector with the scalar ``value`` in every lane."""

        def codegen(context, builder, sig, args):
            return _broadcast(builder, context.cast(builder, args[0], sig.args[0], types.float64))

        return f64x8(value), codegen

    _I64X8 = ir.VectorType(ir.IntType(64), LANES)

    def _splat_i64(value):
        return ir.Constant(_I64X8, [value] * LANES)

    def _has_avx512(context):
        features = getattr(context.codegen(), "_tm_features", "") or ""
        return "+avx512f" in features.split(",") and not GENERIC_SIMD

    _I32X16 = ir.VectorType(ir.IntType(32), 2 * LANES)

    def _append_packed(context, builder, values, mask, dst_data, m):
        """Append the lanes of ``values`` (<16 x i32>) where ``mask`` is set to ``dst_data[m:]``.

        Returns the new count.  With AVX-512F: register-form ``vpcompressd``, then one ordinary
        64-byte store (the buffer has 16 spare slots).
        """
        i64 = ir.IntType(64)
        width = 2 * LANES
        if _has_avx512(context):
            compress = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(_I32X16, [_I32X16, _I32X16, ir.VectorType(ir.IntType(1), width)]),
                "llvm.x86.avx512.mask.compress.v16i32")
            packed = builder.call(compress, [values, ir.Constant(_I32X16, ir.Undefined), mask])
            builder.store(packed, builder.bitcast(builder.gep(dst_data, [m]), _I32X16.as_pointer()), align=4)
            popcount = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64]), "llvm.ctpop.i64")
            bits = builder.zext(builder.bitcast(mask, ir.IntType(width)), i64)
            return builder.add(m, builder.call(popcount, [bits]))
        for lane in range(width):  # branch-free: write every lane, advance past the kept ones
            index = ir.Constant(ir.IntType(32), lane)
            builder.store(builder.extract_element(values, index), builder.gep(dst_data, [m]))
            m = builder.add(m, builder.zext(builder.extract_element(mask, index), i64))
        return m

    @intrinsic
    def list_nibbles(typingctx, X, n, word, KP, lst, m, seen):
        """Append the table offsets of the non-zero nibbles of words ``word .. word+7`` of row ``n``.

        Pixels ``8 * word .. 8 * word + 63`` of a C-contiguous uint8 ``X``: nibbles (4-pixel
        groups) ``q = 2 * word .. 2 * word + 15``, in that order.  The offset of nibble ``q`` with
        4-bit code ``c`` is ``(16 q + c) * KP`` (the table layout of
        :mod:`bmm_numba._e_step_lut`).  ``lst`` (int32) needs 16 free slots past the last offset
        written; returns ``(count, seen)``: the new count, and ``seen`` (from :func:`vzero`) with
        the pixels ORed in, for the 0/1 check (:func:`any_above_one`).
        """

        def codegen(context, builder, sig, args):
            i32x16 = ir.VectorType(ir.IntType(32), 2 * LANES)

            def splat32(value):
                return ir.Constant(i32x16, [value] * (2 * LANES))

            x_arr = context.make_array(sig.args[0])(context, builder, args[0])
            n_ = context.cast(builder, args[1], sig.args[1], types.intp)
            word_ = context.cast(builder, args[2], sig.args[2], types.int64)
            kp = builder.trunc(context.cast(builder, args[3], sig.args[3], types.int64), ir.IntType(32))
            row_start = builder.mul(n_, builder.extract_value(x_arr.strides, 0))
            start = builder.add(row_start, builder.shl(word_, word_.type(3)))
            # one 32-bit lane = one nibble (4 pixels): its 4-bit code by one 32-bit multiply (no
            # carries: distinct target bits), all 16 in natural order, no 64-bit multiplies or
            # shuffles (listing MNIST train: 2.4 ms against 3.0 ms for 8 words' two halves)
            pixels = builder.load(builder.bitcast(builder.gep(x_arr.data, [start]), i32x16.as_pointer()), align=1)
            # kept in registers: an OR through memory made a store-to-load chain per 64 pixels
            seen = builder.or_(builder.bitcast(args[6], i32x16), pixels)
            codes = builder.lshr(builder.mul(builder.and_(pixels, splat32(0x01010101)), splat32(0x01020408)),
                                 splat32(24))
            first_nibble = builder.trunc(builder.shl(word_, word_.type(1)), ir.IntType(32))
            nibbles = builder.add(_broadcast(builder, first_nibble, i32x16),
                                  ir.Constant(i32x16, list(range(2 * LANES))))
            offsets = builder.mul(builder.add(builder.shl(nibbles, splat32(4)), codes), _broadcast(builder, kp, i32x16))
            keep = builder.icmp_unsigned("!=", codes, splat32(0))
            dst = context.make_array(sig.args[4])(context, builder, args[4]).data
            m_ = context.cast(builder, args[5], sig.args[5], types.int64)
            m_ = _append_packed(context, builder, offsets, keep, dst, m_)
            return context.make_tuple(builder, sig.return_type, [m_, builder.bitcast(seen, _VEC)])

        return types.Tuple((types.int64, f64x8))(X, n, word, KP, lst, m, seen), codegen

    @intrinsic
    def seen_or(typingctx, seen, word):
        """``seen`` with the 64 bits of ``word`` ORed into lane 0."""

        def codegen(context, builder, sig, args):
            bits = builder.bitcast(args[0], _I64X8)
            value = context.cast(builder, args[1], sig.args[1], types.uint64)
            lane = builder.insert_element(ir.Constant(_I64X8, [0] * LANES), value, ir.Constant(ir.IntType(32), 0))
            return builder.bitcast(builder.or_(bits, lane), _VEC)

        return f64x8(seen, word), codegen

    @intrinsic
    def any_above_one(typingctx, seen):
        """Return True if a byte recorded in ``seen`` had a bit other than bit 0 set (a value > 1)."""

        def codegen(context, builder, sig, args):
            bits = builder.and_(builder.bitcast(args[0], _I64X8), _splat_i64(0xFEFEFEFEFEFEFEFE))
            lanes = [builder.extract_element(bits, ir.Constant(ir.IntType(32), i)) for i in range(LANES)]
            return builder.icmp_unsigned("!=", _tree(builder, lanes, builder.or_), ir.Constant(ir.IntType(64), 0))

        return types.boolean(seen), codegen

    @intrinsic
    def float64_from_bits(typingctx, bits):
        """Reinterpret the 64 bits of an int64 as a float64 (vectorisable, unlike a view)."""

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return types.float64(types.int64), codegen
