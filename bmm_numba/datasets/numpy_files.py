"""``.npy`` and ``.npz`` files, read without unpickling and with their declared sizes checked first.

Part of :mod:`bmm_numba.datasets`, which re-exports the public names.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .files import is_regular, open_input
from .mnist import DEFLATE_MAX_RATIO

__all__ = ["load_npy", "open_npz", "npz_info", "npz_member", "NPZ_DATA_KEYS", "NPZ_LABEL_KEYS", "load_npz"]


def _check_2d(X, path, what="array"):
    """Return ``X`` as 2-D: (n, d) as is, (n, h, w) images flattened; else ``ValueError``."""
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{path}: the {what} has dtype {X.dtype}; expected numbers (0/1, bool, integer or float)")
    if X.ndim == 3:
        X = X.reshape(X.shape[0], -1)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{path}: the {what} has shape {X.shape}; expected (n_samples, n_features) "
                         "or (n_samples, height, width) with no empty axis")
    return X


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def _check_magic(magic, path, kind):
    """``ValueError`` unless the first bytes ``magic`` start a ``kind`` ("npy" or "npz") file."""
    names = {"npy": (_NPY_MAGIC, "a .npy file", "no NumPy header"), "npz": (_ZIP_MAGIC, "an .npz archive",
                                                                          "no zip header")}
    other = "npz" if kind == "npy" else "npy"
    if magic.startswith(names[other][0]):
        raise ValueError(f"{path}: is {names[other][1]}, not {names[kind][1]}")
    if not magic.startswith(names[kind][0]):
        raise ValueError(f"{path}: not {names[kind][1]} ({names[kind][2]})")


def _read_exactly(fh, n):
    """Read up to ``n`` bytes from a stream (a pipe returns them in pieces)."""
    parts, got = [], 0
    while got < n:
        part = fh.read(min(n - got, 1 << 20))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _read_npy_header(fh, where):
    """Return ``(shape, fortran_order, dtype)`` of the ``.npy`` header at ``fh``; ``ValueError`` if damaged."""
    try:
        version = np.lib.format.read_magic(fh)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy format version {version}")
        shape, fortran, dtype = read_header(fh, max_header_size=10000)
    except Exception as exc:  # numpy raises ValueError, EOFError... for damaged headers
        raise ValueError(f"{where}: not a readable .npy file ({exc})") from None
    if dtype.hasobject:
        raise ValueError(f"{where}: not a readable .npy file (it holds Python objects, dtype {dtype}; "
                         "only numbers are read)")
    return shape, fortran, dtype


def _check_npy_size(fh, stored, where):
    """Read the ``.npy`` header at ``fh`` and check the data it declares fill ``stored`` bytes.

    NumPy allocates the declared array before reading it, so a header declaring terabytes
    would allocate (or fail with ``MemoryError``) before a short file is noticed.
    """
    shape, _, dtype = _read_npy_header(fh, where)
    declared = fh.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared != stored:
        raise ValueError(f"{where}: the .npy header declares shape {shape} of {dtype} ({declared} bytes "
                         f"with the header) but {stored} bytes are stored")


def _read_npy_stream(fh, path):
    """Read a ``.npy`` array from a pipe, once: memory grows with the bytes that really arrive."""
    shape, fortran, dtype = _read_npy_header(fh, path)
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    body = bytearray()
    while len(body) < nbytes:
        part = fh.read(min(nbytes - len(body), 1 << 20))
        if not part:
            raise ValueError(f"{path}: the .npy header declares shape {shape} of {dtype} ({nbytes} bytes of "
                             f"data) but the stream ended after {len(body)}")
        body += part
    if fh.read(1):
        raise ValueError(f"{path}: the stream holds more than the {nbytes} bytes of data its .npy header declares")
    return np.frombuffer(body, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def load_npy(path):
    """Read a ``.npy`` file of 0/1 data (never unpickles).

    The file is opened once, without blocking (:func:`~bmm_numba.datasets.files.open_input`):
    a regular file, or a pipe (``<(cat f)``), read as a stream.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        As stored; a 3-D array (n_samples, height, width) of images is flattened.
    image_shape : tuple of (int, int) or None
        ``(height, width)`` when the file held 3-D images.
    """
    path = Path(path)
    with open_input(path, pipes=True) as fh:
        if not is_regular(fh):
            head = _read_exactly(fh, len(_NPY_MAGIC))
            if not head:
                raise ValueError(f"{path}: is an empty pipe (a FIFO with no writer reads as empty)")
            _check_magic(head, path, "npy")
            X = _read_npy_stream(_Prefixed(head, fh), path)
        else:
            _check_magic(fh.read(len(_NPY_MAGIC)), path, "npy")
            fh.seek(0)
            _check_npy_size(fh, os.fstat(fh.fileno()).st_size, path)
            fh.seek(0)
            try:
                X = np.lib.format.read_array(fh, allow_pickle=False)
            except Exception as exc:  # numpy raises ValueError, EOFError, OSError... for damaged files
                raise ValueError(f"{path}: not a readable .npy file ({exc})") from None
    image_shape = tuple(X.shape[1:]) if X.ndim == 3 else None
    return _check_2d(X, path), image_shape


class _Prefixed:
    """A read-only stream: ``head`` (bytes already read), then the rest of ``fh``."""

    def __init__(self, head, fh):
        self.head, self.fh = head, fh

    def read(self, n=-1):
        if not self.head:
            return self.fh.read(n)
        out, self.head = (self.head, b"") if n < 0 or n >= len(self.head) else (self.head[:n], self.head[n:])
        return out


def open_npz(path):
    """Open an ``.npz`` archive without unpickling; ``ValueError`` naming ``path`` if it is not one.

    Only a regular file is opened (a zip archive is read by seeking), without blocking.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    archive : numpy.lib.npyio.NpzFile
        Read its arrays with :func:`npz_member`.
    """
    path = Path(path)
    fh = open_input(path)
    try:  # np.load leaks its file when the zip directory is damaged: own the file here
        _check_magic(fh.read(len(_NPY_MAGIC)), path, "npz")
        fh.seek(0)
        return np.lib.npyio.NpzFile(fh, own_fid=True, allow_pickle=False)
    except ValueError as exc:
        fh.close()
        raise ValueError(str(exc) if str(exc).startswith(str(path)) else f"{path}: not a readable .npz file "
                         f"({exc})") from None
    except Exception as exc:
        fh.close()
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from None


def npz_info(archive, key):
    """Return the zip entry of array ``key`` (``key.npy``, else ``key``); ``KeyError`` if none.

    A dictionary lookup: asking ``namelist()`` for every key was quadratic in the members
    (100 000 members: no answer in 170 s).
    """
    try:
        return archive.zip.getinfo(key + ".npy")
    except KeyError:
        return archive.zip.getinfo(key)


def npz_member(archive, key, path, max_bytes=None):
    """Return array ``key`` of an open ``.npz`` archive, with its size checked before reading.

    The member must be an ``.npy`` whose header declares exactly the bytes its zip entry
    holds, and the entry may not claim more than deflate's largest ratio over its compressed
    size, so reading it allocates no more than the archive can really hold.  Anything else
    (a member that is not an ``.npy``, a damaged stream) is a ``ValueError`` naming ``path``.
    ``max_bytes``: refuse an entry larger than this before reading it.
    """
    where = f"{path}: array {key!r}"
    try:
        info = npz_info(archive, key)
        if max_bytes is not None and info.file_size > max_bytes:
            raise ValueError(f"its zip entry holds {info.file_size} bytes; at most {max_bytes} are read")
        if info.file_size > DEFLATE_MAX_RATIO * max(info.compress_size, 1):
            raise ValueError(f"its zip entry claims {info.file_size} bytes from {info.compress_size}")
        with archive.zip.open(info) as fh:
            _check_npy_size(fh, info.file_size, where)
        # Read the very entry just checked: ``archive[key]`` picks its own entry when an archive
        # holds both ``X.npy`` and ``X`` (a fuzzed file declaring 1 TiB in ``X`` got through).
        with archive.zip.open(info) as fh:
            value = np.lib.format.read_array(fh, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
    except Exception as exc:  # zipfile and numpy raise many types for damaged archives
        raise ValueError(f"{where}: damaged .npz archive ({type(exc).__name__}: {exc})") from None
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{where}: not an .npy array")
    return value


#: Keys tried, in order, for the data and the labels of an ``.npz`` archive.
NPZ_DATA_KEYS = ("X", "data", "x")
NPZ_LABEL_KEYS = ("y", "labels", "target")


def load_npz(path, key=None):
    """Read 0/1 data (and labels, if stored) from an ``.npz`` archive (never unpickles).

    Parameters
    ----------
    path : str or path-like
    key : str, optional
        Name of the data array.  Default: the first of ``X``, ``data``, ``x`` present, or the
        only array of the archive.  Labels are read from ``y``, ``labels`` or ``target``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        A 3-D array of images is flattened.
    labels : ndarray of shape (n_samples,) or None
    image_shape : tuple of (int, int) or None
    """
    path = Path(path)
    archive = open_npz(path)
    with archive:
        names = list(archive.files)
        if key is None:
            found = [k for k in NPZ_DATA_KEYS if k in names]
            rest = [k for k in names if k not in NPZ_LABEL_KEYS]
            if found:
                key = found[0]
            elif len(rest) == 1:
                key = rest[0]
            else:
                raise ValueError(f"{path}: cannot tell which array holds the data among {names}; "
                                 f"name it one of {list(NPZ_DATA_KEYS)}")
        if key not in names:
            raise ValueError(f"{path}: no array {key!r} in the archive (it holds {names})")
        label_key = next((k for k in NPZ_LABEL_KEYS if k in names and k != key), None)
        X = npz_member(archive, key, path)
        labels = npz_member(archive, label_key, path) if label_key else None
    image_shape = tuple(X.shape[1:]) if X.ndim == 3 else None
    X = _check_2d(X, path, f"array {key!r}")
    if labels is not None and (labels.ndim != 1 or labels.shape[0] != X.shape[0]):
        raise ValueError(f"{path}: labels {label_key!r} have shape {labels.shape}; expected ({X.shape[0]},)")
    return X, labels, image_shape
