"""Out-of-core on one machine: a NumPy memmap read in row blocks, and ``partial_fit``'s batches.

:class:`MemmapSource` reads about :data:`BLOCK_BYTES` of raw rows at a time: the data are never
copied whole, and the file is checked to still hold the mapped bytes before each block (a
file truncated after mapping would kill the process with SIGBUS).  :class:`BatchSource` is
one ``partial_fit`` step, its statistics merged by :class:`OnlineStats` (stepwise online EM,
Cappé & Moulines 2009, or exact incremental EM, Neal & Hinton 1998); details and costs in
``docs/design.md``.
"""

from __future__ import annotations

import hashlib
import mmap

import numpy as np
import scipy.sparse as sp

from ..em.blocks import BlockSource, BlockStats, block_estimate, block_stats, block_worst, combine, pass_statistics
from ..em.collapse import worst_samples
from ..kernels.missing import MISSING
from .checks import ALL_MISSING

__all__ = ["BLOCK_BYTES", "MemmapSource", "OnlineStats", "BatchSource", "batch_key", "check_rows_observed"]

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

    def check_file(self):
        """``ValueError`` when the memmap's file no longer holds the bytes mapped (truncated since).

        Reading a mapped page past the end of its file raises SIGBUS, which kills the process;
        this check (one ``fstat``) runs at fit start and before every block.
        """
        X = self.X
        mapped = getattr(X, "_mmap", None)
        if mapped is None:
            return
        try:
            size, length = mapped.size(), len(mapped)
        except (ValueError, OSError):  # closed, or not a file mapping
            return
        start = int(getattr(X, "offset", 0) or 0)
        start -= start % mmap.ALLOCATIONGRANULARITY
        if size < start + length:
            raise ValueError(f"X (numpy.memmap of {getattr(X, 'filename', None)}) maps {start + length} bytes of "
                             f"its file, which now holds {size}: the file was truncated after it was mapped")

    def any_observed(self):
        """Return whether any cell is observed (not NaN), stopping at the first block that has one."""
        if self.X.dtype.kind != "f":
            return True
        return any(not np.isnan(block).all() for _, block, _ in self._blocks())

    def _blocks(self):
        for start in range(0, self.n_samples, self.block_rows):
            stop = min(self.n_samples, start + self.block_rows)
            self.check_file()
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


def batch_key(data, w):
    """Hash of a batch's 0/1 values, missing cells and weights, the same whatever its container.

    The positions of the ones and of the missing cells, row by row (CSR order), so a batch
    passed as uint8, float, bool or CSR is one batch (the values' bytes made them two).
    """
    X = data.X if data.kind == "sparse" else sp.csr_matrix(data.X == 1)
    X = X if X.has_sorted_indices else X.sorted_indices()
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(data.X.shape).encode())
    for part in (X.indptr, X.indices):
        h.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
    if data.kind == "missing":
        missing = sp.csr_matrix(data.X == MISSING)
        for part in (missing.indptr, missing.indices):
            h.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(w, dtype=np.float64).tobytes())
    return h.hexdigest()


def _filled(stats):
    """``stats`` with its ``missing`` as an array (zeros for a fully observed batch)."""
    return stats if stats.missing is not None else stats._replace(missing=np.zeros_like(stats.S))


class OnlineStats:
    """The statistics ``partial_fit`` keeps between its steps; immutable (each step makes a new one).

    ``"stepwise"``: one running average ``s`` of batch statistics (:meth:`merge`, Cappé &
    Moulines 2009), ``K x D`` whatever the number of batches.  ``"incremental"``: every
    distinct batch's statistics by :func:`batch_key`, summed in first-seen order (Neal &
    Hinton 1998).  A step that fails leaves the estimator's statistics as they were.

    Parameters
    ----------
    method : {"stepwise", "incremental"}
    decay : float
        Stepwise step sizes ``gamma_t = (t + 1) ** -decay``.
    """

    def __init__(self, method, decay, steps=0, running=None, batches=None):
        self.method, self.decay, self.steps = method, float(decay), steps
        self.running, self.batches = running, {} if batches is None else batches

    def merge(self, data, w, batch):
        """Return ``(new OnlineStats, merged BlockStats)`` after the batch's statistics ``batch``."""
        if self.method == "incremental":
            batches = {**self.batches, batch_key(data, w): batch}
            return OnlineStats(self.method, self.decay, self.steps + 1, None, batches), combine(*batches.values())
        gamma = (self.steps + 1.0) ** -self.decay
        if self.running is None:
            running = batch
        else:
            old, new = (_filled(self.running), _filled(batch)) if (self.running.missing is None) != (
                batch.missing is None) else (self.running, batch)
            running = BlockStats(*((1.0 - gamma) * a + gamma * b if a is not None else None
                                   for a, b in zip(old[:5], new[:5], strict=True)), batch.n_rows)
        return OnlineStats(self.method, self.decay, self.steps + 1, running, None), running


class BatchSource:
    """Row source of one ``partial_fit`` step: a batch under the current parameters, merged with the stored ones.

    Parameters
    ----------
    data : MixtureData
        The batch.
    w : ndarray of shape (n_batch,)
    backend : Backend
    online : OnlineStats
        The statistics before this batch; after :meth:`statistics`, :attr:`merged` holds the
        new ones (``online`` itself is not changed).
    """

    def __init__(self, data, w, backend, online):
        self.data, self.w, self.backend, self.online = data, w, backend, online
        self.merged = None

    def statistics(self, mu, pi):
        """Return the batch's statistics (:meth:`Backend.em_statistics`) merged with the stored ones."""
        data, w = self.data, self.w
        nk, S, observed, log_prob_norm = self.backend.em_statistics(data, w, mu, pi)
        batch = BlockStats(nk, S, None if observed is None else nk[:, None] - observed,
                           float(w @ log_prob_norm), float(w.sum()), data.n_samples)
        self.merged, total = self.online.merge(data, w, batch)
        return pass_statistics(total, log_prob_norm)

    def worst(self, mu, pi, stats, m):
        """Return the batch's ``m`` worst-explained rows (batch row numbers)."""
        return worst_samples(self.data, self.w, stats.log_prob_norm, m)


def check_rows_observed(source):
    """``ValueError`` (as for in-memory data) when no cell of a memmap or Dask source is observed."""
    if not source.any_observed():
        raise ValueError(ALL_MISSING)
