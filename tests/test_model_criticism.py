"""Diagnostics, standard errors and the summary of a fitted model (bmm_numba.selection).

References are written here from the formulas, with NumPy loops over items and item pairs, from
``means_``, ``weights_`` and ``predict_proba``; the observed information is checked against a
finite-difference Hessian of a log-likelihood written here.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from bmm_numba import BernoulliMixture
from bmm_numba.datasets import load_lca


def _bvr_reference(X, means, weights):
    """Pearson chi-square of each item pair's 2 x 2 table, rows observing both, loop by loop."""
    D = X.shape[1]
    out = np.full((D, D), np.nan)
    for i in range(D):
        for j in range(D):
            if i == j:
                continue
            both = ~np.isnan(X[:, i]) & ~np.isnan(X[:, j])
            n = both.sum()
            total = 0.0
            for a in (0, 1):
                for b in (0, 1):
                    observed = np.sum((X[both, i] == a) & (X[both, j] == b))
                    pa = means[:, i] if a else 1 - means[:, i]
                    pb = means[:, j] if b else 1 - means[:, j]
                    expected = n * np.sum(weights * pa * pb)
                    total += (observed - expected) ** 2 / expected
            out[i, j] = total
    return out


def _fitted(name="carcinoma", K=3, **params):
    X, columns = load_lca(name)
    return X, BernoulliMixture(K, random_state=0, n_init=3, **params).fit(X)


def test_diagnostics_equal_an_independent_computation():
    X, bm = _fitted()
    d = bm.diagnostics(X)
    resp = bm.predict_proba(X)
    modal = resp.argmax(axis=1)
    for k in range(3):
        assert d["avepp"][k] == pytest.approx(resp[modal == k, k].mean(), abs=1e-6)
        assert d["class_sizes"]["modal"][k] == pytest.approx(np.mean(modal == k), abs=1e-12)
    np.testing.assert_allclose(d["class_sizes"]["estimated"], bm.weights_)
    assert d["classification_error"] == pytest.approx(1 - resp.max(axis=1).mean(), abs=1e-12)
    entropy = -np.sum(resp * np.log(np.where(resp > 0, resp, 1)))
    assert d["relative_entropy"] == pytest.approx(1 - entropy / (len(X) * np.log(3)), abs=1e-12)
    np.testing.assert_allclose(d["bivariate_residuals"], _bvr_reference(X.astype(float), bm.means_, bm.weights_),
                               atol=1e-6, rtol=1e-6)


def test_bivariate_residuals_nan_aware_sparse_and_weighted():
    X, _ = load_lca("values")
    Xm = X.astype(float)
    rng = np.random.default_rng(0)
    Xm[rng.random(X.shape) < 0.15] = np.nan
    bm = BernoulliMixture(2, random_state=0).fit(Xm)
    np.testing.assert_allclose(bm.diagnostics(Xm)["bivariate_residuals"], _bvr_reference(Xm, bm.means_, bm.weights_),
                               atol=1e-6, rtol=1e-6)
    bm = BernoulliMixture(2, random_state=0).fit(X)
    dense = bm.diagnostics(X)
    np.testing.assert_allclose(bm.diagnostics(sp.csr_matrix(X))["bivariate_residuals"], dense["bivariate_residuals"],
                               rtol=1e-12)
    patterns, _, counts = load_lca("values", as_patterns=True)
    weighted = bm.diagnostics(patterns, sample_weight=counts)
    for name in ("bivariate_residuals", "avepp"):
        np.testing.assert_allclose(weighted[name], dense[name], rtol=1e-10)


def _log_likelihood(theta, X, K, D, alpha):
    """Log-likelihood plus the Beta log-prior (mode m_d: the smoothed column mean) up to a constant."""
    mu = theta[:K * D].reshape(K, D)
    pi = np.append(theta[K * D:], 1 - theta[K * D:].sum())
    observed = ~np.isnan(X)
    p = np.prod(np.where(observed[:, None, :], np.where(X[:, None, :] == 1, mu[None], 1 - mu[None]), 1.0), axis=2)
    m = (np.nansum(X, axis=0) + 1) / (observed.sum(axis=0) + 2)
    return np.log(p @ pi).sum() + np.sum(2 * alpha * m * np.log(mu) + 2 * alpha * (1 - m) * np.log(1 - mu))


@pytest.mark.parametrize(("missing", "alpha"), [(False, 0.0), (True, 0.0), (False, 0.5), (True, 2.0)])
def test_information_errors_equal_a_finite_difference_hessian(missing, alpha):
    rng = np.random.default_rng(3)
    truth = np.array([[0.8, 0.7, 0.25, 0.3, 0.65], [0.2, 0.35, 0.7, 0.75, 0.3]])
    X = (rng.random((400, 5)) < truth[rng.integers(0, 2, 400)]).astype(float)
    if missing:
        X[rng.random(X.shape) < 0.1] = np.nan
    bm = BernoulliMixture(2, alpha=alpha, n_init=3, tol=1e-12, max_iter=5000, random_state=0).fit(X)
    se = bm.standard_errors(X)
    K, D = bm.means_.shape
    theta = np.concatenate([bm.means_.ravel(), bm.weights_[:-1]])
    P, h = theta.size, 1e-5
    H = np.empty((P, P))
    for i in range(P):
        for j in range(P):
            ei, ej = np.eye(P)[i] * h, np.eye(P)[j] * h
            f = [_log_likelihood(theta + si * ei + sj * ej, X, K, D, alpha)
                 for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            H[i, j] = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h)
    reference = np.sqrt(np.diag(np.linalg.inv(-H)))
    np.testing.assert_allclose(se.means.ravel(), reference[:K * D], rtol=1e-4)
    np.testing.assert_allclose(se.weights, [reference[-1]] * 2, rtol=1e-4)  # pi_2 = 1 - pi_1: the same error
    assert not se.boundary_means.any()


def test_boundary_parameters_are_reported():
    X, bm = _fitted(alpha=0, tol=1e-10, max_iter=5000)
    se = bm.standard_errors(X)
    boundary = np.minimum(bm.means_, 1 - bm.means_) < 1e-6
    assert boundary.any()
    np.testing.assert_array_equal(se.boundary_means, boundary)
    assert np.isnan(se.means[boundary]).all() and np.isfinite(se.means[~boundary]).all()
    assert "(boundary)" in bm.summary(X)


def test_bootstrap_errors_are_reproducible_and_near_the_information_errors():
    X, _ = load_lca("values")
    bm = BernoulliMixture(2, alpha=0, n_init=3, tol=1e-8, max_iter=2000, random_state=0).fit(X)
    one = bm.standard_errors(X, method="bootstrap", n_bootstrap=40, n_workers=1)
    two = bm.standard_errors(X, method="bootstrap", n_bootstrap=40, n_workers=2)
    np.testing.assert_array_equal(one.means, two.means)
    np.testing.assert_array_equal(one.weights, two.weights)
    info = bm.standard_errors(X)
    ratio = one.means / info.means
    assert one.n_bootstrap + one.n_dropped == 40
    assert 0.5 < np.median(ratio) < 2.0  # 40 replicates: a rough agreement (bench/ measures it)


def test_summary_lists_every_part():
    X, columns = load_lca("carcinoma")
    bm = BernoulliMixture(2, random_state=0).fit(X)
    text = bm.summary(X, feature_names=columns)
    for part in ("log-likelihood", "SABIC", "G2", "chi2", "avepp", "relative entropy", "bivariate residuals"):
        assert part in text
    assert all(f"\n  {c} " in text for c in columns)
    with pytest.raises(ValueError, match="feature_names"):
        bm.summary(X, feature_names=["a"])


def test_bad_method_and_not_identified():
    X, bm = _fitted("values", 2)
    with pytest.raises(ValueError, match="method"):
        bm.standard_errors(X, method="hessian")
    with pytest.raises(ValueError, match="n_bootstrap"):
        bm.standard_errors(X, method="bootstrap", n_bootstrap=1)
    # two identical classes: the information is singular, said so, errors NaN (not garbage)
    twin = BernoulliMixture(2, alpha=0, random_state=0).fit(X)
    twin.means_ = np.array([[0.3, 0.6, 0.4, 0.5]] * 2)
    with pytest.warns(UserWarning, match="not positive definite"):
        se = twin.standard_errors(X)
    assert np.isnan(se.means).all()
