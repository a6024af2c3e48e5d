"""Out-of-core on one machine: a NumPy memmap read in row blocks, and ``partial_fit``'s batches.

:class:`MemmapSource` reads about :data:`BLOCK_BYTES` of raw rows at a time: the data are never
copied whole.  :class:`BatchSource` is one step of incremental EM over the batches stored by
:class:`IncrementalStats` (Neal & Hinton, 1998); details and costs in ``docs/design.md``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..em.blocks import BlockSource, BlockStats, block_estimate, block_stats, block_worst, combine, pass_statistics
from ..em.collapse import worst_samples

__all__ = ["BLOCK_BYTES", "MemmapSource", "IncrementalStats", "BatchSource", "fingerprint"]

#: Raw bytes per block read from a memmap (32 MiB: well above the point where per-block
#: overheads matter, well below the memory of any machine that runs this).
BLOCK_BYTES = 32 * 2**20


class MemmapSource(BlockSource):
    """Row source over a 2-D ``numpy.memmap``, block by block.

    Within a block the kernels run as in memory (``backend.parallel``: thread-count
    independent), so a memmap fit is deterministic and equals the in-memory fit to rounding.

    Parameters
    ----------
    X : numpy.memmap of shape (n_samples, n_features)
    w : ndarray of shape (n_samples,) or None
    backend : Backend
    binarize : float or None
    block_rows : int, optional
        Rows per block; default :data:`BLOCK_BYTES` of raw data (at least 256 rows).
    """

    def __init__(self, X, w, backend, binarize, block_rows=None):
        self.X, self.w, self.backend, self.binarize = X, w, backend, binarize
        self.n_samples, self.n_features = X.shape
        if block_rows is None:
            block_rows = max(256, BLOCK_BYTES // max(1, self.n_features * X.dtype.itemsize))
        self.block_rows = int(block_rows)

    def _blocks(self):
        for start in range(0, self.n_samples, self.block_rows):
            stop = min(self.n_samples, start + self.block_rows)
            yield start, self.X[start:stop], None if self.w is None else self.w[start:stop]

    def stats(self, mu, pi):
        """Statistics summed over the blocks, left to right."""
        total = None
        for _, block, w in self._blocks():
            part = block_stats(block, w, mu, pi, self.backend, self.binarize)
            total = part if total is None else combine(total, part)
        return total

    def worst_parts(self, mu, pi, m):
        """:func:`~bmm_numba.em.blocks.block_worst` of every block."""
        return [block_worst(block, w, start, mu, pi, self.backend, self.binarize, m)
                for start, block, w in self._blocks()]

    def take(self, index):
        """Rows ``index`` (sorted; None = all) as an in-memory array, with their weights."""
        if index is None:
            return np.asarray(self.X), self.w
        return np.asarray(self.X[index]), None if self.w is None else self.w[index]

    def estimate(self, mu, pi):
        """``(resp, log_prob_norm)`` of every row, block by block."""
        parts = [block_estimate(block, mu, pi, self.backend, self.binarize) for _, block, _ in self._blocks()]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def labels(self, mu, pi):
        """Most probable component of every row, block by block (no (n_samples, K) array)."""
        return np.concatenate([block_estimate(block, mu, pi, self.backend, self.binarize)[0].argmax(axis=1)
                               for _, block, _ in self._blocks()])


def fingerprint(data, w):
    """Hash of an encoded batch and its weights (identifies a batch seen before)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((data.kind, data.X.shape)).encode())
    if data.kind == "sparse":
        h.update(np.ascontiguousarray(data.X.indptr).tobytes())
        h.update(np.ascontiguousarray(data.X.indices).tobytes())
    else:
        h.update(np.ascontiguousarray(data.X).tobytes())
    h.update(np.ascontiguousarray(w, dtype=np.float64).tobytes())
    return h.hexdigest()


class IncrementalStats:
    """The per-batch statistics kept by ``partial_fit``, summed in first-seen order."""

    def __init__(self):
        self.batches = {}

    def update(self, key, stats: BlockStats):
        """Store (or replace) a batch's statistics; return the sum over all batches."""
        self.batches[key] = stats
        return combine(*self.batches.values())


class BatchSource:
    """Row source of one ``partial_fit`` step: a batch under the current parameters, summed with the stored ones.

    Parameters
    ----------
    data : MixtureData
        The batch.
    w : ndarray of shape (n_batch,)
    backend : Backend
    store : IncrementalStats
        Receives the batch's statistics (replacing those of the same batch seen before).
    """

    def __init__(self, data, w, backend, store):
        self.data, self.w, self.backend, self.store = data, w, backend, store

    def statistics(self, mu, pi):
        """E-step and statistics of the batch, stored; the sum over every stored batch."""
        data, w = self.data, self.w
        resp, log_prob_norm = self.backend.e_step(data, mu, pi)
        nk, S, observed = self.backend.stats(data, resp * w[:, None])
        batch = BlockStats(nk, S, None if observed is None else nk[:, None] - observed,
                           float(w @ log_prob_norm), float(w.sum()), data.n_samples)
        total = self.store.update(fingerprint(data, w), batch)
        return pass_statistics(total, log_prob_norm)

    def worst(self, mu, pi, stats, m):
        """Return the batch's ``m`` worst-explained rows (batch row numbers)."""
        return worst_samples(self.data, self.w, stats.log_prob_norm, m)
