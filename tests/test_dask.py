"""Fitting on Dask arrays: equality with the in-memory fit, schedulers, lazy predictions, faults.

Every comparison starts both fits from the same parameters (``means_init``) or from the same
``random_state`` on data small enough to be initialised whole, and asks for parameters within
1e-9 of the in-memory fit; across schedulers and worker counts the fits must be bit-identical.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from bmm_numba import BernoulliMixture  # noqa: E402
from bmm_numba.em import blocks  # noqa: E402
from bmm_numba.estimator import dask as dask_source  # noqa: E402

ATOL = 1e-9
PARAMS = {"tol": 0.0, "max_iter": 15}


def _mixture_data(seed=0, n=1200, d=24, k=3):
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.05, 0.95, (k, d))
    z = rng.integers(0, k, n)
    return (rng.random((n, d)) < mu[z]).astype(np.uint8)


def _start(X, k=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 0.8, (k, X.shape[1]))


def _fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # ConvergenceWarning: fixed max_iter, tol=0
        return BernoulliMixture(**{"n_components": 3, **PARAMS, **params}).fit(X)


def _assert_same_model(got, expected, atol=ATOL):
    np.testing.assert_allclose(got.means_, expected.means_, rtol=0, atol=atol)
    np.testing.assert_allclose(got.weights_, expected.weights_, rtol=0, atol=atol)
    np.testing.assert_allclose(got.lower_bounds_, expected.lower_bounds_, rtol=0, atol=atol)
    assert got.n_iter_ == expected.n_iter_


def _assert_identical(got, expected):
    np.testing.assert_array_equal(got.means_, expected.means_)
    np.testing.assert_array_equal(got.weights_, expected.weights_)
    np.testing.assert_array_equal(got.lower_bounds_, expected.lower_bounds_)


# -------------------------------------------------------------------------------------------
# Import isolation
# -------------------------------------------------------------------------------------------


def test_importing_and_fitting_never_imports_dask():
    code = (
        "import sys, numpy as np\n"
        "import bmm_numba\n"
        "from bmm_numba import BernoulliMixture\n"
        "X = np.array([[1, 1, 0, 0]] * 5 + [[0, 0, 1, 1]] * 5)\n"
        "np.save('x.npy', X)\n"
        "BernoulliMixture(2, random_state=0).fit(X).predict(X)\n"
        "BernoulliMixture(2, random_state=0).fit(np.load('x.npy', mmap_mode='r'))\n"
        "BernoulliMixture(2, random_state=0).partial_fit(X)\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not leaked, leaked\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True, text=True,
                                timeout=120)
    assert result.returncode == 0, result.stderr


# -------------------------------------------------------------------------------------------
# Local schedulers (no Client)
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
def test_threaded_fit_equals_in_memory_fit(kernel):
    X = _mixture_data()
    start = _start(X)
    expected = _fit(X, kernel=kernel, means_init=start)
    with dask.config.set(scheduler="threads", num_workers=2):
        got = _fit(da.from_array(X, chunks=(250, 24)), kernel=kernel, means_init=start)
    _assert_same_model(got, expected)


def test_fit_does_not_depend_on_threads_or_scheduler():
    X = da.from_array(_mixture_data(), chunks=(100, 24))
    start = _start(X)
    with dask.config.set(scheduler="synchronous"):
        expected = _fit(X, means_init=start)
    for workers in (1, 4):
        with dask.config.set(scheduler="threads", num_workers=workers):
            _assert_identical(_fit(X, means_init=start), expected)


def test_feature_chunks_are_merged():
    X = _mixture_data()
    start = _start(X)
    with dask.config.set(scheduler="threads"):
        got = _fit(da.from_array(X, chunks=(300, 7)), means_init=start)
    _assert_same_model(got, _fit(X, means_init=start))


def test_missing_values_bool_and_binarize_equal_in_memory():
    rng = np.random.default_rng(3)
    X = _mixture_data().astype(np.float64)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:200] = np.where(np.isnan(X[:200]), np.nan, 1.0)  # chunk 0 mostly ones, some chunks without NaN?
    X[400:600] = _mixture_data(seed=5)[:200]  # a chunk without any NaN next to chunks with NaN
    start = _start(X)
    with dask.config.set(scheduler="threads"):
        _assert_same_model(_fit(da.from_array(X, chunks=200), means_init=start), _fit(X, means_init=start))
        Xb = _mixture_data().astype(bool)
        _assert_same_model(_fit(da.from_array(Xb, chunks=300), means_init=start), _fit(Xb, means_init=start))
        Xr = np.random.default_rng(4).random((600, 24))
        _assert_same_model(_fit(da.from_array(Xr, chunks=150), means_init=start, binarize=0.7),
                           _fit(Xr, means_init=start, binarize=0.7))


def test_same_random_state_and_n_init_equal_in_memory():
    # fewer rows than INIT_SAMPLE_ROWS: the initialisation reads all rows, exactly as in memory
    X = _mixture_data(seed=2)
    for init_params in ("short_em", "k-means++", "random", "random_from_data"):
        params = {"random_state": 7, "n_init": 2, "init_params": init_params}
        with dask.config.set(scheduler="threads"):
            got = _fit(da.from_array(X, chunks=300), **params)
        _assert_same_model(got, _fit(X, **params))


def test_initialisation_on_a_sample_reads_few_rows(monkeypatch, tmp_path):
    monkeypatch.setattr(blocks, "INIT_SAMPLE_ROWS", 200)
    X = _mixture_data(seed=4, n=2000)
    taken = []
    original = dask_source.DaskSource.take

    def spy(self, index):
        taken.append(None if index is None else len(index))
        return original(self, index)

    monkeypatch.setattr(dask_source.DaskSource, "take", spy)
    with dask.config.set(scheduler="threads"):
        got = _fit(da.from_array(X, chunks=400), random_state=0, n_init=2)
    assert taken and all(t is not None and t <= 200 for t in taken)
    # the memmap path draws the same sample from the same random_state: same model
    np.save(tmp_path / "x.npy", X)
    _assert_same_model(got, _fit(np.load(tmp_path / "x.npy", mmap_mode="r"), random_state=0, n_init=2))


def test_sample_weight_numpy_or_dask_equals_in_memory():
    X = _mixture_data()
    w = np.random.default_rng(5).uniform(0, 3, X.shape[0])
    start = _start(X)
    expected = BernoulliMixture(3, means_init=start, **PARAMS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected.fit(X, sample_weight=w)
        with dask.config.set(scheduler="threads"):
            for weights in (w, da.from_array(w, chunks=500)):
                got = BernoulliMixture(3, means_init=start, **PARAMS).fit(da.from_array(X, chunks=300),
                                                                          sample_weight=weights)
                _assert_same_model(got, expected)


def test_collapsed_component_is_reseeded_as_in_memory():
    rng = np.random.default_rng(0)
    X = (rng.random((100, 30)) < 0.1).astype(np.uint8)
    mu0 = np.vstack([np.full(30, 0.1), np.full(30, 1 - 1e-9)])  # component 1 explains nothing
    params = {"n_components": 2, "means_init": mu0, "weights_init": [0.5, 0.5], "alpha": 0.0, "max_iter": 20}
    expected = _fit(X, **params)
    with dask.config.set(scheduler="threads"):
        got = _fit(da.from_array(X, chunks=30), **params)
    assert expected.reseeded_components_
    assert got.reseeded_components_ == expected.reseeded_components_
    _assert_same_model(got, expected)


def test_predictions_are_lazy_and_match_in_memory():
    X = _mixture_data()
    est = _fit(X, random_state=0)
    Xd = da.from_array(X, chunks=(250, 12))
    with dask.config.set(scheduler="threads"):
        for method in ("predict", "predict_proba", "score_samples"):
            got = getattr(est, method)(Xd)
            assert isinstance(got, da.Array), method
            np.testing.assert_allclose(got.compute(), getattr(est, method)(X), rtol=0, atol=1e-12)
        score = est.score(Xd)
        assert isinstance(score, float)
        assert score == pytest.approx(est.score(X), abs=1e-12)
        fitted = _fit(Xd, random_state=0)
        assert isinstance(fitted.labels_, da.Array)
        np.testing.assert_array_equal(fitted.labels_.compute(), est.labels_)


def test_bad_values_and_shapes_raise_clear_errors():
    X = _mixture_data().astype(np.int64)
    X[700, 3] = 2
    with dask.config.set(scheduler="threads"), pytest.raises(ValueError, match="only 0 and 1"):
        _fit(da.from_array(X, chunks=300), means_init=_start(X))
    unknown = da.from_array(_mixture_data(), chunks=300)
    unknown = unknown[unknown[:, 0] >= 0]  # boolean mask: row chunk sizes unknown
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        _fit(unknown)
    est = _fit(_mixture_data(), random_state=0)
    with pytest.raises(ValueError, match="features"):
        est.predict(da.zeros((10, 5), dtype=np.uint8, chunks=5))


# -------------------------------------------------------------------------------------------
# dask.distributed: a real LocalCluster with two worker processes
# -------------------------------------------------------------------------------------------

# distributed's own shutdown can leave sockets and event-loop resources to the garbage collector
# and emits (harmless) ResourceWarning/DeprecationWarning there; pytest's "error" filter would turn
# them into failures unrelated to this package.
# Without a dashboard the scheduler still serves HTTP (health checks) on port 8787 and warns when
# another process on this shared machine holds it, then takes another port: not our concern.
DISTRIBUTED_WARNINGS = [
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:tornado.*"),
]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster


def _apply(marks):
    def decorate(func):
        for mark in marks:
            func = mark(func)
        return func

    return decorate


@_apply(DISTRIBUTED_WARNINGS)
def test_local_cluster_fit_equals_in_memory_fit(cluster):
    X = _mixture_data(n=2000)
    start = _start(X)
    expected = _fit(X, means_init=start)
    Xd = da.from_array(X, chunks=(250, 24))
    with distributed.Client(cluster) as client:
        assert dask_source.active_client() is client
        got = _fit(Xd, means_init=start)
        labels = got.predict(Xd).compute()
        score = got.score(Xd)
    _assert_same_model(got, expected)
    np.testing.assert_array_equal(labels, expected.predict(X))
    assert score == pytest.approx(expected.score(X), abs=1e-12)
    with dask.config.set(scheduler="threads", num_workers=3):  # any scheduler: the same bits
        _assert_identical(got, _fit(Xd, means_init=start))


@_apply(DISTRIBUTED_WARNINGS)
def test_local_cluster_generated_chunks_and_random_init(cluster):
    # chunks made on the workers, never materialised on the client (except the init sample)
    rs = da.random.RandomState(0)
    X = (rs.random_sample((3000, 16), chunks=(500, 16)) < 0.3).astype(np.uint8)
    with distributed.Client(cluster):
        got = _fit(X, random_state=0, n_init=2)
        local = X.compute()
    _assert_same_model(got, _fit(local, random_state=0, n_init=2))


def _slow_chunk(block):
    time.sleep(0.05)  # long enough for a worker to die while it holds tasks
    return block


@_apply(DISTRIBUTED_WARNINGS)
def test_worker_killed_during_fit_gives_same_model(cluster, monkeypatch):  # last: it kills a worker
    X = _mixture_data(n=1600)
    start = _start(X)
    expected = _fit(X, means_init=start)
    Xd = da.from_array(X, chunks=(100, 24)).map_blocks(_slow_chunk, dtype=np.uint8)
    calls, killed = [], []
    original = dask_source.DaskSource.stats

    with distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())

        def kill_soon():
            time.sleep(0.15)  # inside the iteration's tasks (16 chunks x 50 ms on 2 workers)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

        def stats(self, mu, pi):
            calls.append(1)
            if len(calls) == 3:
                threading.Thread(target=kill_soon, daemon=True).start()
            return original(self, mu, pi)

        monkeypatch.setattr(dask_source.DaskSource, "stats", stats)
        got = _fit(Xd, means_init=start)
        client.wait_for_workers(2, timeout=60)
        new_pids = set(client.run(os.getpid).values())
    assert killed and killed[0] not in new_pids  # the nanny replaced the killed worker
    _assert_same_model(got, expected)
