"""The fused E+M pass against NumPy statistics built from the oracle responsibilities."""

import numba
import numpy as np
import pytest

from bmm_numba.kernels.table.em_pass import em_blocks, lut_em_pass
from bmm_numba.kernels.validation import check_e_step_inputs

from .oracle import log_likelihood_per_row, responsibilities


def problem(rng, n, d, k, density=0.35):
    X = (rng.random((n, d)) < density).astype(np.uint8)
    return X, rng.uniform(0.02, 0.98, size=(k, d)), rng.dirichlet(np.ones(k))


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 784, 10), (7, 1, 3), (40, 5, 1), (60, 9, 2), (300, 13, 9),
                                   (2500, 29, 17), (500, 70, 18)],
                         ids=lambda s: "N{}-D{}-K{}".format(*s))
@pytest.mark.parametrize("weighted", [False, True])
def test_statistics_match_oracle(shape, weighted, rng):
    X, mu, pi = problem(rng, *shape)
    w = rng.uniform(0, 3, size=shape[0]) if weighted else None
    expected_rw = responsibilities(X, mu, pi) * (1.0 if w is None else w[:, None])
    nk, S, log_prob_norm = lut_em_pass(X, mu, pi, w)
    np.testing.assert_allclose(nk, expected_rw.sum(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S, expected_rw.T @ X, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(log_prob_norm, log_likelihood_per_row(X, mu, pi), rtol=1e-12)


def test_bad_values_raise(rng):
    X, mu, pi = problem(rng, 100, 20, 3)
    X[50, 17] = 7
    with pytest.raises(ValueError, match="only 0 and 1"):
        lut_em_pass(X, mu, pi)


def test_serial_parallel_and_thread_counts_give_identical_bits(rng, monkeypatch):
    from bmm_numba.kernels import threads
    from bmm_numba.kernels.table import e_step as table_e_step_module
    from bmm_numba.kernels.table import em_pass as em_pass_module

    X, mu, pi = check_e_step_inputs(*problem(rng, 5000, 100, 10, density=0.2))
    assert em_blocks(5000)[1] > 1  # several blocks, so the combine order matters
    monkeypatch.setattr(threads, "TABLE_MIN_WORK", 0)  # threads even on this small problem
    monkeypatch.setattr(threads, "COMBINE_MIN_WORK", 0)  # and the combine of the partials
    splits, combine_splits = [], []
    real = threads.run_blocks

    def recording(record):
        def run(kernel, n_blocks, args, *, parallel):
            record.append(min(n_blocks, numba.get_num_threads()) if parallel else 1)
            return real(kernel, n_blocks, args, parallel=parallel)

        return run

    monkeypatch.setattr(table_e_step_module, "run_blocks", recording(splits))
    monkeypatch.setattr(em_pass_module, "run_blocks", recording(combine_splits))
    serial = lut_em_pass(X, mu, pi, parallel=False)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = lut_em_pass(X, mu, pi)
    finally:
        numba.set_num_threads(before)
    many = lut_em_pass(X, mu, pi)
    assert splits == [1, 1, min(em_blocks(5000)[1], numba.get_num_threads())]
    assert combine_splits == [1, 1, min(em_pass_module.COMBINE_CHUNKS, numba.get_num_threads())]
    for a, b, c in zip(serial, one, many, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_blocks_depend_on_rows_only():
    assert em_blocks(1) == (1024, 1)
    assert em_blocks(60000) == (3750, 16)


@pytest.mark.parametrize("shape", [(1, 1, 1), (300, 13, 9), (700, 64, 17), (1000, 29, 3)],
                         ids=lambda s: "N{}-D{}-K{}".format(*s))
def test_statistics_of_given_responsibilities(shape, rng):
    from bmm_numba.kernels.table.em_pass import lut_stats

    n, d, k = shape
    X = (rng.random((n, d)) < 0.3).astype(np.uint8)
    rw = rng.random((n, k))
    nk, S = lut_stats(X, rw)
    np.testing.assert_allclose(nk, rw.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(S, rw.T @ X, rtol=1e-12, atol=1e-11)
    np.testing.assert_array_equal(S, lut_stats(X, rw, parallel=False)[1])


def reference_row_lists(X, n_components):
    """Nibble-table offsets of each row's non-zero 4-pixel groups, from NumPy reshapes alone.

    Pixel groups 4q .. 4q+3 (X zero-padded to whole 8-pixel words), in order of q; group q has
    code sum_j x_{4q+j} 2^j and table row 16 q + code; lanes per row: K padded to a multiple
    of 8.
    """
    N, D = X.shape
    KP = 8 * -(-n_components // 8)
    D_pad = 8 * -(-D // 8)
    Xp = np.zeros((N, D_pad), dtype=np.int64)
    Xp[:, :D] = X
    codes = Xp.reshape(N, D_pad // 4, 4) @ (1 << np.arange(4))
    table_row = 16 * np.arange(D_pad // 4) + codes
    return [(table_row[n] * KP)[codes[n] != 0] for n in range(N)]


@pytest.mark.parametrize("d", [1, 5, 8, 29, 64, 71, 200, 784])
@pytest.mark.parametrize("k", [1, 10, 17])
def test_row_index_lists_every_non_zero_group(d, k, rng):
    from bmm_numba.kernels.table.e_step import build_row_index

    X, _, _ = problem(rng, 300, d, k, density=0.2)
    X[7] = 0  # an empty row
    starts, offsets = build_row_index(X, k)
    expected = reference_row_lists(X, k)
    assert starts[0] == 0 and starts.shape == (301,)
    for n in range(300):
        np.testing.assert_array_equal(offsets[starts[n]:starts[n + 1]], expected[n])


def test_row_index_rejects_values_above_one(rng):
    from bmm_numba.kernels.table.e_step import build_row_index

    X, _, _ = problem(rng, 300, 100, 3)
    X[299, 99] = 2
    with pytest.raises(ValueError, match="only 0 and 1"):
        build_row_index(X, 3)


@pytest.mark.parametrize("weighted", [False, True])
def test_pass_from_row_index_equals_pass_from_X(weighted, rng):
    from bmm_numba.kernels.table.e_step import build_row_index
    from bmm_numba.kernels.table.em_pass import lut_stats

    X, mu, pi = check_e_step_inputs(*problem(rng, 3000, 203, 11, density=0.2))
    w = rng.uniform(0, 2, size=3000) if weighted else None
    index = build_row_index(X, 11)
    for got, expected in zip(lut_em_pass(X, mu, pi, w, index=index), lut_em_pass(X, mu, pi, w), strict=True):
        np.testing.assert_array_equal(got, expected)
    rw = responsibilities(X, mu, pi)
    for got, expected in zip(lut_stats(X, rw, index=index), lut_stats(X, rw), strict=True):
        np.testing.assert_array_equal(got, expected)
