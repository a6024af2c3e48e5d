"""The article's experiment as a function: time every E-step kernel over a size ladder.

Used by ``bmm-numba compare`` / ``bmm-numba demo`` and by readers of the benchmarks who want one
table without pytest.  Timings are wall-clock medians of ``repeats`` calls after one warm-up
call (which also compiles the Numba kernels).  :func:`underflow_check` runs every kernel once
more on sharp parameters, where the faithful teaching kernels return NaN.
"""

from __future__ import annotations

import csv
import io
import time
from contextlib import contextmanager

import numpy as np

from ..kernels.names import ARTICLE_SIZES
from ..kernels.registry import AUTO_KERNEL, E_STEPS, TEACHING_KERNELS
from ..kernels.table import LUT_MIN_ROWS

__all__ = ["ARTICLE_SIZES", "RECORD_FIELDS", "compare_kernels", "underflow_check", "format_comparison",
           "format_seconds", "records_to_csv", "numba_threads", "thread_limits", "flag_unreliable",
           "algorithm_switches", "headline", "retime_unreliable"]

#: Keys of one record of :func:`compare_kernels`, in CSV column order.
RECORD_FIELDS = ("kernel", "n", "seconds", "spread", "max_abs_diff", "nan", "warning")

#: A (kernel, n) whose slowest repeat is over SPREAD_LIMIT times its fastest (and over
#: SPREAD_FLOOR seconds slower) is flagged: another process took the cores during the repeats.
#: On an idle 2-core EPYC the repeats of one cell stay within ~1.2x; the issue's busy run had
#: ``numpy`` at a flat 24 ms from n=100 to n=1000 (so "numba_ones 378x numpy").
SPREAD_LIMIT, SPREAD_FLOOR = 1.5, 1e-4

#: A kernel's median that falls by over FALL_LIMIT times from one n to a larger n is flagged
#: (a busy machine at the smaller n, or the switch from one thread to several), and one that
#: grows over JUMP_LIMIT times faster than n (and by over a millisecond): no kernel here is
#: worse than linear in n, so that is a busy machine at the larger n.
FALL_LIMIT, JUMP_LIMIT = 1.5, 3.0

#: Kernels that change algorithm at a row count: ``numba`` runs the per-pixel kernel below
#: LUT_MIN_ROWS rows and the table kernel (whose table costs a fixed ~1-2 ms on MNIST) from it,
#: so a step across that row count may grow faster than n, or fall, on an idle machine: never
#: flagged, and drawn as a switch in ``compare.png``.
ALGORITHM_SWITCH_ROWS = {"numba": LUT_MIN_ROWS}


def algorithm_switches(records):
    """``[(kernel, rows)]``: the switches of :data:`ALGORITHM_SWITCH_ROWS` that the timed sizes straddle."""
    out = []
    for kernel, rows in ALGORITHM_SWITCH_ROWS.items():
        sizes = [r["n"] for r in records if r["kernel"] == kernel and r.get("seconds")]
        if sizes and min(sizes) < rows <= max(sizes):
            out.append((kernel, rows))
    return out


@contextmanager
def numba_threads(threads):
    """Run the block with ``numba.set_num_threads(threads)``; restore the old count afterwards.

    ``threads=None`` leaves the count alone.  Raises ``ValueError`` outside
    ``1 .. numba.config.NUMBA_NUM_THREADS``.
    """
    if threads is None:
        yield
        return
    import numba

    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= int(threads) <= limit:
        raise ValueError(f"threads must be between 1 and {limit} (NUMBA_NUM_THREADS); got {threads}")
    before = numba.get_num_threads()
    numba.set_num_threads(int(threads))
    try:
        yield
    finally:
        numba.set_num_threads(before)


@contextmanager
def thread_limits(threads):
    """:func:`numba_threads` and, with threadpoolctl, the BLAS (and OpenMP) pools capped at ``threads``.

    ``numpy``/``numpy_gemm`` hand matrix products to BLAS, whose own pool ignores Numba's count:
    without the cap, ``--threads 1`` timed them on every core.  ``threads=None`` changes nothing.
    """
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with numba_threads(threads), threadpool_limits(limits=int(threads)):
        yield


def compare_kernels(X, mu, pi, *, sizes=ARTICLE_SIZES, kernels=None, repeats=5, time_budget=2.0, threads=None):
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
    threads : int, optional
        Numba and BLAS threads for the run (:func:`thread_limits`; restored afterwards).

    Returns
    -------
    records : list of dict
        One per (kernel, n): ``kernel``, ``n``, ``seconds`` (median, or None when skipped),
        ``spread`` (slowest over fastest repeat), ``max_abs_diff`` against ``kernel="auto"``,
        ``nan`` (whether the result held NaN) and ``warning`` (None, or why the time is not to
        be trusted: :func:`flag_unreliable`).
    """
    kernels = list(E_STEPS) if kernels is None else list(kernels)
    unknown = [k for k in kernels if k not in E_STEPS]
    if unknown:
        raise ValueError(f"unknown kernels {unknown}; choose from {list(E_STEPS)}")
    if int(repeats) < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    X = np.asarray(X)
    sizes = sorted(int(n) for n in sizes)
    if sizes and (sizes[0] < 1 or sizes[-1] > X.shape[0]):
        raise ValueError(f"sizes must be between 1 and {X.shape[0]} (the rows of X); got {sizes}")
    records = []
    with thread_limits(threads):
        for kernel in kernels:
            f = E_STEPS[kernel]
            last = None  # (n, seconds)
            for n in sizes:
                Xn = X[:n]
                if last is not None and last[1] * n / last[0] > time_budget:
                    records.append(dict.fromkeys(RECORD_FIELDS) | {"kernel": kernel, "n": n})
                    continue
                resp = f(Xn, mu, pi)  # warm-up (compiles on first use)
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    f(Xn, mu, pi)
                    times.append(time.perf_counter() - start)
                seconds = float(np.median(times))
                records.append({"kernel": kernel, "n": n, "seconds": seconds, "spread": max(times) / min(times),
                                **_check(resp, Xn, mu, pi), "warning": None})
                last = (n, seconds)
    return flag_unreliable(records)


def flag_unreliable(records):
    """Set each record's ``warning`` where its time is not to be trusted; return ``records``.

    Flags a spread of repeats over :data:`SPREAD_LIMIT`, a median that falls by over
    :data:`FALL_LIMIT` times as n grows, and one that grows over :data:`JUMP_LIMIT` times faster
    than n: what a busy machine does to a timing table.
    """
    previous = {}
    for r in sorted((r for r in records if r.get("seconds")), key=lambda r: (r["kernel"], r["n"])):
        reasons = []  # recomputed from the times: flagging twice gives the same warnings
        times = r["seconds"] * (r.get("spread") or 1.0)
        if (r.get("spread") or 1.0) > SPREAD_LIMIT and times - r["seconds"] > SPREAD_FLOOR:
            reasons.append(f"repeats spread {r['spread']:.2g}x")
        before = previous.get(r["kernel"])
        # a step across the kernel's algorithm switch compares two algorithms: neither rule applies
        if before is not None and not before[0] < ALGORITHM_SWITCH_ROWS.get(r["kernel"], 0) <= r["n"]:
            (n0, t0), (n1, t1) = before, (r["n"], r["seconds"])
            if t1 * FALL_LIMIT < t0:
                reasons.append(f"faster than at n={n0} ({format_seconds(t0)})")
            elif t1 / t0 > JUMP_LIMIT * n1 / n0 and t1 - t0 > 1e-3:
                reasons.append(f"{t1 / t0:.3g}x the time at n={n0} for {n1 / n0:.3g}x the rows")
        previous[r["kernel"]] = (r["n"], r["seconds"])
        r["warning"] = "; ".join(reasons) or None
    return records


def retime_unreliable(records, kernel, retime):
    """Re-time ``kernel`` when one of its timings is flagged; keep the re-timing if it is flagged less.

    Parameters
    ----------
    records : list of dict
        :func:`compare_kernels` records of ``kernel`` alone (flagged with :func:`flag_unreliable`).
    kernel : str
    retime : callable
        ``retime() -> records``: the same kernel and sizes timed another way (for ``compare``:
        with BLAS capped at one thread).

    Returns
    -------
    records : list of dict
        ``records`` or the re-timing.
    retimed : bool
        Whether the re-timing was kept: it was tried and has fewer flagged timings.
    """
    def flagged(rs):
        return sum(1 for r in rs if r["kernel"] == kernel and r.get("warning"))

    if not flagged(records):
        return records, False
    again = flag_unreliable(retime())
    if flagged(again) < flagged(records):
        return again, True
    return records, False


def headline(records, kernel="numba", base="numpy"):
    """One line: ``kernel``'s speed-up over ``base`` at the largest n where neither timing is flagged.

    Returns None when either kernel was not timed; a line saying so when no reliable pair exists.
    """
    by_key = {(r["kernel"], r["n"]): r for r in records if r.get("seconds")}
    pairs = sorted(n for (k, n) in by_key if k == kernel and (base, n) in by_key)
    if not pairs:
        return None
    good = [n for n in pairs if not by_key[(kernel, n)].get("warning") and not by_key[(base, n)].get("warning")]
    if not good:
        return (f"headline: no reliable pair of {kernel} and {base} timings (all marked !): rerun on an idle "
                "machine, or with --threads 1 or more --repeats")
    n = good[-1]
    a, b = by_key[(base, n)]["seconds"], by_key[(kernel, n)]["seconds"]
    return (f"headline: {kernel} against {base}, {a / b:.3g}x the speed at n={n} ({format_seconds(b)} against "
            f"{format_seconds(a)}; the largest n where neither timing is marked !)")


def _check(resp, X, mu, pi):
    """``max_abs_diff`` against the stable kernel (over rows without NaN) and ``nan``."""
    reference = E_STEPS[AUTO_KERNEL](X, mu, pi)
    nan = np.isnan(resp)
    diff = float(np.nanmax(np.abs(resp - reference))) if not nan.all() else None
    return {"max_abs_diff": diff, "nan": bool(nan.any())}


def underflow_check(X, *, kernels=None, n_components=10, n_rows=100, eps=1e-9, random_state=0):
    """Run each kernel once on sharp parameters, the kind a fitted model has.

    The means are ``K`` rows of ``X`` (drawn from outside the checked rows where there are
    enough) clipped to ``[eps, 1 - eps]``: every pixel that differs from a centre costs about
    ``-log(eps)`` nats (20.7 at 1e-9), so on 784-pixel images the probability of a row under
    every component is below the smallest double and probability-space kernels divide 0 by 0.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    kernels : sequence of str, optional
        Registry names (default: all).
    n_components : int, default=10
    n_rows : int, default=100
        Rows checked (the first ones; fewer when ``X`` has under ``n_rows + n_components`` rows,
        so that the centres come from other rows).
    eps : float, default=1e-9
    random_state : int, default=0
        Seed for the choice of centres.

    Returns
    -------
    records : list of dict
        One per kernel: ``kernel``, ``n``, ``eps``, ``nan_rows`` (rows holding NaN), ``max_abs_diff``
        against ``kernel="auto"`` over the other rows (None when every row is NaN).
    """
    X = np.asarray(X)
    kernels = list(E_STEPS) if kernels is None else list(kernels)
    K = min(int(n_components), X.shape[0])
    # centres from rows outside the checked ones (a row checked against itself never underflows)
    n_rows = min(int(n_rows), X.shape[0] - K) if X.shape[0] > K else X.shape[0]
    rng = np.random.default_rng(random_state)
    pool = np.arange(n_rows, X.shape[0]) if X.shape[0] - n_rows >= K else np.arange(X.shape[0])
    centres = X[rng.choice(pool, size=K, replace=False)].astype(np.float64)
    mu = np.clip(centres, eps, 1.0 - eps)
    pi = np.full(K, 1.0 / K)
    Xn = X[:n_rows]
    reference = E_STEPS[AUTO_KERNEL](Xn, mu, pi)
    out = []
    for kernel in kernels:
        with np.errstate(all="ignore"):  # the teaching kernels' 0/0 is the point of the check
            resp = E_STEPS[kernel](Xn, mu, pi)
        bad = np.isnan(resp).any(axis=1)
        diff = float(np.abs(resp[~bad] - reference[~bad]).max()) if not bad.all() else None
        out.append({"kernel": kernel, "n": n_rows, "eps": eps, "nan_rows": int(bad.sum()), "max_abs_diff": diff})
    return out


def format_seconds(seconds, micro="us"):
    """Format a duration for a table: ``"1.23 s"``, ``"45.6 ms"`` or ``"789 us"`` (``micro``: the 1e-6 symbol)."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} {micro}"


def _time_cell(record):
    """Return a cell of the time table: the median (``!`` when flagged), ``skipped``, or ``-`` when not run."""
    if record is None:
        return "-"
    if record["seconds"] is None:
        return "skipped"
    return format_seconds(record["seconds"]) + ("!" if record.get("warning") else "")


def format_comparison(records, *, time_budget=None, underflow=None):
    """Plain-text table: time per kernel per n, speed-up against attempt 1 and against ``numpy``.

    Parameters
    ----------
    records : list of dict
        From :func:`compare_kernels`.
    time_budget : float, optional
        The budget used, named in the line listing skipped kernels.
    underflow : list of dict, optional
        From :func:`underflow_check`: adds one line per kernel.
    """
    by_key = {(r["kernel"], r["n"]): r for r in records}
    kernels = list(dict.fromkeys(r["kernel"] for r in records))
    sizes = sorted({r["n"] for r in records})
    width = max(len(k) for k in kernels) + 2
    lines = [f"{'kernel':<{width}}" + "".join(f"{'n=' + str(n):>12}" for n in sizes)]
    for kernel in kernels:
        cells = [_time_cell(by_key.get((kernel, n))) for n in sizes]
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
                ra, rb = by_key.get((base, n), {}), by_key.get((kernel, n), {})
                a, b = ra.get("seconds"), rb.get("seconds")
                mark = "!" if ra.get("warning") or rb.get("warning") else ""
                cells.append(f"{a / b:.3g}x{mark}" if a and b else "-")
            lines.append(f"{kernel:<{width}}" + "".join(f"{c:>12}" for c in cells))
    lines.append("")
    flagged = [r for r in records if r.get("warning")]
    if flagged:
        lines.append(f"! unreliable ({len(flagged)} of {sum(1 for r in records if r['seconds'])} timings; a busy "
                     "machine? rerun on an idle one, or with more --repeats):")
        lines.extend(f"  {r['kernel']} n={r['n']}: {r['warning']}" for r in flagged)
        lines.append("")
    skipped = {}
    for r in records:
        if r["seconds"] is None:
            skipped.setdefault(r["kernel"], r["n"])
    if skipped:
        budget = f" {time_budget:g} s" if time_budget is not None else ""
        lines.append(f"skipped past the{budget} time budget (predicted from the previous n): "
                     + ", ".join(f"{k} from n={n}" for k, n in skipped.items()))
    lines.extend(f"{kernel} switches from the per-pixel to the table kernel at n={rows} (its step there is the "
                 "switch, not noise)" for kernel, rows in algorithm_switches(records))
    line = headline(records)
    if line:
        lines.append(line)
    bad = sorted({r["kernel"] for r in records if r["nan"]})
    worst = max((r["max_abs_diff"] or 0.0) for r in records)
    lines.append(f"largest difference from kernel='auto' ({AUTO_KERNEL}): {worst:.2g}"
                 + (f"; NaN (underflow) in: {', '.join(bad)}" if bad else "; no NaN"))
    if underflow:
        n, eps = underflow[0]["n"], underflow[0]["eps"]
        lines.append("")
        lines.append(f"underflow check on {n} rows, sharp means (K data rows clipped to [{eps:g}, 1 - {eps:g}], "
                     "like a fitted model):")
        for r in underflow:
            teaching = " (teaching)" if r["kernel"] in TEACHING_KERNELS else ""
            if r["nan_rows"]:
                state = f"NaN in {r['nan_rows']} of {n} rows: underflows"
            else:
                state = f"finite, max |diff| {r['max_abs_diff']:.2g}"
            lines.append(f"  {r['kernel']:<{width}}{state}{teaching}")
    return "\n".join(lines)


def records_to_csv(records):
    """Return the records of :func:`compare_kernels` as CSV text (empty cells for skipped runs)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RECORD_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: "" if r.get(k) is None else r[k] for k in RECORD_FIELDS})
    return buffer.getvalue()
