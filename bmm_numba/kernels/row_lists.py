"""One EM iteration over row lists: the compiled EM run's pass for small in-memory data.

Every in-memory data kind becomes the same two lists, CSR style (``indptr``, ``indices``):
the columns where each row is 1, and the columns where it is missing (empty for dense and
sparse data).  One serial pass then serves dense, missing-value and sparse data::

    log p(x_n, k) = bias_k + sum_{d: x_nd = 1} w_dk - sum_{d: x_nd missing} log(1 - mu_kd)
    bias_k = log pi_k + sum_d log(1 - mu_kd),   w_dk = log mu_kd - log(1 - mu_kd)

so a row costs K additions per 1 and per missing cell, never per 0: on one-hot coded tables (one
1 per attribute) that is a few per cent of the cells.  The row's responsibilities, times its
weight, are added into ``nk``, ``S`` (its ones) and ``M`` (its missing cells) while the row is in
cache.  Rows of weight 0 are skipped (they change no sum).

The pass is serial and ``nogil``: the compiled EM run (:mod:`bmm_numba.kernels.em_run`) takes it
only where the thread rule keeps a fit in one thread, and runs many such fits side by side
(:mod:`bmm_numba.em.concurrent`).  Rows are added in row order, so results never depend on the
thread count.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from .e_step_numba import normalise_log_row
from .jit import JIT_OPTIONS, build_serial
from .simd import LANES
from .sparse import _add_at_ones, _csr_log_joint

__all__ = ["RowLists", "row_lists", "lists_pass", "log_terms", "column_weights", "padded_pairs"]


class RowLists(NamedTuple):
    """The ones and the missing cells of every row, CSR style (``int64`` offsets, ``int32`` columns)."""

    ones_ptr: np.ndarray
    ones: np.ndarray
    missing_ptr: np.ndarray
    missing: np.ndarray


def _csr_lists(csr):
    """``(indptr, indices)`` of a CSR matrix, sorted, without copying what is already so."""
    if not csr.has_sorted_indices:
        csr = csr.sorted_indices()
    return csr.indptr.astype(np.int64, copy=False), csr.indices.astype(np.int32, copy=False)


def row_lists(X, kind, missing_code=2):
    """Return the :class:`RowLists` of validated data.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8, or scipy.sparse CSR matrix
        ``"dense"``: 0/1; ``"missing"``: 0/1 and ``missing_code``; ``"sparse"``: stored ones.
    kind : {"dense", "missing", "sparse"}
    missing_code : int, default=2

    Returns
    -------
    RowLists
    """
    n_samples = X.shape[0]
    if kind == "sparse":
        ones_ptr, ones = _csr_lists(X)
    else:
        ones_ptr, ones = _dense_lists(X, 1)
    if kind == "missing":
        missing_ptr, missing = _dense_lists(X, missing_code)
    else:
        missing_ptr, missing = np.zeros(n_samples + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    return RowLists(ones_ptr, ones, missing_ptr, missing)


@build_serial  # called from Python: cached
def _dense_lists(X, code):
    """``(indptr, indices)`` of the cells of ``X`` equal to ``code``: two scans, nothing but the result allocated."""
    N, D = X.shape
    indptr = np.zeros(N + 1, dtype=np.int64)
    for n in range(N):
        count = 0
        for d in range(D):
            count += X[n, d] == code
        indptr[n + 1] = indptr[n] + count
    indices = np.empty(indptr[N], dtype=np.int32)
    for n in range(N):
        j = indptr[n]
        for d in range(D):
            if X[n, d] == code:
                indices[j] = d
                j += 1
    return indptr, indices


@build_serial  # called from Python: cached
def column_weights(lists, w, n_features):
    """Return ``(ones, missing)``: per column, the summed weight of the rows where it is 1, and missing.

    Parameters
    ----------
    lists : RowLists
    w : ndarray of shape (n_samples,)
    n_features : int

    Returns
    -------
    ones, missing : ndarray of shape (n_features,)
    """
    ones_ptr, ones_idx, missing_ptr, missing_idx = lists
    ones = np.zeros(n_features)
    missing = np.zeros(n_features)
    for n in range(w.shape[0]):
        for j in range(ones_ptr[n], ones_ptr[n + 1]):
            ones[ones_idx[j]] += w[n]
        for j in range(missing_ptr[n], missing_ptr[n + 1]):
            missing[missing_idx[j]] += w[n]
    return ones, missing


def padded_pairs(n_components):
    """``KP``: K padded to 2-lane pairs after its whole 8-lane vectors, or to one more vector past 4 left.

    The sparse kernels' loops add 8-lane vectors then 2-lane pairs, and a vector add costs about
    what a pair add does: on 8124 x 163 one-hot rows with 30 % of rows missing a block (one
    thread, per pass), K = 5 took 1.49 ms padded to 8 against 1.76 ms padded to 6, while K = 4
    took 1.26 ms as two pairs against 1.48 ms padded to 8 (loaded machine: ~15 % either way).
    """
    full, rest = divmod(n_components, LANES)
    return full * LANES + (rest + rest % 2 if rest <= 4 else LANES)


@numba.njit(**JIT_OPTIONS)
def log_terms(mu, pi, weights, log_1m_dk, bias, alpha, m):
    """Write the pass's parameter terms, K padded to ``KP`` (:func:`padded_pairs`); return the log-prior's sum.

    Parameters
    ----------
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    weights : ndarray of shape (n_features * KP,)
        Written: ``w_dk = log mu_kd - log(1 - mu_kd)`` at ``d * KP + k`` (pad lanes 0), the layout
        of :func:`bmm_numba.kernels.sparse.padded_terms`.
    log_1m_dk : ndarray of shape (n_features, KP) or (0, KP)
        Written unless empty (no missing cells: the pass never reads it).
    bias : ndarray of shape (KP,)
        Written: ``log pi_k + sum_d log(1 - mu_kd)`` (``-inf`` where ``pi_k = 0`` and in the pad
        lane, whose responsibility is then exactly 0).
    alpha : float
    m : ndarray of shape (n_features,)
        The prior's strength and mode.

    Returns
    -------
    prior_sum : float
        :func:`bmm_numba.kernels.em_run.log_prior_sum` from the same logarithms (the two ``log``
        calls per mean were half of a pass's transcendental work on 1790 x 2000 text).
    """
    K, D = mu.shape
    KP = bias.shape[0]
    keep = log_1m_dk.shape[0] > 0
    weights[:] = 0.0
    if keep:
        log_1m_dk[:] = 0.0
    prior_sum = 0.0
    for k in range(K):
        total = 0.0
        for d in range(D):
            log_mu, log_1m = np.log(mu[k, d]), np.log1p(-mu[k, d])
            weights[d * KP + k] = log_mu - log_1m
            if keep:
                log_1m_dk[d, k] = log_1m
            total += log_1m
            if alpha != 0.0:
                prior_sum += 2.0 * alpha * m[d] * log_mu + 2.0 * alpha * (1.0 - m[d]) * log_1m
        bias[k] = np.log(pi[k]) + total
    for k in range(K, KP):
        bias[k] = -np.inf
    return prior_sum


@numba.njit(**JIT_OPTIONS)
def lists_pass(lists, w, weights, log_1m_dk, bias, nk, S, M_dk, row):
    """E-step and sufficient statistics in one serial pass over the row lists.

    The ones of a row go through the sparse kernels' vector loops
    (:func:`bmm_numba.kernels.sparse._csr_log_joint` and ``_add_at_ones``: 8-lane vectors, two
    accumulator chains), the few missing cells through plain loops.

    Parameters
    ----------
    lists : RowLists
    w : ndarray of shape (n_samples,)
        Sample weights (rows of weight 0 are skipped).
    weights, log_1m_dk, bias : ndarray
        From :func:`log_terms`.
    nk : ndarray of shape (KP,)
        Written: ``sum_n w_n r_nk`` (0 in the pad lane).
    S : ndarray of shape (n_features * KP,)
        Written: the mass of the ones, at ``d * KP + k``.
    M_dk : ndarray of shape (n_features, KP), or (0, KP) when nothing is missing
        Written: the mass of the missing cells.
    row : ndarray of shape (KP,)
        Scratch.

    Returns
    -------
    log_lik : float
        ``sum_n w_n log p(x_n)``.
    """
    ones_ptr, ones, missing_ptr, missing = lists
    KP = bias.shape[0]
    nk[:] = 0.0
    S[:] = 0.0
    M_dk[:] = 0.0
    log_lik = 0.0
    for n in range(w.shape[0]):
        wn = w[n]
        if wn == 0.0:
            continue
        _csr_log_joint(row, 0, ones_ptr, ones, weights, bias, n)
        for j in range(missing_ptr[n], missing_ptr[n + 1]):
            d = missing[j]
            for k in range(KP):
                row[k] -= log_1m_dk[d, k]
        log_lik += wn * normalise_log_row(row)
        for k in range(KP):
            row[k] *= wn
        _add_at_ones(S, nk, row, ones_ptr, ones, n)
        for j in range(missing_ptr[n], missing_ptr[n + 1]):
            d = missing[j]
            for k in range(KP):
                M_dk[d, k] += row[k]
    return log_lik
