"""The independent reference every test compares with: E-step, M-step and EM from NumPy and SciPy.

Nothing here imports the package: the loops read as the maths, with log-pmfs from
``scipy.stats.bernoulli`` and normalisation by ``scipy.special.logsumexp``, so the teaching
kernels and the compiled ones are checked against the same readable formulas.

``resp[n, k] = pi_k prod_d Bernoulli(x_nd; mu_kd) / sum_j (...)``. Missing values are NaN: a
cell contributes to the likelihood only when it is observed, and the M-step divides each feature
by the responsibility mass of the rows where that feature is observed.
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import bernoulli, beta

EPS = 1e-10  # the documented clip of the means


def log_joint(X, mu, pi):
    """``log pi_k + sum over observed d of log Bernoulli(x_nd; mu_kd)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        0/1 values, NaN where missing.
    mu : array-like of shape (n_components, n_features)
    pi : array-like of shape (n_components,)

    Returns
    -------
    ndarray of shape (n_samples, n_components)
    """
    X = np.asarray(X, dtype=float)
    mu = np.asarray(mu, dtype=float)
    pi = np.asarray(pi, dtype=float)
    observed = ~np.isnan(X)
    x = np.where(observed, X, 0.0)
    out = np.empty((X.shape[0], mu.shape[0]))
    with np.errstate(divide="ignore"):
        log_pi = np.log(pi)
    for k in range(mu.shape[0]):
        cell = bernoulli.logpmf(x, mu[k][None, :])
        out[:, k] = log_pi[k] + np.where(observed, cell, 0.0).sum(axis=1)
    return out


def e_step(X, mu, pi):
    """Return ``(resp, log_prob_norm)``: shapes (n_samples, n_components) and (n_samples,)."""
    lj = log_joint(X, mu, pi)
    log_prob_norm = logsumexp(lj, axis=1)
    return np.exp(lj - log_prob_norm[:, None]), log_prob_norm


def responsibilities(X, mu, pi):
    """Reference responsibilities, shape (n_samples, n_components)."""
    return e_step(X, mu, pi)[0]


def log_likelihood_per_row(X, mu, pi):
    """Reference ``log p(x_n)``, shape (n_samples,)."""
    return e_step(X, mu, pi)[1]


def m_step(X, resp, w, alpha, prior_mean=0.5):
    """MAP means (clipped to ``[EPS, 1 - EPS]``) and weights.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        0/1 values, NaN where missing.
    resp : ndarray of shape (n_samples, n_components)
    w : ndarray of shape (n_samples,)
        Sample weights.
    alpha : float
        Strength of the Beta(2 alpha m + 1, 2 alpha (1 - m) + 1) prior on every mean.
    prior_mean : float or ndarray of shape (n_features,), default=0.5
        The prior's mode ``m``.

    Returns
    -------
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    """
    X = np.asarray(X, dtype=float)
    observed = (~np.isnan(X)).astype(float)
    ones = np.where(observed > 0, X, 0.0)
    rw = resp * w[:, None]
    nk = rw.sum(axis=0)
    mu = np.empty((resp.shape[1], X.shape[1]))
    for k in range(resp.shape[1]):
        mu[k] = (rw[:, k] @ ones + 2 * alpha * prior_mean) / (rw[:, k] @ observed + 2 * alpha)
    return np.clip(mu, EPS, 1 - EPS), nk / w.sum()


def column_means(X, w=None):
    """The estimator's prior mode: every feature's weighted mean over the rows where it is observed,
    Laplace-smoothed, ``(sum w x + 1) / (sum w [observed] + 2)``."""
    X = np.asarray(X, dtype=float)
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=float)
    observed = ~np.isnan(X)
    return (w @ np.where(observed, X, 0.0) + 1.0) / (w @ observed + 2.0)


def log_prior(mu, alpha, prior_mean=0.5):
    """Normalised log-density of every mean under Beta(2 alpha m + 1, 2 alpha (1 - m) + 1), summed."""
    if alpha == 0:
        return 0.0
    return beta.logpdf(mu, 2 * alpha * prior_mean + 1, 2 * alpha * (1 - prior_mean) + 1).sum()


def em(X, mu, pi, n_iter, alpha, w=None):
    """Run ``n_iter`` iterations (E then M) from ``(mu, pi)``, as the estimator runs them.

    The prior's mode is the data's column means.

    Returns
    -------
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    bounds : ndarray of shape (n_iter,)
        The objective before each M-step: ``(sum_n w_n log p(x_n) + log p(mu)) / sum_n w_n``.
    """
    w = np.ones(np.shape(X)[0]) if w is None else np.asarray(w, dtype=float)
    m = column_means(X, w)
    bounds = []
    for _ in range(n_iter):
        resp, log_prob_norm = e_step(X, mu, pi)
        bounds.append((w @ log_prob_norm + log_prior(mu, alpha, m)) / w.sum())
        mu, pi = m_step(X, resp, w, alpha, m)
    return mu, pi, np.array(bounds)
