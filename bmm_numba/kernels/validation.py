"""Input checks shared by every E-step kernel.

All checks run in Python before any kernel: bounds are not checked inside ``prange`` and a
``raise`` inside a ``prange`` body silently makes the loop serial.  Each check converts its
argument once to the single layout the kernels take, so every compiled kernel has exactly one
specialisation whatever the caller passed:

* ``X``  -> ``uint8``, 2-D, C-contiguous, writeable (a read-only array is a distinct Numba type);
* ``mu`` -> ``float64``, 2-D, C-contiguous, writeable (converted only when needed);
* ``pi`` -> ``float64``, 1-D, C-contiguous, writeable (converted only when needed).

Inputs are never modified.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PI_SUM_ATOL", "not_binary_error", "check_X", "check_params", "check_e_step_inputs",
           "check_e_step_inputs_deferred"]

#: ``pi`` must satisfy ``abs(sum(pi) - 1) <= PI_SUM_ATOL``.  Loose enough for weights that
#: went through float32, tight enough to catch unnormalised counts.
PI_SUM_ATOL = 1e-6

_NUMERIC_KINDS = "biuf"


def _as_array(value, name: str) -> np.ndarray:
    """``np.asarray`` that names the argument when the conversion itself fails."""
    if hasattr(value, "tocsr") and hasattr(value, "nnz"):  # scipy.sparse, without importing it
        raise TypeError(
            f"{name}: sparse matrices are not accepted by the E-step kernels; "
            f"pass a dense array (e.g. {name}.toarray())"
        )
    try:
        arr = np.asarray(value)
        if arr.dtype == object and hasattr(value, "to_numpy"):  # pandas nullable dtypes (Int8, boolean)
            arr = value.to_numpy(dtype=np.float64, na_value=np.nan)
        return arr
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None


def not_binary_error(values, name: str = "X", hint: str = "") -> ValueError:
    """Make the one error for data that are not 0/1: it names the argument and the first bad values.

    Parameters
    ----------
    values : array-like
        The offending values (or any selection holding them); the first three are shown.
    name : str, default="X"
        Argument name used in the message.
    hint : str, default=""
        A sentence appended to the message (e.g. how to binarise).

    Returns
    -------
    ValueError
        To be raised by the caller.
    """
    bad = np.asarray(values).ravel()[:3].tolist()
    return ValueError(f"{name} must contain only 0 and 1; found e.g. {bad}" + (f". {hint}" if hint else ""))


def check_X(X, name: str = "X") -> np.ndarray:
    """Validate binary data and return it as a C-contiguous, writeable ``uint8`` array.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        0/1 data of any numeric dtype (bool, integer or float), any memory order.
    name : str
        Argument name used in error messages.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype uint8
        A new array unless ``X`` already was a writeable C-contiguous uint8 array.

    Raises
    ------
    TypeError
        If ``X`` is not numeric (strings, objects, complex numbers, dates) or is sparse.
    ValueError
        If ``X`` is not 2-D, is empty, or holds values other than 0 and 1 (NaN and inf included).
    """
    return _check_X(X, name, defer_uint8_values=False)[0]


def _check_X(X, name, *, defer_uint8_values):
    """:func:`check_X`, optionally leaving the 0/1 check of uint8 input to the kernel.

    Returns ``(X_uint8, values_checked)``.
    """
    arr = _as_array(X, name)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{name} must hold numbers 0 and 1 (bool, integer or float); got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, n_features); got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}; need at least one sample and one feature")
    values_checked = not (defer_uint8_values and arr.dtype == np.uint8)
    if arr.dtype.kind == "b" or not values_checked:
        binary = True
    elif arr.dtype.kind == "u":
        binary = bool(arr.max() <= 1)
    elif arr.dtype.kind == "i":
        binary = bool(arr.min() >= 0) and bool(arr.max() <= 1)
    else:  # float: NaN and inf compare unequal to both 0 and 1
        binary = bool(np.all((arr == 0) | (arr == 1)))
    if not binary:
        raise not_binary_error(arr[~((arr == 0) | (arr == 1))], name)
    out = np.ascontiguousarray(arr, dtype=np.uint8)
    if not out.flags.writeable:
        out = out.copy()
    return out, values_checked


def _as_c_float64(arr):
    """``arr`` as C-contiguous writeable float64: the same array when it already is one.

    The kernels only read parameters, so no copy is needed to protect the caller's array; a
    read-only array is copied because Numba compiles it as a different type.
    """
    out = np.ascontiguousarray(arr, dtype=np.float64)
    return out if out.flags.writeable else out.copy()


def check_params(mu, pi, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate mixture parameters and return float64 copies.

    Parameters
    ----------
    mu : array-like of shape (n_components, n_features)
        Bernoulli means, each strictly inside (0, 1).
    pi : array-like of shape (n_components,)
        Mixing weights: non-negative, summing to 1 within :data:`PI_SUM_ATOL`.
    n_features : int
        Number of columns of ``X``.

    Returns
    -------
    mu : ndarray of shape (n_components, n_features), float64, C-contiguous
        The caller's array itself when it already is C-contiguous writeable float64 (the
        kernels never write to it), else a converted copy.
    pi : ndarray of shape (n_components,), float64
    """
    mu_arr = _as_array(mu, "mu")
    if mu_arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"mu must be a real-valued array; got dtype {mu_arr.dtype}")
    if mu_arr.ndim != 2:
        raise ValueError(f"mu must be 2-D of shape (n_components, n_features); got shape {mu_arr.shape}")
    n_components = mu_arr.shape[0]
    if n_components == 0:
        raise ValueError("mu is empty: need at least one component (one row)")
    if mu_arr.shape[1] != n_features:
        raise ValueError(f"mu has {mu_arr.shape[1]} features (columns) but X has {n_features}")
    mu64 = _as_c_float64(mu_arr)
    # min/max propagate NaN, so this also rejects NaN; two reductions, no temporaries
    # (check_params took 15 us for 10 x 784 with the elementwise form, most of a 5-row E-step)
    if not (mu64.min() > 0.0 and mu64.max() < 1.0):
        n_nan = int(np.isnan(mu64).sum())
        raise ValueError(
            "mu must lie in the open interval (0, 1) with no NaN; "
            f"got min {np.nanmin(mu64) if n_nan < mu64.size else 'nan'}, "
            f"max {np.nanmax(mu64) if n_nan < mu64.size else 'nan'}, {n_nan} NaN"
        )

    pi_arr = _as_array(pi, "pi")
    if pi_arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"pi must be a real-valued array; got dtype {pi_arr.dtype}")
    if pi_arr.ndim != 1:
        raise ValueError(f"pi must be 1-D of shape (n_components,); got shape {pi_arr.shape}")
    if pi_arr.shape[0] != n_components:
        raise ValueError(f"pi has {pi_arr.shape[0]} entries but mu has {n_components} components (rows)")
    pi64 = _as_c_float64(pi_arr)
    if not (pi64.min() >= 0.0 and pi64.max() < np.inf):
        raise ValueError(f"pi must be finite and non-negative; got {pi64.tolist()[:10]}")
    total = float(pi64.sum())
    if abs(total - 1.0) > PI_SUM_ATOL:
        raise ValueError(f"pi must sum to 1 (tolerance {PI_SUM_ATOL:g}); sums to {total!r}")
    return mu64, pi64


def check_e_step_inputs(X, mu, pi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and convert ``(X, mu, pi)`` for the E-step kernels (``X`` first)."""
    X8 = check_X(X)
    mu64, pi64 = check_params(mu, pi, X8.shape[1])
    return X8, mu64, pi64


def check_e_step_inputs_deferred(X, mu, pi):
    """As :func:`check_e_step_inputs`, but leave the 0/1 check of uint8 ``X`` to the kernel.

    For kernels that see every byte during their own scan and raise before returning anything
    (the table kernel, :mod:`bmm_numba.kernels.table.e_step`): a separate check would read all of X once more.  Shapes,
    dtypes and parameters are still checked here, before any kernel runs.

    Returns
    -------
    X, mu, pi : ndarray
        As :func:`check_e_step_inputs`.
    values_checked : bool
        False when the 0/1 check was left to the kernel.
    """
    X8, values_checked = _check_X(X, "X", defer_uint8_values=True)
    mu64, pi64 = check_params(mu, pi, X8.shape[1])
    return X8, mu64, pi64, values_checked


def check_sample_weight(sample_weight, n_samples, *, allow_scalar=False, allow_all_zero=True):
    """Return ``sample_weight`` as float64 of shape (n_samples,), ones if None.

    The one sample-weight check of the package (M-step registry, estimator, row blocks).

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), scalar or None
    n_samples : int
    allow_scalar : bool, default=False
        Broadcast a scalar to every sample (the estimator's ``fit``).
    allow_all_zero : bool, default=True
        False where a fit needs at least one positive weight; a block of rows may be all zero.

    Raises
    ------
    ValueError
        Naming ``sample_weight``: wrong shape, a value not finite or negative, or all zero.
    """
    if sample_weight is None:
        return np.ones(n_samples)
    w = np.asarray(sample_weight, dtype=np.float64)
    if allow_scalar and w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},); got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    if not allow_all_zero and not w.any():
        raise ValueError("sample_weight is all zero: at least one positive weight is needed")
    return w
