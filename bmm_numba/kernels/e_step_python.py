"""The article's first three E-step attempts, kept faithful for teaching.

They work in the order the article wrote them and keep its numerics: attempt 1 multiplies
probabilities, attempts 2 and 3 sum in log space but then take ``exp`` of the log-joint before
normalising.  With sharp parameters (``mu`` near 0 or 1 over 784 pixels) every ``exp``
underflows to 0 and the row becomes ``0/0 = NaN``: that is the lesson, so it is not fixed here.
The production kernels (``numpy``, ``numba_log``, ``numba``) normalise with log-sum-exp.

Each function takes already validated input: ``X`` uint8 (N, D), ``mu`` float64 (K, D),
``pi`` float64 (K,), and returns float64 responsibilities (N, K).
"""

from __future__ import annotations

import numpy as np

__all__ = ["python_loops", "python_log", "numpy_rows"]


def python_loops(X, mu, pi):
    """Attempt 1: triple loop over n, k, d multiplying probabilities (probability space)."""
    N, D = X.shape
    K = mu.shape[0]
    gamma = np.zeros((N, K))
    with np.errstate(invalid="ignore", divide="ignore", under="ignore"):
        for n in range(N):
            for k in range(K):
                p = pi[k]
                for d in range(D):
                    p *= mu[k, d] ** X[n, d] * (1 - mu[k, d]) ** (1 - X[n, d])
                gamma[n, k] = p
            gamma[n] /= gamma[n].sum()
    return gamma


def python_log(X, mu, pi):
    """Attempt 2: loop over n and k, vectorised log-space sum over d, then exp and normalise."""
    N, D = X.shape
    K = mu.shape[0]
    gamma = np.zeros((N, K))
    with np.errstate(invalid="ignore", divide="ignore", under="ignore"):
        for n in range(N):
            for k in range(K):
                gamma[n, k] = np.log(pi[k]) + np.sum(X[n] * np.log(mu[k]) + (1 - X[n]) * np.log(1 - mu[k]))
            gamma[n] = np.exp(gamma[n])
            gamma[n] /= gamma[n].sum()
    return gamma


def numpy_rows(X, mu, pi):
    """Attempt 3: loop over n only, two matrix-vector products per row, exp and normalise."""
    N = X.shape[0]
    K = mu.shape[0]
    gamma = np.zeros((N, K))
    with np.errstate(invalid="ignore", divide="ignore", under="ignore"):
        log_pi, log_mu, log_1m_mu = np.log(pi), np.log(mu), np.log(1 - mu)
        for n in range(N):
            gamma[n] = np.exp(log_pi + log_mu @ X[n] + log_1m_mu @ (1 - X[n]))
            gamma[n] /= gamma[n].sum()
    return gamma
