"""Determinism across builds and thread counts; concurrent calls never abort the process."""

import os
import subprocess
import sys
import textwrap
import warnings
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from bmm_numba import E_STEPS, BernoulliMixture
from bmm_numba.kernels import threads
from bmm_numba.kernels.e_step_numba import COMPILED_KERNELS, run_compiled
from bmm_numba.kernels.validation import check_e_step_inputs

from .problems import mnist_like

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kernel", list(COMPILED_KERNELS))
def test_serial_build_equals_parallel_build(kernel, rng, monkeypatch):
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 0)  # the parallel build whatever the threshold
    X, mu, pi = check_e_step_inputs(*mnist_like(rng, n=500))
    serial = run_compiled(kernel, X, mu, pi, parallel=False, return_log_norm=True)
    parallel = run_compiled(kernel, X, mu, pi, parallel=True, return_log_norm=True)
    np.testing.assert_array_equal(serial[0], parallel[0])
    np.testing.assert_array_equal(serial[1], parallel[1])


@pytest.mark.parametrize("kernel", list(E_STEPS))
def test_results_do_not_depend_on_thread_count(kernel, rng):
    n = 40 if kernel.startswith("python") else 2000
    X, mu, pi = mnist_like(rng, n=n)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = E_STEPS[kernel](X, mu, pi)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = E_STEPS[kernel](X, mu, pi)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


def _rule_cases():
    """(parallel, work, kind, expected) of the one rule: threads only when allowed and the work is there."""
    cases = []
    for kind, limit in (("cells", threads.PARALLEL_MIN_WORK), ("table", threads.TABLE_MIN_WORK),
                        ("combine", threads.COMBINE_MIN_WORK)):
        for allowed in (True, None):  # the estimator's parallel=True and the kernels' default mean the same
            cases += [(allowed, 0, kind, False), (allowed, limit - 1, kind, False), (allowed, limit, kind, True),
                      (allowed, 10 * limit, kind, True)]
        cases += [(False, limit, kind, False), (False, 10 * limit, kind, False), (0, limit, kind, False)]
    return cases


@pytest.fixture
def two_numba_threads():
    """Run the test with two Numba threads (the rule never uses threads with one)."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one Numba thread on this machine")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    yield
    numba.set_num_threads(before)


@pytest.mark.parametrize("parallel, work, kind, expected", _rule_cases())
def test_choose_parallel_rule(parallel, work, kind, expected, two_numba_threads):
    assert threads.choose_parallel(parallel, work, kind) is expected


@pytest.mark.parametrize("kind", ["cells", "table", "combine"])
def test_choose_parallel_is_serial_with_one_numba_thread(kind):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert not threads.choose_parallel(True, 1 << 40, kind)
    finally:
        numba.set_num_threads(before)


def test_choose_parallel_reads_its_thresholds_at_each_call(monkeypatch, two_numba_threads):
    assert not threads.choose_parallel(True, 10)
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 10)
    assert threads.choose_parallel(True, 10) and not threads.choose_parallel(True, 10, "table")
    monkeypatch.setattr(threads, "TABLE_MIN_WORK", 10)
    assert threads.choose_parallel(True, 10, "table")
    with pytest.raises(ValueError, match="kind must be one of"):
        threads.choose_parallel(True, 10, "rows")


def _tiny_fit_data(name):
    """435 x 16 with ~5 % NaN (the fit of issue 13), a tiny sparse one, a tiny and a small dense one."""
    rng = np.random.default_rng(13)
    X = (rng.random((435, 16)) < 0.3).astype(np.float64)
    if name == "missing 435x16":
        X[rng.random(X.shape) < 0.05] = np.nan
        return X
    if name == "sparse 435x40":
        return sp.csr_matrix((rng.random((435, 40)) < 0.1).astype(np.float64))
    return X[:100] if name == "dense 100x16" else X


@pytest.mark.parametrize("threshold", ["package", "zero (control)"])
@pytest.mark.parametrize("name", ["missing 435x16", "sparse 435x40", "dense 100x16", "dense 435x16"])
def test_tiny_fit_with_threads_allowed_never_starts_them(name, threshold, monkeypatch):
    """parallel=True (the estimator's default) on a tiny fit: no parallel region, no block-runner thread."""
    started = []
    real_guard, real_pool = threads.parallel_guard, threads._pool

    @contextmanager
    def recording_guard():  # every call of a parallel build passes here
        started.append("parallel build")
        with real_guard():
            yield

    def recording_pool():  # run_blocks asks for its worker threads only when it splits the blocks
        started.append("run_blocks threads")
        return real_pool()

    monkeypatch.setattr(threads, "parallel_guard", recording_guard)
    monkeypatch.setattr(threads, "_pool", recording_pool)
    if threshold != "package":
        if numba.get_num_threads() < 2:
            pytest.skip("one Numba thread: the block runner starts none")
        monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 0)
        monkeypatch.setattr(threads, "TABLE_MIN_WORK", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fit may not converge
        BernoulliMixture(3, max_iter=3, random_state=0).fit(_tiny_fit_data(name))
    if threshold == "package":
        assert started == [], f"{name}: {sorted(set(started))}"
    else:  # the recorders see threads where the rule allows them, so the assertion above can fail
        assert started, name


CONCURRENT_SCRIPT = textwrap.dedent(
    """
    import faulthandler
    faulthandler.dump_traceback_later(120, exit=True)  # a hang prints every stack and fails
    import threading
    import numpy as np
    import numba
    from bmm_numba import E_STEPS

    rng = np.random.default_rng(1)
    X = (rng.random((4000, 784)) < 0.17).astype(np.uint8)
    mu = rng.uniform(0.25, 0.75, size=(10, 784))
    pi = np.full(10, 0.1)
    sizes = {"python_loops": 2, "python_log": 20}
    expected = {name: f(X[: sizes.get(name, 4000)], mu, pi) for name, f in E_STEPS.items()}
    errors = []
    start = threading.Barrier(4)

    def work(seed):
        start.wait()
        order = list(E_STEPS)
        np.random.default_rng(seed).shuffle(order)
        for _ in range(3):
            for name in order:
                got = E_STEPS[name](X[: sizes.get(name, 4000)], mu, pi)
                if not np.array_equal(got, expected[name], equal_nan=True):
                    errors.append(name)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    print("layer", numba.threading_layer())
    """
)


def _available_layers():
    layers = [None, "workqueue"]  # None: whatever Numba picks by default
    try:
        from numba.np.ufunc import omppool  # noqa: F401

        layers.append("omp")
    except ImportError:
        pass
    return layers


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="threading layers need the JIT")
@pytest.mark.parametrize("layer", _available_layers(), ids=lambda layer: layer or "default")
def test_four_python_threads_never_abort_the_process(layer, tmp_path):
    """Run in a subprocess: an abort (workqueue's SIGABRT) fails this test instead of pytest."""
    env = dict(os.environ)
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer is not None:
        env["NUMBA_THREADING_LAYER"] = layer
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    script = tmp_path / "call_from_four_threads.py"
    script.write_text(CONCURRENT_SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    if layer is not None:
        assert f"layer {layer}" in proc.stdout


CACHE_SCRIPT = textwrap.dedent(
    """
    import numba
    import numpy as np
    from bmm_numba.kernels.e_step_numba import COMPILED_KERNELS, run_compiled
    from bmm_numba.kernels.validation import check_e_step_inputs

    rng = np.random.default_rng(0)
    X, mu, pi = check_e_step_inputs((rng.random((2000, 784)) < 0.2).astype(np.uint8),
                                    rng.uniform(0.2, 0.8, (10, 784)), np.full(10, 0.1))
    for name in COMPILED_KERNELS:  # serial first: it must not hand its code to the parallel build
        run_compiled(name, X, mu, pi, parallel=False)
    run_compiled("numba_ones", X, mu, pi, parallel=True)
    print("layer", numba.threading_layer())
    """
)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="caching needs the JIT")
def test_parallel_build_from_cache_is_really_parallel(tmp_path):
    """Serial and parallel builds of one body must not share Numba cache entries."""
    script = tmp_path / "cache_roundtrip.py"
    script.write_text(CACHE_SCRIPT)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), BMM_NUMBA_CACHE="1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for run in ("cold cache", "warm cache"):
        proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{run}: {proc.stderr[-3000:]}"
        assert "layer" in proc.stdout, run
    assert any((tmp_path / "cache").rglob("*.nbi"))


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="caching needs the JIT")
@pytest.mark.parametrize("cache_setting", ["unwritable cache dir", "BMM_NUMBA_CACHE=0"])
def test_import_and_run_without_a_usable_cache(cache_setting, tmp_path):
    """A read-only install (no writable cache location) must still import and compute, uncached."""
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    env = dict(os.environ)
    if cache_setting == "BMM_NUMBA_CACHE=0":
        env["BMM_NUMBA_CACHE"] = "0"
    else:  # a cache path that cannot be created, whatever the user's permissions (root included)
        env["NUMBA_CACHE_DIR"] = str(blocker / "cache")
        env.pop("BMM_NUMBA_CACHE", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    code = ("import numpy as np; from bmm_numba import e_step; "
            "X = (np.arange(600 * 16).reshape(600, 16) % 3 == 0).astype(np.uint8); "
            "g = e_step(X, np.full((2, 16), 0.3) + np.eye(2, 16) * 0.4, [0.5, 0.5]); "
            "assert np.allclose(g.sum(axis=1), 1.0); print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
    assert not any(tmp_path.rglob("*.nbi"))


@pytest.mark.skipif(numba.config.DISABLE_JIT or os.environ.get("BMM_NUMBA_CACHE") == "0",
                    reason="caching needs the JIT and BMM_NUMBA_CACHE on")
def test_jit_helper_degrades_to_no_cache_when_numba_cannot_locate_one():
    """A function with no cache locator (here: source from exec) makes enable_caching raise."""
    from bmm_numba.kernels import jit as _jit

    namespace = {}
    exec("def double(x):\n    return 2 * x\n", namespace)
    serial, parallel = _jit.build_serial_and_parallel(namespace["double"])
    assert serial(21) == 42 and parallel(21) == 42
    with pytest.raises(RuntimeError, match="cannot cache"):  # what _jit swallowed
        numba.njit(namespace["double"]).enable_caching()


FORK_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from bmm_numba import E_STEPS

    rng = np.random.default_rng(0)
    X = (rng.random((4000, 300)) < 0.2).astype(np.uint8)  # n * d * 16 lanes >= threads.TABLE_MIN_WORK
    mu, pi = rng.uniform(0.2, 0.8, (10, 300)), np.full(10, 0.1)
    before = E_STEPS["numba"](X, mu, pi)  # starts the block runner's worker thread
    from bmm_numba.kernels import threads as _threads
    if _threads._POOL is None:  # the call ran in this thread alone: nothing to test
        sys.exit(4)
    pid = os.fork()
    if pid == 0:  # the child inherits the pool object but not its thread
        ok = np.array_equal(E_STEPS["numba"](X, mu, pi), before)
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


@pytest.mark.skipif(numba.config.DISABLE_JIT or not hasattr(os, "fork"), reason="fork and the JIT needed")
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one Numba thread: the block runner starts no thread")
def test_table_kernel_threads_work_in_a_forked_child(tmp_path):
    """Run in a fresh interpreter (no OpenMP region has run there, so fork is allowed)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    script = tmp_path / "fork_after_call.py"
    script.write_text(FORK_SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
