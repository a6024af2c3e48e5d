import doctest

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

import bmm_numba
from bmm_numba import M_STEPS
from bmm_numba.estimator import mixture
from bmm_numba.kernels import m_step as _m_step
from bmm_numba.kernels import missing as _missing
from bmm_numba.kernels import sparse as _sparse

from . import oracle


def binary(rng, n=3000, d=40, p=0.3):
    return (rng.random((n, d)) < p).astype(np.uint8)


def soft(rng, n, k):
    return rng.dirichlet(np.ones(k), size=n)


def test_registry_names():
    assert list(M_STEPS) == ["numpy", "numba"]
    assert "M_STEPS" in bmm_numba.__all__


@pytest.mark.parametrize("name", list(M_STEPS))
@pytest.mark.parametrize("alpha", [0.0, 1.0, 0.25])
def test_m_step_equals_oracle(rng, name, alpha):
    X = binary(rng, n=700, d=13)
    resp = soft(rng, 700, 4)
    w = rng.uniform(0, 3, 700)
    mu, pi = M_STEPS[name](X, resp, alpha=alpha, sample_weight=w)
    expected_mu, expected_pi = oracle.m_step(X, resp, w, alpha)
    assert_allclose(mu, expected_mu, rtol=1e-12)
    assert_allclose(pi, expected_pi, rtol=1e-12)


def test_m_step_alpha_zero_clips_and_fills_empty_components(rng):
    X = np.array([[1, 0], [1, 0]])
    resp = np.array([[1.0, 0.0], [1.0, 0.0]])
    mu, pi = M_STEPS["numba"](X, resp, alpha=0.0)
    assert_array_equal(mu, [[1 - _m_step.MEANS_EPS, _m_step.MEANS_EPS], [0.5, 0.5]])
    assert_array_equal(pi, [1.0, 0.0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=-1), "alpha"),
        (dict(sample_weight=[1.0]), "sample_weight"),
        (dict(kernel="fast"), "kernel"),
    ],
)
def test_m_step_validation(kwargs, match):
    X = np.array([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match=match):
        _m_step.m_step(X, np.eye(2), **kwargs)
    with pytest.raises(ValueError, match="resp"):
        _m_step.m_step(X, np.eye(3))


def test_row_blocks_depend_on_shape_only_and_cover_every_row():
    for n, d, k in [(1, 1, 1), (255, 10, 2), (3000, 40, 4), (60000, 784, 10), (10**6, 10**4, 50)]:
        rows, blocks = _m_step.row_blocks(n, d, k)
        assert rows * blocks >= n > rows * (blocks - 1)
        assert blocks * d * k * 8 <= max(_m_step._MAX_PARTIAL_BYTES, d * k * 8)


def _compiled_cases(rng):
    """(name, serial, parallel, args) for every compiled body of the estimator's paths."""
    X = binary(rng)
    codes = X.copy()
    codes[rng.random(X.shape) < 0.2] = _missing.MISSING
    rw = soft(rng, X.shape[0], 5) * rng.uniform(0, 2, (X.shape[0], 1))
    mu = rng.uniform(0.05, 0.95, (5, X.shape[1]))
    pi = rng.dirichlet(np.ones(5))
    csr = sp.csr_matrix(X)
    csc = csr.tocsc()
    ip, ix = csr.indptr.astype(np.int64), csr.indices.astype(np.int64)
    cp, cx = csc.indptr.astype(np.int64), csc.indices.astype(np.int64)
    N, D, K = X.shape[0], X.shape[1], 5
    rows, blocks = _m_step.row_blocks(N, D, K)
    assert blocks > 1
    weights, bias = _sparse.padded_terms(mu, pi)
    KP = bias.shape[0]
    starts = _sparse.em_blocks(ip, D, KP)
    assert starts.shape[0] > 2  # several blocks, so their order matters
    w = rng.uniform(0, 2, N)
    log_mu, log_1m = np.ascontiguousarray(np.log(mu).T), np.ascontiguousarray(np.log1p(-mu).T)
    return [
        ("dense_stats", *_m_step.SERIAL_AND_PARALLEL["numba"],
         lambda: (X, rw, rows, np.empty((blocks, D, K)), np.empty((blocks, K)), np.empty(K),
                  np.empty((K, D)))),
        ("missing_e_step", *_missing.SERIAL_AND_PARALLEL["missing_e_step"],
         lambda: (codes, log_mu, log_1m, np.log(pi), np.empty((N, K)), np.empty(N))),
        ("missing_stats", *_missing.SERIAL_AND_PARALLEL["missing_stats"],
         lambda: (codes, rw, rows, np.empty((blocks, D, K)), np.empty((blocks, D, K)), np.empty((blocks, K)),
                  np.empty(K), np.empty((K, D)), np.empty((K, D)))),
        ("sparse_e_step", *_sparse.SERIAL_AND_PARALLEL["sparse_e_step"],
         lambda: (ip, ix, weights, bias, np.empty((N, KP)), np.empty(N))),
        ("sparse_em", *_sparse.SERIAL_AND_PARALLEL["sparse_em"],
         lambda: (ip, ix, weights, bias, w, starts, np.empty((starts.shape[0] - 1, D * KP)),
                  np.empty((starts.shape[0] - 1, KP)), np.empty(N))),
        ("sparse_stats", *_sparse.SERIAL_AND_PARALLEL["sparse_stats"],
         lambda: (cp, cx, rw, np.empty((D, K)))),
    ]


def test_serial_parallel_and_thread_counts_are_bit_identical(rng):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    previous = numba.get_num_threads()
    try:
        for name, serial, parallel, make_args in _compiled_cases(rng):
            expected = make_args()
            serial(*expected)
            for threads in (1, 2):
                numba.set_num_threads(threads)
                got = make_args()
                parallel(*got)
                for a, b in zip(got, expected, strict=True):
                    assert_array_equal(a, b, err_msg=f"{name}, {threads} threads")
    finally:
        numba.set_num_threads(previous)


def test_missing_value_kernels_equal_oracle(rng):
    X = binary(rng, n=400, d=15).astype(float)
    X[rng.random(X.shape) < 0.25] = np.nan
    X[3] = np.nan
    codes = np.where(np.isnan(X), _missing.MISSING, X).astype(np.uint8)
    mu = rng.uniform(0.05, 0.95, (3, 15))
    pi = np.array([0.5, 0.5, 0.0])  # an empty component is valid
    resp, log_norm = oracle.e_step(X, mu, pi)
    for impl in (_missing.numba_e_step, _missing.numpy_e_step):
        got_resp, got_norm = impl(codes, mu, pi)
        assert_allclose(got_resp, resp, atol=1e-13)
        assert_allclose(got_norm, log_norm, rtol=1e-12, atol=1e-14)
    w = rng.uniform(0, 2, 400)
    expected = oracle.m_step(X, resp, w, 0.5)
    for stats in (_missing.numba_stats, _missing.numpy_stats):
        nk, S, observed = stats(codes, resp * w[:, None])
        got = _m_step.params_from_stats(nk, S, 0.5, w.sum(), observed)
        assert_allclose(got[0], expected[0], rtol=1e-12)
        assert_allclose(got[1], expected[1], rtol=1e-12)


def test_sparse_kernels_equal_oracle(rng):
    X = binary(rng, n=300, d=50, p=0.05)
    csr = sp.csr_matrix(X)
    mu = rng.uniform(0.01, 0.99, (4, 50))
    pi = rng.dirichlet(np.ones(4))
    resp, log_norm = oracle.e_step(X, mu, pi)
    for got_resp, got_norm in (_sparse.numba_e_step(csr.indptr.astype(np.int64), csr.indices.astype(np.int64),
                                                     mu, pi),
                               _sparse.scipy_e_step(csr, mu, pi)):
        assert_allclose(got_resp, resp, atol=1e-13)
        assert_allclose(got_norm, log_norm, rtol=1e-12)
    csc = csr.tocsc()
    for nk, S in (_sparse.numba_stats(csc.indptr.astype(np.int64), csc.indices.astype(np.int64), resp),
                  _sparse.scipy_stats(csr.astype(np.float64), resp)):
        assert_allclose(nk, resp.sum(axis=0), rtol=1e-12)
        assert_allclose(S, resp.T @ X, rtol=1e-12)


@pytest.mark.parametrize("module", [_m_step, mixture])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def _sparse_em_reference(X, mu, pi, w):
    """Independent reference of one fused sparse pass: dense log-likelihood with SciPy's logsumexp."""
    Xf = X.astype(np.float64)
    log_joint = np.log(pi) + Xf @ np.log(mu).T + (1.0 - Xf) @ np.log1p(-mu).T
    log_norm = logsumexp(log_joint, axis=1)
    rw = np.exp(log_joint - log_norm[:, None]) * w[:, None]
    return rw.sum(axis=0), rw.T @ Xf, log_norm


# (N, D, K): N = 1, K = 1, D = 1; K = 10 (one vector and a pair), 16 (two vectors), 17 (odd K)
SPARSE_EM_SHAPES = [(1, 1, 1), (1, 9, 3), (7, 1, 2), (40, 13, 1), (300, 50, 10), (250, 30, 16), (200, 40, 17),
                    (2000, 25, 4)]


@pytest.mark.parametrize("shape", SPARSE_EM_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_fused_sparse_pass_equals_dense_reference(shape, rng):
    N, D, K = shape
    X = binary(rng, n=N, d=D, p=0.3)
    X[::3] = 0  # rows with no stored ones
    mu = rng.uniform(0.02, 0.98, (K, D))
    pi = rng.dirichlet(np.ones(K))
    w = rng.uniform(0, 2, N)
    w[::4] = 0.0  # weights with zeros
    csr = sp.csr_matrix(X)
    nk, S, log_norm = _sparse.numba_em_pass(csr.indptr.astype(np.int64), csr.indices.astype(np.int64), mu, pi, w)
    ref_nk, ref_S, ref_log_norm = _sparse_em_reference(X, mu, pi, w)
    assert nk.shape == (K,) and S.shape == (K, D) and log_norm.shape == (N,)
    assert_allclose(log_norm, ref_log_norm, rtol=1e-12, atol=1e-12)
    assert_allclose(nk, ref_nk, rtol=1e-11, atol=1e-12)
    assert_allclose(S, ref_S, rtol=1e-11, atol=1e-12)


def test_fused_sparse_pass_blocks_and_thread_counts_give_identical_bits(rng, monkeypatch):
    from bmm_numba.kernels import threads

    X = binary(rng, n=3000, d=60, p=0.2)
    mu, pi, w = rng.uniform(0.05, 0.95, (10, 60)), rng.dirichlet(np.ones(10)), rng.uniform(0, 2, 3000)
    csr = sp.csr_matrix(X)
    ip, ix = csr.indptr.astype(np.int64), csr.indices.astype(np.int64)
    assert _sparse.em_blocks(ip, 60, 10).shape[0] > 3  # several blocks: their order matters
    serial = _sparse.numba_em_pass(ip, ix, mu, pi, w, parallel=False)
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 0)  # the parallel build on this small problem
    previous = numba.get_num_threads()
    try:
        for n_threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(n_threads)
            for a, b in zip(serial, _sparse.numba_em_pass(ip, ix, mu, pi, w, parallel=True), strict=True):
                assert_array_equal(a, b, err_msg=f"{n_threads} threads")
    finally:
        numba.set_num_threads(previous)


@pytest.mark.parametrize("shape", [(1, 1, 1), (500, 10, 3), (5000, 100, 10), (3000, 7, 200)])
def test_sparse_em_blocks_depend_on_data_only_and_cover_every_row(shape, rng):
    N, D, K = shape
    csr = sp.csr_matrix(binary(rng, n=N, d=D, p=0.2))
    ip = csr.indptr.astype(np.int64)
    starts = _sparse.em_blocks(ip, D, K)
    assert starts[0] == 0 and starts[-1] == N and np.all(np.diff(starts) >= 0)
    n_blocks = starts.shape[0] - 1
    assert 1 <= n_blocks <= _sparse._MAX_BLOCKS
    assert n_blocks == 1 or n_blocks * D * K * 8 <= _sparse._MAX_PARTIAL_BYTES
    assert n_blocks == 1 or csr.nnz >= n_blocks * _sparse._MIN_BLOCK_ONES_PER_FEATURE * D
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert_array_equal(_sparse.em_blocks(ip, D, K), starts)
    finally:
        numba.set_num_threads(previous)


def test_backend_runs_the_fused_sparse_pass_for_compiled_kernels(rng, monkeypatch):
    from bmm_numba.em.backend import resolve_backend
    from bmm_numba.em.data import encode

    X = binary(rng, n=400, d=30, p=0.2)
    mu, pi, w = rng.uniform(0.05, 0.95, (4, 30)), rng.dirichlet(np.ones(4)), rng.uniform(0, 2, 400)
    data = encode(sp.csr_matrix(X))
    calls = []
    real = _sparse.numba_em_pass
    monkeypatch.setattr(_sparse, "numba_em_pass", lambda *a, **k: calls.append(1) or real(*a, **k))
    ref_nk, ref_S, ref_log_norm = _sparse_em_reference(X, mu, pi, w)
    for kernel in ("numba", "numba_ones", "numpy"):
        nk, S, observed, log_norm = resolve_backend(kernel).em_statistics(data, w, mu, pi)
        assert observed is None
        assert_allclose(nk, ref_nk, rtol=1e-11)
        assert_allclose(S, ref_S, rtol=1e-11, atol=1e-12)
        assert_allclose(log_norm, ref_log_norm, rtol=1e-12)
    assert len(calls) == 2  # the two compiled kernels; "numpy" runs the SciPy E-step and statistics


def test_fused_sparse_pass_gives_way_where_one_block_would_hold_every_one(rng, monkeypatch):
    from bmm_numba.em.backend import resolve_backend
    from bmm_numba.em.data import encode

    X = binary(rng, n=2000, d=20, p=0.3)  # ~12000 ones: enough for several blocks of 16 * 20
    data = encode(sp.csr_matrix(X))
    mu, pi, w = rng.uniform(0.05, 0.95, (4, 20)), rng.dirichlet(np.ones(4)), rng.uniform(0, 2, 2000)
    assert _sparse.fused_pass_fits(data.csr[0], 20, 4)
    monkeypatch.setattr(_sparse, "_MAX_PARTIAL_BYTES", 8 * 20 * 4)  # memory for one block only
    assert not _sparse.fused_pass_fits(data.csr[0], 20, 4)
    assert _sparse.fused_pass_fits(data.csr[0][:2], 20, 4)  # one row: one block is all it needs anyway
    monkeypatch.setattr(_sparse, "numba_em_pass", lambda *a, **k: pytest.fail("fused pass with one block"))
    nk, S, observed, log_norm = resolve_backend("numba").em_statistics(data, w, mu, pi)
    ref_nk, ref_S, ref_log_norm = _sparse_em_reference(X, mu, pi, w)
    assert observed is None
    assert_allclose(nk, ref_nk, rtol=1e-11)
    assert_allclose(S, ref_S, rtol=1e-11, atol=1e-12)
    assert_allclose(log_norm, ref_log_norm, rtol=1e-12)
