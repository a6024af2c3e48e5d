"""Compiled Hamming distances of the seeding starts against the NumPy formulas they replaced.

The references below are the package's former ``hamming_to`` and seeding loops, copied
verbatim: the compiled distances must equal them exactly (so the seeds drawn for a given
``random_state`` are unchanged), not just closely.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils import check_random_state

from bmm_numba.em.data import MixtureData, encode
from bmm_numba.em.init import hamming_to, initial_resp, seed_row
from bmm_numba.kernels import hamming
from bmm_numba.kernels.hamming import hamming_csr, hamming_packed, hamming_packed_missing, pack_missing, pack_rows

MISSING_CODE = 2  # the coded value of a NaN cell


# ------------------------------------------------------------------------------------------------
# independent references: the former NumPy implementation
# ------------------------------------------------------------------------------------------------

def reference_row_sums(data):
    if data.kind == "sparse":
        return np.diff(data.X.indptr).astype(np.float64)
    if data.kind == "dense":
        return data.X.sum(axis=1, dtype=np.int64)
    return None


def reference_seed_row(data, i):
    if data.kind == "sparse":
        return data.X[i].toarray().ravel().astype(np.uint8)
    return data.X[i]


def reference_hamming(data, seed, row_sums):
    if data.kind == "sparse":
        common = np.asarray(data.X @ seed.astype(np.float64)).ravel()
        return row_sums + float(seed.sum()) - 2.0 * common
    if data.kind == "dense":
        ones = np.flatnonzero(seed)
        common = data.X[:, ones].sum(axis=1, dtype=np.int64)
        return (row_sums + ones.size - 2 * common).astype(np.float64)
    D = data.n_features
    seed_obs = seed != MISSING_CODE
    Xc = data.X
    both = (Xc != MISSING_CODE) & seed_obs
    n_both = both.sum(axis=1)
    mismatches = ((Xc != seed) & both).sum(axis=1)
    return np.where(n_both > 0, mismatches * D / np.maximum(n_both, 1), 0.0)


def reference_draw(rng, p_unnormalised, size):
    cum = np.cumsum(p_unnormalised)
    idx = np.searchsorted(cum, rng.uniform(size=size) * cum[-1], side="right")
    return np.minimum(idx, cum.size - 1)


def reference_kmeans_plusplus(data, w, n_components, rng):
    row_sums = reference_row_sums(data)
    n_trials = 2 + int(np.log(n_components))
    first = int(reference_draw(rng, w, 1)[0])
    closest = reference_hamming(data, reference_seed_row(data, first), row_sums)
    labels = np.zeros(data.n_samples, dtype=np.intp)
    for k in range(1, n_components):
        potential = w * closest
        candidates = reference_draw(rng, potential if potential.sum() > 0 else w, n_trials)
        best = None
        for c in candidates:
            dist = reference_hamming(data, reference_seed_row(data, int(c)), row_sums)
            score = float(np.dot(w, np.minimum(closest, dist)))
            if best is None or score < best[0]:
                best = (score, dist)
        closer = best[1] < closest
        labels[closer] = k
        closest = np.where(closer, best[1], closest)
    return labels


def reference_random_from_data(data, w, n_components, rng):
    positive = np.flatnonzero(w > 0)
    seeds = rng.choice(positive, size=n_components, replace=False, p=w[positive] / w[positive].sum())
    row_sums = reference_row_sums(data)
    dists = np.column_stack([reference_hamming(data, reference_seed_row(data, int(s)), row_sums) for s in seeds])
    return np.argmin(dists, axis=1)


# ------------------------------------------------------------------------------------------------
# problems
# ------------------------------------------------------------------------------------------------

SHAPES = [(1, 1), (1, 7), (5, 1), (13, 63), (9, 64), (17, 65), (40, 130), (200, 784)]


def make_data(kind, n, d, seed):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, d)) < rng.uniform(0.05, 0.6)).astype(np.float64)
    if kind == "missing":
        X[rng.random((n, d)) < 0.4] = np.nan
        X[0] = np.nan  # an all-missing row: distance 0 to every seed
        if n > 2:
            X[1, :] = 1.0  # and a fully observed one
    data = encode(sp.csr_matrix(X) if kind == "sparse" else X)
    if kind == "missing" and data.kind != "missing":  # NaN everywhere dropped out: force the form
        data = MixtureData("missing", data.X)
    return data


@pytest.mark.parametrize("kind", ["dense", "missing", "sparse"])
@pytest.mark.parametrize("shape", SHAPES)
def test_distance_to_every_row_equals_the_numpy_formula(kind, shape):
    data = make_data(kind, *shape, seed=shape[0] * 1000 + shape[1])
    row_sums = reference_row_sums(data)
    for i in range(min(data.n_samples, 6)):
        expected = reference_hamming(data, reference_seed_row(data, i), row_sums)
        np.testing.assert_array_equal(seed_row(data, i), reference_seed_row(data, i))
        got = hamming_to(data, seed_row(data, i))
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)  # exact, not close


@pytest.mark.parametrize("shape", SHAPES)
def test_missing_distance_to_an_outside_seed(shape):
    data = make_data("missing", *shape, seed=7)
    rng = np.random.default_rng(1)
    seed = rng.integers(0, 3, size=shape[1]).astype(np.uint8)
    np.testing.assert_array_equal(hamming_to(data, seed), reference_hamming(data, seed, None))
    all_missing = np.full(shape[1], MISSING_CODE, dtype=np.uint8)
    np.testing.assert_array_equal(hamming_to(data, all_missing), np.zeros(shape[0]))


@pytest.mark.parametrize("kind", ["dense", "missing", "sparse"])
@pytest.mark.parametrize("method", ["k-means++", "random_from_data"])
@pytest.mark.parametrize("n, d, K", [(1, 1, 1), (1, 5, 1), (30, 1, 2), (50, 70, 1), (60, 70, 5), (300, 129, 12)])
def test_seeds_and_labels_equal_the_former_implementation(kind, method, n, d, K):
    data = make_data(kind, n, d, seed=n + d + K)
    w = np.random.default_rng(0).uniform(0.0, 2.0, n)
    w[0] = max(w[0], 0.5)
    if n > 3:
        w[2] = 0.0  # a zero weight is never a seed
    w_positive = int((w > 0).sum())
    if method == "random_from_data" and w_positive < K:
        pytest.skip("fewer positive weights than seeds")
    reference = reference_kmeans_plusplus if method == "k-means++" else reference_random_from_data
    for state in range(3):
        expected = reference(data, w, K, check_random_state(state))
        resp = initial_resp(data, w, K, method, check_random_state(state))
        np.testing.assert_array_equal(resp.argmax(axis=1), expected)
        np.testing.assert_array_equal(resp.sum(axis=1), np.ones(n))


@pytest.mark.parametrize("n, d", [(1, 1), (3, 64), (70, 200)])
def test_serial_and_parallel_builds_agree(n, d):
    rng = np.random.default_rng(n)
    codes = rng.integers(0, 3, size=(n, d)).astype(np.uint8)
    ones, observed = pack_missing(codes)
    words = pack_rows((codes == 1).view(np.uint8), None)
    X = sp.csr_matrix((codes == 1).astype(np.float64))
    indptr, indices = X.indptr.astype(np.int64), X.indices.astype(np.int64)
    seed = (codes[-1] == 1).view(np.uint8)
    for parallel in (False, True):
        np.testing.assert_array_equal(hamming_packed(words, words[-1], parallel=parallel),
                                      hamming_packed(words, words[-1], parallel=not parallel))
        np.testing.assert_array_equal(
            hamming_packed_missing(ones, observed, ones[0], observed[0], n_features=d, parallel=parallel),
            hamming_packed_missing(ones, observed, ones[0], observed[0], n_features=d, parallel=not parallel))
        np.testing.assert_array_equal(hamming_csr(indptr, indices, seed, parallel=parallel),
                                      hamming_csr(indptr, indices, seed, parallel=not parallel))


def test_pack_rows_sets_one_bit_per_matching_cell_and_no_padding_bits():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 3, size=(9, 130)).astype(np.uint8)
    ones, observed = pack_missing(codes)
    assert ones.shape == observed.shape == (9, 3) and ones.dtype == np.uint64
    popcounts = np.array([[bin(int(v)).count("1") for v in row] for row in ones]).sum(axis=1)
    np.testing.assert_array_equal(popcounts, (codes == 1).sum(axis=1))
    popcounts = np.array([[bin(int(v)).count("1") for v in row] for row in observed]).sum(axis=1)
    np.testing.assert_array_equal(popcounts, (codes != MISSING_CODE).sum(axis=1))
    assert hamming.popcount(np.uint64(2**64 - 1)) == 64


def test_packed_rows_are_built_once_per_data():
    data = make_data("dense", 20, 10, seed=0)
    assert data.packed is data.packed
    assert make_data("sparse", 5, 4, seed=0).packed is None


def test_bad_arguments_raise_before_any_kernel():
    words = pack_rows(np.zeros((3, 70), dtype=np.uint8), None)
    with pytest.raises(TypeError, match="words"):
        hamming_packed(words.astype(np.int64), words[0])
    with pytest.raises(ValueError, match="seed"):
        hamming_packed(words, words[0, :1].copy())
    with pytest.raises(TypeError, match="X"):
        pack_rows(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="observed"):
        hamming_packed_missing(words, words[:2].copy(), words[0], words[0], n_features=70)
    with pytest.raises(TypeError, match="seed"):
        hamming_csr(np.zeros(4, np.int64), np.zeros(0, np.int64), np.zeros(3))
    with pytest.raises(ValueError, match="indptr"):
        hamming_csr(np.array([0, 2], np.int64), np.zeros(1, np.int64), np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="features"):
        hamming_to(make_data("dense", 4, 5, seed=0), np.zeros(6, np.uint8))
