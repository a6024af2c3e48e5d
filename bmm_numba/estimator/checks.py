"""Parameter, sample-weight and input-type checks of :class:`bmm_numba.BernoulliMixture`.

``__init__`` only stores parameters (scikit-learn convention); everything is checked here, in
Python, before any kernel runs, and every failure is a ``ValueError`` naming the parameter.
"""

from __future__ import annotations

import numbers
import sys

import numpy as np
import scipy.sparse as sp

from ..em.backend import kernel_name
from ..em.init import INIT_METHODS
from ..em.loop import ACCELERATIONS
from ..kernels.m_step import MEANS_EPS
from ..kernels.missing import MISSING
from ..kernels.validation import PI_SUM_ATOL
from ..kernels.validation import check_sample_weight as _check_weight

__all__ = ["check_parameters", "check_fitted_parameters", "check_sample_weight", "scale_weights", "check_input",
           "check_random_state_param", "is_int", "is_dask_array", "is_memmap", "n_rows", "MAX_SEED", "ALPHA_MAX",
           "ALL_MISSING", "PARTIAL_FIT_METHODS", "check_online_parameters", "check_observed"]

#: Largest integer ``random_state`` (``numpy.random.RandomState`` seeds are 32-bit).
MAX_SEED = 2**32 - 1

#: Largest ``alpha`` in units of the largest sample weight (1 without weights).  ``alpha`` counts
#: pseudo-observations: a prior 1e15 times heavier than any sample sets every mean to the data's
#: mean, and 1e308 overflowed ``2 alpha`` into NaN means.
ALPHA_MAX = 1e15


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


def _describe(value):
    """``repr`` of a parameter with its type when the type is the problem (a 0-d array reads like a number)."""
    if isinstance(value, np.ndarray):
        return f"a {value.ndim}-d numpy.ndarray {value!r} (pass a plain Python value, e.g. int(...))"
    return f"{value!r} ({type(value).__name__})"


def check_random_state_param(random_state):
    """``ValueError`` naming ``random_state`` unless scikit-learn's ``check_random_state`` takes it.

    Accepted: None, an integer in ``[0, MAX_SEED]`` (not a bool) or a ``numpy.random.RandomState``.
    Checked without making a generator (seeding one from an integer took ~0.1 ms, 5 % of a
    101 x 15 fit, which checks its parameters twice).
    """
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return
    if is_int(random_state, 0) and not isinstance(random_state, np.bool_) and random_state <= MAX_SEED:
        return
    raise ValueError(f"random_state must be None, an integer in [0, 2**32 - 1] or a numpy.random.RandomState; "
                     f"got {_describe(random_state)}")


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
        raise ValueError(f"n_components must be an integer >= 1; got {_describe(K)}")
    if K > n_samples:
        raise ValueError(f"n_components={K} must be <= n_samples={n_samples}")
    kernel_name(est.kernel)
    if est.init_params not in INIT_METHODS:
        raise ValueError(f"init_params must be one of {list(INIT_METHODS)}; got {est.init_params!r}")
    if not isinstance(est.accelerate, str) or est.accelerate not in ACCELERATIONS:
        raise ValueError(f"accelerate must be one of {list(ACCELERATIONS)}; got {est.accelerate!r}")
    for name, low in (("n_init", 1), ("max_iter", 1), ("verbose", 0), ("verbose_interval", 1)):
        if not is_int(getattr(est, name), low):
            raise ValueError(f"{name} must be an integer >= {low}; got {_describe(getattr(est, name))}")
    for name in ("tol", "alpha"):
        if not _is_real(getattr(est, name), 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {_describe(getattr(est, name))}")
    if not isinstance(est.warm_start, (bool, np.bool_)):
        raise ValueError(f"warm_start must be a bool (True or False); got {_describe(est.warm_start)}")
    check_random_state_param(est.random_state)
    check_online_parameters(est.partial_fit_method, est.step_decay)
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


def scale_weights(w, alpha):
    """Return ``(w, alpha)`` divided by one power of two when the weights are very large or very small.

    ``alpha`` is in sample-weight units, so the fit of ``(c w, alpha)`` is the fit of
    ``(w, alpha / c)``; with ``c`` a power of two every product and sum scales exactly, so
    at ``alpha = 0`` weights ``c w`` give the fit of ``w`` bit for bit, and weights of 1e306
    (whose sum overflowed into NaN means) fit like weights of 1.  Weights whose largest value
    lies in ``[2**-64, 2**64]`` are returned as they are.

    Parameters
    ----------
    w : ndarray of shape (n_samples,)
        Validated (finite, non-negative, one positive).
    alpha : float

    Returns
    -------
    w : ndarray of shape (n_samples,)
    alpha : float

    Raises
    ------
    ValueError
        ``alpha`` above :data:`ALPHA_MAX` times the largest weight.
    """
    top = float(w.max())
    _, exponent = np.frexp(top)
    scale = 1.0 if 2.0**-64 <= top <= 2.0**64 else float(np.ldexp(1.0, int(exponent) - 1))
    alpha = float(alpha) / scale
    if alpha > ALPHA_MAX * top / scale:
        raise ValueError(f"alpha={alpha * scale!r} is more than {ALPHA_MAX:g} times the largest sample weight "
                         f"({top:g}): alpha counts pseudo-observations (in sample-weight units), and a prior that "
                         "strong sets every mean to the data's mean")
    return (w if scale == 1.0 else w / scale), alpha


def _check_dtype(dtype, values, where):
    """``TypeError`` for the dtypes ``check_array`` converts silently (text, None as NaN, time deltas)."""
    kind = getattr(dtype, "kind", "O")
    if str(dtype) == "category":
        raise TypeError(f"{where} has dtype category; expected numbers (0/1, bool, integer or float, NaN = missing): "
                        "convert it, e.g. with .astype(float) or .cat.codes")
    if kind in "mMSU":
        raise TypeError(f"{where} has dtype {dtype}; expected numbers (0/1, bool, integer or float, NaN = missing)")
    if kind == "O" and values is not None:
        bad = next((v for v in np.asarray(values, dtype=object).ravel() if v is None or isinstance(v, (str, bytes))),
                   0)
        if bad is None or isinstance(bad, (str, bytes)):
            raise TypeError(f"{where} has dtype object with a cell {bad!r}; expected numbers (0/1, bool, integer or "
                            "float; NaN, not None, marks a missing cell)")


def _check_compressed(X):
    """``ValueError`` for a CSR/CSC matrix whose structure is corrupt (checked before SciPy reads it)."""
    major, minor = (X.shape[0], X.shape[1]) if X.format == "csr" else (X.shape[1], X.shape[0])
    indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
    where = f"X (sparse {X.format.upper()} of shape {X.shape})"
    if indptr.ndim != 1 or indptr.shape[0] != major + 1 or indptr.dtype.kind not in "iu":
        raise ValueError(f"{where}: indptr must be {major + 1} integers; got {indptr.dtype} of shape {indptr.shape}")
    if indices.ndim != 1 or indices.dtype.kind not in "iu" or np.shape(X.data) != indices.shape:
        raise ValueError(f"{where}: indices and data must be 1-D of the same length; got {indices.shape} and "
                         f"{np.shape(X.data)}")
    if indptr[0] != 0 or indptr[-1] != indices.shape[0] or np.any(np.diff(indptr) < 0):
        raise ValueError(f"{where}: indptr must start at 0, never decrease and end at the number of stored "
                         f"values ({indices.shape[0]})")
    if indices.size and (indices.min() < 0 or indices.max() >= minor):
        raise ValueError(f"{where}: indices must lie in [0, {minor}); got values in [{indices.min()}, {indices.max()}]")


def check_input(X):
    """Refuse, by type, inputs that ``check_array`` would turn into numbers silently or fail on from deep inside.

    Object arrays of text, ``None`` or other non-numbers, ``timedelta64``/``datetime64``
    data, and pandas ``category`` columns are a ``TypeError`` naming X; a corrupt CSR/CSC
    matrix (indptr decreasing or of the wrong length, indices out of range) a ``ValueError``.
    ``numpy.matrix`` is taken as the 2-D array it holds.

    Returns
    -------
    X : the input (a ``numpy.matrix`` as an ndarray)
    """
    if isinstance(X, np.matrix):
        return np.asarray(X)
    if sp.issparse(X):
        if X.format in ("csr", "csc"):
            _check_compressed(X)
        return X
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(X, "columns"):  # a pandas DataFrame
        for column, dtype in zip(X.columns, dtypes, strict=True):
            if str(dtype) == "category" or getattr(dtype, "kind", "O") in "OmMSU":
                _check_dtype(dtype, X[column].to_numpy(dtype=object) if str(dtype) != "category" else None,
                             f"X column {column!r}")
        return X
    if isinstance(X, np.ndarray):
        _check_dtype(X.dtype, X if X.dtype.kind == "O" else None, "X")
    elif isinstance(X, (list, tuple)):
        try:
            values = np.asarray(X)
        except (TypeError, ValueError):
            return X  # ragged: check_array says so
        _check_dtype(values.dtype, values if values.dtype.kind == "O" else None, "X")
    return X


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


#: The error for data with no observed cell (in memory, memmap or Dask alike).
ALL_MISSING = "every cell of X is missing (NaN): there is nothing to fit"


def check_observed(data):
    """``ValueError`` when every cell of ``data`` (a :class:`~bmm_numba.em.data.MixtureData`) is missing."""
    if data.kind == "missing" and not (data.X != MISSING).any():
        raise ValueError(ALL_MISSING)


#: ``partial_fit_method`` values (:meth:`bmm_numba.BernoulliMixture.partial_fit`).
PARTIAL_FIT_METHODS = ("stepwise", "incremental")


def check_online_parameters(method, decay):
    """``ValueError`` for a bad ``partial_fit_method`` or ``step_decay`` (``0.5 < kappa <= 1``)."""
    if not isinstance(method, str) or method not in PARTIAL_FIT_METHODS:
        raise ValueError(f"partial_fit_method must be one of {list(PARTIAL_FIT_METHODS)}; got {_describe(method)}")
    if not _is_real(decay, 0) or not 0.5 < decay <= 1.0:
        raise ValueError(f"step_decay must be a number in (0.5, 1]; got {_describe(decay)}")
