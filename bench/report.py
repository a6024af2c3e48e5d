"""Turn saved pytest-benchmark JSON into the markdown tables of the README and the docs.

Usage::

    python bench/report.py .benchmarks/*/0001_*.json            # latest run by default
    python bench/report.py RUN.json --sizes 5,100,1000
    python bench/report.py --update                               # rewrite the committed tables
    python bench/report.py --check                                # exit 1 when one is stale

Prints median time per kernel and n, then speed-ups against attempt 1 (``python_loops``) and
against attempt 4 (``numpy``), computed from medians of the same run.

``--update`` regenerates every table between ``<!-- report:NAME -->`` and ``<!-- /report:NAME -->``
in ``README.md`` and ``docs/benchmarks.md`` from the JSON saved in ``docs/benchmarks/`` (``SECTIONS``
names the renderer and the file of each ``NAME``), so no number is copied by hand; the docs build
(``docs/conf.py``) and ``tests/test_docs_blocks.py`` fail when a committed table is stale.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bmm_numba.cli.compare import format_seconds

if __package__ in (None, ""):  # run as a script (python bench/report.py): the repository root holds bench/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.whole_fit_report import markdown as whole_fit_markdown  # noqa: E402
from bench.whole_fit_report import whole_summary as whole_fit_summary  # noqa: E402


def _fmt_time(seconds):
    return format_seconds(seconds, micro="µs")  # the README's tables use the micro sign


def _fmt_ratio(ratio):
    """Three significant digits, never an exponent: ``0.352×``, ``50×``, ``3,670×``."""
    if ratio >= 100:
        digits = len(str(int(ratio))) - 3
        return f"{round(ratio, -digits):,.0f}×"
    return f"{ratio:.3g}×"


def load_e_step_medians(path):
    """Read one saved run: ``(medians, fresh, machine description, data description, compile times)``.

    ``medians``: ``{(kernel, n): median seconds}`` of the article's harness (one ``(mu, pi)``
    for every call); ``fresh``: the same for ``test_e_step_new_parameters``.
    """
    data = json.loads(Path(path).read_text())
    runs = {None: {}, "new every call": {}}
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if "kernel" in info and "n" in info and info.get("parameters") in runs:
            runs[info.get("parameters")][(info["kernel"], int(info["n"]))] = bench["stats"]["median"]
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw", "unknown CPU")
    cores = machine.get("cpu", {}).get("count", "?")
    desc = f"{cpu}, {cores} cores, Python {machine.get('python_version', '?')}"
    compile_times = {
        b["extra_info"]["kernel"]: b["stats"]["median"]
        for b in data["benchmarks"] if b.get("group") == "JIT compile"
    }
    source = data.get("bmm_numba_data", machine.get("bmm_numba_data", "?"))  # machine_info: older runs
    return runs[None], runs["new every call"], desc, source, compile_times


def _table(kernels, sizes, cell):
    lines = ["| kernel | " + " | ".join(f"n={n}" for n in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for kernel in kernels:
        lines.append(f"| `{kernel}` | " + " | ".join(cell(kernel, n) for n in sizes) + " |")
    return "\n".join(lines)


def render(path, sizes=None):
    """Markdown for one saved run."""
    medians, fresh, machine, data, compile_times = load_e_step_medians(path)
    kernels = list(dict.fromkeys(k for k, _ in medians))
    all_sizes = sorted({n for _, n in medians})
    sizes = [n for n in (sizes or all_sizes) if n in all_sizes]

    def ratio(base):
        def cell(kernel, n):
            if (kernel, n) not in medians or (base, n) not in medians:
                return "–"
            return _fmt_ratio(medians[(base, n)] / medians[(kernel, n)])
        return cell

    out = [f"Machine: {machine}. Data: {data}. Median of the rounds of one run (`{Path(path).name}`).", "",
           "Median time per call:", "",
           _table(kernels, sizes, lambda k, n: _fmt_time(medians[(k, n)]) if (k, n) in medians else "–"),
           "", "Speed-up against attempt 1 (`python_loops`):", "", _table(kernels, sizes, ratio("python_loops")),
           "", "Speed-up against attempt 4 (`numpy`):", "", _table(kernels, sizes, ratio("numpy"))]
    if fresh:
        fresh_kernels = list(dict.fromkeys(k for k, _ in fresh))
        fresh_sizes = sorted({n for _, n in fresh})

        def fresh_cell(kernel, n):
            if (kernel, n) not in fresh:
                return "–"
            ratio = f" ({_fmt_ratio(fresh[('numpy', n)] / fresh[(kernel, n)])})" if ("numpy", n) in fresh else ""
            return _fmt_time(fresh[(kernel, n)]) + ratio
        out += ["", "New parameters every call (`test_e_step_new_parameters`: no reuse of prepared terms; "
                "in brackets, speed-up against `numpy`):", "", _table(fresh_kernels, fresh_sizes, fresh_cell)]
    if compile_times:
        out += ["", "Cold JIT compile + first call (no cache): "
                + ", ".join(f"`{k}` {_fmt_time(v)}" for k, v in compile_times.items()) + "."]
    return "\n".join(out)


def _load_medians(path):
    """``(machine description, benchmarks)`` of a saved run: each benchmark's extra info and median."""
    data = json.loads(Path(path).read_text())
    cpu = data.get("machine_info", {}).get("cpu", {})
    machine = f"{cpu.get('brand_raw', 'unknown CPU')}, {cpu.get('count', '?')} cores"
    return machine, [(b.get("extra_info", {}), b["stats"]["median"], b.get("group", "")) for b in data["benchmarks"]]


def render_headline(path):
    """The README's one table: each kernel at n = 1000 and on all 60000 MNIST training images."""
    medians, _, machine, data, _ = load_e_step_medians(path)
    kernels = list(dict.fromkeys(k for k, _ in medians))
    lines = ["| kernel | n = 1000 | vs attempt 1 | n = 60000 | vs attempt 4 (`numpy`) |", "|---|---|---|---|---|"]
    for kernel in kernels:
        cells = []
        for n, base in ((1000, "python_loops"), (60000, "numpy")):
            if (kernel, n) in medians:
                speed = _fmt_ratio(medians[(base, n)] / medians[(kernel, n)]) if (base, n) in medians else "–"
                cells += [_fmt_time(medians[(kernel, n)]), speed]
            else:
                cells += ["–", "–"]
        lines.append(f"| `{kernel}` | " + " | ".join(cells) + " |")
    return (f"Median E-step time per call, K = 10, {data} ({machine}; `{Path(path).name}`):\n\n"
            + "\n".join(lines))


def render_em(path):
    """Ten EM iterations on MNIST train per implementation, against ``BernoulliMixture(kernel='numba')``."""
    machine, benches = _load_medians(path)
    rows = [(info["kernel"], info.get("iterations", 10), median, group) for info, median, group in benches
            if "kernel" in info]
    base = next(median / iters for kernel, iters, median, _ in rows if "'numba'" in kernel)
    data = next((info.get("data") for info, _, _ in benches if info.get("data")), "?")
    lines = ["| implementation | iterations timed | median time | per iteration | vs `kernel='numba'` |",
             "|---|---|---|---|---|"]
    for kernel, iters, median, _ in sorted(rows, key=lambda r: r[2] / r[1]):
        per = median / iters
        lines.append(f"| {kernel} | {iters} | {_fmt_time(median)} | {_fmt_time(per)} | {_fmt_ratio(per / base)} |")
    return f"Data: {data}, K = 10 ({machine}; `{Path(path).name}`).\n\n" + "\n".join(lines)


def render_em_summary(path):
    """One sentence: ten EM iterations with the default kernel against the reference EM and StepMix."""
    _, benches = _load_medians(path)
    per_iter = {info["kernel"]: median / info.get("iterations", 10) for info, median, _ in benches if "kernel" in info}
    ours = next(k for k in per_iter if "'numba'" in k)
    others = [k for k in per_iter if k.startswith(("NumPy one-GEMM", "StepMix"))]
    versus = " and ".join(f"{_fmt_ratio(per_iter[k] / per_iter[ours])} faster than {k}" for k in others)
    return (f"Ten EM iterations on all 60000 MNIST training images (K = 10) take "
            f"{_fmt_time(10 * per_iter[ours])} with `{ours}`: {versus} (`{Path(path).name}`).")


SCALING_AXES = {"N": ("n", "N"), "K": ("k", "K"), "density": ("density", "share of ones"),
                "threads": ("threads", "threads"), "D": ("d", "D")}


def render_scaling(path):
    """One table per axis of ``bench/test_bench_scaling.py``: median time per kernel and axis value."""
    machine, benches = _load_medians(path)
    titles, by_axis = {}, {}
    for info, median, group in benches:
        axis = info.get("axis")
        if axis in SCALING_AXES:
            # the group names the fixed sizes, then (except on the D axis) the value of this benchmark
            titles.setdefault(axis, group if axis == "D" else group.rsplit(" ", 1)[0])
            by_axis.setdefault(axis, {})[(info["kernel"], info[SCALING_AXES[axis][0]])] = median
    out = [f"Median E-step time per call on generated rows ({machine}; `{Path(path).name}`)."]
    for axis, cells in by_axis.items():
        label = SCALING_AXES[axis][1]
        kernels = list(dict.fromkeys(k for k, _ in cells))
        values = sorted({v for _, v in cells})
        head = [f"{label} = {v:,}" if isinstance(v, int) else f"{label} = {v:g}" for v in values]
        lines = [f"| kernel | {' | '.join(head)} |", "|---|" + "---|" * len(values)]
        for kernel in kernels:
            lines.append(f"| `{kernel}` | " + " | ".join(
                _fmt_time(cells[(kernel, v)]) if (kernel, v) in cells else "–" for v in values) + " |")
        out += ["", f"**{titles[axis]}**:", "", *lines]
    return "\n".join(out)


def render_whole_fit(path):
    """``bench/whole_fit.py``'s report: command, machine, whole fits against StepMix, split, tiny data, selection."""
    return whole_fit_markdown(json.loads(Path(path).read_text()))


def render_whole_fit_summary(path):
    """One sentence: the whole default fit against StepMix's on each data set measured."""
    result = json.loads(Path(path).read_text())
    parts = []
    for name, K, ours, theirs in whole_fit_summary(result):
        if ours == ours and theirs == theirs:
            parts.append(f"{name.replace('_', ' ')} (K = {K}) {_fmt_time(ours)} against {_fmt_time(theirs)} "
                         f"({_fmt_ratio(theirs / ours)})")
    machine = result["machine"]
    return (f"A whole default fit (validation, the short-EM start, EM to `tol`, the final E-step), "
            f"median over seeds, against StepMix's with the same `n_init`, `tol` and "
            f"`max_iter`: {'; '.join(parts)} ({machine['cpu']}, {machine['cpu_count']} cores; "
            f"`{Path(path).name}`).")


BENCH_DIR = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
#: marker name -> (renderer, saved JSON in docs/benchmarks/)
SECTIONS = {
    "headline": (render_headline, "e_step_mnist.json"),
    "e_step": (render, "e_step_mnist.json"),
    "em": (render_em, "em_mnist.json"),
    "em_summary": (render_em_summary, "em_mnist.json"),
    "scaling": (render_scaling, "scaling.json"),
    "whole_fit": (render_whole_fit, "whole_fit.json"),
    "whole_fit_summary": (render_whole_fit_summary, "whole_fit.json"),
}
#: files, relative to the repository root, whose marked tables ``--update`` rewrites
GENERATED_FILES = ("README.md", "docs/index.md", "docs/benchmarks.md")
_MARKED = re.compile(r"(<!-- report:(\w+) -->\n)(.*?)(<!-- /report:\2 -->)", re.S)


def update_text(text):
    """``text`` with every marked table regenerated from its JSON."""
    def fill(match):
        name = match.group(2)
        if name not in SECTIONS:
            raise KeyError(f"unknown report section {name!r}; known: {', '.join(SECTIONS)}")
        renderer, json_name = SECTIONS[name]
        return f"{match.group(1)}\n{renderer(BENCH_DIR / json_name)}\n\n{match.group(4)}"
    return _MARKED.sub(fill, text)


def update_files(paths, check=False):
    """Regenerate the marked tables of ``paths``; return the paths that were (``check``: would be) changed."""
    changed = []
    for path in map(Path, paths):
        text = path.read_text(encoding="utf-8")
        new = update_text(text)
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new, encoding="utf-8")
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="?", help="saved benchmark JSON (default: newest under .benchmarks/)")
    parser.add_argument("--sizes", help="comma-separated n to show (default: all)")
    parser.add_argument("--update", action="store_true",
                        help="rewrite the marked tables of " + ", ".join(GENERATED_FILES))
    parser.add_argument("--check", action="store_true", help="exit 1 when a marked table differs from the JSON")
    args = parser.parse_args(argv)
    if args.update or args.check:
        root = Path(__file__).resolve().parent.parent
        changed = update_files([root / name for name in GENERATED_FILES], check=args.check)
        for path in changed:
            print(f"{'stale' if args.check else 'updated'}: {path.relative_to(root)}")
        sys.exit(1 if args.check and changed else 0)
    path = args.json
    if path is None:
        runs = sorted(Path(".benchmarks").glob("*/*.json"), key=lambda p: p.stat().st_mtime)
        if not runs:
            sys.exit("no saved benchmark JSON: run pytest bench --benchmark-autosave first")
        path = runs[-1]
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    print(render(path, sizes))


if __name__ == "__main__":
    main()
