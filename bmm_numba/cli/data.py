"""Data sources of the command line: MNIST folders, the bundled digits, user files, synthetic rows."""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import datasets
from .output import CLIError, note

__all__ = ["Dataset", "load_data", "load_mnist_folder", "load_digits_data", "synthetic_rows"]

DIGITS_THRESHOLD = 8
MNIST_THRESHOLD = 128


class Dataset(NamedTuple):
    """Binary data with what the report needs to know about them."""

    X: np.ndarray
    labels: np.ndarray | None
    image_shape: tuple | None
    description: str
    name: str
    columns: tuple | None = None  # names of the columns, from a CSV header


def _square_shape(n_features):
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features else None


def load_mnist_folder(folder, split, threshold):
    """Load one MNIST split from ``folder``, binarised at ``threshold``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CLIError(f"MNIST folder {folder} does not exist" if not folder.exists()
                       else f"MNIST folder {folder} is not a folder")
    threshold = MNIST_THRESHOLD if threshold is None else threshold
    X, labels = datasets.load_mnist(folder, split=split, threshold=threshold)
    return Dataset(X, labels, _square_shape(X.shape[1]),
                   f"MNIST {split} from {folder} ({X.shape[0]} x {X.shape[1]}, pixels >= {threshold:g} are 1)",
                   f"MNIST {split}")


def load_digits_data(threshold):
    """Load scikit-learn's digits, binarised at ``threshold``."""
    threshold = DIGITS_THRESHOLD if threshold is None else threshold
    X, labels = datasets.load_digits_binary(threshold=threshold)
    return Dataset(X, labels, (8, 8), f"scikit-learn digits ({X.shape[0]} x 64, pixels >= {threshold:g} of 16 are 1)",
                   "scikit-learn digits")


def _columns_1_based(columns):
    return ",".join(str(c + 1) for c in columns)


def _binary(X, source, threshold, where=None):
    """``datasets.binarize`` with the command line's advice; ``where(row, column)`` names a cell (1-based)."""
    try:
        return datasets.binarize(X, threshold)
    except datasets.NonBinaryError as exc:
        if where is None:
            cell = f"{source}: value {exc.value:g} at row {exc.row + 1}, column {exc.column + 1}"
        else:
            cell = f"{source}, {where(exc.row, exc.column)}: value {exc.value:g}"
        cell += f" is not 0 or 1 ({'rows' if where is None else 'lines'} and columns count from 1)"
        if exc.id_columns:
            ids = _columns_1_based(exc.id_columns)
            advice = (f"column {ids} looks like a row id (increasing integers): drop it with --drop-columns {ids}, "
                      "not --threshold, which would make it data")
        else:
            advice = "pass --threshold T to binarise (values >= T become 1)"
        raise CLIError(f"{cell}; {advice}") from None
    except ValueError as exc:
        raise CLIError(f"{source}: {exc}") from None


def _drop_columns(X, columns, source):
    """``X`` without ``columns`` (0-based; from the 1-based ``--drop-columns``)."""
    if not columns:
        return X
    if columns[-1] >= X.shape[1]:
        raise CLIError(f"--drop-columns {columns[-1] + 1}: {source} has {X.shape[1]} columns (counting from 1)")
    if len(columns) == X.shape[1]:
        raise CLIError(f"--drop-columns drops all {X.shape[1]} columns of {source}")
    return np.delete(X, columns, axis=1)


def _load_csv(args):
    """Read ``--csv`` (streamed up to ``--n-samples`` rows): data, said header, 1-based cell names."""
    try:
        X, info = datasets.load_csv(args.csv, delimiter=getattr(args, "delimiter", None), max_rows=args.n_samples,
                                    return_info=True)
    except datasets.CSVFormatError as exc:
        if exc.suggested_delimiter is None:
            raise
        where = f"{exc.path}, line {exc.line}" if exc.line is not None else exc.path
        where += f", column {exc.column}" if exc.column is not None else ""
        raise CLIError(f"{where}: {exc.problem}; the file looks "
                       f"{datasets.CSV_DELIMITER_NAMES[exc.suggested_delimiter]}-separated: "
                       f"pass --delimiter {_shell_quote(exc.suggested_delimiter)}") from None
    if info.header is not None:
        cells = info.delimiter.join(info.header)
        shown = cells if len(cells) <= 60 else cells[:57] + "..."
        note(f"note: {args.csv}: skipped line {info.header_line} as a header (names; numbers from line "
             f"{info.line_of_row(0)} on): {shown}")
    kept = [c for c in range(X.shape[1]) if c not in set(args.drop_columns or ())]

    def where(row, column):  # 1-based line and column of the file
        return f"line {info.line_of_row(row)}, column {kept[column] + 1}"

    return X, info, where


def _shell_quote(char):
    return {"\t": "'\\t'", ";": "';'", "|": "'|'"}.get(char, char)


def load_data(args):
    """Return the :class:`Dataset` named by ``fit``/``select`` options (first ``--n-samples`` rows)."""
    drop = getattr(args, "drop_columns", None)
    if drop and not (args.npy or args.npz or args.csv):
        raise CLIError("--drop-columns applies to --npy, --npz and --csv files")
    if args.mnist_dir:
        data = load_mnist_folder(args.mnist_dir, args.split, args.threshold)
    elif args.digits:
        data = load_digits_data(args.threshold)
    elif args.npy:
        X, image_shape = datasets.load_npy(args.npy)
        X = _drop_columns(X, drop, args.npy)
        data = Dataset(_binary(X, args.npy, args.threshold), None, None if drop else image_shape,
                       f"{args.npy} {X.shape}", Path(args.npy).name)
    elif args.npz:
        X, labels, image_shape = datasets.load_npz(args.npz)
        if labels is not None and labels.dtype.kind == "f" and not np.isfinite(labels).all():
            raise CLIError(f"{args.npz}: the labels hold NaN or inf (row {int(np.argmin(np.isfinite(labels))) + 1}, "
                           "counting from 1); the report compares components with labels: fill or drop them")
        X = _drop_columns(X, drop, args.npz)
        data = Dataset(_binary(X, args.npz, args.threshold), labels, None if drop else image_shape,
                       f"{args.npz} {X.shape}", Path(args.npz).name)
    elif args.csv:
        X, info, where = _load_csv(args)
        X = _drop_columns(X, drop, args.csv)
        missing = int(np.isnan(X).sum())
        names = None if info.header is None else tuple(np.delete(np.asarray(info.header, dtype=object), drop or []))
        data = Dataset(_binary(X, args.csv, args.threshold, where), None, None,
                       f"{args.csv} {X.shape}, {missing} missing cells", Path(args.csv).name, names)
    elif datasets.mnist_dir_from_env(existing=False):  # a folder named there but missing is an error
        data = load_mnist_folder(datasets.mnist_dir_from_env(existing=False), args.split, args.threshold)
    else:
        raise CLIError(f"no data: choose one of --digits, --mnist-dir DIR, --npy FILE, --npz FILE, --csv FILE "
                       f"(or set {datasets.MNIST_ENV_VAR})")
    if args.n_samples is not None and args.n_samples < data.X.shape[0]:
        n = args.n_samples
        data = data._replace(X=data.X[:n], labels=None if data.labels is None else data.labels[:n],
                             description=f"{data.description}, first {n} rows")
    return data


def synthetic_rows(n_rows, random_state):
    """Generate MNIST-like rows from a random mixture (no files needed)."""
    rng = np.random.default_rng(random_state)
    X = (rng.random((n_rows, 784)) < datasets.MNIST_DENSITY).astype(np.uint8)
    return Dataset(X, None, (28, 28), f"synthetic: {n_rows} x 784 rows of iid Bernoulli({datasets.MNIST_DENSITY}) "
                                      "(MNIST-shaped)", "synthetic MNIST-shaped rows")
