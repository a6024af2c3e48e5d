"""Issue 22: nothing lost, nothing half-done.

One section per numbered item of the issue (its reproducer turned into a test): model files
written atomically and loadable, readers that never block, bounded work, a fitted state that
changes all at once, parameters checked by type, inputs refused by class, memmaps checked
against their files, and a way out of a damaged compiled-kernel cache.
"""

import io
import json
import os
import subprocess
import sys
import threading
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from bmm_numba import BernoulliMixture, load_model
from bmm_numba import datasets as ds
from bmm_numba.em.progress import ProgressMonitor
from bmm_numba.estimator.persist import read_model

from .memory import peak_memory
from .problems import mixture_rows

WAIT = 20  # seconds a reader may take on a FIFO before it counts as hanging


def _fitted(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BernoulliMixture(**{"n_components": 2, "random_state": 0, **params}).fit(X)


@pytest.fixture(scope="module")
def X():
    return mixture_rows(seed=22, n=300)


def _run_python(code, timeout=120, env=None):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


# -------------------------------------------------------------------------------------------
# 1. a failed save keeps the old model; concurrent writers never expose a partial file
# -------------------------------------------------------------------------------------------

def test_1_save_failing_under_a_file_size_limit_keeps_the_old_model(tmp_path, X):
    path = tmp_path / "model.npz"
    old = _fitted(X)
    old.save(path)
    before = path.read_bytes()
    code = f"""
import resource, numpy as np
from bmm_numba import BernoulliMixture
X = (np.random.default_rng(0).random((400, 3000)) < 0.5).astype(np.uint8)
big = BernoulliMixture(8, random_state=0, max_iter=2, tol=0).fit(X)
resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) + 4096}, resource.RLIM_INFINITY))
big.save({str(path)!r})
"""
    result = _run_python(code)
    assert result.returncode != 0 and "File too large" in result.stderr
    assert path.read_bytes() == before  # unchanged, byte for byte
    np.testing.assert_array_equal(load_model(path).predict(X), old.predict(X))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temporary file left


def test_1_two_writers_and_a_reader_never_see_a_corrupt_file(tmp_path, X):
    path = tmp_path / "shared.npz"
    _fitted(X).save(path)
    writer = f"""
import numpy as np
from bmm_numba import BernoulliMixture
X = (np.random.default_rng({{seed}}).random((200, 400)) < 0.4).astype(np.uint8)
est = BernoulliMixture(3, random_state=0, max_iter=3, tol=0).fit(X)
for _ in range(50):
    est.save({str(path)!r})
"""
    writers = [subprocess.Popen([sys.executable, "-c", writer.format(seed=seed)], stderr=subprocess.PIPE)
               for seed in (1, 2)]
    reads = corrupt = 0
    while any(w.poll() is None for w in writers) or reads < 20:
        try:
            load_model(path)
        except ValueError:
            corrupt += 1
        reads += 1
    assert [w.communicate()[1] and w.returncode for w in writers] == [0, 0]
    assert corrupt == 0, f"{corrupt} corrupt reads of {reads}"


# -------------------------------------------------------------------------------------------
# 2. dropped components round-trip (estimator and command line)
# -------------------------------------------------------------------------------------------

def _ten_rows(X):
    """60 rows, 10 distinct: data that support at most 10 components."""
    return np.repeat(X[:10], 6, axis=0)


def test_2_model_with_dropped_components_round_trips(tmp_path, X):
    est = _fitted(_ten_rows(X), n_components=20)
    assert est.n_components_ < 20 and est.dropped_components_
    est.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.n_components_ == est.n_components_
    assert loaded.dropped_components_ == [tuple(d) for d in est.dropped_components_]
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))


def test_2_command_line_model_with_dropped_components_loads(tmp_path, X):
    from bmm_numba.cli.main import main

    np.save(tmp_path / "x.npy", _ten_rows(X))
    assert main(["fit", "--npy", str(tmp_path / "x.npy"), "--n-components", "20", "--out", str(tmp_path)]) == 0
    loaded = load_model(tmp_path / "model.npz")
    assert loaded.n_components_ < 20
    again = _fitted(_ten_rows(X), **loaded.get_params())  # the command line's fit, in this process
    np.testing.assert_array_equal(loaded.predict(X), again.predict(X))
    assert loaded.dropped_components_ == again.dropped_components_


# -------------------------------------------------------------------------------------------
# 3. the .npz suffix, a folder as target, every metadata key kept
# -------------------------------------------------------------------------------------------

def test_3_suffix_folder_and_metadata(tmp_path, X):
    est = _fitted(X)
    est.save(tmp_path / "nosuffix", allow_pickle=np.int64(7))
    assert (tmp_path / "nosuffix.npz").exists()
    loaded, metadata = read_model(tmp_path / "nosuffix")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert metadata["allow_pickle"] == 7
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(IsADirectoryError):
        est.save(tmp_path / "folder.npz")


# -------------------------------------------------------------------------------------------
# 4. FIFOs never block; --npy <(cat f) reads its pipe; oversized and crowded model files
# -------------------------------------------------------------------------------------------

def _outcome_within(call, seconds=WAIT):
    """Run ``call()`` in a thread: ``("ok", value)``, ``("error", exc)`` or ``("hang", None)``."""
    box = {}

    def target():
        try:
            box["ok"] = call()
        except Exception as exc:  # the outcome is what the test looks at
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return "hang", None
    return next(iter(box.items()))


@pytest.mark.parametrize("reader", ["load_model", "load_npy", "load_npz", "load_csv"])
def test_4_fifo_without_writer_is_refused_without_blocking(tmp_path, reader):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    call = {"load_model": lambda: load_model(fifo), "load_npy": lambda: ds.load_npy(fifo),
            "load_npz": lambda: ds.load_npz(fifo), "load_csv": lambda: ds.load_csv(fifo)}[reader]
    kind, value = _outcome_within(call)
    if kind == "hang":  # release the blocked open so that the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert kind == "error" and isinstance(value, ValueError), (kind, value)
    assert "fifo" in str(value)


@pytest.mark.parametrize("fmt", ["npy", "csv"])
def test_4_a_pipe_is_read_once(tmp_path, X, fmt):
    """``--npy <(cat f)``: the shell passes /dev/fd/N, a pipe that can be read only once."""
    buf = io.BytesIO()
    if fmt == "npy":
        np.save(buf, X)
    else:
        np.savetxt(buf, X, fmt="%d", delimiter=",")
    read, write = os.pipe()

    def feed():
        with os.fdopen(write, "wb") as fh:
            fh.write(buf.getvalue())

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        path = f"/dev/fd/{read}"
        got = ds.load_npy(path)[0] if fmt == "npy" else ds.load_csv(path)
    finally:
        feeder.join()
        os.close(read)
    np.testing.assert_array_equal(got, X)


def _model_bytes(est, extra):
    """A model file with ``extra`` zip members (name -> raw bytes) added after the model's own."""
    buf = io.BytesIO()
    est.save(buf)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as z:
        for name, member in extra:
            z.writestr(name, member)
    return buf.getvalue()


def test_4_oversized_member_is_refused_before_it_is_read(tmp_path, X):
    member = io.BytesIO()
    np.lib.format.write_array(member, np.zeros(64 << 20, dtype=np.uint8))  # 64 MiB of zeros, deflated ~64 kB
    path = tmp_path / "big.npz"
    path.write_bytes(_model_bytes(_fitted(X), [("extra.npy", member.getvalue())]))
    with peak_memory() as traced:
        with pytest.raises(ValueError, match="extra"):
            load_model(path)
    peak = traced.peak
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_4_crowded_model_file_is_refused_from_its_directory(tmp_path, X):
    member = io.BytesIO()
    np.lib.format.write_array(member, np.int64(1))
    path = tmp_path / "crowded.npz"
    path.write_bytes(_model_bytes(_fitted(X), [(f"m{i}.npy", member.getvalue()) for i in range(5000)]))
    with pytest.raises(ValueError, match="members"):
        load_model(path)


# -------------------------------------------------------------------------------------------
# 5. bounded work: wide CSV blocks, a huge K range, NaN labels before the fit
# -------------------------------------------------------------------------------------------

def test_5_wide_csv_allocates_about_its_size(tmp_path):
    X = (np.random.default_rng(0).random((3, 100_000)) < 0.5).astype(np.uint8)
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(",".join(map(str, row)) for row in X))
    with peak_memory() as traced:
        got = ds.load_csv(path)
    peak = traced.peak
    np.testing.assert_array_equal(got, X)
    assert peak < 64 << 20, f"peak {peak / 2**20:.1f} MiB for a {path.stat().st_size / 1e6:.1f} MB file"


def test_5_huge_k_range_is_refused_before_it_is_listed(capsys):
    from bmm_numba.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["select", "--digits", "--n-components", "1-1000000000000"])
    assert exc.value.code == 2
    assert "at most" in capsys.readouterr().err


def test_5_npz_labels_with_nan_are_refused_before_the_fit(tmp_path, X, capsys):
    from bmm_numba.cli.main import main

    labels = np.zeros(X.shape[0])
    labels[5] = np.nan
    np.savez(tmp_path / "lab.npz", X=X, y=labels)
    assert main(["fit", "--npz", str(tmp_path / "lab.npz"), "--n-components", "2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "labels" in err and "row 6" in err
    assert not (tmp_path / "model.npz").exists()


# -------------------------------------------------------------------------------------------
# 6. partial_fit: bounded memory on distinct batches; one batch whatever its container
# -------------------------------------------------------------------------------------------

def test_6_partial_fit_memory_is_bounded_on_distinct_batches():
    rng = np.random.default_rng(0)
    est = BernoulliMixture(4, random_state=0)
    batch = lambda: (rng.random((20, 200)) < 0.3).astype(np.uint8)  # noqa: E731
    for _ in range(20):  # warm up (compilation, caches)
        est.partial_fit(batch())
    tracemalloc.start()
    try:
        for _ in range(50):
            est.partial_fit(batch())
        after_50 = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            est.partial_fit(batch())
        after_250 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # the incremental EM kept 4 x 200 x 8 x 2 bytes (12.8 kB) per distinct batch: 2.6 MB for 200
    assert after_250 - after_50 < 256 << 10, f"grew {(after_250 - after_50) / 1e6:.2f} MB over 200 batches"


def test_6_incremental_recognises_a_batch_whatever_its_container(X):
    start = np.random.default_rng(0).uniform(0.3, 0.7, (2, X.shape[1]))
    once = BernoulliMixture(2, means_init=start, partial_fit_method="incremental")
    mixed = BernoulliMixture(2, means_init=start, partial_fit_method="incremental")
    for _ in range(3):
        once.partial_fit(X[:100])
    for container in (X[:100], X[:100].astype(np.float64), sp.csr_matrix(X[:100])):
        mixed.partial_fit(container)
    np.testing.assert_allclose(mixed.means_, once.means_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mixed.lower_bound_, once.lower_bound_, rtol=1e-12)


def test_6_stepwise_passes_approach_the_full_batch_fit():
    X = mixture_rows(seed=7, n=3000)
    full = _fitted(X, n_components=3)
    online = BernoulliMixture(3, random_state=0)
    for _ in range(5):
        for batch in np.array_split(X, 15):
            online.partial_fit(batch)
    assert online.score(X) > full.score(X) * 1.005  # within 0.5 % (scores are negative)


# -------------------------------------------------------------------------------------------
# 7. a refit that fails or is interrupted leaves the fitted state as it was
# -------------------------------------------------------------------------------------------

def _state(est):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items() if k.endswith("_")}


def _assert_same_state(est, before, X):
    after = _state(est)
    assert sorted(after) == sorted(before)
    for key, value in before.items():
        np.testing.assert_array_equal(np.asarray(after[key], dtype=object), np.asarray(value, dtype=object), key)
    est.predict(X)


@pytest.mark.parametrize("failure", ["width", "n_components", "sample_weight", "interrupt", "interrupt-first"])
def test_7_failed_or_interrupted_refit_changes_nothing(X, failure):
    est = _fitted(X) if failure != "interrupt-first" else BernoulliMixture(2, random_state=0)
    before = _state(est)

    class Interrupt(ProgressMonitor):
        def iteration(self, *args):
            raise KeyboardInterrupt

    if failure == "width":
        with pytest.raises(ValueError):
            est.set_params(n_components=3).fit(X[:, :5], sample_weight=np.ones(X.shape[0] + 1))
    elif failure == "n_components":
        with pytest.raises(ValueError, match="n_components"):
            est.set_params(n_components=10**6).fit(X[:, :5])
    elif failure == "sample_weight":
        with pytest.raises(ValueError, match="sample_weight"):
            est.fit(X[:, :5], sample_weight=-np.ones(X.shape[0]))
    else:
        est._progress_monitor = Interrupt
        with pytest.raises(KeyboardInterrupt):
            est.fit(X[:, :5])
        del est._progress_monitor
    if failure == "interrupt-first":
        assert not hasattr(est, "means_") and not hasattr(est, "n_features_in_")
    else:
        _assert_same_state(est.set_params(n_components=2), before, X)


# -------------------------------------------------------------------------------------------
# 8. warm_start: a bool, and the fitted model's n_components
# -------------------------------------------------------------------------------------------

def test_8_warm_start_checked(X):
    est = _fitted(X, n_components=3, warm_start=True)
    with pytest.raises(ValueError, match="n_components=3.*n_components=5"):
        est.set_params(n_components=5).fit(X)
    assert est.means_.shape[0] == 3
    with pytest.raises(ValueError, match="warm_start must be a bool"):
        BernoulliMixture(2, warm_start="no").fit(X)


# -------------------------------------------------------------------------------------------
# 9. no silent NaN: extreme weight scales fit, an absurd alpha is refused
# -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e306, 1e-300, 2.0**70])
def test_9_weight_scale_gives_the_same_fit_at_alpha_zero(X, scale):
    w = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    base = _fitted(X, alpha=0.0, n_components=3).fit(X, sample_weight=w)
    scaled = _fitted(X, alpha=0.0, n_components=3).fit(X, sample_weight=w * scale)
    assert np.isfinite(scaled.lower_bound_)
    np.testing.assert_allclose(scaled.means_, base.means_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(scaled.weights_, base.weights_, rtol=1e-12)


def test_9_huge_weights_with_a_prior_fit_finite(X):
    est = _fitted(X).fit(X, sample_weight=np.full(X.shape[0], 1e306))
    assert np.isfinite(est.means_).all() and np.isfinite(est.lower_bound_)


def test_9_absurd_alpha_is_refused(X):
    with pytest.raises(ValueError, match="alpha"):
        BernoulliMixture(2, alpha=1e308).fit(X)


# -------------------------------------------------------------------------------------------
# 10. inputs refused by class, before any kernel, naming the argument
# -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda X: X.astype(str).astype(object),
    lambda X: np.where(X == 1, 1, None).astype(object),
    lambda X: X.astype("timedelta64[s]"),
    lambda X: X.astype(str),
])
def test_10_non_numeric_arrays_are_refused(X, make):
    with pytest.raises(TypeError, match="X has dtype"):
        BernoulliMixture(2).fit(make(X))


def test_10_pandas_category_column_is_refused(X):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X[:, :4], columns=list("abcd")).astype({"c": "category"})
    with pytest.raises(TypeError, match="'c' has dtype category"):
        BernoulliMixture(2).fit(frame)


def test_10_matrix_fits_like_its_array(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # numpy's, on making the matrix
        matrix = np.asmatrix(X)
    np.testing.assert_array_equal(_fitted(matrix).means_, _fitted(X).means_)


def test_10_zero_d_array_parameter_says_so(X):
    with pytest.raises(ValueError, match="n_components must be an integer >= 1; got a 0-d numpy.ndarray"):
        BernoulliMixture(np.array(2)).fit(X)


@pytest.mark.parametrize("corrupt", ["decreasing", "short", "negative"])
def test_10_corrupt_csr_is_refused_naming_x(X, corrupt):
    A = sp.csr_matrix(X)
    indptr, indices = A.indptr.copy(), A.indices.copy()
    if corrupt == "decreasing":
        indptr[3], indptr[4] = indptr[4], indptr[3]
    elif corrupt == "short":
        indptr = indptr[:-1]
    else:
        indices[0] = -1
    bad = sp.csr_matrix((X.shape[0], X.shape[1]))
    bad.data, bad.indices, bad.indptr = A.data, indices, indptr  # as a user might assemble it by hand
    with pytest.raises(ValueError, match=r"X \(sparse CSR"):
        BernoulliMixture(2).fit(bad)


def _model_with_params(est, **changes):
    buf = io.BytesIO()
    est.save(buf)
    buf.seek(0)
    with np.load(buf) as f:
        arrays = {k: f[k] for k in f.files}
    params = json.loads(str(arrays["params"]))
    arrays["params"] = np.str_(changes.pop("raw", None) or json.dumps({**params, **changes}))
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


@pytest.mark.parametrize("change", [{"raw": "[" * 100_000 + "]" * 100_000}, {"random_state": 2**70}])
def test_10_model_file_params_are_checked(tmp_path, X, change):
    path = tmp_path / "m.npz"
    path.write_bytes(_model_with_params(_fitted(X), **change))
    with pytest.raises(ValueError, match="params"):
        load_model(path)


def test_10_random_state_checked_before_fitting(X):
    with pytest.raises(ValueError, match="random_state"):
        BernoulliMixture(2, random_state=2**70).fit(X)


# -------------------------------------------------------------------------------------------
# 11. the command line: an empty --out, an absurd --alpha
# -------------------------------------------------------------------------------------------

def test_11_empty_out_and_absurd_alpha(tmp_path, capsys, monkeypatch):
    from bmm_numba.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--digits", "--n-components", "2", "--out", ""]) == 2
    assert "--out is empty" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert main(["fit", "--digits", "--n-components", "2", "--alpha", "1e308", "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert "alpha=1e+308" in err and "nan" not in err
    assert not (tmp_path / "o" / "model.npz").exists()


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_11_a_signal_during_fit_stops_it_even_when_ignored_at_start(tmp_path, signame):
    """A shell starts background jobs with SIGINT ignored (``trap '' TERM`` ignores SIGTERM): before,
    ``kill`` let the fit finish, exit 0 and write model.npz."""
    import signal
    import time

    X = (np.random.default_rng(0).random((4000, 300)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "x.npy", X)
    signum = getattr(signal, signame)
    child = subprocess.Popen(
        [sys.executable, "-m", "bmm_numba", "fit", "--npy", str(tmp_path / "x.npy"), "--n-components", "20",
         "--n-init", "200", "--max-iter", "500", "--out", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signum, signal.SIG_IGN))
    try:
        time.sleep(4)  # imported, fitting (200 starts take minutes)
        assert child.poll() is None
        child.send_signal(signum)
        err = child.communicate(timeout=60)[1]
    finally:
        if child.poll() is None:  # the signal was ignored: the test fails, the fit must not run on
            child.kill()
            child.communicate()
    assert child.returncode == (130 if signame == "SIGINT" else 128 + signal.SIGTERM), err[-300:]
    assert not (tmp_path / "out" / "model.npz").exists()


# -------------------------------------------------------------------------------------------
# 12. memmaps: a truncated file is an error (not SIGBUS), all-NaN is refused
# -------------------------------------------------------------------------------------------

def test_12_memmap_truncated_after_mapping_is_an_error_not_sigbus(tmp_path):
    path = tmp_path / "X.npy"
    code = f"""
import numpy as np, os
from bmm_numba import BernoulliMixture
X = (np.random.default_rng(0).random((20000, 100)) < 0.3).astype(np.uint8)
np.save({str(path)!r}, X)
M = np.load({str(path)!r}, mmap_mode="r")
os.truncate({str(path)!r}, 4096)
try:
    BernoulliMixture(2, random_state=0).fit(M)
except ValueError as exc:
    print("refused:", exc)
"""
    result = _run_python(code)
    assert result.returncode == 0, (result.returncode, result.stderr[-500:])
    assert "refused:" in result.stdout and "truncated" in result.stdout


def test_12_all_nan_memmap_is_refused_like_in_memory(tmp_path):
    np.save(tmp_path / "nan.npy", np.full((50, 4), np.nan))
    M = np.load(tmp_path / "nan.npy", mmap_mode="r")
    with pytest.raises(ValueError, match="every cell of X is missing"):
        BernoulliMixture(2).fit(np.asarray(M))
    with pytest.raises(ValueError, match="every cell of X is missing"):
        BernoulliMixture(2).fit(M)
    with pytest.raises(ValueError, match="every cell of X is missing"):
        BernoulliMixture(2, means_init=np.full((2, 4), 0.5)).fit(M)


def test_12_all_nan_dask_array_is_refused_like_in_memory():
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.full((50, 4), np.nan), chunks=(10, 4))
    with pytest.raises(ValueError, match="every cell of X is missing"):
        BernoulliMixture(2).fit(X)


# -------------------------------------------------------------------------------------------
# 13. a damaged compiled-kernel cache: advice, and a way out
# -------------------------------------------------------------------------------------------

def test_13_damaged_cache_has_a_way_out(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache"), "BMM_NUMBA_CACHE": "1"}
    fit = ["-m", "bmm_numba", "fit", "--digits", "--n-components", "2", "--max-iter", "3", "--out", str(tmp_path)]

    def run(*args):
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600,
                              env={**os.environ, **env})

    assert run(*fit).returncode == 0
    index_files = list((tmp_path / "cache").rglob("*.nbi"))
    assert index_files
    for f in index_files:
        f.write_bytes(f.read_bytes()[:10])
    damaged = run(*fit)
    assert damaged.returncode == 2 and "info --clear-cache" in damaged.stderr
    cleared = run("-m", "bmm_numba", "info", "--clear-cache")
    assert cleared.returncode == 0 and not list((tmp_path / "cache").rglob("*.nbi"))
    assert run(*fit).returncode == 0

