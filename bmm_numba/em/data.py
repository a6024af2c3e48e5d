"""The estimator's data: validated once, stored in the one form each kernel family takes.

:class:`MixtureData` holds a 0/1 matrix in one of three forms (its ``kind``), each with its
own kernels in :class:`~bmm_numba.em.backend.Backend`:

* ``"dense"``: fully observed, ``uint8`` C-contiguous, the input of the E-step registry
  (:data:`bmm_numba.E_STEPS`) and the M-step registry (:data:`bmm_numba.M_STEPS`);
* ``"missing"``: dense with NaN cells, coded ``uint8`` 0/1/2 (:mod:`bmm_numba.kernels.missing`);
* ``"sparse"``: ``scipy.sparse`` CSR with every stored value 1 (:mod:`bmm_numba.kernels.sparse`),
  never densified.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..kernels import missing as _missing
from ..kernels.hamming import pack_missing, pack_rows
from ..kernels.row_lists import row_lists
from ..kernels.table.e_step import build_row_index
from ..kernels.table.layout import padded_components
from ..kernels.validation import not_binary_error

__all__ = ["MixtureData", "encode", "PATTERN_MAX_FEATURES", "PATTERN_MAX_SHARE"]

#: Rows wider than this are never compared for repeats (:attr:`MixtureData.patterns`).
PATTERN_MAX_FEATURES = 256
#: Distinct rows must be at most this share of all rows for passes over patterns.
PATTERN_MAX_SHARE = 0.9


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
        self._csr = self._csc = self._packed = self._rows = self._lists = self._patterns = None
        self._stored = None
        self._row_index = {}
        #: Build :meth:`row_index` (True for data that many passes will read: an in-memory fit).
        self.keep_row_index = False

    def row_index(self, n_components, parallel=True):
        """Table offsets of every row's non-zero 4-pixel groups, or None (dense only; once per table width).

        :func:`~bmm_numba.kernels.table.e_step.build_row_index`: the EM passes read it instead of
        scanning X each iteration (10 iterations on MNIST train, K = 10, 2 threads: 98 against 125 ms).
        It depends on K only through the table's padded width ``KP`` (8 lanes for K = 1..8), so
        one index serves every K of a width: the starts of ``n_init``, a fit whose components
        drop, and :func:`~bmm_numba.estimator.mixture.select_n_components` over K = 2..20 (3
        builds instead of 19); only the last width's index is kept (10.7 MB on MNIST train).
        None unless :attr:`keep_row_index`: data seen by one pass only (a block of a Dask array
        or a memmap) would pay for listing its rows twice more.
        """
        if not self.keep_row_index:
            return None
        width = padded_components(n_components)
        index = self._row_index.get(width)
        if index is None:  # the local, not the dict: fits side by side may replace the dict meanwhile
            index = build_row_index(self.X, n_components, parallel=parallel)
            self._row_index = {width: index}
        return index

    def rows(self, index):
        """Return a :class:`MixtureData` of the rows ``index`` (sorted int array), same kind, copied.

        The last one is kept: the short-EM sample of every K of
        :func:`~bmm_numba.estimator.mixture.select_n_components` with an integer ``random_state``
        is the same rows, whose copy, packed rows and row index are then made once.
        """
        cached = self._rows
        if cached is not None and np.array_equal(cached[0], index):
            return cached[1]
        X = self.X[index]
        rows = MixtureData(self.kind, X if self.kind == "sparse" else np.ascontiguousarray(X))
        self._rows = (np.array(index, copy=True), rows)
        return rows

    @property
    def stored_cells(self):
        """Ones plus missing cells: the length of :attr:`lists` without making them (counted once)."""
        if self._stored is None:
            self._stored = int(self.X.nnz if self.kind == "sparse" else np.count_nonzero(self.X))
        return self._stored

    @property
    def lists(self):
        """The rows' ones and missing cells as :class:`~bmm_numba.kernels.row_lists.RowLists` (made once)."""
        if self._lists is None:
            self._lists = row_lists(self.X, self.kind, _missing.MISSING)
        return self._lists

    @property
    def patterns(self):
        """``(lists, inverse)`` of the distinct rows (dense and missing kinds), or None where few repeat.

        Latent-class data repeat their response patterns (carcinoma: 118 rows, 20 patterns): a
        pass over the distinct rows with summed weights gives the same sums up to rounding at a
        fraction of the work.  None for sparse data, for rows wider than
        :data:`PATTERN_MAX_FEATURES` cells, and where distinct rows are more than
        :data:`PATTERN_MAX_SHARE` of all (the pass would save little).
        """
        if self._patterns is None:
            self._patterns = False
            if self.kind != "sparse" and self.n_features <= PATTERN_MAX_FEATURES:
                rows = np.ascontiguousarray(self.X).view(np.dtype((np.void, self.n_features))).ravel()
                _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
                if first.size <= PATTERN_MAX_SHARE * self.n_samples:
                    # the distinct rows in order of first appearance, so the result never depends on sorting
                    order = np.argsort(first, kind="stable")
                    rank = np.empty_like(order)
                    rank[order] = np.arange(order.size)
                    unique = np.ascontiguousarray(self.X[first[order]])
                    self._patterns = (row_lists(unique, self.kind, _missing.MISSING), rank[inverse.ravel()])
        return self._patterns or None

    @property
    def packed(self):
        """Rows bit-packed for the Hamming distances of the seeding starts (built once; None if sparse).

        ``(words,)`` for dense data, ``(ones, observed)`` for data with missing cells
        (:func:`~bmm_numba.kernels.hamming.pack_rows`; 7 ms on MNIST train, 6.2 MB).
        """
        if self._packed is None and self.kind != "sparse":
            self._packed = (pack_rows(self.X, None),) if self.kind == "dense" else pack_missing(self.X)
        return self._packed

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
    return not_binary_error(values, hint="NaN marks a missing value in dense X; pass binarize=<threshold> to map "
                                         "values >= threshold to 1")


def encode(X, binarize=None):
    """Turn an already ``check_array``-ed X into :class:`MixtureData`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or scipy.sparse CSR/CSC matrix
        Numeric; NaN allowed in dense X (missing), inf not.
    binarize : float or None
        If a number, values ``>= binarize`` become 1 and the others 0 (NaN stays missing): the
        rule of :func:`bmm_numba.datasets.binarize` and of the command line's ``--threshold``.

    Returns
    -------
    MixtureData
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X)  # CSC -> CSR keeps only the stored values; never densifies
        X.check_format(full_check=True)  # column indices in bounds: the kernels do not check them
        if not X.has_canonical_format:  # a duplicate stored entry is one cell: sum before the 0/1 check
            summed = X.copy()  # never modify the caller's arrays
            summed.sum_duplicates()
            X = summed if summed.nnz != X.nnz else X  # no duplicates: the stored order as given
        data = X.data
        if np.isnan(data).any():
            raise ValueError("missing values (NaN) are supported for dense X only; sparse X has NaN")
        if binarize is not None:
            if binarize <= 0:
                raise ValueError(f"binarize must be > 0 for sparse X; got {binarize!r} (values >= binarize "
                                 "become 1, so a threshold <= 0 would make every zero the matrix does not "
                                 "store a 1)")
            ones = data >= binarize
        else:
            ones = data == 1
            if not np.all(ones | (data == 0)):
                raise _binary_error(data[~(ones | (data == 0))])
        out = sp.csr_matrix((ones.astype(np.float64), X.indices.copy(), X.indptr.copy()), shape=X.shape)
        out.eliminate_zeros()
        return MixtureData("sparse", out)

    X = np.asarray(X)
    if binarize is not None:
        codes = (X >= binarize).astype(np.uint8)
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
