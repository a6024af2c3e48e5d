"""Three classic latent-class data sets, as published tables of response patterns and their counts.

Part of :mod:`bmm_numba.datasets`, which re-exports the public names.  The tables are the data
sets that R's poLCA ships (Linzer & Lewis 2011, GPL-2.0-or-later; also in the ``polca`` wheel on
the package index under ``pypolca/data/``), reduced to the distinct 0/1 response patterns and their
frequencies: the items are coded 1/2 there and 0/1 here (2 -> 1).  They are small published
tables, kept with their sources:

* ``"carcinoma"``: 118 slides rated by 7 pathologists (A-G) for carcinoma of the uterine cervix
  (1 = present).  Agresti, A. (2002), *Categorical Data Analysis*, 2nd ed., Table 13.1.
* ``"values"``: 216 respondents, 4 dichotomous items (A-D) on universalistic (0) against
  particularistic (1) values.  Stouffer, S. A. & Toby, J. (1951), *American Journal of
  Sociology* 56, 395-406; as analysed by Goodman (1974).
* ``"cheating"``: 319 undergraduates, 4 items on cheating (LIEEXAM, LIEPAPER, FRAUD, COPYEXAM;
  1 = yes).  Dayton, C. M. (1998), *Latent Class Scaling Analysis*, Sage (the GPA covariate of
  poLCA's copy is left out).

The rows come back sorted by pattern (the order of the original files is not information).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LCA_DATASETS", "load_lca"]

# name -> (column names, {pattern as a 0/1 string: count})
_TABLES = {
    "carcinoma": (
        ("A", "B", "C", "D", "E", "F", "G"),
        {"0000000": 34, "0000100": 2, "0100000": 6, "0100001": 1, "0100100": 4, "0100101": 5,
         "1000000": 2, "1010101": 1, "1100000": 2, "1100001": 1, "1100100": 2, "1100101": 7,
         "1100111": 1, "1101001": 1, "1101101": 2, "1101111": 3, "1110101": 13, "1110111": 5,
         "1111101": 10, "1111111": 16},
    ),
    "values": (
        ("A", "B", "C", "D"),
        {"0000": 20, "0001": 2, "0010": 9, "0011": 2, "0100": 6, "0101": 1, "0110": 4, "0111": 1,
         "1000": 38, "1001": 7, "1010": 24, "1011": 6, "1100": 25, "1101": 6, "1110": 23, "1111": 42},
    ),
    "cheating": (
        ("LIEEXAM", "LIEPAPER", "FRAUD", "COPYEXAM"),
        {"0000": 207, "0001": 46, "0010": 7, "0011": 5, "0100": 13, "0101": 4, "0110": 1, "0111": 2,
         "1000": 10, "1001": 3, "1010": 1, "1011": 2, "1100": 11, "1101": 4, "1110": 1, "1111": 2},
    ),
}

#: Names accepted by :func:`load_lca`.
LCA_DATASETS = tuple(_TABLES)


def load_lca(name, *, as_patterns=False):
    """Return one of poLCA's dichotomous data sets as a 0/1 matrix.

    Parameters
    ----------
    name : {"carcinoma", "values", "cheating"}
    as_patterns : bool, default=False
        If True, return the distinct patterns and their counts instead of one row per respondent
        (fit them with ``sample_weight=counts``: the same fit).

    Returns
    -------
    X : ndarray of shape (n_samples, n_items), uint8
        One row per respondent, or per distinct pattern with ``as_patterns``.
    columns : tuple of str
        The item names of the published table.
    counts : ndarray of shape (n_patterns,), int64
        Only with ``as_patterns``.
    """
    if not isinstance(name, str) or name not in _TABLES:
        raise ValueError(f"name must be one of {list(LCA_DATASETS)}; got {name!r}")
    columns, table = _TABLES[name]
    patterns = np.array([[int(c) for c in p] for p in table], dtype=np.uint8)
    counts = np.array(list(table.values()), dtype=np.int64)
    if as_patterns:
        return patterns, columns, counts
    return np.repeat(patterns, counts, axis=0), columns
