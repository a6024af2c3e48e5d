"""Turn a saved pytest-benchmark JSON into the README's markdown tables.

Usage::

    python bench/report.py .benchmarks/*/0001_*.json            # latest run by default
    python bench/report.py RUN.json --sizes 5,100,1000

Prints median time per kernel and n, then speed-ups against attempt 1 (``python_loops``) and
against attempt 4 (``numpy``), computed from medians of the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bmm_numba.cli.compare import format_seconds


def _fmt_time(seconds):
    return format_seconds(seconds, micro="µs")  # the README's tables use the micro sign


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
            return f"{medians[(base, n)] / medians[(kernel, n)]:.3g}×"
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
            ratio = f" ({fresh[('numpy', n)] / fresh[(kernel, n)]:.3g}×)" if ("numpy", n) in fresh else ""
            return _fmt_time(fresh[(kernel, n)]) + ratio
        out += ["", "New parameters every call (`test_e_step_new_parameters`: no reuse of prepared terms; "
                "in brackets, speed-up against `numpy`):", "", _table(fresh_kernels, fresh_sizes, fresh_cell)]
    if compile_times:
        out += ["", "Cold JIT compile + first call (no cache): "
                + ", ".join(f"`{k}` {_fmt_time(v)}" for k, v in compile_times.items()) + "."]
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="?", help="saved benchmark JSON (default: newest under .benchmarks/)")
    parser.add_argument("--sizes", help="comma-separated n to show (default: all)")
    args = parser.parse_args(argv)
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
