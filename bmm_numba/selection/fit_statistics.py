"""Fit statistics of a latent class model: information criteria, relative entropy, G² and χ².

Every statistic takes what a fit already computed (the log-likelihood, the posterior
probabilities ``resp``, each row's ``log p(x_n)``), so :func:`~bmm_numba.selection.table.select_n_components`
adds them without another pass over the data.

Definitions (``log L = sum_n w_n log p(x_n)``, ``p = K D + K - 1`` free parameters,
``N = sum_n w_n``):

* ``AIC = -2 log L + 2 p``; ``BIC = -2 log L + p log N``;
* ``SABIC = -2 log L + p log((N + 2) / 24)`` (sample-size adjusted BIC, Sclove 1987);
* ``CAIC = -2 log L + p (log N + 1)`` (consistent AIC, Bozdogan 1987);
* ``AIC3 = -2 log L + 3 p``;
* ``relative_entropy = 1 - E / (N log K)`` with ``E = -sum_n w_n sum_k r_nk log r_nk`` (1 for
  K = 1: every row is classified with certainty);
* ``G2 = 2 sum_c f_c log(f_c / e_c)`` and ``chi2 = sum_c (f_c - e_c)^2 / e_c + (N - sum_c e_c)``
  over the observed response patterns ``c`` with frequency ``f_c`` and expected frequency
  ``e_c = N p(c)``; the last term is the Pearson contribution of every pattern never observed
  (each adds ``e_c``).  These are poLCA's ``Gsq`` and ``Chisq`` (Linzer & Lewis 2011);
* ``df = min(N, 2^D - 1) - p``, poLCA's residual degrees of freedom;
* ``p_G2``, ``p_chi2``: the upper tail of the chi-square distribution with ``df`` degrees of
  freedom.

Where they are NaN, and why:

* ``G2``, ``chi2`` and their p-values: X has missing cells (a row's pattern is then not one of
  the ``2^D`` cells; poLCA drops such rows, which compares a different table with the model),
  ``sample_weight`` is not whole numbers (the pattern frequencies are not counts), or X is a
  memmap or a Dask array (not read again for the table).  ``chi2`` alone is NaN when an
  observed pattern's expected frequency is so small that ``f^2 / e`` overflows (wide data).
* ``p_G2``, ``p_chi2`` also when the table has more cells than rows to compare
  (``2^D > N``: the expected frequencies average below 1 and the chi-square reference
  distribution does not hold; the parametric bootstrap, :func:`~bmm_numba.selection.blrt.blrt`,
  is the test to use) or when ``df < 1``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import chi2 as _chi2

from ..em.collapse import classification_entropy

__all__ = ["information_criteria", "relative_entropy", "pattern_statistics", "pattern_groups", "residual_df"]


def information_criteria(log_l, n_parameters, n):
    """Return ``{"AIC", "BIC", "SABIC", "CAIC", "AIC3"}`` (lower is better).

    Parameters
    ----------
    log_l : float
        ``sum_n w_n log p(x_n)``.
    n_parameters : int
    n : float
        ``sum_n w_n`` (the number of rows without weights).

    Returns
    -------
    dict of str -> float
    """
    deviance = -2.0 * float(log_l)
    p = float(n_parameters)
    return {"AIC": deviance + 2.0 * p, "BIC": deviance + p * math.log(n),
            "SABIC": deviance + p * math.log((n + 2.0) / 24.0), "CAIC": deviance + p * (math.log(n) + 1.0),
            "AIC3": deviance + 3.0 * p}


def relative_entropy(resp, w):
    """Return ``1 - E / (N log K)``: 1 for a crisp classification, 0 for ``r_nk = 1 / K``.

    Parameters
    ----------
    resp : ndarray of shape (n_samples, n_components)
    w : ndarray of shape (n_samples,)

    Returns
    -------
    float
        1 for K = 1.
    """
    K = resp.shape[1]
    if K == 1:
        return 1.0
    return 1.0 - classification_entropy(resp, w) / (float(w.sum()) * math.log(K))


def pattern_groups(data):
    """Group rows by their response pattern.

    Parameters
    ----------
    data : MixtureData
        ``"dense"`` or ``"sparse"`` (``"missing"`` has no pattern table).

    Returns
    -------
    inverse : ndarray of shape (n_samples,)
        The pattern of each row, ``0 .. n_patterns - 1``.
    first : ndarray of shape (n_patterns,)
        A row of each pattern.
    """
    if data.kind == "sparse":
        X = data.X.copy()
        X.sort_indices()
        table = {}
        inverse = np.array([table.setdefault(X.indices[X.indptr[i]:X.indptr[i + 1]].tobytes(), len(table))
                            for i in range(X.shape[0])], dtype=np.int64)
        first = np.zeros(len(table), dtype=np.int64)
        first[inverse] = np.arange(inverse.shape[0])  # any row of a pattern will do: they are equal
    else:
        packed = np.ascontiguousarray(np.packbits(data.X, axis=1))
        rows = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
        _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
    return inverse, first


def residual_df(n, n_features, n_parameters):
    """Return poLCA's residual degrees of freedom ``min(N, 2^D - 1) - p`` (a float: N may be a weight sum)."""
    cells = 2.0 ** n_features - 1.0 if n_features < 1000 else math.inf
    return float(min(n, cells) - n_parameters)


def pattern_statistics(data, w, log_prob, n_parameters):
    """Return ``{"G2", "chi2", "df", "p_G2", "p_chi2"}`` of a fitted model (NaN where not meaningful).

    Parameters
    ----------
    data : MixtureData or None
        The training data (None for a memmap or Dask array: every value but ``df`` NaN).
    w : ndarray of shape (n_samples,)
        Sample weights (all 1 without ``sample_weight``).
    log_prob : ndarray of shape (n_samples,)
        ``log p(x_n)`` under the fitted model.
    n_parameters : int
        Free parameters ``p``.

    Returns
    -------
    dict of str -> float
        See the module docstring for the definitions and for when each is NaN.
    """
    n = float(w.sum())
    n_features = data.n_features if data is not None else None
    out = {"G2": math.nan, "chi2": math.nan, "df": math.nan, "p_G2": math.nan, "p_chi2": math.nan}
    if data is None:
        return out
    out["df"] = residual_df(n, n_features, n_parameters)
    if data.kind == "missing" or not np.all(w == np.round(w)):
        return out
    inverse, first = pattern_groups(data)
    f = np.bincount(inverse, weights=w, minlength=first.shape[0])
    observed = f > 0
    f, log_e = f[observed], math.log(n) + log_prob[first[observed]]
    out["G2"] = float(2.0 * np.sum(f * (np.log(f) - log_e)))
    with np.errstate(over="ignore"):
        e = np.exp(log_e)
        chi2 = float(np.sum(np.exp(2.0 * np.log(f) - log_e) - 2.0 * f + e) + (n - e.sum()))
    out["chi2"] = chi2 if math.isfinite(chi2) else math.nan
    if out["df"] >= 1 and n_features < 1000 and 2.0 ** n_features <= n:
        out["p_G2"] = float(_chi2.sf(out["G2"], out["df"]))
        out["p_chi2"] = float(_chi2.sf(out["chi2"], out["df"])) if math.isfinite(chi2) else math.nan
    return out
