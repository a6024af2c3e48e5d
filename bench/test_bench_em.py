"""Cost of EM iterations: the estimator against an independent one-GEMM NumPy EM (and StepMix).

All fits start from the same parameters (each mean seeded from one data row, ``0.25 + 0.5 x``;
uniform weights: no component collapses, so every implementation follows the same path) and run
a fixed number of iterations (``tol=0``), so they reach the same log-likelihood; the test checks
that before timing anything.  ``fit`` time includes input validation and the final E-step that
scikit-learn's convention adds (``fit_predict`` equals ``fit().predict``): divide by
``extra_info["iterations"]`` for a per-iteration upper bound.
"""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

from bmm_numba import BernoulliMixture

ITERATIONS = 10
K = 10
#: Timed fits per implementation, after one untimed fit on the full data (compiles, starts the
#: worker threads, touches the memory a fit allocates): with 3 rounds and a warm-up on 1000 rows
#: the first timed round paid for those, and the median of 3 swung by 30 % between runs.
ROUNDS = 5


def numpy_one_gemm_em(X64, mu, pi, iterations, alpha=0.0):
    """Reference EM in plain NumPy: one GEMM per E-step, one per M-step (X already float64).

    Maximum likelihood (``alpha=0``, means clipped to [1e-10, 1 - 1e-10]), as the estimator fits
    below and as StepMix fits: the same EM on every side, so the objective is the plain
    log-likelihood and times compare like with like.
    """
    for _ in range(iterations):
        log_1m = np.log1p(-mu)
        log_joint = X64 @ (np.log(mu) - log_1m).T + (np.log(pi) + log_1m.sum(axis=1))
        log_norm = logsumexp(log_joint, axis=1)
        resp = np.exp(log_joint - log_norm[:, None])
        nk = resp.sum(axis=0)
        mu = np.clip((resp.T @ X64 + alpha) / (nk[:, None] + 2 * alpha), 1e-10, 1 - 1e-10)
        pi = nk / X64.shape[0]
    return mu, pi, log_norm.mean()


@pytest.fixture(scope="module")
def em_start(article_data):
    X = article_data[0]
    rows = np.random.default_rng(1).choice(1000, size=K, replace=False)
    return X, 0.25 + 0.5 * X[rows], np.full(K, 1.0 / K), article_data[3]


def _fit(X, mu0, pi0, kernel):
    model = BernoulliMixture(K, kernel=kernel, means_init=mu0, weights_init=pi0, max_iter=ITERATIONS, tol=0.0,
                             alpha=0.0, accelerate="none")  # plain EM: the reference loop's iterations
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never "converges"
        return model.fit(X)


def test_same_log_likelihood_from_the_same_start(em_start):
    X, mu0, pi0, _ = em_start
    X = X[:5000]
    _, _, expected = numpy_one_gemm_em(X.astype(np.float64), mu0, pi0, ITERATIONS)
    for kernel in ("numba", "numpy_gemm"):
        model = _fit(X, mu0, pi0, kernel)
        # with alpha=0 lower_bound_ is the plain log-likelihood at the last E-step, as in the reference loop
        np.testing.assert_allclose(model.lower_bound_, expected, rtol=1e-10, err_msg=kernel)


@pytest.mark.parametrize("kernel", ["numba", "numpy_gemm", "numpy"])
def test_estimator_fit(benchmark, em_start, kernel):
    X, mu0, pi0, source = em_start
    benchmark.group = f"EM: {ITERATIONS} iterations, N={X.shape[0]}, K={K}"
    benchmark.extra_info.update(kernel=f"BernoulliMixture(kernel={kernel!r})", iterations=ITERATIONS, data=source)
    benchmark.pedantic(_fit, args=(X, mu0, pi0, kernel), rounds=ROUNDS, warmup_rounds=1, iterations=1)


def test_numpy_one_gemm_reference(benchmark, em_start):
    X, mu0, pi0, source = em_start
    X64 = X.astype(np.float64)  # its best layout, converted once outside the timer
    benchmark.group = f"EM: {ITERATIONS} iterations, N={X.shape[0]}, K={K}"
    benchmark.extra_info.update(kernel="NumPy one-GEMM EM (reference)", iterations=ITERATIONS, data=source)
    benchmark.pedantic(numpy_one_gemm_em, args=(X64, mu0, pi0, ITERATIONS), rounds=ROUNDS, warmup_rounds=1,
                       iterations=1)


def test_stepmix(benchmark, em_start):
    stepmix = pytest.importorskip("stepmix", reason="StepMix not installed (optional peer)")
    X, mu0, pi0, source = em_start
    benchmark.group = f"EM: {ITERATIONS} iterations, N={X.shape[0]}, K={K}"
    benchmark.extra_info.update(kernel="StepMix (binary)", iterations=ITERATIONS, data=source)

    def fit():
        model = stepmix.StepMix(n_components=K, measurement="binary", max_iter=ITERATIONS, abs_tol=0.0,
                                rel_tol=0.0, n_init=1, init_params="random", verbose=0, progress_bar=0,
                                random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)

    benchmark.pedantic(fit, rounds=1, iterations=1)


POMEGRANATE_ITERATIONS = 2  # about 6 s each on MNIST: 10 would take a minute a round


def test_pomegranate(benchmark, em_start):
    """pomegranate 1.x on the CPU (PyTorch, float32). Install: see the README's benchmark section."""
    torch = pytest.importorskip("torch", reason="torch not installed (optional peer)")
    gmm = pytest.importorskip("pomegranate.gmm", reason="pomegranate not installed (optional peer)")
    distributions = pytest.importorskip("pomegranate.distributions")
    X, mu0, pi0, source = em_start
    Xt = torch.tensor(X, dtype=torch.float32)
    benchmark.group = f"EM: {POMEGRANATE_ITERATIONS} iterations, N={X.shape[0]}, K={K} (pomegranate)"
    benchmark.extra_info.update(kernel="pomegranate GeneralMixtureModel(Bernoulli), CPU",
                                iterations=POMEGRANATE_ITERATIONS, data=source)

    def fit():
        dists = [distributions.Bernoulli(probs=torch.tensor(mu0[k], dtype=torch.float32)) for k in range(K)]
        model = gmm.GeneralMixtureModel(dists, priors=torch.tensor(pi0, dtype=torch.float32),
                                        max_iter=POMEGRANATE_ITERATIONS, tol=0.0, verbose=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(Xt)

    benchmark.pedantic(fit, rounds=1, iterations=1)
