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
``n_components``       int64 scalar, optional                  ``n_components_`` (K; default
                                                               ``params["n_components"]``)
``dropped``            int64 (r, 2), optional                  ``dropped_components_``;
                                                               ``K + r = params["n_components"]``
``feature_names_in``   str (D,), optional                      ``feature_names_in_``
=====================  ======================================  ============================================

Other keys are the writer's metadata (the command line adds its report: ``bic``,
``log_likelihood``, ``n_samples``...): numbers or text, at most :data:`METADATA_MAX_BYTES`
each and :data:`MAX_MEMBERS` members in all, returned by :func:`read_model` and otherwise
ignored.  Loading validates everything before an estimator is returned: only a regular
file is opened, without blocking; the member count and each member's size are checked
before it is read (:func:`bmm_numba.datasets.npz_member`); the parameters go through the
estimator's own checks, and the fitted parameters through
:func:`~bmm_numba.estimator.checks.check_fitted_parameters`.  ``labels_`` (one per training
sample) is not stored.

Writing is atomic (:func:`bmm_numba.datasets.files.atomic_write`): the archive is written to a
temporary file in the same folder, flushed, synced and renamed over the target, so a write
that fails part-way (a full disk, a file-size limit, Ctrl-C) leaves an older model as it was,
and concurrent writers never expose a partial file.  A path without the ``.npz`` suffix gets
it, on saving and on loading alike (:func:`model_path`).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..datasets import npz_member, open_npz
from ..datasets.files import atomic_write
from .checks import MAX_SEED, check_fitted_parameters, check_parameters, is_int

__all__ = ["MODEL_FORMAT", "MODEL_FORMAT_VERSION", "MAX_MEMBERS", "METADATA_MAX_BYTES", "model_path", "save_model",
           "read_model", "load_model"]

MODEL_FORMAT = "bmm_numba.BernoulliMixture"
MODEL_FORMAT_VERSION = 1

_REQUIRED = ("format", "format_version", "params", "means", "weights", "n_features_in", "converged", "n_iter",
             "lower_bound", "lower_bounds", "reseeded")
_RESERVED = frozenset(_REQUIRED) | {"bmm_numba_version", "feature_names_in", "n_components", "dropped"}

#: Members a model file may hold in all (the format's 15 and the writer's metadata): a file of
#: 100 000 members is refused from its zip directory, before any member is read.
MAX_MEMBERS = 256

#: Largest metadata member read, and largest ``params`` member (bytes of ``.npy``): a model
#: file with an extra 2 GiB member is refused, not read (11-16 s).
METADATA_MAX_BYTES = 1 << 20


def model_path(path):
    """Return the path a model file ``path`` is written to and read from: ``.npz`` appended if missing.

    :meth:`~bmm_numba.BernoulliMixture.save` writes ``model`` as ``model.npz`` (as
    ``numpy.savez`` does); :func:`load_model` reads ``model`` as ``model.npz`` too, and reads
    ``path`` as given only when ``model.npz`` does not exist (a model file named otherwise).
    """
    path = Path(os.fspath(path))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


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

    A path is written atomically (see the module docstring); ``.npz`` is appended when it is
    missing.  A file object is written as is (the caller owns its atomicity).

    Parameters
    ----------
    est : BernoulliMixture
        Fitted.
    file : str, path-like or binary file object
    **metadata
        Extra arrays of numbers or text stored alongside (not a reserved key), at most
        :data:`METADATA_MAX_BYTES` each.

    Raises
    ------
    ValueError
        A reserved or oversized metadata key, or metadata that is not numbers or text.
    IsADirectoryError
        ``file`` names a folder.
    """
    arrays = _model_arrays(est, metadata)
    if hasattr(file, "write"):
        _write_npz(file, arrays)
        return
    with atomic_write(model_path(file)) as fh:
        _write_npz(fh, arrays)


def _model_arrays(est, metadata):
    """Return the archive's members, every value validated before anything is written."""
    from .. import __version__

    means, weights = est._fitted_parameters()
    clash = _RESERVED.intersection(metadata)
    if clash:
        raise ValueError(f"metadata keys {sorted(clash)} are reserved by the model format")
    if len(metadata) + len(_RESERVED) > MAX_MEMBERS:
        raise ValueError(f"{len(metadata)} metadata keys; a model file holds at most {MAX_MEMBERS} members")
    params = {name: _json_param(name, value) for name, value in est.get_params(deep=False).items()}
    arrays = {
        "format": np.str_(MODEL_FORMAT), "format_version": np.int64(MODEL_FORMAT_VERSION),
        "bmm_numba_version": np.str_(__version__), "params": np.str_(json.dumps(params)),
        "means": means, "weights": weights, "n_features_in": np.int64(est.n_features_in_),
        "converged": np.bool_(getattr(est, "converged_", False)), "n_iter": np.int64(getattr(est, "n_iter_", 0)),
        "lower_bound": np.float64(getattr(est, "lower_bound_", np.nan)),
        "lower_bounds": np.asarray(getattr(est, "lower_bounds_", ()), dtype=np.float64),
        "reseeded": np.asarray(getattr(est, "reseeded_components_", []), dtype=np.int64).reshape(-1, 3),
        "n_components": np.int64(means.shape[0]),
        "dropped": np.asarray(getattr(est, "dropped_components_", []), dtype=np.int64).reshape(-1, 2),
    }
    if hasattr(est, "feature_names_in_"):
        arrays["feature_names_in"] = np.asarray(est.feature_names_in_, dtype=str)
    for key, value in metadata.items():
        value = np.asarray(value)
        if value.dtype.kind not in "biufUS":
            raise ValueError(f"metadata {key!r} has dtype {value.dtype}; only numbers and text are stored")
        if value.nbytes > METADATA_MAX_BYTES - 1024:
            raise ValueError(f"metadata {key!r} holds {value.nbytes} bytes; at most {METADATA_MAX_BYTES - 1024}")
        arrays[key] = value
    return arrays


def _write_npz(fh, arrays):
    """Write ``arrays`` as a compressed ``.npz`` (``numpy.savez_compressed``'s layout, every key kept).

    ``numpy.savez_compressed(file, **arrays)`` takes ``allow_pickle`` as its own option: a
    metadata key of that name was silently dropped.
    """
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for key, value in arrays.items():
            with archive.open(key + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


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
        ``.npz`` is appended when missing and that file exists (:func:`model_path`).

    Returns
    -------
    est : BernoulliMixture
        Fitted (``labels_`` excepted).
    metadata : dict of str -> ndarray
        The writer's other arrays.

    Raises
    ------
    ValueError
        Not a model file (or not a regular file), a newer format version, or any value out of
        its contract (the message names the file and the key).
    OSError
        The file cannot be read.
    """
    named = model_path(path)
    path = named if named.exists() or not os.path.lexists(path) else Path(os.fspath(path))
    with open_npz(path) as archive:
        infos = archive.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"{path}: {len(infos)} members; a model file holds at most {MAX_MEMBERS}")
        names = list(archive.files)
        missing = [key for key in _REQUIRED if key not in names]
        if missing:
            raise ValueError(f"{path}: not a bmm_numba model file (no {missing})")
        arrays = {key: npz_member(archive, key, path, None if key in _ARRAYS else METADATA_MAX_BYTES)
                  for key in names}
    return _model_from_arrays(arrays, path), {key: value for key, value in arrays.items() if key not in _RESERVED}


#: Members whose size follows from the model (means, weights...): checked against their
#: ``.npy`` headers, not against :data:`METADATA_MAX_BYTES`.
_ARRAYS = frozenset({"means", "weights", "lower_bounds", "reseeded", "dropped", "feature_names_in"})


def _params(arrays, path):
    """Return an estimator with the constructor parameters of the ``params`` member, type-checked."""
    from .mixture import BernoulliMixture

    try:
        params = json.loads(_scalar(arrays, "params", "U", path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: 'params' is not JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{path}: 'params' nests values too deeply to be parameters") from None
    allowed = BernoulliMixture._get_param_names()
    if not isinstance(params, dict) or not set(params) <= set(allowed):
        raise ValueError(f"{path}: 'params' must be an object with keys among {allowed}")
    seed = params.get("random_state")
    if not (seed is None or (is_int(seed, 0) and seed <= MAX_SEED)):
        raise ValueError(f"{path}: 'params' random_state must be None or an integer in [0, {MAX_SEED}]; "
                         f"got {seed!r}")
    return BernoulliMixture(**params)


def _model_from_arrays(arrays, path):
    """Build the fitted estimator from validated members; every attribute set at once at the end."""
    if _scalar(arrays, "format", "U", path) != MODEL_FORMAT:
        raise ValueError(f"{path}: format {arrays['format'].item()!r} is not {MODEL_FORMAT!r}")
    version = _scalar(arrays, "format_version", "iu", path)
    if version != MODEL_FORMAT_VERSION:
        raise ValueError(f"{path}: model format version {version}; this bmm_numba reads version "
                         f"{MODEL_FORMAT_VERSION}")
    est = _params(arrays, path)
    n_features = _scalar(arrays, "n_features_in", "iu", path)
    means, weights = arrays["means"], arrays["weights"]
    dropped = arrays.get("dropped", np.zeros((0, 2), dtype=np.int64))
    if dropped.ndim != 2 or dropped.shape[1] != 2 or dropped.dtype.kind not in "iu":
        raise ValueError(f"{path}: 'dropped' must be integers of shape (r, 2); got {dropped.dtype} {dropped.shape}")
    try:
        if not is_int(est.n_components, 1):
            raise ValueError(f"n_components={est.n_components!r} is not an integer >= 1")
        fitted = _scalar(arrays, "n_components", "iu", path) if "n_components" in arrays else est.n_components
        if fitted + dropped.shape[0] != est.n_components:
            raise ValueError(f"n_components_={fitted} components kept and {dropped.shape[0]} dropped do not "
                             f"make n_components={est.n_components}")
        check_parameters(est, est.n_components, n_features)
        means, weights = check_fitted_parameters(means, weights, n_features, fitted)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    n_iter = _scalar(arrays, "n_iter", "iu", path)
    lower_bound = _scalar(arrays, "lower_bound", "f", path)
    lower_bounds, reseeded = arrays["lower_bounds"], arrays["reseeded"]
    if lower_bounds.ndim != 1 or lower_bounds.dtype.kind != "f" or n_iter < 0:
        raise ValueError(f"{path}: 'lower_bounds' must be 1-D floats and 'n_iter' >= 0")
    if reseeded.ndim != 2 or reseeded.shape[1] != 3 or reseeded.dtype.kind not in "iu":
        raise ValueError(f"{path}: 'reseeded' must be integers of shape (r, 3); got {reseeded.shape}")
    state = {
        "means_": means, "weights_": weights, "n_features_in_": int(n_features), "n_components_": int(fitted),
        "converged_": bool(_scalar(arrays, "converged", "b", path)), "n_iter_": int(n_iter),
        "lower_bound_": float(lower_bound), "lower_bounds_": lower_bounds.astype(np.float64),
        "reseeded_components_": [tuple(int(v) for v in row) for row in reseeded],
        "dropped_components_": [tuple(int(v) for v in row) for row in dropped],
    }
    if "feature_names_in" in arrays:
        names_in = arrays["feature_names_in"]
        if names_in.dtype.kind != "U" or names_in.shape != (n_features,):
            raise ValueError(f"{path}: 'feature_names_in' must be {n_features} strings")
        state["feature_names_in_"] = names_in.astype(object)
    est.__dict__.update(state)
    return est


def load_model(path):
    """Load a :class:`~bmm_numba.BernoulliMixture` written by :meth:`~bmm_numba.BernoulliMixture.save`.

    ``read_model(path)[0]``: the estimator without the writer's metadata.

    Parameters
    ----------
    path : str or path-like
        A model file (``.npz`` appended when missing and that file exists).

    Returns
    -------
    BernoulliMixture
        Fitted, validated; predicts, scores and samples as the saved estimator did.
    """
    return read_model(path)[0]

