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
2. Rows are read 8 bytes at a time; a first pass lists the non-zero words of the row without
   branching, a second adds the two nibbles of each listed word.  Skipping zero words with a
   branch instead mispredicts on MNIST's ragged strokes (12.9 ms against 10.2 ms).
3. The K sums live in 8-lane ``<8 x double>`` registers (:mod:`bmm_numba._simd`), two chains
   (low and high nibble) to hide the add latency; K is padded to a multiple of 8.
4. The 0/1 check of uint8 input is folded into the scan (an OR of every word), which saves a
   separate pass over X (~1.2 ms).  Indices into the table use only bit 0 of each byte, so a bad
   value can never cause an out-of-bounds read; the wrapper raises before returning anything.

Rows are independent and each ``prange`` iteration owns a fixed block of rows: results do not
depend on the thread count.  Precision: the table and the sums are float64 throughout, so
responsibilities agree with the float64 oracle to ~1e-12.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ._e_step_numba import PARALLEL_MIN_WORK, run_compiled
from ._e_step_numpy import log_pi
from ._exp import exp_nonpositive
from ._jit import JIT_OPTIONS, build_serial_and_parallel
from ._simd import (
    LANES,
    hmax,
    hsum,
    load_u64,
    vadd,
    vadd_load,
    vexp_shifted,
    vload,
    vmax,
    vscale,
    vstore,
    vzero,
)
from ._threads import parallel_guard

__all__ = [
    "lut_e_step",
    "numba_fastest",
    "prepare_table",
    "table_layout",
    "table_pass_arguments",
    "run_table_pass",
    "list_row",
    "table_sums",
    "LUT_MIN_ROWS",
    "BLOCK_ROWS",
]

#: Rows per ``prange`` iteration (a fixed block: independent of the thread count).
BLOCK_ROWS = 256

#: Below this many rows, building the table (~80 us for D = 784, K = 10) costs more than it
#: saves (~0.4 us a row); the ``numba_ones`` kernel runs.
LUT_MIN_ROWS = 192

_NIBBLE_BITS = np.uint64(0x01010101)
_GATHER = np.uint64(0x01020408)  # moves bit 0 of bytes 0..3 to bits 24..27 (no carries)
_HIGH_BITS = np.uint64(0xFEFEFEFEFEFEFEFE)


@numba.njit(**JIT_OPTIONS)
def _nibble(word):
    """4-bit code of bit 0 of the four low bytes of ``word``."""
    return ((word & _NIBBLE_BITS) * _GATHER >> np.uint64(24)) & np.uint64(15)


@numba.njit(**JIT_OPTIONS)
def _normalise_into(acc, row):
    """Write ``softmax(acc[:K])`` into ``row`` (length K); return ``logsumexp(acc[:K])``.

    Same maths as the per-row log-sum-exp of the other kernels, with a branch-free ``exp``
    (:mod:`bmm_numba._exp`) so the K exponentials vectorise (4.0 -> 1.0 ms on MNIST, 1 thread).
    """
    K = row.shape[0]
    top = acc[0]
    for k in range(1, K):
        top = max(top, acc[k])
    for k in range(K):
        acc[k] = exp_nonpositive(acc[k] - top)
    total = 0.0
    for k in range(K):
        total += acc[k]
    for k in range(K):
        row[k] = acc[k] / total
    return top + np.log(total)


@numba.njit(**JIT_OPTIONS)
def _normalise16(acc, resp):
    """:func:`_normalise_into` for 16 lanes held as two vectors (K in 9..16; pad lanes are -inf).

    Max, exp, sum and scaling in vector registers: the scalar form spent ~4 ms of a 16 ms
    single-thread E-step on MNIST in serial max/sum chains and the remainder lanes; this one
    writes all 16 lanes of ``resp`` (pads become 0) and returns ``logsumexp``.
    """
    a0 = vload(acc, 0)
    a1 = vload(acc, LANES)
    top = hmax(vmax(a0, a1))
    e0 = vexp_shifted(a0, top)
    e1 = vexp_shifted(a1, top)
    total = hsum(vadd(e0, e1))
    inverse = 1.0 / total
    vstore(vscale(e0, inverse), resp, 0)
    vstore(vscale(e1, inverse), resp, LANES)
    return top + np.log(total)


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
def list_row(X, n, nonzero):
    """List the non-zero 8-byte words of row ``n`` in ``nonzero``; code the bytes after them.

    Returns
    -------
    m : int
        Number of non-zero words (``nonzero[:m]`` holds their indices).
    tail_low, tail_high : int
        4-bit codes of the bytes after the last whole word (the last ``D % 8`` pixels).
    seen : uint64
        OR of every byte of the row, for the 0/1 check.
    """
    D = X.shape[1]
    n_words = D // 8
    seen = np.uint64(0)
    m = 0
    for g in range(n_words):  # branch-free list of the non-zero words
        word = load_u64(X, n, 8 * g)
        seen |= word
        nonzero[m] = g
        m += word != 0
    tail_low = 0
    tail_high = 0
    for j in range(D - 8 * n_words):
        value = np.int64(X[n, 8 * n_words + j])
        seen |= np.uint64(value)
        if j < 4:
            tail_low |= (value & 1) << j
        else:
            tail_high |= (value & 1) << (j - 4)
    return m, tail_low, tail_high, seen


@numba.njit(**JIT_OPTIONS)
def table_sums(X, n, lut, bias, nonzero, m, tail_low, tail_high, acc):
    """Log-joint of row ``n`` into ``acc`` (KP lanes), from the row's list (:func:`list_row`)."""
    D = X.shape[1]
    KP = bias.shape[0]
    n_words = D // 8
    if KP == 2 * LANES:
        # K in 9..16, the common case: both halves in one loop, four independent chains
        # (13.6 ms against 18.0 ms for the generic loop below, MNIST train, K = 10, one thread)
        low0 = vload(bias, 0)
        low1 = vload(bias, LANES)
        high0 = vzero()
        high1 = vzero()
        for j in range(m):
            g = nonzero[j]
            word = load_u64(X, n, 8 * g)
            low = (np.uint64(32 * g) + _nibble(word)) * np.uint64(KP)
            high = (np.uint64(32 * g + 16) + _nibble(word >> np.uint64(32))) * np.uint64(KP)
            low0 = vadd_load(low0, lut, low)
            low1 = vadd_load(low1, lut, low + np.uint64(LANES))
            high0 = vadd_load(high0, lut, high)
            high1 = vadd_load(high1, lut, high + np.uint64(LANES))
        vstore(vadd(low0, high0), acc, 0)
        vstore(vadd(low1, high1), acc, LANES)
    else:
        for c in range(0, KP, LANES):
            low = vload(bias, c)
            high = vzero()
            for j in range(m):
                g = nonzero[j]
                word = load_u64(X, n, 8 * g)
                low = vadd_load(low, lut, (np.uint64(32 * g) + _nibble(word)) * np.uint64(KP) + np.uint64(c))
                high = vadd_load(
                    high, lut, (np.uint64(32 * g + 16) + _nibble(word >> np.uint64(32))) * np.uint64(KP) + np.uint64(c)
                )
            vstore(vadd(low, high), acc, c)
    if D % 8:
        low_base = (32 * n_words + tail_low) * KP
        high_base = (32 * n_words + 16 + tail_high) * KP
        for k in range(KP):
            acc[k] += lut[low_base + k] + lut[high_base + k]


@numba.njit(**JIT_OPTIONS)
def _nibble_offset(word, g, high, KP, c):
    """Offset of lane ``c`` of ``T[2g + high, code]`` (same layout as the look-up table)."""
    code = ((word & np.uint64(0x01010101)) * np.uint64(0x01020408) >> np.uint64(24)) & np.uint64(15)
    return (np.uint64(32 * g + 16 * high) + code) * np.uint64(KP) + np.uint64(c)


def _table_pass_body(X, lut, bias, sample_weight, n_components, block_rows, part_T, part_nk, gamma,
                     log_norm, seen_high_bits, accumulate, write_resp, read_resp):
    """Rows in fixed blocks: log-joint by table, normalise; optionally keep and accumulate.

    ``write_resp``: responsibilities into ``gamma[n]``.  ``accumulate``: weighted
    responsibilities into the block's partial pattern table ``part_T[b]`` and mass
    ``part_nk[b]`` (the fused EM pass, :mod:`bmm_numba._em_lut`).  ``read_resp``: no E-step;
    accumulate the responsibilities given in ``gamma`` (an M-step from any responsibilities, as
    at initialisation).  One body serves all three: each extra kernel cost ~1 s more of cold
    compile in the first ``fit``.
    """
    N, D = X.shape
    KP = bias.shape[0]
    n_blocks = part_nk.shape[0]
    for b in prange(n_blocks):
        T = part_T[b]
        nk = part_nk[b]
        for i in range(T.shape[0] if accumulate else 0):
            T[i] = 0.0
        for k in range(KP):
            nk[k] = 0.0
        nonzero = np.empty(D // 8 + 1, np.int64)
        acc = np.empty(KP)
        resp = np.zeros(KP)  # lanes >= K stay 0
        seen = np.uint64(0)
        for n in range(b * block_rows, min(N, (b + 1) * block_rows)):
            m, tail_low, tail_high, seen_row = list_row(X, n, nonzero)
            seen |= seen_row
            if read_resp:
                for k in range(n_components):
                    resp[k] = gamma[n, k]
                log_norm[n] = 0.0
            else:
                table_sums(X, n, lut, bias, nonzero, m, tail_low, tail_high, acc)
                if KP == 2 * LANES:
                    log_norm[n] = _normalise16(acc, resp)
                else:
                    log_norm[n] = _normalise_into(acc, resp[:n_components])
                if write_resp:
                    for k in range(n_components):
                        gamma[n, k] = resp[k]
            if not accumulate:
                continue
            w = sample_weight[n]
            for k in range(n_components):
                resp[k] *= w
                nk[k] += resp[k]
            if KP == 2 * LANES:  # K in 9..16: both halves per word, as in table_sums
                r0 = vload(resp, 0)
                r1 = vload(resp, LANES)
                for j in range(m):
                    g = nonzero[j]
                    word = load_u64(X, n, 8 * g)
                    low = _nibble_offset(word, g, 0, KP, 0)
                    high = _nibble_offset(word >> np.uint64(32), g, 1, KP, 0)
                    vstore(vadd_load(r0, T, low), T, low)
                    vstore(vadd_load(r1, T, low + np.uint64(LANES)), T, low + np.uint64(LANES))
                    vstore(vadd_load(r0, T, high), T, high)
                    vstore(vadd_load(r1, T, high + np.uint64(LANES)), T, high + np.uint64(LANES))
            else:
                for c in range(0, KP, LANES):
                    r = vload(resp, c)
                    for j in range(m):
                        g = nonzero[j]
                        word = load_u64(X, n, 8 * g)
                        low = _nibble_offset(word, g, 0, KP, c)
                        vstore(vadd_load(r, T, low), T, low)
                        high = _nibble_offset(word >> np.uint64(32), g, 1, KP, c)
                        vstore(vadd_load(r, T, high), T, high)
            if D % 8:
                low_base = (32 * (D // 8) + tail_low) * KP
                high_base = (32 * (D // 8) + 16 + tail_high) * KP
                for k in range(KP):
                    T[low_base + k] += resp[k]
                    T[high_base + k] += resp[k]
        seen_high_bits[b] = (seen & _HIGH_BITS) != 0


_build_table = build_serial_and_parallel(_build_table_body)[0]  # small: always serial
_table_pass_serial, _table_pass_parallel = build_serial_and_parallel(_table_pass_body)


def table_pass_arguments(X, lut, bias, n_components, block_rows, part_T, part_nk, *, gamma=None,
                         sample_weight=None, given_resp=None):
    """Build the argument tuple of :func:`_table_pass_body` (the one place that lists it).

    ``gamma``: where to write responsibilities.  ``given_resp``: responsibilities to accumulate
    instead of computing them (``lut`` is then not read).  Accumulates into ``part_T`` unless it
    has no columns.  Outputs ``log_norm`` and ``seen_high_bits`` are arguments 10 and 11.
    """
    N = X.shape[0]
    weights = np.ones(N) if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float64)
    if given_resp is not None:
        out = np.ascontiguousarray(given_resp, dtype=np.float64)
    else:
        out = np.empty((1, n_components)) if gamma is None else gamma
    log_norm = np.empty(N)
    seen_high_bits = np.zeros(part_nk.shape[0], dtype=np.bool_)
    return (X, lut, bias, weights, n_components, block_rows, part_T, part_nk, out, log_norm, seen_high_bits,
            part_T.shape[1] > 0, gamma is not None, given_resp is not None)


def run_table_pass(X, lut, bias, n_components, block_rows, part_T, part_nk, *, parallel=True, **options):
    """Run :func:`_table_pass_body` with :func:`table_pass_arguments` (``options``: its keywords).

    Returns ``log p(x_n)``, shape (n_samples,) (zeros with ``given_resp``).  Raises ``ValueError``
    if X held a value other than 0 and 1 (checked after the pass, before anything is returned).
    """
    args = table_pass_arguments(X, lut, bias, n_components, block_rows, part_T, part_nk, **options)
    if parallel:
        with parallel_guard():
            _table_pass_parallel(*args)
    else:
        _table_pass_serial(*args)
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


def _aligned_empty(size):
    """float64 buffer whose data starts on a 64-byte boundary (a cache line per 8-lane load)."""
    raw = np.empty(size + LANES)
    start = (-raw.ctypes.data % 64) // 8
    return raw[start:start + size]


def lut_e_step(X, mu, pi, *, parallel=None, return_log_norm=False):
    """Responsibilities by the look-up-table kernel, on validated shapes.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8, C-contiguous
        0/1 data; other values are detected during the scan.
    mu : ndarray of shape (n_components, n_features), float64
    pi : ndarray of shape (n_components,), float64
    parallel : bool or None, default=None
        Run the ``parallel=True`` build (True), the serial one (False), or choose by problem
        size as :func:`bmm_numba._e_step_numba.run_compiled` does (None).
    return_log_norm : bool, default=False
        Also return ``log p(x_n)``.

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
    lut, bias = prepare_table(mu, pi)
    gamma = np.empty((N, K))
    n_blocks = (N + BLOCK_ROWS - 1) // BLOCK_ROWS
    if parallel is None:
        parallel = N * D * K >= PARALLEL_MIN_WORK
    log_norm = run_table_pass(X, lut, bias, K, BLOCK_ROWS, np.empty((n_blocks, 0)), np.empty((n_blocks, bias.shape[0])),
                              gamma=gamma, parallel=parallel)
    return (gamma, log_norm) if return_log_norm else gamma


def numba_fastest(X, mu, pi, *, return_log_norm=False, values_checked=True, parallel=None):
    """Registry entry ``"numba"``: the table kernel, or the per-pixel one for few rows.

    Below :data:`LUT_MIN_ROWS` rows, building the table costs more than it saves and the
    ``numba_ones`` kernel runs.  ``values_checked=False`` means the caller deferred the 0/1 check
    of uint8 ``X`` to this function.  ``parallel``: as in :func:`lut_e_step` (``False`` runs the
    serial ``nogil`` builds, for Dask tasks and thread pools).
    """
    if X.shape[0] < LUT_MIN_ROWS:
        if not values_checked and X.max() > 1:
            raise ValueError("X must contain only 0 and 1; found values greater than 1")
        return run_compiled("numba_ones", X, mu, pi, parallel=parallel, return_log_norm=return_log_norm)
    return lut_e_step(X, mu, pi, parallel=parallel, return_log_norm=return_log_norm)
