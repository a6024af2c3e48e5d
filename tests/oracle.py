"""Independent, readable reference E-step built from scipy only (no package code).

``gamma[n, k] = pi_k prod_d Bernoulli(x_nd; mu_kd) / sum_j (...)``, computed as
log-pmf sums and normalised with ``scipy.special.logsumexp``.
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import bernoulli


def log_joint(X, mu, pi):
    """log pi_k + sum_d log Bernoulli(x_nd; mu_kd), shape (N, K)."""
    X = np.asarray(X, dtype=float)
    mu = np.asarray(mu, dtype=float)
    pi = np.asarray(pi, dtype=float)
    N, K = X.shape[0], mu.shape[0]
    out = np.empty((N, K))
    with np.errstate(divide="ignore"):
        log_pi = np.log(pi)
    for k in range(K):
        out[:, k] = log_pi[k] + bernoulli.logpmf(X, mu[k][None, :]).sum(axis=1)
    return out


def responsibilities(X, mu, pi):
    """Reference responsibilities, shape (N, K)."""
    lj = log_joint(X, mu, pi)
    return np.exp(lj - logsumexp(lj, axis=1, keepdims=True))


def log_likelihood_per_row(X, mu, pi):
    """Reference log p(x_n), shape (N,)."""
    return logsumexp(log_joint(X, mu, pi), axis=1)
