"""Data for examples, tests and benchmarks: MNIST IDX files and generated mixtures.

Nothing here downloads anything.  MNIST is read from a folder the caller names (or the
``BMM_NUMBA_MNIST_DIR`` environment variable); generated data need no files.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["MNIST_ENV_VAR", "mnist_dir_from_env", "read_idx", "load_mnist", "make_bernoulli_mixture"]

#: Environment variable naming a folder with the four MNIST IDX files.
MNIST_ENV_VAR = "BMM_NUMBA_MNIST_DIR"

_IDX_DTYPES = {0x08: np.uint8}  # MNIST uses only unsigned bytes
_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def mnist_dir_from_env() -> Path | None:
    """Return the folder named by ``BMM_NUMBA_MNIST_DIR`` if it is set and exists, else None."""
    value = os.environ.get(MNIST_ENV_VAR, "").strip()
    if value and Path(value).is_dir():
        return Path(value)
    return None


def _open_maybe_gzip(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a uint8 array.

    The header is checked before anything is allocated: magic ``0x0000 08 NN`` (unsigned bytes,
    ``NN`` dimensions), then the declared size must equal the bytes present, so a hostile or
    truncated header fails fast with ``ValueError`` instead of allocating.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    data : ndarray of uint8, shape given by the header
    """
    path = Path(path)
    with _open_maybe_gzip(path) as fh:
        header = fh.read(4)
        if len(header) < 4 or header[0] != 0 or header[1] != 0 or header[2] not in _IDX_DTYPES:
            raise ValueError(f"{path}: not an unsigned-byte IDX file (bad magic {header.hex() or 'empty'})")
        ndim = header[3]
        if not 1 <= ndim <= 4:
            raise ValueError(f"{path}: IDX header declares {ndim} dimensions; expected 1 to 4")
        raw_dims = fh.read(4 * ndim)
        if len(raw_dims) < 4 * ndim:
            raise ValueError(f"{path}: truncated IDX header")
        dims = struct.unpack(f">{ndim}I", raw_dims)
        n_bytes = int(np.prod(dims, dtype=object))
        # Read at most one byte more than declared: enough to detect trailing data, never
        # more than the file holds, so an absurd header cannot make us allocate.
        payload = fh.read(n_bytes + 1) if n_bytes < (1 << 34) else b""
    if len(payload) != n_bytes:
        raise ValueError(
            f"{path}: IDX header declares shape {dims} ({n_bytes} bytes) but the file holds "
            f"{'more' if len(payload) > n_bytes else len(payload)} bytes of data"
        )
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: neither {stem} nor {stem}.gz found")


def load_mnist(path=None, split="train", threshold=128):
    """Load MNIST images as binary rows, with their labels.

    Parameters
    ----------
    path : str or path-like, optional
        Folder with the standard IDX files (gzipped or not).  Default: ``$BMM_NUMBA_MNIST_DIR``.
    split : {"train", "test"}
        The 60000-image training set or the 10000-image test set.
    threshold : int or None, default=128
        Pixels ``>= threshold`` become 1, the others 0.  ``None`` returns raw 0..255 pixels.

    Returns
    -------
    X : ndarray of shape (n_images, 784), uint8
        Binary (or raw) pixels, one image per row.
    labels : ndarray of shape (n_images,), uint8
        Digit labels 0..9.
    """
    if split not in _SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if path is None:
        path = mnist_dir_from_env()
        if path is None:
            raise FileNotFoundError(f"no MNIST folder given and ${MNIST_ENV_VAR} is not set to a folder")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"MNIST folder {folder} does not exist")
    image_stem, label_stem = _SPLIT_FILES[split]
    images = read_idx(_find(folder, image_stem))
    labels = read_idx(_find(folder, label_stem))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{folder}: images {images.shape} and labels {labels.shape} do not match")
    X = images.reshape(images.shape[0], -1)
    if threshold is not None:
        X = (X >= threshold).astype(np.uint8)
    return X, labels.copy()


def make_bernoulli_mixture(n_samples, n_features, n_components, *, density=0.17, sharpness=0.8,
                           random_state=None):
    """Draw binary data from a random Bernoulli mixture.

    Parameters
    ----------
    n_samples, n_features, n_components : int
        Shape of the data and number of mixture components.
    density : float, default=0.17
        Expected fraction of ones (MNIST binarised at 128 has about 0.13-0.17).
    sharpness : float in [0, 1), default=0.8
        How far the component means spread around ``density``: 0 gives identical components;
        near 1 gives means close to 0 or 1 (well-separated clusters).
    random_state : int or numpy.random.Generator, optional
        Seed.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), uint8
    labels : ndarray of shape (n_samples,), int64
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    """
    if not 0.0 < density < 1.0:
        raise ValueError(f"density must be in (0, 1); got {density}")
    if not 0.0 <= sharpness < 1.0:
        raise ValueError(f"sharpness must be in [0, 1); got {sharpness}")
    rng = np.random.default_rng(random_state)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    # Beta with mean `density`; concentration falls as sharpness rises (more extreme means).
    concentration = 2.0 / max(sharpness, 1e-3) - 1.0
    means = rng.beta(density * concentration, (1 - density) * concentration, size=(n_components, n_features))
    means = np.clip(means, 1e-3, 1 - 1e-3)
    labels = rng.choice(n_components, size=n_samples, p=weights)
    X = (rng.random((n_samples, n_features)) < means[labels]).astype(np.uint8)
    return X, labels, weights, means
