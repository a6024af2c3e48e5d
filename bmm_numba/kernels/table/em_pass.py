"""One EM iteration in one pass over binary data: E-step and sufficient statistics fused.

For each row the pass computes the log-joint with the look-up-table scan of
:mod:`bmm_numba._e_step_lut`, normalises it into responsibilities ``r_n`` (times the sample
weight), and, while the row's list of non-zero words is still in L1, adds ``r_n`` into the
statistics.  The M-step needs ``S_kd = sum_n r_nk x_nd``; instead of one K-vector add per pixel
that is on (104 per MNIST row), the pass adds ``r_n`` once per non-zero 4-pixel pattern into
``T[q, code, :]`` (45 per row) and expands ``T`` into ``S`` at the end:
``S[:, 4q + j] = sum over codes with bit j of T[q, code, :]``.

Measured on MNIST train (60000 x 784, K = 10, one thread, 2-core AMD EPYC): the compiled
per-pixel M-step statistics took 53 ms and the table E-step 17 ms; this pass did both in
about 26 ms, and with the vector listing and the row index (the rows' lists built once per
fit, :func:`bmm_numba._e_step_lut.build_row_index`, ~9.5 ms to build) about 11.5 ms.

Determinism: rows are grouped in fixed blocks (:func:`bmm_numba._m_step.row_blocks`, a function
of the data shape only); each ``prange`` iteration fills its own block's partial ``T``, ``N_k``;
the partials are added in block order.  Bit-identical for any thread count.
"""

from __future__ import annotations

import numpy as np

from ..jit import build_serial_and_parallel
from ..threads import run_blocks
from .e_step import prepare_table, run_table_pass, table_layout

__all__ = ["lut_em_pass", "lut_stats", "EM_BLOCKS", "em_blocks"]

#: Most row blocks (and partial tables) per pass.  Each partial table is ``Q * 16 * KP`` floats
#: (400 KB on MNIST, K = 10): 64 of them cost more in page faults and zeroing than the pass
#: itself (wall 90 ms against 45 ms CPU); 16 blocks keep 2-16 threads busy.
EM_BLOCKS = 16
#: Fewest rows per block.
EM_MIN_BLOCK_ROWS = 1024


def em_blocks(n_samples):
    """``(block_rows, n_blocks)``: fixed by the number of rows only, never by the thread count."""
    block_rows = max(EM_MIN_BLOCK_ROWS, -(-n_samples // EM_BLOCKS))
    return block_rows, max(1, -(-n_samples // block_rows))


def _combine_body(first_chunk, stop_chunk, n_chunks, part_T, part_nk, T, nk, S):
    """Add the block partials in block order, then expand ``T`` (patterns) into ``S`` (pixels).

    Chunks ``first_chunk .. stop_chunk - 1`` of ``n_chunks`` equal ranges of 4-pixel groups
    (:func:`_combine` splits them over threads; chunk 0 also adds up ``nk``).  Every entry is
    summed over the blocks in block order, whoever runs its chunk: the result does not depend
    on the thread count.  MNIST, K = 10: 0.5-0.7 ms serial, 6.4 MB of partials read.
    """
    n_blocks = part_T.shape[0]
    K, D = S.shape
    KP = part_nk.shape[1]
    n_groups = part_T.shape[1] // (16 * KP)
    for chunk in range(first_chunk, stop_chunk):
        q0 = n_groups * chunk // n_chunks
        q1 = n_groups * (chunk + 1) // n_chunks
        for i in range(q0 * 16 * KP, q1 * 16 * KP):
            total = 0.0
            for b in range(n_blocks):
                total += part_T[b, i]
            T[i] = total
        for d in range(4 * q0, min(D, 4 * q1)):
            q, j = d // 4, d % 4
            for k in range(K):
                total = 0.0
                for code in range(16):
                    if (code >> j) & 1:
                        total += T[(q * 16 + code) * KP + k]
                S[k, d] = total
        if chunk == 0:
            for k in range(KP):
                total = 0.0
                for b in range(n_blocks):
                    total += part_nk[b, k]
                nk[k] = total


#: Chunks of the combine (fixed: the split over threads never changes a sum).
COMBINE_CHUNKS = 16
#: Fewest partial-table floats (``n_blocks * entries``) for which the combine uses threads: on
#: MNIST (16 x 50176) two threads took the serial 0.5-0.7 ms to ~0.35 ms; a thread hand-off costs
#: ~50-100 us.
COMBINE_THREADS_MIN = 1 << 18


_combine_kernel = build_serial_and_parallel(_combine_body)[0]


def _combine(part_T, part_nk, T, nk, S, *, parallel=True):
    """Run :func:`_combine_body` on all chunks, in threads (:func:`bmm_numba._threads.run_blocks`) when large."""
    parallel = parallel and part_T.size >= COMBINE_THREADS_MIN
    run_blocks(_combine_kernel, COMBINE_CHUNKS, (COMBINE_CHUNKS, part_T, part_nk, T, nk, S),
               parallel=parallel)


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
        ``False`` runs the serial ``nogil`` builds (Dask tasks, thread pools).
    index : tuple, optional
        ``build_row_index(X, n_components)``: the rows' lists, read instead of scanning X.

    Returns
    -------
    nk : ndarray of shape (n_components,)
        ``sum_n w_n r_nk``.
    S : ndarray of shape (n_components, n_features)
        ``sum_n w_n r_nk x_nd``.
    log_norm : ndarray of shape (n_samples,)
        ``log p(x_n)`` under ``(mu, pi)`` (unweighted).
    """
    lut, bias = prepare_table(mu, pi)
    return _accumulate(X, lut, bias, mu.shape[0], lut.shape[0], sample_weight=sample_weight, parallel=parallel,
                       index=index)


def lut_stats(X, rw, *, parallel=True, index=None):
    """M-step statistics from given responsibilities, by pattern tables (no E-step).

    The accumulation of :func:`lut_em_pass` alone, for responsibilities that do not come from
    the table E-step (initialisation).  It runs in the same compiled kernel, so a first ``fit``
    compiles one kernel fewer (1.2 s of cold compile on the 2-core machine).

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
    K = rw.shape[1]
    KP, n_entries = table_layout(K, X.shape[1])
    # no table is read when the responsibilities are given: an empty one keeps the kernel's types
    nk, S, _ = _accumulate(X, np.empty(0), np.zeros(KP), K, n_entries, given_resp=rw, parallel=parallel,
                           index=index)
    return nk, S


def _accumulate(X, lut, bias, n_components, n_entries, **pass_options):
    """Run the table pass into per-block pattern tables, then combine them in block order.

    Returns ``(nk, S, log_norm)``; ``pass_options`` go to :func:`run_table_pass`.
    """
    N, D = X.shape
    KP = bias.shape[0]
    block_rows, n_blocks = em_blocks(N)
    part_T = np.empty((n_blocks, n_entries))
    part_nk = np.empty((n_blocks, KP))
    log_norm = run_table_pass(X, lut, bias, n_components, block_rows, part_T, part_nk, **pass_options)
    T = np.empty(n_entries)
    nk_padded = np.empty(KP)
    S = np.empty((n_components, D))
    _combine(part_T, part_nk, T, nk_padded, S, parallel=pass_options.get("parallel", True))
    return nk_padded[:n_components].copy(), S, log_norm
