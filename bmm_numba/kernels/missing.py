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
thread-count independent accumulation as in :mod:`bmm_numba._m_step`) and a NumPy version.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .e_step_numba import _normalise_log_row
from .e_step_numpy import log_pi, normalise_log_rows
from .jit import build_serial_and_parallel
from .m_step import row_blocks
from .threads import parallel_guard

__all__ = ["MISSING", "numba_e_step", "numpy_e_step", "numba_stats", "numpy_stats", "SERIAL_AND_PARALLEL"]

#: Code of a missing cell in the uint8 data.
MISSING = 2


def _e_step_body(X, log_mu_dk, log_1m_mu_dk, log_pi, gamma, log_norm):
    """Log-joint over the observed cells of each row, then stable normalisation.

    Summed directly (``log pi + sum over observed of log mu or log(1 - mu)``) rather than as
    "bias minus the missing terms": a row with every cell missing then gets exactly ``log pi``
    and responsibilities exactly ``pi``, with no cancellation.  Parameters are stored (D, K) so
    the K additions for one cell are contiguous.
    """
    N, D = X.shape
    K = log_pi.shape[0]
    for n in prange(N):
        row = gamma[n]
        for k in range(K):
            row[k] = log_pi[k]
        for d in range(D):
            x = X[n, d]
            if x == 1:
                for k in range(K):
                    row[k] += log_mu_dk[d, k]
            elif x == 0:
                for k in range(K):
                    row[k] += log_1m_mu_dk[d, k]
        log_norm[n] = _normalise_log_row(row)


def _stats_body(X, rw, block_rows, part, part_miss, part_nk, nk, S, M):
    """Blocked ``N_k``, ``S`` (ones) and ``M`` (missing mass); see ``_m_step._dense_stats_body``."""
    N, D = X.shape
    K = rw.shape[1]
    n_blocks = part.shape[0]
    for b in prange(n_blocks):
        acc = part[b]
        acc_miss = part_miss[b]
        acc_nk = part_nk[b]
        for d in range(D):
            for k in range(K):
                acc[d, k] = 0.0
                acc_miss[d, k] = 0.0
        for k in range(K):
            acc_nk[k] = 0.0
        stop = min(N, (b + 1) * block_rows)
        for n in range(b * block_rows, stop):
            for k in range(K):
                acc_nk[k] += rw[n, k]
            for d in range(D):
                x = X[n, d]
                if x == 1:
                    for k in range(K):
                        acc[d, k] += rw[n, k]
                elif x == 2:
                    for k in range(K):
                        acc_miss[d, k] += rw[n, k]
    for k in range(K):
        nk[k] = 0.0
        for d in range(D):
            S[k, d] = 0.0
            M[k, d] = 0.0
    for b in range(n_blocks):
        for k in range(K):
            nk[k] += part_nk[b, k]
        for d in range(D):
            for k in range(K):
                S[k, d] += part[b, d, k]
                M[k, d] += part_miss[b, d, k]


_e_step_serial, _e_step_parallel = build_serial_and_parallel(_e_step_body)
_stats_serial, _stats_parallel = build_serial_and_parallel(_stats_body)

#: name -> (serial, parallel) dispatchers; tests compare the two builds.
SERIAL_AND_PARALLEL = {
    "missing_e_step": (_e_step_serial, _e_step_parallel),
    "missing_stats": (_stats_serial, _stats_parallel),
}


def numba_e_step(X, mu, pi, *, parallel=True):
    """Compiled E-step on coded data.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8
        Codes 0, 1 and :data:`MISSING`, C-contiguous.
    mu : ndarray of shape (n_components, n_features)
        Means strictly inside (0, 1).
    pi : ndarray of shape (n_components,)
        Mixing weights.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    log_prob_norm : ndarray of shape (n_samples,)
        ``log p(x_n)`` over the observed cells of row n.
    """
    log_mu_dk = np.ascontiguousarray(np.log(mu).T)
    log_1m_mu_dk = np.ascontiguousarray(np.log1p(-mu).T)
    gamma = np.empty((X.shape[0], mu.shape[0]))
    log_norm = np.empty(X.shape[0])
    args = (X, log_mu_dk, log_1m_mu_dk, log_pi(pi), gamma, log_norm)
    if parallel:
        with parallel_guard():
            _e_step_parallel(*args)
    else:
        _e_step_serial(*args)
    return gamma, log_norm


def numpy_e_step(X, mu, pi):
    """NumPy E-step on coded data (two GEMMs on 0/1 indicator matrices); see :func:`numba_e_step`."""
    ones = (X == 1).astype(np.float64)
    zeros = (X == 0).astype(np.float64)
    log_joint = log_pi(pi) + ones @ np.log(mu).T + zeros @ np.log1p(-mu).T
    return normalise_log_rows(log_joint, return_log_norm=True)


def numba_stats(X, rw, *, parallel=True):
    """Compiled blocked statistics on coded data.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8
        Codes 0, 1 and :data:`MISSING`.
    rw : ndarray of shape (n_samples, n_components)
        Responsibilities times sample weights.

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
    part = np.empty((n_blocks, D, K))
    part_miss = np.empty((n_blocks, D, K))
    part_nk = np.empty((n_blocks, K))
    nk = np.empty(K)
    S = np.empty((K, D))
    M = np.empty((K, D))
    args = (X, np.ascontiguousarray(rw, dtype=np.float64), block_rows, part, part_miss, part_nk, nk, S, M)
    if parallel:
        with parallel_guard():
            _stats_parallel(*args)
    else:
        _stats_serial(*args)
    return nk, S, np.maximum(nk[:, None] - M, 0.0)


def numpy_stats(X, rw):
    """NumPy statistics on coded data; same contract as :func:`numba_stats`."""
    nk = rw.sum(axis=0)
    S = rw.T @ (X == 1).astype(np.float64)
    M = rw.T @ (X == MISSING).astype(np.float64)
    return nk, S, np.maximum(nk[:, None] - M, 0.0)
