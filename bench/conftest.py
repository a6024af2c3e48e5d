"""Benchmark data: the article's harness on real MNIST rows, or generated rows of the same shape."""

import numpy as np
import pytest

from bmm_numba.datasets import MNIST_DENSITY, load_mnist
from conftest import mnist_dir_option


def pytest_addoption(parser):
    parser.addoption("--bench-large", action="store_true", default=False,
                     help="also benchmark n = 10000 and 60000 (marker 'large')")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--bench-large"):
        return
    skip = pytest.mark.skip(reason="large size: run with --bench-large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def article_data(request):
    """(X, mu, pi, source): 60000 binarised rows, K=10, mu ~ U(0.25, 0.75) seed 0, pi = 1/K."""
    folder = mnist_dir_option(request.config)
    if folder is not None:
        X, _ = load_mnist(folder, split="train", threshold=128)
        source = "MNIST train, binarised at 128"
    else:
        rng = np.random.default_rng(0)
        X = (rng.random((60000, 784)) < MNIST_DENSITY).astype(np.uint8)
        source = f"generated: 60000 x 784 Bernoulli({MNIST_DENSITY}) (no MNIST folder given)"
    rng = np.random.default_rng(0)
    mu = rng.uniform(0.25, 0.75, size=(10, X.shape[1]))
    pi = np.full(10, 0.1)
    return X, mu, pi, source


def pytest_benchmark_update_json(config, benchmarks, output_json):
    folder = mnist_dir_option(config)
    # top level, not in machine_info: --benchmark-compare compares machine_info with the current
    # machine's and warns (an error under filterwarnings = error) on any extra key
    output_json["bmm_numba_data"] = "MNIST train" if folder else "generated"
    # --benchmark-json always writes every round's time: 24 MB for the MNIST E-step run (the
    # fast kernels run thousands of rounds).  The statistics (min, median, IQR, rounds, ...)
    # are what bench/report.py, bench/plot_scaling.py and --benchmark-compare read.
    for bench in output_json["benchmarks"]:
        bench["stats"].pop("data", None)
