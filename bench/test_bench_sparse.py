"""Issue 13: tiny fits stay in one thread; the fused sparse pass against StepMix's EM iteration.

Two groups of measurements:

* **Tiny fit, threads allowed.**  One EM iteration (``Backend.em_statistics``, what a fit runs
  per iteration) of a 435 x 16 data set with ~5 % NaN cells, K = 3, with the estimator's
  ``parallel=True``: under the package's thread rule (``kernels.threads.choose_parallel``),
  with ``numba.set_num_threads(1)``, and with the parallel build forced (the threshold set to 0:
  what every call did before issue 13), each on an idle machine and with a competing busy
  process (one spinning child per core, started by the benchmark and killed after).  On the
  project's busy 2-core machine the forced parallel build took ~16 ms a call against 0.12 ms.
* **Sparse text-like data, one thread.**  1760 x 2000 with ~8 % ones (column frequencies
  falling as a power law, as words do), K = 10: the fused sparse pass
  (``kernels.sparse.numba_em_pass``), the E-step then the CSC statistics it replaced, a whole
  ``BernoulliMixture`` EM iteration on the CSR matrix, and StepMix's EM iteration on the dense
  array (StepMix has no sparse input).  Fits run ``FIT_ITERATIONS`` iterations from fixed
  parameters (``tol=0``); ``extra_info["iterations"]`` divides a fit into iterations (an upper
  bound: validation and the final E-step are included).  BLAS threads are limited to one
  (``threadpoolctl``) for StepMix, Numba threads to one for the package.

``python -m pytest bench/test_bench_sparse.py --benchmark-disable`` runs each once, as a test.
"""

import os
import subprocess
import sys
import warnings
from contextlib import contextmanager

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from bmm_numba import BernoulliMixture
from bmm_numba.em.backend import resolve_backend
from bmm_numba.em.data import encode
from bmm_numba.kernels import sparse as _sparse
from bmm_numba.kernels import threads as _threads

TINY_K = 3
TEXT_SHAPE, TEXT_DENSITY, TEXT_K = (1760, 2000), 0.08, 10
FIT_ITERATIONS = 10
TINY_GROUP = "tiny fit: one EM iteration, 435 x 16, 5 % NaN, K = 3"
TEXT_KERNEL_GROUP = "sparse 1760 x 2000, 8 % ones, K = 10, one thread: one E+M pass"
TEXT_FIT_GROUP = f"sparse 1760 x 2000, 8 % ones, K = 10, one thread: fit of {FIT_ITERATIONS} EM iterations"


def tiny_nan_data():
    """435 x 16 0/1 data with ~5 % NaN cells (seed fixed), the fit of issue 13."""
    rng = np.random.default_rng(13)
    X = (rng.random((435, 16)) < 0.3).astype(np.float64)
    X[rng.random(X.shape) < 0.05] = np.nan
    return X


def text_like_data():
    """CSR 1760 x 2000 with ~8 % ones: column frequencies ~ rank^-0.7 (clipped at 0.9), seed fixed."""
    rng = np.random.default_rng(0)
    n, d = TEXT_SHAPE
    p = 1.0 / np.arange(1, d + 1) ** 0.7
    p = np.clip(p * TEXT_DENSITY * d / p.sum(), 0.0, 0.9)
    X = (rng.random((n, d)) < p).astype(np.uint8)
    return X, sp.csr_matrix(X, dtype=np.float64)


def start_parameters(X, K, seed=1):
    """Means from K data rows (``0.25 + 0.5 x``, NaN as 0.5), uniform weights."""
    rows = np.asarray(X[np.random.default_rng(seed).choice(X.shape[0], K, replace=False)], dtype=np.float64)
    return np.ascontiguousarray(0.25 + 0.5 * np.nan_to_num(rows, nan=0.5)), np.full(K, 1.0 / K)


@contextmanager
def busy_cores():
    """One child process per core spinning until killed (a competing job on a shared machine)."""
    children = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()


@contextmanager
def numba_threads(n):
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@contextmanager
def _no_context():
    yield


@pytest.mark.parametrize("load", ["idle", "busy"])
@pytest.mark.parametrize("threads", ["rule", "one thread", "forced parallel"])
def test_tiny_nan_em_iteration(benchmark, monkeypatch, threads, load):
    X = tiny_nan_data()
    data = encode(X)
    mu, pi = start_parameters(X, TINY_K)
    w = np.ones(data.n_samples)
    backend = resolve_backend("auto", parallel=True)
    if threads == "forced parallel":  # what every call did before issue 13
        monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)
    benchmark.group = TINY_GROUP
    benchmark.extra_info.update(threads=threads, load=load, numba_threads=numba.config.NUMBA_NUM_THREADS)
    backend.em_statistics(data, w, mu, pi)  # compiled before timing
    with numba_threads(1) if threads == "one thread" else _no_context(), \
            busy_cores() if load == "busy" else _no_context():
        benchmark.pedantic(backend.em_statistics, args=(data, w, mu, pi), rounds=50, warmup_rounds=5,
                           iterations=1)


@pytest.fixture(scope="module")
def text_problem():
    X, X_csr = text_like_data()
    mu, pi = start_parameters(X, TEXT_K)
    return X, X_csr, mu, pi


def test_fused_sparse_pass(benchmark, text_problem):
    _, X_csr, mu, pi = text_problem
    data = encode(X_csr)
    w = np.ones(data.n_samples)
    benchmark.group = TEXT_KERNEL_GROUP
    benchmark.extra_info.update(kernel="numba_em_pass (fused, CSR)", nnz=X_csr.nnz)
    with numba_threads(1):
        benchmark(_sparse.numba_em_pass, *data.csr, mu, pi, w)


def test_e_step_then_csc_statistics(benchmark, text_problem):
    """The path before issue 13: CSR E-step, then statistics over the CSC form (built once)."""
    _, X_csr, mu, pi = text_problem
    data = encode(X_csr)
    w = np.ones(data.n_samples)
    csr, csc = data.csr, data.csc

    def two_passes():
        resp, log_prob_norm = _sparse.numba_e_step(*csr, mu, pi)
        return (*_sparse.numba_stats(*csc, resp * w[:, None]), log_prob_norm)

    benchmark.group = TEXT_KERNEL_GROUP
    benchmark.extra_info.update(kernel="numba_e_step + numba_stats (CSR then CSC)", nnz=X_csr.nnz)
    with numba_threads(1):
        benchmark(two_passes)


def _fit_ours(X_csr, mu, pi):
    model = BernoulliMixture(TEXT_K, means_init=mu, weights_init=pi, max_iter=FIT_ITERATIONS, tol=0.0, alpha=0.0,
                             accelerate="none")  # plain EM iterations, as StepMix's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 never "converges"
        return model.fit(X_csr)


def test_estimator_fit_sparse(benchmark, text_problem):
    _, X_csr, mu, pi = text_problem
    benchmark.group = TEXT_FIT_GROUP
    benchmark.extra_info.update(kernel="BernoulliMixture on CSR", iterations=FIT_ITERATIONS)
    with numba_threads(1):
        benchmark.pedantic(_fit_ours, args=(X_csr, mu, pi), rounds=5, warmup_rounds=1, iterations=1)


def test_stepmix_fit_dense(benchmark, text_problem):
    stepmix = pytest.importorskip("stepmix", reason="StepMix not installed (optional peer)")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X, _, _, _ = text_problem
    benchmark.group = TEXT_FIT_GROUP
    benchmark.extra_info.update(kernel="StepMix (binary) on the dense array", iterations=FIT_ITERATIONS)

    def fit():
        model = stepmix.StepMix(n_components=TEXT_K, measurement="binary", max_iter=FIT_ITERATIONS, abs_tol=0.0,
                                rel_tol=0.0, n_init=1, init_params="random", verbose=0, progress_bar=0,
                                random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)

    with threadpoolctl.threadpool_limits(1):
        benchmark.pedantic(fit, rounds=3, warmup_rounds=1, iterations=1)
