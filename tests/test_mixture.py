import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.naive_bayes import BernoulliNB

from bmm_numba import PRODUCTION_KERNELS, BernoulliMixture, select_n_components
from bmm_numba.em.loop import TIE
from bmm_numba.em.progress import ProgressMonitor
from bmm_numba.kernels.em_run import ROUNDING
from bmm_numba.kernels.jit import JIT_DISABLED
from bmm_numba.kernels.m_step import MEANS_EPS

from . import oracle

KERNELS = ("auto",) + PRODUCTION_KERNELS


def planted(rng, n_samples=600, n_features=24, n_components=3, sharp=True):
    """Data from a mixture with well separated means (blocks of 0.85 / 0.1)."""
    mu = np.full((n_components, n_features), 0.1)
    for k in range(n_components):
        mu[k, k::n_components] = 0.85 if sharp else 0.6
    pi = rng.dirichlet(np.full(n_components, 8.0))
    z = rng.choice(n_components, size=n_samples, p=pi)
    X = (rng.random((n_samples, n_features)) < mu[z]).astype(np.uint8)
    return X, z, mu, pi


def start(rng, n_components, n_features):
    return rng.uniform(0.2, 0.8, (n_components, n_features)), rng.dirichlet(np.ones(n_components))


def with_missing(rng, X, fraction=0.2):
    Xm = X.astype(float)
    Xm[rng.random(X.shape) < fraction] = np.nan
    return Xm


def fit_fixed(X, mu0, pi0, n_iter, **params):
    """Fit at most ``n_iter`` plain EM iterations from an exact start (fewer where tol=0 finds the fixed point)."""
    params = {"accelerate": "none", **params}
    est = BernoulliMixture(mu0.shape[0], means_init=mu0, weights_init=pi0, tol=0.0, max_iter=n_iter, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    assert est.n_iter_ == n_iter or est.converged_
    return est


# -------------------------------------------------------------------------------------------
# EM against the independent oracle
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_em_equals_oracle(rng, kernel, alpha):
    X, _, _, _ = planted(rng, n_samples=300, n_features=12)
    mu0, pi0 = start(rng, 3, 12)
    got = fit_fixed(X, mu0, pi0, 15, kernel=kernel, alpha=alpha)
    mu, pi, bounds = oracle.em(X, mu0, pi0, got.n_iter_, alpha)
    assert_allclose(got.means_, mu, rtol=0, atol=1e-9)
    assert_allclose(got.weights_, pi, rtol=0, atol=1e-9)
    assert_allclose(got.lower_bounds_, bounds, rtol=1e-10)
    assert got.n_iter_ >= 5 and got.lower_bound_ == got.lower_bounds_[-1]


@pytest.mark.parametrize("kernel", ["numpy", "numba"])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_em_with_missing_values_equals_oracle(rng, kernel, alpha):
    X, _, _, _ = planted(rng, n_samples=300, n_features=12)
    Xm = with_missing(rng, X)
    Xm[0] = np.nan  # a row with nothing observed
    mu0, pi0 = start(rng, 3, 12)
    got = fit_fixed(Xm, mu0, pi0, 10, kernel=kernel, alpha=alpha)
    mu, pi, bounds = oracle.em(Xm, mu0, pi0, got.n_iter_, alpha)
    assert_allclose(got.means_, mu, rtol=0, atol=1e-9)
    assert_allclose(got.weights_, pi, rtol=0, atol=1e-9)
    assert_allclose(got.lower_bounds_, bounds, rtol=1e-10)
    resp, log_norm = oracle.e_step(Xm, got.means_, got.weights_)
    assert_allclose(got.score_samples(Xm), log_norm, rtol=1e-11, atol=1e-14)
    assert_allclose(got.predict_proba(Xm), resp, atol=1e-12)
    assert_allclose(got.predict_proba(Xm[:1])[0], got.weights_, atol=1e-15)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_log_likelihood_plus_log_prior_never_decreases(rng, alpha):
    X, _, _, _ = planted(rng, n_samples=400, n_features=16, sharp=False)
    Xm = with_missing(rng, X, 0.1)
    mu0, pi0 = start(rng, 4, 16)
    est = BernoulliMixture(4, means_init=mu0, weights_init=pi0, alpha=alpha, tol=0.0, max_iter=1,
                           warm_start=True)
    objective = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(40):
            est.fit(Xm)
            _, log_norm = oracle.e_step(Xm, est.means_, est.weights_)
            objective.append(log_norm.sum() + oracle.log_prior(est.means_, alpha, oracle.column_means(Xm)))
    assert est.reseeded_components_ == []
    assert np.all(np.diff(objective) >= -1e-9 * np.abs(objective[1:])), np.diff(objective).min()
    assert objective[-1] > objective[0] + 1.0  # it did move


def test_score_samples_equals_bernoulli_nb(rng):
    X, _, _, _ = planted(rng)
    est = BernoulliMixture(3, random_state=0).fit(X)
    nb = BernoulliNB().fit(X, np.arange(X.shape[0]) % 3)
    nb.feature_log_prob_ = np.log(est.means_)
    nb.class_log_prior_ = np.log(est.weights_)
    expected = logsumexp(nb.predict_joint_log_proba(X), axis=1)
    assert_allclose(est.score_samples(X), expected, rtol=1e-12)
    assert est.score(X) == pytest.approx(expected.mean(), rel=1e-12)


def test_planted_parameters_recovered(rng):
    X, _, mu, pi = planted(rng, n_samples=4000, n_features=30)
    est = BernoulliMixture(3, n_init=3, random_state=0).fit(X)
    cost = np.abs(est.means_[:, None, :] - mu[None, :, :]).max(axis=2)
    rows, cols = linear_sum_assignment(cost)
    assert cost[rows, cols].max() < 0.06
    assert_allclose(est.weights_[rows], pi[cols], atol=0.03)
    assert est.converged_


# -------------------------------------------------------------------------------------------
# Kernels, data forms and weights give the same fit
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["dense", "missing", "csr"])
def test_every_kernel_gives_the_same_fit(rng, form):
    X, _, _, _ = planted(rng)
    X = {"dense": X, "missing": with_missing(rng, X), "csr": sp.csr_matrix(X)}[form]
    fits = [BernoulliMixture(3, kernel=k, random_state=3).fit(X) for k in KERNELS]
    for est in fits[1:]:
        assert est.n_iter_ == fits[0].n_iter_
        assert_allclose(est.means_, fits[0].means_, atol=1e-10)
        assert_allclose(est.weights_, fits[0].weights_, atol=1e-10)
        assert_array_equal(est.labels_, fits[0].labels_)


@pytest.mark.parametrize("kernel", ["numpy", "numba"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_equals_dense(rng, kernel, fmt):
    X, _, _, _ = planted(rng)
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    dense = BernoulliMixture(3, kernel=kernel, random_state=1).fit(X)
    sparse = BernoulliMixture(3, kernel=kernel, random_state=1).fit(Xs)
    assert_allclose(sparse.means_, dense.means_, atol=1e-10)
    assert_allclose(sparse.weights_, dense.weights_, atol=1e-10)
    assert_allclose(sparse.score_samples(Xs), dense.score_samples(X), rtol=1e-12)
    assert_allclose(dense.predict_proba(Xs), dense.predict_proba(X), atol=1e-12)


def test_sparse_explicit_zeros_and_float_values(rng):
    X, _, _, _ = planted(rng, n_samples=200)
    Xs = sp.csr_matrix(X.astype(float))
    Xs.data[::5] = 0.0  # explicit zeros are zeros
    dense = Xs.toarray()
    a = BernoulliMixture(3, random_state=0).fit(Xs)
    b = BernoulliMixture(3, random_state=0).fit(dense)
    assert_allclose(a.means_, b.means_, atol=1e-10)


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
def test_sparse_large_d_is_never_densified(kernel):
    import tracemalloc

    if kernel == "numba" and JIT_DISABLED:
        pytest.skip("NUMBA_DISABLE_JIT=1: the compiled loops over 2 million ones run as Python (minutes)")
    rng = np.random.default_rng(5)
    n, d = 4000, 100_000  # a dense uint8 copy is 400 MB, float64 3.2 GB
    X = sp.random(n, d, density=0.005, format="csr", random_state=rng)
    X.data[:] = 1.0
    tracemalloc.start()
    try:
        est = BernoulliMixture(3, kernel=kernel, max_iter=3, tol=0.0, random_state=0)
        with warnings.catch_warnings():  # 3 passes on uniform noise may reach the fixed point, or not
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X)
        est.score_samples(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the compiled run keeps ~10 (K, D) float arrays a fit (2.4 MB each here), two short-EM fits side by side
    assert peak < 150 * 2**20, peak
    assert np.all(np.isfinite(est.means_))


@pytest.mark.parametrize("form", ["dense", "missing", "csr"])
@pytest.mark.parametrize("kernel", ["numpy", "numba"])
def test_integer_sample_weights_equal_repeated_rows(rng, form, kernel):
    X, _, _, _ = planted(rng, n_samples=200, n_features=12)
    if form == "missing":
        X = with_missing(rng, X)
    counts = rng.integers(0, 4, X.shape[0])
    repeated = np.repeat(X, counts, axis=0)
    if form == "csr":
        X, repeated = sp.csr_matrix(X), sp.csr_matrix(repeated)
    mu0, pi0 = start(rng, 3, 12)
    params = dict(n_components=3, means_init=mu0, weights_init=pi0, kernel=kernel, tol=1e-8, max_iter=500)
    weighted = BernoulliMixture(**params).fit(X, sample_weight=counts)
    expected = BernoulliMixture(**params).fit(repeated)
    assert weighted.n_iter_ == expected.n_iter_
    assert_allclose(weighted.means_, expected.means_, atol=1e-9)
    assert_allclose(weighted.weights_, expected.weights_, atol=1e-9)
    assert_allclose(weighted.lower_bounds_, expected.lower_bounds_, rtol=1e-10)


@pytest.mark.parametrize("form", ["dense", "missing", "csr"])
def test_identical_results_whatever_the_thread_count(rng, form):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    X, _, _, _ = planted(rng, n_samples=3000, n_features=40)  # several M-step blocks
    X = {"dense": X, "missing": with_missing(rng, X), "csr": sp.csr_matrix(X)}[form]
    previous = numba.get_num_threads()
    fits = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            est = BernoulliMixture(4, kernel="numba", random_state=0, tol=0.0, max_iter=30)
            with pytest.warns(ConvergenceWarning):
                fits.append(est.fit(X))
    finally:
        numba.set_num_threads(previous)
    a, b = fits
    assert_array_equal(a.means_, b.means_)
    assert_array_equal(a.weights_, b.weights_)
    assert_array_equal(a.lower_bounds_, b.lower_bounds_)


# -------------------------------------------------------------------------------------------
# The EM template: tol, warnings, n_init, warm start, fit_predict, init_params
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("accelerate", ["none", "squarem", "overrelax"])
def test_max_iter_bounds_the_passes_and_warns(rng, accelerate):
    X, _, _, _ = planted(rng, sharp=False)
    est = BernoulliMixture(3, tol=0.0, max_iter=7, init_params="random", accelerate=accelerate, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        est.fit(X)
    assert est.n_passes_ == 7 and len(est.lower_bounds_) == est.n_iter_ <= 7 and not est.converged_
    if accelerate == "none":
        assert est.n_iter_ == 7


@pytest.mark.parametrize("accelerate", ["none", "squarem", "overrelax"])
def test_tol_zero_stops_when_the_objective_no_longer_increases(rng, accelerate):
    # tol=0 is tol=ROUNDING: it converges at the fixed point instead of running max_iter
    X, _, _, _ = planted(rng)
    est = BernoulliMixture(3, tol=0.0, max_iter=5000, init_params="random", accelerate=accelerate,
                           random_state=1).fit(X)
    assert est.converged_ and est.n_passes_ < 5000
    assert est.lower_bounds_[-1] - est.lower_bounds_[-2] < ROUNDING * abs(est.lower_bound_)


@pytest.mark.parametrize("accelerate", ["none", "squarem", "overrelax"])
def test_converges_and_stops_on_tol(rng, accelerate):
    X, _, _, _ = planted(rng, sharp=False)
    est = BernoulliMixture(3, tol=1e-4, init_params="random", accelerate=accelerate, random_state=0).fit(X)
    assert est.converged_ and 2 < est.n_iter_ < est.max_iter and est.reseeded_components_ == []
    lb = est.lower_bounds_
    change, scale = np.diff(lb), 1e-4 * np.maximum(1.0, np.abs(lb[1:]))  # the relative rule
    assert 0 <= change[-1] < scale[-1]
    assert np.all(change >= -ROUNDING * np.abs(lb[1:]))  # never a decrease, accelerated or not


@pytest.mark.parametrize("accelerate", ["none", "squarem", "overrelax"])
@pytest.mark.parametrize("sharp", [True, False])
def test_default_tol_stops_near_the_fixed_point(rng, accelerate, sharp):
    # the rate-scaled rule: within 0.01 nats per sample of where EM itself ends (tol=0, plain EM)
    X, _, _, _ = planted(rng, sharp=sharp)
    est = BernoulliMixture(3, accelerate=accelerate, random_state=0).fit(X)
    assert est.converged_
    fixed_point = BernoulliMixture(3, tol=0.0, max_iter=50000, means_init=est.means_, weights_init=est.weights_,
                                   accelerate="none").fit(X)
    assert -1e-12 <= fixed_point.lower_bound_ - est.lower_bound_ < 0.01


def test_fit_predict_equals_fit_then_predict(rng):
    X = with_missing(rng, planted(rng)[0], 0.05)
    params = {"random_state": 4, "max_iter": 3, "tol": 0.0, "init_params": "random"}
    est = BernoulliMixture(3, **params)
    with pytest.warns(ConvergenceWarning):
        labels = est.fit_predict(X)
    with pytest.warns(ConvergenceWarning):
        assert_array_equal(labels, BernoulliMixture(3, **params).fit(X).predict(X))
    assert_array_equal(labels, est.labels_)


def test_n_init_keeps_the_best(rng):
    X, _, _, _ = planted(rng, sharp=False)
    one = BernoulliMixture(3, n_init=1, init_params="random", max_iter=500, random_state=0).fit(X)
    many = BernoulliMixture(3, n_init=6, init_params="random", max_iter=500, random_state=0).fit(X)
    assert many.lower_bound_ >= one.lower_bound_


def test_warm_start_continues_from_the_fitted_parameters(rng):
    X, _, _, _ = planted(rng, sharp=False)  # EM far from its fixed point after 10 iterations
    mu0, pi0 = start(rng, 3, X.shape[1])
    cold = fit_fixed(X, mu0, pi0, 10)
    assert cold.n_iter_ == 10
    warm = BernoulliMixture(3, means_init=mu0, weights_init=pi0, tol=0.0, max_iter=5, warm_start=True,
                            accelerate="none")
    with pytest.warns(ConvergenceWarning):
        warm.fit(X)
    with pytest.warns(ConvergenceWarning):
        warm.fit(X)
    assert_allclose(warm.means_, cold.means_, rtol=0, atol=1e-13)
    assert_allclose(warm.lower_bounds_, cold.lower_bounds_[5:], rtol=1e-13)


@pytest.mark.parametrize("init_params", ["short_em", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("form", ["dense", "missing", "csr"])
@pytest.mark.filterwarnings("ignore:The best objective.*not replicated:UserWarning")  # a random start may stall
def test_every_init_works_on_every_data_form(rng, init_params, form):
    X, z, _, _ = planted(rng)
    X = {"dense": X, "missing": with_missing(rng, X, 0.3), "csr": sp.csr_matrix(X)}[form]
    est = BernoulliMixture(3, init_params=init_params, n_init=2, random_state=0).fit(X)
    assert np.all(np.isfinite(est.means_)) and np.all(est.means_ > 0) and np.all(est.means_ < 1)
    assert est.weights_.sum() == pytest.approx(1.0)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(z, est.labels_) > 0.8


def test_weights_init_alone_and_means_init_alone(rng):
    X, _, _, _ = planted(rng)
    mu0, pi0 = start(rng, 3, X.shape[1])
    est = BernoulliMixture(3, means_init=mu0, max_iter=1, tol=0.0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X)
    _, log_norm = oracle.e_step(X, mu0, np.full(3, 1 / 3))
    objective = log_norm.mean() + oracle.log_prior(mu0, est.alpha, oracle.column_means(X)) / X.shape[0]
    assert est.lower_bounds_[0] == pytest.approx(objective, rel=1e-12)
    est = BernoulliMixture(3, weights_init=pi0, random_state=0).fit(X)
    assert np.all(np.isfinite(est.means_))


# -------------------------------------------------------------------------------------------
# Never NaN, never stuck
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("kernel", ["numpy", "numba"])
def test_degenerate_data_never_nan(rng, alpha, kernel):
    X = np.zeros((12, 6), dtype=np.uint8)
    X[:4, :2] = 1  # four duplicated rows
    X[4:6] = 1  # all-ones rows; rows 6.. are all zero; column 5 is constant... except rows 4, 5
    X[:, 3] = 1  # a constant column
    cases = [(X, 3), (X, 11), (np.zeros((5, 4)), 2), (np.ones((3, 2)), 3)]
    for data, K in cases:
        for init in ("short_em", "k-means++", "random", "random_from_data"):
            est = BernoulliMixture(K, alpha=alpha, kernel=kernel, init_params=init, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", UserWarning)  # components dropped: K unsupported
                est.fit(data)
            for value in (est.means_, est.weights_, est.lower_bounds_, est.score_samples(data),
                          est.predict_proba(data)):
                assert np.all(np.isfinite(value)), (K, init, value)
            assert np.all((est.means_ > 0) & (est.means_ < 1))


def test_collapsed_component_is_reseeded_and_recorded(rng):
    X = (rng.random((100, 30)) < 0.1).astype(np.uint8)
    mu0 = np.vstack([np.full(30, 0.1), np.full(30, 1 - 1e-9)])  # component 1 explains nothing
    est = BernoulliMixture(2, means_init=mu0, weights_init=[0.5, 0.5], alpha=0.0, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    assert est.reseeded_components_, "component 1 should have collapsed"
    iteration, component, sample = est.reseeded_components_[0]
    assert (iteration, component) == (1, 1)
    worst = oracle.e_step(X, mu0, np.array([0.5, 0.5]))[1].argmin()
    assert sample == worst
    assert np.all(np.isfinite(est.means_)) and est.weights_[1] > 0


def test_default_alpha_keeps_unseen_data_finite():
    X = np.repeat(np.array([[1, 1, 0, 0], [0, 0, 1, 0]]), 10, axis=0)  # feature 3 never 1
    unseen = np.array([[1, 1, 0, 1]])
    for alpha in (1.0, 0.0):  # alpha=0: finite through the documented clip
        est = BernoulliMixture(2, alpha=alpha, random_state=0).fit(X)
        assert np.isfinite(est.score_samples(unseen)).all()
    # the prior's mode is the Laplace-smoothed column mean (0 + 1) / (20 + 2), not 0: the means of
    # feature 3 are (0 + 2 alpha m) / (nk + 2 alpha), far above the clip
    est = BernoulliMixture(2, alpha=1.0, random_state=0).fit(X)
    nk = est.weights_ * X.shape[0]
    assert_allclose(est.means_[:, 3], 2 * (1 / 22) / (nk + 2), rtol=1e-9)
    assert est.means_[:, 3].min() > 1e6 * MEANS_EPS
    est0 = BernoulliMixture(2, alpha=0.0, random_state=0).fit(X)
    assert_allclose(est0.means_[:, 3], MEANS_EPS, rtol=0)
    assert est.score_samples(unseen)[0] > est0.score_samples(unseen)[0] + 10


# -------------------------------------------------------------------------------------------
# Parameter and input validation
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_components=0), "n_components"),
        (dict(n_components=50), "n_components=50 must be <= n_samples"),
        (dict(n_components=2.5), "n_components"),
        (dict(alpha=-1.0), "alpha"),
        (dict(alpha=np.nan), "alpha"),
        (dict(max_iter=0), "max_iter"),
        (dict(n_init=0), "n_init"),
        (dict(tol=-1e-3), "tol"),
        (dict(init_params="kmeans"), "init_params"),
        (dict(kernel="fast"), "kernel"),
        (dict(kernel="python_loops"), "kernel"),
        (dict(means_init=np.full((2, 4), 0.5)), "means_init must have shape"),
        (dict(means_init=np.full((3, 4), 0.0)), r"means_init must lie strictly inside \(0, 1\)"),
        (dict(means_init=np.full((3, 4), 1.5)), "means_init must lie"),
        (dict(weights_init=[0.5, 0.5]), "weights_init must have shape"),
        (dict(weights_init=[0.5, 0.5, 0.5]), "weights_init must sum to 1"),
        (dict(weights_init=[1.5, -0.5, 0.0]), "non-negative"),
        (dict(binarize="yes"), "binarize"),
        (dict(verbose_interval=0), "verbose_interval"),
    ],
)
def test_bad_parameters_raise_value_error_at_fit(params, match):
    X = np.tile([[0, 1, 0, 1], [1, 0, 1, 0]], (5, 1))
    est = BernoulliMixture(**{"n_components": 3, **params})  # __init__ accepts anything
    with pytest.raises(ValueError, match=match):
        est.fit(X)


def test_bad_data_and_sample_weights_raise():
    X = np.tile([[0, 1, 0, 1], [1, 0, 1, 0]], (5, 1))
    with pytest.raises(ValueError, match="only 0 and 1.*binarize"):
        BernoulliMixture(2).fit(X * 2)
    with pytest.raises(ValueError, match="infinity|inf"):
        BernoulliMixture(2).fit(np.where(X == 1, np.inf, 0.0))
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        BernoulliMixture(2).fit(X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        BernoulliMixture(2).fit(X, sample_weight=-np.ones(10))
    with pytest.raises(ValueError, match="positive weight"):
        BernoulliMixture(2).fit(X, sample_weight=np.eye(10)[0])
    with pytest.raises(ValueError, match="sparse"):
        BernoulliMixture(2).fit(sp.csr_matrix(np.where(X == 1, np.nan, 0.0)))


def test_predict_with_wrong_number_of_features_raises(rng):
    X, _, _, _ = planted(rng)
    est = BernoulliMixture(2, random_state=0).fit(X)
    for method in (est.predict, est.predict_proba, est.score_samples, est.score):
        with pytest.raises(ValueError, match="features"):
            method(X[:, :-1])


def test_binarize_and_input_types(rng):
    X, _, _, _ = planted(rng, n_samples=200)
    reference = BernoulliMixture(3, random_state=0).fit(X)
    noisy = np.where(X == 1, 0.7, 0.2) + rng.uniform(-0.1, 0.1, X.shape)
    variants = [X.tolist(), X.astype(bool), X.astype(np.int64), X.astype(np.float32), np.asfortranarray(X)]
    for data in variants:
        assert_allclose(BernoulliMixture(3, random_state=0).fit(data).means_, reference.means_, atol=1e-12)
    got = BernoulliMixture(3, binarize=0.45, random_state=0).fit(noisy)
    assert_allclose(got.means_, reference.means_, atol=1e-12)
    assert_array_equal(got.predict(noisy), reference.predict(X))


def test_binarize_is_the_one_threshold_rule(rng):
    """``binarize=t`` makes values ``>= t`` 1, as ``datasets.binarize`` and the CLI's ``--threshold`` do."""
    from bmm_numba.datasets import binarize as binarize_data

    raw = rng.integers(0, 4, size=(120, 6)).astype(np.float64)  # many cells exactly at the threshold
    raw[0, 0] = np.nan
    ones_at = binarize_data(raw, 2)
    assert np.nansum(ones_at) == np.sum(raw >= 2)  # the boundary value 2 counts as 1
    fitted = BernoulliMixture(2, binarize=2, random_state=0).fit(raw)
    reference = BernoulliMixture(2, random_state=0).fit(ones_at)
    assert_array_equal(fitted.means_, reference.means_)
    sparse = sp.csr_matrix(np.nan_to_num(raw))
    fitted_sparse = BernoulliMixture(2, binarize=2, random_state=0).fit(sparse)
    reference_sparse = BernoulliMixture(2, random_state=0).fit((np.nan_to_num(raw) >= 2).astype(np.uint8))
    assert_allclose(fitted_sparse.means_, reference_sparse.means_, rtol=1e-12)
    for threshold in (0, -1.0):
        with pytest.raises(ValueError, match="binarize must be > 0 for sparse X"):
            BernoulliMixture(2, binarize=threshold).fit(sparse)


# -------------------------------------------------------------------------------------------
# Persistence, threads, reporting, sampling, criteria
# -------------------------------------------------------------------------------------------


def test_pickle_round_trip_gives_identical_predictions(rng):
    X, _, _, _ = planted(rng)
    est = BernoulliMixture(3, random_state=0).fit(X)
    clone = pickle.loads(pickle.dumps(est))
    assert_array_equal(clone.predict_proba(X), est.predict_proba(X))
    assert_array_equal(clone.score_samples(X), est.score_samples(X))


def test_fitting_from_several_python_threads(rng):
    X, _, _, _ = planted(rng, n_samples=2000)
    Xm = with_missing(rng, X, 0.1)
    jobs = [(X, "numba"), (Xm, "numba"), (sp.csr_matrix(X), "numba"), (X, "numba_log")] * 2

    def fit(job):
        data, kernel = job
        return BernoulliMixture(3, kernel=kernel, random_state=0).fit(data).means_

    expected = [fit(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(fit, jobs))
    for a, b in zip(got, expected, strict=True):
        assert_array_equal(a, b)


def test_verbose_reports_inits_and_iterations(rng, capsys):
    X, _, _, _ = planted(rng, n_samples=200)
    BernoulliMixture(3, n_init=2, verbose=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 1" in out and "Initialization 2" in out and "converged" in out
    assert "Iteration" not in out
    with pytest.warns(ConvergenceWarning):
        BernoulliMixture(3, verbose=2, verbose_interval=1, max_iter=4, tol=0.0, init_params="random",
                         accelerate="none", random_state=0).fit(X)
    lines = [line for line in capsys.readouterr().out.splitlines() if "Iteration" in line]
    assert len(lines) == 4 and all("log-likelihood" in line and "time lapse" in line for line in lines)
    BernoulliMixture(3, random_state=0).fit(X)
    assert capsys.readouterr().out == ""


class _Recorder(ProgressMonitor):
    def __init__(self):
        self.events = []

    def start(self, init, n_init):
        self.events.append(("start", init, n_init))

    def reseeded(self, n_iter, components):
        self.events.append(("reseeded", n_iter, list(components)))

    def iteration(self, n_iter, lower_bound, change, seconds):
        self.events.append(("iteration", n_iter, lower_bound, change))

    def end(self, converged, lower_bound, seconds):
        self.events.append(("end", converged, lower_bound))


@pytest.mark.parametrize("memmap", [False, True])
def test_progress_monitor_hooks_carry_the_fitted_numbers(rng, tmp_path, memmap):
    X, _, _, _ = planted(rng, n_samples=300)
    recorder = _Recorder()

    class Watched(BernoulliMixture):
        def _progress_monitor(self):
            return recorder

    if memmap:
        np.save(tmp_path / "x.npy", X)
        X = np.load(tmp_path / "x.npy", mmap_mode="r")
    est = Watched(3, n_init=2, random_state=0).fit(X)
    starts = [i for i, event in enumerate(recorder.events) if event[0] == "start"]
    assert [recorder.events[i] for i in starts] == [("start", 0, 2), ("start", 1, 2)]
    ends = [event for event in recorder.events if event[0] == "end"]
    # the documented pick: the highest objective, a tie within TIE (the same optimum with its
    # components permuted, which differ by rounding) keeping the first start
    first, second = ends[0][2], ends[1][2]
    pick = 1 if second > first + TIE * max(1.0, abs(first)) else 0
    assert len(ends) == 2 and est.lower_bound_ == ends[pick][2]
    assert est.lower_bound_ >= max(first, second) - TIE * max(1.0, abs(first))
    best = starts[pick]
    bounds = [event[2] for event in recorder.events[best:] if event[0] == "iteration"][: est.n_iter_]
    assert_array_equal(bounds, est.lower_bounds_)
    changes = [event[3] for event in recorder.events[best:] if event[0] == "iteration"][1 : est.n_iter_]
    assert_array_equal(changes, np.diff(est.lower_bounds_))


def test_backend_serial_and_parallel_builds_agree(rng):
    from bmm_numba.em.backend import resolve_backend
    from bmm_numba.em.data import encode

    X, _, mu, pi = planted(rng, n_samples=400)
    Xm = X.astype(np.float64)
    Xm[rng.random(X.shape) < 0.1] = np.nan
    w = rng.random(X.shape[0])
    for data in (encode(X), encode(Xm), encode(sp.csr_matrix(X))):
        for kernel in PRODUCTION_KERNELS:
            serial, parallel = resolve_backend(kernel, parallel=False), resolve_backend(kernel, parallel=True)
            for a, b in zip(serial.em_statistics(data, w, mu, pi), parallel.em_statistics(data, w, mu, pi),
                            strict=True):
                if a is None:
                    assert b is None
                else:
                    assert_array_equal(a, b)
    assert resolve_backend("auto").name == "numba"
    with pytest.raises(ValueError, match="kernel must be one of"):
        resolve_backend("fast")


def test_sample_returns_binary_data_from_the_model(rng):
    X, _, _, _ = planted(rng)
    est = BernoulliMixture(3, random_state=0).fit(X)
    Xs, labels = est.sample(30000)
    assert Xs.shape == (30000, X.shape[1]) and set(np.unique(Xs)) <= {0, 1}
    assert_allclose(np.bincount(labels, minlength=3) / 30000, est.weights_, atol=0.02)
    for k in range(3):
        assert_allclose(Xs[labels == k].mean(axis=0), est.means_[k], atol=0.05)
    with pytest.raises(ValueError):
        est.sample(0)


def test_bic_aic_formulas(rng):
    X, _, _, _ = planted(rng)
    est = BernoulliMixture(3, random_state=0).fit(X)
    log_l = est.score_samples(X).sum()
    p = 3 * X.shape[1] + 2
    assert est.bic(X) == pytest.approx(-2 * log_l + p * np.log(X.shape[0]), rel=1e-12)
    assert est.aic(X) == pytest.approx(-2 * log_l + 2 * p, rel=1e-12)


def test_select_n_components_table(rng):
    X, _, _, _ = planted(rng, n_samples=800)
    table = select_n_components(X, range(1, 6), random_state=0, n_init=2)
    assert list(table) == ["K", "log_likelihood", "n_parameters", "AIC", "BIC", "ICL", "entropy", "converged",
                           "SABIC", "CAIC", "AIC3", "relative_entropy", "G2", "chi2", "df", "p_G2", "p_chi2",
                           "BLRT_p"]
    assert all(len(column) == 5 for column in table.values())
    assert table["K"] == [1, 2, 3, 4, 5]
    assert table["K"][int(np.argmin(table["BIC"]))] == 3
    assert table["entropy"][0] == 0.0 and min(table["entropy"]) >= 0
    assert_allclose(np.array(table["ICL"]) - np.array(table["BIC"]), 2 * np.array(table["entropy"]))
    est = BernoulliMixture(3, random_state=0, n_init=2).fit(X)
    assert table["BIC"][2] == pytest.approx(est.bic(X), rel=1e-12)


@pytest.mark.parametrize("init_params", ["short_em", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_unsupported_n_components_ends_fast_with_a_warning(init_params, alpha):
    """K=20 on 10 distinct rows (each 10 times): components dropped, a clear warning, <= 20 iterations."""
    rows = (np.random.default_rng(0).random((10, 30)) < 0.3).astype(np.uint8)
    X = np.repeat(rows, 10, axis=0)
    est = BernoulliMixture(20, init_params=init_params, alpha=alpha, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # it must converge, not run to max_iter
        with pytest.warns(UserWarning, match=r"do not support n_components=20.*n_components_"):
            est.fit(X)
    assert est.converged_ and est.n_iter_ <= 20
    # more than 10 may stay: two components sharing one row's copies are a fixed point of EM
    assert est.n_components_ < 20 and est.n_components_ + len(est.dropped_components_) == 20
    assert est.means_.shape == (est.n_components_, 30) and np.isfinite(est.score(X))
