import os
from pathlib import Path

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--mnist-dir",
        default=None,
        help="folder with the MNIST IDX files (default: $BMM_NUMBA_MNIST_DIR); real-data tests skip without it",
    )


@pytest.fixture(scope="session")
def mnist_dir(request):
    value = request.config.getoption("--mnist-dir") or os.environ.get("BMM_NUMBA_MNIST_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("MNIST not available: pass --mnist-dir or set BMM_NUMBA_MNIST_DIR")
    return Path(value)


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)
