"""Numba-compiled E-step kernels: the article's loops as machine code.

Each loop body below is written once and built twice (serial and ``parallel=True``) by
:func:`bmm_numba.kernels.jit.build_serial_and_parallel`.  The outer ``prange`` runs over rows and
every iteration writes only its own row of ``resp``: no reductions across threads, so results
are bit-identical whatever the thread count.

Kernels assume validated input (``X`` uint8 C-contiguous (N, D), parameters float64) and only
loop; :func:`run_compiled` prepares the parameter terms, allocates the outputs, and chooses the
build (:func:`bmm_numba.kernels.threads.run_serial_or_parallel`).  The row helpers
(:func:`fill_row`, :func:`add_row`, :func:`normalise_log_row`) are shared with the
missing-value and sparse kernels.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from .e_step_numpy import log_pi
from .exp import exp_nonpositive
from .jit import JIT_OPTIONS, build_serial_and_parallel
from .param_cache import cached
from .threads import run_serial_or_parallel

__all__ = ["COMPILED_KERNELS", "CompiledKernel", "run_compiled", "numba_loops", "numba_log", "numba_ones",
           "fill_row", "add_row", "normalise_log_row"]


# The row helpers run once per pixel: inlined by Numba itself (inline="always"), and given
# (array, row number) rather than a row view, whose reference count is an atomic operation.
# As plain calls on views they made the missing-value E-step about twice as slow.


@numba.njit(inline="always", **JIT_OPTIONS)
def fill_row(out, i, values):
    """``out[i, k] = values[k]`` for every k (the start of row i of the log-joints)."""
    for k in range(out.shape[1]):
        out[i, k] = values[k]


@numba.njit(inline="always", **JIT_OPTIONS)
def add_row(out, i, values, j):
    """``out[i, k] += values[j, k]`` for every k: one K-contiguous row of ``values`` into row i of ``out``."""
    for k in range(out.shape[1]):
        out[i, k] += values[j, k]


@numba.njit(**JIT_OPTIONS)
def normalise_log_row(row):
    """Stable log-sum-exp normalisation of one row of log-joints, in place.

    Parameters
    ----------
    row : ndarray of shape (n_components,)
        ``log pi_k + log p(x_n | k)`` on entry, responsibilities on return.

    Returns
    -------
    log_prob_norm : float
        ``log(sum_k exp(row[k]))`` of the row as it was, i.e. ``log p(x_n)``.
    """
    K = row.shape[0]
    top = row[0]
    for k in range(1, K):
        if row[k] > top:
            top = row[k]
    total = 0.0
    for k in range(K):
        # branch-free, vectorisable exp (0 below -708): libm's took a slow path on every underflow,
        # common with fitted text models: fused sparse pass 1.84-1.93 -> 1.30-1.48 ms (1760 x 2000
        # text-like CSR, K = 10, fitted means, one thread)
        row[k] = exp_nonpositive(row[k] - top)
        total += row[k]
    for k in range(K):
        row[k] /= total
    return top + np.log(total)


def _probability_loops_body(X, mu, pi, resp, log_prob_norm):
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
            resp[n, k] = p
            total += p
        for k in range(K):
            resp[n, k] /= total
        log_prob_norm[n] = np.log(total)


def _log_loops_body(X, log_mu, log_1m_mu, log_pi, resp, log_prob_norm):
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
            resp[n, k] = s
        log_prob_norm[n] = normalise_log_row(resp[n])


def _ones_loops_body(X, weights_dk, bias, resp, log_prob_norm):
    """Loop over rows, and inside a row over the features that are 1 only.

    Textbook form: ``log pi_k + sum_d x_d log mu_kd + (1 - x_d) log(1 - mu_kd)``.  Rewritten
    as ``bias_k + sum_{d: x_d = 1} w_dk`` with ``w = log mu - log(1 - mu)`` stored (D, K) so the
    K additions for one pixel read contiguous memory: ~17 % of MNIST pixels are 1, so about a
    sixth of the additions of the dense log loop.
    """
    N, D = X.shape
    for n in prange(N):
        fill_row(resp, n, bias)
        for d in range(D):
            if X[n, d]:
                add_row(resp, n, weights_dk, d)
        log_prob_norm[n] = normalise_log_row(resp[n])


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
    ``(resp, log_prob_norm)``; its last array always has length K.
    """

    body: object
    builds: object
    prepare: object


def _compiled(body, prepare):
    return CompiledKernel(body, build_serial_and_parallel(body), prepare)


#: registry name -> CompiledKernel.  Tests compare the serial and parallel builds; the compile
#: benchmark rebuilds ``body`` from scratch.
COMPILED_KERNELS = {
    "numba_loops": _compiled(_probability_loops_body, _probability_arguments),
    "numba_log": _compiled(_log_loops_body, cached(_log_arguments)),
    "numba_ones": _compiled(_ones_loops_body, cached(_ones_arguments)),
}


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
        The ``parallel=True`` build (True), the serial one (False), or choose by size (None:
        :func:`bmm_numba.kernels.threads.choose_parallel` with ``n * d * k`` steps).
    return_log_norm : bool, default=False
        Also return ``log p(x_n)``.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    log_prob_norm : ndarray of shape (n_samples,), only if ``return_log_norm``
    """
    spec = COMPILED_KERNELS[name]
    params = spec.prepare(mu, pi)
    N, D = X.shape
    K = params[-1].shape[0]
    resp = np.empty((N, K))
    log_prob_norm = np.empty(N)
    run_serial_or_parallel(spec.builds, (X, *params, resp, log_prob_norm), parallel=parallel, work=N * D * K)
    return (resp, log_prob_norm) if return_log_norm else resp


numba_loops = partial(run_compiled, "numba_loops")
numba_loops.__doc__ = "Attempt 1's triple loop compiled with ``@njit(parallel=True)``, prange over n."
numba_log = partial(run_compiled, "numba_log")
numba_log.__doc__ = "Attempt 2's log-space loop compiled, prange over n, stable per-row log-sum-exp."
numba_ones = partial(run_compiled, "numba_ones")
numba_ones.__doc__ = "Compiled loop over the ones of each row only, K-contiguous weights, stable log-sum-exp."
