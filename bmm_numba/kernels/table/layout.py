"""The table layout: where the summed weights of a 4-pixel pattern live (``docs/design.md``).

Pixels are taken 4 at a time (a *group* ``q``: pixels ``4q .. 4q + 3``, with the row padded to
whole 8-pixel words); the 4 pixels of a group, as bits, are its *code* (0..15).  The table
holds one entry of ``KP`` float64 per (group, code), ``KP`` being K padded to whole vectors::

    offset(q, code) = (16 q + code) * KP        # 16 * KP floats per group
    table[offset + k] = sum of w[4q + j, k] over the bits j of code   (k < K; pad lanes 0)

The look-up table of the E-step, the partial pattern tables of the fused EM pass, the row
lists (offsets, not indices) and the tests all use this module.
"""

from __future__ import annotations

import numba

from ..jit import JIT_OPTIONS
from ..simd import LANES

__all__ = ["GROUP_PIXELS", "CODES", "padded_components", "padded_features", "table_layout", "table_offset",
           "list_stride"]

#: Pixels per group (one nibble of a row's bits).
GROUP_PIXELS = 4
#: Entries per group: one per 4-bit code.
CODES = 16


def padded_components(n_components):
    """``KP``: lanes per table entry, K padded to a multiple of :data:`LANES` (whole vectors)."""
    return LANES * ((n_components + LANES - 1) // LANES)


def padded_features(n_features):
    """Pixels per row padded to whole 8-pixel words (the listing reads 64-bit words)."""
    return 8 * ((n_features + 7) // 8)


def table_layout(n_components, n_features):
    """``(KP, n_entries)``: lanes per entry and table length (``16 * KP`` floats a group)."""
    KP = padded_components(n_components)
    return KP, padded_features(n_features) // GROUP_PIXELS * CODES * KP


@numba.njit(**JIT_OPTIONS)
def table_offset(group, code, KP):
    """Offset of the entry of ``group`` with 4-bit ``code``: ``(16 group + code) * KP``."""
    return (CODES * group + code) * KP


@numba.njit(**JIT_OPTIONS)
def list_stride(n_features):
    """Slots per row in a list buffer: two groups per word and the tail, plus 16 spare slots.

    The spare slots take the full 16-lane store of the vector lister past the row's last offset.
    """
    return 2 * (n_features // 8) + 2 + 2 * LANES
