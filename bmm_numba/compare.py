"""The article's experiment as a function: time every E-step kernel over a size ladder.

Used by ``python -m bmm_numba`` (the quick start) and by the benchmarks' readers who want one
table without pytest.  Timings are wall-clock medians of ``repeats`` calls after one warm-up
call (which also compiles the Numba kernels).
"""

from __future__ import annotations

import time

import numpy as np

from ._e_step import AUTO_KERNEL, E_STEPS, TEACHING_KERNELS

__all__ = ["ARTICLE_SIZES", "compare_kernels", "format_comparison"]

#: The article's ladder of n.
ARTICLE_SIZES = (5, 10, 20, 50, 100, 200, 500, 1000)


def compare_kernels(X, mu, pi, *, sizes=ARTICLE_SIZES, kernels=None, repeats=5, time_budget=2.0):
    """Time each kernel on the first ``n`` rows of ``X`` for every ``n`` in ``sizes``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Binary data; rows ``X[:n]`` are used.
    mu : array-like of shape (n_components, n_features)
    pi : array-like of shape (n_components,)
    sizes : sequence of int
        Row counts, each at most ``n_samples``.
    kernels : sequence of str, optional
        Registry names (default: all of :data:`bmm_numba.E_STEPS`).
    repeats : int
        Timed calls per (kernel, n); the median is reported.
    time_budget : float
        Seconds: a kernel whose predicted time for the next n (linear in n) exceeds this is
        skipped there and at larger n.

    Returns
    -------
    records : list of dict
        One per (kernel, n): ``kernel``, ``n``, ``seconds`` (median, or None when skipped),
        ``max_abs_diff`` against ``kernel="auto"`` and ``nan`` (whether the result held NaN).
    """
    kernels = list(E_STEPS) if kernels is None else list(kernels)
    unknown = [k for k in kernels if k not in E_STEPS]
    if unknown:
        raise ValueError(f"unknown kernels {unknown}; choose from {list(E_STEPS)}")
    X = np.asarray(X)
    sizes = sorted(int(n) for n in sizes)
    if sizes and (sizes[0] < 1 or sizes[-1] > X.shape[0]):
        raise ValueError(f"sizes must be between 1 and {X.shape[0]} (the rows of X); got {sizes}")
    records = []
    for kernel in kernels:
        f = E_STEPS[kernel]
        last = None  # (n, seconds)
        for n in sizes:
            Xn = X[:n]
            if last is not None and last[1] * n / last[0] > time_budget:
                records.append({"kernel": kernel, "n": n, "seconds": None, "max_abs_diff": None, "nan": None})
                continue
            gamma = f(Xn, mu, pi)  # warm-up (compiles on first use)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                f(Xn, mu, pi)
                times.append(time.perf_counter() - start)
            seconds = float(np.median(times))
            reference = E_STEPS[AUTO_KERNEL](Xn, mu, pi)
            has_nan = bool(np.isnan(gamma).any())
            diff = float(np.nanmax(np.abs(gamma - reference))) if not np.isnan(gamma).all() else None
            records.append({"kernel": kernel, "n": n, "seconds": seconds, "max_abs_diff": diff, "nan": has_nan})
            last = (n, seconds)
    return records


def _fmt(seconds):
    if seconds is None:
        return "skipped"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def format_comparison(records):
    """Plain-text table: time per kernel per n, speed-up against attempt 1 and against ``numpy``."""
    by_key = {(r["kernel"], r["n"]): r for r in records}
    kernels = list(dict.fromkeys(r["kernel"] for r in records))
    sizes = sorted({r["n"] for r in records})
    width = max(len(k) for k in kernels) + 2
    lines = [f"{'kernel':<{width}}" + "".join(f"{'n=' + str(n):>12}" for n in sizes)]
    for kernel in kernels:
        cells = [_fmt(by_key[(kernel, n)]["seconds"]) for n in sizes]
        mark = " (teaching)" if kernel in TEACHING_KERNELS else ""
        lines.append(f"{kernel:<{width}}" + "".join(f"{c:>12}" for c in cells) + mark)
    for base in ("python_loops", "numpy"):
        if base not in kernels:
            continue
        lines.append("")
        lines.append(f"speed-up against {base}")
        for kernel in kernels:
            cells = []
            for n in sizes:
                a, b = by_key[(base, n)]["seconds"], by_key[(kernel, n)]["seconds"]
                cells.append(f"{a / b:.3g}x" if a and b else "-")
            lines.append(f"{kernel:<{width}}" + "".join(f"{c:>12}" for c in cells))
    bad = sorted({r["kernel"] for r in records if r["nan"]})
    worst = max((r["max_abs_diff"] or 0.0) for r in records)
    lines.append("")
    lines.append(f"largest difference from kernel='auto': {worst:.2g}"
                 + (f"; NaN (underflow) in: {', '.join(bad)}" if bad else "; no NaN"))
    return "\n".join(lines)
