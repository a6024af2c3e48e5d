"""Numba-compiled E-step kernels: the article's loops as machine code.

Each loop body below is written once and built twice (serial and ``parallel=True``) by
:func:`bmm_numba._jit.build_serial_and_parallel`.  The outer ``prange`` runs over rows and every
iteration writes only its own row of ``gamma``: no reductions across threads, so results are
bit-identical whatever the thread count.

Kernels assume validated input (``X`` uint8 C-contiguous (N, D), parameters float64) and only
loop; :func:`run_compiled` prepares the parameter terms, allocates the outputs, and takes the
threading guard.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from .e_step_numpy import log_pi
from .jit import JIT_OPTIONS, build_serial_and_parallel
from .param_cache import cached
from .threads import parallel_guard

__all__ = ["COMPILED_KERNELS", "CompiledKernel", "run_compiled", "numba_loops", "numba_log", "numba_ones"]


@numba.njit(**JIT_OPTIONS)
def _normalise_log_row(row):
    """Stable log-sum-exp normalisation of one row of log-joints, in place.

    Returns ``log(sum_k exp(row[k]))`` of the row as it was, i.e. ``log p(x_n)``.
    """
    K = row.shape[0]
    top = row[0]
    for k in range(1, K):
        if row[k] > top:
            top = row[k]
    total = 0.0
    for k in range(K):
        row[k] = np.exp(row[k] - top)
        total += row[k]
    for k in range(K):
        row[k] /= total
    return top + np.log(total)


def _probability_loops_body(X, mu, pi, gamma, log_norm):
    """Attempt 1 compiled: triple loop over n, k, d multiplying probabilities.

    ``mu**x * (1-mu)**(1-x)`` is written as a branch on ``x``: for ``x`` in {0, 1} the two
    are bit-identical (``a**1 == a``, ``a**0 == 1``) and the branch avoids two ``pow`` calls.
    Kept in probability space like the original: it underflows on sharp parameters.
    """
    N, D = X.shape
    K = mu.shape[0]
    for n in prange(N):
        total = 0.0
        for k in range(K):
            p = pi[k]
            for d in range(D):
                if X[n, d]:
                    p *= mu[k, d]
                else:
                    p *= 1.0 - mu[k, d]
            gamma[n, k] = p
            total += p
        for k in range(K):
            gamma[n, k] /= total
        log_norm[n] = np.log(total)


def _log_loops_body(X, log_mu, log_1m_mu, log_pi, gamma, log_norm):
    """Attempt 2 compiled: loop over n and k, log-space sum over d, stable per-row log-sum-exp."""
    N, D = X.shape
    K = log_mu.shape[0]
    for n in prange(N):
        for k in range(K):
            s = log_pi[k]
            for d in range(D):
                if X[n, d]:
                    s += log_mu[k, d]
                else:
                    s += log_1m_mu[k, d]
            gamma[n, k] = s
        log_norm[n] = _normalise_log_row(gamma[n])


def _ones_loops_body(X, weights_dk, bias, gamma, log_norm):
    """Loop over rows, and inside a row over the features that are 1 only.

    Textbook form: ``log pi_k + sum_d x_d log mu_kd + (1 - x_d) log(1 - mu_kd)``.  Rewritten
    as ``bias_k + sum_{d: x_d = 1} w_dk`` with ``w = log mu - log(1 - mu)`` stored (D, K) so the
    K additions for one pixel read contiguous memory.  On MNIST only ~17 % of pixels are 1, so
    this does about a sixth of the additions of the dense log loop.
    """
    N, D = X.shape
    K = bias.shape[0]
    for n in prange(N):
        row = gamma[n]
        for k in range(K):
            row[k] = bias[k]
        for d in range(D):
            if X[n, d]:
                for k in range(K):
                    row[k] += weights_dk[d, k]
        log_norm[n] = _normalise_log_row(row)


def _probability_arguments(mu, pi):
    return mu, pi


def _log_arguments(mu, pi):
    return np.log(mu), np.log1p(-mu), log_pi(pi)


def _ones_arguments(mu, pi):
    log_mu, log_1m_mu, lp = _log_arguments(mu, pi)
    weights_dk = np.ascontiguousarray((log_mu - log_1m_mu).T)
    bias = lp + log_1m_mu.sum(axis=1)
    return weights_dk, bias


class CompiledKernel(NamedTuple):
    """One loop body, its two builds, and how to turn ``(mu, pi)`` into its parameters.

    ``prepare(mu, pi)`` returns the parameter arrays passed between ``X`` and the outputs
    ``(gamma, log_norm)``; its last array always has length K.
    """

    body: object
    serial: object
    parallel: object
    prepare: object


def _compiled(body, prepare):
    return CompiledKernel(body, *build_serial_and_parallel(body), prepare)


#: registry name -> CompiledKernel.  Tests compare the serial and parallel builds; the compile
#: benchmark rebuilds ``body`` from scratch.
COMPILED_KERNELS = {
    "numba_loops": _compiled(_probability_loops_body, _probability_arguments),
    "numba_log": _compiled(_log_loops_body, cached(_log_arguments)),
    "numba_ones": _compiled(_ones_loops_body, cached(_ones_arguments)),
}


#: Below this many ``n * d * k`` steps the serial build runs: starting the thread team costs
#: more than it saves (at n = 5 on MNIST shapes the parallel build took ~8x longer than the
#: serial one on the 2-core machine).  Rows are independent, so both builds give identical
#: results and the switch cannot change an answer.
PARALLEL_MIN_WORK = 1 << 20


def run_compiled(name, X, mu, pi, *, parallel=None, return_log_norm=False):
    """Run compiled kernel ``name`` on validated input.

    Parameters
    ----------
    name : str
        A key of :data:`COMPILED_KERNELS`.
    X : ndarray of shape (n_samples, n_features), uint8, C-contiguous
    mu : ndarray of shape (n_components, n_features), float64
    pi : ndarray of shape (n_components,), float64
    parallel : bool or None, default=None
        Run the ``parallel=True`` build (True), the serial one (False), or choose by the size
        of the problem (None: parallel from :data:`PARALLEL_MIN_WORK` steps on).
    return_log_norm : bool, default=False
        Also return ``log p(x_n)``.

    Returns
    -------
    gamma : ndarray of shape (n_samples, n_components)
    log_norm : ndarray of shape (n_samples,), only if ``return_log_norm``
    """
    spec = COMPILED_KERNELS[name]
    params = spec.prepare(mu, pi)
    gamma = np.empty((X.shape[0], params[-1].shape[0]))
    log_norm = np.empty(X.shape[0])
    if parallel is None:
        parallel = X.shape[0] * X.shape[1] * gamma.shape[1] >= PARALLEL_MIN_WORK
    if parallel:
        with parallel_guard():
            spec.parallel(X, *params, gamma, log_norm)
    else:
        spec.serial(X, *params, gamma, log_norm)
    return (gamma, log_norm) if return_log_norm else gamma


numba_loops = partial(run_compiled, "numba_loops")
numba_log = partial(run_compiled, "numba_log")
numba_ones = partial(run_compiled, "numba_ones")
