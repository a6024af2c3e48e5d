"""The estimator's data: validated once, stored in the one form each kernel family takes.

:class:`MixtureData` holds a 0/1 matrix in one of three forms, and :func:`e_step` /
:func:`m_step_stats` dispatch on it:

* ``"dense"``: fully observed, ``uint8`` C-contiguous, the input of the E-step registry
  (:data:`bmm_numba.E_STEPS`) and the M-step registry (:data:`bmm_numba.M_STEPS`);
* ``"missing"``: dense with NaN cells, coded ``uint8`` 0/1/2 (:mod:`bmm_numba._missing`);
* ``"sparse"``: ``scipy.sparse`` CSR with every stored value 1 (:mod:`bmm_numba._sparse`),
  never densified.

The estimator's ``kernel`` names an E-step of the registry; its family (``numpy*`` or
``numba*``) picks the matching M-step and the missing-value and sparse variants.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..kernels import missing as _missing
from ..kernels import sparse as _sparse
from ..kernels.e_step_numba import COMPILED_KERNELS, run_compiled
from ..kernels.m_step import STATS_IMPLEMENTATIONS
from ..kernels.registry import AUTO_KERNEL, PRODUCTION_KERNELS, resolve_kernel
from ..kernels.table.e_step import LUT_MIN_ROWS, build_row_index, numba_fastest
from ..kernels.table.em_pass import lut_em_pass, lut_stats

__all__ = ["MixtureData", "encode", "e_step", "m_step_stats", "em_statistics", "kernel_family", "resolved_name"]

_ALLOWED = ("auto",) + PRODUCTION_KERNELS


class MixtureData:
    """Validated 0/1 data.

    Attributes
    ----------
    kind : {"dense", "missing", "sparse"}
    X : ndarray of shape (n_samples, n_features), uint8, or scipy.sparse CSR matrix (float64 ones)
    n_samples, n_features : int
    """

    def __init__(self, kind, X):
        self.kind = kind
        self.X = X
        self.n_samples, self.n_features = X.shape
        self._csr = self._csc = None
        self._row_index = {}
        #: Build :meth:`row_index` (True for data that many passes will read: an in-memory fit).
        self.keep_row_index = False

    def row_index(self, n_components, parallel=True):
        """Table offsets of every row's non-zero 4-pixel groups, or None (dense only; once per K).

        :func:`bmm_numba._e_step_lut.build_row_index`: the EM passes read it instead of scanning
        X each iteration (10 iterations on MNIST train, K = 10, 2 threads: 98 ms against 125 ms).
        None unless :attr:`keep_row_index`: data seen by one pass only (a block of a Dask array
        or a memmap) would pay for listing its rows twice more.
        """
        if not self.keep_row_index:
            return None
        if n_components not in self._row_index:
            self._row_index = {n_components: build_row_index(self.X, n_components, parallel=parallel)}
        return self._row_index[n_components]

    @property
    def csr(self):
        """``(indptr, indices)`` as int64 (sparse only; built once)."""
        if self._csr is None:
            self._csr = (self.X.indptr.astype(np.int64), self.X.indices.astype(np.int64))
        return self._csr

    @property
    def csc(self):
        """``(indptr, indices)`` of the CSC form as int64 (sparse only; built once, for the M-step)."""
        if self._csc is None:
            Xc = self.X.tocsc()
            self._csc = (Xc.indptr.astype(np.int64), Xc.indices.astype(np.int64))
        return self._csc


def _binary_error(values):
    bad = np.asarray(values).ravel()[:3].tolist()
    return ValueError(
        "X must contain only 0 and 1 (NaN marks a missing value in dense X); "
        f"found e.g. {bad}. Pass binarize=<threshold> to map values > threshold to 1."
    )


def encode(X, binarize=None):
    """Turn an already ``check_array``-ed X into :class:`MixtureData`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or scipy.sparse CSR/CSC matrix
        Numeric; NaN allowed in dense X (missing), inf not.
    binarize : float or None
        If a number, values ``> binarize`` become 1 and the others 0 (NaN stays missing).

    Returns
    -------
    MixtureData
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X)  # CSC -> CSR keeps only the stored values; never densifies
        data = X.data
        if np.isnan(data).any():
            raise ValueError("missing values (NaN) are supported for dense X only; sparse X has NaN")
        if binarize is not None:
            if binarize < 0:
                raise ValueError("binarize must be >= 0 for sparse X (a negative threshold would make "
                                 "every implicit zero a 1)")
            ones = data > binarize
        else:
            ones = data == 1
            if not np.all(ones | (data == 0)):
                raise _binary_error(data[~(ones | (data == 0))])
        out = sp.csr_matrix((ones.astype(np.float64), X.indices.copy(), X.indptr.copy()), shape=X.shape)
        out.eliminate_zeros()
        return MixtureData("sparse", out)

    X = np.asarray(X)
    if binarize is not None:
        codes = (X > binarize).astype(np.uint8)
    elif X.dtype.kind == "b":
        return MixtureData("dense", np.ascontiguousarray(X, dtype=np.uint8))
    else:
        if X.dtype.kind in "ui":
            # unsigned: no min (a full read of X, 1.6 ms on MNIST train) can be below 0
            if (X.dtype.kind == "i" and X.min() < 0) or X.max() > 1:
                raise _binary_error(X[(X < 0) | (X > 1)])
            # no copy for uint8 C-contiguous input (a read-only array would be another Numba type)
            codes = np.ascontiguousarray(X, dtype=np.uint8)
            return MixtureData("dense", codes if codes.flags.writeable else codes.copy())
        if not np.all((X == 0) | (X == 1) | np.isnan(X)):
            raise _binary_error(X[~((X == 0) | (X == 1) | np.isnan(X))])
        codes = (X == 1).astype(np.uint8)
    if X.dtype.kind == "f":
        missing = np.isnan(X)
        if missing.any():
            codes[missing] = _missing.MISSING
            return MixtureData("missing", np.ascontiguousarray(codes))
    return MixtureData("dense", np.ascontiguousarray(codes))


def resolved_name(kernel):
    """Registry name behind ``kernel`` (``"auto"`` resolved); ``ValueError`` for anything else."""
    if not isinstance(kernel, str) or kernel not in _ALLOWED:
        raise ValueError(f"kernel must be one of {list(_ALLOWED)}; got {kernel!r}")
    return AUTO_KERNEL if kernel == "auto" else kernel


def kernel_family(kernel):
    """``"numba"`` for the compiled kernels, ``"numpy"`` for the NumPy/SciPy ones."""
    return "numba" if resolved_name(kernel).startswith("numba") else "numpy"


def e_step(data, mu, pi, kernel, parallel=None):
    """Responsibilities and ``log p(x_n)``.

    Parameters
    ----------
    data : MixtureData
    mu : ndarray of shape (n_components, n_features), float64 in (0, 1)
    pi : ndarray of shape (n_components,), float64
    kernel : str
        ``"auto"`` or a name in :data:`bmm_numba.PRODUCTION_KERNELS`.
    parallel : bool or None, default=None
        Compiled kernels only: ``False`` runs the serial ``nogil`` builds (what Dask tasks and
        thread pools need), ``True`` the parallel ones; None keeps each kernel's default.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
    log_prob_norm : ndarray of shape (n_samples,)
    """
    numba = kernel_family(kernel) == "numba"
    compiled_parallel = True if parallel is None else parallel
    if data.kind == "dense":
        name = resolved_name(kernel)
        if name == "numba":
            index = data.row_index(len(pi), parallel is not False) if data.n_samples >= LUT_MIN_ROWS else None
            return numba_fastest(data.X, mu, pi, parallel=parallel, return_log_norm=True, index=index)
        if parallel is not None and name in COMPILED_KERNELS:
            return run_compiled(name, data.X, mu, pi, parallel=parallel, return_log_norm=True)
        impl = resolve_kernel(name, allowed=PRODUCTION_KERNELS)
        return impl(data.X, mu, pi, return_log_norm=True)
    if data.kind == "missing":
        if numba:
            return _missing.numba_e_step(data.X, mu, pi, parallel=compiled_parallel)
        return _missing.numpy_e_step(data.X, mu, pi)
    if numba:
        return _sparse.numba_e_step(*data.csr, mu, pi, parallel=compiled_parallel)
    return _sparse.scipy_e_step(data.X, mu, pi)


def m_step_stats(data, rw, kernel, parallel=None):
    """Sufficient statistics ``(nk, S, observed)``; ``observed`` is None unless data has NaN.

    Parameters
    ----------
    data : MixtureData
    rw : ndarray of shape (n_samples, n_components)
        Responsibilities times sample weights.
    kernel : str
        As in :func:`e_step`.
    parallel : bool or None, default=None
        As in :func:`e_step` (None: the parallel builds).
    """
    family = kernel_family(kernel)
    if family == "numba":
        flag = {"parallel": True if parallel is None else parallel}
        if data.kind == "dense":
            if data.n_samples >= LUT_MIN_ROWS:  # the table kernel the EM iterations compile anyway
                return (*lut_stats(data.X, rw, index=data.row_index(rw.shape[1], **flag), **flag), None)
            return (*STATS_IMPLEMENTATIONS["numba"](data.X, rw, **flag), None)
        if data.kind == "missing":
            return _missing.numba_stats(data.X, rw, **flag)
        return (*_sparse.numba_stats(*data.csc, rw, **flag), None)
    if data.kind == "dense":
        return (*STATS_IMPLEMENTATIONS["numpy"](data.X, rw), None)
    if data.kind == "missing":
        return _missing.numpy_stats(data.X, rw)
    return (*_sparse.scipy_stats(data.X, rw), None)


def em_statistics(data, w, mu, pi, kernel, parallel=None):
    """One EM iteration's E-step and sufficient statistics.

    For dense data with the ``"numba"`` kernel (from :data:`LUT_MIN_ROWS` rows on) both come
    from one fused pass over X (:func:`bmm_numba._em_lut.lut_em_pass`: 26 ms instead of
    17 + 53 ms for MNIST train, K = 10, one thread); otherwise :func:`e_step`, then
    :func:`m_step_stats`.

    Parameters
    ----------
    data : MixtureData
    w : ndarray of shape (n_samples,)
        Sample weights.
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    kernel : str
    parallel : bool or None, default=None
        As in :func:`e_step`.

    Returns
    -------
    nk : ndarray of shape (n_components,)
    S : ndarray of shape (n_components, n_features)
    observed : ndarray of shape (n_components, n_features) or None
    log_prob_norm : ndarray of shape (n_samples,)
    """
    if data.kind == "dense" and resolved_name(kernel) == "numba" and data.n_samples >= LUT_MIN_ROWS:
        flag = parallel is not False
        nk, S, log_prob_norm = lut_em_pass(data.X, mu, pi, w, parallel=flag, index=data.row_index(len(pi), flag))
        return nk, S, None, log_prob_norm
    resp, log_prob_norm = e_step(data, mu, pi, kernel, parallel=parallel)
    nk, S, observed = m_step_stats(data, resp * w[:, None], kernel, parallel=parallel)
    return nk, S, observed, log_prob_norm
