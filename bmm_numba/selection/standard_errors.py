"""Standard errors of a fitted model's item-response probabilities and class weights.

``method="information"`` (the default) inverts the **observed information**: the negative
Hessian of the objective the fit maximised, at the fitted parameters: the log-likelihood
``sum_n w_n log p(x_n)`` at ``alpha=0``, plus the log-prior of the means otherwise (then the
errors are those of the posterior mode's normal approximation; the prior adds
``a_d / mu^2 + b_d / (1 - mu)^2`` to each mean's diagonal, ``a_d = 2 alpha m_d``,
``b_d = 2 alpha (1 - m_d)``, as in :func:`bmm_numba.em.collapse.log_prior`).  It is computed
exactly (analytically, not the outer product of the scores that poLCA uses, nor the
complete-data information), in the parameterisation ``(mu_kd, pi_1 .. pi_{K-1})`` with
``pi_K = 1 - sum_{k<K} pi_k``.  With ``g_n`` the score of row n (``r_nk s_nkd`` for ``mu_kd``
where ``s_nkd = (x_nd - mu_kd) / (mu_kd (1 - mu_kd))`` on observed cells, 0 on missing ones;
``r_nj / pi_j - r_nK / pi_K`` for ``pi_j``), the Hessian is
``sum_n w_n (A_n - g_n g_n')`` where ``A_n = (1 / p(x_n)) d²p(x_n)`` holds
``r_nk s_nkd s_nke`` (d != e, same class; 0 on the diagonal: ``p`` is linear in each
``mu_kd``), ``r_nk s_nkd / pi_k`` between ``mu_kd`` and ``pi_k`` (``- r_nK s_nKd / pi_K``
between ``mu_Kd`` and every ``pi_j``), and 0 elsewhere.  ``SE(pi_K)`` follows by the delta
method.

``method="bootstrap"`` is the nonparametric bootstrap: ``n_bootstrap`` refits with
``sample_weight`` set to multinomial resampling counts of the rows (times nothing for
unweighted data; for whole-number weights the units are resampled, for other weights the
rows and their weights), each started from the fitted parameters; each replicate's classes are
matched to the fitted model's (the assignment minimising the summed absolute difference of the
means, :func:`scipy.optimize.linear_sum_assignment`) before the standard deviation is taken.

Parameters on the boundary (``min(mu, 1 - mu) < BOUNDARY`` or ``pi < BOUNDARY``) have no Wald
standard error: the information method leaves them out of the inverted matrix (they are
treated as fixed) and reports NaN for them, and both methods flag them in ``boundary_means``
and ``boundary_weights`` (the summary marks them).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..em.collapse import column_means
from ..em.concurrent import run_concurrently
from ..em.data import encode
from ..estimator.checks import check_sample_weight, is_int
from ..kernels.missing import MISSING
from .parallel import check_n_workers, quiet_fits

__all__ = ["StandardErrors", "standard_errors", "BOUNDARY", "MAX_INFORMATION_PARAMETERS", "observed_information"]

#: A mean within this distance of 0 or 1 (or a weight below it) is on the boundary.
BOUNDARY = 1e-6

#: The information method builds a P x P matrix (P = K D + K - 1): above this, use the bootstrap.
MAX_INFORMATION_PARAMETERS = 3000


class _Totals(NamedTuple):
    """The column sums :func:`~bmm_numba.em.collapse.column_means` reads."""

    nk: np.ndarray
    S: np.ndarray
    observed: np.ndarray | None


@dataclass(frozen=True)
class StandardErrors:
    """Standard errors of a fitted :class:`~bmm_numba.BernoulliMixture`.

    Attributes
    ----------
    means : ndarray of shape (n_components, n_features)
        Of ``means_`` (NaN on the boundary for the information method).
    weights : ndarray of shape (n_components,)
        Of ``weights_`` (0 for K = 1: the weight is not estimated).
    method : {"information", "bootstrap"}
    boundary_means : ndarray of bool, shape (n_components, n_features)
    boundary_weights : ndarray of bool, shape (n_components,)
    n_bootstrap : int
        Replicates used (0 for the information method).
    n_dropped : int
        Bootstrap replicates left out because a class collapsed in the refit.
    """

    means: np.ndarray
    weights: np.ndarray
    method: str
    boundary_means: np.ndarray
    boundary_weights: np.ndarray
    n_bootstrap: int = 0
    n_dropped: int = 0


def observed_information(data, w, resp, means, weights, free, block=2048):
    """Return the observed information of the free parameters (module docstring).

    Parameters
    ----------
    data : MixtureData
    w : ndarray of shape (n_samples,)
    resp : ndarray of shape (n_samples, K)
        ``p(k | x_n)`` under ``(means, weights)``.
    means : ndarray of shape (K, D)
    weights : ndarray of shape (K,)
    free : ndarray of bool of shape (K, D)
        The means to include (the others are held fixed); the K - 1 free weights always are.
    block : int, default=2048
        Rows per block (the scores of a block are a ``block x P`` array).

    Returns
    -------
    ndarray of shape (P, P)
        Rows: the free means in row-major order, then ``pi_1 .. pi_{K-1}``.
    """
    K, D = means.shape
    index = np.flatnonzero(free.ravel())
    n_mu = index.shape[0]
    info = np.zeros((n_mu + K - 1, n_mu + K - 1))
    for start in range(0, data.n_samples, block):
        rows = slice(start, start + block)
        X = data.X[rows].toarray() if data.kind == "sparse" else data.X[rows]
        x, r, wb = (X == 1).astype(np.float64), resp[rows], w[rows]
        s = (x[:, None, :] - means[None]) / (means * (1.0 - means))[None]  # (n, K, D) scores of the means
        if data.kind == "missing":
            s = s * (X != MISSING)[:, None, :]
        s = s.reshape(len(x), K * D)[:, index]
        G = np.hstack([s * np.repeat(r, D, axis=1)[:, index], r[:, :-1] / weights[:-1] - (r[:, -1:] / weights[-1])])
        info += (G * wb[:, None]).T @ G
        for k in range(K):  # minus A: the second derivatives of p(x_n) / p(x_n)
            cols = np.flatnonzero(index // D == k)
            wr = wb * r[:, k]
            block_k = (s[:, cols] * wr[:, None]).T @ s[:, cols]
            np.fill_diagonal(block_k, 0.0)
            info[np.ix_(cols, cols)] -= block_k
            cross = (wr @ s[:, cols]) / weights[k]  # sum_n w_n r_nk s_nkd / pi_k
            pis = n_mu + (np.array([k]) if k < K - 1 else np.arange(K - 1))
            sign = 1.0 if k < K - 1 else -1.0
            info[np.ix_(cols, pis)] -= sign * cross[:, None]
            info[np.ix_(pis, cols)] -= sign * cross[None, :]
    return info


def _information_errors(model, X, data, w):
    means, weights = model._fitted_parameters()
    K, D = means.shape
    boundary = np.minimum(means, 1.0 - means) < BOUNDARY
    if K * D + K - 1 > MAX_INFORMATION_PARAMETERS:
        raise ValueError(f"method='information' inverts a {K * D + K - 1}-square matrix (more than "
                         f"{MAX_INFORMATION_PARAMETERS} parameters); use method='bootstrap'")
    resp = model.predict_proba(X)
    info = observed_information(data, w, resp, means, weights, ~boundary)
    if model.alpha > 0:  # the log-prior's curvature (the fit maximised likelihood + prior)
        ones = data.X == 1 if data.kind != "sparse" else data.X
        observed = None if data.kind != "missing" else (w @ (data.X != MISSING))[None]
        m = column_means(_Totals(np.array([w.sum()]), np.asarray(w @ ones, dtype=np.float64)[None], observed))
        a, b = 2.0 * model.alpha * m, 2.0 * model.alpha * (1.0 - m)
        curvature = (a / means**2 + b / (1.0 - means) ** 2)[~boundary]
        info[np.arange(curvature.size), np.arange(curvature.size)] += curvature
    values, vectors = np.linalg.eigh(info)
    se_means, se_weights = np.full((K, D), np.nan), np.full(K, np.nan)
    if values[0] <= 1e-10 * max(values[-1], 1e-300):
        warnings.warn("the observed information is not positive definite (the model is not identified at "
                      "these estimates: too many classes for the data?); standard errors are NaN; try "
                      "method='bootstrap' or fewer components", UserWarning, stacklevel=3)
    else:
        cov = (vectors / values) @ vectors.T
        var = np.diag(cov)
        n_mu = int((~boundary).sum())
        se_means[~boundary] = np.sqrt(var[:n_mu])
        pi_cov = cov[n_mu:, n_mu:]
        se_weights[:-1] = np.sqrt(var[n_mu:])
        se_weights[-1] = np.sqrt(pi_cov.sum()) if K > 1 else 0.0
    return StandardErrors(se_means, se_weights, "information", boundary, weights < BOUNDARY)


def _bootstrap_errors(model, X, sample_weight, n_bootstrap, n_workers):
    means, weights = model._fitted_parameters()
    K = means.shape[0]
    n = model._check_X(X, reset=False).shape[0]
    w = check_sample_weight(sample_weight, n, 1)
    rng = np.random.RandomState(model.random_state if is_int(model.random_state, 0) else None)
    if np.all(w == np.round(w)):  # counts: resample the units
        counts = rng.multinomial(int(w.sum()), w / w.sum(), size=n_bootstrap).astype(np.float64)
    else:  # resample the rows, each with its weight
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap) * w[None]
    params = {**model.get_params(), "n_components": K, "means_init": means, "weights_init": weights,
              "n_init": 1, "warm_start": False, "verbose": 0}

    def replicate(weights_b):
        est = type(model)(**params).fit(X, sample_weight=weights_b)
        if est.means_.shape[0] != K:
            return None
        cost = np.abs(means[:, None, :] - est.means_[None]).sum(axis=2)
        _, order = linear_sum_assignment(cost)
        return est.means_[order], est.weights_[order]

    work = n * means.shape[1] * K
    with quiet_fits():
        results = run_concurrently(replicate, list(counts), n_workers=check_n_workers(n_workers, n_bootstrap, work))
    kept = [r for r in results if r is not None]
    if len(kept) < 2:
        raise ValueError(f"fewer than 2 of {n_bootstrap} bootstrap refits kept {K} classes: the data do not "
                         "support the model")
    se_means = np.std([m for m, _ in kept], axis=0, ddof=1)
    se_weights = np.std([p for _, p in kept], axis=0, ddof=1)
    boundary = np.minimum(means, 1.0 - means) < BOUNDARY
    return StandardErrors(se_means, se_weights, "bootstrap", boundary, weights < BOUNDARY,
                          n_bootstrap=len(kept), n_dropped=n_bootstrap - len(kept))


def standard_errors(model, X, method="information", *, sample_weight=None, n_bootstrap=200, n_workers=None):
    """Return the standard errors of a fitted model's means and weights.

    Parameters
    ----------
    model : BernoulliMixture
        Fitted to X.
    X : array-like or sparse matrix of shape (n_samples, n_features)
        The training data (in memory).
    method : {"information", "bootstrap"}, default="information"
        The observed information (exact Hessian) or the nonparametric bootstrap (module docstring).
    sample_weight : array-like of shape (n_samples,), default=None
        The fit's weights.
    n_bootstrap : int, default=200
        Replicates of the bootstrap (seeded by the model's integer ``random_state``).
    n_workers : int or None, default=None
        Bootstrap refits side by side (None: :func:`~bmm_numba.em.concurrent.concurrent_workers`
        chooses); the result is the same for any value.

    Returns
    -------
    StandardErrors
    """
    if method not in ("information", "bootstrap"):
        raise ValueError(f"method must be 'information' or 'bootstrap'; got {method!r}")
    if not is_int(n_bootstrap, 2):
        raise ValueError(f"n_bootstrap must be an integer >= 2; got {n_bootstrap!r}")
    if method == "bootstrap":
        return _bootstrap_errors(model, X, sample_weight, n_bootstrap, n_workers)
    model._fitted_parameters()
    data = encode(model._check_X(X, reset=False), model.binarize)
    return _information_errors(model, X, data, check_sample_weight(sample_weight, data.n_samples, 1))
