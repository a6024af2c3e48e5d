"""How well a fitted latent class model classifies, and where local independence fails.

:func:`diagnostics` returns, for data X (with ``r_nk = p(k | x_n)``, ``w_n`` the sample weights,
``N = sum_n w_n`` and the modal class ``c_n = argmax_k r_nk``):

* ``"avepp"``: per class k, the average posterior probability of class k over the rows modally
  assigned to it, ``sum_{c_n = k} w_n r_nk / sum_{c_n = k} w_n`` (NaN for a class no row is
  assigned to: there is nothing to average);
* ``"classification_error"``: ``1 - sum_n w_n max_k r_nk / N``, the expected share of rows the
  modal assignment puts in the wrong class;
* ``"entropy"`` and ``"relative_entropy"``: ``E = -sum_n w_n sum_k r_nk log r_nk`` and
  ``1 - E / (N log K)`` (1 for K = 1);
* ``"class_sizes"``: ``{"estimated": weights_, "modal": share of rows modally assigned to each class}``;
* ``"bivariate_residuals"`` (D × D): for items i != j, the Pearson χ² of their observed 2 × 2
  table against the fitted model's expected one, ``sum_ab (O_ab - E_ab)^2 / E_ab`` with
  ``O_ab = sum_n w_n [x_ni = a, x_nj = b]`` over the rows observing both items and
  ``E_ab = N_ij sum_k pi_k P(x_i = a | k) P(x_j = b | k)``, ``N_ij`` those rows' weight.  It is
  Latent GOLD's bivariate residual for two dichotomous items (its χ² divided by df = 1): values
  well above 3.84 point to a pair the classes do not explain (local dependence).  The diagonal,
  and a pair never observed together, are NaN.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..em.collapse import classification_entropy
from ..em.data import encode
from ..estimator.checks import check_sample_weight
from ..kernels.missing import MISSING
from .fit_statistics import relative_entropy

__all__ = ["diagnostics", "bivariate_residuals"]


def _indicators(data):
    """``(ones, observed)``: 0/1 float arrays or sparse matrices of shape (n_samples, n_features)."""
    if data.kind == "sparse":
        return data.X, None
    if data.kind == "missing":
        return (data.X == 1).astype(np.float64), (data.X != MISSING).astype(np.float64)
    return data.X.astype(np.float64), None


def bivariate_residuals(data, w, means, weights):
    """Return the D × D bivariate residuals (see the module docstring).

    Parameters
    ----------
    data : MixtureData
    w : ndarray of shape (n_samples,)
    means : ndarray of shape (n_components, n_features)
    weights : ndarray of shape (n_components,)

    Returns
    -------
    ndarray of shape (n_features, n_features)
    """
    ones, observed = _indicators(data)
    if sp.issparse(ones):
        o11 = (ones.T @ sp.csr_matrix(ones.multiply(w[:, None]))).toarray()
    else:
        o11 = ones.T @ (ones * w[:, None])  # [i, j]: sum_n w_n x_ni x_nj
    if observed is None:  # every row observes every pair
        pair_n = np.full(o11.shape, float(w.sum()))
        single = np.asarray(ones.T @ w).ravel()  # sum_n w_n x_ni
        o10, o01 = single[:, None] - o11, single[None, :] - o11
    else:
        wo = observed * w[:, None]
        pair_n = observed.T @ wo
        both_i = ones.T @ wo  # [i, j]: sum_n w_n x_ni over the rows observing i and j
        o10, o01 = both_i - o11, both_i.T - o11
    o00 = pair_n - o11 - o10 - o01
    q = 1.0 - means
    expected = {(1, 1): (means.T * weights) @ means, (1, 0): (means.T * weights) @ q,
                (0, 1): (q.T * weights) @ means, (0, 0): (q.T * weights) @ q}
    out = np.zeros(o11.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        for (a, b), observed_ab in (((1, 1), o11), ((1, 0), o10), ((0, 1), o01), ((0, 0), o00)):
            e = pair_n * expected[(a, b)]
            out += (observed_ab - e) ** 2 / e
    out[pair_n <= 0] = np.nan
    np.fill_diagonal(out, np.nan)
    return out


def diagnostics(model, X, sample_weight=None):
    """Return the classification diagnostics and bivariate residuals of a fitted model on X.

    Parameters
    ----------
    model : BernoulliMixture
        Fitted.
    X : array-like or sparse matrix of shape (n_samples, n_features)
        In memory (0/1, NaN for missing cells, or any numbers with the model's ``binarize``).
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    dict
        ``"avepp"`` (K,), ``"classification_error"``, ``"entropy"``, ``"relative_entropy"``,
        ``"class_sizes"`` (``{"estimated": (K,), "modal": (K,)}``) and
        ``"bivariate_residuals"`` (D, D): definitions in :mod:`bmm_numba.selection.diagnostics`.
    """
    means, weights = model._fitted_parameters()
    data = encode(model._check_X(X, reset=False), model.binarize)
    resp = model.predict_proba(X)
    w = check_sample_weight(sample_weight, resp.shape[0], 1)
    K = resp.shape[1]
    modal = resp.argmax(axis=1)
    assigned = np.bincount(modal, weights=w, minlength=K)
    summed = np.bincount(modal, weights=w * resp[np.arange(resp.shape[0]), modal], minlength=K)
    avepp = np.full(K, np.nan)  # NaN: no row is assigned to the class
    avepp[assigned > 0] = summed[assigned > 0] / assigned[assigned > 0]
    total = float(w.sum())
    return {
        "avepp": avepp,
        "classification_error": float(1.0 - (w @ resp.max(axis=1)) / total),
        "entropy": classification_entropy(resp, w),
        "relative_entropy": relative_entropy(resp, w),
        "class_sizes": {"estimated": weights.copy(), "modal": assigned / total},
        "bivariate_residuals": bivariate_residuals(data, w, means, weights),
    }
