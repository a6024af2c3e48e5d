"""Where each kernel wins: E-step cost against N, K, density and D (generated data).

The default set is small enough for a CI smoke run; ``--bench-large`` adds N = 10^5 and 10^6,
K = 200 and the 100000-feature text-like case.  Plot the saved JSON with
``python bench/plot_scaling.py``.
"""

import numpy as np
import pytest

from bmm_numba import E_STEPS, PRODUCTION_KERNELS

# the faster of each pair of production twins (numpy ~ numpy_gemm, numba_log ~ numba_ones)
KERNELS = tuple(k for k in PRODUCTION_KERNELS if k not in ("numpy", "numba_log"))


def _data(n, d, k, density, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, d)) < density).astype(np.uint8)
    return X, rng.uniform(0.25, 0.75, size=(k, d)), np.full(k, 1.0 / k)


def _run(benchmark, group, kernel, X, mu, pi, **info):
    f = E_STEPS[kernel]
    benchmark.group = group
    benchmark.extra_info.update(kernel=kernel, **info)
    f(X, mu, pi)  # compile outside the timer
    benchmark(f, X, mu, pi)


def _cases(values, large_values=()):
    return [pytest.param(v, marks=[pytest.mark.large]) if v in large_values else v for v in values]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("n", _cases([1000, 10000, 100000, 1000000], large_values=(100000, 1000000)))
def test_rows(benchmark, kernel, n):
    _run(benchmark, f"scaling N (D=784, K=10, 13% ones) N={n}", kernel, *_data(n, 784, 10, 0.13),
         n=n, d=784, k=10, density=0.13, axis="N")


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("k", _cases([2, 10, 50, 200], large_values=(200,)))
def test_components(benchmark, kernel, k):
    _run(benchmark, f"scaling K (N=10000, D=784, 13% ones) K={k}", kernel, *_data(10000, 784, k, 0.13),
         n=10000, d=784, k=k, density=0.13, axis="K")


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("density", [0.01, 0.17, 0.5, 0.9])
def test_density(benchmark, kernel, density):
    _run(benchmark, f"scaling density (N=10000, D=784, K=10) density={density}", kernel,
         *_data(10000, 784, 10, density), n=10000, d=784, k=10, density=density, axis="density")


@pytest.mark.large
@pytest.mark.parametrize("kernel", KERNELS)
def test_text_like(benchmark, kernel):
    """D = 100000 at 0.5 % ones, stored dense as uint8 (the estimator also takes it sparse)."""
    _run(benchmark, "scaling D (N=2000, D=100000, K=10, 0.5% ones)", kernel, *_data(2000, 100000, 10, 0.005),
         n=2000, d=100000, k=10, density=0.005, axis="D")


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("threads", [1, 2])
def test_threads(benchmark, kernel, threads):
    """Thread scaling 1 -> 2 at N = 60000: Numba's thread count and BLAS's (threadpoolctl) alike."""
    import numba
    from threadpoolctl import threadpool_limits

    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"only {numba.config.NUMBA_NUM_THREADS} Numba thread(s) on this machine")
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            _run(benchmark, f"scaling threads (N=60000, D=784, K=10, 13% ones) threads={threads}", kernel,
                 *_data(60000, 784, 10, 0.13), n=60000, d=784, k=10, density=0.13, threads=threads,
                 axis="threads")
    finally:
        numba.set_num_threads(before)
