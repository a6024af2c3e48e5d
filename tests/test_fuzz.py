"""Fuzz the file readers with hypothesis: hostile bytes give a clean error or a correct result.

Every reader (IDX plain and gzip, CSV, NPY, NPZ, model files) gets generated files, some valid,
most damaged: a changed header, a truncated or extended body, a lying gzip or zip entry.  Each
call must either return what a valid file holds or raise ``ValueError``/``OSError``, and stay
within :data:`PEAK_LIMIT` bytes of Python/NumPy allocations (``tracemalloc``), whatever the
header declares.  ``FUZZ_EXAMPLES`` examples per reader (the closing note of issue 15 counts
them).

Issue 22 adds the families where state can be lost or left half-done: a model saved over an
older one under a file-size limit or onto a full disk (the old model stays, byte for byte, or
the new one is whole), ``.npy`` and CSV bytes read through a pipe (as the file reads), a refit
that fails or is interrupted (the fitted state unchanged), and concurrent saves.
"""

import contextlib
import copy
import errno
import gzip
import io
import os
import resource
import struct
import tempfile
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmm_numba import BernoulliMixture, load_model
from bmm_numba import datasets as ds
from bmm_numba.em.progress import ProgressMonitor

from .memory import peak_memory

FUZZ_EXAMPLES = 150
PEAK_LIMIT = 16 << 20  # every generated file is < 64 KiB; a reader may hold a few chunks
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def bounded_memory():
    """Fail if the block allocates more than :data:`PEAK_LIMIT` bytes at its peak."""
    with peak_memory() as traced:
        yield
    assert traced.peak < PEAK_LIMIT, f"peak {traced.peak / 2**20:.1f} MiB"


def clean_or_result(read, path):
    """Call ``read(path)``: return its result, or None after a clean ValueError/OSError."""
    with bounded_memory():
        try:
            return read(path)
        except (ValueError, OSError):
            return None


def _write(data):
    fd, path = tempfile.mkstemp(prefix="bmm_fuzz_")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


# ---------------------------------------------------------------------------------------------
# IDX, plain and gzip
# ---------------------------------------------------------------------------------------------

dims_st = st.lists(st.one_of(st.integers(0, 6), st.sampled_from([2**32 - 1, 2**31, 60000, 784])),
                   min_size=0, max_size=5)


@st.composite
def idx_files(draw):
    dims = draw(dims_st)
    magic = draw(st.sampled_from([b"\x00\x00\x08", b"\x00\x00\x09", b"\x01\x00\x08", b""]))
    ndim = draw(st.one_of(st.just(len(dims)), st.integers(0, 255)))
    header = magic + bytes([ndim]) + b"".join(struct.pack(">I", d) for d in dims)
    declared = int(np.prod(dims, dtype=object)) if dims else 0
    body_len = draw(st.one_of(st.just(min(declared, 4096)), st.integers(0, 4096)))
    body = draw(st.binary(min_size=body_len, max_size=body_len)) if body_len < 64 else bytes(body_len)
    compress = draw(st.sampled_from(["none", "gzip", "gzip-truncated", "gzip-zeros"]))
    raw = header + body
    if compress == "gzip":
        raw = gzip.compress(raw)
    elif compress == "gzip-truncated":
        raw = gzip.compress(raw)[:draw(st.integers(0, 40))]
    elif compress == "gzip-zeros":  # a small stream of many zeros behind any header
        raw = gzip.compress(header + bytes(1 << 20))
    return raw, dims if magic == b"\x00\x00\x08" and ndim == len(dims) else None, header + body


@FUZZ
@given(idx_files())
def test_fuzz_read_idx(case):
    raw, dims, plain = case
    path = _write(raw)
    try:
        out = clean_or_result(ds.read_idx, path)
    finally:
        os.unlink(path)
    if out is not None:  # only a well-formed file reads, and reads exactly its bytes
        assert dims is not None and out.shape == tuple(dims)
        np.testing.assert_array_equal(out.ravel(), np.frombuffer(plain[4 + 4 * len(dims):], np.uint8))


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------

cell_st = st.sampled_from(["0", "1", "", "NA", "nan", "?", " 1 ", "2", "x", '"1"', "1e0", "-0", "inf", "\x00"])


@st.composite
def csv_files(draw):
    n_cols = draw(st.integers(1, 5))
    rows = draw(st.lists(st.lists(cell_st, min_size=n_cols, max_size=n_cols + draw(st.integers(0, 1))),
                         min_size=0, max_size=12))
    text = "\n".join(",".join(r) for r in rows)
    if draw(st.booleans()):
        text = "a" * n_cols + "\n" + text
    tail = draw(st.sampled_from([b"", b"\n", b"\xff\xfe", b"\r\n", b'"unterminated']))
    return text.encode() + tail, rows


@FUZZ
@given(csv_files(), st.one_of(st.none(), st.integers(1, 5)))
def test_fuzz_load_csv(case, max_rows):
    raw, rows = case
    path = _write(raw)
    try:
        out = clean_or_result(lambda p: ds.load_csv(p, max_rows=max_rows), path)
    finally:
        os.unlink(path)
    if out is not None:
        assert out.dtype == np.float64 and out.ndim == 2 and out.shape[0] >= 1
        assert max_rows is None or out.shape[0] <= max_rows
        assert not np.isinf(out).any() or any("inf" in c for r in rows for c in r)


# ---------------------------------------------------------------------------------------------
# NPY and NPZ
# ---------------------------------------------------------------------------------------------

shape_st = st.lists(st.one_of(st.integers(0, 5), st.sampled_from([10**6, 2**40])), min_size=0, max_size=4)
dtype_st = st.sampled_from(["u1", "f8", "i4", "?", "U3", "c16", "O"])


@st.composite
def npy_bytes(draw):
    shape = tuple(draw(shape_st))
    dtype = np.dtype(draw(dtype_st))
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": draw(st.booleans()), "shape": shape}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    body_len = draw(st.one_of(st.just(min(declared, 2048)), st.integers(0, 2048)))
    raw = buf.getvalue() + bytes(body_len)
    if draw(st.booleans()):
        raw = bytearray(raw)
        at = draw(st.integers(0, len(raw) - 1))
        raw[at] = draw(st.integers(0, 255))
        raw = bytes(raw)
    return raw


def _check_loader_on(loader, raw):
    """Write ``raw`` to a file, load it: a clean error, or a non-empty numeric 2-D array."""
    path = _write(raw)
    try:
        out = clean_or_result(loader, path)
    finally:
        os.unlink(path)
    if out is not None:
        X = out[0]
        assert isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "biuf" and min(X.shape) >= 1


@FUZZ
@given(npy_bytes())
def test_fuzz_load_npy(raw):
    _check_loader_on(ds.load_npy, raw)


@st.composite
def npz_bytes(draw):
    buf = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name in draw(st.lists(st.sampled_from(["X.npy", "y.npy", "data.npy", "X", "labels.npy"]),
                                  min_size=0, max_size=3, unique=True)):
            z.writestr(name, draw(st.one_of(npy_bytes(), st.binary(max_size=64))))
    raw = buf.getvalue()
    if raw and draw(st.booleans()):  # cut the archive
        raw = raw[:draw(st.integers(0, len(raw)))]
    return raw


@FUZZ
@given(npz_bytes())
def test_fuzz_load_npz(raw):
    _check_loader_on(ds.load_npz, raw)


def test_npz_zip_entry_lying_about_its_size(tmp_path):
    """A deflated member declaring (10**7, 784) uint8 of zeros (7.8 GB) in a few kB."""
    header = {"descr": "|u1", "fortran_order": False, "shape": (10**7, 784)}
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("X.npy", "w", force_zip64=True) as fh:
            fh.write(member.getvalue())
            zeros = bytes(1 << 20)
            for _ in range(64):
                fh.write(zeros)
    with bounded_memory(), pytest.raises(ValueError, match="bomb.npz"):
        ds.load_npz(path)


def test_npz_reads_the_member_it_checked(tmp_path):
    """``X.npy`` beside a member named plain ``X`` declaring 1 TiB: the checked ``X.npy`` is read.

    Found by the fuzzer above in CI: the size check looked at ``X.npy`` while ``NpzFile[key]``
    read ``X`` and allocated the 1 TiB its header declared.
    """
    good = np.array([[0, 1], [1, 0]], dtype=np.uint8)
    huge = io.BytesIO()
    np.lib.format.write_array_header_1_0(huge, {"descr": "|u1", "fortran_order": False,
                                                "shape": (2**40,)})
    good_bytes = io.BytesIO()
    np.lib.format.write_array(good_bytes, good)
    path = tmp_path / "two.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("X.npy", good_bytes.getvalue())
        z.writestr("X", huge.getvalue() + bytes(2048))
    with bounded_memory():
        X, labels, _ = ds.load_npz(path)
    np.testing.assert_array_equal(X, good)
    assert labels is None


# ---------------------------------------------------------------------------------------------
# model files
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_arrays():
    rng = np.random.default_rng(0)
    X = (rng.random((100, 6)) < 0.4).astype(np.uint8)
    est = BernoulliMixture(2, random_state=0).fit(X)
    buf = io.BytesIO()
    est.save(buf)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}, est, X


value_st = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(np.float64),
    st.integers(-3, 10).map(np.int64),
    st.text(max_size=8).map(np.str_),
    st.lists(st.floats(-1, 2), min_size=0, max_size=14).map(np.array),
    st.just(np.zeros((2, 6))), st.just(np.full((2, 6), 0.5)), st.just(np.array([0.5, 0.5])),
    st.just(np.array([[0, 1, 2]])),
)


@FUZZ
@given(st.data())
def test_fuzz_model_file(model_arrays, data):
    arrays, est, X = model_arrays
    changed = dict(arrays)
    for key in data.draw(st.lists(st.sampled_from(sorted(arrays)), max_size=3, unique=True)):
        if data.draw(st.booleans()):
            changed[key] = data.draw(value_st)
        else:
            del changed[key]
    buf = io.BytesIO()
    np.savez(buf, **changed)
    path = _write(buf.getvalue())
    try:
        loaded = clean_or_result(load_model, path)
    finally:
        os.unlink(path)
    if loaded is not None:  # whatever loads predicts finite probabilities, without error
        resp = loaded.predict_proba(X)
        assert np.all(np.isfinite(resp))
        np.testing.assert_allclose(resp.sum(axis=1), 1.0)


# ---------------------------------------------------------------------------------------------
# issue 22: saving under a size limit or onto a full disk, pipes, failed refits, concurrent saves
# ---------------------------------------------------------------------------------------------


def _two_models():
    rng = np.random.default_rng(1)
    X = (rng.random((120, 40)) < 0.4).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = BernoulliMixture(2, random_state=0, max_iter=5).fit(X)
        new = BernoulliMixture(6, random_state=1, max_iter=5).fit(X)
    return old, new, X


@pytest.fixture(scope="module")
def two_models():
    return _two_models()


def _save_under_fault(two_models, fault, expected_errno):
    """Save ``new`` over ``old`` while ``fault()`` (a context manager) holds; the save must either
    replace the model whole or fail with ``expected_errno`` and leave the old one byte for byte,
    and leave no temporary file."""
    old, new, X = two_models
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.npz"
        old.save(path)
        before = path.read_bytes()
        with fault():
            try:
                new.save(path)
                saved = True
            except OSError as exc:
                assert exc.errno == expected_errno
                saved = False
        assert [p.name for p in path.parent.iterdir()] == [path.name]
        if saved:
            np.testing.assert_array_equal(load_model(path).predict(X), new.predict(X))
        else:
            assert path.read_bytes() == before
            np.testing.assert_array_equal(load_model(path).predict(X), old.predict(X))


@FUZZ
@given(limit=st.integers(0, 40_000))
def test_fuzz_save_under_a_file_size_limit(two_models, limit):
    @contextlib.contextmanager
    def size_limit():
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))  # CPython ignores SIGXFSZ: writes raise EFBIG
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    _save_under_fault(two_models, size_limit, errno.EFBIG)


@FUZZ
@given(failing_write=st.integers(0, 20))
def test_fuzz_save_onto_a_full_disk(two_models, failing_write, monkeypatch):
    write_array = np.lib.format.write_array
    calls = []

    def full_disk(*args, **kwargs):
        calls.append(1)
        if len(calls) > failing_write:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_array(*args, **kwargs)

    @contextlib.contextmanager
    def disk_fills():
        monkeypatch.setattr(np.lib.format, "write_array", full_disk)
        try:
            yield
        finally:
            monkeypatch.undo()

    _save_under_fault(two_models, disk_fills, errno.ENOSPC)


def _through_a_pipe(read, raw):
    """``read("/dev/fd/N")`` on a pipe fed ``raw`` by a thread: the result, or None after a clean error."""
    r, w = os.pipe()

    def feed():
        with os.fdopen(w, "wb") as fh, contextlib.suppress(BrokenPipeError):
            fh.write(raw)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        return clean_or_result(read, f"/dev/fd/{r}")
    finally:
        os.close(r)  # a reader that stopped early: the feeder's write fails, and it ends
        feeder.join()


def _same_outcome(a, b):
    if a is None or b is None:
        return a is None and b is None
    a, b = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
    return np.array_equal(a, b, equal_nan=True)


@FUZZ
@given(npy_bytes())
def test_fuzz_npy_through_a_pipe_reads_as_the_file(raw):
    path = _write(raw)
    try:
        from_file = clean_or_result(ds.load_npy, path)
    finally:
        os.unlink(path)
    assert _same_outcome(_through_a_pipe(ds.load_npy, raw), from_file)


@FUZZ
@given(csv_files())
def test_fuzz_csv_through_a_pipe_reads_as_the_file(case):
    raw, _ = case
    path = _write(raw)
    try:
        from_file = clean_or_result(ds.load_csv, path)
    finally:
        os.unlink(path)
    assert _same_outcome(_through_a_pipe(ds.load_csv, raw), from_file)


class _Interrupt(ProgressMonitor):
    at = 1

    def iteration(self, n_iter, *args):
        if n_iter >= self.at:
            raise KeyboardInterrupt


@FUZZ
@given(failure=st.sampled_from(["width", "n_components", "weights", "alpha", "random_state", "warm_start",
                                "interrupt", "partial_fit"]),
       at=st.integers(1, 4), first=st.booleans())
def test_fuzz_failed_or_interrupted_refit_changes_nothing(two_models, failure, at, first):
    _, fitted, X = two_models
    est = BernoulliMixture(6, random_state=1, max_iter=5) if first else copy.deepcopy(fitted)
    before = copy.deepcopy(vars(est))
    bad = {"width": ({}, X[:, :7], np.ones(3)),  # the new width passes, then the weights fail
           "n_components": ({"n_components": 10**4}, X, None),
           "weights": ({}, X, np.r_[np.ones(X.shape[0] - 1), np.nan]), "alpha": ({"alpha": 1e300}, X, None),
           "random_state": ({"random_state": 2**40}, X, None), "warm_start": ({"warm_start": "yes"}, X, None),
           "interrupt": ({}, X, None), "partial_fit": ({}, X[:, :3], None)}
    params, data, weights = bad[failure]
    est.set_params(**params)
    if failure == "interrupt":
        est._progress_monitor = type("Interrupt", (_Interrupt,), {"at": at})
    with pytest.raises((ValueError, TypeError, KeyboardInterrupt)):
        if failure == "partial_fit":
            est.partial_fit(data if not first else np.full((5, 3), np.nan))
        else:
            est.fit(data, sample_weight=weights)
    est.__dict__.pop("_progress_monitor", None)
    after = vars(est.set_params(**{k: before[k] for k in params}))
    assert sorted(after) == sorted(before)
    for key, value in before.items():
        assert np.array_equal(np.asarray(after[key], dtype=object), np.asarray(value, dtype=object)), key


def test_concurrent_saves_never_expose_a_partial_file(two_models, tmp_path):
    """Threads saving two models to one path while this thread loads: every read is one whole model."""
    old, new, X = two_models
    path = tmp_path / "model.npz"
    old.save(path)
    expected = {tuple(old.predict(X)), tuple(new.predict(X))}
    done = threading.Event()

    def writer(model):
        for _ in range(30):
            model.save(path)

    threads = [threading.Thread(target=writer, args=(m,)) for m in (old, new)]
    for t in threads:
        t.start()
    reads = 0
    while any(t.is_alive() for t in threads) or reads < 10:
        assert tuple(load_model(path).predict(X)) in expected
        reads += 1
    for t in threads:
        t.join()
    done.set()
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
