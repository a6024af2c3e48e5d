"""One EM iteration in one pass over binary data: the table E-step and the M-step statistics fused.

For each row the pass computes the responsibilities ``r_n`` with the table E-step (times the
sample weight) and, while the row's list is in L1, adds ``r_n`` once per non-zero 4-pixel
group into that group's entry of a pattern table ``T`` (:mod:`.layout`; 45 adds per MNIST row
instead of 104 pixels on).  ``T`` is expanded into the statistics at the end::

    S[:, 4q + j] = sum over codes c with bit j of T[q, c, :]

MNIST train, K = 10, one thread: ~11.5 ms with the row index, against 17 + 53 ms for the
E-step and the per-pixel statistics apart (``docs/design.md``).  Rows fall in fixed blocks
(:func:`em_blocks`, a function of the number of rows only), each with its own partial ``T``,
added in block order: bit-identical for any thread count.
"""

from __future__ import annotations

import numpy as np

from ..e_step_numba import run_compiled
from ..jit import build_serial
from ..m_step import numba_stats
from ..threads import choose_parallel, run_blocks
from .e_step import _check_binary, pass_inputs, pass_outputs, prepare_table, row_source, run_table_pass, with_fallback
from .layout import CODES, GROUP_PIXELS, table_layout, table_offset

__all__ = ["lut_em_pass", "lut_stats", "EM_BLOCKS", "em_blocks"]

#: Most row blocks (and partial tables) per pass.  Each partial table is 400 KB on MNIST
#: (K = 10): 64 of them cost more in page faults and zeroing than the pass (90 ms wall, 45 ms CPU).
EM_BLOCKS = 16
#: Fewest rows per block.
EM_MIN_BLOCK_ROWS = 1024

#: Chunks of the combine (fixed: the split over threads never changes a sum).
COMBINE_CHUNKS = 16


def em_blocks(n_samples):
    """``(block_rows, n_blocks)``: fixed by the number of rows only, never by the thread count."""
    block_rows = max(EM_MIN_BLOCK_ROWS, -(-n_samples // EM_BLOCKS))
    return block_rows, max(1, -(-n_samples // block_rows))


def _combine_body(first_chunk, stop_chunk, n_chunks, part_T, part_nk, T, nk, S):
    """Add the block partials in block order, then expand ``T`` (patterns) into ``S`` (pixels).

    Chunks ``first_chunk .. stop_chunk - 1`` of ``n_chunks`` equal ranges of groups (chunk 0 also
    adds up ``nk``); every entry is summed over the blocks in block order, whoever runs it.
    """
    n_blocks = part_T.shape[0]
    K, D = S.shape
    KP = part_nk.shape[1]
    n_groups = part_T.shape[1] // (CODES * KP)
    for chunk in range(first_chunk, stop_chunk):
        q0 = n_groups * chunk // n_chunks
        q1 = n_groups * (chunk + 1) // n_chunks
        for i in range(q0 * CODES * KP, q1 * CODES * KP):
            total = 0.0
            for b in range(n_blocks):
                total += part_T[b, i]
            T[i] = total
        for d in range(GROUP_PIXELS * q0, min(D, GROUP_PIXELS * q1)):
            q, j = d // GROUP_PIXELS, d % GROUP_PIXELS
            for k in range(K):
                total = 0.0
                for code in range(CODES):
                    if (code >> j) & 1:
                        total += T[table_offset(q, code, KP) + k]
                S[k, d] = total
        if chunk == 0:
            for k in range(KP):
                total = 0.0
                for b in range(n_blocks):
                    total += part_nk[b, k]
                nk[k] = total


_combine_kernel = build_serial(_combine_body)  # threads run it on ranges of chunks (run_blocks)


def lut_em_pass(X, mu, pi, sample_weight=None, *, parallel=True, index=None):
    """E-step and M-step statistics in one pass over validated binary ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8, C-contiguous
        0/1 data (other values raise ``ValueError`` after the pass).
    mu : ndarray of shape (n_components, n_features), float64
    pi : ndarray of shape (n_components,), float64
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weights (default 1).
    parallel : bool, default=True
        ``False`` runs everything in the calling thread (Dask tasks, thread pools).
    index : tuple, optional
        ``build_row_index(X, n_components)``: the rows' lists, read instead of scanning X.

    Returns
    -------
    nk : ndarray of shape (n_components,)
        ``sum_n w_n r_nk``.
    S : ndarray of shape (n_components, n_features)
        ``sum_n w_n r_nk x_nd``.
    log_prob_norm : ndarray of shape (n_samples,)
        ``log p(x_n)`` under ``(mu, pi)`` (unweighted).
    """

    def table():
        lut, bias = prepare_table(mu, pi)
        inputs = pass_inputs(X, lut, bias, mu.shape[0], em_blocks(X.shape[0])[0], sample_weight=sample_weight)
        return _accumulate(inputs, np.empty(X.shape[0]), index, parallel)

    def ones():
        _check_binary(X)
        resp, log_prob_norm = run_compiled("numba_ones", X, mu, pi, parallel=parallel, return_log_norm=True)
        rw = resp if sample_weight is None else resp * np.asarray(sample_weight, dtype=np.float64)[:, None]
        return (*numba_stats(X, rw, parallel=parallel), log_prob_norm)

    return with_fallback(table, ones)


def lut_stats(X, rw, *, parallel=True, index=None):
    """M-step statistics of given responsibilities, by pattern tables (no E-step).

    The accumulation of :func:`lut_em_pass` alone (initialisation); it runs in the same compiled
    pass, so a first ``fit`` compiles one kernel fewer (1.2 s of cold compile).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8, C-contiguous
    rw : ndarray of shape (n_samples, n_components)
        Responsibilities times sample weights.
    parallel : bool, default=True
    index : tuple, optional
        As in :func:`lut_em_pass`.

    Returns
    -------
    nk : ndarray of shape (n_components,)
    S : ndarray of shape (n_components, n_features)
    """

    def table():
        KP, _ = table_layout(rw.shape[1], X.shape[1])
        # no table is read when the responsibilities are given: an empty one keeps the pass's types
        inputs = pass_inputs(X, np.empty(0), np.zeros(KP), rw.shape[1], em_blocks(X.shape[0])[0], resp=rw)
        return _accumulate(inputs, None, index, parallel)[:2]

    def ones():
        _check_binary(X)
        return numba_stats(X, rw, parallel=parallel)

    return with_fallback(table, ones)


def _accumulate(inputs, log_prob_norm, index, parallel):
    """Run the pass into per-block pattern tables, combine them in block order: ``(nk, S, log_prob_norm)``."""
    N, D = inputs.X.shape
    K = inputs.n_components
    KP, n_entries = table_layout(K, D)
    outputs = pass_outputs(em_blocks(N)[1], KP, K, log_prob_norm=log_prob_norm, n_entries=n_entries)
    run_table_pass(inputs, outputs, row_source(index), parallel=parallel)
    T = np.empty(n_entries)
    nk_padded = np.empty(KP)
    S = np.empty((K, D))
    run_blocks(_combine_kernel, COMBINE_CHUNKS, (COMBINE_CHUNKS, outputs.part_T, outputs.part_nk, T, nk_padded, S),
               parallel=choose_parallel(parallel, outputs.part_T.size, "combine"))
    return nk_padded[:K].copy(), S, log_prob_norm
