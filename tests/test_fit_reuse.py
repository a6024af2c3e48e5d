"""The subsampled short-EM start, and what one fit builds reused across starts and K (issue 13)."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import xlogy
from sklearn.utils import check_random_state

from bmm_numba import BernoulliMixture, select_n_components
from bmm_numba.em import data as mixture_data
from bmm_numba.em import loop
from bmm_numba.em.data import encode
from bmm_numba.em.loop import SHORT_EM_MIN_ROWS, short_em_rows

from .problems import mixture_rows

# short fits on purpose: whether they converge is not what these tests check
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fit(X, monkeypatch=None, min_rows=None, **params):
    if min_rows is not None:
        _sample_rows(monkeypatch, min_rows)
    return BernoulliMixture(**{"n_components": 3, "random_state": 0, "max_iter": 30, **params}).fit(X)


def _sample_rows(monkeypatch, rows):
    """Make the short-EM sample ``rows`` rows whatever K (small problems, fast tests)."""
    monkeypatch.setattr(loop, "SHORT_EM_MIN_ROWS", rows)
    monkeypatch.setattr(loop, "SHORT_EM_ROWS_PER_COMPONENT", 1)


# ------------------------------------------------------------------------------------------------
# which rows the short-EM runs read
# ------------------------------------------------------------------------------------------------

def test_short_em_rows_none_up_to_the_minimum_and_no_draw():
    rng = check_random_state(0)
    state = rng.get_state()[1].copy()
    assert short_em_rows(SHORT_EM_MIN_ROWS, np.ones(SHORT_EM_MIN_ROWS), 1, rng) is None
    assert short_em_rows(10, np.ones(10), 1, rng, min_rows=10) is None
    assert short_em_rows(100, np.ones(100), 5, rng, min_rows=10, rows_per_component=20) is None
    for n in (1797, 1760):  # digits and text: the panel's small data keep their start
        assert all(short_em_rows(n, np.ones(n), K, rng) is None for K in (1, 2, 5, 10, 20))
    np.testing.assert_array_equal(rng.get_state()[1], state)  # nothing drawn: same start as before


@pytest.mark.parametrize("n, min_rows, per_component, K, size", [(100, 30, 1, 2, 30), (100, 10, 5, 5, 25),
                                                                   (100, 10, 33, 3, 99)])
def test_short_em_rows_is_a_sorted_sample_of_positive_weight_rows(n, min_rows, per_component, K, size):
    w = np.random.default_rng(0).uniform(0, 1, n)
    w[::7] = 0.0
    index = short_em_rows(n, w, K, check_random_state(1), min_rows=min_rows, rows_per_component=per_component)
    if size >= np.count_nonzero(w):
        assert index is None
        return
    assert index.size == size
    assert np.all(np.diff(index) > 0) and np.all(w[index] > 0)
    again = short_em_rows(n, w, K, check_random_state(1), min_rows=min_rows, rows_per_component=per_component)
    np.testing.assert_array_equal(index, again)


def test_small_data_fit_is_exactly_the_full_data_start(monkeypatch):
    """Up to SHORT_EM_MIN_ROWS rows the default start is what it was (bit-identical)."""
    X = mixture_rows(0, n=300, d=12)
    default = _fit(X)
    full = _fit(X, monkeypatch, min_rows=10**9)
    np.testing.assert_array_equal(default.means_, full.means_)
    np.testing.assert_array_equal(default.lower_bounds_, full.lower_bounds_)


def test_subsampled_start_differs_and_is_deterministic(monkeypatch):
    X = mixture_rows(1, n=400, d=12, k=4)
    sub = _fit(X, monkeypatch, min_rows=60, n_components=4)
    again = _fit(X, monkeypatch, min_rows=60, n_components=4)
    np.testing.assert_array_equal(sub.means_, again.means_)
    full = _fit(X, monkeypatch, min_rows=10**9, n_components=4)
    assert not np.array_equal(sub.lower_bounds_, full.lower_bounds_)  # the rule was really applied


def test_subsampled_start_reads_only_the_sample(monkeypatch):
    """The short EM runs on the drawn rows and their weights, then the full run on every row."""
    X = mixture_rows(2, n=300, d=10)
    seen = []
    real = loop.InMemorySource.__init__

    def spy(self, data, w, backend):
        seen.append((data.n_samples, float(w.sum())))
        real(self, data, w, backend)

    monkeypatch.setattr(loop.InMemorySource, "__init__", spy)
    w = np.random.default_rng(0).uniform(0.5, 2.0, 300)
    _sample_rows(monkeypatch, 50)
    BernoulliMixture(3, random_state=0, max_iter=5).fit(X, sample_weight=w)
    index = short_em_rows(300, w, 3, check_random_state(0))
    assert seen == [(300, float(w.sum())), (50, float(w[index].sum()))]


def test_zero_weight_rows_change_nothing_with_the_subsample(monkeypatch):
    X = mixture_rows(3, n=400, d=10)
    w = np.random.default_rng(1).uniform(0.5, 2.0, 400)
    w[::3] = 0.0
    _sample_rows(monkeypatch, 80)
    with_zeros = BernoulliMixture(3, random_state=0, max_iter=30).fit(X, sample_weight=w)
    keep = w > 0
    without = BernoulliMixture(3, random_state=0, max_iter=30).fit(X[keep], sample_weight=w[keep])
    np.testing.assert_allclose(with_zeros.means_, without.means_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(with_zeros.lower_bound_, without.lower_bound_, rtol=1e-12)


def test_dense_sparse_and_missing_forms_take_the_same_sample(monkeypatch):
    X = mixture_rows(4, n=400, d=15)
    _sample_rows(monkeypatch, 70)
    dense = BernoulliMixture(3, random_state=0, max_iter=30).fit(X)
    sparse = BernoulliMixture(3, random_state=0, max_iter=30).fit(sp.csr_matrix(X))
    np.testing.assert_allclose(dense.means_, sparse.means_, rtol=0, atol=1e-9)
    Xm = X.astype(float)
    Xm[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    missing = BernoulliMixture(3, random_state=0, max_iter=30).fit(Xm)
    assert np.all(np.isfinite(missing.means_)) and np.isfinite(missing.lower_bound_)
    data = encode(Xm)
    rows = data.rows(np.array([0, 5, 9]))
    assert rows.kind == "missing" and rows.X.flags.c_contiguous
    assert data.rows(np.array([0, 5, 9])) is rows and data.rows(np.array([0, 5, 8])) is not rows


# ------------------------------------------------------------------------------------------------
# select_n_components: validated and encoded once, results as separate fits
# ------------------------------------------------------------------------------------------------

def _separate_table(X, Ks, sample_weight=None, **params):
    """The table from one independent fit per K (the former implementation's loop)."""
    rows = []
    for K in Ks:
        est = BernoulliMixture(K, **params)
        est.fit(X, sample_weight=sample_weight)
        log_prob = est.score_samples(X)
        resp = est.predict_proba(X)
        n = log_prob.shape[0]
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        log_l = float(w @ log_prob)
        p = est.means_.shape[0] * est.means_.shape[1] + est.means_.shape[0] - 1
        bic = -2.0 * log_l + p * np.log(w.sum())
        entropy = -float(w @ xlogy(resp, resp).sum(axis=1)) + 0.0
        rows.append((K, log_l, p, -2.0 * log_l + 2.0 * p, bic, bic + 2.0 * entropy, entropy, bool(est.converged_)))
    return rows


@pytest.mark.parametrize("form", ["dense", "sparse", "missing", "weighted", "sampled"])
@pytest.mark.filterwarnings("ignore:The best objective.*not replicated:UserWarning")  # the separate fits' n_init=2
def test_select_table_equals_one_fit_per_k(form, monkeypatch):
    X = mixture_rows(5, n=260, d=14, k=3)  # >= LUT_MIN_ROWS rows: the table kernel and its row index
    sample_weight = None
    if form == "sampled":  # the short EM on a row sample, shared by every K
        _sample_rows(monkeypatch, 100)
    if form == "sparse":
        X = sp.csr_matrix(X)
    elif form == "missing":
        X = X.astype(float)
        X[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    elif form == "weighted":
        sample_weight = np.random.default_rng(1).uniform(0.0, 3.0, X.shape[0])
    Ks = [1, 2, 4, 9]
    params = {"random_state": 0, "n_init": 2, "max_iter": 40}
    table = select_n_components(X, Ks, sample_weight=sample_weight, **params)
    expected = _separate_table(X, Ks, sample_weight, **params)
    columns = ("K", "log_likelihood", "n_parameters", "AIC", "BIC", "ICL", "entropy", "converged")
    for i, row in enumerate(expected):
        got = tuple(table[name][i] for name in columns)
        assert got[0] == row[0] and got[2] == row[2] and got[7] == row[7]
        np.testing.assert_array_equal(got[1], row[1])  # the same fit: the same log-likelihood, exactly
        np.testing.assert_allclose(got[3:7], row[3:7], rtol=1e-12, atol=1e-9)


def test_select_builds_one_row_index_per_table_width(monkeypatch):
    calls = []
    real = mixture_data.build_row_index
    monkeypatch.setattr(mixture_data, "build_row_index", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    X = mixture_rows(6, n=300, d=16, k=3)
    select_n_components(X, range(1, 11), random_state=0, max_iter=5, n_workers=1)
    assert len(calls) == 2  # K = 1..8 share one table width, K = 9, 10 the next
    # side by side, each fit has its own copy of the caches: one index per fit
    calls.clear()
    select_n_components(X, range(1, 11), random_state=0, max_iter=5, n_workers=2)
    assert len(calls) == 10


def test_select_validates_every_k_before_fitting():
    with pytest.raises(ValueError, match="n_components"):
        select_n_components(mixture_rows(0, n=50, d=5), [2, 0])
