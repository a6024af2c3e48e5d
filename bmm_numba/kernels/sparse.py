"""E-step and M-step statistics for ``scipy.sparse`` 0/1 data, never densified.

Both steps only ever touch the stored ones:

* E-step, the one-GEMM form ``log p(x_n | k) = b_k + sum_{d: x_nd = 1} w_dk`` with
  ``w = log mu - log(1 - mu)`` and ``b_k = log pi_k + sum_d log(1 - mu_kd)``.  Compiled: a loop
  over the CSR rows in ``prange`` (each iteration writes its own row); SciPy: ``X @ w + b``.
* M-step, ``S = X.T @ rw``.  Compiled: a loop over CSC columns in ``prange``, each iteration
  writing its own row ``S[:, d]`` (stored (D, K)), summed in the fixed CSC order: race-free and
  bit-identical for any thread count, without the (D, K) partial array per block that the
  dense kernels use (which at D = 100000 would cost more than the data).  SciPy: ``X.T @ rw``.

The compiled kernels take ``indptr``/``indices`` as int64 (one specialisation) of a matrix
whose stored values are all 1 (explicit zeros removed by the caller).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .e_step_numba import add_row, fill_row, normalise_log_row
from .e_step_numpy import log_pi, normalise_log_rows
from .jit import build_serial_and_parallel
from .m_step import zero
from .threads import run_serial_or_parallel

__all__ = [
    "one_gemm_terms",
    "numba_e_step",
    "scipy_e_step",
    "numba_stats",
    "scipy_stats",
    "SERIAL_AND_PARALLEL",
]


def one_gemm_terms(mu, pi):
    """``w`` of shape (D, K) C-contiguous and ``b`` of shape (K,) of the one-GEMM form."""
    log_1m_mu = np.log1p(-mu)
    weights_dk = np.ascontiguousarray((np.log(mu) - log_1m_mu).T)
    bias = log_pi(pi) + log_1m_mu.sum(axis=1)
    return weights_dk, bias


def _csr_e_step_body(indptr, indices, weights_dk, bias, resp, log_prob_norm):
    """Per CSR row: ``bias + sum of the weight rows of its ones``, then stable normalisation."""
    for n in prange(indptr.shape[0] - 1):
        fill_row(resp, n, bias)
        for j in range(indptr[n], indptr[n + 1]):
            add_row(resp, n, weights_dk, indices[j])
        log_prob_norm[n] = normalise_log_row(resp[n])


def _csc_stats_body(indptr, indices, rw, S_dk):
    """Per CSC column d: ``S_dk[d] = sum of rw over the rows holding a one in column d``."""
    for d in prange(indptr.shape[0] - 1):
        zero(S_dk[d])
        for j in range(indptr[d], indptr[d + 1]):
            add_row(S_dk, d, rw, indices[j])


#: name -> Builds (serial, parallel); tests compare the two builds.
SERIAL_AND_PARALLEL = {
    "sparse_e_step": build_serial_and_parallel(_csr_e_step_body),
    "sparse_stats": build_serial_and_parallel(_csc_stats_body),
}


def numba_e_step(indptr, indices, mu, pi, *, parallel=None):
    """Compiled E-step on CSR structure.

    Parameters
    ----------
    indptr : ndarray of shape (n_samples + 1,), int64
    indices : ndarray of shape (nnz,), int64
        CSR structure of a 0/1 matrix whose stored values are all 1.
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    parallel : bool or None, default=None
        As in :func:`bmm_numba.kernels.threads.choose_parallel` (None: by size, ``nnz * k`` steps).

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    log_prob_norm : ndarray of shape (n_samples,)
    """
    weights_dk, bias = one_gemm_terms(mu, pi)
    n_samples, K = indptr.shape[0] - 1, bias.shape[0]
    resp = np.empty((n_samples, K))
    log_prob_norm = np.empty(n_samples)
    args = (indptr, indices, weights_dk, bias, resp, log_prob_norm)
    run_serial_or_parallel(SERIAL_AND_PARALLEL["sparse_e_step"], args, parallel=parallel, work=indices.shape[0] * K)
    return resp, log_prob_norm


def scipy_e_step(X_csr, mu, pi):
    """SciPy E-step: one sparse-times-dense product ``X @ w + b``; see :func:`numba_e_step`."""
    weights_dk, bias = one_gemm_terms(mu, pi)
    log_joint = np.asarray(X_csr @ weights_dk)
    log_joint += bias
    return normalise_log_rows(log_joint, return_log_norm=True)


def numba_stats(indptr, indices, rw, *, parallel=None):
    """Compiled ``N_k`` and ``S`` from CSC structure (``indices`` are row numbers).

    Parameters
    ----------
    indptr, indices : ndarray of int64, shapes (n_features + 1,) and (nnz,)
        CSC structure (column starts, row numbers) of a 0/1 matrix whose stored values are all 1.
    rw : ndarray of shape (n_samples, n_components)
        Responsibilities times sample weights.
    parallel : bool or None, default=None
        As in :func:`bmm_numba.kernels.threads.choose_parallel` (None: by size, ``nnz * k`` steps).

    Returns
    -------
    nk : ndarray of shape (n_components,)
    S : ndarray of shape (n_components, n_features)
    """
    rw = np.ascontiguousarray(rw, dtype=np.float64)
    S_dk = np.empty((indptr.shape[0] - 1, rw.shape[1]))
    run_serial_or_parallel(SERIAL_AND_PARALLEL["sparse_stats"], (indptr, indices, rw, S_dk), parallel=parallel,
                           work=indices.shape[0] * rw.shape[1])
    return rw.sum(axis=0), np.ascontiguousarray(S_dk.T)


def scipy_stats(X_csr, rw):
    """SciPy ``N_k`` and ``S = (X.T @ rw).T``; same contract as :func:`numba_stats`."""
    return rw.sum(axis=0), np.ascontiguousarray(np.asarray(X_csr.T @ rw).T)
