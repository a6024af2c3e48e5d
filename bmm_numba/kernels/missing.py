"""E-step and M-step statistics for dense data with missing values (full information ML).

Data are coded as ``uint8``: 0, 1, and :data:`MISSING` (2) for "not observed" (NaN in the
user's array).  With missing cells the likelihood of a row skips them::

    log p(x_n | k) = sum_{d observed in n} x_nd log mu_kd + (1 - x_nd) log(1 - mu_kd)

and the M-step divides each feature by the responsibility mass of the rows where that feature is
observed: ``mu_kd = (S_kd + alpha) / (O_kd + 2 alpha)`` with
``O_kd = sum_{n: d observed} w_n r_nk``.  The statistics returned are ``N_k``, ``S`` and the
missing mass ``M_kd = sum_{n: d missing} w_n r_nk`` (``O = N_k - M``): on data with few missing
cells ``M`` touches only those cells.

Every kernel has a compiled version (rows in ``prange``; stable per-row log-sum-exp; blocked,
thread-count independent accumulation as in :mod:`bmm_numba.kernels.m_step`) and a NumPy version.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .e_step_numba import add_row, fill_row, normalise_log_row
from .e_step_numpy import log_pi, normalise_log_rows
from .jit import build_serial_and_parallel
from .m_step import row_blocks, sum_blocks, zero
from .threads import run_serial_or_parallel

__all__ = ["MISSING", "numba_e_step", "numpy_e_step", "numba_stats", "numpy_stats", "SERIAL_AND_PARALLEL"]

#: Code of a missing cell in the uint8 data.
MISSING = 2


def _e_step_body(X, log_mu_dk, log_1m_mu_dk, log_pi, resp, log_prob_norm):
    """Log-joint over the observed cells of each row, then stable normalisation.

    Summed directly (``log pi + sum over observed of log mu or log(1 - mu)``) rather than as
    "bias minus the missing terms": a row with every cell missing then gets exactly ``log pi``
    and responsibilities exactly ``pi``, with no cancellation.  Parameters are stored (D, K) so
    the K additions for one cell are contiguous.
    """
    N, D = X.shape
    for n in prange(N):
        fill_row(resp, n, log_pi)
        for d in range(D):
            x = X[n, d]
            if x != MISSING:  # one call with the term chosen: two inlined calls ran 2.5x slower
                add_row(resp, n, log_mu_dk if x == 1 else log_1m_mu_dk, d)
        log_prob_norm[n] = normalise_log_row(resp[n])


def _stats_body(X, rw, block_rows, part, part_miss, part_nk, nk, S, M):
    """Blocked ``N_k``, ``S`` (ones) and ``M`` (missing mass), as the dense ``m_step._dense_stats_body``."""
    N, D = X.shape
    for b in prange(part.shape[0]):
        acc, acc_miss = part[b], part_miss[b]
        zero(acc)
        zero(acc_miss)
        zero(part_nk[b])
        for n in range(b * block_rows, min(N, (b + 1) * block_rows)):
            add_row(part_nk, b, rw, n)
            for d in range(D):
                x = X[n, d]
                if x != 0:  # a one or a missing cell
                    add_row(acc if x == 1 else acc_miss, d, rw, n)
    sum_blocks(part_nk, nk)
    sum_blocks(part, S)
    sum_blocks(part_miss, M)


#: name -> Builds (serial, parallel); tests compare the two builds.
SERIAL_AND_PARALLEL = {
    "missing_e_step": build_serial_and_parallel(_e_step_body),
    "missing_stats": build_serial_and_parallel(_stats_body),
}


def numba_e_step(X, mu, pi, *, parallel=None):
    """Compiled E-step on coded data.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8
        Codes 0, 1 and :data:`MISSING`, C-contiguous.
    mu : ndarray of shape (n_components, n_features)
        Means strictly inside (0, 1).
    pi : ndarray of shape (n_components,)
        Mixing weights.
    parallel : bool or None, default=None
        As in :func:`bmm_numba.kernels.threads.choose_parallel` (None: by size).

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    log_prob_norm : ndarray of shape (n_samples,)
        ``log p(x_n)`` over the observed cells of row n.
    """
    N, D = X.shape
    K = mu.shape[0]
    resp = np.empty((N, K))
    log_prob_norm = np.empty(N)
    args = (X, np.ascontiguousarray(np.log(mu).T), np.ascontiguousarray(np.log1p(-mu).T), log_pi(pi), resp,
            log_prob_norm)
    run_serial_or_parallel(SERIAL_AND_PARALLEL["missing_e_step"], args, parallel=parallel, work=N * D * K)
    return resp, log_prob_norm


def numpy_e_step(X, mu, pi):
    """NumPy E-step on coded data (two GEMMs on 0/1 indicator matrices); see :func:`numba_e_step`."""
    ones = (X == 1).astype(np.float64)
    zeros = (X == 0).astype(np.float64)
    log_joint = log_pi(pi) + ones @ np.log(mu).T + zeros @ np.log1p(-mu).T
    return normalise_log_rows(log_joint, return_log_norm=True)


def numba_stats(X, rw, *, parallel=None):
    """Compiled blocked statistics on coded data.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8
        Codes 0, 1 and :data:`MISSING`.
    rw : ndarray of shape (n_samples, n_components)
        Responsibilities times sample weights.
    parallel : bool or None, default=None
        As in :func:`bmm_numba.kernels.threads.choose_parallel` (None: by size).

    Returns
    -------
    nk : ndarray of shape (n_components,)
    S : ndarray of shape (n_components, n_features)
        Mass of the ones.
    observed : ndarray of shape (n_components, n_features)
        Mass of the rows where each feature is observed, ``N_k - M``.
    """
    N, D = X.shape
    K = rw.shape[1]
    # two partial arrays per block here, so budget the blocks as if K were doubled
    block_rows, n_blocks = row_blocks(N, D, 2 * K)
    nk, S, M = np.empty(K), np.empty((K, D)), np.empty((K, D))
    args = (X, np.ascontiguousarray(rw, dtype=np.float64), block_rows, np.empty((n_blocks, D, K)),
            np.empty((n_blocks, D, K)), np.empty((n_blocks, K)), nk, S, M)
    run_serial_or_parallel(SERIAL_AND_PARALLEL["missing_stats"], args, parallel=parallel, work=N * D * K)
    return nk, S, np.maximum(nk[:, None] - M, 0.0)


def numpy_stats(X, rw):
    """NumPy statistics on coded data; same contract as :func:`numba_stats`."""
    nk = rw.sum(axis=0)
    S = rw.T @ (X == 1).astype(np.float64)
    M = rw.T @ (X == MISSING).astype(np.float64)
    return nk, S, np.maximum(nk[:, None] - M, 0.0)
