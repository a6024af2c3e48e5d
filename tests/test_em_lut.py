"""The fused E+M pass against NumPy statistics built from the oracle responsibilities."""

import numba
import numpy as np
import pytest

from bmm_numba._em_lut import em_blocks, lut_em_pass
from bmm_numba._validation import check_e_step_inputs

from .oracle import log_likelihood_per_row, responsibilities


def problem(rng, n, d, k, density=0.35):
    X = (rng.random((n, d)) < density).astype(np.uint8)
    return X, rng.uniform(0.02, 0.98, size=(k, d)), rng.dirichlet(np.ones(k))


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 784, 10), (7, 1, 3), (40, 5, 1), (300, 13, 9), (2500, 29, 17)],
                         ids=lambda s: "N{}-D{}-K{}".format(*s))
@pytest.mark.parametrize("weighted", [False, True])
def test_statistics_match_oracle(shape, weighted, rng):
    X, mu, pi = problem(rng, *shape)
    w = rng.uniform(0, 3, size=shape[0]) if weighted else None
    expected_rw = responsibilities(X, mu, pi) * (1.0 if w is None else w[:, None])
    nk, S, log_norm = lut_em_pass(X, mu, pi, w)
    np.testing.assert_allclose(nk, expected_rw.sum(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S, expected_rw.T @ X, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(log_norm, log_likelihood_per_row(X, mu, pi), rtol=1e-12)


def test_bad_values_raise(rng):
    X, mu, pi = problem(rng, 100, 20, 3)
    X[50, 17] = 7
    with pytest.raises(ValueError, match="only 0 and 1"):
        lut_em_pass(X, mu, pi)


def test_serial_parallel_and_thread_counts_give_identical_bits(rng):
    X, mu, pi = check_e_step_inputs(*problem(rng, 5000, 100, 10, density=0.2))
    assert em_blocks(5000)[1] > 1  # several blocks, so the combine order matters
    serial = lut_em_pass(X, mu, pi, parallel=False)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = lut_em_pass(X, mu, pi)
    finally:
        numba.set_num_threads(before)
    many = lut_em_pass(X, mu, pi)
    for a, b, c in zip(serial, one, many, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_blocks_depend_on_rows_only():
    assert em_blocks(1) == (1024, 1)
    assert em_blocks(60000) == (3750, 16)


@pytest.mark.parametrize("shape", [(1, 1, 1), (300, 13, 9), (700, 64, 17), (1000, 29, 3)],
                         ids=lambda s: "N{}-D{}-K{}".format(*s))
def test_statistics_of_given_responsibilities(shape, rng):
    from bmm_numba._em_lut import lut_stats

    n, d, k = shape
    X = (rng.random((n, d)) < 0.3).astype(np.uint8)
    rw = rng.random((n, k))
    nk, S = lut_stats(X, rw)
    np.testing.assert_allclose(nk, rw.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(S, rw.T @ X, rtol=1e-12, atol=1e-11)
    np.testing.assert_array_equal(S, lut_stats(X, rw, parallel=False)[1])
