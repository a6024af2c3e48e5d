"""MNIST IDX files (plain or gzip), validated before anything is allocated, and scikit-learn's 8x8 digits.

Part of :mod:`bmm_numba.datasets`, which re-exports the public names.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .binary import binarize

__all__ = [
    "MNIST_ENV_VAR",
    "MNIST_DENSITY",
    "mnist_dir_from_env",
    "DEFLATE_MAX_RATIO",
    "read_idx",
    "load_mnist",
    "load_digits_binary",
]


#: Environment variable naming a folder with the four MNIST IDX files.
MNIST_ENV_VAR = "BMM_NUMBA_MNIST_DIR"

#: Fraction of MNIST training pixels >= 128: generated MNIST-shaped rows (CLI, benchmarks) match it.
MNIST_DENSITY = 0.1323

_IDX_DTYPES = {0x08: np.uint8}  # MNIST uses only unsigned bytes
_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def mnist_dir_from_env(*, existing=True) -> Path | None:
    """Return the folder named by ``BMM_NUMBA_MNIST_DIR``, or None when it is not set.

    Parameters
    ----------
    existing : bool, default=True
        Also return None when the variable names no existing folder (False: return the path
        as named, so that a caller can say it is missing).
    """
    value = os.environ.get(MNIST_ENV_VAR, "").strip()
    if value and (not existing or Path(value).is_dir()):
        return Path(value)
    return None


def _open_maybe_gzip(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


_CHUNK = 1 << 22  # 4 MiB

#: Largest ratio of decompressed to compressed size that deflate reaches (1032:1), with slack
#: for gzip headers: a stream declaring more bytes than this times its size on disk is a lie.
DEFLATE_MAX_RATIO = 1100


def _read_exact(fh, n_bytes: int):
    """Return exactly ``n_bytes`` of ``fh`` as a new uint8 array, or the count held if not that many.

    ``fh.read(n)`` on a buffered file allocates ``n`` bytes up front, and joining chunks copies
    them: here chunks of :data:`_CHUNK` are kept until the end is seen (one byte past
    ``n_bytes`` detects trailing data), then moved one at a time into the result, so the peak
    is the bytes really read plus one chunk, whatever a header declared.
    """
    chunks, held = [], 0
    while held <= n_bytes:
        chunk = fh.read(min(n_bytes + 1 - held, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        held += len(chunk)
    if held != n_bytes:
        return held
    out = np.empty(n_bytes, dtype=np.uint8)
    at = 0
    chunks.reverse()
    while chunks:
        chunk = chunks.pop()
        out[at:at + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        at += len(chunk)
    return out


def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a uint8 array.

    The header is checked before anything is allocated: magic ``0x0000 08 NN`` (unsigned bytes,
    ``NN`` dimensions), then the declared size must equal the bytes present.  An uncompressed
    file is compared with its size on disk before reading; a gzipped one may not declare more
    than deflate's largest ratio allows for its size on disk, then is read in chunks up to one
    byte past the declared size.  Memory stays proportional to the bytes really read (a 1 MB
    gzip declaring (2**32 - 1, 28, 28) fails at once), so a hostile or truncated header fails
    with ``ValueError`` instead of allocating.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    data : ndarray of uint8, shape given by the header

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Bad magic number, bad dimension count, truncated header or data, trailing data, or a
        damaged gzip stream.
    """
    path = Path(path)
    try:
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
            if isinstance(fh, gzip.GzipFile):
                stored = os.fstat(fh.fileobj.fileno()).st_size
                if n_bytes > DEFLATE_MAX_RATIO * stored:
                    raise ValueError(f"{path}: IDX header declares shape {dims} ({n_bytes} bytes of data), "
                                     f"more than a {stored}-byte gzip file can hold")
            else:
                held = os.fstat(fh.fileno()).st_size - 4 - 4 * ndim
                if held != n_bytes:
                    raise _size_error(path, dims, n_bytes, held)
            payload = _read_exact(fh, n_bytes)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"{path}: damaged gzip stream ({exc})") from None
    if not isinstance(payload, np.ndarray):
        raise _size_error(path, dims, n_bytes, payload, at_least=payload > n_bytes)
    return payload.reshape(dims)


def _size_error(path, dims, n_bytes, held, at_least=False):
    holds = f"more than {n_bytes}" if at_least else str(held)
    why = "trailing data" if at_least or held > n_bytes else "truncated"
    return ValueError(f"{path}: IDX header declares shape {dims} ({n_bytes} bytes of data) but the file "
                      f"holds {holds} bytes of data ({why}, or not an IDX file)")


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
        Values ``>= threshold`` become 1, the others 0 (the rule of :func:`binarize`).  ``None``
        returns raw 0..255 pixels.

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
    if images.shape[0] == 0:
        raise ValueError(f"{_find(folder, image_stem)}: holds 0 images")
    X = images.reshape(images.shape[0], int(np.prod(images.shape[1:])))
    if threshold is not None:
        X = binarize(X, threshold)  # the one rule: values >= threshold become 1
    return X, labels.copy()


def load_digits_binary(threshold=8):
    """Load scikit-learn's bundled 8x8 digits as binary rows, with their labels.

    The 1797 images ship with scikit-learn (no download); pixels are grey levels 0..16.

    Parameters
    ----------
    threshold : int or None, default=8
        Values ``>= threshold`` become 1, the others 0 (the rule of :func:`binarize`).  ``None``
        returns raw 0..16 pixels.

    Returns
    -------
    X : ndarray of shape (1797, 64), uint8
        Binary (or raw) pixels, one image per row (8x8, row-major).
    labels : ndarray of shape (1797,), int64
        Digit labels 0..9.
    """
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    digits = load_digits()
    X = digits.data.astype(np.uint8)
    if threshold is not None:
        X = binarize(X, threshold)  # the one rule: values >= threshold become 1
    return X, digits.target.astype(np.int64)
