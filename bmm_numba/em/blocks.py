"""EM over row blocks: the map-reduce behind fitting on memmaps and Dask arrays.

EM for a Bernoulli mixture is a map-reduce.  For fixed parameters ``(mu, pi)`` every block of
rows yields its sufficient statistics (:class:`BlockStats`)::

    N_k   = sum_n w_n r_nk             S_kd = sum_n w_n r_nk x_nd
    M_kd  = sum_{n: x_nd missing} w_n r_nk                      (only when a cell is missing)
    log L = sum_n w_n log p(x_n)       W    = sum_n w_n

which add up over blocks; the M-step (:func:`bmm_numba._m_step.params_from_stats`) needs only
the totals.  One EM iteration is one pass over the data.  This module holds what runs on one
block (:func:`block_stats`, :func:`block_estimate`, :func:`block_worst`), the fixed-order
combination (:func:`combine`) and the EM template over any *row source* (:func:`em_passes`);
:mod:`bmm_numba._out_of_core` (NumPy memmaps) and :mod:`bmm_numba._dask` (Dask arrays) are the
two sources.  It never imports Dask.

Determinism: a block's statistics depend only on its rows and the parameters (the compiled
kernels are bit-identical for any thread count), and blocks are combined by :func:`combine`
in block order, so a fit depends on where the blocks start and end, never on how many
workers or threads computed them.  Against the in-memory fit the sums are only grouped
differently: parameters agree to rounding (1e-12 measured; the tests ask for 1e-9).
"""

from __future__ import annotations

import sys
from time import perf_counter
from typing import NamedTuple

import numpy as np

from ..kernels.m_step import params_from_stats
from .collapse import collapsed_components, reseed
from .data import e_step, em_statistics, encode

__all__ = [
    "BlockStats",
    "INIT_SAMPLE_ROWS",
    "is_dask_array",
    "init_sample_index",
    "check_block",
    "block_stats",
    "block_estimate",
    "block_worst",
    "combine",
    "observed_mass",
    "em_passes",
]

#: Initialisation on data with more rows than this runs on a uniform sample of this many rows
#: (sorted row indices, drawn from the estimator's ``random_state``); smaller data are used
#: whole, which makes the start identical to the in-memory fit's.
INIT_SAMPLE_ROWS = 20_000


def is_dask_array(X):
    """Return True for a ``dask.array.Array``, without importing Dask (none exists before it is)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(X, module.Array)


def init_sample_index(n_samples, rng):
    """Rows the initialisation reads: None (all) up to :data:`INIT_SAMPLE_ROWS`, else a sample.

    The sample is ``INIT_SAMPLE_ROWS`` uniform draws with replacement, sorted, duplicates
    dropped (O(sample) work and memory, unlike a permutation of all rows).
    """
    if n_samples <= INIT_SAMPLE_ROWS:
        return None
    return np.unique(rng.randint(0, n_samples, size=INIT_SAMPLE_ROWS))


class BlockStats(NamedTuple):
    """Sufficient statistics of a block of rows under fixed parameters (see module docstring).

    ``missing`` is None when no cell of the block is missing.
    """

    nk: np.ndarray
    S: np.ndarray
    missing: np.ndarray | None
    log_lik: float
    weight: float
    n_rows: int


def check_block(X, binarize):
    """Validate and encode one block of raw rows; the per-block part of ``check_array``.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Bool, integer or float (NaN = missing); read-only arrays and memmap slices accepted.
    binarize : float or None

    Returns
    -------
    MixtureData
        ``"dense"`` or ``"missing"``.
    """
    X = np.asarray(X)
    if X.dtype.kind not in "buif":
        raise ValueError(f"X must be numeric (bool, integer or float); got dtype {X.dtype}")
    if X.dtype.kind == "f" and np.isinf(X).any():
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
    return encode(X, binarize)


def _check_block_weight(w, n_rows):
    if w is None:
        return np.ones(n_rows)
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n_rows,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative, one per sample")
    return w


def block_stats(X, w, mu, pi, kernel, binarize, parallel=False):
    """E-step and sufficient statistics of one block.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Raw rows (validated and encoded here).
    w : ndarray of shape (n_rows,) or None
        Sample weights (None: ones).
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    kernel : str
        The estimator's ``kernel``.
    binarize : float or None
    parallel : bool or None, default=False
        ``False`` (inside Dask tasks): serial ``nogil`` builds, Dask provides the parallelism;
        None: the in-memory defaults (parallel builds on one machine).

    Returns
    -------
    BlockStats
    """
    data = check_block(X, binarize)
    w = _check_block_weight(w, data.n_samples)
    nk, S, observed, log_prob_norm = em_statistics(data, w, mu, pi, kernel, parallel=parallel)
    missing = None if observed is None else nk[:, None] - observed
    return BlockStats(nk, S, missing, float(w @ log_prob_norm), float(w.sum()), data.n_samples)


def combine(*parts):
    """Sum :class:`BlockStats` left to right, in the order given (block order)."""
    nk, S = parts[0].nk.copy(), parts[0].S.copy()
    missing = None if parts[0].missing is None else parts[0].missing.copy()
    log_lik, weight, n_rows = parts[0].log_lik, parts[0].weight, parts[0].n_rows
    for part in parts[1:]:
        nk += part.nk
        S += part.S
        if part.missing is not None:
            missing = part.missing.copy() if missing is None else missing + part.missing
        log_lik += part.log_lik
        weight += part.weight
        n_rows += part.n_rows
    return BlockStats(nk, S, missing, log_lik, weight, n_rows)


def observed_mass(stats):
    """``O_kd = N_k - M_kd`` (clipped at 0) for the M-step, or None without missing cells."""
    if stats.missing is None:
        return None
    return np.maximum(stats.nk[:, None] - stats.missing, 0.0)


def block_estimate(X, mu, pi, kernel, binarize, parallel=False):
    """``(resp, log p(x_n))`` of one block; see :func:`block_stats` for the arguments."""
    return e_step(check_block(X, binarize), mu, pi, kernel, parallel=parallel)


def block_worst(X, w, start, mu, pi, kernel, binarize, m, parallel=False):
    """Return the ``m`` worst-explained rows of a block (positive weight only), for the collapse policy.

    Returns
    -------
    log_prob : ndarray of shape (m',)
        ``log p(x_n)`` ascending (ties in row order), ``m' <= m``.
    index : ndarray of shape (m',), int64
        Global row numbers (``start`` + position in the block).
    rows : ndarray of shape (m', n_features), uint8
        Codes 0, 1, MISSING.
    weight : ndarray of shape (m',)
    """
    data = check_block(X, binarize)
    w = _check_block_weight(w, data.n_samples)
    _, log_prob_norm = e_step(data, mu, pi, kernel, parallel=parallel)
    candidates = np.flatnonzero(w > 0)
    order = candidates[np.argsort(log_prob_norm[candidates], kind="stable")][:m]
    return log_prob_norm[order], order.astype(np.int64) + start, data.X[order], w[order]


def merge_worst(parts, m):
    """Merge :func:`block_worst` results into ``reseed``'s list, lowest ``log p`` then lowest row."""
    log_prob = np.concatenate([p[0] for p in parts])
    index = np.concatenate([p[1] for p in parts])
    rows = np.concatenate([p[2] for p in parts])
    weight = np.concatenate([p[3] for p in parts])
    order = np.lexsort((index, log_prob))[:m]
    return [(int(index[i]), rows[i], float(weight[i])) for i in order]


def em_passes(source, mu, pi, *, alpha, max_iter, tol, verbose=0, verbose_interval=10):
    """EM from ``(mu, pi)``, one pass over ``source`` per iteration.

    The same template as :meth:`bmm_numba.BernoulliMixture._em` (bound, M-step, collapse
    policy, convergence on the change of the mean log-likelihood), on summed statistics.

    Parameters
    ----------
    source : object
        A row source: ``stats(mu, pi) -> BlockStats`` (combined over all rows, in row order),
        ``worst(mu, pi, m)`` (the ``m`` worst-explained rows as :func:`merge_worst` returns
        them) and ``n_samples``.
    mu, pi : ndarray
        Starting parameters.
    alpha, max_iter, tol, verbose, verbose_interval
        As in :class:`bmm_numba.BernoulliMixture`.

    Returns
    -------
    run : dict
        ``mu, pi, converged, n_iter, lower_bound, lower_bounds, reseeded`` as the in-memory
        loop records them.
    """
    lower_bound, lower_bounds, reseeded = -np.inf, [], []
    converged, n_iter = False, 0
    tick = perf_counter()
    for n_iter in range(1, max_iter + 1):
        previous = lower_bound
        stats = source.stats(mu, pi)
        lower_bound = stats.log_lik / stats.weight
        lower_bounds.append(lower_bound)
        new_mu, new_pi = params_from_stats(stats.nk, stats.S, alpha, stats.weight, observed_mass(stats))
        collapsed = collapsed_components(stats.nk, stats.weight, source.n_samples)
        records = []
        if collapsed.size:
            # the worst-explained rows under the parameters of this pass's E-step, as in memory
            worst = source.worst(mu, pi, collapsed.size)
            records = reseed(new_mu, new_pi, collapsed, worst, stats.weight)
            reseeded += [(n_iter, k, n) for k, n in records]
            if verbose:
                print(f"  Iteration {n_iter}\t re-seeded collapsed components {[k for k, _ in records]}")
        mu, pi = new_mu, new_pi
        change = lower_bound - previous
        if verbose >= 2 and n_iter % verbose_interval == 0:
            now = perf_counter()
            print(f"  Iteration {n_iter}\t time lapse {now - tick:.5f}s\t "
                  f"log-likelihood {lower_bound:.5f}\t change {change:.5g}")
            tick = now
        if abs(change) < tol and not records:
            converged = True
            break
    return {"mu": mu, "pi": pi, "converged": converged, "n_iter": n_iter, "lower_bound": lower_bound,
            "lower_bounds": lower_bounds, "reseeded": reseeded}
