"""Reusing prepared parameter terms: keyed by the values of (mu, pi), never by identity."""

import threading

import numpy as np
import pytest

from bmm_numba import E_STEPS
from bmm_numba.kernels import param_cache as _param_cache
from bmm_numba.kernels.table.e_step import LUT_MIN_ROWS

from .oracle import responsibilities

#: One row count per path: the per-pixel kernel (few rows) and the table kernel.
ROWS = [5, LUT_MIN_ROWS + 8]


def problem(rng, n, d=37, k=4):
    X = (rng.random((n, d)) < 0.3).astype(np.uint8)
    return X, rng.uniform(0.05, 0.95, size=(k, d)), rng.dirichlet(np.ones(k))


@pytest.fixture
def calls(monkeypatch):
    """Count the preparations that really run (not the reused ones), whatever the kernel."""
    counts = []
    real = _param_cache.cached

    def counting(prepare):
        def counted(mu, pi):
            counts.append(prepare.__name__)
            return prepare(mu, pi)

        return real(counted)

    _param_cache.clear()
    yield counting, counts
    _param_cache.clear()


def test_equal_values_reuse_and_changed_values_prepare_again(calls):
    counting, counts = calls
    prepare = counting(lambda mu, pi: (np.log(mu), np.log(pi)))
    mu, pi = np.full((2, 3), 0.25), np.array([0.5, 0.5])
    first = prepare(mu, pi)
    assert prepare(mu.copy(), pi.copy()) is first  # a new array holding the same values: reused
    assert len(counts) == 1
    mu[1, 2] = 0.75  # changed in place: the same object, other values
    changed = prepare(mu, pi)
    assert len(counts) == 2
    np.testing.assert_array_equal(changed[0], np.log(mu))
    prepare(mu, np.array([0.25, 0.75]))  # pi alone changed
    assert len(counts) == 3
    prepare(mu.reshape(3, 2), np.array([0.25, 0.75]))  # same bytes, other shape
    assert len(counts) == 4


def test_large_terms_and_switched_off_are_never_kept(calls, monkeypatch):
    counting, counts = calls
    prepare = counting(lambda mu, pi: (mu * 2,))
    mu, pi = np.full((2, 3), 0.25), np.array([0.5, 0.5])
    monkeypatch.setattr(_param_cache, "MAX_CACHED_BYTES", 8)
    prepare(mu, pi)
    prepare(mu, pi)
    assert len(counts) == 2
    monkeypatch.setattr(_param_cache, "MAX_CACHED_BYTES", 1 << 20)
    monkeypatch.setattr(_param_cache, "ENABLED", False)
    prepare(mu, pi)
    prepare(mu, pi)
    assert len(counts) == 4


@pytest.mark.parametrize("n", ROWS)
def test_reused_terms_give_identical_bits_and_follow_in_place_changes(n, rng):
    X, mu, pi = problem(rng, n)
    _param_cache.clear()
    fresh = E_STEPS["numba"](X, mu, pi)
    again = E_STEPS["numba"](X, mu.copy(), pi.copy())  # reused terms
    np.testing.assert_array_equal(fresh, again)
    np.testing.assert_allclose(fresh, responsibilities(X, mu, pi), rtol=1e-10, atol=1e-12)
    E_STEPS["numba"](X, mu, pi)  # the last call saw this very object
    mu[:, : mu.shape[1] // 2] = 1.0 - mu[:, : mu.shape[1] // 2]  # in place: same object
    pi[:] = pi[::-1].copy()
    np.testing.assert_allclose(E_STEPS["numba"](X, mu, pi), responsibilities(X, mu, pi), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", ROWS)
def test_threads_alternating_parameters_get_their_own_results(n, rng):
    X = problem(rng, n)[0]
    params = [problem(rng, 1)[1:] for _ in range(3)]
    expected = [E_STEPS["numba"](X, mu, pi) for mu, pi in params]
    wrong = []

    def work(t):
        for i in range(60):
            j = (i + t) % len(params)
            if not np.array_equal(E_STEPS["numba"](X, *params[j]), expected[j]):
                wrong.append((t, i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
