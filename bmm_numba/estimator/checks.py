"""Parameter, sample-weight and input-type checks of :class:`bmm_numba.BernoulliMixture`.

``__init__`` only stores parameters (scikit-learn convention); everything is checked here, in
Python, before any kernel runs, and every failure is a ``ValueError`` naming the parameter.
"""

from __future__ import annotations

import numbers
import sys

import numpy as np

from ..em.backend import kernel_name
from ..em.init import INIT_METHODS
from ..em.loop import ACCELERATIONS
from ..kernels.m_step import MEANS_EPS
from ..kernels.missing import MISSING
from ..kernels.validation import PI_SUM_ATOL
from ..kernels.validation import check_sample_weight as _check_weight

__all__ = ["check_parameters", "check_fitted_parameters", "check_sample_weight", "is_int", "is_dask_array",
           "is_memmap", "n_rows"]


def is_dask_array(X):
    """Return True for a ``dask.array.Array``, without importing Dask (none exists before it is)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(X, module.Array)


def is_memmap(X):
    """Return True for a ``numpy.memmap`` (or a view of one)."""
    return isinstance(X, np.memmap)


def is_int(value, low):
    """Return True for an integer (not bool) ``>= low``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def _is_real(value, low):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return False
    return bool(np.isfinite(value)) and value >= low


def check_parameters(est, n_samples, n_features):
    """Raise ``ValueError`` for any bad parameter of ``est``.

    Parameters
    ----------
    est : BernoulliMixture
    n_samples, n_features : int
        Shape of the training data.

    Returns
    -------
    means_init : ndarray of shape (n_components, n_features) or None
    weights_init : ndarray of shape (n_components,) or None
        Validated copies (weights renormalised to sum exactly to 1).
    """
    K = est.n_components
    if not is_int(K, 1):
        raise ValueError(f"n_components must be an integer >= 1; got {K!r}")
    if K > n_samples:
        raise ValueError(f"n_components={K} must be <= n_samples={n_samples}")
    kernel_name(est.kernel)
    if est.init_params not in INIT_METHODS:
        raise ValueError(f"init_params must be one of {list(INIT_METHODS)}; got {est.init_params!r}")
    if not isinstance(est.accelerate, str) or est.accelerate not in ACCELERATIONS:
        raise ValueError(f"accelerate must be one of {list(ACCELERATIONS)}; got {est.accelerate!r}")
    for name, low in (("n_init", 1), ("max_iter", 1), ("verbose", 0), ("verbose_interval", 1)):
        if not is_int(getattr(est, name), low):
            raise ValueError(f"{name} must be an integer >= {low}; got {getattr(est, name)!r}")
    for name in ("tol", "alpha"):
        if not _is_real(getattr(est, name), 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {getattr(est, name)!r}")
    if est.binarize is not None and not _is_real(est.binarize, -np.inf):
        raise ValueError(f"binarize must be None or a finite number; got {est.binarize!r}")
    means = weights = None
    if est.means_init is not None:
        means = np.array(est.means_init, dtype=np.float64)
        if means.shape != (K, n_features):
            raise ValueError(f"means_init must have shape (n_components, n_features) = "
                             f"{(K, n_features)}; got {means.shape}")
        if not np.all((means > 0) & (means < 1)):
            raise ValueError("means_init must lie strictly inside (0, 1), without NaN")
        means = np.clip(means, MEANS_EPS, 1 - MEANS_EPS)
    if est.weights_init is not None:
        weights = np.array(est.weights_init, dtype=np.float64)
        if weights.shape != (K,):
            raise ValueError(f"weights_init must have shape (n_components,) = ({K},); "
                             f"got {weights.shape}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError(f"weights_init must be finite and non-negative; "
                             f"got {weights.tolist()[:10]}")
        if abs(weights.sum() - 1.0) > PI_SUM_ATOL:
            raise ValueError(f"weights_init must sum to 1 (tolerance {PI_SUM_ATOL:g}); "
                             f"sums to {weights.sum()!r}")
        weights = weights / weights.sum()
    return means, weights


def check_sample_weight(sample_weight, n_samples, n_components):
    """Return the weights as float64 of shape (n_samples,) (ones if None; a scalar is broadcast).

    ``ValueError`` if invalid, all zero, or positive on fewer than ``n_components`` samples.
    """
    if sample_weight is None:
        return np.ones(n_samples)
    w = _check_weight(sample_weight, n_samples, allow_scalar=True, allow_all_zero=False)
    if np.count_nonzero(w) < n_components:
        raise ValueError(f"n_components={n_components} exceeds the number of samples with "
                         f"positive weight ({np.count_nonzero(w)})")
    return w


def n_rows(X):
    """Return the number of rows of ``X`` (an array, sparse matrix, DataFrame, Dask array or a list of rows)."""
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) > 0 else len(X)


def _fitted_array(value, name, ndim):
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.dtype.kind not in "biuf" or arr.ndim != ndim:
        raise ValueError(f"fitted {name} must be a {ndim}-D array of numbers; got "
                         f"{type(value).__name__} {getattr(value, 'dtype', '')} of shape {np.shape(value)}")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    return out if out.flags.writeable else out.copy()


def check_fitted_parameters(means, weights, n_features_in, n_components):
    """Validate fitted parameters before anything reads them.

    Called wherever fitted parameters are used: prediction, scoring, sampling, warm start,
    ``partial_fit``, a loaded model file.
    Shapes are checked against ``n_features_in_`` and ``n_components`` first, so no kernel is
    ever given arrays narrower than the data (the compiled kernels do not check bounds).

    Parameters
    ----------
    means : ndarray of shape (n_components, n_features_in)
        Strictly inside (0, 1), finite.
    weights : ndarray of shape (n_components,)
        Finite, non-negative, summing to 1 within :data:`~bmm_numba.PI_SUM_ATOL`.
    n_features_in : int
    n_components : int

    Returns
    -------
    means, weights : ndarray of float64, C-contiguous
        The arrays themselves when they already are writeable C-contiguous float64 (values are
        never changed: results stay bit-identical).

    Raises
    ------
    ValueError
        Naming the attribute (``means_``, ``weights_``, ``n_features_in_``) and what is wrong.
    """
    if not is_int(n_features_in, 1):
        raise ValueError(f"n_features_in_ must be an integer >= 1; got {n_features_in!r}")
    if not is_int(n_components, 1):
        raise ValueError(f"n_components must be an integer >= 1; got {n_components!r}")
    mu = _fitted_array(means, "means_", 2)
    pi = _fitted_array(weights, "weights_", 1)
    if mu.shape != (n_components, n_features_in):
        raise ValueError(f"fitted means_ has shape {mu.shape}; expected (n_components, n_features_in_) = "
                         f"{(n_components, n_features_in)}")
    if pi.shape != (n_components,):
        raise ValueError(f"fitted weights_ has shape {pi.shape}; expected (n_components,) = ({n_components},)")
    if not (mu.min() > 0.0 and mu.max() < 1.0):  # min/max propagate NaN
        raise ValueError(f"fitted means_ must lie strictly inside (0, 1), without NaN; got min {mu.min()!r}, "
                         f"max {mu.max()!r}")
    if not (pi.min() >= 0.0 and pi.max() < np.inf):
        raise ValueError(f"fitted weights_ must be finite and non-negative; got {pi.tolist()[:10]}")
    if abs(float(pi.sum()) - 1.0) > PI_SUM_ATOL:
        raise ValueError(f"fitted weights_ must sum to 1 (tolerance {PI_SUM_ATOL:g}); sums to {float(pi.sum())!r}")
    return mu, pi


def check_observed(data):
    """``ValueError`` when every cell of ``data`` (a :class:`~bmm_numba.em.data.MixtureData`) is missing."""
    if data.kind == "missing" and not (data.X != MISSING).any():
        raise ValueError("every cell of X is missing (NaN): there is nothing to fit")
