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

__all__ = ["plot_runtimes", "plot_means", "plot_selection", "MissingMatplotlib"]

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


def plot_runtimes(records, file, *, title=None, teaching=(), underflowing=()):
    """Runtime against n, one line per kernel, on log-log axes (the article's figures in one).

    Parameters
    ----------
    records : list of dict
        From :func:`bmm_numba.cli.compare.compare_kernels`; skipped runs (``seconds`` None) are left out.
    file : str, path-like or binary file object
    title : str, optional
    teaching : sequence of str
        Kernels drawn dashed (the faithful teaching kernels).
    underflowing : sequence of str
        Kernels whose legend entry says they return NaN on sharp parameters.

    Returns
    -------
    size : (int, int)
        Width and height of the PNG in pixels (1000 x 500).
    """
    fig, ax = _axes(10, 5)
    kernels = list(dict.fromkeys(r["kernel"] for r in records))
    markers = "osD^v<>ph*"
    for i, kernel in enumerate(kernels):
        points = [(r["n"], r["seconds"]) for r in records if r["kernel"] == kernel and r["seconds"]]
        if not points:
            continue
        n, seconds = np.array(points).T
        label = kernel
        if kernel in underflowing:
            label += " (NaN on sharp params)"
        ax.loglog(n, seconds, marker=markers[i % len(markers)], markersize=4,
                  linestyle="--" if kernel in teaching else "-", label=label)
        skipped = [r["n"] for r in records if r["kernel"] == kernel and r["seconds"] is None]
        if skipped:  # say where the line stops and why
            ax.annotate("skipped", (n[-1], seconds[-1]), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=ax.lines[-1].get_color())
    ax.set_xlabel("n (rows in the E-step)")
    ax.set_ylabel("seconds per E-step (median)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_title(title or "E-step runtime against n (dashed: teaching kernels)", fontsize=10)
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
