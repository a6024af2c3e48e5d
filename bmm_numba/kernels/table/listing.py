"""Listing rows for the table kernel: the table offsets of each row's non-zero 4-pixel groups.

:func:`list_rows` writes, for each row, the offsets ``(16 q + code) * KP`` of the nibble-table
rows of its non-zero 4-pixel groups ``q`` (``code``: the group's 4 pixels as bits), 64 pixels
at a time with :func:`bmm_numba._simd.list_nibbles`.  The table kernel
(:mod:`bmm_numba._e_step_lut`) sums the listed table rows; an EM fit keeps every row's list
in a row index (:func:`bmm_numba._e_step_lut.build_row_index`, filled by :func:`index_rows`)
and reads it in every iteration instead of scanning X again.
"""

from __future__ import annotations

import numba
import numpy as np

from ..jit import JIT_OPTIONS
from ..simd import CHUNK_BYTES, LANES, list_nibbles, load_u64, seen_or

__all__ = ["list_stride", "list_rows", "index_rows", "LIST_FROM_X", "INDEX_COUNT", "INDEX_FILL", "INDEX_READ"]

_NIBBLE_BITS = np.uint64(0x01010101)
_GATHER4 = np.uint64(0x01020408)  # moves bit 0 of byte j (j < 4) to bit 24 + j (no carries)

#: ``index_mode`` of :func:`bmm_numba._e_step_lut._table_pass_body`: list each row from X (no index), count the
#: entries of each row into the index, write them into it, or read the rows' lists from it.
LIST_FROM_X, INDEX_COUNT, INDEX_FILL, INDEX_READ = 0, 1, 2, 3


@numba.njit(**JIT_OPTIONS)
def list_stride(n_features):
    """Slots per row in the list buffer: two nibbles per word and the tail, plus 16 spare slots."""
    return 2 * (n_features // 8) + 2 + 2 * LANES


@numba.njit(**JIT_OPTIONS)
def _nibble_code(word):
    """8-bit code of bit 0 of the 8 bytes of ``word`` (byte j -> bit j; no carries).

    Two 32-bit halves so no product overflows 64 bits (the plain-Python run of ``nojit`` warns
    on a wrapping uint64 multiply); only the words after the last 64-pixel chunk come here.
    """
    low = ((word & _NIBBLE_BITS) * _GATHER4) >> np.uint64(24)
    high = (((word >> np.uint64(32)) & _NIBBLE_BITS) * _GATHER4) >> np.uint64(24)
    return (low & np.uint64(15)) | ((high & np.uint64(15)) << np.uint64(4))


@numba.njit(**JIT_OPTIONS)
def list_rows(X, first, rows, KP, lst, stride, counts, seen):
    """Write the table offsets of the non-zero nibbles of rows ``first .. first+rows-1``.

    Row ``first + i`` goes to ``lst[i * stride:]`` and its count to ``counts[i]``.  Pixels 64 at a
    time by :func:`bmm_numba._simd.list_nibbles`, the words left over one at a time (branch-free:
    every offset is written, the count only advances past non-zero codes), the last ``D % 8``
    pixels as one more (partial) word.  Returns ``seen`` with the OR of the bytes added (for the
    0/1 check, :func:`bmm_numba._simd.any_above_one`).
    One call lists a block of rows: called once per row, it was not inlined, and the call and its
    register spills cost ~2 ms on MNIST train.
    """
    D = X.shape[1]
    n_words = D // 8
    for i in range(rows):
        n = first + i
        start = i * stride
        m = start
        g = 0
        while g + CHUNK_BYTES // 8 <= n_words:
            m, seen = list_nibbles(X, n, g, KP, lst, m, seen)
            g += CHUNK_BYTES // 8
        for h in range(g, n_words):
            word = load_u64(X, n, 8 * h)
            seen = seen_or(seen, word)
            code = _nibble_code(word)
            low, high = np.int64(code & np.uint64(15)), np.int64(code >> np.uint64(4))
            lst[m] = (32 * h + low) * KP
            m += low != 0
            lst[m] = (32 * h + 16 + high) * KP
            m += high != 0
        if D % 8:
            low = 0
            high = 0
            for j in range(D - 8 * n_words):
                value = np.int64(X[n, 8 * n_words + j])
                seen = seen_or(seen, value)
                if j < 4:
                    low |= (value & 1) << j
                else:
                    high |= (value & 1) << (j - 4)
            lst[m] = (32 * n_words + low) * KP
            m += low != 0
            lst[m] = (32 * n_words + 16 + high) * KP
            m += high != 0
        counts[i] = m - start
    return seen


@numba.njit(**JIT_OPTIONS)
def index_rows(index_mode, first, rows, lst, starts, counts, index_starts, index_offsets):
    """Count (``INDEX_COUNT``) or copy (``INDEX_FILL``) listed rows into the row index."""
    for i in range(rows):
        if index_mode == INDEX_COUNT:
            index_starts[first + i + 1] = counts[i]
        else:
            at = index_starts[first + i]
            for j in range(counts[i]):
                index_offsets[at + j] = lst[starts[i] + j]
