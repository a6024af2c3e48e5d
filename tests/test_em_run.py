"""The EM run (kernels/em_run.py) and its row-list pass (kernels/row_lists.py) against the oracle.

The pass is checked cell by cell against tests/oracle.py on shapes that include N = 1, K = 1 and
D = 1; the run's plain EM against the oracle's EM; the accelerated runs for what they promise
(objectives never decrease, parameters in range, the same optimum); the stopping rule on
sequences with known limits; fits for identical results whatever the thread count and whether
their starts run side by side.
"""

import warnings

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import betaln

from bmm_numba import BernoulliMixture
from bmm_numba.em import loop
from bmm_numba.em.backend import resolve_backend
from bmm_numba.em.collapse import MIN_MASS, prior_constant
from bmm_numba.em.data import encode
from bmm_numba.kernels import em_run
from bmm_numba.kernels.row_lists import lists_pass, log_terms, padded_pairs

from . import oracle

SHAPES = [(1, 1, 1), (1, 5, 3), (7, 1, 2), (9, 4, 1), (40, 13, 5), (64, 9, 10)]
KINDS = ["dense", "missing", "sparse"]


def problem(rng, n, d, k, kind):
    X = (rng.random((n, d)) < rng.uniform(0.1, 0.9, d)).astype(float)
    if kind == "missing":
        X[rng.random((n, d)) < 0.25] = np.nan
    mu = rng.uniform(0.02, 0.98, (k, d))
    pi = rng.dirichlet(np.ones(k))
    w = rng.choice([0.0, 0.5, 1.0, 2.0], size=n)
    w[0] = 1.0
    return X, mu, pi, w


def encoded(X, kind):
    data = encode(sp.csr_matrix(X) if kind == "sparse" else X)
    assert data.kind == kind or (kind == "missing" and not np.isnan(X).any())
    return data


def run_pass(data, w, mu, pi, alpha=0.0, m=None):
    K, D = mu.shape
    KP = padded_pairs(K)
    has_missing = data.lists.missing.size > 0
    Dm = D if has_missing else 0
    weights, log_1m, bias = np.empty(D * KP), np.empty((Dm, KP)), np.empty(KP)
    nk, S, M, row = np.empty(KP), np.empty(D * KP), np.empty((Dm, KP)), np.empty(KP)
    m = np.full(D, 0.5) if m is None else m
    prior_sum = log_terms(mu, pi, weights, log_1m, bias, alpha, m)
    log_lik = lists_pass(data.lists, w, weights, log_1m, bias, nk, S, M, row)
    S = S.reshape(D, KP)[:, :K].T
    M = M[:, :K].T if has_missing else np.zeros((K, D))
    return log_lik, nk[:K], S, M, prior_sum


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "d", "k"), SHAPES)
def test_pass_equals_the_oracle(kind, n, d, k):
    rng = np.random.default_rng(n * 100 + d * 10 + k)
    X, mu, pi, w = problem(rng, n, d, k, kind)
    data = encoded(X, kind)
    log_lik, nk, S, M, prior_sum = run_pass(data, w, mu, pi, alpha=0.7, m=oracle.column_means(X, w))
    resp, log_norm = oracle.e_step(X, mu, pi)
    rw = resp * w[:, None]
    observed = ~np.isnan(X)
    expected_S = rw.T @ np.where(observed, X, 0.0)
    expected_M = rw.T @ (~observed).astype(float)
    assert_allclose(log_lik, w @ log_norm, rtol=1e-12, atol=1e-12)
    assert_allclose(nk, rw.sum(axis=0), rtol=1e-12, atol=1e-14)
    assert_allclose(S, expected_S, rtol=1e-12, atol=1e-14)
    assert_allclose(M, expected_M, rtol=1e-12, atol=1e-14)
    # the pass returns the prior's variable part; the caller adds the normalising constant
    m = oracle.column_means(X, w)
    constant = -k * np.sum(betaln(1.4 * m + 1.0, 1.4 * (1.0 - m) + 1.0))
    assert_allclose(prior_sum + constant, oracle.log_prior(mu, 0.7, m), rtol=1e-12)


def test_pass_skips_rows_of_weight_zero_even_when_impossible():
    # a row of weight 0 may be explained by no component (log p = -inf): it changes no sum
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    mu = np.array([[1e-10, 1 - 1e-10]])
    data = encoded(X, "dense")
    log_lik, nk, S, _, _ = run_pass(data, np.array([0.0, 1.0]), mu, np.ones(1))
    assert np.isfinite(log_lik) and nk[0] == 1.0 and np.array_equal(S, [[0.0, 1.0]])


def fixed_run(X, mu, pi, n_iter, alpha, scheme, tol=0.0, w=None, kind="dense"):
    data = encoded(X, kind)
    w = np.ones(data.n_samples) if w is None else w
    m = loop.InMemorySource(data, w, resolve_backend("numba")).prior_mean
    bounds = np.empty(n_iter)
    out = em_run.compiled_run(data.lists, w, m, alpha, prior_constant(alpha, m, len(pi)), float(w.sum()),
                              MIN_MASS * w.sum() / len(w), mu, pi, max_passes=n_iter, tol=tol, scheme=scheme,
                              report_every=0, bounds=bounds)
    return out, bounds[:out[2]]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_plain_compiled_run_equals_the_oracle_em(kind, alpha):
    rng = np.random.default_rng(3)
    X, _, _, _ = problem(rng, 60, 8, 3, kind)
    mu0, pi0 = rng.uniform(0.2, 0.8, (3, 8)), np.array([0.2, 0.3, 0.5])
    (mu, pi, n_iter, n_passes, reason), bounds = fixed_run(X, mu0, pi0, 12, alpha, em_run.PLAIN, kind=kind)
    assert reason == em_run.MAX_PASSES and n_iter == n_passes == 12
    expected_mu, expected_pi, expected_bounds = oracle.em(X, mu0, pi0, 12, alpha)
    assert_allclose(mu, expected_mu, atol=1e-10)
    assert_allclose(pi, expected_pi, atol=1e-12)
    assert_allclose(bounds, expected_bounds, rtol=1e-11)


@pytest.mark.parametrize("scheme", [em_run.SQUAREM, em_run.OVERRELAX])
@pytest.mark.parametrize("kind", KINDS)
def test_accelerated_runs_never_decrease_and_reach_plain_em_s_optimum(scheme, kind):
    rng = np.random.default_rng(11)
    X, _, _, _ = problem(rng, 120, 7, 3, kind)
    mu0, pi0 = rng.uniform(0.3, 0.7, (3, 7)), np.full(3, 1 / 3)
    (mu, pi, n_iter, n_passes, reason), bounds = fixed_run(X, mu0, pi0, 20000, 0.0, scheme, kind=kind)
    (_, _, plain_iter, _, _), plain = fixed_run(X, mu0, pi0, 20000, 0.0, em_run.PLAIN, kind=kind)
    assert reason == em_run.CONVERGED
    assert np.all(np.diff(bounds) >= -em_run.ROUNDING * np.abs(bounds[1:]))
    assert n_passes >= n_iter and n_passes < plain_iter  # fewer passes than plain EM
    assert abs(bounds[-1] - plain[-1]) < 1e-8
    assert np.all((mu >= 1e-10) & (mu <= 1 - 1e-10)) and pi.sum() == pytest.approx(1.0) and np.all(pi > 0)


def test_extrapolated_points_stay_in_range():
    theta = np.array([-1e6, 1e6, 0.0, 3.0, -800.0, 800.0])  # 2 x 2 means, 2 log-weights
    mu, pi = np.empty((2, 2)), np.empty(2)
    assert em_run._from_free(theta, mu, pi)
    assert np.all((mu >= 1e-10) & (mu <= 1 - 1e-10)) and np.all(pi >= 0) and pi.sum() == pytest.approx(1.0)
    theta[0] = np.nan
    assert not em_run._from_free(theta, mu, pi)


@pytest.mark.parametrize("rule", ["converged", "confirmed"])
@pytest.mark.parametrize(("rate", "tol", "stops_within"), [(0.5, 1e-6, 1e-6), (0.99, 1e-6, 1e-6), (0.999, 1e-8, 1e-8)])
def test_the_stopping_rule_estimates_the_distance_to_the_limit(rule, rate, tol, stops_within):
    # a linearly converging sequence with a known limit: the rule stops within tol of it
    stops = getattr(em_run, rule)
    limit = -10.0
    bounds = limit - rate ** np.arange(20000)
    n = next(n for n in range(2, bounds.size) if stops(bounds, n, tol))
    assert limit - bounds[n - 1] < stops_within * abs(limit) * 1.5
    if rule == "converged":
        assert not stops(bounds, n - 1, tol) or n == 2
    else:
        assert n > em_run.CONFIRM_RATIOS + 1  # read from CONFIRM_RATIOS ratios


def saddle_changes():
    # one-hot K=5 (seed 0): a fast drop, then EM leaving a saddle (changes growing)
    return np.array([1.2e-3, 1.07e-5, 1.7e-7, 1.9e-7, 2.3e-7, 3.1e-7, 6e-7, 2e-6])


def test_a_drop_then_growth_is_not_confirmed():
    bounds = -42.0 + np.concatenate([[0.0], np.cumsum(saddle_changes())])
    # the cycle-rate rule is fooled where the changes dropped (at 1.7e-7 and 1.9e-7) ...
    assert em_run.converged(bounds, 4, 1e-6) and em_run.converged(bounds, 5, 1e-6)
    # ... three ratios of plain changes in a row are not, anywhere
    assert not any(em_run.confirmed(bounds, n, 1e-6) for n in range(2, bounds.size + 1))


def test_a_confirmation_is_refuted_by_growth_or_by_a_rate_too_slow_for_the_tolerance():
    def bounds_of(*changes):
        return -9.0 + np.concatenate([[0.0], np.cumsum(changes)])

    tol = 1e-6  # limit 9e-6 here
    assert em_run.refuted(bounds_of(1.7e-7, 1.9e-7), 3, tol)  # growing
    assert em_run.refuted(bounds_of(4.0e-6, 3.5e-6), 3, tol)  # rate 0.875: 2.45e-5 still to go
    assert em_run.refuted(bounds_of(4.0e-5, 2.0e-5), 3, tol)  # the change itself above the limit
    assert not em_run.refuted(bounds_of(4.0e-6, 1.0e-6), 3, tol)  # rate 0.25: 3.3e-7 to go
    assert not em_run.refuted(bounds_of(4.0e-6, 0.0), 3, tol)  # flat
    # whatever refutes also fails the confirmation that would follow with these two changes last
    for changes in [(1e-3, 1.7e-7, 1.9e-7), (1e-3, 4.0e-6, 3.5e-6), (1e-3, 4.0e-5, 2.0e-5)]:
        b = bounds_of(1e-2, *changes)
        assert em_run.refuted(b, b.size, tol) and not em_run.confirmed(b, b.size, tol)


@pytest.mark.parametrize("scheme", [em_run.SQUAREM, em_run.OVERRELAX, em_run.PLAIN])
def test_runs_end_on_plain_steps_whose_changes_shrink(scheme):
    rng = np.random.default_rng(5)
    X, _, _, _ = problem(rng, 200, 9, 3, "dense")
    mu0, pi0 = rng.uniform(0.3, 0.7, (3, 9)), np.full(3, 1 / 3)
    (_, _, n_iter, _, reason), bounds = fixed_run(X, mu0, pi0, 20000, 0.0, scheme, tol=1e-6)
    assert reason == em_run.CONVERGED
    assert em_run.confirmed(bounds, n_iter, 1e-6)
    changes = np.diff(bounds)[-(em_run.CONFIRM_RATIOS + 1):]
    assert np.all(changes > 0) and np.all(np.diff(changes) < 0)


def test_the_stopping_rule_never_converges_on_a_decrease_and_always_on_a_flat_objective():
    assert not em_run.converged(np.array([-1.0, -1.1]), 2, 1.0)
    assert em_run.converged(np.array([-5.0, -5.0]), 2, 0.0)
    assert not em_run.converged(np.array([-5.0, -4.9999]), 2, 0.0)  # tol=0: the fixed point only
    growing = -10 + np.cumsum(np.full(10, 1e-9) * 1.5 ** np.arange(10))  # EM leaving a saddle
    assert not any(em_run.converged(growing, n, 1e-6) for n in range(2, 11))
    assert not any(em_run.confirmed(growing, n, 1e-6) for n in range(2, 11))
    assert not em_run.confirmed(np.array([-1.0, -1.1]), 2, 1.0)
    assert em_run.confirmed(np.array([-5.0, -5.0]), 2, 0.0)


def test_interpreted_and_compiled_runs_agree():
    rng = np.random.default_rng(5)
    X, _, _, _ = problem(rng, 300, 10, 3, "dense")
    common = {"n_components": 3, "random_state": 0, "tol": 1e-8}
    compiled = BernoulliMixture(**common).fit(X)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loop, "COMPILED_RUN_MAX_WORK", 0)  # the same iterations around the backend's pass
        interpreted = BernoulliMixture(**common).fit(X)
    assert compiled.n_iter_ == interpreted.n_iter_
    assert_allclose(compiled.lower_bounds_, interpreted.lower_bounds_, rtol=1e-10)
    assert_allclose(compiled.means_, interpreted.means_, atol=1e-8)


@pytest.mark.parametrize("run", ["compiled", "interpreted"])
@pytest.mark.parametrize("form", ["dense", "missing", "sparse"])
def test_fits_are_identical_for_any_thread_count_and_with_starts_side_by_side(form, run, monkeypatch):
    rng = np.random.default_rng(8)
    X, _, _, _ = problem(rng, 250, 12, 3, "missing" if form == "missing" else "dense")
    X = sp.csr_matrix(X) if form == "sparse" else X
    if run == "interpreted":  # as on large data: the Python loop around the (threaded) passes
        monkeypatch.setattr(loop, "COMPILED_RUN_MAX_WORK", 0)
    params = {"n_components": 4, "n_init": 4, "random_state": 3}

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # starts may not replicate
            return BernoulliMixture(**params).fit(X)

    from bmm_numba.em import concurrent

    monkeypatch.setattr(concurrent, "MIN_TASK_WORK", 0)  # these small fits side by side, whatever they cost
    assert loop.fit_workers(loop.InMemorySource(encode(X), np.ones(250), resolve_backend("numba")), 4, 4, 100) == \
        min(4, numba.get_num_threads())
    reference = fit()
    default = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one_thread = fit()
    finally:
        numba.set_num_threads(default)
    monkeypatch.setattr(loop, "concurrent_workers", lambda *args, **kwargs: 1)  # every start in turn
    in_turn = fit()
    for other in (one_thread, in_turn):
        assert_array_equal(other.means_, reference.means_)
        assert_array_equal(other.weights_, reference.weights_)
        assert_array_equal(other.lower_bounds_, reference.lower_bounds_)
        assert_array_equal(other.start_objectives_, reference.start_objectives_)


def test_many_distinct_dense_rows_take_the_table_pass_and_reach_the_same_fit(monkeypatch):
    rng = np.random.default_rng(4)
    n = loop.TABLE_RUN_MIN_ROWS
    K = -(-loop.TABLE_RUN_MIN_ROW_COMPONENTS // n)
    centres = rng.uniform(0.05, 0.95, (K, 40))  # a mixture with a sharp optimum
    X = (rng.random((n, 40)) < centres[rng.integers(0, K, n)]).astype(np.uint8)
    backend = resolve_backend("numba")
    assert loop.InMemorySource(encode(X), np.ones(n), backend).row_lists(K) is None  # the table pass
    assert loop.InMemorySource(encode(X), np.ones(n), backend).row_lists(K - 1) is not None  # too little work
    assert loop.InMemorySource(encode(X[:-1]), np.ones(n - 1), backend).row_lists(K + 1) is not None  # too few rows
    repeated = np.repeat(X[:20], -(-n // 20), axis=0)[:n]
    assert loop.InMemorySource(encode(repeated), np.ones(n), backend).row_lists(K) is not None  # patterns
    params = {"n_components": K, "random_state": 0, "tol": 0.0, "max_iter": 300}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = BernoulliMixture(**params).fit(X)
        monkeypatch.setattr(loop, "TABLE_RUN_MIN_ROWS", n + 1)
        lists = BernoulliMixture(**params).fit(X)
    assert_allclose(table.lower_bound_, lists.lower_bound_, rtol=1e-9)
    # the same fixed point, its components possibly in another order (a start's tie went the other way)
    order_t, order_l = np.argsort(table.means_.sum(axis=1)), np.argsort(lists.means_.sum(axis=1))
    assert_allclose(table.means_[order_t], lists.means_[order_l], atol=1e-6)
    assert_allclose(table.weights_[order_t], lists.weights_[order_l], atol=1e-6)


def test_start_objectives_and_the_not_replicated_warning():
    rng = np.random.default_rng(2)
    X = (rng.random((200, 10)) < 0.5).astype(np.uint8)  # no structure: starts end in different places
    bm = BernoulliMixture(4, n_init=3, init_params="random", alpha=0.0, max_iter=5000, random_state=0)
    with pytest.warns(UserWarning, match="reached by 1 of 3 starts only"):
        bm.fit(X)
    assert bm.start_objectives_.shape == (3,) and bm.lower_bound_ == bm.start_objectives_.max()
    one = BernoulliMixture(2, n_init=1, random_state=0).fit(X)
    assert_array_equal(one.start_objectives_, [one.lower_bound_])


def test_accelerate_is_validated():
    with pytest.raises(ValueError, match="accelerate must be one of"):
        BernoulliMixture(2, accelerate="fast").fit(np.eye(4))


@pytest.mark.parametrize("form", ["dense", "missing"])
def test_passes_over_repeated_patterns_give_the_fit_of_every_row(form, monkeypatch):
    from bmm_numba.datasets import load_lca
    from bmm_numba.em import data as mixture_data

    X, _ = load_lca("carcinoma")
    X = X.astype(float)
    if form == "missing":
        X[::9, 2] = np.nan
    w = np.random.default_rng(0).choice([0.0, 1.0, 2.5], size=len(X))
    assert encode(X).patterns is not None  # 118 rows, about 20 patterns
    params = {"n_components": 3, "alpha": 0.0, "n_init": 3, "tol": 1e-10, "max_iter": 5000, "random_state": 0}
    by_pattern = BernoulliMixture(**params).fit(X, sample_weight=w)
    monkeypatch.setattr(mixture_data, "PATTERN_MAX_SHARE", 0.0)
    assert encode(X).patterns is None
    by_row = BernoulliMixture(**params).fit(X, sample_weight=w)
    assert by_pattern.lower_bound_ == pytest.approx(by_row.lower_bound_, rel=1e-9)
    assert_allclose(by_pattern.means_, by_row.means_, atol=1e-4)  # the same optimum, reached apart
    assert_allclose(by_pattern.predict_proba(X), by_row.predict_proba(X), atol=1e-4)
