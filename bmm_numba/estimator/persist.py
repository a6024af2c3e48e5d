"""The model file: a fitted :class:`~bmm_numba.BernoulliMixture` as a plain ``.npz`` archive.

No pickle is written or read (``allow_pickle=False``); every array is numbers or text.  Layout
(format version 1), one ``.npy`` member per key:

=====================  ======================================  ============================================
key                    value                                   meaning
=====================  ======================================  ============================================
``format``             str ``"bmm_numba.BernoulliMixture"``    what the file holds
``format_version``     int64 scalar, ``1``                     raised when the layout changes incompatibly
``bmm_numba_version``  str                                     the writer's version (information only)
``params``             str, JSON object                        constructor parameters (``get_params``);
                                                               ``means_init``/``weights_init`` as lists
``means``              float64 (K, D)                          ``means_``
``weights``            float64 (K,)                            ``weights_``
``n_features_in``      int64 scalar                            ``n_features_in_`` (= D)
``converged``          bool scalar                             ``converged_``
``n_iter``             int64 scalar                            ``n_iter_``
``lower_bound``        float64 scalar                          ``lower_bound_``
``lower_bounds``       float64 (n,)                            ``lower_bounds_``
``reseeded``           int64 (r, 3)                            ``reseeded_components_``
``feature_names_in``   str (D,), optional                      ``feature_names_in_``
=====================  ======================================  ============================================

Other keys are the writer's metadata (the command line adds its report: ``bic``,
``log_likelihood``, ``n_samples``...): numbers or text, returned by :func:`read_model` and
otherwise ignored.  Loading validates everything before an estimator is returned: the
archive's members are size-checked before they are read
(:func:`bmm_numba.datasets.npz_member`), the parameters go through the estimator's own
checks, and the fitted parameters through
:func:`~bmm_numba.estimator.checks.check_fitted_parameters`.  ``labels_`` (one per training
sample) is not stored.
"""

from __future__ import annotations

import json

import numpy as np

from ..datasets import npz_member, open_npz
from .checks import check_fitted_parameters, check_parameters, is_int

__all__ = ["MODEL_FORMAT", "MODEL_FORMAT_VERSION", "save_model", "read_model", "load_model"]

MODEL_FORMAT = "bmm_numba.BernoulliMixture"
MODEL_FORMAT_VERSION = 1

_REQUIRED = ("format", "format_version", "params", "means", "weights", "n_features_in", "converged", "n_iter",
             "lower_bound", "lower_bounds", "reseeded")
_RESERVED = frozenset(_REQUIRED) | {"bmm_numba_version", "feature_names_in"}


def _json_param(name, value):
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str, int, float, list)):
        return value
    raise ValueError(f"parameter {name}={value!r} cannot be written to a model file (only None, numbers, "
                     "text and lists; an int random_state, not a generator)")


def save_model(est, file, **metadata):
    """Write a fitted estimator to ``file`` (a path or a binary file object), no pickle.

    Parameters
    ----------
    est : BernoulliMixture
        Fitted.
    file : str, path-like or binary file object
    **metadata
        Extra arrays of numbers or text stored alongside (not a reserved key).
    """
    from .. import __version__

    means, weights = est._fitted_parameters()
    clash = _RESERVED.intersection(metadata)
    if clash:
        raise ValueError(f"metadata keys {sorted(clash)} are reserved by the model format")
    params = {name: _json_param(name, value) for name, value in est.get_params(deep=False).items()}
    arrays = {
        "format": np.str_(MODEL_FORMAT), "format_version": np.int64(MODEL_FORMAT_VERSION),
        "bmm_numba_version": np.str_(__version__), "params": np.str_(json.dumps(params)),
        "means": means, "weights": weights, "n_features_in": np.int64(est.n_features_in_),
        "converged": np.bool_(getattr(est, "converged_", False)), "n_iter": np.int64(getattr(est, "n_iter_", 0)),
        "lower_bound": np.float64(getattr(est, "lower_bound_", np.nan)),
        "lower_bounds": np.asarray(getattr(est, "lower_bounds_", ()), dtype=np.float64),
        "reseeded": np.asarray(getattr(est, "reseeded_components_", []), dtype=np.int64).reshape(-1, 3),
    }
    if hasattr(est, "feature_names_in_"):
        arrays["feature_names_in"] = np.asarray(est.feature_names_in_, dtype=str)
    for key, value in metadata.items():
        value = np.asarray(value)
        if value.dtype.kind not in "biufUS":
            raise ValueError(f"metadata {key!r} has dtype {value.dtype}; only numbers and text are stored")
        arrays[key] = value
    np.savez_compressed(file, **arrays)


def _scalar(arrays, key, kinds, path):
    value = arrays[key]
    if value.ndim != 0 or value.dtype.kind not in kinds:
        raise ValueError(f"{path}: {key!r} must be a scalar of kind {kinds!r}; got {value.dtype} {value.shape}")
    return value.item()


def read_model(path):
    """Read and validate a model file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    est : BernoulliMixture
        Fitted (``labels_`` excepted).
    metadata : dict of str -> ndarray
        The writer's other arrays.

    Raises
    ------
    ValueError
        Not a model file, a newer format version, or any value out of its contract (the
        message names the file and the key).
    OSError
        The file cannot be read.
    """
    from .mixture import BernoulliMixture

    with open_npz(path) as archive:
        names = list(archive.files)
        missing = [key for key in _REQUIRED if key not in names]
        if missing:
            raise ValueError(f"{path}: not a bmm_numba model file (no {missing})")
        arrays = {key: npz_member(archive, key, path) for key in names}
    if _scalar(arrays, "format", "U", path) != MODEL_FORMAT:
        raise ValueError(f"{path}: format {arrays['format'].item()!r} is not {MODEL_FORMAT!r}")
    version = _scalar(arrays, "format_version", "iu", path)
    if version != MODEL_FORMAT_VERSION:
        raise ValueError(f"{path}: model format version {version}; this bmm_numba reads version "
                         f"{MODEL_FORMAT_VERSION}")
    try:
        params = json.loads(_scalar(arrays, "params", "U", path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: 'params' is not JSON ({exc})") from None
    allowed = BernoulliMixture._get_param_names()
    if not isinstance(params, dict) or not set(params) <= set(allowed):
        raise ValueError(f"{path}: 'params' must be an object with keys among {allowed}")
    if not (params.get("random_state") is None or is_int(params["random_state"], 0)):
        raise ValueError(f"{path}: 'params' random_state must be None or an integer >= 0")
    est = BernoulliMixture(**params)
    n_features = _scalar(arrays, "n_features_in", "iu", path)
    means, weights = arrays["means"], arrays["weights"]
    try:
        if not is_int(est.n_components, 1) or est.n_components != np.shape(means)[0]:
            raise ValueError(f"n_components={est.n_components!r} does not match means of shape {means.shape}")
        check_parameters(est, est.n_components, n_features)
        means, weights = check_fitted_parameters(means, weights, n_features, est.n_components)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    n_iter = _scalar(arrays, "n_iter", "iu", path)
    lower_bound = _scalar(arrays, "lower_bound", "f", path)
    lower_bounds, reseeded = arrays["lower_bounds"], arrays["reseeded"]
    if lower_bounds.ndim != 1 or lower_bounds.dtype.kind != "f" or n_iter < 0:
        raise ValueError(f"{path}: 'lower_bounds' must be 1-D floats and 'n_iter' >= 0")
    if reseeded.ndim != 2 or reseeded.shape[1] != 3 or reseeded.dtype.kind not in "iu":
        raise ValueError(f"{path}: 'reseeded' must be integers of shape (r, 3); got {reseeded.shape}")
    est.means_, est.weights_, est.n_features_in_ = means, weights, int(n_features)
    est.converged_ = bool(_scalar(arrays, "converged", "b", path))
    est.n_iter_, est.lower_bound_ = int(n_iter), float(lower_bound)
    est.lower_bounds_ = lower_bounds.astype(np.float64)
    est.reseeded_components_ = [tuple(int(v) for v in row) for row in reseeded]
    if "feature_names_in" in arrays:
        names_in = arrays["feature_names_in"]
        if names_in.dtype.kind != "U" or names_in.shape != (n_features,):
            raise ValueError(f"{path}: 'feature_names_in' must be {n_features} strings")
        est.feature_names_in_ = names_in.astype(object)
    metadata = {key: value for key, value in arrays.items() if key not in _RESERVED}
    return est, metadata


def load_model(path):
    """Load a :class:`~bmm_numba.BernoulliMixture` written by :meth:`~bmm_numba.BernoulliMixture.save`.

    ``read_model(path)[0]``: the estimator without the writer's metadata.

    Parameters
    ----------
    path : str or path-like
        A model file.

    Returns
    -------
    BernoulliMixture
        Fitted, validated; predicts, scores and samples as the saved estimator did.
    """
    return read_model(path)[0]

