"""Out-of-core on one machine: fitting on a NumPy memmap, and ``partial_fit``'s incremental EM.

Memmap
------
:class:`MemmapSource` reads a ``numpy.memmap`` in row blocks of about :data:`BLOCK_BYTES` bytes
of raw data and runs every EM pass of :func:`bmm_numba._chunked.em_passes` block by block: the
data are never copied whole, and what is allocated per pass is one block's codes and
responsibilities plus the K x D statistics.  Within a block the compiled kernels use their
in-memory defaults (parallel builds, thread-count independent), so a memmap fit is
deterministic and equals the in-memory fit to rounding.

partial_fit: incremental EM with exact accumulation over a pass
----------------------------------------------------------------
Each ``partial_fit(X_batch)`` runs an E-step on the batch under the current parameters, stores
the batch's sufficient statistics, and sets the parameters from the sum of the stored
statistics of every batch seen so far (the M-step).  A batch seen again (same values, same
weights: identified by a hash) *replaces* its earlier contribution instead of adding to it.
This is the incremental EM of Neal & Hinton (1998): over a pass through a fixed set of
batches the statistics are an exact sum over the data, each batch's term computed under the
parameters current when it was last visited; every visit can only increase the free energy,
and a fixed point is exactly a fixed point of full-batch EM.  Repeated passes over the same
batches therefore converge to the full-batch fit (tested), usually in fewer passes than batch
EM needs iterations.  It is not stepwise online EM: nothing is forgotten or down-weighted.

Costs: K x D (x 2 with missing values) floats are kept per distinct batch, and every call sums
them (in first-seen order, so the result does not depend on hashing).  Two batches with
identical contents count once.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..em.blocks import (
    BlockStats,
    block_estimate,
    block_stats,
    block_worst,
    combine,
    merge_worst,
)

__all__ = ["BLOCK_BYTES", "MemmapSource", "IncrementalStats", "is_memmap", "fingerprint"]

#: Raw bytes per block read from a memmap (32 MiB: well above the point where per-block
#: overheads matter, well below the memory of any machine that runs this).
BLOCK_BYTES = 32 * 2**20


def is_memmap(X):
    """Return True for a ``numpy.memmap`` (or a view of one)."""
    return isinstance(X, np.memmap)


class MemmapSource:
    """Row source over a 2-D ``numpy.memmap`` for :func:`bmm_numba._chunked.em_passes`.

    Parameters
    ----------
    X : numpy.memmap of shape (n_samples, n_features)
    w : ndarray of shape (n_samples,) or None
    kernel : str
    binarize : float or None
    block_rows : int, optional
        Rows per block; default :data:`BLOCK_BYTES` of raw data (at least 256 rows).
    """

    def __init__(self, X, w, kernel, binarize, block_rows=None):
        self.X, self.w, self.kernel, self.binarize = X, w, kernel, binarize
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
            part = block_stats(block, w, mu, pi, self.kernel, self.binarize, parallel=None)
            total = part if total is None else combine(total, part)
        return total

    def worst(self, mu, pi, m):
        """Return the ``m`` worst-explained rows (for the collapse policy)."""
        parts = [block_worst(block, w, start, mu, pi, self.kernel, self.binarize, m, parallel=None)
                 for start, block, w in self._blocks()]
        return merge_worst(parts, m)

    def take(self, index):
        """Rows ``index`` (sorted; None = all) as an in-memory array, with their weights."""
        if index is None:
            return np.asarray(self.X), self.w
        return np.asarray(self.X[index]), None if self.w is None else self.w[index]

    def estimate(self, mu, pi):
        """``(resp, log p(x_n))`` of every row, block by block."""
        parts = [block_estimate(block, mu, pi, self.kernel, self.binarize, parallel=None)
                 for _, block, _ in self._blocks()]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def labels(self, mu, pi):
        """Most probable component of every row, block by block (no (n_samples, K) array)."""
        return np.concatenate([
            block_estimate(block, mu, pi, self.kernel, self.binarize, parallel=None)[0].argmax(axis=1)
            for _, block, _ in self._blocks()
        ])


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
    """The per-batch statistics kept by ``partial_fit`` (see the module docstring)."""

    def __init__(self):
        self.batches = {}

    def update(self, key, stats: BlockStats):
        """Store (or replace) a batch's statistics; return the sum over all batches."""
        self.batches[key] = stats
        return combine(*self.batches.values())
