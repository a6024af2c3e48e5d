"""The table E-step: log-joints summed from a look-up table of 4-pixel patterns, row blocks in threads.

Textbook form of the log-joint of row n and component k::

    log pi_k + sum_d x_nd log mu_kd + (1 - x_nd) log(1 - mu_kd)
      = bias_k + sum_{d: x_nd = 1} w_dk,   w = log mu - log(1 - mu),  bias = log pi + sum_d log(1 - mu)

and the sum over the pixels that are on is taken one 4-pixel group at a time from the table of
:mod:`.layout` (45 vector adds per MNIST row instead of 104).  One compiled driver,
:func:`table_pass`, serves every mode (E-step, fused EM accumulation, statistics of given
responsibilities, building the row index): each extra compiled kernel cost ~1 s of a first
fit's cold compile.  Measurements and the choices behind them: ``docs/design.md``.

Rows are independent and each thread owns a range of fixed blocks: results do not depend on
the thread count.  The table and the sums are float64 throughout (~1e-12 from the oracle).
"""

from __future__ import annotations

import sys
import warnings
from typing import NamedTuple

import numpy as np
from numba.core.errors import NumbaError

from ..e_step_numba import run_compiled
from ..e_step_numpy import log_pi
from ..jit import build_serial
from ..param_cache import cached
from ..simd import LANES, vzero
from ..threads import choose_parallel, run_blocks
from .blocks import (
    LIST_ROWS,
    accumulate_block,
    copy_resp,
    normalise_block,
    table_sums,
    work_buffers,
    write_log_prob_norm,
    write_resp,
)
from .layout import CODES, padded_features, table_layout
from .listing import (
    INDEX_COUNT,
    INDEX_FILL,
    INDEX_READ,
    LIST_FROM_X,
    any_above_one,
    index_rows,
    list_block,
    list_stride,
)

__all__ = [
    "table_e_step",
    "lut_e_step",
    "prepare_table",
    "build_row_index",
    "table_kernel_available",
    "PassInputs",
    "PassOutputs",
    "RowSource",
    "LUT_MIN_ROWS",
    "BLOCK_ROWS",
]

#: Rows per block of the E-step (a fixed block: independent of the thread count).
BLOCK_ROWS = 256

#: Below this many rows, building the table (~80 us for D = 784, K = 10) costs more than it
#: saves (~0.4 us a row); the ``numba_ones`` kernel runs.
LUT_MIN_ROWS = 192


class PassInputs(NamedTuple):
    """What a table pass reads."""

    X: np.ndarray  # uint8 (n_samples, n_features), C-contiguous
    lut: np.ndarray  # float64 (n_entries,): the table (empty when responsibilities are given)
    bias: np.ndarray  # float64 (KP,): log-joint of an all-zero row, pad lanes -inf
    resp: np.ndarray  # float64 (n_samples, K): given responsibilities (read_resp), else unused
    sample_weight: np.ndarray  # float64 (n_samples,): weights of the accumulation, else unused
    n_components: int
    block_rows: int


class PassOutputs(NamedTuple):
    """What a table pass writes (an empty array: not wanted)."""

    resp: np.ndarray  # float64 (n_samples, K) or (0, K): responsibilities
    log_prob_norm: np.ndarray  # float64 (n_samples,) or (0,): log p(x_n)
    part_T: np.ndarray  # float64 (n_blocks, n_entries) or (n_blocks, 0): partial pattern tables
    part_nk: np.ndarray  # float64 (n_blocks, KP): partial masses
    seen_high_bits: np.ndarray  # bool (n_blocks,): a byte above 1 seen in the block


class RowSource(NamedTuple):
    """Where each row's list comes from (``mode``: :data:`~.listing.LIST_FROM_X` ... ``INDEX_READ``)."""

    mode: int
    starts: np.ndarray  # int64 (n_samples + 1,): row n lists offsets[starts[n]:starts[n + 1]]
    offsets: np.ndarray  # int32: the table offsets of every row's groups


def _table_pass_body(first_block, stop_block, inputs, outputs, rows_from):
    """Blocks ``first_block .. stop_block - 1``: list, then sum, normalise, write, accumulate.

    Computes responsibilities unless ``inputs.resp`` has rows (then accumulates those);
    accumulates into ``outputs.part_T[b]``, ``outputs.part_nk[b]`` when ``part_T`` has columns.
    With ``rows_from.mode`` INDEX_COUNT or INDEX_FILL it only builds the row index.
    """
    X = inputs.X
    N, D = X.shape
    KP = inputs.bias.shape[0]
    stride = list_stride(D)
    work = work_buffers(0 if rows_from.mode == INDEX_READ else LIST_ROWS * stride, KP)
    read_resp = inputs.resp.shape[0] > 0
    accumulate = outputs.part_T.shape[1] > 0
    for b in range(first_block, stop_block):
        T = outputs.part_T[b]
        nk = outputs.part_nk[b]
        for i in range(T.shape[0]):  # loops: a slice assignment compiled ~0.5 s longer
            T[i] = 0.0
        for k in range(KP):
            nk[k] = 0.0
        seen = vzero()  # bits of the bytes seen so far (the 0/1 check), carried as a vector
        last_row = min(N, (b + 1) * inputs.block_rows)
        for first in range(b * inputs.block_rows, last_row, LIST_ROWS):
            rows = min(LIST_ROWS, last_row - first)
            lst, seen = list_block(X, first, rows, KP, stride, rows_from, work, seen)
            if rows_from.mode == INDEX_COUNT or rows_from.mode == INDEX_FILL:
                index_rows(rows_from.mode, first, rows, lst, work.starts, work.counts, rows_from.starts,
                           rows_from.offsets)
                continue
            if read_resp:
                copy_resp(work, rows, KP, inputs.resp, first)
            else:
                table_sums(inputs.lut, inputs.bias, lst, work.starts, work.counts, rows, work.acc)
                normalise_block(work, rows, KP, inputs.n_components)
                if outputs.resp.shape[0] > 0:
                    write_resp(work, rows, KP, outputs.resp, first)
                if outputs.log_prob_norm.shape[0] > 0:
                    write_log_prob_norm(work, rows, outputs.log_prob_norm, first)
            if accumulate:
                accumulate_block(work, lst, rows, KP, inputs.n_components, inputs.sample_weight, first, T, nk)
        outputs.seen_high_bits[b] = any_above_one(seen)


#: The one compiled build of the pass (serial, ``nogil``): :func:`run_blocks` runs it on ranges
#: of blocks in threads (a ``parallel=True`` build compiled in twice the time, ran no faster).
table_pass = build_serial(_table_pass_body)


def _build_table_body(weights, lut):
    """Fill the look-up table from ``weights`` (D_pad, KP), zero-padded to a multiple of 8 rows.

    ``lut[q, code] = lut[q, code without its lowest bit] + weights[4q + lowest bit]``: one add
    per entry (the textbook form sums up to 4 weights per entry).
    """
    KP = weights.shape[1]
    n_groups = weights.shape[0] // 4
    for q in range(n_groups):
        base = q * CODES * KP
        for k in range(KP):
            lut[base + k] = 0.0
        for code in range(1, CODES):
            low_bit = 0
            while not (code >> low_bit) & 1:
                low_bit += 1
            rest = base + (code & (code - 1)) * KP
            row = base + code * KP
            for k in range(KP):
                lut[row + k] = lut[rest + k] + weights[4 * q + low_bit, k]


_build_table = build_serial(_build_table_body)  # small: serial only


def prepare_table(mu, pi):
    """``(lut, bias)``: the look-up table (:mod:`.layout`) and the padded bias, 64-byte aligned."""
    K, D = mu.shape
    KP, n_entries = table_layout(K, D)
    # the logs in NumPy: its vectorised log is ~4x faster than Numba's scalar calls here
    log_1m_mu = np.log1p(-mu)
    weights = np.zeros((padded_features(D), KP))
    weights[:D, :K] = (np.log(mu) - log_1m_mu).T
    bias = _aligned_empty(KP)
    bias[:] = -np.inf  # pad lanes: -inf, so they get responsibility exp(-inf) = 0
    bias[:K] = log_pi(pi) + log_1m_mu.sum(axis=1)
    lut = _aligned_empty(n_entries)
    _build_table(weights, lut)
    return lut, bias


#: :func:`prepare_table` reusing the last table for equal ``(mu, pi)``: the E-step's calls only
#: (an EM pass gets new parameters every iteration and builds its table directly).
_prepared_table = cached(prepare_table)


def _aligned_empty(size):
    """float64 buffer whose data starts on a 64-byte boundary (a cache line per 8-lane load)."""
    raw = np.empty(size + LANES)
    start = (-raw.ctypes.data % 64) // 8
    return raw[start:start + size]


def pass_inputs(X, lut, bias, n_components, block_rows, *, resp=None, sample_weight=None):
    """:class:`PassInputs` with empty placeholders for what the mode does not read."""
    resp = np.empty((0, n_components)) if resp is None else np.ascontiguousarray(resp, dtype=np.float64)
    weights = np.ones(X.shape[0]) if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float64)
    return PassInputs(X, lut, bias, resp, weights, n_components, block_rows)


def pass_outputs(n_blocks, KP, n_components, *, resp=None, log_prob_norm=None, n_entries=0):
    """:class:`PassOutputs`: ``resp`` and ``log_prob_norm`` as given (or empty), partial tables of ``n_entries``."""
    return PassOutputs(np.empty((0, n_components)) if resp is None else resp,
                       np.empty(0) if log_prob_norm is None else log_prob_norm,
                       np.empty((n_blocks, n_entries)), np.empty((n_blocks, KP)), np.zeros(n_blocks, dtype=np.bool_))


def row_source(index=None, mode=None):
    """:class:`RowSource`: list from X (``index`` None), or read ``index = (starts, offsets)``."""
    if index is None:
        return RowSource(LIST_FROM_X, np.empty(0, np.int64), np.empty(0, np.int32))
    return RowSource(INDEX_READ if mode is None else mode, *index)


def run_table_pass(inputs, outputs, rows_from, *, parallel=True):
    """Run :func:`table_pass` over all blocks; raise ``ValueError`` if X held a value above 1.

    ``parallel``: blocks split over ``numba.get_num_threads()`` threads where
    :func:`~bmm_numba.kernels.threads.choose_parallel` allows (``n * d * KP`` steps, kind
    ``"table"``).  The check runs after the pass, before anything is returned.
    """
    N, D = inputs.X.shape
    run_blocks(table_pass, outputs.part_nk.shape[0], (inputs, outputs, rows_from),
               parallel=choose_parallel(parallel, N * D * inputs.bias.shape[0], "table"))
    if outputs.seen_high_bits.any():
        raise ValueError("X must contain only 0 and 1; found values greater than 1")


def e_step_arguments(X, lut, bias, resp, *, log_prob_norm=None, index=None):
    """Return ``(inputs, outputs, rows_from)`` of an E-step pass writing ``resp`` (and ``log_prob_norm``)."""
    n_blocks = (X.shape[0] + BLOCK_ROWS - 1) // BLOCK_ROWS
    K = resp.shape[1]
    return (pass_inputs(X, lut, bias, K, BLOCK_ROWS),
            pass_outputs(n_blocks, bias.shape[0], K, resp=resp, log_prob_norm=log_prob_norm), row_source(index))


def lut_e_step(X, mu, pi, *, parallel=None, return_log_norm=False, index=None):
    """Responsibilities by the table kernel, on validated shapes.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8, C-contiguous
        0/1 data; other values are detected during the scan.
    mu : ndarray of shape (n_components, n_features), float64
    pi : ndarray of shape (n_components,), float64
    parallel : bool or None, default=None
        Split the row blocks over threads where the work allows (True or None:
        :func:`~bmm_numba.kernels.threads.choose_parallel`), or run them all in the calling
        thread (False).
    return_log_norm : bool, default=False
        Also return ``log_prob_norm``.
    index : tuple, optional
        ``build_row_index(X, n_components)``: the rows' lists, read instead of scanning X.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    log_prob_norm : ndarray of shape (n_samples,), only if ``return_log_norm``

    Raises
    ------
    ValueError
        If ``X`` holds a value other than 0 and 1.
    """
    lut, bias = _prepared_table(mu, pi)
    resp = np.empty((X.shape[0], mu.shape[0]))
    log_prob_norm = np.empty(X.shape[0]) if return_log_norm else None
    run_table_pass(*e_step_arguments(X, lut, bias, resp, log_prob_norm=log_prob_norm, index=index),
                   parallel=parallel)
    return (resp, log_prob_norm) if return_log_norm else resp


def build_row_index(X, n_components, *, parallel=True):
    """List the table offsets of every row once: ``(starts, offsets)``, or None without the table kernel.

    Row ``n`` of X lists ``offsets[starts[n]:starts[n + 1]]`` (:mod:`.layout`).  An EM fit builds
    it once and every pass reads it instead of scanning X (listing is ~3 of the ~9 ms of a
    single-thread MNIST E-step).  4 bytes per non-zero group (10.7 MB on MNIST train), plus 8 per
    row.  Raises ``ValueError`` if X holds a value other than 0 and 1.
    """
    return with_fallback(lambda: _build_row_index(X, n_components, parallel), lambda: _check_binary(X))


def _build_row_index(X, n_components, parallel):
    N, D = X.shape
    KP, _ = table_layout(n_components, D)
    inputs = pass_inputs(X, np.empty(0), np.zeros(KP), n_components, BLOCK_ROWS)
    outputs = pass_outputs((N + BLOCK_ROWS - 1) // BLOCK_ROWS, KP, n_components)
    starts = np.zeros(N + 1, np.int64)
    run_table_pass(inputs, outputs, row_source((starts, np.empty(0, np.int32)), INDEX_COUNT), parallel=parallel)
    np.cumsum(starts, out=starts)
    if starts[-1] >= 2**31 // KP:
        raise ValueError("X has too many non-zero pixel groups for a 32-bit row index")
    offsets = np.empty(starts[-1], np.int32)
    run_table_pass(inputs, outputs, row_source((starts, offsets), INDEX_FILL), parallel=parallel)
    return starts, offsets


def table_e_step(X, mu, pi, *, return_log_norm=False, values_checked=True, parallel=None, index=None):
    """Registry entry ``"numba"``: the table kernel, or ``numba_ones`` for few rows or no table kernel.

    Below :data:`LUT_MIN_ROWS` rows, building the table costs more than it saves.  Where the
    table kernel cannot compile, ``numba_ones`` runs after one ``RuntimeWarning``.
    ``values_checked=False``: the caller deferred the 0/1 check of uint8 ``X`` to this function.
    ``parallel``: as in :func:`lut_e_step` (``False`` runs the serial ``nogil`` builds, for Dask
    tasks and thread pools); ``index``: as in :func:`lut_e_step`.
    """

    def ones():
        if not values_checked:
            _check_binary(X)
        return run_compiled("numba_ones", X, mu, pi, parallel=parallel, return_log_norm=return_log_norm)

    if X.shape[0] < LUT_MIN_ROWS:
        return ones()
    return with_fallback(lambda: lut_e_step(X, mu, pi, parallel=parallel, return_log_norm=return_log_norm,
                                            index=index), ones)


def _check_binary(X):
    if X.size and X.max() > 1:
        raise ValueError("X must contain only 0 and 1; found values greater than 1")


# Why the table kernel cannot run here (None: it can): a compile error, or a big-endian host (rows
# are read as little-endian 64-bit words).
_unavailable = None if sys.byteorder == "little" else "a big-endian host"
_warned = False


def table_kernel_available():
    """Return False once the table kernel failed to compile in this process (or on a big-endian host)."""
    return _unavailable is None


def with_fallback(table_call, fallback_call):
    """Return ``table_call()``, or ``fallback_call()`` if the table kernel cannot compile here.

    A Numba compile error (``TypingError``, ``LoweringError``, ...) is remembered: later calls go
    straight to the fallback.  One ``RuntimeWarning`` per process says so.
    """
    global _unavailable, _warned
    if _unavailable is None:
        try:
            return table_call()
        except NumbaError as error:
            first_line = (str(error).strip().splitlines() or [""])[0]
            _unavailable = f"{type(error).__name__}: {first_line}"
    if not _warned:
        _warned = True
        warnings.warn(f"the table kernel cannot run on this target ({_unavailable}); kernel 'numba' runs "
                      "the 'numba_ones' kernel and its statistics instead", RuntimeWarning, stacklevel=3)
    return fallback_call()
