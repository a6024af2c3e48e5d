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
from ..kernels.m_step import MEANS_EPS
from ..kernels.validation import PI_SUM_ATOL
from ..kernels.validation import check_sample_weight as _check_weight

__all__ = ["check_parameters", "check_sample_weight", "is_int", "is_dask_array", "is_memmap"]


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
