"""A text report of a fitted latent class model, in the manner of poLCA's and Mplus's printouts."""

from __future__ import annotations

import math

import numpy as np

from ..em.data import encode
from ..estimator.checks import check_sample_weight
from .diagnostics import diagnostics
from .fit_statistics import information_criteria, pattern_statistics
from .standard_errors import MAX_INFORMATION_PARAMETERS, standard_errors

__all__ = ["summary"]

#: Bivariate residuals listed (the largest first).
TOP_RESIDUALS = 5


def _cell(value, se, boundary):
    """``0.1234 (0.0123)``; ``(boundary)`` instead of the error for a parameter on the boundary."""
    return f"{value:.4f} " + ("(boundary)" if boundary else f"({se:.4f})")


def _error(se, name, index):
    """Return ``(standard error, on the boundary)`` of one parameter (NaN, False without errors)."""
    if se is None:
        return math.nan, False
    return getattr(se, name)[index], getattr(se, f"boundary_{name}")[index]


def _p_value(p):
    return "" if math.isnan(p) else f" (p = {p:.4f})"


def summary(model, X, *, sample_weight=None, method="information", feature_names=None):
    """Return the report of ``model`` fitted to X (see :meth:`BernoulliMixture.summary`).

    Parameters
    ----------
    model : BernoulliMixture
        Fitted.
    X : array-like or sparse matrix of shape (n_samples, n_features)
    sample_weight : array-like of shape (n_samples,), default=None
    method : {"information", "bootstrap"}, default="information"
    feature_names : sequence of str, default=None

    Returns
    -------
    str
    """
    means, weights = model._fitted_parameters()
    K, D = means.shape
    names = feature_names if feature_names is not None else getattr(model, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else [f"x{d}" for d in range(D)]
    if len(names) != D:
        raise ValueError(f"feature_names must have {D} names (one per feature); got {len(names)}")
    data = encode(model._check_X(X, reset=False), model.binarize)
    log_prob = model.score_samples(X)
    w = check_sample_weight(sample_weight, log_prob.shape[0], 1)
    n, log_l, p = float(w.sum()), float(w @ log_prob), K * D + K - 1
    crit = information_criteria(log_l, p, n)
    pattern = pattern_statistics(data, w, log_prob, p)
    diag = diagnostics(model, X, sample_weight=sample_weight)
    if method == "information" and p > MAX_INFORMATION_PARAMETERS:
        se, se_note = None, (f"not computed: {p} parameters (more than {MAX_INFORMATION_PARAMETERS}); "
                             "use method='bootstrap'")
    else:
        se = standard_errors(model, X, method, sample_weight=sample_weight)
        se_note = se.method
    width = max(6, *(len(name) for name in names))
    lines = [f"Latent class model (BernoulliMixture): {K} classes, {D} items, {n:g} rows"
             + ("" if sample_weight is None else " (sum of weights)"),
             f"alpha={model.alpha:g}, n_init={model.n_init}, tol={model.tol:g}; best start "
             + (f"converged in {model.n_iter_} iterations" if model.converged_ else
                f"not converged ({model.n_iter_} iterations)"),
             "",
             "Fit",
             f"  log-likelihood {log_l:.4f}   parameters {p}   residual df {pattern['df']:g}",
             "  " + "   ".join(f"{name} {crit[name]:.2f}" for name in ("AIC", "BIC", "SABIC", "CAIC", "AIC3")),
             f"  G2 {pattern['G2']:.4f}{_p_value(pattern['p_G2'])}   "
             f"chi2 {pattern['chi2']:.4f}{_p_value(pattern['p_chi2'])}"]
    if math.isnan(pattern["p_G2"]) and not math.isnan(pattern["G2"]):
        lines.append(f"  no chi-square p-values: 2^{D} cells > {n:g} rows or df < 1 (test K with the "
                     "bootstrap LRT, bmm_numba.blrt)")
    lines += ["",
              f"Classes (standard errors: {se_note})",
              f"  {'class':>5}  {'weight (SE)':>17}  {'modal share':>11}  {'avepp':>6}"]
    for k in range(K):
        lines.append(f"  {k:>5}  {_cell(weights[k], *_error(se, 'weights', k)):>17}  "
                     f"{diag['class_sizes']['modal'][k]:>11.4f}  {diag['avepp'][k]:>6.3f}")
    lines += ["",
              "Item-response probabilities P(item = 1 | class) (standard error; boundary: within "
              "1e-6 of 0 or 1, no Wald error)",
              "  " + f"{'item':<{width}}" + "".join(f"  {'class ' + str(k):>19}" for k in range(K))]
    for d in range(D):
        lines.append("  " + f"{names[d]:<{width}}" + "".join(
            f"  {_cell(means[k, d], *_error(se, 'means', (k, d))):>19}" for k in range(K)))
    bvr = diag["bivariate_residuals"]
    pairs = [(bvr[i, j], i, j) for i in range(D) for j in range(i + 1, D) if not np.isnan(bvr[i, j])]
    pairs.sort(key=lambda t: -t[0])
    lines += ["",
              "Diagnostics",
              f"  relative entropy {diag['relative_entropy']:.4f}   classification error "
              f"{diag['classification_error']:.4f}",
              "  largest bivariate residuals (> 3.84: local dependence at 5 %): "
              + (", ".join(f"{names[i]}-{names[j]} {v:.2f}" for v, i, j in pairs[:TOP_RESIDUALS]) or "none")]
    return "\n".join(lines)
