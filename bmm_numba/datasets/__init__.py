"""Data for examples, tests, benchmarks and the command line.

* MNIST IDX files (:func:`read_idx`, :func:`load_mnist`), validated before anything is allocated;
* scikit-learn's bundled 8x8 digits, binarised (:func:`load_digits_binary`);
* user files: ``.npy``, ``.npz`` and ``.csv`` with missing cells as NaN (:func:`load_npy`,
  :func:`load_npz`, :func:`load_csv`), then :func:`binarize` to check or make 0/1 data;
* generated mixtures (:func:`make_bernoulli_mixture`);
* poLCA's classic dichotomous latent-class data sets, carcinoma, values and cheating (:func:`load_lca`).

Nothing here downloads anything.  MNIST is read from a folder the caller names (or the
``BMM_NUMBA_MNIST_DIR`` environment variable); the digits ship with scikit-learn; generated
data need no files.  Every loader raises ``ValueError`` (bad content) or ``OSError`` (missing or
unreadable file) with the file name in the message, which the command line prints as is.
"""

from __future__ import annotations

from .binary import NonBinaryError, binarize, id_like_columns
from .csv_files import CSV_DELIMITER_NAMES, CSV_DELIMITERS, CSV_MAX_LINE, CSV_MISSING, CSVFormatError, CSVInfo, load_csv
from .generated import make_bernoulli_mixture
from .lca import LCA_DATASETS, load_lca
from .mnist import (
                    DEFLATE_MAX_RATIO,
                    MNIST_DENSITY,
                    MNIST_ENV_VAR,
                    load_digits_binary,
                    load_mnist,
                    mnist_dir_from_env,
                    read_idx,
)
from .numpy_files import NPZ_DATA_KEYS, NPZ_LABEL_KEYS, load_npy, load_npz, npz_member, open_npz

__all__ = [
    "MNIST_ENV_VAR",
    "MNIST_DENSITY",
    "DEFLATE_MAX_RATIO",
    "mnist_dir_from_env",
    "read_idx",
    "load_mnist",
    "load_digits_binary",
    "load_npy",
    "load_npz",
    "open_npz",
    "npz_member",
    "NPZ_DATA_KEYS",
    "NPZ_LABEL_KEYS",
    "load_csv",
    "CSVInfo",
    "CSVFormatError",
    "CSV_MISSING",
    "CSV_MAX_LINE",
    "CSV_DELIMITERS",
    "CSV_DELIMITER_NAMES",
    "binarize",
    "NonBinaryError",
    "id_like_columns",
    "make_bernoulli_mixture",
    "LCA_DATASETS",
    "load_lca",
]
