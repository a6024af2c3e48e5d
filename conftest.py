"""Options shared by tests/ and bench/: where the real MNIST files are."""

from pathlib import Path

import pytest

from bmm_numba.datasets import MNIST_ENV_VAR, mnist_dir_from_env


def pytest_addoption(parser):
    parser.addoption(
        "--mnist-dir",
        default=None,
        help=f"folder with the MNIST IDX files (default: ${MNIST_ENV_VAR}); "
        "real-data tests skip and benchmarks use generated data without it",
    )


def mnist_dir_option(config):
    """Return the MNIST folder from --mnist-dir or $BMM_NUMBA_MNIST_DIR, or None."""
    value = config.getoption("--mnist-dir")
    if not value:
        return mnist_dir_from_env()
    return Path(value) if Path(value).is_dir() else None


@pytest.fixture(scope="session")
def mnist_dir(request):
    folder = mnist_dir_option(request.config)
    if folder is None:
        pytest.skip("MNIST not available: pass --mnist-dir or set BMM_NUMBA_MNIST_DIR")
    return folder
