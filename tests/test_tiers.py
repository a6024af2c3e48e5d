"""The tier markers of tests/conftest.py: processes are found through helpers and fixtures."""

import subprocess
import sys

from .conftest import NOT_FAST, _starts_processes


def _helper_that_runs_python():
    return subprocess.run([sys.executable, "-c", "pass"], check=True)


def _calls_the_helper():
    return _helper_that_runs_python()


def _imports_inside():
    import multiprocessing

    return multiprocessing.cpu_count()


def _computes_only():
    return sum(range(10))


def test_process_starters_are_found_directly_through_helpers_and_nested_imports():
    assert _starts_processes(_helper_that_runs_python, set())
    assert _starts_processes(_calls_the_helper, set())
    assert _starts_processes(_imports_inside, set())
    assert not _starts_processes(_computes_only, set())


def test_functions_outside_the_tests_are_not_searched():
    assert not _starts_processes(subprocess.run, set())


def test_fast_tier_leaves_out_every_expensive_marker(request):
    registered = {line.split(":")[0] for line in request.config.getini("markers")}
    assert set(NOT_FAST) <= registered
    assert request.node.get_closest_marker("subprocess") is None
