"""Fitting on Dask arrays: every EM iteration is one map-reduce on the Dask scheduler in use.

Imported only when the estimator meets a ``dask.array.Array`` (``import bmm_numba`` never
imports Dask; install ``bmm_numba[dask]``).

One EM iteration (:meth:`DaskSource.stats`) builds a small graph over the row chunks of X:

* the parameters ``(mu, pi)`` (K x D) enter the graph once: scattered to every worker
  (``Client.scatter(..., broadcast=True)``) when a ``distributed`` Client is the scheduler in
  use, one graph key otherwise;
* one task per row chunk runs :func:`bmm_numba.em.blocks.block_stats`: validation, E-step and
  sufficient statistics with the *serial* ``nogil`` compiled kernels (``parallel=False``).  Dask
  provides the parallelism (threads or processes); kernels never start their own thread team
  inside a task, so there is no oversubscription and no concurrent entry into Numba's
  ``workqueue`` layer (under which workers running parallel kernels died; docs/design.md);
* the per-chunk statistics are added by a tree of :func:`bmm_numba.em.blocks.combine` tasks of
  fixed fan-in (:data:`COMBINE_FAN_IN`) over consecutive chunks, each summing its children in
  chunk order.  The tree depends only on the number of chunks, so the fitted model is
  bit-identical for any number of workers or threads, and recomputing a lost task (a worker
  died) reproduces the same numbers.

Predictions (:func:`lazy_estimate`) are lazy ``map_blocks`` over the row chunks.
"""

from __future__ import annotations

import sys

import dask
import dask.array as da
import numpy as np
from dask.base import get_scheduler

from ..em.backend import resolve_backend
from ..em.blocks import BlockSource, block_estimate, block_stats, block_worst, combine

__all__ = ["COMBINE_FAN_IN", "DaskSource", "active_client", "check_dask_X", "lazy_estimate"]

#: Children per combine task: 8 chunks' K x D statistics per task, log_8(n_chunks) levels.
COMBINE_FAN_IN = 8


def active_client():
    """Return the ``distributed.Client`` that ``dask.compute`` would use now, or None."""
    if "distributed" not in sys.modules:
        return None
    from distributed import Client

    owner = getattr(get_scheduler(), "__self__", None)
    return owner if isinstance(owner, Client) else None


def check_dask_X(X):
    """Shape and dtype checks of a Dask array X (values are checked chunk by chunk in the tasks).

    Returns X with a single chunk along the features (rechunked if needed).
    """
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D array, got a {X.ndim}D Dask array instead.")
    if X.dtype.kind not in "buif":
        raise ValueError(f"X must be numeric (bool, integer or float); got dtype {X.dtype}")
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError("X has unknown chunk sizes along the rows; call X.compute_chunk_sizes() "
                         "(or build it with known lengths) before fitting")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"Found array with shape {X.shape}; at least one sample and one feature are required.")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


# Tasks receive the kernel's name, resolved in the worker (once per process: resolve_backend is cached)

def _task_stats(X, w, params, kernel, binarize):
    mu, pi = params
    return block_stats(X, w, mu, pi, resolve_backend(kernel, parallel=False), binarize)


def _task_worst(X, w, start, params, kernel, binarize, m):
    mu, pi = params
    return block_worst(X, w, start, mu, pi, resolve_backend(kernel, parallel=False), binarize, m)


def _combine_tree(parts, fan_in=COMBINE_FAN_IN):
    """Fixed-shape tree of ``combine`` tasks over ``parts`` in order; returns the root."""
    while len(parts) > 1:
        parts = [dask.delayed(combine, pure=True)(*parts[i : i + fan_in]) for i in range(0, len(parts), fan_in)]
    return parts[0]


class DaskSource(BlockSource):
    """Row source over a row-chunked Dask array, one map-reduce per pass.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Checked by :func:`check_dask_X`.
    sample_weight : array-like or dask.array.Array of shape (n_samples,), or None
        Rechunked like the rows of X; checked chunk by chunk.
    kernel : str
        The estimator's ``kernel`` (resolved in the tasks).
    binarize : float or None
    """

    def __init__(self, X, sample_weight, kernel, binarize):
        self.X, self.kernel, self.binarize = X, kernel, binarize
        self.n_samples, self.n_features = X.shape
        self.starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(np.int64)
        self.blocks = list(X.to_delayed().ravel())
        if sample_weight is None:
            self.w = None
            self.w_blocks = [None] * len(self.blocks)
        else:
            self.w = da.asarray(sample_weight)
            if self.w.shape != (self.n_samples,):
                raise ValueError(f"sample_weight must have shape ({self.n_samples},); got {self.w.shape}")
            self.w = self.w.astype(np.float64).rechunk((X.chunks[0],))
            self.w_blocks = list(self.w.to_delayed().ravel())

    def _params(self, mu, pi):
        """``(mu, pi)`` as one object in the graph: shipped once, shared by every task."""
        client = active_client()
        if client is not None:
            return client.scatter((mu, pi), broadcast=True, hash=False)
        return dask.delayed((mu, pi), pure=True)

    def stats(self, mu, pi):
        """Statistics of all rows: one task per chunk, combined in chunk order."""
        params = self._params(mu, pi)
        task = dask.delayed(_task_stats, pure=True)
        parts = [task(X, w, params, self.kernel, self.binarize) for X, w in zip(self.blocks, self.w_blocks,
                                                                                 strict=True)]
        (total,) = dask.compute(_combine_tree(parts))
        return total

    def worst_parts(self, mu, pi, m):
        """:func:`~bmm_numba.em.blocks.block_worst` of every chunk (a pass only when a component collapsed)."""
        params = self._params(mu, pi)
        task = dask.delayed(_task_worst, pure=True)
        return dask.compute(*[task(X, w, int(s), params, self.kernel, self.binarize, m)
                              for X, w, s in zip(self.blocks, self.w_blocks, self.starts, strict=True)])

    def any_observed(self):
        """Return whether any cell of X is observed (not NaN): one lazy reduction over the chunks."""
        if self.X.dtype.kind != "f":
            return True
        return bool(da.any(~da.isnan(self.X)).compute())

    def take(self, index):
        """Rows ``index`` (sorted; None = all) computed into memory, with their weights."""
        if index is None:
            X, w = self.X, self.w
        else:
            X, w = self.X[index], None if self.w is None else self.w[index]
        return dask.compute(X, w) if w is not None else (X.compute(), None)


def _block_estimate(X, mu, pi, kernel, binarize):
    return block_estimate(X, mu, pi, resolve_backend(kernel, parallel=False), binarize)


def _block_proba(X, mu, pi, kernel, binarize):
    return _block_estimate(X, mu, pi, kernel, binarize)[0]


def _block_labels(X, mu, pi, kernel, binarize):
    return _block_estimate(X, mu, pi, kernel, binarize)[0].argmax(axis=1)


def _block_log_prob(X, mu, pi, kernel, binarize):
    return _block_estimate(X, mu, pi, kernel, binarize)[1]


def lazy_estimate(X, mu, pi, kernel, binarize, what):
    """Lazy per-chunk predictions on a checked Dask array.

    Parameters
    ----------
    what : {"proba", "labels", "log_prob"}

    Returns
    -------
    dask.array.Array
        Of shape (n_samples, n_components) for ``"proba"``, (n_samples,) otherwise.
    """
    args = (mu, pi, kernel, binarize)
    if what == "proba":
        return X.map_blocks(_block_proba, *args, dtype=np.float64, chunks=(X.chunks[0], (mu.shape[0],)),
                            meta=np.empty((0, 0)))
    func = _block_labels if what == "labels" else _block_log_prob
    dtype = np.intp if what == "labels" else np.float64
    return X.map_blocks(func, *args, dtype=dtype, drop_axis=1, chunks=(X.chunks[0],), meta=np.empty(0, dtype))
