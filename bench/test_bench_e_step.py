"""The article's experiment: every registry E-step over the size ladder, grouped by n.

Run (timings saved as JSON for ``bench/report.py``)::

    python -m pytest bench --mnist-dir path/to/mnist --benchmark-autosave

Compilation happens in an explicit warm-up call outside the timed region and is measured on its
own in ``test_compile_time``.
"""

import numba
import numpy as np
import pytest

from bmm_numba import E_STEPS
from bmm_numba.kernels.e_step_numba import COMPILED_KERNELS
from bmm_numba.kernels.jit import JIT_OPTIONS
from bmm_numba.kernels.names import ARTICLE_SIZES as SIZES
from bmm_numba.kernels.registry import KERNELS, PRODUCTION_KERNELS
from bmm_numba.kernels.simd_llvm import target_has_avx512f
from bmm_numba.kernels.validation import check_e_step_inputs

LARGE_SIZES = (10000, 60000)

# Largest n at which a pure-Python kernel still finishes a round in a few seconds on 2 cores
# (attempt 1 takes ~5 s at n=1000: it joins only with --bench-large).
MAX_N = {"python_loops": 500, "python_log": 10000, "numpy_rows": 60000}
assert set(MAX_N) == {name for name, r in KERNELS.items() if r.family == "python"}
LARGE_ONLY = {("python_loops", 1000)}
# Kernels slow enough that pytest-benchmark's calibration would take minutes: fixed rounds.
SLOW = {"python_loops", "python_log"}
#: Which listing the table kernel compiles to (``NUMBA_CPU_NAME=haswell`` shows the generic one).
SIMD_PATH = "avx512" if target_has_avx512f() else f"generic ({numba.config.CPU_NAME or 'host'} without AVX-512F)"


def _cases():
    for n in SIZES + LARGE_SIZES:
        for kernel in E_STEPS:
            limit = MAX_N.get(kernel, n)
            if n > limit and (kernel, n) not in LARGE_ONLY:
                continue
            large = n in LARGE_SIZES or (kernel, n) in LARGE_ONLY
            yield pytest.param(kernel, n, id=f"{kernel}-n{n}", marks=[pytest.mark.large] if large else [])


@pytest.mark.parametrize(("kernel", "n"), list(_cases()))
def test_e_step(benchmark, article_data, kernel, n):
    X, mu, pi, source = article_data
    X = X[:n]
    f = E_STEPS[kernel]
    benchmark.group = f"E-step n={n:>5}"
    benchmark.extra_info.update(kernel=kernel, n=n, data=source, simd=SIMD_PATH)
    f(X, mu, pi)  # warm-up: compiles the Numba kernels outside the timed region
    if kernel in SLOW:
        resp = benchmark.pedantic(f, args=(X, mu, pi), rounds=3, iterations=1)
    else:
        resp = benchmark(f, X, mu, pi)
    assert resp.shape == (n, mu.shape[0])  # the article's check
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-9)


#: Sizes and kernels of the new-parameters case: every call brings other ``mu`` values.
NEW_PARAMETER_SIZES = (5, 100, 1000)
NEW_PARAMETER_KERNELS = tuple(k for k in PRODUCTION_KERNELS if k != "numba_log")  # numba_log: as numba_ones


@pytest.mark.parametrize("n", NEW_PARAMETER_SIZES + (pytest.param(60000, marks=pytest.mark.large),))
@pytest.mark.parametrize("kernel", NEW_PARAMETER_KERNELS)
def test_e_step_new_parameters(benchmark, article_data, kernel, n):
    """As ``test_e_step``, but the calls alternate between two ``mu``: no reuse of prepared terms.

    The compiled kernels keep the terms they prepared from the last ``(mu, pi)``
    (:mod:`bmm_numba.kernels.param_cache`); ``test_e_step`` repeats one ``(mu, pi)``, as a caller
    predicting batch after batch does.  This case shows the cost when the parameters change
    every call, as in an EM loop.
    """
    X, mu, pi, source = article_data
    X = X[:n]
    other = mu.copy()
    other[0, 0] = 0.5 if other[0, 0] != 0.5 else 0.25
    f = E_STEPS[kernel]
    turn = [0]

    def call():
        turn[0] ^= 1
        return f(X, mu if turn[0] else other, pi)

    benchmark.group = f"E-step n={n:>5}, new parameters every call"
    benchmark.extra_info.update(kernel=kernel, n=n, data=source, parameters="new every call")
    call()  # warm-up: compiles the Numba kernels outside the timed region
    resp = benchmark(call)
    assert resp.shape == (n, mu.shape[0])


def _compile_cases():
    """(name, loop body, arguments, parallel) for every compiled E-step kernel, on 8 MNIST-shaped rows.

    The table kernel is built serial only (threads run it on ranges of blocks), the others with
    ``parallel=True``: each is compiled as the package compiles it.
    """
    from bmm_numba.kernels.table.e_step import _table_pass_body, e_step_arguments, prepare_table

    rng = np.random.default_rng(0)
    X, mu, pi = check_e_step_inputs((rng.random((8, 784)) < 0.13).astype(np.uint8),
                                    rng.uniform(0.25, 0.75, (10, 784)), np.full(10, 0.1))
    outputs = (np.empty((8, 10)), np.empty(8))
    cases = {name: (spec.body, (X, *spec.prepare(mu, pi), *outputs), True) for name, spec in COMPILED_KERNELS.items()}
    lut, bias = prepare_table(mu, pi)
    table_args = e_step_arguments(X, lut, bias, outputs[0])
    cases["numba"] = (_table_pass_body, (0, 1, *table_args), False)
    return cases


@pytest.mark.parametrize("kernel", [*COMPILED_KERNELS, "numba"])
def test_compile_time(benchmark, kernel):
    """Cold compile + first call, on a fresh dispatcher with no cache."""
    body, args, parallel = _compile_cases()[kernel]
    benchmark.group = "JIT compile"
    benchmark.extra_info.update(kernel=kernel)

    def fresh_dispatcher():
        return (numba.njit(parallel=parallel, **JIT_OPTIONS)(body), *args), {}

    benchmark.pedantic(lambda kernel_, *a: kernel_(*a), setup=fresh_dispatcher, rounds=3)
