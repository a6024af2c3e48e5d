"""Fork safety (issue 15, item 5): a ``fork`` pool works after parallel kernels ran in the parent.

Each test runs a fresh interpreter (the threading layer is chosen once per process, at the
first parallel region), with a timeout: under GNU OpenMP the children were killed and the pool
hung.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT or not hasattr(os, "fork"),
                                reason="fork and the JIT needed")

FORK_POOL_SCRIPT = textwrap.dedent(
    """
    import multiprocessing, sys
    import numba
    import numpy as np
    import scipy.sparse as sp
    from bmm_numba import E_STEPS, BernoulliMixture

    rng = np.random.default_rng(0)
    X = (rng.random((3000, 200)) < 0.2).astype(np.uint8)
    mu, pi = rng.uniform(0.2, 0.8, (10, 200)), np.full(10, 0.1)
    expected = {name: E_STEPS[name](X, mu, pi) for name in ("numba_ones", "numba_log")}  # parallel builds
    X_nan = X.astype(float)
    X_nan[rng.random(X.shape) < 0.05] = np.nan
    fits = {
        "dense": BernoulliMixture(5, random_state=0, max_iter=5).fit(X),
        "sparse": BernoulliMixture(5, random_state=0, max_iter=5).fit(sp.csr_matrix(X)),
        "missing": BernoulliMixture(5, random_state=0, max_iter=5).fit(X_nan),
    }
    data = {"dense": X, "sparse": sp.csr_matrix(X), "missing": X_nan}
    layer = numba.threading_layer()

    def child(task):
        kind, name = task
        if name:
            return bool(np.array_equal(E_STEPS[name](X, mu, pi), expected[name]))
        est = fits[kind]
        return bool(np.array_equal(est.predict_proba(data[kind]), est.predict_proba(data[kind])))

    if __name__ == "__main__":
        tasks = [("dense", "numba_ones"), ("dense", "numba_log")] + [(kind, None) for kind in fits]
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map_async(child, tasks).get(timeout=120)
        print(layer, results)
        sys.exit(0 if all(results) and layer != "omp" else 3)
    """
)


def _run(script, tmp_path, **env_changes):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NUMBA_THREADING_LAYER", None)
    env.update(env_changes)
    path = tmp_path / "script.py"
    path.write_text(script)
    return subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=400)


def test_fork_pool_after_parallel_fits_under_the_default_layer(tmp_path):
    proc = _run(FORK_POOL_SCRIPT, tmp_path)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"


LAYER_SCRIPT = textwrap.dedent(
    """
    import sys
    import numba
    import numpy as np
    if len(sys.argv) > 1:
        numba.config.THREADING_LAYER = sys.argv[1]  # chosen in code, before the package is imported
    from bmm_numba import E_STEPS

    rng = np.random.default_rng(0)
    X = (rng.random((3000, 200)) < 0.2).astype(np.uint8)
    E_STEPS["numba_ones"](X, rng.uniform(0.2, 0.8, (10, 200)), np.full(10, 0.1))
    print(numba.threading_layer())
    """
)


@pytest.mark.parametrize("how", ["environment", "code"])
def test_a_layer_the_user_chose_is_respected(tmp_path, how):
    if how == "environment":
        proc = _run(LAYER_SCRIPT, tmp_path, NUMBA_THREADING_LAYER="workqueue")
    else:
        path = tmp_path / "layer.py"
        path.write_text(LAYER_SCRIPT)
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("NUMBA_THREADING_LAYER", None)
        proc = subprocess.run([sys.executable, str(path), "omp"], env=env, capture_output=True, text=True,
                              timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-1] == ("workqueue" if how == "environment" else "omp")
