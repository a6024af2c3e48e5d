"""Plot the scaling benchmarks (``bench/test_bench_scaling.py``) from a saved pytest-benchmark JSON.

Usage::

    python -m pytest bench/test_bench_scaling.py --benchmark-json scaling.json [--bench-large]
    python bench/plot_scaling.py scaling.json --out docs/scaling.png

One panel per axis (N, K, density, threads), median time per call against the axis value, one
line per kernel, log-log (threads: linear in the thread count).  Lines parallel to each other
differ by a constant factor; the crossing points are where the faster kernel changes.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def load(path):
    """Return ``{axis: {kernel: [(value, median seconds), ...]}}``."""
    data = json.loads(Path(path).read_text())
    series = defaultdict(lambda: defaultdict(list))
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        axis = info.get("axis")
        if axis in ("N", "K", "density", "threads"):
            value = info[{"N": "n", "K": "k", "density": "density", "threads": "threads"}[axis]]
            series[axis][info["kernel"]].append((value, bench["stats"]["median"]))
    return series, data.get("machine_info", {}).get("cpu", {}).get("brand_raw", "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json")
    parser.add_argument("--out", default="scaling.png")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series, cpu = load(args.json)
    axes_names = [a for a in ("N", "K", "density", "threads") if a in series]
    # two panels a row: four in one row were 1848 px wide, unreadable at a page's width (issue 23)
    ncols = min(2, len(axes_names))
    nrows = -(-len(axes_names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.8 * nrows), squeeze=False)
    for ax in axes.ravel()[len(axes_names):]:
        ax.set_axis_off()
    for ax, axis in zip(axes.ravel(), axes_names, strict=False):
        for kernel, points in sorted(series[axis].items()):
            points.sort()
            ax.plot([p[0] for p in points], [1e3 * p[1] for p in points], marker="o", label=kernel)
        if axis == "threads":
            ax.set_xticks(sorted({p[0] for points in series[axis].values() for p in points}))
        else:
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel({"N": "rows N", "K": "components K", "density": "fraction of ones",
                       "threads": "threads (N = 60000)"}[axis])
        ax.set_ylabel("E-step, ms (median)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"E-step cost, D = 784 ({cpu})", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
