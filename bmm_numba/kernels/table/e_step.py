"""The fastest E-step on binary data: nibble look-up tables, word scans, vector accumulators.

Textbook form of the log-joint of row n and component k::

    log pi_k + sum_d x_nd log mu_kd + (1 - x_nd) log(1 - mu_kd)
      = bias_k + sum_{d: x_nd = 1} w_dk,   w = log mu - log(1 - mu),  bias = log pi + sum_d log(1 - mu)

Rewrites, each kept because it measured faster (2-core AMD EPYC, MNIST train 60000 x 784,
K = 10, one thread; see ``bench/``):

1. Look-up table over groups of 4 pixels: for each group q and each 4-bit pattern ``code``,
   ``lut[q, code, :] = sum_{j in code} w[4q + j, :]`` (16 K-vectors per group, built once per
   call in ~0.08 ms).  A row then costs one vector add per non-zero nibble (45 per MNIST row)
   instead of one per pixel that is on (104).
2. Listing: 64 pixels at a time (one 512-bit load), the 16 nibble codes computed in vector
   registers (one 32-bit lane per nibble) and the table offsets of the non-zero ones packed
   with AVX-512 ``vpcompressd`` (:func:`bmm_numba._simd.list_nibbles`; a lane-by-lane fallback
   elsewhere; :mod:`bmm_numba._listing`).  ~2.4 ms for MNIST train against 5.4 ms for a
   branch-free scalar loop over 8-byte words.  A block of :data:`LIST_ROWS` rows is listed,
   then summed, then normalised: each phase a loop of its own (row by row the three took
   9.7 ms against 7.3 ms for list and sums alone).
3. The K sums live in 8-lane ``<8 x double>`` registers (:mod:`bmm_numba._simd`), two chains
   (alternate entries) to hide the add latency; K is padded to a multiple of 8.
4. Normalisation in vectors, 8 rows at a time transposed (a vector per component, a lane per
   row: no horizontal max or sum): max, ``exp`` (degree-12 polynomial, Horner steps as
   ``llvm.fma``), sum, one vector division; ~0.95 ms for MNIST train (1.25 ms row by row).
   ``log`` only where it is needed.
5. The 0/1 check of uint8 input is folded into the listing (an OR of every word, kept in a
   vector register), which saves a separate pass over X (~1.2 ms).  Indices into the table use
   only bit 0 of each byte, so a bad value can never cause an out-of-bounds read; the wrapper
   raises before returning anything.
6. EM fits list every row once (:func:`build_row_index`) and read the lists in every pass.

Tried and dropped: a byte table (8-pixel groups, 25 % fewer look-ups) was no faster: its
3.2 MB do not stay in L2 and building it costs 0.4 ms a call; a ``parallel=True`` build (the
threads of :func:`bmm_numba._threads.run_blocks` are as fast and compile in half the time).

Single-thread split for MNIST train, K = 10: listing ~2.5 ms (reading X alone: ~1.4 ms), sums
~2.9 ms, normalisation ~0.95 ms, the rest (writing responsibilities, block set-up) ~1.4 ms
(7.7-7.8 ms in all; ~4.0-4.2 ms on 2 threads).

Rows are independent and each thread owns a range of fixed blocks of rows: results do not
depend on the thread count.  Precision: the table and the sums are float64 throughout, so
responsibilities agree with the float64 oracle to ~1e-12.
"""

from __future__ import annotations

import numba
import numpy as np

from ..e_step_numba import run_compiled
from ..e_step_numpy import log_pi
from ..exp import exp_nonpositive
from ..jit import JIT_OPTIONS, build_serial_and_parallel
from ..param_cache import cached
from ..simd import (
    LANES,
    any_above_one,
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
from ..threads import run_blocks
from .listing import INDEX_COUNT, INDEX_FILL, INDEX_READ, LIST_FROM_X, index_rows, list_rows, list_stride

__all__ = [
    "lut_e_step",
    "numba_fastest",
    "prepare_table",
    "table_layout",
    "table_pass_arguments",
    "run_table_pass",
    "build_row_index",
    "table_sums",
    "LUT_MIN_ROWS",
    "THREADS_MIN_WORK",
    "BLOCK_ROWS",
]

#: Rows per block of the E-step (a fixed block: independent of the thread count).
BLOCK_ROWS = 256

#: Below this many ``n * d * KP`` steps (KP: K padded to a multiple of 8, the lanes the kernel
#: works on) the table pass runs in the calling thread alone: handing
#: half the blocks to a second thread costs ~50-100 us (MNIST shapes, 2 cores: 1000 rows took
#: 277 us with two threads against 216 us with one; from ~3000 rows on two threads win).
THREADS_MIN_WORK = 1 << 24

#: Rows listed before their sums run (a multiple of 8; the list buffer holds ``LIST_ROWS * list_stride(D)`` int64:
#: 200 KB on MNIST).
LIST_ROWS = 256

#: Below this many rows, building the table (~80 us for D = 784, K = 10) costs more than it
#: saves (~0.4 us a row); the ``numba_ones`` kernel runs.
LUT_MIN_ROWS = 192

@numba.njit(**JIT_OPTIONS)
def _normalise_into(acc, at, K):
    """Softmax of ``acc[at:at + K]`` in place, pad lanes up to the next multiple of 8 set to 0.

    Returns ``(top, total)`` with ``logsumexp = top + log(total)``: the caller takes the log only
    where it needs it.  Same maths as the per-row log-sum-exp of the other kernels, with a
    branch-free ``exp`` (:mod:`bmm_numba._exp`) so the K exponentials vectorise.
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
    """Normalise 8 rows at once (K <= 16): rows ``i .. i + 7``, starting at ``acc[at]``, KP lanes each.

    The rows are transposed into ``scratch`` (one vector per component, a lane per row), so
    the max, ``exp``, sum and division run on K vectors of 8 rows with no horizontal
    operations, and with K exponentials of 8 lanes for 8 rows instead of KP.  Writes
    ``tops[i:i + 8]``, ``totals[i:i + 8]`` and the responsibilities back into ``acc`` (pad lanes 0).
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


def _build_table_body(weights, lut):
    """Fill the look-up table from ``weights`` (D_pad, KP), zero-padded to a multiple of 8 rows.

    ``lut[q, code] = lut[q, code without its lowest bit] + weights[4q + lowest bit]``: one add
    per entry (the textbook form sums up to 4 weights per entry).
    """
    KP = weights.shape[1]
    n_groups = weights.shape[0] // 4
    for q in range(n_groups):
        base = q * 16 * KP
        for k in range(KP):
            lut[base + k] = 0.0
        for code in range(1, 16):
            low_bit = 0
            while not (code >> low_bit) & 1:
                low_bit += 1
            rest = base + (code & (code - 1)) * KP
            row = base + code * KP
            for k in range(KP):
                lut[row + k] = lut[rest + k] + weights[4 * q + low_bit, k]


@numba.njit(**JIT_OPTIONS)
def table_sums(lut, bias, lst, starts, counts, rows, acc):
    """Log-joints of listed rows: ``acc[i * KP:(i + 1) * KP] = bias + sum of the listed table rows``.

    Row ``i`` lists ``lst[starts[i]:starts[i] + counts[i]]``.

    Two chains of up to 16 lanes each, entries alternating between them (MNIST, K = 10, one
    thread: 4.1 ms for the sums against 5.6 ms with one chain).
    """
    KP = bias.shape[0]
    for i in range(rows):
        # max(..., 0) tells LLVM that j >= 0, so lst[j] needs no negative-index wraparound code
        # (MNIST train, K = 10, one thread: sums 3.2 -> 2.9 ms)
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


def _table_pass_body(first_block, stop_block, X, lut, bias, sample_weight, n_components, block_rows, part_T,
                     part_nk, gamma, log_norm, seen_high_bits, accumulate, write_resp, read_resp, index_mode,
                     index_starts, index_offsets):
    """Rows in fixed blocks: list, log-joint by table, normalise; optionally keep and accumulate.

    ``write_resp``: responsibilities into ``gamma[n]``.  ``accumulate``: weighted
    responsibilities into the block's partial pattern table ``part_T[b]`` and mass
    ``part_nk[b]`` (the fused EM pass, :mod:`bmm_numba._em_lut`).  ``read_resp``: no E-step;
    accumulate the responsibilities given in ``gamma`` (an M-step from any responsibilities, as
    at initialisation).  ``log_norm`` of length 0: the log-normalisers are not needed (no ``log``
    per row).  One body serves all three, and building and reading the row index
    (``index_mode``, :func:`build_row_index`): each extra kernel cost ~1 s more of cold compile
    in the first ``fit``.

    Within a block, :data:`LIST_ROWS` rows are listed first, then summed: alternating list and
    sums row by row took 9.7 ms against 7.3 ms (MNIST train, K = 10, one thread).  Blocks
    ``first_block .. stop_block - 1``: :func:`run_table_pass` splits the blocks over threads.
    """
    N, D = X.shape
    KP = bias.shape[0]
    want_log = log_norm.shape[0] > 0
    stride = list_stride(D)
    # work buffers: once per call, not per block (235 blocks with a zeroed acc each cost ~0.15 ms
    # of an MNIST E-step, one thread); every lane read is written first in each block
    buffer = np.empty(0 if index_mode == INDEX_READ else LIST_ROWS * stride, np.int32)
    starts = np.empty(LIST_ROWS, np.int64)
    counts = np.empty(LIST_ROWS, np.int64)
    acc = np.empty(LIST_ROWS * KP)  # log-joints, then responsibilities, KP lanes a row
    tops = np.zeros(LIST_ROWS)  # per row: logsumexp = top + log(total)
    totals = np.ones(LIST_ROWS)  # lanes past the last row of a block stay positive for vlog
    scratch = np.empty(2 * LANES * LANES)  # 8 rows transposed: a vector per component
    for b in range(first_block, stop_block):
        T = part_T[b]
        nk = part_nk[b]
        for i in range(T.shape[0] if accumulate else 0):
            T[i] = 0.0
        for k in range(KP):
            nk[k] = 0.0
        seen = vzero()  # bits of the bytes seen so far (the 0/1 check), carried as a vector
        first_row = b * block_rows
        last_row = min(N, first_row + block_rows)
        for first in range(first_row, last_row, LIST_ROWS):
            rows = min(LIST_ROWS, last_row - first)
            if index_mode == INDEX_READ:
                lst = index_offsets
                for i in range(rows):
                    starts[i] = index_starts[first + i]
                    counts[i] = index_starts[first + i + 1] - starts[i]
            else:
                lst = buffer
                seen = list_rows(X, first, rows, KP, lst, stride, counts, seen)
                for i in range(rows):
                    starts[i] = i * stride
                if index_mode != LIST_FROM_X:
                    index_rows(index_mode, first, rows, lst, starts, counts, index_starts, index_offsets)
                    continue
            if read_resp:
                for i in range(rows):
                    for k in range(n_components):
                        acc[i * KP + k] = gamma[first + i, k]
            else:
                table_sums(lut, bias, lst, starts, counts, rows, acc)
                # normalising in a loop of its own lets rows overlap: inside the sums loop, each
                # row's exp/sum/divide chain (~200 cycles of latency) ran alone.  K <= 16: 8 rows
                # at a time, transposed (MNIST train, K = 10, one thread: ~0.95 ms against
                # ~1.25 ms row by row; the 4 transposes per 8 rows cost about half of what the
                # vector maths saves); the rows that complete the last 8 are zeros, never read
                if KP <= 2 * LANES:
                    for i in range(rows * KP, (rows + (-rows) % LANES) * KP):
                        acc[i] = 0.0
                    for i in range(0, rows, LANES):
                        _normalise8_rows(acc, i * KP, KP, n_components, scratch, tops, totals, i)
                else:
                    for i in range(rows):
                        tops[i], totals[i] = _normalise_into(acc, i * KP, n_components)
                for i in range(rows if write_resp else 0):
                    # vector stores, the last one masked to the row's end (the last 2 lanes of
                    # K = 10 as scalar stores: ~0.15 ms more on MNIST train, one thread)
                    for c in range(0, n_components, LANES):
                        vstore_first(vload(acc, i * KP + c), gamma, (first + i) * n_components + c,
                                     min(LANES, n_components - c))
                if want_log:  # 8 rows at a time (a libm call per row cost ~1 ms per MNIST pass)
                    for i in range(0, rows, LANES):
                        vstore(vadd(vload(tops, i), vlog(vload(totals, i))), tops, i)
                    for i in range(rows):
                        log_norm[first + i] = tops[i]
            for i in range(rows if accumulate else 0):
                w = sample_weight[first + i]
                at = i * KP
                start = max(starts[i], 0)  # j >= 0: no wraparound code for lst[j] (as in table_sums)
                stop = start + counts[i]
                for k in range(n_components):
                    acc[at + k] *= w
                    nk[k] += acc[at + k]
                tail = n_components - (KP - LANES)  # useful lanes of the last vector
                if tail <= 2:
                    # one or two useful lanes in the last vector (K = 10: two): a 2-lane add for
                    # them, in the same loop, as an 8-lane add stores 64 bytes for them and Zen 4
                    # stores 32 bytes a cycle (MNIST, K = 10, one thread: pass 13.2 -> 12.6 ms
                    # with two scalar adds, 13.0 -> 11.5 ms with the 2-lane add instead; a
                    # 2-lane add in the sums as well measured no faster)
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
        seen_high_bits[b] = any_above_one(seen)


_build_table = build_serial_and_parallel(_build_table_body)[0]  # small: always serial
# one build: threads run it on ranges of blocks (bmm_numba._threads.run_blocks)
_table_pass = build_serial_and_parallel(_table_pass_body)[0]


def table_pass_arguments(X, lut, bias, n_components, block_rows, part_T, part_nk, *, gamma=None,
                         sample_weight=None, given_resp=None, want_log_norm=True, index=None,
                         index_mode=None):
    """Build the argument tuple of :func:`_table_pass_body` (the one place that lists it).

    ``gamma``: where to write responsibilities.  ``given_resp``: responsibilities to accumulate
    instead of computing them (``lut`` is then not read).  Accumulates into ``part_T`` unless it
    has no columns.  Outputs ``log_norm`` (empty unless ``want_log_norm`` and no ``given_resp``)
    and ``seen_high_bits`` are arguments 10 and 11.  ``index``: ``(starts, offsets)`` of
    :func:`build_row_index`, read instead of listing the rows of X (``index_mode`` overrides:
    building the index).
    """
    N = X.shape[0]
    weights = np.ones(N) if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float64)
    if given_resp is not None:
        out = np.ascontiguousarray(given_resp, dtype=np.float64)
    else:
        out = np.empty((1, n_components)) if gamma is None else gamma
    log_norm = np.empty(N if want_log_norm and given_resp is None else 0)
    seen_high_bits = np.zeros(part_nk.shape[0], dtype=np.bool_)
    return (X, lut, bias, weights, n_components, block_rows, part_T, part_nk, out, log_norm, seen_high_bits,
            part_T.shape[1] > 0, gamma is not None, given_resp is not None, *_index_arguments(index, index_mode))


def _index_arguments(index, index_mode):
    if index is None:
        return LIST_FROM_X, np.empty(0, np.int64), np.empty(0, np.int32)
    starts, offsets = index
    return (INDEX_READ if index_mode is None else index_mode), starts, offsets


def build_row_index(X, n_components, *, parallel=True):
    """List the table offsets of every row once: ``(starts, offsets)``, a CSR-like row index.

    Row ``n`` of X lists ``offsets[starts[n]:starts[n + 1]]``: the nibble-table offsets (for
    ``n_components`` lanes padded to a multiple of 8) of its non-zero 4-pixel groups.  An EM
    fit builds it once and every iteration's pass reads it instead of scanning X (listing is
    ~3 of the ~9 ms of one single-thread E-step on MNIST train).  Size: 4 bytes per non-zero
    group (10.7 MB on MNIST train), plus 8 per row.  Raises ``ValueError`` if X holds a value
    other than 0 and 1.
    """
    N, D = X.shape
    KP, _ = table_layout(n_components, D)
    bias = np.zeros(KP)
    n_blocks = (N + BLOCK_ROWS - 1) // BLOCK_ROWS
    parts = (np.empty((n_blocks, 0)), np.empty((n_blocks, KP)))
    starts = np.zeros(N + 1, np.int64)
    run_table_pass(X, np.empty(0), bias, n_components, BLOCK_ROWS, *parts, parallel=parallel,
                   want_log_norm=False, index=(starts, np.empty(0, np.int32)), index_mode=INDEX_COUNT)
    np.cumsum(starts, out=starts)
    if starts[-1] >= 2**31 // KP:
        raise ValueError("X has too many non-zero pixel groups for a 32-bit row index")
    offsets = np.empty(starts[-1], np.int32)
    run_table_pass(X, np.empty(0), bias, n_components, BLOCK_ROWS, *parts, parallel=parallel,
                   want_log_norm=False, index=(starts, offsets), index_mode=INDEX_FILL)
    return starts, offsets


def run_table_pass(X, lut, bias, n_components, block_rows, part_T, part_nk, *, parallel=True, **options):
    """Run :func:`_table_pass_body` with :func:`table_pass_arguments` (``options``: its keywords).

    Returns ``log p(x_n)``, shape (n_samples,) (empty with ``given_resp`` or
    ``want_log_norm=False``).  Raises ``ValueError`` if X held a value other than 0 and 1
    (checked after the pass, before anything is returned).  ``parallel``: blocks split over
    ``numba.get_num_threads()`` threads (:func:`bmm_numba._threads.run_blocks`) from
    :data:`THREADS_MIN_WORK` on.
    """
    args = table_pass_arguments(X, lut, bias, n_components, block_rows, part_T, part_nk, **options)
    N, D = X.shape
    run_blocks(_table_pass, part_nk.shape[0], args, parallel=parallel and N * D * bias.shape[0] >= THREADS_MIN_WORK)
    log_norm, seen_high_bits = args[9], args[10]
    if seen_high_bits.any():
        raise ValueError("X must contain only 0 and 1; found values greater than 1")
    return log_norm


def table_layout(n_components, n_features):
    """``(KP, n_entries)``: lanes per entry (K padded to a multiple of 8) and table length.

    The table (and each partial pattern table of the fused pass) holds ``16 * KP`` floats for
    every group of 4 pixels, with the pixels padded to a multiple of 8 (whole words).
    """
    KP = LANES * ((n_components + LANES - 1) // LANES)
    return KP, 8 * ((n_features + 7) // 8) // 4 * 16 * KP


def prepare_table(mu, pi):
    """``(lut, bias)`` for :func:`table_sums`: the look-up table and the padded bias, 64-byte aligned."""
    K, D = mu.shape
    KP, n_entries = table_layout(K, D)
    D_pad = 8 * ((D + 7) // 8)
    # the logs in NumPy: its vectorised log is ~4x faster than Numba's scalar calls here
    log_1m_mu = np.log1p(-mu)
    weights = np.zeros((D_pad, KP))
    weights[:D, :K] = (np.log(mu) - log_1m_mu).T
    bias = _aligned_empty(KP)
    bias[:] = -np.inf  # pad lanes: -inf, so they get responsibility exp(-inf) = 0
    bias[:K] = log_pi(pi) + log_1m_mu.sum(axis=1)
    lut = _aligned_empty(n_entries)
    _build_table(weights, lut)
    return lut, bias


#: :func:`prepare_table`, reusing the last table for equal ``(mu, pi)`` (:mod:`bmm_numba._param_cache`):
#: the E-step's calls only.  An EM pass gets new parameters every iteration and builds its table directly.
_prepared_table = cached(prepare_table)


def _aligned_empty(size):
    """float64 buffer whose data starts on a 64-byte boundary (a cache line per 8-lane load)."""
    raw = np.empty(size + LANES)
    start = (-raw.ctypes.data % 64) // 8
    return raw[start:start + size]


def lut_e_step(X, mu, pi, *, parallel=None, return_log_norm=False, index=None):
    """Responsibilities by the look-up-table kernel, on validated shapes.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8, C-contiguous
        0/1 data; other values are detected during the scan.
    mu : ndarray of shape (n_components, n_features), float64
    pi : ndarray of shape (n_components,), float64
    parallel : bool or None, default=None
        Split the row blocks over threads from :data:`THREADS_MIN_WORK` steps on (True or
        None), or run them all in the calling thread (False).
    return_log_norm : bool, default=False
        Also return ``log p(x_n)``.
    index : tuple, optional
        ``build_row_index(X, n_components)``: the rows' lists, read instead of scanning X.

    Returns
    -------
    gamma : ndarray of shape (n_samples, n_components)
    log_norm : ndarray of shape (n_samples,), only if ``return_log_norm``

    Raises
    ------
    ValueError
        If ``X`` holds a value other than 0 and 1.
    """
    N, D = X.shape
    K = mu.shape[0]
    lut, bias = _prepared_table(mu, pi)
    gamma = np.empty((N, K))
    n_blocks = (N + BLOCK_ROWS - 1) // BLOCK_ROWS
    if parallel is None:  # threads from THREADS_MIN_WORK on: run_table_pass decides
        parallel = True
    log_norm = run_table_pass(X, lut, bias, K, BLOCK_ROWS, np.empty((n_blocks, 0)), np.empty((n_blocks, bias.shape[0])),
                              gamma=gamma, parallel=parallel, want_log_norm=return_log_norm, index=index)
    return (gamma, log_norm) if return_log_norm else gamma


def numba_fastest(X, mu, pi, *, return_log_norm=False, values_checked=True, parallel=None, index=None):
    """Registry entry ``"numba"``: the table kernel, or the per-pixel one for few rows.

    Below :data:`LUT_MIN_ROWS` rows, building the table costs more than it saves and the
    ``numba_ones`` kernel runs.  ``values_checked=False`` means the caller deferred the 0/1 check
    of uint8 ``X`` to this function.  ``parallel``: as in :func:`lut_e_step` (``False`` runs the
    serial ``nogil`` builds, for Dask tasks and thread pools); ``index``: as in :func:`lut_e_step`.
    """
    if X.shape[0] < LUT_MIN_ROWS:
        if not values_checked and X.max() > 1:
            raise ValueError("X must contain only 0 and 1; found values greater than 1")
        return run_compiled("numba_ones", X, mu, pi, parallel=parallel, return_log_norm=return_log_norm)
    return lut_e_step(X, mu, pi, parallel=parallel, return_log_norm=return_log_norm, index=index)
