"""Class profiles for tabular data: each class's distinctive columns (printed) and ``profile.png``.

``fit`` and ``select`` call :func:`report_profiles` for data that are not images; the picture
is :func:`bmm_numba.cli.plotting.plot_profiles`.
"""

from __future__ import annotations

import numpy as np

from .output import atomic_write
from .output import note as _note

__all__ = ["DISTINCTIVE_COLUMNS", "distinctive_columns", "report_profiles"]


#: Columns named per class in the printed profile.
DISTINCTIVE_COLUMNS = 4


def distinctive_columns(means, weights, top=DISTINCTIVE_COLUMNS):
    """Per class, the ``top`` columns whose probability of a 1 differs most from the whole data's.

    The whole data's probability of column ``j`` is the mixture's, ``sum_k weights[k] means[k, j]``.

    Returns
    -------
    rows : list of (int, list of (int, float, float))
        Heaviest class first: ``(k, [(column, class probability, overall probability), ...])``.
    """
    means = np.asarray(means, dtype=float)
    weights = np.asarray(weights, dtype=float)
    overall = weights @ means
    rows = []
    for k in np.argsort(-weights, kind="stable"):
        order = np.argsort(-np.abs(means[k] - overall), kind="stable")[:top]
        rows.append((int(k), [(int(j), float(means[k, j]), float(overall[j])) for j in order]))
    return rows


def report_profiles(bm, data, out, title):
    """Print each class's most distinctive columns and write ``out/profile.png``; return the paths written.

    Parameters
    ----------
    bm : BernoulliMixture
        Fitted; ``labels_`` (when present) gives each class's row count.
    data : bmm_numba.cli.data.Dataset
        Its ``columns`` (a CSV header) name the columns, else ``column 1`` ... ``column D``.
    out : pathlib.Path
    title : str
        Title of the picture.
    """
    from .plotting import MissingMatplotlib, plot_profiles

    D = bm.means_.shape[1]
    names = list(data.columns) if data.columns is not None else [f"column {j + 1}" for j in range(D)]
    counts = np.bincount(bm.labels_, minlength=bm.weights_.shape[0]) if hasattr(bm, "labels_") else None
    print()
    print("class profiles: the columns where each class differs most from all rows "
          "(probability of a 1 in the class, over all rows in brackets)")
    for k, cells in distinctive_columns(bm.means_, bm.weights_):
        size = f", {counts[k]} rows" if counts is not None else ""
        shown = ", ".join(f"{_short(names[j])} {p:.2f} ({q:.2f})" for j, p, q in cells)
        print(f"  class {k} ({bm.weights_[k]:.0%}{size}): {shown}")
    path = out / "profile.png"
    try:
        with atomic_write(path) as fh:
            plot_profiles(bm.means_, bm.weights_, fh, columns=data.columns, title=title)
    except MissingMatplotlib as exc:
        _note(f"note: no profile.png: {exc}")
        return []
    return [path]


def _short(name, width=28):
    return name if len(name) <= width else name[:width - 1] + "…"
