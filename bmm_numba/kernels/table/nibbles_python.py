"""Plain-Python twins of the nibble lister of :mod:`bmm_numba.kernels.table.nibbles` (same results).

Used under ``NUMBA_DISABLE_JIT=1`` and as the reference of the intrinsics in ``tests/test_simd.py``.
"""

from __future__ import annotations

import numpy as np

from .layout import CODES

__all__ = ["CHUNK_BYTES", "load_u64", "list_nibbles", "seen_or", "any_above_one"]

#: Pixels listed by one :func:`list_nibbles` call (eight 64-bit words).
CHUNK_BYTES = 64


def load_u64(X, n, offset):
    """Return bytes ``X[n, offset:offset+8]`` as a little-endian uint64."""
    return np.uint64(int.from_bytes(X[n, offset:offset + 8].tobytes(), "little"))


def seen_or(seen, word):
    """Return ``seen`` (the bits of a vector, as compiled) with ``word`` ORed into lane 0."""
    bits = seen.view(np.uint64).copy()
    bits[0] |= np.uint64(word)
    return bits.view(np.float64)


def any_above_one(seen):
    """Return True if any byte recorded in ``seen`` had a bit other than bit 0 set."""
    return bool(np.any(seen.view(np.uint64) & np.uint64(0xFEFEFEFEFEFEFEFE)))


def list_nibbles(X, n, word, KP, lst, m, seen):
    """Append the offsets of the non-zero groups of words ``word .. word+7`` of row ``n``; return ``(m, seen)``."""
    bits = seen.view(np.uint64).copy()
    for g in range(word, word + 8):
        value = load_u64(X, n, 8 * g)
        bits[g - word] |= value
        code = ((int(value) & 0x0101010101010101) * 0x0102040810204080 % 2**64) >> 56  # Python ints
        for half in (0, 1):
            nibble = (code >> (4 * half)) & 15
            if nibble:
                lst[m] = (CODES * (2 * g + half) + nibble) * KP
                m += 1
    return m, bits.view(np.float64)
