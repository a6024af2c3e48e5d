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


def _quiet():
    """Silence the warnings of the article's 0/0 and log(0): they are the lesson here."""
    return np.errstate(invalid="ignore", divide="ignore", under="ignore")


def python_loops(X, mu, pi):
    """Attempt 1: triple loop over n, k, d multiplying probabilities (probability space)."""
    N, D = X.shape
    K = mu.shape[0]
    resp = np.zeros((N, K))
    with _quiet():
        for n in range(N):
            for k in range(K):
                p = pi[k]
                for d in range(D):
                    p *= mu[k, d] ** X[n, d] * (1 - mu[k, d]) ** (1 - X[n, d])
                resp[n, k] = p
            resp[n] /= resp[n].sum()
    return resp


def python_log(X, mu, pi):
    """Attempt 2: loop over n and k, vectorised log-space sum over d, then exp and normalise."""
    resp = np.zeros((X.shape[0], mu.shape[0]))
    with _quiet():
        for n in range(resp.shape[0]):
            for k in range(resp.shape[1]):
                resp[n, k] = np.log(pi[k]) + np.sum(X[n] * np.log(mu[k]) + (1 - X[n]) * np.log(1 - mu[k]))
            resp[n] = np.exp(resp[n])
            resp[n] /= resp[n].sum()
    return resp


def numpy_rows(X, mu, pi):
    """Attempt 3: loop over n only, two matrix-vector products per row, exp and normalise."""
    resp = np.zeros((X.shape[0], mu.shape[0]))
    with _quiet():
        log_pi, log_mu, log_1m_mu = np.log(pi), np.log(mu), np.log(1 - mu)
        for n in range(resp.shape[0]):
            resp[n] = np.exp(log_pi + log_mu @ X[n] + log_1m_mu @ (1 - X[n]))
            resp[n] /= resp[n].sum()
    return resp
