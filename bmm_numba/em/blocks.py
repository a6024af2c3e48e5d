"""EM over row blocks: what runs on one block of a memmap or a Dask array, and the sum in block order.

For fixed ``(mu, pi)`` every block of rows yields its sufficient statistics (:class:`BlockStats`),
which add up over blocks (:func:`combine`, left to right); the M-step needs only the totals,
so one EM iteration is one pass over the data.  :class:`BlockSource` turns a source of blocks
into a row source of :mod:`bmm_numba.em.loop`.  Determinism: see ``docs/design.md`` (EM over
row blocks).  Never imports Dask.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..kernels.validation import check_sample_weight
from .data import encode
from .loop import PassStatistics

__all__ = [
    "BlockStats",
    "INIT_SAMPLE_ROWS",
    "init_sample_index",
    "check_block",
    "block_stats",
    "block_estimate",
    "block_worst",
    "combine",
    "observed_mass",
    "pass_statistics",
    "merge_worst",
    "BlockSource",
]

#: Initialisation on data with more rows than this runs on a uniform sample of this many rows
#: (sorted row indices, drawn from the estimator's ``random_state``); smaller data are used
#: whole, which makes the start identical to the in-memory fit's.
INIT_SAMPLE_ROWS = 20_000


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


def block_stats(X, w, mu, pi, backend, binarize):
    """E-step and sufficient statistics of one block.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Raw rows (validated and encoded here).
    w : ndarray of shape (n_rows,) or None
        Sample weights (None: ones).
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    backend : Backend
        Serial (``parallel=False``) inside Dask tasks, which bring their own parallelism.
    binarize : float or None

    Returns
    -------
    BlockStats
    """
    data = check_block(X, binarize)
    w = check_sample_weight(w, data.n_samples)
    nk, S, observed, log_prob_norm = backend.em_statistics(data, w, mu, pi)
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
    """``O_kd = nk_k - M_kd`` (clipped at 0) for the M-step, or None without missing cells."""
    if stats.missing is None:
        return None
    return np.maximum(stats.nk[:, None] - stats.missing, 0.0)


def pass_statistics(total, log_prob_norm=None):
    """Return summed :class:`BlockStats` as the EM loop takes them (a ``PassStatistics``)."""
    return PassStatistics(total.nk, total.S, observed_mass(total), total.log_lik, total.weight, total.n_rows,
                          log_prob_norm)


def block_estimate(X, mu, pi, backend, binarize):
    """``(resp, log_prob_norm)`` of one block; see :func:`block_stats` for the arguments."""
    return backend.e_step(check_block(X, binarize), mu, pi)


def block_worst(X, w, start, mu, pi, backend, binarize, m):
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
    w = check_sample_weight(w, data.n_samples)
    _, log_prob_norm = backend.e_step(data, mu, pi)
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


class BlockSource:
    """Base of the row sources read in blocks (memmap, Dask) for :func:`bmm_numba.em.loop.run_em`.

    A subclass provides ``n_samples``, ``stats(mu, pi) -> BlockStats`` (combined in block
    order) and ``worst_parts(mu, pi, m)`` (:func:`block_worst` of every block).
    """

    def statistics(self, mu, pi):
        """Return the statistics of every block, combined in block order."""
        return pass_statistics(self.stats(mu, pi))

    def worst(self, mu, pi, stats, m):
        """Return the ``m`` worst-explained rows under ``(mu, pi)``: a second pass over the blocks."""
        return merge_worst(self.worst_parts(mu, pi, m), m)
