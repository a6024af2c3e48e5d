"""Model choice (bmm_numba.selection): fit statistics, G² and χ² against poLCA, the BLRT.

Every statistic is checked against a reference written here from its formula with NumPy/SciPy,
from the fitted ``means_`` and ``weights_`` (not from the package's own log-likelihood code).
"""

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import chi2 as chi2_dist

from bmm_numba import BernoulliMixture, blrt, select_n_components
from bmm_numba.datasets import load_lca

POLCA = {"carcinoma": {2: 62.365, 3: 15.262, 4: 6.423}, "values": {2: 2.7199}}
EXACT = {"alpha": 0, "n_init": 20, "tol": 1e-10, "max_iter": 5000, "random_state": 0}


def _pattern_prob(means, weights, patterns):
    """``p(x) = sum_k pi_k prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d)`` for each row of ``patterns``."""
    per_class = np.prod(np.where(patterns[:, None, :] == 1, means[None], 1.0 - means[None]), axis=2)
    return per_class @ weights


def _reference(est, X, w=None):
    """Every table statistic from its formula, over all 2^D cells (unobserved ones included)."""
    n_rows, D = X.shape
    w = np.ones(n_rows) if w is None else w
    N = w.sum()
    cells = np.array(list(itertools.product((0, 1), repeat=D)))
    prob = _pattern_prob(est.means_, est.weights_, cells)
    index = {tuple(c): i for i, c in enumerate(cells)}
    f = np.zeros(len(cells))
    for row, weight in zip(X, w, strict=True):
        f[index[tuple(int(v) for v in row)]] += weight
    e = N * prob
    g2 = 2 * sum(fc * math.log(fc / ec) for fc, ec in zip(f, e, strict=True) if fc > 0)
    x2 = float(np.sum((f - e) ** 2 / e))
    log_l = float(w @ np.log(_pattern_prob(est.means_, est.weights_, X)))
    K = est.means_.shape[0]
    p = K * D + K - 1
    resp = est.predict_proba(X)
    E = -float(w @ np.sum(resp * np.log(np.where(resp > 0, resp, 1.0)), axis=1))
    return {"log_likelihood": log_l, "G2": g2, "chi2": x2, "df": min(N, 2**D - 1) - p,
            "SABIC": -2 * log_l + p * math.log((N + 2) / 24), "CAIC": -2 * log_l + p * (math.log(N) + 1),
            "AIC3": -2 * log_l + 3 * p, "relative_entropy": 1 - E / (N * math.log(K)) if K > 1 else 1.0}


@pytest.mark.parametrize(("name", "K"), [("carcinoma", 2), ("carcinoma", 3), ("carcinoma", 4), ("values", 2)])
def test_g2_equals_polca(name, K):
    X, _ = load_lca(name)
    table = select_n_components(X, [K], **EXACT)
    assert table["G2"][0] == pytest.approx(POLCA[name][K], abs=0.01)


def test_statistics_equal_their_formulas():
    X, _ = load_lca("carcinoma")
    table = select_n_components(X, [1, 2, 3], random_state=0, n_init=3)
    for i, K in enumerate((1, 2, 3)):
        est = BernoulliMixture(K, random_state=0, n_init=3).fit(X)
        ref = _reference(est, X)
        for name, value in ref.items():
            assert table[name][i] == pytest.approx(value, rel=1e-9, abs=1e-9), (K, name)
    assert table["relative_entropy"][0] == 1.0
    # 2^7 = 128 cells > 118 rows: the chi-square reference does not hold, the p-values are NaN
    assert np.isnan(table["p_G2"]).all() and np.isnan(table["p_chi2"]).all()


def test_p_values_where_the_table_is_not_sparse():
    X, _ = load_lca("values")  # 16 cells, 216 rows
    table = select_n_components(X, [2], random_state=0, n_init=3)
    assert table["df"][0] == 15 - 9
    assert table["p_G2"][0] == pytest.approx(chi2_dist.sf(table["G2"][0], 6), rel=1e-12)
    assert table["p_chi2"][0] == pytest.approx(chi2_dist.sf(table["chi2"][0], 6), rel=1e-12)
    assert 0 < table["p_G2"][0] < 1


def test_counts_sparse_and_rows_give_the_same_table():
    X, _ = load_lca("cheating")
    patterns, _, counts = load_lca("cheating", as_patterns=True)
    params = {"random_state": 0, "n_init": 2, "alpha": 0, "tol": 1e-10, "max_iter": 2000}
    rows = select_n_components(X, [2], **params)
    weighted = select_n_components(patterns, [2], sample_weight=counts, **params)
    sparse = select_n_components(sp.csr_matrix(X), [2], **params)
    for name in ("G2", "chi2", "df", "p_G2", "p_chi2"):
        assert weighted[name][0] == pytest.approx(rows[name][0], rel=1e-3), name  # two fits: not bit-equal
        assert sparse[name][0] == pytest.approx(rows[name][0], rel=1e-9), name
    assert not np.isnan(rows["p_G2"][0])


def test_pattern_statistics_nan_where_not_meaningful():
    X, _ = load_lca("cheating")
    Xm = X.astype(float)
    Xm[0, 0] = np.nan
    missing = select_n_components(Xm, [2], random_state=0)
    weights = select_n_components(X, [2], random_state=0, sample_weight=np.full(X.shape[0], 0.5))
    for table in (missing, weights):
        for name in ("G2", "chi2", "p_G2", "p_chi2"):
            assert np.isnan(table[name][0]), name
        assert np.isfinite(table["BIC"][0]) and np.isfinite(table["df"][0])


def test_select_is_the_same_side_by_side():
    X, _ = load_lca("carcinoma")
    one = select_n_components(X, range(1, 4), random_state=0, n_init=2, n_workers=1)
    two = select_n_components(X, range(1, 4), random_state=0, n_init=2, n_workers=2)
    for name in one:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)


# ------------------------------------------------------------------------------------------------
# the bootstrap likelihood-ratio test
# ------------------------------------------------------------------------------------------------

def _two_classes(seed, n=150, d=6):
    rng = np.random.default_rng(seed)
    mu = np.array([[0.85] * (d // 2) + [0.15] * (d - d // 2), [0.15] * (d // 2) + [0.85] * (d - d // 2)])
    return (rng.random((n, d)) < mu[rng.integers(0, 2, n)]).astype(np.uint8)


def test_blrt_is_reproducible_and_the_same_side_by_side():
    X = _two_classes(0)
    one = blrt(X, 3, n_bootstrap=6, random_state=1, refit_starts=2, n_workers=1, alpha=0, max_iter=2000)
    two = blrt(X, 3, n_bootstrap=6, random_state=1, refit_starts=2, n_workers=2, alpha=0, max_iter=2000)
    again = blrt(X, 3, n_bootstrap=6, random_state=1, refit_starts=2, alpha=0, max_iter=2000)
    for other in (two, again):
        np.testing.assert_array_equal(one.bootstrap_statistics, other.bootstrap_statistics)
        assert one.p_value == other.p_value and one.statistic == other.statistic
    assert one.bootstrap_statistics.shape == (6,)
    # the p-value is (1 + #{T_b >= T}) / (B + 1), T = 2 (log L_K - log L_{K-1}) of the two fits
    assert one.p_value == (1 + np.sum(one.bootstrap_statistics >= one.statistic)) / 7
    null = BernoulliMixture(2, random_state=1, alpha=0, max_iter=2000).fit(X)
    alt = BernoulliMixture(3, random_state=1, alpha=0, max_iter=2000).fit(X)
    log_l = [float(np.log(_pattern_prob(m.means_, m.weights_, X)).sum()) for m in (null, alt)]
    assert one.log_likelihood_null == pytest.approx(log_l[0], rel=1e-12)
    # the K-class fit to X: the better of the plain fit and the replicates' search (alpha=0: the
    # objective that picks it is the log-likelihood)
    assert one.log_likelihood_alt >= log_l[1] - 1e-6
    assert one.statistic == pytest.approx(2 * (one.log_likelihood_alt - one.log_likelihood_null), rel=1e-12)


def test_blrt_rejects_one_class_for_two_separated_classes():
    result = blrt(_two_classes(1), 2, n_bootstrap=9, random_state=0, refit_starts=1)
    # T is hundreds of nats; a replicate from one class gives a few: the smallest p-value possible
    assert result.statistic > 50 and max(result.bootstrap_statistics) < result.statistic
    assert result.p_value == 0.1


def test_select_blrt_column_and_side_by_side():
    X = _two_classes(2, n=120)
    one = select_n_components(X, [1, 2, 3], blrt=4, refit_starts=1, random_state=0, n_workers=1)
    two = select_n_components(X, [1, 2, 3], blrt=4, refit_starts=1, random_state=0, n_workers=2)
    np.testing.assert_array_equal(one["BLRT_p"], two["BLRT_p"])
    assert np.isnan(one["BLRT_p"][0]) and one["BLRT_p"][1] == 0.2
    assert all(0 < p <= 1 for p in one["BLRT_p"][1:])
    assert np.isnan(select_n_components(X, [1, 2], random_state=0)["BLRT_p"]).all()


def test_blrt_with_counts_and_missing_cells():
    patterns, _, counts = load_lca("values", as_patterns=True)
    weighted = blrt(patterns, 2, n_bootstrap=4, sample_weight=counts, random_state=0, refit_starts=1)
    X, _ = load_lca("values")
    rows = blrt(X, 2, n_bootstrap=4, random_state=0, refit_starts=1)
    assert weighted.statistic == pytest.approx(rows.statistic, rel=1e-4)  # two fits: not bit-equal
    Xm = X.astype(float)
    Xm[::7, 1] = np.nan
    result = blrt(Xm, 2, n_bootstrap=3, random_state=0, refit_starts=1)
    assert np.isfinite(result.bootstrap_statistics).all()


def test_blrt_replicates_are_not_binarized_again():
    X = _two_classes(3, n=80)
    plain = blrt(X, 2, n_bootstrap=3, random_state=0, refit_starts=1)
    scaled = blrt(X * 255.0, 2, n_bootstrap=3, random_state=0, refit_starts=1, binarize=128)
    np.testing.assert_array_equal(plain.bootstrap_statistics, scaled.bootstrap_statistics)


@pytest.mark.parametrize(("kwargs", "match"), [({"n_components": 1}, "n_components"),
                                               ({"n_components": 2, "n_bootstrap": 0}, "n_bootstrap"),
                                               ({"n_components": 2, "refit_starts": 0}, "refit_starts"),
                                               ({"n_components": 2, "n_workers": 0}, "n_workers")])
def test_blrt_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        blrt(_two_classes(0, n=30), **kwargs)


def test_select_bad_blrt():
    with pytest.raises(ValueError, match="blrt"):
        select_n_components(_two_classes(0, n=30), [1, 2], blrt=-1)
