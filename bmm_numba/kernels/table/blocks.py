"""Block helpers of the table pass: each works on up to :data:`LIST_ROWS` rows of one block.

list (:mod:`.listing`) -> sum (:func:`table_sums`) -> normalise (:func:`normalise_block`) ->
write (:func:`write_resp`, :func:`write_log_prob_norm`) -> accumulate (:func:`accumulate_block`).
The driver (:func:`bmm_numba.kernels.table.e_step.table_pass`) composes them; each phase is a
loop of its own (row by row, list, sums and normalisation took 9.7 ms against 7.3 ms for list
and sums alone; ``docs/design.md``).  Row ``i`` of a block has its K lanes (padded to ``KP``) at
``work.acc[i * KP:]`` and its list at ``lst[work.starts[i]:work.starts[i] + work.counts[i]]``.
The helpers take the arrays out of ``work`` before their loops: a field read inside a loop can
cost a reference-count increment and decrement per iteration.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from ..exp import exp_nonpositive
from ..jit import JIT_OPTIONS
from ..simd import (
    LANES,
    padd_load,
    pload,
    pstore,
    vadd,
    vadd_load,
    vdiv,
    vexp_shifted,
    vload,
    vlog,
    vmax,
    vmul,
    vsplat,
    vstore,
    vstore_first,
    vtranspose8,
    vzero,
)

__all__ = ["LIST_ROWS", "Work", "work_buffers", "table_sums", "normalise_block", "write_resp",
           "write_log_prob_norm", "copy_resp", "accumulate_block"]

#: Rows listed before their sums run (a multiple of 8; the list buffer holds
#: ``LIST_ROWS * list_stride(D)`` int32: 200 KB on MNIST).
LIST_ROWS = 256


class Work(NamedTuple):
    """Buffers of one run of the pass (one per thread), reused by every block."""

    buffer: np.ndarray  # int32 (LIST_ROWS * stride,): the rows' lists (empty when read from an index)
    starts: np.ndarray  # int64 (LIST_ROWS,): where row i's list starts
    counts: np.ndarray  # int64 (LIST_ROWS,): its length
    acc: np.ndarray  # float64 (LIST_ROWS * KP,): log-joints, then responsibilities, KP lanes a row
    tops: np.ndarray  # float64 (LIST_ROWS,): per row, log_prob_norm = top + log(total)
    totals: np.ndarray  # float64 (LIST_ROWS,)
    scratch: np.ndarray  # float64 (2 * 8 * 8,): 8 rows transposed, a vector per component


@numba.njit(inline="always", **JIT_OPTIONS)
def work_buffers(list_slots, KP):
    """Allocate :class:`Work` (once per call, not per block: a zeroed acc per block cost ~0.15 ms)."""
    # every lane read is written first in each block; totals of 1 past a block's last row keep vlog finite
    return Work(np.empty(list_slots, np.int32), np.empty(LIST_ROWS, np.int64), np.empty(LIST_ROWS, np.int64),
                np.empty(LIST_ROWS * KP), np.zeros(LIST_ROWS), np.ones(LIST_ROWS), np.empty(2 * LANES * LANES))


@numba.njit(**JIT_OPTIONS)
def table_sums(lut, bias, lst, starts, counts, rows, acc):
    """Log-joints of listed rows: ``acc[i * KP:(i + 1) * KP] = bias + sum of the listed table entries``.

    Two chains of up to 16 lanes, entries alternating between them (sums 5.6 -> 4.1 ms, MNIST).
    """
    KP = bias.shape[0]
    for i in range(rows):
        # max(..., 0) tells LLVM that j >= 0: no negative-index wraparound for lst[j] (3.2 -> 2.9 ms)
        start = max(starts[i], 0)
        stop = start + counts[i]
        for c in range(0, KP, 2 * LANES):
            two = c + LANES < KP
            low0 = vload(bias, c)
            low1 = vload(bias, c + LANES) if two else vzero()
            high0 = vzero()
            high1 = vzero()
            j = start
            while j + 1 < stop:
                first = lst[j] + c
                second = lst[j + 1] + c
                low0 = vadd_load(low0, lut, first)
                high0 = vadd_load(high0, lut, second)
                if two:
                    low1 = vadd_load(low1, lut, first + LANES)
                    high1 = vadd_load(high1, lut, second + LANES)
                j += 2
            if j < stop:
                low0 = vadd_load(low0, lut, lst[j] + c)
                if two:
                    low1 = vadd_load(low1, lut, lst[j] + c + LANES)
            vstore(vadd(low0, high0), acc, i * KP + c)
            if two:
                vstore(vadd(low1, high1), acc, i * KP + c + LANES)


@numba.njit(**JIT_OPTIONS)
def _normalise_row(acc, at, K):
    """Softmax of ``acc[at:at + K]`` in place, pad lanes to the next multiple of 8 set to 0.

    Returns ``(top, total)`` with ``log_prob_norm = top + log(total)``; the branch-free ``exp``
    of :mod:`bmm_numba.kernels.exp` lets the K exponentials vectorise.
    """
    top = acc[at]
    for k in range(1, K):
        top = max(top, acc[at + k])
    total = 0.0
    for k in range(K):
        acc[at + k] = exp_nonpositive(acc[at + k] - top)
        total += acc[at + k]
    inverse = 1.0 / total
    for k in range(K):
        acc[at + k] *= inverse
    for k in range(K, LANES * ((K + LANES - 1) // LANES)):
        acc[at + k] = 0.0
    return top, total


@numba.njit(**JIT_OPTIONS)
def _normalise8_rows(acc, at, KP, K, scratch, tops, totals, i):
    """Normalise rows ``i .. i + 7`` (K <= 16) starting at ``acc[at]``, transposed: no horizontal ops.

    One vector per component and a lane per row in ``scratch``; writes ``tops[i:i + 8]``,
    ``totals[i:i + 8]`` and the responsibilities back into ``acc`` (pad lanes 0).
    """
    halves = KP // LANES
    for h in range(halves):
        vtranspose8(acc, at + h * LANES, KP, scratch, h * LANES * LANES, LANES)
    top = vload(scratch, 0)
    for k in range(1, K):
        top = vmax(top, vload(scratch, k * LANES))
    total = vzero()
    for k in range(K):
        e = vexp_shifted(vload(scratch, k * LANES), top)
        vstore(e, scratch, k * LANES)
        total = vadd(total, e)
    inverse = vdiv(vsplat(1.0), total)
    for k in range(K):
        vstore(vmul(vload(scratch, k * LANES), inverse), scratch, k * LANES)
    for k in range(K, KP):
        vstore(vzero(), scratch, k * LANES)
    for h in range(halves):
        vtranspose8(scratch, h * LANES * LANES, LANES, acc, at + h * LANES, KP)
    vstore(top, tops, i)
    vstore(total, totals, i)


@numba.njit(inline="always", **JIT_OPTIONS)
def normalise_block(work, rows, KP, n_components):
    """Log-joints in ``work.acc`` -> responsibilities; ``work.tops``/``work.totals`` per row.

    In a loop of its own, rows overlap (inside the sums loop each row's ~200-cycle exp chain ran
    alone).  K <= 16: 8 rows at a time, transposed (0.95 ms against 1.25 ms row by row, MNIST);
    the rows that complete the last 8 are zeros, never read.
    """
    acc, scratch, tops, totals = work.acc, work.scratch, work.tops, work.totals
    if KP <= 2 * LANES:
        for i in range(rows * KP, (rows + (-rows) % LANES) * KP):
            acc[i] = 0.0
        for i in range(0, rows, LANES):
            _normalise8_rows(acc, i * KP, KP, n_components, scratch, tops, totals, i)
    else:
        for i in range(rows):
            tops[i], totals[i] = _normalise_row(acc, i * KP, n_components)


@numba.njit(inline="always", **JIT_OPTIONS)
def write_resp(work, rows, KP, resp, first):
    """Copy the responsibilities of the block's rows into ``resp[first:first + rows]``.

    Vector stores, the last one masked to the row's end (2 scalar stores for K = 10: +0.15 ms).
    """
    n_components = resp.shape[1]
    acc = work.acc
    for i in range(rows):
        for c in range(0, n_components, LANES):
            vstore_first(vload(acc, i * KP + c), resp, (first + i) * n_components + c,
                         min(LANES, n_components - c))


@numba.njit(inline="always", **JIT_OPTIONS)
def write_log_prob_norm(work, rows, log_prob_norm, first):
    """``log_prob_norm[first + i] = top + log(total)``, 8 rows a ``vlog`` (libm per row: ~1 ms a pass)."""
    tops, totals = work.tops, work.totals
    for i in range(0, rows, LANES):
        vstore(vadd(vload(tops, i), vlog(vload(totals, i))), tops, i)
    for i in range(rows):
        log_prob_norm[first + i] = tops[i]


@numba.njit(inline="always", **JIT_OPTIONS)
def copy_resp(work, rows, KP, resp, first):
    """Given responsibilities ``resp[first:first + rows]`` into ``work.acc`` (pad lanes not written)."""
    acc = work.acc
    for i in range(rows):
        for k in range(resp.shape[1]):
            acc[i * KP + k] = resp[first + i, k]


# 9 parameters: the block's rows, their lists, the weights, the partial tables
@numba.njit(inline="always", **JIT_OPTIONS)
def accumulate_block(work, lst, rows, KP, n_components, sample_weight, first, T, nk):
    """Add each row's weighted responsibilities to ``nk`` and, once per listed entry, to ``T``.

    ``T`` (one block's partial pattern table, :mod:`.layout`) gets ``w_n r_n`` at every entry of
    row n's list; ``bmm_numba.kernels.table.em_pass`` expands it into pixel statistics.
    """
    acc, starts, counts = work.acc, work.starts, work.counts
    for i in range(rows):
        w = sample_weight[first + i]
        at = i * KP
        start = max(starts[i], 0)  # j >= 0: no wraparound code for lst[j] (as in table_sums)
        stop = start + counts[i]
        for k in range(n_components):
            acc[at + k] *= w
            nk[k] += acc[at + k]
        tail = n_components - (KP - LANES)  # useful lanes of the last vector
        if tail <= 2:
            # a 2-lane add for the last one or two lanes (K = 10): an 8-lane add stores 64 bytes
            # for them and Zen 4 stores 32 a cycle (pass 13.0 -> 11.5 ms)
            r = vload(acc, at)
            t = pload(acc, at + KP - LANES)  # a pad lane holds 0 and adds 0
            for j in range(start, stop):
                offset = lst[j]
                if KP > LANES:
                    vstore(vadd_load(r, T, offset), T, offset)
                    for c in range(LANES, KP - LANES, LANES):
                        vstore(vadd_load(vload(acc, at + c), T, offset + c), T, offset + c)
                pstore(padd_load(t, T, offset + KP - LANES), T, offset + KP - LANES)
        else:
            for c in range(0, KP, LANES):
                r = vload(acc, at + c)
                for j in range(start, stop):
                    offset = lst[j] + c
                    vstore(vadd_load(r, T, offset), T, offset)
