"""The nibble lister: table offsets of the non-zero 4-pixel groups of 64 pixels at once (LLVM IR).

One 512-bit load, the 16 group codes in vector registers (a 32-bit lane per group) and the
offsets of the non-zero ones packed by AVX-512 ``vpcompressd`` (register form, then a plain
store): listing MNIST train took ~2.4 ms against 5.4 ms for a scalar loop over words.  Without
AVX-512F (:func:`bmm_numba.kernels.simd_llvm.target_has_avx512f`) the same IR packs lane by lane.
Offsets follow :mod:`bmm_numba.kernels.table.layout`; rows are read as little-endian words
(the table kernel is not used on a big-endian host).  Twins: :mod:`.nibbles_python`.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..simd_llvm import F64X8, I32X16, I64X8, LANES, VEC, broadcast, or_reduce, splat_i64, target_has_avx512f
from .layout import CODES

__all__ = ["CHUNK_BYTES", "load_u64", "list_nibbles", "seen_or", "any_above_one"]

#: Pixels listed by one :func:`list_nibbles` call (eight 64-bit words).
CHUNK_BYTES = 64


@intrinsic
def load_u64(typingctx, X, n, offset):
    """Bytes ``X[n, offset:offset+8]`` of a C-contiguous uint8 matrix as one uint64 (unaligned)."""

    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        row_stride = builder.extract_value(array.strides, 0)
        n_ = context.cast(builder, args[1], sig.args[1], types.intp)
        off = context.cast(builder, args[2], sig.args[2], types.intp)
        ptr = builder.gep(array.data, [builder.add(builder.mul(n_, row_stride), off)])
        return builder.load(builder.bitcast(ptr, ir.IntType(64).as_pointer()), align=1)

    return types.uint64(X, n, offset), codegen


def _append_packed(builder, values, mask, dst_data, m):
    """Append the lanes of ``values`` (<16 x i32>) where ``mask`` is set to ``dst_data[m:]``; return the count.

    AVX-512F: register-form ``vpcompressd``, then one 64-byte store into the 16 spare slots
    (LLVM's ``llvm.masked.compressstore`` became the memory form, microcoded on Zen 4: 52 ms).
    """
    i64 = ir.IntType(64)
    width = 2 * LANES
    if target_has_avx512f():
        compress = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(I32X16, [I32X16, I32X16, ir.VectorType(ir.IntType(1), width)]),
            "llvm.x86.avx512.mask.compress.v16i32")
        packed = builder.call(compress, [values, ir.Constant(I32X16, ir.Undefined), mask])
        builder.store(packed, builder.bitcast(builder.gep(dst_data, [m]), I32X16.as_pointer()), align=4)
        popcount = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64]), "llvm.ctpop.i64")
        bits = builder.zext(builder.bitcast(mask, ir.IntType(width)), i64)
        return builder.add(m, builder.call(popcount, [bits]))
    for lane in range(width):  # branch-free: write every lane, advance past the kept ones
        index = ir.Constant(ir.IntType(32), lane)
        builder.store(builder.extract_element(values, index), builder.gep(dst_data, [m]))
        m = builder.add(m, builder.zext(builder.extract_element(mask, index), i64))
    return m


def _group_offsets(builder, pixels, word, kp):
    """Codes of the 16 groups in ``pixels`` (<16 x i32>) and their table offsets ``(16 q + code) * KP``."""

    def splat32(value):
        return ir.Constant(I32X16, [value] * (2 * LANES))

    # a 32-bit lane per group: its 4-bit code by one multiply (distinct target bits, no carries)
    # (listing MNIST train: 2.4 ms against 3.0 ms for 8 words' two halves)
    codes = builder.lshr(builder.mul(builder.and_(pixels, splat32(0x01010101)), splat32(0x01020408)), splat32(24))
    first_group = builder.trunc(builder.shl(word, word.type(1)), ir.IntType(32))
    groups = builder.add(broadcast(builder, first_group, I32X16), ir.Constant(I32X16, list(range(2 * LANES))))
    offsets = builder.mul(builder.add(builder.mul(groups, splat32(CODES)), codes), broadcast(builder, kp, I32X16))
    return codes, offsets


@intrinsic
def list_nibbles(typingctx, X, n, word, KP, lst, m, seen):
    """Append the table offsets of the non-zero groups of words ``word .. word+7`` of row ``n``.

    Groups ``q = 2 * word .. 2 * word + 15`` of a C-contiguous uint8 ``X``, in that order.  ``lst``
    (int32) needs 16 free slots past the last offset written.  Returns ``(count, seen)``: the new
    count, and ``seen`` with the pixels ORed in (the 0/1 check, :func:`any_above_one`).
    """

    def codegen(context, builder, sig, args):
        x_arr = context.make_array(sig.args[0])(context, builder, args[0])
        n_ = context.cast(builder, args[1], sig.args[1], types.intp)
        word = context.cast(builder, args[2], sig.args[2], types.int64)
        kp = builder.trunc(context.cast(builder, args[3], sig.args[3], types.int64), ir.IntType(32))
        start = builder.add(builder.mul(n_, builder.extract_value(x_arr.strides, 0)), builder.shl(word, word.type(3)))
        pixels = builder.load(builder.bitcast(builder.gep(x_arr.data, [start]), I32X16.as_pointer()), align=1)
        # kept in registers: an OR through memory made a store-to-load chain per 64 pixels
        seen = builder.or_(builder.bitcast(args[6], I32X16), pixels)
        codes, offsets = _group_offsets(builder, pixels, word, kp)
        keep = builder.icmp_unsigned("!=", codes, ir.Constant(I32X16, [0] * (2 * LANES)))
        dst = context.make_array(sig.args[4])(context, builder, args[4]).data
        m_ = _append_packed(builder, offsets, keep, dst, context.cast(builder, args[5], sig.args[5], types.int64))
        return context.make_tuple(builder, sig.return_type, [m_, builder.bitcast(seen, VEC)])

    return types.Tuple((types.int64, F64X8))(X, n, word, KP, lst, m, seen), codegen


@intrinsic
def seen_or(typingctx, seen, word):
    """``seen`` with the 64 bits of ``word`` ORed into lane 0."""

    def codegen(context, builder, sig, args):
        bits = builder.bitcast(args[0], I64X8)
        value = context.cast(builder, args[1], sig.args[1], types.uint64)
        lane = builder.insert_element(ir.Constant(I64X8, [0] * LANES), value, ir.Constant(ir.IntType(32), 0))
        return builder.bitcast(builder.or_(bits, lane), VEC)

    return F64X8(seen, word), codegen


@intrinsic
def any_above_one(typingctx, seen):
    """Return True if a byte recorded in ``seen`` had a bit other than bit 0 set (a value > 1)."""

    def codegen(context, builder, sig, args):
        bits = builder.and_(builder.bitcast(args[0], I64X8), splat_i64(0xFEFEFEFEFEFEFEFE))
        lanes = [builder.extract_element(bits, ir.Constant(ir.IntType(32), i)) for i in range(LANES)]
        return builder.icmp_unsigned("!=", or_reduce(builder, lanes), ir.Constant(ir.IntType(64), 0))

    return types.boolean(seen), codegen
