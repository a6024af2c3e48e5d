"""Serial against parallel build, per call, at growing sizes: the measurement behind PARALLEL_MIN_WORK.

Runs the two builds of the missing-value E-step and statistics (K = 5, 30 % ones, 5 % missing)
and of the sparse fused pass (K = 10, 8 % ones) on the same arguments and prints the median time
of each and their ratio, with the work that :func:`bmm_numba.kernels.threads.choose_parallel`
counts (``n * d * k``, ``nnz * k``).  Run::

    python bench/thread_threshold.py

Times are wall-clock medians; on a shared machine run it twice and read the ratios, not the times.
"""

import time

import numpy as np
import scipy.sparse as sp

from bmm_numba.kernels import missing, sparse
from bmm_numba.kernels.m_step import row_blocks


def median_us(call, reps):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def compare(name, builds, args, work):
    builds.serial(*args)
    builds.parallel(*args)
    reps = 200 if work < 10**6 else 30
    serial, parallel = median_us(lambda: builds.serial(*args), reps), median_us(lambda: builds.parallel(*args), reps)
    print(f"{name:22s} {work:>10d} {serial:>11.1f} {parallel:>13.1f} {parallel / serial:>8.2f}", flush=True)


def missing_cases(rng, K=5):
    for n, d in [(50, 16), (435, 16), (1000, 32), (2000, 64), (4000, 64), (8000, 128), (20000, 128)]:
        X = (rng.random((n, d)) < 0.3).astype(np.uint8)
        X[rng.random((n, d)) < 0.05] = missing.MISSING
        mu = rng.uniform(0.2, 0.8, (K, d))
        e_args = (X, np.ascontiguousarray(np.log(mu).T), np.ascontiguousarray(np.log1p(-mu).T),
                  np.full(K, np.log(1.0 / K)), np.empty((n, K)), np.empty(n))
        compare(f"missing E {n}x{d}", missing.SERIAL_AND_PARALLEL["missing_e_step"], e_args, n * d * K)
        rows, blocks = row_blocks(n, d, 2 * K)
        s_args = (X, rng.random((n, K)), rows, np.empty((blocks, d, K)), np.empty((blocks, d, K)),
                  np.empty((blocks, K)), np.empty(K), np.empty((K, d)), np.empty((K, d)))
        compare(f"missing stats {n}x{d}", missing.SERIAL_AND_PARALLEL["missing_stats"], s_args, n * d * K)


def sparse_cases(rng, K=10):
    for n, d in [(100, 200), (435, 500), (1000, 1000), (1760, 2000), (5000, 2000), (20000, 2000)]:
        X = sp.random(n, d, density=0.08, format="csr", random_state=1)
        indptr, indices = X.indptr.astype(np.int64), X.indices.astype(np.int64)
        mu = rng.uniform(0.2, 0.8, (K, d))
        weights, bias = sparse.padded_terms(mu, np.full(K, 1.0 / K))
        KP = bias.shape[0]
        starts = sparse.em_blocks(indptr, d, KP)
        args = (indptr, indices, weights, bias, np.ones(n), starts, np.empty((starts.shape[0] - 1, d * KP)),
                np.empty((starts.shape[0] - 1, KP)), np.empty(n))
        compare(f"sparse fused {n}x{d}", sparse.SERIAL_AND_PARALLEL["sparse_em"], args, X.nnz * K)


if __name__ == "__main__":
    print(f"{'call':22s} {'work':>10s} {'serial us':>11s} {'parallel us':>13s} {'ratio':>8s}")
    rng = np.random.default_rng(0)
    missing_cases(rng)
    sparse_cases(rng)
