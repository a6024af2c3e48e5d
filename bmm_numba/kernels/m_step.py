"""The M-step registry ``M_STEPS``: sufficient statistics and the MAP update of the means.

One M-step turns responsibilities into parameters::

    N_k     = sum_n w_n r_nk                                   (responsibility mass)
    S_kd    = sum_n w_n r_nk x_nd                              (weighted count of ones)
    mu_kd   = (S_kd + alpha) / (N_k + 2 alpha)                 (MAP under Beta(alpha+1, alpha+1))
    pi_k    = N_k / sum_n w_n

The expensive part is ``S``, an (N, K) x (N, D) contraction.  It has two implementations on
validated dense 0/1 input, both taking the weighted responsibilities ``rw = w[:, None] * r``:

* ``"numpy"``: one GEMM ``rw.T @ X``;
* ``"numba"``: compiled loops that, like the ``"numba"`` E-step, touch only the ones of each row.

Determinism of the compiled version: every ``prange`` iteration owns one fixed-size block of
rows and writes only its own slot of a partial-sum array; the partials are then added serially in
block order.  The block size depends only on the data shape, never on the thread count, so the
result is bit-identical for any number of threads.  Accumulating straight into a shared
``S[k, d]`` from different ``prange`` iterations is a data race (errors of thousands on values
near 7600 were measured; ``docs/design.md``).

The means are always clipped to ``[MEANS_EPS, 1 - MEANS_EPS]``: with ``alpha = 0`` this is what
keeps ``log mu`` and ``log(1 - mu)`` finite; with ``alpha > 0`` it binds only when ``N_k`` is so
large that ``(N_k + alpha) / (N_k + 2 alpha)`` rounds to 1.
"""

from __future__ import annotations

from collections import OrderedDict

import numba
import numpy as np
from numba import prange

from .e_step_numba import add_row
from .jit import JIT_OPTIONS, build_serial, build_serial_and_parallel
from .threads import run_serial_or_parallel
from .validation import check_sample_weight, check_X

__all__ = [
    "M_STEPS",
    "MEANS_EPS",
    "STATS_IMPLEMENTATIONS",
    "SERIAL_AND_PARALLEL",
    "row_blocks",
    "zero",
    "sum_blocks",
    "params_from_stats",
    "params_into",
    "m_step",
]

#: Means are clipped to ``[MEANS_EPS, 1 - MEANS_EPS]``; ``log(1e-10) = -23`` per feature.
MEANS_EPS = 1e-10

#: Rows per block are at least this many, so a block's work outweighs its zeroing and combine.
_MIN_BLOCK_ROWS = 256
#: At most this many blocks (and so at most this many partial (D, K) arrays) ...
_MAX_BLOCKS = 64
#: ... and at most this many bytes of partial sums, whatever the shape.
_MAX_PARTIAL_BYTES = 64 * 2**20


def row_blocks(n_samples, n_features, n_components):
    """Rows per block and number of blocks for the compiled accumulations.

    Depends on the data shape only (never on the thread count), which is what makes the compiled
    M-steps bit-identical for any number of threads.

    Returns
    -------
    block_rows, n_blocks : int
    """
    per_block_bytes = 8 * max(1, n_features) * max(1, n_components)
    max_blocks = int(max(1, min(_MAX_BLOCKS, _MAX_PARTIAL_BYTES // per_block_bytes)))
    block_rows = max(_MIN_BLOCK_ROWS, -(-n_samples // max_blocks))
    n_blocks = max(1, -(-n_samples // block_rows))
    return block_rows, n_blocks


# ---------------------------------------------------------------------------------------------
# Sufficient statistics on dense, fully observed 0/1 data
# ---------------------------------------------------------------------------------------------


def numpy_stats(X, rw):
    """``N_k`` and ``S`` with one GEMM.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8
        Validated 0/1 data.
    rw : ndarray of shape (n_samples, n_components), float64
        Responsibilities times sample weights.

    Returns
    -------
    nk : ndarray of shape (n_components,)
    S : ndarray of shape (n_components, n_features)
    """
    return rw.sum(axis=0), rw.T @ X


@numba.njit(**JIT_OPTIONS)
def zero(a):
    """Set every entry of ``a`` to 0 (a call, so ``parallel=True`` builds make no extra loop of it)."""
    a[:] = 0.0


@numba.njit(**JIT_OPTIONS)
def sum_blocks(part, out):
    """``out[k, d] = sum_b part[b, d, k]``, added in block order (so for any thread count).

    Parameters
    ----------
    part : ndarray of shape (n_blocks, n_features, n_components) or (n_blocks, n_components)
        Per-block partial sums, K-contiguous.
    out : ndarray of shape (n_components, n_features) or (n_components,)
        Written.
    """
    zero(out)
    out_kd = out.reshape((out.shape[0], -1))
    part_dk = part.reshape((part.shape[0], out_kd.shape[1], out_kd.shape[0]))
    for b in range(part_dk.shape[0]):
        for d in range(part_dk.shape[1]):
            for k in range(part_dk.shape[2]):
                out_kd[k, d] += part_dk[b, d, k]


def _dense_stats_body(X, rw, block_rows, part, part_nk, nk, S):
    """Blocked accumulation of ``N_k`` (into ``nk``) and ``S`` (into ``S``, shape (K, D)).

    ``part`` (n_blocks, D, K) and ``part_nk`` (n_blocks, K) are scratch: iteration ``b`` of the
    ``prange`` zeroes and fills slot ``b`` only.  Inside a row only the features equal to 1 are
    visited, and ``part[b, d]`` is K-contiguous so the K additions for one feature read and
    write contiguous memory (the layout of the ``"numba"`` E-step's weights).  The combine after
    the ``prange`` is serial and in block order.
    """
    N, D = X.shape
    for b in prange(part.shape[0]):
        acc = part[b]
        zero(acc)
        zero(part_nk[b])
        for n in range(b * block_rows, min(N, (b + 1) * block_rows)):
            add_row(part_nk, b, rw, n)
            for d in range(D):
                if X[n, d]:
                    add_row(acc, d, rw, n)
    sum_blocks(part_nk, nk)
    sum_blocks(part, S)


_dense_stats_builds = build_serial_and_parallel(_dense_stats_body)


def numba_stats(X, rw, *, parallel=None):
    """``N_k`` and ``S`` with the compiled blocked kernel; same contract as :func:`numpy_stats`.

    ``parallel``: as in :func:`bmm_numba.kernels.threads.choose_parallel` (None: by size).
    """
    N, D = X.shape
    K = rw.shape[1]
    block_rows, n_blocks = row_blocks(N, D, K)
    nk = np.empty(K)
    S = np.empty((K, D))
    args = (X, np.ascontiguousarray(rw, dtype=np.float64), block_rows, np.empty((n_blocks, D, K)),
            np.empty((n_blocks, K)), nk, S)
    run_serial_or_parallel(_dense_stats_builds, args, parallel=parallel, work=N * D * K)
    return nk, S


#: registry name -> implementation on validated input ``(X_uint8, rw) -> (nk, S)``.
STATS_IMPLEMENTATIONS = OrderedDict([("numpy", numpy_stats), ("numba", numba_stats)])

#: compiled bodies: name -> Builds (serial, parallel); tests compare the two builds.
SERIAL_AND_PARALLEL = {"numba": _dense_stats_builds}


# ---------------------------------------------------------------------------------------------
# From statistics to parameters (shared by dense, missing-value and sparse data)
# ---------------------------------------------------------------------------------------------


def params_from_stats(nk, S, alpha, total_weight, observed=None, prior_mean=None):
    """MAP means and mixing weights from sufficient statistics.

    Parameters
    ----------
    nk : ndarray of shape (n_components,)
        Responsibility mass ``N_k``.
    S : ndarray of shape (n_components, n_features)
        Weighted counts of ones ``S_kd``.
    alpha : float
        Prior strength ``alpha >= 0``: ``2 alpha`` pseudo-observations per mean, a
        ``Beta(2 alpha m_d + 1, 2 alpha (1 - m_d) + 1)`` prior on every ``mu_kd``.
    total_weight : float
        ``sum_n w_n``.
    observed : ndarray of shape (n_components, n_features), optional
        Responsibility mass of the rows where feature d is observed (missing values); the
        denominator is then ``observed + 2 alpha`` instead of ``N_k + 2 alpha``.
    prior_mean : ndarray of shape (n_features,), optional
        The prior's mode ``m_d`` (the estimator passes the data's column means); default 0.5,
        which makes ``mu_kd = (S_kd + alpha) / (N_k + 2 alpha)`` (Laplace's rule at ``alpha=1``).

    Returns
    -------
    mu : ndarray of shape (n_components, n_features)
        ``(S_kd + 2 alpha m_d) / (N_k + 2 alpha)`` in ``[MEANS_EPS, 1 - MEANS_EPS]``.  Where the
        denominator is 0 (``alpha = 0`` and no observed mass: an empty component or a feature
        never observed in it) the mean is ``m_d``.
    pi : ndarray of shape (n_components,)
    """
    K, D = S.shape
    mu, pi = np.empty((K, D)), np.empty(K)
    m = np.full(D, 0.5) if prior_mean is None else np.ascontiguousarray(prior_mean, dtype=np.float64)
    params_into(nk, S, np.empty((0, 0)) if observed is None else observed, float(alpha), m, float(total_weight),
                mu, pi)
    return mu, pi


@build_serial  # called from Python too: cached
def params_into(nk, S, observed, alpha, m, total_weight, mu, pi):
    """Write :func:`params_from_stats` into ``mu`` and ``pi`` (compiled; the EM runs call it directly).

    ``observed`` of shape (0, 0) means none (no missing cells); ``S`` may be any layout (the
    row-list pass keeps it (D, K) and passes its transpose).  ``2 alpha m_d`` with ``m_d = 0.5``
    is ``alpha`` exactly, so the default prior mean gives Laplace's rule bit for bit.
    """
    K, D = mu.shape
    for k in range(K):
        for d in range(D):
            denom = (nk[k] if observed.shape[0] == 0 else observed[k, d]) + 2.0 * alpha
            if denom > 0:
                value = (S[k, d] + 2.0 * alpha * m[d]) / denom
            else:  # no observed mass (alpha = 0): the prior's mode
                value = m[d]
            mu[k, d] = min(max(value, MEANS_EPS), 1.0 - MEANS_EPS)
        pi[k] = nk[k] / total_weight


# ---------------------------------------------------------------------------------------------
# Public registry
# ---------------------------------------------------------------------------------------------


def m_step(X, resp, *, alpha=1.0, sample_weight=None, kernel="numba"):
    """Run one M-step on dense 0/1 data.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        0/1 data of any numeric dtype.
    resp : array-like of shape (n_samples, n_components)
        Responsibilities (non-negative; rows usually sum to 1).
    alpha : float, default=1.0
        Smoothing ``alpha >= 0``.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights; default all 1.
    kernel : {"numpy", "numba"}, default="numba"
        Key of :data:`M_STEPS`.

    Returns
    -------
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)

    Examples
    --------
    >>> import numpy as np
    >>> from bmm_numba import M_STEPS
    >>> X = np.array([[1, 0], [1, 1], [0, 0]])
    >>> resp = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    >>> mu, pi = M_STEPS["numpy"](X, resp, alpha=0.0)
    >>> mu.round(3), pi.round(3)
    (array([[1.   , 0.333],
           [0.333, 0.333]]), array([0.5, 0.5]))
    """
    if kernel not in STATS_IMPLEMENTATIONS:
        raise ValueError(f"kernel must be one of {list(STATS_IMPLEMENTATIONS)}; got {kernel!r}")
    X8 = check_X(X)
    resp = np.asarray(resp, dtype=np.float64)
    if resp.ndim != 2 or resp.shape[0] != X8.shape[0]:
        raise ValueError(f"resp must have shape (n_samples={X8.shape[0]}, n_components); got {resp.shape}")
    if not np.all(np.isfinite(resp)) or np.any(resp < 0):
        raise ValueError("resp must be finite and non-negative")
    w = check_sample_weight(sample_weight, X8.shape[0], allow_all_zero=False)
    if not (np.isscalar(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a number >= 0; got {alpha!r}")
    rw = resp * w[:, None]
    nk, S = STATS_IMPLEMENTATIONS[kernel](X8, rw)
    return params_from_stats(nk, S, float(alpha), float(w.sum()))


def _public(name):
    def m_step_kernel(X, resp, *, alpha=1.0, sample_weight=None):
        return m_step(X, resp, alpha=alpha, sample_weight=sample_weight, kernel=name)

    m_step_kernel.__name__ = m_step_kernel.__qualname__ = f"m_step_{name}"
    m_step_kernel.__doc__ = (
        f"M-step ``(X, resp, *, alpha, sample_weight) -> (mu, pi)`` with the {name!r} statistics; "
        "see :func:`bmm_numba.kernels.m_step.m_step`."
    )
    return m_step_kernel


#: Ordered registry: name -> ``f(X, resp, *, alpha=1.0, sample_weight=None) -> (mu, pi)``.
M_STEPS = OrderedDict((name, _public(name)) for name in STATS_IMPLEMENTATIONS)
