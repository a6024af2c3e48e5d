"""The work behind each ``bmm-numba`` subcommand (imported once the arguments are good).

Each ``run_<command>(args)`` prints its report on stdout, progress and notes on stderr, writes
its files atomically into ``args.out`` and returns the exit status.  Errors are raised
(``CLIError``, ``ValueError``, ``OSError``) and turned into one line by :func:`bmm_numba.cli.main`.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from ..datasets import mnist_dir_from_env
from ..kernels.names import ARTICLE_SIZES
from .data import load_data, load_digits_data, load_mnist_folder, synthetic_rows
from .info import cpu_name, run_info, threading_layer, versions
from .output import CLIError, FitProgress, atomic_write, compile_notice, prepare_out_dir
from .output import note as _note
from .profiles import report_profiles

__all__ = ["run_compare", "run_fit", "run_select", "run_demo", "run_info"]


def _check_k(n_components, n_samples):
    if max(n_components) > n_samples:
        raise CLIError(f"--n-components {max(n_components)} is more than the {n_samples} samples")


# ----------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------

def _estimator_params(args, n_components):
    return {"n_components": n_components, "kernel": args.kernel, "n_init": args.n_init, "max_iter": args.max_iter,
            "tol": args.tol, "alpha": args.alpha, "random_state": args.random_state}


def _fit(data, params, threads):
    """Fit with the progress bar; return the estimator and the seconds taken."""
    from sklearn.exceptions import ConvergenceWarning

    from ..estimator.mixture import BernoulliMixture
    from .compare import thread_limits

    progress = FitProgress(params["n_init"], params["max_iter"])

    class WatchedMixture(BernoulliMixture):
        def _progress_monitor(self):
            return progress

    bm = WatchedMixture(**params)
    with thread_limits(threads), compile_notice(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        bm.fit(data.X)
        seconds = time.perf_counter() - start
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            _note(f"note: no start converged within --max-iter {params['max_iter']} iterations "
                  f"(tolerance {params['tol']:g}); the best start is kept")
        else:
            _note(f"warning: {w.message}")
    return bm, seconds


def _purity(labels, assigned, n_components):
    """Per component ``(majority label, share, size)``; label None for an empty component."""
    rows = []
    for k in range(n_components):
        members = labels[assigned == k]
        if members.size == 0:
            rows.append((None, 0.0, 0))
            continue
        values, counts = np.unique(members, return_counts=True)
        best = int(np.argmax(counts))
        rows.append((values[best].item(), counts[best] / members.size, int(members.size)))
    return rows


def _fit_and_report(data, params, threads, out, report=False):
    """Fit, print the report, write model.npz and means.png; return the paths written."""
    X = data.X
    n, d = X.shape
    print(f"data: {data.description}" + ("; labels: yes" if data.labels is not None else ""))
    print(f"fit: K={params['n_components']}, n_init={params['n_init']}, max_iter={params['max_iter']}, "
          f"tol={params['tol']:g}, alpha={params['alpha']:g}, kernel={params['kernel']}, "
          f"random_state={params['random_state']}", flush=True)
    bm, seconds = _fit(data, params, threads)
    log_l = bm.score(X) * n
    bic = bm.bic(X)
    print()
    print(f"log-likelihood  {log_l:.2f} ({log_l / n:.4f} per sample)")
    print(f"BIC             {bic:.2f}")
    print(f"iterations      {bm.n_iter_} ({'converged' if bm.converged_ else 'not converged'})")
    print(f"seconds         {seconds:.2f}")
    K = bm.weights_.shape[0]
    counts = np.bincount(bm.labels_, minlength=K)
    majority = None
    if data.labels is not None:
        from sklearn.metrics import adjusted_rand_score

        majority = _purity(np.asarray(data.labels), bm.labels_, K)
        overall = sum(share * size for _, share, size in majority) / n
        print(f"adjusted Rand   {adjusted_rand_score(data.labels, bm.labels_):.4f} (against the true labels)")
        print(f"purity          {overall:.4f} (share of samples whose component's majority label is theirs)")
    print()
    header = f"{'component':>9}  {'weight':>7}  {'size':>6}"
    if majority is not None:
        header += f"  {'majority label':>14}  {'purity':>6}"
    print(header)
    for k in np.argsort(-bm.weights_, kind="stable"):
        line = f"{k:>9}  {bm.weights_[k]:>7.4f}  {counts[k]:>6}"
        if majority is not None:
            label, share, _ = majority[k]
            line += f"  {'-' if label is None else label!s:>14}  {share:>6.1%}"
        print(line)

    if report:  # fit --report
        print()
        print(bm.summary(X))
    written = [out / "model.npz"]
    report = {  # the model file format (BernoulliMixture.save) plus the report, as metadata
        "log_likelihood": np.float64(log_l), "bic": np.float64(bic), "n_samples": np.int64(n),
        "seconds": np.float64(seconds), "kernel": np.str_(params["kernel"]), "alpha": np.float64(params["alpha"]),
        "random_state": np.int64(params["random_state"]), "data": np.str_(data.description),
        "image_shape": np.asarray(data.image_shape or (), dtype=np.int64),
    }
    with atomic_write(written[0]) as fh:
        bm.save(fh, **report)
    if data.image_shape is not None:
        from .plotting import MissingMatplotlib, plot_means

        path = out / "means.png"
        try:
            with atomic_write(path) as fh:
                plot_means(bm.means_, bm.weights_, data.image_shape, fh, majority=majority,
                           title=f"Component means, K={K}: {data.name}")
            written.append(path)
        except MissingMatplotlib as exc:
            _note(f"note: no means.png: {exc}")
    else:  # tabular data: the class profiles
        written += report_profiles(bm, data, out, f"Class profiles, K={K}: {data.name}")
    return written


def run_fit(args):
    """``bmm-numba fit``."""
    out = prepare_out_dir(args.out)
    data = load_data(args)
    _check_k([args.n_components], data.X.shape[0])
    written = _fit_and_report(data, _estimator_params(args, args.n_components), args.threads, out,
                              report=getattr(args, "report", False))
    print()
    print("wrote: " + ", ".join(str(p) for p in written))
    return 0


# ----------------------------------------------------------------------------------------------
# select
# ----------------------------------------------------------------------------------------------

def run_select(args):
    """``bmm-numba select``."""
    out = prepare_out_dir(args.out)
    data = load_data(args)
    _check_k(args.n_components, data.X.shape[0])
    from ..selection.table import select_n_components
    from .compare import thread_limits

    print(f"data: {data.description}")
    print(f"select: K in {args.n_components}, n_init={args.n_init}, max_iter={args.max_iter}, "
          f"random_state={args.random_state}", flush=True)
    params = _estimator_params(args, None)
    del params["n_components"]
    table = {}
    with thread_limits(args.threads), compile_notice():
        if getattr(args, "blrt", 0):  # the test of K refits K - 1: one call for every K
            start = time.perf_counter()
            table = select_n_components(data.X, args.n_components, blrt=args.blrt, **params)
            _note(f"{len(table['K'])} fits and a {args.blrt}-replicate bootstrap LRT per K after the first "
                  f"({time.perf_counter() - start:.2f} s)")
        for K in ([] if table else args.n_components):  # one K at a time, so progress can be shown
            start = time.perf_counter()
            row = select_n_components(data.X, [K], **params)
            _note(f"K={K}: BIC {row['BIC'][0]:.1f} ({time.perf_counter() - start:.2f} s)")
            for name, values in row.items():
                table.setdefault(name, []).extend(values)
    columns = list(table)
    print()
    print("  ".join(f"{c:>14}" for c in columns))
    for i in range(len(table["K"])):
        cells = []
        for c in columns:
            v = table[c][i]
            digits = 4 if c.startswith("p_") or c == "BLRT_p" else 2  # p-values: 0.05 is not 0.0476
            cells.append(f"{v:>14.{digits}f}" if isinstance(v, float) else f"{v!s:>14}")
        print("  ".join(cells))
    best = {c: table["K"][int(np.argmin(table[c]))] for c in ("BIC", "ICL", "AIC") if c in table}
    print()
    print("lowest: " + ", ".join(f"{c} at K={k}" for c, k in best.items()))
    not_converged = [k for k, ok in zip(table["K"], table.get("converged", []), strict=False) if not ok]
    if not_converged:
        _note(f"note: not converged within --max-iter {args.max_iter} for K in {not_converged}")

    written = [out / "select.csv"]
    with atomic_write(written[0], "w") as fh:
        fh.write(",".join(columns) + "\n")
        for i in range(len(table["K"])):
            fh.write(",".join(repr(table[c][i]) if isinstance(table[c][i], float) else str(table[c][i])
                              for c in columns) + "\n")
    from .plotting import MissingMatplotlib, plot_selection

    try:
        with atomic_write(out / "select.png") as fh:
            plot_selection(table, fh, title=f"Information criteria against K: {data.name}")
        written.append(out / "select.png")
    except MissingMatplotlib as exc:
        _note(f"note: no select.png: {exc}")
    if data.image_shape is None:  # tabular data: the profiles of the lowest-BIC model, fitted again
        from ..estimator.mixture import BernoulliMixture

        K = best["BIC"]
        with thread_limits(args.threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its convergence is in the table's column
            bm = BernoulliMixture(**_estimator_params(args, K)).fit(data.X)
        print()
        print(f"K={K} (lowest BIC), fitted again with the same settings:", end="")
        written += report_profiles(bm, data, out, f"Class profiles, K={K} (lowest BIC): {data.name}")
    print()
    print("wrote: " + ", ".join(str(p) for p in written))
    return 0


# ----------------------------------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------------------------------

def _threads(count, pool):
    """``'1 Numba thread'``, ``'2 BLAS threads'``, ``'1/2 BLAS threads'``, ``'no BLAS threads'``."""
    return f"{count} {pool} thread{'' if count == 1 else 's'}"


def _compare_data(args, n_rows):
    if args.npy or args.npz or args.csv:  # fit's readers, for the first n_rows rows only
        data = load_data(argparse.Namespace(**{**vars(args), "mnist_dir": None, "digits": False, "n_samples": n_rows}))
        missing = int(np.isnan(data.X).sum()) if data.X.dtype.kind == "f" else 0
        if missing:
            raise CLIError(f"{data.name}: {missing} missing cell{'s' * (missing > 1)} in the first {data.X.shape[0]} "
                           "rows; compare times the E-step kernels, which take complete 0/1 rows (fit and select "
                           "handle missing cells)")
        return data._replace(X=np.ascontiguousarray(data.X, dtype=np.uint8))
    mnist = args.mnist_dir or (None if args.data else mnist_dir_from_env(existing=False))
    if mnist:
        return load_mnist_folder(mnist, args.split, args.threshold)
    if args.data == "digits":
        return load_digits_data(args.threshold)
    return synthetic_rows(n_rows, args.random_state)


def _time_kernel(X, mu, pi, kernel, *, sizes, repeats, time_budget, blas_threads):
    """Time one kernel; return ``(records, retimed)``: None (not tried), True (kept) or False (no steadier).

    A BLAS kernel (``numpy``, ``numpy_gemm``) timed with several BLAS threads whose timings come out
    flagged is timed again with one BLAS thread, and that timing is kept if fewer are flagged: on a
    busy 2-core machine two BLAS threads fight the other processes for the cores (the issue's
    ``numpy`` at 159 us for n=100 then 32 ms for n=200, against a smooth 562 us and 271 us
    with one thread).
    """
    from threadpoolctl import threadpool_limits

    from ..kernels.registry import KERNELS
    from .compare import compare_kernels, retime_unreliable

    def timed():
        return compare_kernels(X, mu, pi, sizes=sizes, kernels=[kernel], repeats=repeats, time_budget=time_budget)

    records = timed()
    if (blas_threads or 1) <= 1 or KERNELS[kernel].family != "numpy" or not any(r["warning"] for r in records):
        return records, None

    def one_blas_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            return timed()

    return retime_unreliable(records, kernel, one_blas_thread)


def _compare_and_report(data, *, sizes, kernels, n_components, repeats, time_budget, threads, random_state, out):
    """Time the kernels, print the table, write compare.{json,csv,png}; return the paths written."""
    import numba
    from threadpoolctl import threadpool_info

    from ..kernels.registry import E_STEPS, TEACHING_KERNELS
    from .compare import (
        algorithm_switches,
        flag_unreliable,
        format_comparison,
        records_to_csv,
        thread_limits,
        underflow_check,
    )

    X = data.X
    if sizes[-1] > X.shape[0]:
        raise CLIError(f"--sizes {sizes[-1]} is more than the {X.shape[0]} rows of {data.name}: pass --sizes up to "
                       f"{X.shape[0]}, or other data (--mnist-dir, --data digits|synthetic, --npy, --npz, --csv)")
    kernels = list(E_STEPS) if kernels is None else kernels
    rng = np.random.default_rng(random_state)
    mu = rng.uniform(0.25, 0.75, size=(n_components, X.shape[1]))
    pi = np.full(n_components, 1.0 / n_components)
    records = []
    with thread_limits(threads), compile_notice():
        n_threads = numba.get_num_threads()
        blas = sorted({pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"})
        blas_threads = blas[0] if len(blas) == 1 else None
        blas_label = blas_threads if blas_threads is not None else "/".join(map(str, blas)) or "no"
        print(f"data: {data.description}")
        print(f"E-step with K={n_components}, mu ~ U(0.25, 0.75) (seed {random_state}), pi = 1/K; median of "
              f"{repeats} calls after a warm-up call; {_threads(n_threads, 'Numba')}, "
              f"{_threads(blas_label, 'BLAS')}; "
              f"CPU: {cpu_name()}", flush=True)
        retimed, steadier_not = [], []
        for kernel in kernels:  # one kernel at a time, so progress can be shown
            start = time.perf_counter()
            timed, again = _time_kernel(X, mu, pi, kernel, sizes=sizes, repeats=repeats, time_budget=time_budget,
                                        blas_threads=None if threads is not None else blas_threads)
            records += timed
            retimed += [kernel] if again else []
            steadier_not += [kernel] if again is False else []
            _note(f"timed {kernel} ({time.perf_counter() - start:.1f} s)")
        underflow = underflow_check(X, kernels=kernels, n_components=n_components, n_rows=min(100, X.shape[0]),
                                    random_state=random_state)
    flag_unreliable(records)  # across the kernels timed one by one above
    flagged = [r for r in records if r["warning"]]
    if flagged:
        listed = ", ".join(f"{r['kernel']} n={r['n']}" for r in flagged[:4]) + (", ..." if len(flagged) > 4 else "")
        _note(f"warning: {len(flagged)} of {sum(1 for r in records if r['seconds'])} timings look unreliable "
              f"(a busy machine?): {listed}; marked ! in the table")
    if retimed:
        print(f"BLAS: {', '.join(retimed)} timed with 1 BLAS thread: with {blas_threads} "
              f"{'its' if len(retimed) == 1 else 'their'} timings were unreliable (BLAS threads fighting other "
              "processes for the cores); --threads N sets both pools")
    if steadier_not:
        print(f"BLAS: {', '.join(steadier_not)} timed again with 1 BLAS thread, no steadier: the {blas_threads}-thread "
              "timings are kept (the machine is busy whatever the threads)")
    print()
    print(format_comparison(records, time_budget=time_budget, underflow=underflow))

    meta = {"data": data.description, "n_features": int(X.shape[1]), "n_components": n_components,
            "mu": f"U(0.25, 0.75), seed {random_state}", "repeats": repeats, "time_budget_s": time_budget,
            "numba_threads": n_threads, "blas_threads": blas_threads, "blas_threads_1_for": retimed,
            "threading_layer": threading_layer(),
            "cpu": cpu_name(),
            "versions": versions(), "teaching_kernels": list(TEACHING_KERNELS),
            "warnings": [f"{r['kernel']} n={r['n']}: {r['warning']}" for r in flagged]}
    written = [out / "compare.json", out / "compare.csv"]
    with atomic_write(written[0], "w") as fh:
        json.dump({"meta": meta, "records": records, "underflow": underflow}, fh, indent=1)
        fh.write("\n")
    with atomic_write(written[1], "w") as fh:
        fh.write(records_to_csv(records))
    from .plotting import MissingMatplotlib, plot_runtimes

    underflowing = [r["kernel"] for r in underflow if r["nan_rows"]]
    blas_note = f" ({', '.join(retimed)}: 1, re-timed)" if retimed else ""
    try:
        with atomic_write(out / "compare.png") as fh:
            plot_runtimes(records, fh, teaching=TEACHING_KERNELS, underflowing=underflowing,
                          switches=algorithm_switches(records),
                          title=f"E-step runtime, K={n_components}, D={X.shape[1]}: {data.name}\n{cpu_name()}, "
                                f"{_threads(n_threads, 'Numba')}, {_threads(blas_label, 'BLAS')}{blas_note}; "
                                f"median of {repeats}")
        written.append(out / "compare.png")
    except MissingMatplotlib as exc:
        _note(f"note: no compare.png: {exc}")
    return written


def run_compare(args):
    """``bmm-numba compare``."""
    out = prepare_out_dir(args.out)
    data = _compare_data(args, max(args.sizes))
    written = _compare_and_report(data, sizes=args.sizes, kernels=args.kernels, n_components=args.n_components,
                                  repeats=args.repeats, time_budget=args.time_budget, threads=args.threads,
                                  random_state=args.random_state, out=out)
    print()
    print("wrote: " + ", ".join(str(p) for p in written))
    return 0


# ----------------------------------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------------------------------

def run_demo(args):
    """``bmm-numba demo``: fit the bundled digits, then a small compare; no files needed."""
    out = prepare_out_dir(args.out)
    print("== 1. fit K=10 to scikit-learn's bundled 8x8 digits ==")
    from ..estimator.mixture import BernoulliMixture

    # the estimator's own defaults (tol, alpha, n_init), so the demo shows what a plain fit does
    defaults = BernoulliMixture().get_params()
    params = {"n_components": 10, "kernel": "auto", "n_init": defaults["n_init"], "max_iter": args.max_iter,
              "tol": defaults["tol"], "alpha": defaults["alpha"], "random_state": args.random_state}
    written = _fit_and_report(load_digits_data(None), params, None, out)
    print()
    print("== 2. time every E-step kernel on generated MNIST-shaped rows (D=784, K=10) ==")
    sizes = list(ARTICLE_SIZES)
    written += _compare_and_report(synthetic_rows(max(sizes), args.random_state), sizes=sizes, kernels=None,
                                   n_components=10, repeats=args.repeats, time_budget=0.5, threads=None,
                                   random_state=args.random_state, out=out)
    print()
    print("wrote: " + ", ".join(str(p) for p in written))
    pictures = [p for p in written if p.suffix == ".png"]
    if pictures:
        print("pictures: " + "  ".join(str(p.resolve()) for p in pictures))
    return 0


