"""The pictures at the top of the benchmarks page, drawn from the saved JSON in ``docs/benchmarks/``.

Each table of ``docs/benchmarks.md`` is generated from a JSON file by ``bench/report.py``; its
message is drawn here from the same file, so a new benchmark run changes the picture with the
table and no number is copied by hand.  Each PNG records the SHA-256 of the JSON it was drawn
from (a ``bmm_numba-source`` text chunk): the documentation build (``docs/conf.py``) redraws a
picture whose JSON changed, and ``tests/test_docs_blocks.py`` fails while a committed picture is
stale.  Run ``python docs/bench_figures.py`` to redraw them by hand.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
BENCH = DOCS / "benchmarks"
FIGURES = BENCH / "figures"
KEY = "bmm_numba-source"


def _digest(path):
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def recorded_source(png):
    """Return the ``bmm_numba-source`` text chunk of ``png`` (None when absent or not a PNG)."""
    try:
        data = Path(png).read_bytes()
    except OSError:
        return None
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"tEXt" and body.startswith(KEY.encode() + b"\0"):
            return body.split(b"\0", 1)[1].decode("latin-1")
        at += 12 + length
    return None


def stamp(png, source):
    """Write the SHA-256 of ``source`` into ``png`` as a ``bmm_numba-source`` text chunk (after IHDR)."""
    data = Path(png).read_bytes()
    body = KEY.encode() + b"\0" + _digest(source).encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    end_of_ihdr = 8 + 12 + struct.unpack(">I", data[8:12])[0]
    Path(png).write_bytes(data[:end_of_ihdr] + chunk + data[end_of_ihdr:])


def _save(fig, png):
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, format="png", dpi=100)


def _report():
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from bench import report

    return report


def draw_e_step(source, png):
    """Draw the median E-step time against n on MNIST, every kernel (``compare.png``'s picture, from the benchmark)."""
    from bmm_numba.cli.compare import algorithm_switches
    from bmm_numba.cli.plotting import plot_runtimes
    from bmm_numba.kernels.registry import TEACHING_KERNELS

    medians, _, machine, data, _ = _report().load_e_step_medians(source)
    records = [{"kernel": k, "n": n, "seconds": s, "warning": None} for (k, n), s in medians.items()]
    png.parent.mkdir(parents=True, exist_ok=True)
    plot_runtimes(records, png, teaching=TEACHING_KERNELS, switches=algorithm_switches(records),
                  title=f"E-step time per call against n, K = 10, {data}\n{machine} "
                        f"(median of the rounds; {Path(source).name})")


def draw_em(source, png):
    """Draw the time per EM iteration on MNIST train, one bar per implementation (log scale)."""
    from matplotlib.figure import Figure

    from bmm_numba.cli.compare import format_seconds

    data = json.loads(Path(source).read_text())
    rows = sorted(((b["extra_info"]["kernel"], b["stats"]["median"] / b["extra_info"].get("iterations", 10))
                   for b in data["benchmarks"] if "kernel" in b.get("extra_info", {})), key=lambda r: r[1])
    fig = Figure(figsize=(10, 0.45 * len(rows) + 1.4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    names = [name for name, _ in rows][::-1]
    seconds = [s for _, s in rows][::-1]
    colours = ["C2" if "'numba'" in name else ("C7" if "BernoulliMixture" not in name else "C0") for name in names]
    ax.barh(names, [1e3 * s for s in seconds], color=colours)
    base = next(s for name, s in rows if "'numba'" in name)
    for y, s in enumerate(seconds):
        ax.annotate(f" {format_seconds(s, micro='µs')} ({s / base:.3g}x)", (1e3 * s, y), va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(right=1e3 * max(seconds) * 12)
    ax.set_xlabel("milliseconds per EM iteration (log scale; in brackets: against kernel='numba')")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.set_title(f"One EM iteration on MNIST train (60000 x 784), K = 10 ({Path(source).name})", fontsize=10)
    _save(fig, png)


def draw_whole_fit(source, png):
    """Draw a whole default fit against StepMix's, per data set: median seconds side by side (log scale)."""
    import numpy as np
    from matplotlib.figure import Figure

    result = json.loads(Path(source).read_text())
    default = result["settings"].get("accelerate")  # the estimator's rows of its default scheme only
    rows = [r for r in result["panels"].get("whole", []) if r["side"] != "bmm" or default is None
            or r.get("accelerate", default) == default]
    names = list(dict.fromkeys(r["data"] for r in rows))
    K = result["settings"]["K"]

    def median(side, name):
        values = [r["seconds"] for r in rows if r["data"] == name and r["side"] == side and r.get("seconds")]
        return float(np.median(values)) if values else np.nan

    ours = np.array([median("bmm", n) for n in names])
    theirs = np.array([median("stepmix", n) for n in names])
    fig = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(names))
    ax.bar(x - 0.2, ours, 0.4, label="BernoulliMixture (defaults)", color="C2")
    ax.bar(x + 0.2, theirs, 0.4, label="StepMix, same n_init, tol, max_iter", color="C7")
    for i in range(len(names)):
        if ours[i] == ours[i] and theirs[i] == theirs[i]:
            ax.annotate(f"{theirs[i] / ours[i]:.3g}x", (x[i] + 0.2, theirs[i]), ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x)
    ax.set_xticklabels([n.replace("_", " ") + (f"\nK = {K[n]}" if isinstance(K, dict) else "") for n in names])
    ax.set_yscale("log")
    ax.set_ylim(top=np.nanmax(theirs) * 3)  # room for the ratios above the bars
    ax.set_ylabel("seconds per whole fit (median over seeds)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=9, loc="upper right")
    where = "" if isinstance(K, dict) else f", K = {K}"
    ax.set_title(f"A whole default fit{where}: validation, start, EM to tol, final E-step ({Path(source).name})",
                 fontsize=10)
    _save(fig, png)


#: picture -> (drawing function, JSON in docs/benchmarks/)
FIGURE_SOURCES = {"e_step.png": (draw_e_step, "e_step_mnist.json"), "em.png": (draw_em, "em_mnist.json"),
                  "whole_fit.png": (draw_whole_fit, "whole_fit.json")}


def update(check=False):
    """Redraw each picture whose JSON changed (``check``: only list them); return the stale pictures."""
    stale = []
    for name, (draw, json_name) in FIGURE_SOURCES.items():
        png, source = FIGURES / name, BENCH / json_name
        if not source.is_file() or recorded_source(png) == _digest(source):
            continue
        stale.append(png)
        if not check:
            draw(source, png)
            stamp(png, source)
    return stale


if __name__ == "__main__":
    for path in update():
        print(f"wrote {path.relative_to(ROOT)}")
