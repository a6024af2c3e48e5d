"""Reproducers of issue 15 (hostile files, tampered models): each failed before the fix.

Item numbers refer to the issue's list; the fork and CLI items are in ``test_fork.py`` and
``test_cli.py``.
"""

import gzip
import os
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from bmm_numba import BernoulliMixture, e_step, load_model, select_n_components
from bmm_numba import datasets as ds

from .memory import peak_memory

IDX_BOMB_PEAK_LIMIT = 8 << 20  # bytes: "a few MiB"


def write_idx_bomb(path, megabytes_of_zeros=1000):
    """A gzip IDX whose header declares (2**32 - 1, 28, 28), then zeros (about 1 MB on disk)."""
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(b"\x00\x00\x08\x03" + struct.pack(">3I", 2**32 - 1, 28, 28))
        zeros = bytes(1 << 20)
        for _ in range(megabytes_of_zeros):
            fh.write(zeros)
    return path


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = (rng.random((300, 12)) < 0.3).astype(np.uint8)
    return BernoulliMixture(3, random_state=0).fit(X), X


# ---------------------------------------------------------------------------------------------
# item 1: a small gzip declaring a huge IDX array
# ---------------------------------------------------------------------------------------------


def test_idx_gzip_bomb_fails_with_bounded_memory(tmp_path):
    path = write_idx_bomb(tmp_path / "bomb-idx3-ubyte.gz")
    assert os.path.getsize(path) < 2 << 20
    with peak_memory() as traced:
        with pytest.raises(ValueError, match="bomb-idx3-ubyte.gz"):
            ds.read_idx(path)
    peak = traced.peak
    assert peak < IDX_BOMB_PEAK_LIMIT, f"peak {peak / 2**20:.1f} MiB"


def test_idx_gzip_truncated_within_ratio_fails_with_memory_of_data_read(tmp_path):
    # declares 2 MB of images, holds 1 MB: the ratio check passes, the stream check fails
    path = tmp_path / "short.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\x00\x00\x08\x03" + struct.pack(">3I", 2048, 32, 32) + bytes(1 << 20))
    with peak_memory() as traced:
        with pytest.raises(ValueError, match="truncated"):
            ds.read_idx(path)
    peak = traced.peak
    assert peak < 3 << 20


def test_idx_gzip_round_trip(tmp_path):
    images = np.arange(5 * 3 * 4, dtype=np.uint8).reshape(5, 3, 4)
    path = tmp_path / "ok.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\x00\x00\x08\x03" + struct.pack(">3I", *images.shape) + images.tobytes())
    np.testing.assert_array_equal(ds.read_idx(path), images)


def test_idx_bomb_subprocess_under_memory_cap(tmp_path):
    """The reproducer of the issue under a 512 MiB address-space cap (it peaked at 2 GiB before)."""
    path = write_idx_bomb(tmp_path / "bomb.gz")
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        import numpy, tracemalloc
        from bmm_numba.datasets import read_idx
        tracemalloc.start()
        try:
            read_idx({str(path)!r})
        except ValueError:
            print(tracemalloc.get_traced_memory()[1])
            sys.exit(0)
        sys.exit(1)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < IDX_BOMB_PEAK_LIMIT


# ---------------------------------------------------------------------------------------------
# items 2, 3: fitted parameters that no longer match, or tampered values
# ---------------------------------------------------------------------------------------------


def _tampered(fitted, **attrs):
    est, X = fitted
    bad = BernoulliMixture(3, random_state=0).fit(X)
    for name, value in attrs.items():
        setattr(bad, name, value)
    return bad, X


@pytest.mark.parametrize("kernel", ["numba", "numba_ones", "numba_log", "numpy"])
@pytest.mark.parametrize("method", ["predict_proba", "predict", "score_samples", "score"])
def test_narrow_means_raise_before_any_kernel(fitted, kernel, method):
    est, X = fitted
    bad, _ = _tampered(fitted, means_=est.means_[:, :6].copy())
    bad.set_params(kernel=kernel)
    with pytest.raises(ValueError, match="means_ has shape"):
        getattr(bad, method)(X)


def test_narrow_means_sparse_and_missing(fitted):
    est, X = fitted
    bad, _ = _tampered(fitted, means_=est.means_[:, :6].copy())
    Xm = X.astype(float)
    Xm[0, 0] = np.nan
    for data in (sp.csr_matrix(X), Xm):
        with pytest.raises(ValueError, match="means_ has shape"):
            bad.predict_proba(data)


BAD_PARAMETERS = {
    "means NaN": {"means_": lambda m, w: np.where(np.arange(m.size).reshape(m.shape) == 0, np.nan, m)},
    "means 0": {"means_": lambda m, w: np.where(np.arange(m.size).reshape(m.shape) == 0, 0.0, m)},
    "means 1": {"means_": lambda m, w: np.where(np.arange(m.size).reshape(m.shape) == 0, 1.0, m)},
    "means 1.5": {"means_": lambda m, w: m + 1.0},
    "means negative": {"means_": lambda m, w: -m},
    "means inf": {"means_": lambda m, w: np.full_like(m, np.inf)},
    "weights negative": {"weights_": lambda m, w: np.array([1.5, -0.25, -0.25])},
    "weights NaN": {"weights_": lambda m, w: np.array([np.nan, 0.5, 0.5])},
    "weights zero": {"weights_": lambda m, w: np.zeros(3)},
    "weights sum 2": {"weights_": lambda m, w: 2 * w},
    "weights length 1": {"weights_": lambda m, w: np.ones(1)},
    "weights 2-D": {"weights_": lambda m, w: w[None, :]},
    "means text": {"means_": lambda m, w: np.full(m.shape, "a")},
}


@pytest.mark.parametrize("case", sorted(BAD_PARAMETERS))
@pytest.mark.parametrize("use", ["predict_proba", "predict", "score_samples", "sample", "warm_start", "partial_fit"])
def test_tampered_parameters_raise(fitted, case, use):
    est, X = fitted
    attrs = {name: make(est.means_, est.weights_) for name, make in BAD_PARAMETERS[case].items()}
    bad, _ = _tampered(fitted, **attrs)
    with pytest.raises(ValueError, match="fitted (means_|weights_)"):
        if use == "sample":
            bad.sample(5)
        elif use == "warm_start":
            bad.set_params(warm_start=True).fit(X)
        elif use == "partial_fit":
            bad.partial_fit(X[:50])
        else:
            getattr(bad, use)(X)


def test_valid_parameters_predict_as_before(fitted):
    est, X = fitted
    copy = BernoulliMixture(3).set_params(**est.get_params())
    copy.means_, copy.weights_, copy.n_features_in_ = est.means_.tolist(), est.weights_.tolist(), X.shape[1]
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))


# ---------------------------------------------------------------------------------------------
# the model file
# ---------------------------------------------------------------------------------------------


def test_model_file_round_trip(fitted, tmp_path):
    est, X = fitted
    path = tmp_path / "model.npz"
    est.save(path, bic=est.bic(X), data="test data")
    loaded = load_model(path)
    assert isinstance(loaded, BernoulliMixture)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))
    assert loaded.get_params() == est.get_params()
    assert (loaded.n_iter_, loaded.converged_, loaded.lower_bound_) == (est.n_iter_, est.converged_,
                                                                        est.lower_bound_)
    np.testing.assert_array_equal(BernoulliMixture.load(path).means_, est.means_)
    from bmm_numba.estimator.persist import read_model

    assert read_model(path)[1]["bic"] == est.bic(X)


def test_model_file_keeps_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    df = pd.DataFrame((rng.random((40, 3)) < 0.5).astype(np.uint8), columns=["a", "b", "c"])
    est = BernoulliMixture(2, random_state=0).fit(df)
    est.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert list(loaded.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.predict(df), est.predict(df))


def _rewrite(path, out, **changes):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(out, **arrays)
    return out


TAMPERED_FILES = {
    "NaN means": lambda a: {"means": np.full_like(a["means"], np.nan)},
    "narrow means": lambda a: {"means": a["means"][:, :3]},
    "weights sum 2": lambda a: {"weights": 2 * a["weights"]},
    "weights length 1": lambda a: {"weights": np.ones(1)},
    "newer version": lambda a: {"format_version": np.int64(2)},
    "other format": lambda a: {"format": np.str_("something else")},
    "no means": lambda a: {"means": None},
    "params not JSON": lambda a: {"params": np.str_("{")},
    "unknown param": lambda a: {"params": np.str_('{"n_components": 3, "evil": 1}')},
    "bad param": lambda a: {"params": np.str_('{"n_components": 3, "alpha": -1}')},
    "K mismatch": lambda a: {"params": np.str_('{"n_components": 2}')},
    "n_features mismatch": lambda a: {"n_features_in": np.int64(99)},
    "reseeded shape": lambda a: {"reseeded": np.zeros((2, 2), dtype=np.int64)},
}


@pytest.mark.parametrize("case", sorted(TAMPERED_FILES))
def test_tampered_model_file_raises(fitted, tmp_path, case):
    est, _ = fitted
    est.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    path = _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", **TAMPERED_FILES[case](arrays))
    with pytest.raises(ValueError, match="bad.npz"):
        load_model(path)


def test_model_file_with_pickled_member_is_refused(fitted, tmp_path):
    est, _ = fitted
    est.save(tmp_path / "m.npz")
    path = _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz", params=np.array([{"n_components": 3}], dtype=object))
    with pytest.raises(ValueError, match="bad.npz"):
        load_model(path)


# ---------------------------------------------------------------------------------------------
# item 4: sparse duplicates are one cell
# ---------------------------------------------------------------------------------------------


def _duplicate_csr(n=300, d=12):
    indptr = np.zeros(n + 1, dtype=np.int32)
    indptr[1:] = 2
    return sp.csr_matrix((np.ones(2), np.array([0, 0], dtype=np.int32), indptr), shape=(n, d))


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_duplicate_entries_summed_before_check(fitted, fmt):
    est, X = fitted
    A = _duplicate_csr().asformat(fmt) if fmt != "csr" else _duplicate_csr()
    if fmt == "csc":
        A = sp.csc_matrix((np.ones(2), np.array([0, 0]), np.r_[0, np.full(12, 2)]), shape=(300, 12))
    with pytest.raises(ValueError, match="only 0 and 1"):
        est.score_samples(A)


def test_sparse_duplicates_summing_to_one_are_one_cell(fitted):
    est, X = fitted
    A = _duplicate_csr(X.shape[0], X.shape[1])
    A.data[:] = [1.0, 0.0]
    dense = np.zeros(X.shape, dtype=np.uint8)
    dense[0, 0] = 1
    indptr = A.indptr.copy()
    np.testing.assert_allclose(est.score_samples(A), est.score_samples(dense), rtol=1e-12)
    np.testing.assert_array_equal(A.indptr, indptr)  # the caller's matrix is not modified
    assert A.nnz == 2


def test_sparse_column_index_out_of_bounds_raises(fitted):
    est, X = fitted
    A = sp.csr_matrix((np.ones(1), np.array([5]), np.r_[0, np.ones(X.shape[0], dtype=int)]), shape=(X.shape[0], 12))
    A.indices[0] = 10**6  # bypasses the constructor's checks, as a hand-built matrix can
    with pytest.raises(ValueError):
        est.predict(A)


# ---------------------------------------------------------------------------------------------
# items 6, 12: loaders
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("member", "content"), [("X.npy", b"this is not an npy file"), ("X", b"raw bytes")],
                         ids=["not-npy", "no-suffix"])
def test_npz_member_that_is_not_npy(tmp_path, member, content):
    path = tmp_path / "bad.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, content)
    with pytest.raises(ValueError, match="bad.npz"):
        ds.load_npz(path)


def test_npy_header_declaring_more_than_the_file(tmp_path):
    path = tmp_path / "big.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), np.uint8))
    header["shape"] = (10**12, 784)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(bytes(100))
    with peak_memory() as traced:
        with pytest.raises(ValueError, match="big.npy"):
            ds.load_npy(path)
    peak = traced.peak
    assert peak < 1 << 20


def test_mnist_folder_with_zero_images(tmp_path):
    for name, dims in (("train-images-idx3-ubyte", (0, 28, 28)), ("train-labels-idx1-ubyte", (0,))):
        with open(tmp_path / name, "wb") as fh:
            fh.write(b"\x00\x00\x08" + bytes([len(dims)]) + struct.pack(f">{len(dims)}I", *dims))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*0 images"):
        ds.load_mnist(tmp_path)


# ---------------------------------------------------------------------------------------------
# loader side of item 11: CSV streamed
# ---------------------------------------------------------------------------------------------


def test_csv_max_rows_stops_reading(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,0\n0,\n1,1\nnot,numbers\n")
    X = ds.load_csv(path, max_rows=3)
    np.testing.assert_array_equal(X, [[1, 0], [0, np.nan], [1, 1]])
    with pytest.raises(ValueError, match="line 5"):
        ds.load_csv(path)


def test_csv_memory_is_the_array(tmp_path):
    rng = np.random.default_rng(0)
    X = (rng.random((20000, 50)) < 0.3).astype(np.uint8)
    path = tmp_path / "x.csv"
    np.savetxt(path, X, fmt="%d", delimiter=",")
    with peak_memory() as traced:
        Y = ds.load_csv(path)
    peak = traced.peak
    np.testing.assert_array_equal(Y, X)
    assert peak < 2.5 * Y.nbytes  # blocks, then the array (a list of Python floats was ~18x the file)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_csv_dev_zero_is_refused():
    with pytest.raises(ValueError, match="/dev/zero"):
        ds.load_csv("/dev/zero")


# ---------------------------------------------------------------------------------------------
# items 8, 9, 13, 14
# ---------------------------------------------------------------------------------------------


def test_bic_aic_accept_lists(fitted):
    est, X = fitted
    assert est.bic(X.tolist()) == est.bic(X)
    assert est.aic(X.tolist()) == est.aic(X)


@pytest.mark.parametrize("K", [1.7, 0, -1, "2", True])
def test_select_n_components_rejects_non_integers(fitted, K):
    _, X = fitted
    with pytest.raises(ValueError, match="n_components"):
        select_n_components(X, [K])


def test_e_step_accepts_pandas_nullable_int8(fitted):
    pd = pytest.importorskip("pandas")
    est, X = fitted
    df = pd.DataFrame(X).astype("Int8")
    np.testing.assert_array_equal(e_step(df, est.means_, est.weights_), e_step(X, est.means_, est.weights_))


def test_e_step_pandas_nullable_with_missing_is_rejected(fitted):
    pd = pytest.importorskip("pandas")
    est, X = fitted
    df = pd.DataFrame(X).astype("Int8")
    df.iloc[0, 0] = pd.NA
    with pytest.raises(ValueError, match="only 0 and 1"):
        e_step(df, est.means_, est.weights_)


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_all_nan_data_is_rejected(how):
    X = np.full((20, 4), np.nan)
    with pytest.raises(ValueError, match="every cell of X is missing"):
        getattr(BernoulliMixture(2), how)(X)
