"""Check that data are 0/1 (NaN = missing), or binarise them at a threshold (``>= threshold`` is 1).

Part of :mod:`bmm_numba.datasets`, which re-exports the public names.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NonBinaryError", "id_like_columns", "binarize"]


class NonBinaryError(ValueError):
    """Data hold a value other than 0, 1 (or NaN) and no threshold was given.

    Attributes
    ----------
    value : float
        The first offending value (row-major order).
    row, column : int
        Where it is, 0-based (``X[row, column]``).
    id_columns : list of int
        Columns (0-based) that look like row ids (:func:`id_like_columns`): data to drop, not
        to binarise.
    """

    def __init__(self, value, row, column, id_columns=()):
        self.value, self.row, self.column = value, row, column
        self.id_columns = list(id_columns)
        if self.id_columns:
            advice = (f"column {_and(self.id_columns)} (0-based) looks like a row id (increasing integers): "
                      f"drop it (np.delete(X, {self.id_columns}, axis=1)) rather than binarise it")
        else:
            advice = "give a threshold to binarise them (values >= threshold become 1)"
        super().__init__(f"the data hold values other than 0 and 1 (first: {value:g} at X[{row}, {column}], "
                         f"0-based); {advice}")


def _and(items):
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def id_like_columns(X):
    """Columns that look like row ids rather than data: strictly increasing integers, 3 rows or more.

    Such a column (``0, 1, 2, ...`` written by ``pandas.to_csv``, or ``1, 2, 3, ...``) is not
    0/1 data, and binarising it at a threshold would turn the row number into a feature.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    columns : list of int
        0-based.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 3 or X.dtype.kind not in "biuf":
        return []
    X = X.astype(np.float64, copy=False)
    whole = np.isfinite(X).all(axis=0) & (X == np.round(X)).all(axis=0)
    increasing = (np.diff(X, axis=0) > 0).all(axis=0)
    return [int(c) for c in np.flatnonzero(whole & increasing)]


def binarize(X, threshold=None):
    """Check that ``X`` is 0/1 (NaN = missing), or binarise it at ``threshold``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Numbers; NaN marks a missing cell.
    threshold : float or None, default=None
        If given, values ``>= threshold`` become 1 and the others 0 (NaN stays NaN): the rule
        of :func:`load_mnist` (128) and :func:`load_digits_binary` (8), and of the command
        line's ``--threshold``.  If None, ``X`` must already be 0/1.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        ``uint8`` when no cell is missing, else ``float64`` with NaN.

    Raises
    ------
    NonBinaryError
        A value other than 0/1/NaN and no threshold (it names columns that look like row ids).
    ValueError
        Infinite values, or every cell missing.
    """
    X = np.asarray(X)
    if X.dtype == bool:
        return X.astype(np.uint8)
    if X.dtype.kind == "f":
        if np.isinf(X).any():
            row, col = np.argwhere(np.isinf(X))[0]
            raise ValueError(f"the data hold an infinite value at X[{row}, {col}] (0-based)")
        missing = np.isnan(X)
        if missing.all():
            raise ValueError("every cell of the data is missing (NaN)")
        has_missing = bool(missing.any())
    else:
        missing, has_missing = None, False
    if threshold is not None:
        Y = (X >= threshold).astype(np.float64 if has_missing else np.uint8)
        if has_missing:
            Y[missing] = np.nan
        return Y
    bad = (X != 0) & (X != 1)
    if has_missing:
        bad &= ~missing
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise NonBinaryError(float(X[row, col]), int(row), int(col), id_like_columns(X))
    return X.astype(np.float64) if has_missing else X.astype(np.uint8)
