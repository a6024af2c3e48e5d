"""Independent, readable EM for Bernoulli mixtures built from NumPy and scipy only (no package code).

Missing values are NaN: a cell contributes to the likelihood only when observed, and the M-step
divides each feature by the responsibility mass of the rows where it is observed.
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import bernoulli

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


def m_step(X, resp, w, alpha):
    """MAP means (clipped to [EPS, 1 - EPS]) and weights."""
    X = np.asarray(X, dtype=float)
    observed = (~np.isnan(X)).astype(float)
    ones = np.where(observed > 0, X, 0.0)
    rw = resp * w[:, None]
    nk = rw.sum(axis=0)
    mu = np.empty((resp.shape[1], X.shape[1]))
    for k in range(resp.shape[1]):
        mu[k] = (rw[:, k] @ ones + alpha) / (rw[:, k] @ observed + 2 * alpha)
    return np.clip(mu, EPS, 1 - EPS), nk / w.sum()


def log_prior(mu, alpha):
    """log Beta(alpha+1, alpha+1) density of every mean, up to a constant."""
    return alpha * (np.log(mu) + np.log(1 - mu)).sum()


def em(X, mu, pi, n_iter, alpha, w=None):
    """``n_iter`` iterations (E then M) from ``(mu, pi)``; returns mu, pi and the mean log-likelihoods."""
    w = np.ones(np.shape(X)[0]) if w is None else np.asarray(w, dtype=float)
    bounds = []
    for _ in range(n_iter):
        resp, log_norm = e_step(X, mu, pi)
        bounds.append(w @ log_norm / w.sum())
        mu, pi = m_step(X, resp, w, alpha)
    return mu, pi, np.array(bounds)
