"""Loaders of bmm_numba.datasets against hand-made files (IDX, npy, npz, csv)."""

import gzip
import struct

import numpy as np
import pytest

from bmm_numba.datasets import (
    NonBinaryError,
    binarize,
    load_csv,
    load_digits_binary,
    load_mnist,
    load_npy,
    load_npz,
    make_bernoulli_mixture,
    read_idx,
)

from .memory import peak_memory


def idx_bytes(array, *, magic=None, dims=None):
    array = np.asarray(array, dtype=np.uint8)
    dims = array.shape if dims is None else dims
    magic = bytes([0, 0, 0x08, len(dims)]) if magic is None else magic
    return magic + struct.pack(f">{len(dims)}I", *dims) + array.tobytes()


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def mnist_folder(folder, n_train=6, n_test=4, gz=False, rng=None):
    """Four IDX files of tiny 28x28 'images' (values 0..255) and labels."""
    rng = np.random.default_rng(0) if rng is None else rng
    folder.mkdir(exist_ok=True)
    suffix = ".gz" if gz else ""
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write(folder / f"{stem}-images-idx3-ubyte{suffix}", idx_bytes(images), gz)
        write(folder / f"{stem}-labels-idx1-ubyte{suffix}", idx_bytes(labels), gz)
    return folder


# ---------------------------------------------------------------------------------------------
# IDX
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    expected = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    got = read_idx(write(tmp_path / "a.idx", idx_bytes(expected), gz))
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated_data(tmp_path, gz):
    data = idx_bytes(np.zeros((5, 4, 4)))[:-3]
    with pytest.raises(ValueError, match=r"declares shape \(5, 4, 4\).*holds 77 bytes of data \(truncated"):
        read_idx(write(tmp_path / "t.idx", data, gz))


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_trailing_data(tmp_path, gz):
    data = idx_bytes(np.zeros((2, 2))) + b"extra"
    with pytest.raises(ValueError, match=r"holds (9|more than 4) bytes of data \(trailing data"):
        read_idx(write(tmp_path / "t.idx", data, gz))


def test_read_idx_truncated_header(tmp_path):
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(write(tmp_path / "h.idx", bytes([0, 0, 8, 3, 0, 0])))


@pytest.mark.parametrize("magic", [b"\x00\x00\x0d\x02", b"PK\x03\x04", b"\x01\x00\x08\x02", b""])
def test_read_idx_wrong_magic(tmp_path, magic):
    data = magic + struct.pack(">2I", 2, 2) + bytes(4) if magic else b""
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        read_idx(write(tmp_path / "m.idx", data))


def test_read_idx_bad_dimension_count(tmp_path):
    with pytest.raises(ValueError, match="declares 0 dimensions"):
        read_idx(write(tmp_path / "d.idx", bytes([0, 0, 8, 0])))


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_absurd_dimensions_fail_fast_without_allocating(tmp_path, gz):
    # 4 billion x 4 billion x 4 billion declared, 100 bytes present
    data = bytes([0, 0, 8, 3]) + struct.pack(">3I", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(100)
    path = write(tmp_path / "huge.idx", data, gz)
    with peak_memory() as traced:
        with pytest.raises(ValueError, match="declares shape"):
            read_idx(path)
    peak = traced.peak
    assert peak < 16 * 2**20  # a few chunks at most, nothing like the declared size


def test_read_idx_damaged_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000) % 256))[:-20]
    with pytest.raises(ValueError, match="damaged gzip stream"):
        read_idx(write(tmp_path / "z.idx", data))


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("split, n", [("train", 6), ("test", 4)])
def test_load_mnist_small_folder(tmp_path, gz, split, n):
    folder = mnist_folder(tmp_path / "mnist", gz=gz)
    X, labels = load_mnist(folder, split=split)
    assert X.shape == (n, 784) and labels.shape == (n,)
    assert X.dtype == np.uint8 and set(np.unique(X)) <= {0, 1}
    raw, _ = load_mnist(folder, split=split, threshold=None)
    np.testing.assert_array_equal(X, (raw >= 128).astype(np.uint8))


def test_load_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nope")
    folder = mnist_folder(tmp_path / "m")
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(folder, split="test")
    write(folder / "train-labels-idx1-ubyte", idx_bytes(np.zeros(5)))  # 5 labels for 6 images
    with pytest.raises(ValueError, match="do not match"):
        load_mnist(folder)
    with pytest.raises(ValueError, match="split"):
        load_mnist(folder, split="validation")


# ---------------------------------------------------------------------------------------------
# digits, generated data
# ---------------------------------------------------------------------------------------------

def test_load_digits_binary():
    X, labels = load_digits_binary()
    assert X.shape == (1797, 64) and X.dtype == np.uint8
    assert set(np.unique(X)) == {0, 1}
    assert labels.shape == (1797,) and set(np.unique(labels)) == set(range(10))
    raw, _ = load_digits_binary(threshold=None)
    assert raw.max() == 16
    np.testing.assert_array_equal(load_digits_binary(threshold=1)[0], (raw >= 1).astype(np.uint8))


def test_make_bernoulli_mixture():
    X, labels, weights, means = make_bernoulli_mixture(50, 7, 3, random_state=0)
    assert X.shape == (50, 7) and X.dtype == np.uint8 and labels.shape == (50,)
    assert weights.shape == (3,) and means.shape == (3, 7)
    np.testing.assert_allclose(weights.sum(), 1.0)


# ---------------------------------------------------------------------------------------------
# npy, npz, csv
# ---------------------------------------------------------------------------------------------

def test_load_npy(tmp_path):
    expected = np.eye(3, dtype=np.uint8)
    np.save(tmp_path / "a.npy", expected)
    got, shape = load_npy(tmp_path / "a.npy")
    np.testing.assert_array_equal(got, expected)
    assert shape is None
    np.save(tmp_path / "img.npy", np.zeros((4, 2, 3)))
    got, shape = load_npy(tmp_path / "img.npy")
    assert got.shape == (4, 6) and shape == (2, 3)


@pytest.mark.parametrize("make, match", [
    (lambda p: np.save(p, np.zeros(3)), r"shape \(3,\)"),
    (lambda p: np.save(p, np.zeros((0, 3))), r"shape \(0, 3\)"),
    (lambda p: np.save(p, np.array([["a"]])), "dtype"),
    (lambda p: np.save(p, np.array([[1]], dtype=object), allow_pickle=True), "not a readable .npy"),
    (lambda p: p.write_bytes(b"garbage"), "no NumPy header"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00garbage"), "not a readable .npy"),
])
def test_load_npy_rejects(tmp_path, make, match):
    path = tmp_path / "bad.npy"
    make(path)
    with pytest.raises(ValueError, match=match):
        load_npy(path)


def test_load_npz(tmp_path):
    X = np.array([[0, 1], [1, 1], [0, 0]], dtype=np.uint8)
    np.savez(tmp_path / "a.npz", X=X, y=[1, 2, 3])
    got, labels, shape = load_npz(tmp_path / "a.npz")
    np.testing.assert_array_equal(got, X)
    np.testing.assert_array_equal(labels, [1, 2, 3])
    assert shape is None
    np.savez(tmp_path / "only.npz", anything=np.zeros((2, 2, 2)))
    got, labels, shape = load_npz(tmp_path / "only.npz")
    assert got.shape == (2, 4) and labels is None and shape == (2, 2)


def test_load_npz_rejects(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="cannot tell which array"):
        load_npz(tmp_path / "two.npz")
    np.savez(tmp_path / "lab.npz", X=np.zeros((2, 2)), y=[1, 2, 3])
    with pytest.raises(ValueError, match=r"labels 'y' have shape \(3,\)"):
        load_npz(tmp_path / "lab.npz")
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="is a .npy file"):
        load_npz(tmp_path / "x.npy")
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "missing.npz")


def test_load_csv_missing_cells_and_header(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,b,c\n1,0,1\n0,,NA\n\n1,?,0\n")
    got = load_csv(path)
    np.testing.assert_array_equal(got, [[1, 0, 1], [0, np.nan, np.nan], [1, np.nan, 0]])


@pytest.mark.parametrize("text, match", [
    ("1,0\n0,1,1\n", r"line 2: 3 cells; the first data line \(line 1\) has 2"),
    ("1,0\n0,x\n", "line 2, column 2: 'x' is not a number"),
    ("a,b\n", "no data rows"),
    ("", "no data rows"),
])
def test_load_csv_rejects(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_csv(path)


# ---------------------------------------------------------------------------------------------
# binarize
# ---------------------------------------------------------------------------------------------

def test_binarize_passes_binary_data_as_uint8():
    got = binarize(np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert got.dtype == np.uint8
    assert binarize(np.array([[True, False]])).dtype == np.uint8


def test_binarize_keeps_missing_cells():
    got = binarize(np.array([[0.0, np.nan], [1.0, 1.0]]))
    assert got.dtype == np.float64 and np.isnan(got[0, 1])
    got = binarize(np.array([[3.0, np.nan], [200.0, 0.0]]), threshold=128)
    np.testing.assert_array_equal(got, [[0, np.nan], [1, 0]])


def test_binarize_non_binary_without_threshold():
    with pytest.raises(NonBinaryError, match=r"first: 255 at X\[1, 0\], 0-based") as info:
        binarize(np.array([[0, 1], [255, 0]]))
    assert (info.value.value, info.value.row, info.value.column) == (255, 1, 0)
    np.testing.assert_array_equal(binarize(np.array([[0, 1], [255, 0]]), threshold=128), [[0, 0], [1, 0]])


def test_binarize_rejects_inf_and_all_missing():
    with pytest.raises(ValueError, match=r"infinite value at X\[0, 1\] \(0-based\)"):
        binarize(np.array([[0.0, np.inf]]))
    with pytest.raises(ValueError, match="every cell"):
        binarize(np.full((2, 2), np.nan))


@pytest.mark.parametrize(("name", "shape", "ones"), [("carcinoma", (118, 7), 384), ("values", (216, 4), 457),
                                                     ("cheating", (319, 4), 161)])
def test_load_lca_matches_the_published_tables(name, shape, ones):
    # shapes and total ones counted from poLCA's CSV files (items coded 1/2 there)
    from bmm_numba.datasets import load_lca

    X, columns = load_lca(name)
    assert X.shape == shape and X.dtype == np.uint8 and len(columns) == shape[1]
    assert int(X.sum()) == ones
    patterns, _, counts = load_lca(name, as_patterns=True)
    assert counts.sum() == shape[0] and len(np.unique(patterns, axis=0)) == len(patterns)
    np.testing.assert_array_equal(np.repeat(patterns, counts, axis=0), X)


def test_load_lca_rejects_unknown_names():
    from bmm_numba.datasets import load_lca

    with pytest.raises(ValueError, match="name must be one of"):
        load_lca("carcinomas")
