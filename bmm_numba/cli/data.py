"""Data sources of the command line: MNIST folders, the bundled digits, user files, synthetic rows."""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import datasets
from .output import CLIError

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


def _binary(X, source, threshold):
    try:
        return datasets.binarize(X, threshold)
    except datasets.NonBinaryError as exc:
        raise CLIError(f"{source}: value {exc.value:g} at row {exc.row}, column {exc.column} is not 0 or 1; "
                       "pass --threshold T to binarise (values >= T become 1)") from None
    except ValueError as exc:
        raise CLIError(f"{source}: {exc}") from None


def load_data(args):
    """Return the :class:`Dataset` named by ``fit``/``select`` options (first ``--n-samples`` rows)."""
    if args.mnist_dir:
        data = load_mnist_folder(args.mnist_dir, args.split, args.threshold)
    elif args.digits:
        data = load_digits_data(args.threshold)
    elif args.npy:
        X, image_shape = datasets.load_npy(args.npy)
        data = Dataset(_binary(X, args.npy, args.threshold), None, image_shape, f"{args.npy} {X.shape}",
                       Path(args.npy).name)
    elif args.npz:
        X, labels, image_shape = datasets.load_npz(args.npz)
        data = Dataset(_binary(X, args.npz, args.threshold), labels, image_shape, f"{args.npz} {X.shape}",
                       Path(args.npz).name)
    elif args.csv:
        X = datasets.load_csv(args.csv, max_rows=args.n_samples)  # streamed: stops at --n-samples rows
        missing = int(np.isnan(X).sum())
        data = Dataset(_binary(X, args.csv, args.threshold), None, None,
                       f"{args.csv} {X.shape}, {missing} missing cells", Path(args.csv).name)
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
