"""Listing rows for the table kernel: the table offsets of each row's non-zero 4-pixel groups.

:func:`list_rows` writes, for each row, the offsets :func:`~.layout.table_offset` of its
non-zero groups, 64 pixels at a time with :func:`.nibbles.list_nibbles`.  An EM fit keeps every
row's list in a row index (:func:`bmm_numba.kernels.table.e_step.build_row_index`, filled by
:func:`index_rows`) and reads it in every pass instead of scanning X again.
"""

from __future__ import annotations

import numba
import numpy as np

from ..jit import JIT_DISABLED, JIT_OPTIONS
from . import nibbles_python
from .layout import list_stride, table_offset

if JIT_DISABLED:
    _nibbles = nibbles_python
else:
    from . import nibbles as _nibbles

__all__ = ["list_stride", "list_rows", "list_block", "index_rows", "any_above_one", "LIST_FROM_X", "INDEX_COUNT",
           "INDEX_FILL", "INDEX_READ"]

CHUNK_BYTES, any_above_one, list_nibbles, load_u64, seen_or = (
    _nibbles.CHUNK_BYTES, _nibbles.any_above_one, _nibbles.list_nibbles, _nibbles.load_u64, _nibbles.seen_or)

_NIBBLE_BITS = np.uint64(0x01010101)
_GATHER4 = np.uint64(0x01020408)  # moves bit 0 of byte j (j < 4) to bit 24 + j (no carries)

#: Where a table pass gets each row's list: listed from X (no index), listed and counted into
#: the index, listed and written into it, or read from it.
LIST_FROM_X, INDEX_COUNT, INDEX_FILL, INDEX_READ = 0, 1, 2, 3


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
    time by :func:`.nibbles.list_nibbles`, the words left over one at a time (branch-free: every
    offset is written, the count only advances past non-zero codes), the last ``D % 8`` pixels as
    one more (partial) word.  Returns ``seen`` with the OR of the bytes added (the 0/1 check,
    :func:`any_above_one`).  One call per block of rows: called per row, it was not inlined
    (~2 ms more on MNIST train).
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
            lst[m] = table_offset(2 * h, low, KP)
            m += low != 0
            lst[m] = table_offset(2 * h + 1, high, KP)
            m += high != 0
        if D % 8:
            low = np.int64(0)  # not a literal 0: table_offset gets one signature
            high = np.int64(0)
            for j in range(D - 8 * n_words):
                value = np.int64(X[n, 8 * n_words + j])
                seen = seen_or(seen, value)
                if j < 4:
                    low |= (value & 1) << j
                else:
                    high |= (value & 1) << (j - 4)
            lst[m] = table_offset(2 * n_words, low, KP)
            m += low != 0
            lst[m] = table_offset(2 * n_words + 1, high, KP)
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


# 8 parameters: the rows, where their lists come from, where they go
@numba.njit(inline="always", **JIT_OPTIONS)
def list_block(X, first, rows, KP, stride, rows_from, work, seen):
    """Return the lists of rows ``first .. first+rows-1``: ``(lst, seen)``, row i at ``lst[work.starts[i]:]``.

    Read from the row index (``rows_from.mode == INDEX_READ``) or listed from X into
    ``work.buffer`` by :func:`list_rows` (``seen`` then gets the rows' bytes ORed in).
    """
    starts, counts = work.starts, work.counts
    if rows_from.mode == INDEX_READ:
        index_starts = rows_from.starts
        for i in range(rows):
            starts[i] = index_starts[first + i]
            counts[i] = index_starts[first + i + 1] - starts[i]
        return rows_from.offsets, seen
    seen = list_rows(X, first, rows, KP, work.buffer, stride, counts, seen)
    for i in range(rows):
        starts[i] = i * stride
    return work.buffer, seen
