"""Independent, readable EM for Bernoulli mixtures built from NumPy and scipy only (no package code).

Missing values are NaN: a cell contributes to the likelihood only when observed, and the M-step
divides each feature by the responsibility mass of the rows where it is observed.
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import bernoulli, beta

EPS = 1e-10  # the documented clip of the means


def log_joint(X, mu, pi):
    """log pi_k + sum over observed d of log Bernoulli(x_nd; mu_kd), shape (N, K)."""
    X = np.asarray(X, dtype=float)
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
    """(resp, log p(x_n))."""
    lj = log_joint(X, mu, pi)
    log_norm = logsumexp(lj, axis=1)
    return np.exp(lj - log_norm[:, None]), log_norm


def m_step(X, resp, w, alpha, prior_mean=0.5):
    """MAP means (clipped to [EPS, 1 - EPS]) under Beta(2 alpha m + 1, 2 alpha (1 - m) + 1), and weights."""
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
    """Weighted mean of every feature over the rows where it is observed (the estimator's prior mode)."""
    X = np.asarray(X, dtype=float)
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=float)
    observed = ~np.isnan(X)
    return (w @ np.where(observed, X, 0.0)) / (w @ observed)


def log_prior(mu, alpha, prior_mean=0.5):
    """Normalised log-density of every mean under Beta(2 alpha m + 1, 2 alpha (1 - m) + 1), summed."""
    if alpha == 0:
        return 0.0
    return beta.logpdf(mu, 2 * alpha * prior_mean + 1, 2 * alpha * (1 - prior_mean) + 1).sum()


def em(X, mu, pi, n_iter, alpha, w=None):
    """``n_iter`` iterations (E then M) as the estimator runs them (prior mode = column means).

    Returns mu, pi and the objectives ``(sum_n w_n log p(x_n) + log p(mu)) / sum_n w_n``.
    """
    w = np.ones(np.shape(X)[0]) if w is None else np.asarray(w, dtype=float)
    m = column_means(X, w)
    bounds = []
    for _ in range(n_iter):
        resp, log_norm = e_step(X, mu, pi)
        bounds.append((w @ log_norm + log_prior(mu, alpha, m)) / w.sum())
        mu, pi = m_step(X, resp, w, alpha, m)
    return mu, pi, np.array(bounds)
