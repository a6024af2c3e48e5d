"""Peak extra memory of ``BernoulliMixture.fit`` on uint8 input (tracemalloc, fresh process).

``fit`` never makes a float copy of X: the peak above the process's footprint with X loaded
should be the look-up table and partial pattern tables (a few MB), the row index the EM passes
read instead of scanning X (4 bytes per non-zero 4-pixel group: 10.7 MB on MNIST train) plus
O(N·K) floats (responsibilities of the final E-step, log-likelihoods).  Reported in ``extra_info`` and printed
(``-s``); a float64 copy of MNIST train alone would be 376 MB.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys, tracemalloc, warnings
    import numpy as np
    from bmm_numba import BernoulliMixture
    from bmm_numba.datasets import load_mnist

    folder, kernel = sys.argv[1], sys.argv[2]
    if folder:
        X, _ = load_mnist(folder, split="train")
    else:
        X = (np.random.default_rng(0).random((60000, 784)) < 0.1323).astype(np.uint8)
    warnings.simplefilter("ignore")
    BernoulliMixture(10, max_iter=2, tol=0, kernel=kernel, random_state=0).fit(X[:2000])  # compile
    tracemalloc.start()  # NumPy reports its buffers to tracemalloc; the kernels allocate theirs in Python
    BernoulliMixture(10, max_iter=10, tol=0, kernel=kernel, random_state=0).fit(X)
    _, peak = tracemalloc.get_traced_memory()
    print(json.dumps({"peak_extra_MiB": peak / 2**20, "X_MiB": X.nbytes / 2**20,
                      "n": X.shape[0], "d": X.shape[1]}))
    """
)


@pytest.mark.parametrize("kernel", ["numba", "numpy_gemm"])
def test_fit_peak_memory(benchmark, request, kernel):
    from conftest import mnist_dir_option

    folder = mnist_dir_option(request.config)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = {}

    def run():
        proc = subprocess.run([sys.executable, "-c", SCRIPT, str(folder or ""), kernel], env=env,
                              capture_output=True, text=True, timeout=600, check=True)
        result.update(json.loads(proc.stdout.strip().splitlines()[-1]))

    benchmark.group = "fit peak memory (10 iterations, K=10)"
    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(kernel=kernel, **result)
    print(f"\n{kernel}: peak extra {result['peak_extra_MiB']:.1f} MiB while fitting X of {result['X_MiB']:.1f} MiB")
    assert result["n"] > 0
