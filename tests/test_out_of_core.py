"""Out-of-core on one machine: memmap fits by row blocks and ``partial_fit``'s incremental EM."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from bmm_numba import BernoulliMixture
from bmm_numba.em import blocks
from bmm_numba.estimator import memmap

from .memory import peak_memory
from .problems import mixture_rows as _mixture_data

ATOL = 1e-9


def _fit(X, sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # ConvergenceWarning: fixed max_iter, tol=0
        est = BernoulliMixture(**{"n_components": 3, "tol": 0.0, "max_iter": 15, **params})
        return est.fit(X, sample_weight=sample_weight)


def _memmap(tmp_path, X, mode="r"):
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode=mode)


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(memmap, "BLOCK_BYTES", 4096)  # many blocks even on small data


# -------------------------------------------------------------------------------------------
# memmap
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["r", "r+"])
def test_memmap_fit_equals_in_memory_fit(tmp_path, small_blocks, mode):
    X = _mixture_data()
    Xm = _memmap(tmp_path, X, mode)
    w = np.random.default_rng(1).uniform(0, 2, X.shape[0])
    for params in ({"random_state": 0, "n_init": 2}, {"random_state": 3, "init_params": "random"}):
        got, expected = _fit(Xm, w, **params), _fit(X, w, **params)
        np.testing.assert_allclose(got.means_, expected.means_, rtol=0, atol=ATOL)
        np.testing.assert_allclose(got.weights_, expected.weights_, rtol=0, atol=ATOL)
        np.testing.assert_allclose(got.lower_bounds_, expected.lower_bounds_, rtol=0, atol=ATOL)
        np.testing.assert_array_equal(got.labels_, expected.labels_)
    np.testing.assert_allclose(got.predict_proba(Xm), expected.predict_proba(X), rtol=0, atol=1e-12)
    assert got.score(Xm) == pytest.approx(expected.score(X), abs=1e-12)


def test_memmap_with_missing_values_equals_in_memory(tmp_path, small_blocks):
    X = _mixture_data().astype(np.float32)
    X[np.random.default_rng(2).random(X.shape) < 0.15] = np.nan
    got, expected = _fit(_memmap(tmp_path, X), random_state=0), _fit(X, random_state=0)
    np.testing.assert_allclose(got.means_, expected.means_, rtol=0, atol=ATOL)
    np.testing.assert_allclose(got.lower_bounds_, expected.lower_bounds_, rtol=0, atol=ATOL)


def test_memmap_bad_values_raise(tmp_path, small_blocks):
    X = _mixture_data().astype(np.float64)
    X[1400, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        _fit(_memmap(tmp_path, X), random_state=0)


def test_memmap_is_never_copied_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(memmap, "BLOCK_BYTES", 256 * 1024)
    monkeypatch.setattr(blocks, "INIT_SAMPLE_ROWS", 2000)
    X = _mixture_data(n=100_000, d=100)  # 10 MB
    Xm = _memmap(tmp_path, X)
    del X
    _fit(Xm[:3000], random_state=0, max_iter=3)  # compile outside the measurement
    with peak_memory() as traced:
        est = _fit(Xm, random_state=0, max_iter=3)
    peak = traced.peak
    # labels_ alone take 0.8 MB; the data 10 MB: anything like a copy would show
    assert peak < Xm.nbytes / 4, f"peak {peak / 2**20:.1f} MiB for {Xm.nbytes / 2**20:.1f} MiB of data"
    assert est.labels_.shape == (100_000,)


# -------------------------------------------------------------------------------------------
# partial_fit
# -------------------------------------------------------------------------------------------


def test_partial_fit_passes_converge_to_full_batch_fit():
    X = _mixture_data(seed=3, n=2000)
    start = np.random.default_rng(0).uniform(0.3, 0.7, (3, X.shape[1]))
    batches = np.array_split(X, 5)
    inc = BernoulliMixture(3, means_init=start, partial_fit_method="incremental")
    for _ in range(40):
        for batch in batches:
            inc.partial_fit(batch)
    full = _fit(X, means_init=start, max_iter=500)  # tol=0: to the fixed point
    # tol=0 stops where the objective no longer moves (1e-13 relative): parameters agree to ~sqrt of that
    np.testing.assert_allclose(inc.means_, full.means_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(inc.weights_, full.weights_, rtol=0, atol=1e-6)
    assert inc.lower_bound_ == pytest.approx(full.lower_bound_, abs=1e-9)
    assert inc.n_iter_ == 200 and not inc.converged_


def test_partial_fit_replaces_a_batch_seen_again():
    X = _mixture_data(seed=4)
    est = BernoulliMixture(3, random_state=0, partial_fit_method="incremental")
    for _ in range(3):
        est.partial_fit(X[:500])
    assert len(est._online.batches) == 1
    est.partial_fit(X[500:])
    assert len(est._online.batches) == 2


def test_partial_fit_with_missing_values_sparse_and_weights():
    X = _mixture_data(seed=5).astype(np.float64)
    X[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    start = np.random.default_rng(0).uniform(0.3, 0.7, (3, X.shape[1]))
    inc = BernoulliMixture(3, means_init=start, partial_fit_method="incremental")
    for _ in range(40):
        for rows in np.array_split(np.arange(X.shape[0]), 3):
            inc.partial_fit(X[rows], sample_weight=w[rows])
    full = _fit(X, w, means_init=start, max_iter=400)
    np.testing.assert_allclose(inc.means_, full.means_, rtol=0, atol=1e-6)
    Xs = sp.csr_matrix(_mixture_data(seed=6))
    est = BernoulliMixture(2, random_state=0).partial_fit(Xs[:700]).partial_fit(Xs[700:])
    assert np.isfinite(est.means_).all()


def test_partial_fit_after_fit_continues_and_fit_forgets_batches():
    X = _mixture_data(seed=6)
    est = _fit(X, random_state=0)
    before = est.means_.copy()
    est.partial_fit(X)  # one more EM step from the fitted parameters, on all rows
    step = _fit(X, means_init=before, weights_init=_fit(X, random_state=0).weights_, max_iter=1)
    np.testing.assert_allclose(est.means_, step.means_, rtol=0, atol=1e-12)
    assert est.n_iter_ == 1
    _fit(X[:100], random_state=0)  # refit on a clone leaves est alone
    est.set_params(max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    assert not hasattr(est, "_online")
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :5])


def test_row_index_is_built_once_per_in_memory_fit_and_never_per_block(tmp_path, small_blocks, monkeypatch):
    """The EM passes' row index pays off only for data that many passes read."""
    from bmm_numba.em import data as mixture_data
    from bmm_numba.kernels.table.e_step import LUT_MIN_ROWS

    calls = []
    real = mixture_data.build_row_index
    monkeypatch.setattr(mixture_data, "build_row_index", lambda *a, **k: calls.append(a[0].shape) or real(*a, **k))
    X = _mixture_data()
    assert X.shape[0] >= LUT_MIN_ROWS  # the table path
    in_memory = _fit(X, None, random_state=0, n_init=2)
    assert calls == [X.shape]
    calls.clear()
    from_blocks = _fit(_memmap(tmp_path, X), None, random_state=0, n_init=2)
    assert calls == [X.shape] * 2  # the short-EM start's 100 passes over the init sample, never a block
    np.testing.assert_allclose(from_blocks.means_, in_memory.means_, rtol=0, atol=ATOL)
