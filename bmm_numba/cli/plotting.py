"""Pictures for the command line: runtime against n, learned prototypes, model selection.

matplotlib is optional (``pip install "bmm_numba[plot]"``) and imported only inside these
functions.  Figures are built with :class:`matplotlib.figure.Figure` and saved by the Agg
renderer; ``pyplot`` is never imported, so no GUI backend or global state is touched.

Every function writes one PNG to ``file`` (a path or a binary file object; the command line
passes a temporary file that it renames afterwards) and returns its size in pixels.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plot_runtimes", "plot_means", "plot_selection", "plot_profiles", "profile_columns", "MissingMatplotlib",
           "PROFILE_MAX_COLUMNS"]

DPI = 100


class MissingMatplotlib(ImportError):
    """matplotlib is not installed."""


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingMatplotlib('matplotlib is not installed: pip install "bmm_numba[plot]"') from None
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _axes(width, height):
    """Return a figure and its one set of axes."""
    fig = _figure(width, height)
    return fig, fig.add_subplot()


def _save(fig, file):
    fig.savefig(file, format="png", dpi=DPI)
    width, height = fig.get_size_inches() * DPI
    return int(round(width)), int(round(height))


def plot_runtimes(records, file, *, title=None, teaching=(), underflowing=(), switches=()):
    """Runtime against n, one line per kernel, on log-log axes (the article's figures in one).

    A timing flagged unreliable (a record's ``warning``: see
    :func:`bmm_numba.cli.compare.flag_unreliable`) is drawn as a hollow marker and the segments
    that touch it faint, so that a cliff made by a busy machine is not read as the kernel's; a
    kernel's known algorithm switch is a dotted vertical line.

    Parameters
    ----------
    records : list of dict
        From :func:`bmm_numba.cli.compare.compare_kernels`; skipped runs (``seconds`` None) are left out.
    file : str, path-like or binary file object
    title : str, optional
    teaching : sequence of str
        Kernels drawn dashed, "(teaching)" in the legend (the faithful teaching kernels).
    underflowing : sequence of str
        Kernels whose legend entry says they return NaN on sharp parameters.
    switches : sequence of (str, int)
        ``(kernel, rows)``: the kernel changes algorithm at ``rows`` rows
        (:func:`bmm_numba.cli.compare.algorithm_switches`).

    Returns
    -------
    size : (int, int)
        Width and height of the PNG in pixels (1000 x 500).
    """
    from matplotlib.lines import Line2D

    fig, ax = _axes(10, 5)
    kernels = list(dict.fromkeys(r["kernel"] for r in records))
    markers = "osD^v<>ph*"
    any_flagged, handles, labels = False, [], []
    for i, kernel in enumerate(kernels):
        timed = [r for r in records if r["kernel"] == kernel and r["seconds"]]
        if not timed:
            continue
        n = np.array([r["n"] for r in timed], dtype=float)
        seconds = np.array([r["seconds"] for r in timed])
        flagged = np.array([bool(r.get("warning")) for r in timed])
        any_flagged |= bool(flagged.any())
        label = kernel + (" (teaching)" if kernel in teaching else "")
        if kernel in underflowing:
            label += " (NaN on sharp params)"
        marker, linestyle = markers[i % len(markers)], "--" if kernel in teaching else "-"
        # segments that touch an unreliable point are drawn faint: a busy machine's cliff is not the kernel's
        (line,) = ax.loglog(n, np.where(flagged, np.nan, seconds), linestyle=linestyle)
        colour = line.get_color()
        if flagged.any():
            ax.loglog(n, seconds, linestyle=linestyle, color=colour, alpha=0.35)
        handles.append(Line2D([], [], color=colour, linestyle=linestyle, marker=marker, markersize=5))
        labels.append(label)
        ax.loglog(n[~flagged], seconds[~flagged], marker=marker, markersize=5, linestyle="none", color=colour)
        ax.loglog(n[flagged], seconds[flagged], marker=marker, markersize=7, linestyle="none", color=colour,
                  markerfacecolor="white", markeredgewidth=1.3)
        skipped = [r["n"] for r in records if r["kernel"] == kernel and r["seconds"] is None]
        if skipped:  # say where the line stops and why
            ax.annotate("skipped", (n[-1], seconds[-1]), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=colour)
    for kernel, rows in switches:
        ax.axvline(rows, color="0.4", linestyle=":", linewidth=1.0)
        ax.annotate(f"{kernel}: table kernel from n={rows}", (rows, 1.0), xycoords=("data", "axes fraction"),
                    textcoords="offset points", xytext=(3, -10), fontsize=7, color="0.3")
    if any_flagged:
        handles.append(Line2D([], [], marker="o", linestyle="none", color="0.3", markerfacecolor="white",
                              markersize=7, markeredgewidth=1.3))
        labels.append("hollow: unreliable timing\n(marked ! in the table)")
    if switches:
        handles.append(Line2D([], [], linestyle=":", color="0.4"))
        labels.append("algorithm switch")
    ax.set_xlabel("n (rows in the E-step)")
    ax.set_ylabel("seconds per E-step (median)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_title(title or "E-step runtime against n", fontsize=10)
    return _save(fig, file)


def plot_means(means, weights, image_shape, file, *, majority=None, title=None):
    """Grid of the component means as images, heaviest first, each titled with its weight.

    Parameters
    ----------
    means : ndarray of shape (n_components, n_features)
        Bernoulli means in [0, 1]; black is 1 (ink), white is 0.
    weights : ndarray of shape (n_components,)
    image_shape : (int, int)
        ``(height, width)`` with ``height * width == n_features``.
    file : str, path-like or binary file object
    majority : sequence of (label, purity, ...), optional
        Per component: the most frequent true label among its samples (None if it has none)
        and its share; further items are ignored.
    title : str, optional

    Returns
    -------
    size : (int, int)
        Width and height of the PNG in pixels.
    """
    means = np.asarray(means, dtype=float)
    weights = np.asarray(weights, dtype=float)
    K = means.shape[0]
    h, w = image_shape
    if h * w != means.shape[1]:
        raise ValueError(f"image shape {image_shape} does not hold {means.shape[1]} features")
    ncols = K if K <= 5 else (5 if K <= 10 else 10)
    nrows = math.ceil(K / ncols)
    fig = _figure(1.6 * ncols + 0.9, 1.75 * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    order = np.argsort(-weights, kind="stable")
    image = None
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, k in zip(axes.ravel(), order, strict=False):
        image = ax.imshow(means[k].reshape(h, w), cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        text = f"#{k}  w={weights[k]:.3f}"
        if majority is not None:
            label, purity = majority[k][:2]
            text += f"\n'{label}' {purity:.0%}" if label is not None else "\nempty"
        ax.set_title(text, fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.8, label="mean (probability of a 1)")
    fig.suptitle(title or f"Component means, K={K} (heaviest first)", fontsize=10)
    return _save(fig, file)


#: Criterion -> (marker, linestyle, colour) of :func:`plot_selection`.
SELECTION_STYLES = {"BIC": ("o", "-", "C0"), "ICL": ("s", "--", "C1"), "AIC": ("^", ":", "C2")}


def plot_selection(table, file, *, title=None):
    """BIC, ICL and AIC against K, one panel each (shared K axis), each minimum starred.

    One panel per criterion, each with its own vertical scale: on MNIST, BIC and ICL differ
    by the entropy term only (under 0.1 % of their value) and on one axes the ICL curve and its
    star hid BIC's entirely.  Each curve has its own marker and line style, and the star is drawn
    above the curve.

    Parameters
    ----------
    table : dict of str -> list
        From :func:`bmm_numba.select_n_components` (columns ``K``, ``BIC``, ``ICL``, ``AIC``).
    file : str, path-like or binary file object
    title : str, optional

    Returns
    -------
    size : (int, int)
        Width and height of the PNG in pixels (800 x 500).
    """
    names = [name for name in SELECTION_STYLES if name in table]
    fig = _figure(8, 5)
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    K = np.asarray(table["K"])
    for ax, name in zip(axes, names, strict=True):
        marker, linestyle, colour = SELECTION_STYLES[name]
        values = np.asarray(table[name], dtype=float)
        ax.plot(K, values, marker=marker, linestyle=linestyle, color=colour, markersize=4, label=name, zorder=2)
        best = int(np.argmin(values))
        ax.plot(K[best], values[best], "*", markersize=14, color=colour, markeredgecolor="black", zorder=5,
                clip_on=False, label=f"min {name}: K={K[best]}")
        ax.margins(x=0.03, y=0.15)  # room for a star at the first or last K
        ax.set_ylabel(name, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("K (number of components)")
    axes[-1].set_xticks(K)
    fig.suptitle(title or "Model selection: information criteria against K (lower is better)", fontsize=10)
    return _save(fig, file)


#: Columns drawn by :func:`plot_profiles`; beyond, the columns where the classes differ most.
PROFILE_MAX_COLUMNS = 40


def profile_columns(means, max_columns=PROFILE_MAX_COLUMNS):
    """Return the columns a profile shows: all up to ``max_columns``, else those the classes split most.

    A column's split is its largest class probability minus its smallest; the kept columns stay
    in file order.
    """
    means = np.asarray(means, dtype=float)
    if means.shape[1] <= max_columns:
        return np.arange(means.shape[1])
    split = means.max(axis=0) - means.min(axis=0)
    return np.sort(np.argsort(-split, kind="stable")[:max_columns])


def plot_profiles(means, weights, file, *, columns=None, title=None, max_columns=PROFILE_MAX_COLUMNS):
    """Class profiles: each class's probability of a 1 per column, one line per class, heaviest first.

    Parameters
    ----------
    means : ndarray of shape (n_components, n_features)
        Bernoulli means in [0, 1].
    weights : ndarray of shape (n_components,)
    file : str, path-like or binary file object
    columns : sequence of str, optional
        Column names (a CSV header); default ``"1"`` ... ``"D"`` (1-based, as ``--drop-columns``).
    title : str, optional
    max_columns : int, default=PROFILE_MAX_COLUMNS
        Beyond this many columns only those where the classes differ most are drawn
        (:func:`profile_columns`), and the title says so.

    Returns
    -------
    size : (int, int)
        The PNG's width and height, pixels.
    """
    means, weights = np.asarray(means, dtype=float), np.asarray(weights, dtype=float)
    K, D = means.shape
    names = [str(j + 1) for j in range(D)] if columns is None else [str(c) for c in columns]
    if len(names) != D:
        raise ValueError(f"{len(names)} column names for {D} columns")
    shown = profile_columns(means, max_columns)
    longest = max(len(names[j]) for j in shown)
    label_inches = min(longest, 40) * 0.075  # rotated labels: room below the axes
    fig, ax = _axes(max(8.0, 0.32 * len(shown) + 3.5), 4.0 + label_inches)
    x = np.arange(len(shown))
    colours = [f"C{k % 10}" for k in range(K)]
    markers = "osD^v<>ph*"
    for rank, k in enumerate(np.argsort(-weights, kind="stable")):
        ax.plot(x, means[k, shown], marker=markers[(rank // 10) % len(markers)], markersize=5,
                color=colours[rank % 10], linestyle="-" if rank < 10 else "--", linewidth=1.4,
                label=f"class {k} ({weights[k]:.0%})")
    ax.set_xticks(x)
    ax.set_xticklabels([names[j] if len(names[j]) <= 40 else names[j][:39] + "…" for j in shown],
                       rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_xlim(-0.5, len(shown) - 0.5)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("probability of a 1 in the class")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              title="class (weight)", title_fontsize=8)
    text = title or f"Class profiles, K={K}"
    if len(shown) < D:
        text += f"\nthe {len(shown)} of {D} columns where the classes differ most"
    ax.set_title(text, fontsize=10)
    return _save(fig, file)
