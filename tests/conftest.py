"""Shared fixtures and the test tiers.

Every test gets its tier markers here, at collection, so test files need no decorators:

- ``cli``: the modules tests/test_cli.py and tests/test_cli_hostile.py; ``dask``: tests/test_dask.py;
  ``docs``: tests/test_docs_browser.py (the built site in headless Chromium: ``tox -e docs``);
  ``slow`` also for the whole of tests/test_fuzz.py (hypothesis);
- ``subprocess``: the test, a fixture it uses, or a helper of its module that either calls,
  names ``subprocess``, ``LocalCluster``, ``multiprocessing`` or ``os.fork`` (found in the
  compiled code's names, so a new test that starts a process is marked without a list);
- ``mnist``: the test uses the root conftest's ``mnist_dir`` fixture (the real MNIST files);
- ``slow``: listed in ``SLOW`` below (over ~2 s each with a warm Numba cache, measured with
  ``--durations``);
- ``nojit``: the modules in ``NOJIT_MODULES``, whose kernels also run as plain Python under
  ``NUMBA_DISABLE_JIT=1`` (the tier that measures the kernels' coverage).

``--fast`` deselects the tests marked ``slow``, ``subprocess``, ``dask``, ``cli``, ``mnist`` or ``docs``:
the tier to run after every edit, the same as
``-m "not slow and not subprocess and not dask and not cli and not mnist and not docs"``.  The
``docs`` tests skip, saying why, wherever the built site or Chromium is missing.
"""

import fnmatch
import types
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
MODULE_MARKS = {"test_cli.py": "cli", "test_cli_hostile.py": "cli", "test_cli_output.py": "cli",
                "test_dask.py": "dask", "test_fuzz.py": "slow", "test_docs_browser.py": "docs"}
PROCESS_NAMES = frozenset({"subprocess", "LocalCluster", "multiprocessing", "ProcessPoolExecutor", "fork"})
NOT_FAST = ("slow", "subprocess", "dask", "cli", "mnist", "docs")
NOJIT_MODULES = ("test_e_step.py", "test_hamming.py", "test_inputs.py", "test_e_step_lut.py", "test_em_lut.py",
                 "test_m_step.py", "test_simd*.py")

# Over ~2 s a call with a warm Numba cache on 2 cores: module -> test names, each either a whole
# function or one parametrisation ("test_x[a-b]").
SLOW = {
    "test_e_step.py": {"test_table_kernel_on_all_mnist_training_rows"},
    "test_mixture.py": {
        "test_every_kernel_gives_the_same_fit",
        "test_degenerate_data_never_nan",
        "test_sparse_large_d_is_never_densified",
        "test_log_likelihood_plus_log_prior_never_decreases",
    },
    "test_out_of_core.py": {"test_partial_fit_with_missing_values_sparse_and_weights"},
    "test_hostile.py": {"test_idx_gzip_bomb_fails_with_bounded_memory", "test_csv_memory_is_the_array"},
    "test_mixture_mnist.py": {"test_mnist_sparse_fit_equals_dense_fit"},
    "test_quality_properties.py": {"test_objective_monotone_and_no_small_components"},
    "test_docs_blocks.py": {"test_block_runs"},  # 2-20 s each: a fresh interpreter per block
    "test_robustness.py": {"test_6_partial_fit_memory_is_bounded_on_distinct_batches",
                           "test_5_wide_csv_allocates_about_its_size"},
}


def pytest_addoption(parser):
    parser.addoption("--fast", action="store_true", default=False,
                     help="deselect tests marked slow, subprocess, dask, cli, mnist or docs (run after every edit)")


def pytest_ignore_collect(collection_path, config):
    """Under ``--fast``, skip importing the modules whose every test is deselected (Dask alone: ~2 s)."""
    if config.getoption("--fast") and MODULE_MARKS.get(collection_path.name) in NOT_FAST:
        return Path(collection_path).resolve().parent == TESTS or None
    return None


def _code_names(code):
    """Global and attribute names used by ``code`` and the functions nested in it."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _starts_processes(func, seen):
    """Whether ``func``, or a function of the tests it names, names a way to start a process."""
    func = getattr(func, "__wrapped__", func)
    code = getattr(func, "__code__", None)
    if code is None or code in seen or not Path(code.co_filename).resolve().is_relative_to(TESTS):
        return False
    seen.add(code)
    names = _code_names(code)
    if names & PROCESS_NAMES:
        return True
    namespace = getattr(func, "__globals__", {})
    return any(_starts_processes(namespace.get(name), seen) for name in names)


def _fixture_funcs(item):
    """The functions of the fixtures ``item`` uses, the closest definition of each name."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return {}
    return {name: defs[-1].func for name, defs in info.name2fixturedefs.items() if defs}


def pytest_collection_modifyitems(config, items):
    rootdir = Path(str(config.rootpath)).resolve()
    keep, deselected = [], []
    for item in items:
        path = Path(str(item.path)).resolve()
        if path.parent != TESTS:  # bench/ and anything else keeps its own marks
            keep.append(item)
            continue
        fixtures = _fixture_funcs(item)
        marks = set()
        if path.name in MODULE_MARKS:
            marks.add(MODULE_MARKS[path.name])
        seen = set()
        if any(_starts_processes(f, seen) for f in [getattr(item, "function", None), *fixtures.values()]):
            marks.add("subprocess")
        mnist = fixtures.get("mnist_dir")
        if mnist is not None and Path(mnist.__code__.co_filename).resolve().parent == rootdir:
            marks.add("mnist")
        if {item.name, getattr(item, "originalname", item.name)} & SLOW.get(path.name, set()):
            marks.add("slow")
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in NOJIT_MODULES):
            marks.add("nojit")
        for mark in sorted(marks):
            item.add_marker(mark)
        if config.getoption("--fast") and marks.intersection(NOT_FAST):
            deselected.append(item)
        else:
            keep.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


def pytest_report_header(config):
    import bmm_numba

    return f"bmm_numba from {Path(bmm_numba.__file__).parent}"


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)
