"""Eight-lane float64 vectors for Numba kernels: intrinsics that emit LLVM vector IR.

Numba leaves LLVM's SLP vectoriser off and the loop vectoriser does not turn the K
per-component sums of one row into vector code, so the kernels hold their accumulators in
LLVM ``<8 x double>`` values typed here (sums 21-25 ms as a scalar loop over k, 10-13 ms with
these vectors; ``docs/design.md``).  No bounds checks anywhere: the callers own the layout.

Kernels import these through :mod:`bmm_numba.kernels.simd`, which gives the plain-Python twins
of :mod:`bmm_numba.kernels.simd_python` under ``NUMBA_DISABLE_JIT=1``.
"""

from __future__ import annotations

import os

import numba
from llvmlite import binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from .exp import EXP_TAYLOR, EXP_UNDERFLOW, LN2_HI, LN2_LO, LOG2E, ROUND_TO_INT

__all__ = [
    "LANES", "F64X8", "VEC", "I64X8", "I32X16", "broadcast", "splat_i64", "or_reduce", "target_has_avx512f",
    "vload", "vzero", "vadd", "vadd_load", "vstore", "vstore_first", "vmax", "vexp_shifted", "vsplat",
    "vdiv", "vmul", "vtranspose8", "pload", "padd_load", "pstore", "vlog",
]

#: float64 lanes per vector.
LANES = 8

#: ``BMM_NUMBA_GENERIC_SIMD=1`` compiles the target-independent code even where AVX-512F is
#: available (tests use it to check that path against the fast one).
GENERIC_SIMD = os.environ.get("BMM_NUMBA_GENERIC_SIMD", "0").strip().lower() in {"1", "true", "yes", "on"}

# log(x) for positive normal x as fdlibm's __ieee754_log (same constants), for vlog below
_LG = [6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01]
_SQRT2 = 1.4142135623730951


def target_has_avx512f() -> bool:
    """Return True if Numba compiles for a CPU with AVX-512F (and ``BMM_NUMBA_GENERIC_SIMD`` is off).

    Reads what Numba's JIT target reads: ``NUMBA_CPU_FEATURES`` if set, else the host's features
    (``llvmlite.binding.get_host_cpu_features``).  A named CPU (``NUMBA_CPU_NAME``) without
    ``NUMBA_CPU_FEATURES`` takes the generic path, so ``NUMBA_CPU_NAME=haswell`` shows it on any
    machine.
    """
    if GENERIC_SIMD:
        return False
    features = numba.config.CPU_FEATURES
    if features is None:
        if numba.config.CPU_NAME is not None:
            return False
        features = llvm_binding.get_host_cpu_features().flatten()
    return "+avx512f" in features.split(",")


def _vector_type(width):
    """Make a Numba type ``f64x<width>`` lowered to LLVM ``<width x double>``; return (type, LLVM type)."""
    llvm_type = ir.VectorType(ir.DoubleType(), width)
    numba_type = type(f"_F64x{width}", (types.Type,), {})(name=f"f64x{width}")

    @register_model(type(numba_type))
    class _Model(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            super().__init__(dmm, fe_type, llvm_type)

    return numba_type, llvm_type


F64X8, VEC = _vector_type(LANES)
_F64X2, _PAIR = _vector_type(2)
I64X8 = ir.VectorType(ir.IntType(64), LANES)
I32X16 = ir.VectorType(ir.IntType(32), 2 * LANES)


def broadcast(builder, value, vec_type=VEC):
    """``value`` (a scalar of the lane type) in every lane of a ``vec_type`` vector."""
    vec = builder.insert_element(ir.Constant(vec_type, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(vec, vec, ir.Constant(ir.VectorType(ir.IntType(32), vec_type.count),
                                                        [0] * vec_type.count))


def _splat(value):
    return ir.Constant(VEC, [value] * LANES)


def splat_i64(value):
    """Constant ``<8 x i64>`` with ``value`` in every lane."""
    return ir.Constant(I64X8, [value] * LANES)


def or_reduce(builder, values):
    """OR of a list of LLVM values, as a balanced tree."""
    while len(values) > 1:
        values = [builder.or_(values[i], values[i + 1]) for i in range(0, len(values), 2)]
    return values[0]


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
def vzero(typingctx):
    """Return a vector of zeros."""

    def codegen(context, builder, sig, args):
        return _splat(0.0)

    return F64X8(), codegen


def _lanewise(name, instruction, doc):
    """Make an intrinsic ``name(a, b)``: one LLVM ``instruction`` (``fadd``, ...) on two vectors."""

    def typer(typingctx, a, b):
        def codegen(context, builder, sig, args):
            return getattr(builder, instruction)(args[0], args[1])

        return F64X8(a, b), codegen

    typer.__name__ = typer.__qualname__ = name
    typer.__doc__ = doc
    return intrinsic(typer)


vadd = _lanewise("vadd", "fadd", "Lane-wise ``a + b``.")
vdiv = _lanewise("vdiv", "fdiv", "Lane-wise ``a / b``.")
vmul = _lanewise("vmul", "fmul", "Lane-wise ``a * b``.")


def _memory_intrinsics(numba_type, llvm_type, prefix):
    """``(load, add_load, store)`` intrinsics for ``numba_type`` vectors (no bounds checks).

    ``load(arr, offset)``: ``arr[offset:offset+width]``; ``add_load(acc, arr, offset)``: ``acc`` plus
    that; ``store(vec, arr, offset)``: writes ``vec`` there.
    """

    def load(typingctx, arr, offset):
        return numba_type(arr, offset), _load_codegen(llvm_type)

    def add_load(typingctx, acc, arr, offset):
        return numba_type(acc, arr, offset), _add_load_codegen(llvm_type)

    def store(typingctx, vec, arr, offset):
        return types.none(vec, arr, offset), _store_codegen(llvm_type)

    width = llvm_type.count
    docs = (f"``arr[offset:offset+{width}]`` as a vector.", f"``acc + arr[offset:offset+{width}]``.",
            f"Write a {width}-lane vector into ``arr[offset:offset+{width}]``.")
    made = []
    for typer, doc in zip((load, add_load, store), docs, strict=True):
        typer.__name__ = typer.__qualname__ = prefix + typer.__name__
        typer.__doc__ = doc
        made.append(intrinsic(typer))
    return tuple(made)


vload, vadd_load, vstore = _memory_intrinsics(F64X8, VEC, "v")
pload, padd_load, pstore = _memory_intrinsics(_F64X2, _PAIR, "p")


@intrinsic
def vstore_first(typingctx, vec, arr, offset, count):
    """Write lanes ``0 .. count - 1`` of a vector into ``arr[offset:offset+count]`` (one masked store)."""

    def codegen(context, builder, sig, args):
        ptr = _vector_pointer(context, builder, sig.args[1], args[1], args[2], VEC)
        count = context.cast(builder, args[3], sig.args[3], types.int64)
        lanes = ir.Constant(I64X8, list(range(LANES)))
        mask = builder.icmp_signed("<", lanes, broadcast(builder, count, I64X8))
        # the opaque-pointer name (LLVM >= 15; llvmlite >= 0.44): ".p0", not ".p0v8f64"
        store = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [VEC, ptr.type, ir.IntType(32),
                                                            ir.VectorType(ir.IntType(1), LANES)]),
            "llvm.masked.store.v8f64.p0")
        builder.call(store, [args[0], ptr, ir.Constant(ir.IntType(32), 8), mask])
        return context.get_dummy_value()

    return types.none(vec, arr, offset, count), codegen


@intrinsic
def vmax(typingctx, a, b):
    """Lane-wise maximum (no NaN reaches it here)."""

    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered(">", args[0], args[1]), args[0], args[1])

    return F64X8(a, b), codegen


def _fma(builder, a, b, c):
    """Return ``a * b + c`` rounded once (``llvm.fma``): half the instructions and chain of mul, add."""
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(VEC, [VEC, VEC, VEC]), "llvm.fma.v8f64")
    return builder.call(fma, [a, b, c])


@intrinsic
def vexp_shifted(typingctx, v, top):
    """``exp(v - top)`` lane-wise for ``v <= top`` (0 below ``top - 708``); ``top``: vector or scalar.

    The algorithm of :func:`bmm_numba.kernels.exp.exp_nonpositive` with its constants, rounding
    with the 1.5 * 2**52 trick instead of floor and Horner steps as ``llvm.fma``.
    """

    def codegen(context, builder, sig, args):
        top_vec = args[1] if sig.args[1] == F64X8 else broadcast(builder, args[1])
        x = builder.fsub(args[0], top_vec)
        floor = _splat(EXP_UNDERFLOW)
        keep = builder.fcmp_ordered(">=", x, floor)
        y = builder.select(keep, x, floor)
        k = builder.fsub(builder.fadd(builder.fmul(y, _splat(LOG2E)), _splat(ROUND_TO_INT)), _splat(ROUND_TO_INT))
        r = builder.fsub(builder.fsub(y, builder.fmul(k, _splat(LN2_HI))), builder.fmul(k, _splat(LN2_LO)))
        p = _splat(EXP_TAYLOR[0])
        for c in EXP_TAYLOR[1:]:
            p = _fma(builder, p, r, _splat(c))
        bits = builder.shl(builder.add(builder.fptosi(k, I64X8), splat_i64(1023)), splat_i64(52))
        value = builder.fmul(p, builder.bitcast(bits, VEC))
        return builder.select(keep, value, _splat(0.0))

    return F64X8(v, top if top == F64X8 else types.float64), codegen


def _transpose_rows(builder, rows):
    """Columns of 8 rows of 8 lanes: 24 two-source shuffles (lane pairs, 128-bit, 256-bit halves)."""

    def shuffle(a, b, mask):
        return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(ir.IntType(32), LANES), mask))

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
    return [shuffle(u[k], u[k + 4], low256) for k in range(4)] + [shuffle(u[k], u[k + 4], high256) for k in range(4)]


@intrinsic
def vtranspose8(typingctx, src, src_at, src_stride, dst, dst_at, dst_stride):
    """Transpose an 8 x 8 block: ``dst[dst_at + k * dst_stride + r] = src[src_at + r * src_stride + k]``.

    Eight vector loads, 24 shuffles, eight vector stores.
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
            rows.append(builder.load(_vector_pointer(context, builder, sig.args[0], args[0], at, VEC), align=8))
        for k, column in enumerate(_transpose_rows(builder, rows)):
            at = builder.add(dst_at, builder.mul(dst_stride, ir.Constant(i64, k)))
            builder.store(column, _vector_pointer(context, builder, sig.args[3], args[3], at, VEC), align=8)
        return context.get_dummy_value()

    return types.none(src, src_at, src_stride, dst, dst_at, dst_stride), codegen


@intrinsic
def vlog(typingctx, v):
    """``log(v)`` lane-wise for positive normal ``v`` (< 1 ulp; a libm call per row cost ~1 ms a pass).

    fdlibm's ``__ieee754_log``: ``v = m 2^e`` with ``m`` in [sqrt(2)/2, sqrt(2)), then
    ``log(m) = log(1 + f)`` from ``s = f / (2 + f)`` and a degree-14 polynomial in ``s``.
    """

    def codegen(context, builder, sig, args):
        bits = builder.bitcast(args[0], I64X8)
        exponent = builder.sub(builder.lshr(bits, splat_i64(52)), splat_i64(1023))
        mantissa = builder.bitcast(builder.or_(builder.and_(bits, splat_i64(0x000FFFFFFFFFFFFF)),
                                               splat_i64(0x3FF0000000000000)), VEC)  # in [1, 2)
        big = builder.fcmp_ordered(">=", mantissa, _splat(_SQRT2))
        mantissa = builder.select(big, builder.fmul(mantissa, _splat(0.5)), mantissa)
        exponent = builder.select(big, builder.add(exponent, splat_i64(1)), exponent)
        e = builder.sitofp(exponent, VEC)
        f = builder.fsub(mantissa, _splat(1.0))
        s = builder.fdiv(f, builder.fadd(f, _splat(2.0)))
        z = builder.fmul(s, s)
        w = builder.fmul(z, z)
        t1 = builder.fmul(w, _fma(builder, w, _fma(builder, w, _splat(_LG[5]), _splat(_LG[3])), _splat(_LG[1])))
        t2 = builder.fmul(z, _fma(builder, w, _fma(builder, w, _fma(builder, w, _splat(_LG[6]), _splat(_LG[4])),
                                                      _splat(_LG[2])), _splat(_LG[0])))
        r = builder.fadd(t2, t1)
        hfsq = builder.fmul(_splat(0.5), builder.fmul(f, f))
        inner = builder.fadd(builder.fmul(s, builder.fadd(hfsq, r)), builder.fmul(e, _splat(LN2_LO)))
        return builder.fsub(builder.fmul(e, _splat(LN2_HI)), builder.fsub(builder.fsub(hfsq, inner), f))

    return F64X8(v), codegen


@intrinsic
def vsplat(typingctx, value):
    """Return a vector with the scalar ``value`` in every lane."""

    def codegen(context, builder, sig, args):
        return broadcast(builder, context.cast(builder, args[0], sig.args[0], types.float64))

    return F64X8(value), codegen
