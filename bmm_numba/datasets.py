"""Data for examples, tests, benchmarks and the command line.

* MNIST IDX files (:func:`read_idx`, :func:`load_mnist`), validated before anything is allocated;
* scikit-learn's bundled 8x8 digits, binarised (:func:`load_digits_binary`);
* user files: ``.npy``, ``.npz`` and ``.csv`` with missing cells as NaN (:func:`load_npy`,
  :func:`load_npz`, :func:`load_csv`), then :func:`binarize` to check or make 0/1 data;
* generated mixtures (:func:`make_bernoulli_mixture`).

Nothing here downloads anything.  MNIST is read from a folder the caller names (or the
``BMM_NUMBA_MNIST_DIR`` environment variable); the digits ship with scikit-learn; generated
data need no files.  Every loader raises ``ValueError`` (bad content) or ``OSError`` (missing or
unreadable file) with the file name in the message, which the command line prints as is.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "MNIST_ENV_VAR",
    "MNIST_DENSITY",
    "mnist_dir_from_env",
    "read_idx",
    "load_mnist",
    "load_digits_binary",
    "load_npy",
    "load_npz",
    "load_csv",
    "CSVInfo",
    "CSVFormatError",
    "binarize",
    "NonBinaryError",
    "id_like_columns",
    "make_bernoulli_mixture",
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


def _check_magic(path, kind):
    """Return ``Path(path)`` if the file starts as a ``kind`` ("npy" or "npz") file should."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(6)
    names = {"npy": (_NPY_MAGIC, "a .npy file", "no NumPy header"), "npz": (_ZIP_MAGIC, "an .npz archive",
                                                                          "no zip header")}
    other = "npz" if kind == "npy" else "npy"
    if magic.startswith(names[other][0]):
        raise ValueError(f"{path}: is {names[other][1]}, not {names[kind][1]}")
    if not magic.startswith(names[kind][0]):
        raise ValueError(f"{path}: not {names[kind][1]} ({names[kind][2]})")
    return path


def _check_npy_size(fh, stored, where):
    """Read the ``.npy`` header at ``fh`` and check the data it declares fill ``stored`` bytes.

    NumPy allocates the declared array before reading it, so a header declaring terabytes
    would allocate (or fail with ``MemoryError``) before a short file is noticed.
    """
    try:
        version = np.lib.format.read_magic(fh)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy format version {version}")
        shape, _, dtype = read_header(fh, max_header_size=10000)
    except Exception as exc:  # numpy raises ValueError, EOFError... for damaged headers
        raise ValueError(f"{where}: not a readable .npy file ({exc})") from None
    if dtype.hasobject:
        raise ValueError(f"{where}: not a readable .npy file (it holds Python objects, dtype {dtype}; "
                         "only numbers are read)")
    declared = fh.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared != stored:
        raise ValueError(f"{where}: the .npy header declares shape {shape} of {dtype} ({declared} bytes "
                         f"with the header) but {stored} bytes are stored")


def load_npy(path):
    """Read a ``.npy`` file of 0/1 data (never unpickles).

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
    path = _check_magic(path, "npy")
    with open(path, "rb") as fh:
        _check_npy_size(fh, os.fstat(fh.fileno()).st_size, path)
    try:
        X = np.load(path, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:  # numpy raises ValueError, EOFError, OSError... for damaged files
        raise ValueError(f"{path}: not a readable .npy file ({exc})") from None
    if not isinstance(X, np.ndarray):
        raise ValueError(f"{path}: not a .npy file (it looks like an .npz archive; use the .npz loader)")
    image_shape = tuple(X.shape[1:]) if X.ndim == 3 else None
    return _check_2d(X, path), image_shape


def open_npz(path):
    """Open an ``.npz`` archive without unpickling; ``ValueError`` naming ``path`` if it is not one.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    archive : numpy.lib.npyio.NpzFile
        Read its arrays with :func:`npz_member`.
    """
    path = _check_magic(path, "npz")
    fh = open(path, "rb")
    try:  # np.load leaks its file when the zip directory is damaged: own the file here
        return np.lib.npyio.NpzFile(fh, own_fid=True, allow_pickle=False)
    except Exception as exc:
        fh.close()
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from None


def npz_member(archive, key, path):
    """Return array ``key`` of an open ``.npz`` archive, with its size checked before reading.

    The member must be an ``.npy`` whose header declares exactly the bytes its zip entry
    holds, and the entry may not claim more than deflate's largest ratio over its compressed
    size, so reading it allocates no more than the archive can really hold.  Anything else
    (a member that is not an ``.npy``, a damaged stream) is a ``ValueError`` naming ``path``.
    """
    where = f"{path}: array {key!r}"
    try:
        info = archive.zip.getinfo(key + ".npy" if key + ".npy" in archive.zip.namelist() else key)
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


#: Cells read as missing (NaN) in a CSV file, compared after stripping and lower-casing.
CSV_MISSING = frozenset({"", "na", "nan", "?", "null", "none"})


#: Longest CSV line read, in characters (64 Mi): a file with no line breaks (``/dev/zero``)
#: fails here instead of growing one line without bound.
CSV_MAX_LINE = 1 << 26

#: Rows parsed into one float64 block before the next block is started.
_CSV_BLOCK_ROWS = 4096


def _csv_lines(fh, path):
    """Yield the lines of a text file, each at most :data:`CSV_MAX_LINE` characters."""
    while True:
        line = fh.readline(CSV_MAX_LINE)
        if not line:
            return
        if "\x00" in line:
            raise ValueError(f"{path}: not a CSV text file (it holds NUL bytes)")
        if len(line) == CSV_MAX_LINE and not line.endswith("\n"):
            raise ValueError(f"{path}: a line is longer than {CSV_MAX_LINE} characters; not a CSV file of 0/1 data")
        yield line


#: Separators :func:`load_csv` tells apart on its own, in order of preference.
CSV_DELIMITERS = (",", ";", "\t", "|")
CSV_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}

#: Lines :func:`load_csv` looks at to guess the separator (at most :data:`_SNIFF_CHARS` characters).
_SNIFF_LINES, _SNIFF_CHARS = 5, 1 << 20


class CSVFormatError(ValueError):
    """A CSV file :func:`load_csv` cannot read as numbers.

    Attributes
    ----------
    path : str
    line, column : int or None
        Where, 1-based as in an editor (None: the whole file, or the whole line).
    suggested_delimiter : str or None
        A separator the failing cell holds, when it is likely the file's real one.
    """

    def __init__(self, path, line, message, suggested_delimiter=None, column=None):
        self.path, self.line, self.column, self.problem = str(path), line, column, message
        self.suggested_delimiter = suggested_delimiter
        where = f"{path}, line {line}" if line is not None else f"{path}"
        where += f", column {column}" if column is not None else ""
        hint = ""
        if suggested_delimiter is not None:
            hint = (f"; the file looks {CSV_DELIMITER_NAMES[suggested_delimiter]}-separated: "
                    f"pass delimiter={suggested_delimiter!r}")
        super().__init__(f"{where}: {message}{hint}")


class CSVInfo(NamedTuple):
    """What :func:`load_csv` (``return_info=True``) found besides the numbers.

    Attributes
    ----------
    delimiter : str
        The separator used (given, or guessed).
    header : tuple of str or None
        The cells of the skipped header line, or None when the file has none.
    header_line : int or None
        Its line number (1-based).
    row_lines : tuple of (int, int)
        Breakpoints ``(row, line)``: row ``row`` (0-based) of ``X`` is on line ``line`` and the
        following rows on the following lines, up to the next breakpoint.  See :meth:`line_of_row`.
    """

    delimiter: str
    header: tuple | None
    header_line: int | None
    row_lines: tuple

    def line_of_row(self, row):
        """Return the 1-based line of the file holding row ``row`` (0-based) of the returned array."""
        at = max(i for i, (first, _) in enumerate(self.row_lines) if first <= row)
        first, line = self.row_lines[at]
        return line + row - first


def _cell(text):
    """Return a cell as a float (NaN when missing); ``ValueError`` when it is not a number."""
    return np.nan if text.strip().lower() in CSV_MISSING else float(text)


def _bad_cell(cells):
    """``(index, text)`` of the first cell that is neither a number nor missing, else None."""
    for i, c in enumerate(cells):
        if c.strip().lower() not in CSV_MISSING and not _is_float(c):
            return i, c
    return None


def _guess_delimiter(lines):
    """Return the candidate of :data:`CSV_DELIMITERS` found equally often (> 0) on every line.

    ``lines`` are the first non-blank lines (the first may be a header).  Several candidates:
    the most frequent; none consistent: the most frequent on the lines after the first; none
    at all: ``","`` (one column).
    """
    counts = {d: [line.count(d) for line in lines] for d in CSV_DELIMITERS}
    consistent = [d for d, c in counts.items() if c and c[0] > 0 and len(set(c)) == 1]
    if consistent:
        return max(consistent, key=lambda d: counts[d][0])
    data = {d: sum(c[1:]) for d, c in counts.items()}
    best = max(CSV_DELIMITERS, key=lambda d: data[d])
    return best if data[best] else ","


def _other_delimiter(text, delimiter):
    """Return a candidate separator other than ``delimiter`` that ``text`` holds, else None."""
    return next((d for d in CSV_DELIMITERS if d != delimiter and d in text), None)


def load_csv(path, delimiter=None, max_rows=None, *, return_info=False):
    """Read a CSV file of 0/1 values; empty cells (and ``NA``, ``NaN``, ``?``) become NaN.

    The first line is a header (skipped) only when it holds a cell that is not a number and
    the next line is all numbers; ``return_info=True`` returns what was skipped.  Any other
    cell that is not a number is an error naming its line (1-based, as in an editor) and,
    when the cell holds another separator (``0;1;0`` read with ``,``), the separator to pass.
    The file is read line by line into float64 blocks (at most twice the returned array in
    memory, where a list of Python floats took ~18 times the file), and reading stops after
    ``max_rows`` data rows.

    Parameters
    ----------
    path : str or path-like
    delimiter : str or None, default=None
        The cell separator; None guesses it among ``,`` ``;`` tab ``|`` from the first lines
        (the one found the same number of times on each; ``,`` when none is).
    max_rows : int or None, default=None
        Read at most this many data rows (the first ones).
    return_info : bool, default=False
        Also return a :class:`CSVInfo`: the separator, the skipped header and the line of
        each row.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        NaN marks a missing cell.
    info : CSVInfo
        Only with ``return_info=True``.

    Raises
    ------
    CSVFormatError
        A cell that is not a number, rows of different lengths, no data rows, or not a
        readable text file (a ``ValueError``).
    """
    path = Path(path)
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1):
        raise ValueError(f"max_rows must be None or an integer >= 1; got {max_rows!r}")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise ValueError(f"delimiter must be None or one character; got {delimiter!r}")
    blocks, block, n_rows, n_cols = [], None, 0, None
    header, pending, row_lines, last_line = None, None, [], None
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            lines = _csv_lines(fh, path)
            peeked, chars = [], 0
            for line in lines:
                peeked.append(line)
                chars += len(line)
                if sum(1 for x in peeked if x.strip()) >= _SNIFF_LINES or chars >= _SNIFF_CHARS:
                    break
            guessed = delimiter is None
            if guessed:
                delimiter = _guess_delimiter([x for x in peeked if x.strip()])
            reader = csv.reader(itertools.chain(peeked, lines), delimiter=delimiter)
            for cells in reader:
                if not cells:  # blank line
                    continue
                try:
                    row = [_cell(c) for c in cells]
                except ValueError:
                    if n_cols is None and pending is None:
                        pending = (reader.line_num, cells)  # a header if the next line is numbers
                        continue
                    at, lineno = (pending[1], pending[0]) if pending is not None else (cells, reader.line_num)
                    column, bad = _bad_cell(at)
                    raise CSVFormatError(path, lineno, f"{bad!r} is not a number", _other_delimiter(bad, delimiter),
                                         column + 1) from None
                if pending is not None:
                    header_line, header = pending
                    pending = None
                if n_cols is None:
                    n_cols = len(row)
                elif len(row) != n_cols:
                    raise CSVFormatError(path, reader.line_num, f"{len(row)} cells; the first data line "
                                         f"(line {row_lines[0][1]}) has {n_cols}")
                if reader.line_num != (last_line or 0) + 1 or not row_lines:
                    row_lines.append((n_rows, reader.line_num))
                last_line = reader.line_num
                if block is None or n_rows % _CSV_BLOCK_ROWS == 0:
                    block = np.empty((_CSV_BLOCK_ROWS, n_cols))
                    blocks.append(block)
                block[n_rows % _CSV_BLOCK_ROWS] = row
                n_rows += 1
                if n_rows == max_rows:
                    break
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CSVFormatError(path, None, f"not a readable CSV text file ({exc})") from None
    if not n_rows:
        if pending is not None:
            column, bad = _bad_cell(pending[1])
            raise CSVFormatError(path, pending[0], f"{bad!r} is not a number, and no data rows follow",
                                 _other_delimiter(bad, delimiter), column + 1)
        raise CSVFormatError(path, None, "no data rows")
    X = np.empty((n_rows, n_cols))
    blocks.reverse()
    for start in range(0, n_rows, _CSV_BLOCK_ROWS):
        stop = min(start + _CSV_BLOCK_ROWS, n_rows)
        X[start:stop] = blocks.pop()[:stop - start]
    X = _check_2d(X, path, "table")
    if not return_info:
        return X
    return X, CSVInfo(delimiter, None if header is None else tuple(header),
                      None if header is None else header_line, tuple(row_lines))


def _is_float(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


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
