"""Whole default fits (validation + start + EM + final E-step) timed against StepMix's.

Panels (``--panels``; each measures whatever ``bmm_numba`` is imported, nothing is tuned here):

- ``whole``: ``BernoulliMixture(K, random_state=s).fit(X)`` with the package's defaults against
  StepMix's whole default fit with the same ``n_init``, ``max_iter`` and stopping rule
  (:func:`stepmix_model`), K per data set (:data:`DATA_K`, ``--K`` for one K everywhere), on
  MNIST train and test (``--mnist-dir`` or ``BMM_NUMBA_MNIST_DIR``, binarised at 128; skipped
  without), digits (``load_digits_binary``), text (the word-presence CSR of
  ``bench/quality.py``; StepMix gets it dense, converted outside its timer), votes (435 x 16,
  5 % NaN, :func:`tiny_data`), zoo (a generated 101 x 15 table, :func:`zoo_data`) and onehot (a
  generated one-hot coded 8124 x 116 table, 30 % of its rows missing one attribute's block,
  :func:`onehot_data`).  Median over seeds, StepMix/bmm, the mean log-likelihood ``score(X)`` of
  both fits and their iterations.  Every estimator fit is also run on to the fixed point of its
  own objective (:func:`fixed_point_gap`: plain EM at ``tol=0`` from its means and weights,
  untimed): the gap in nats per sample; and fitted again at ``tol=0`` from the same start
  (:func:`fit_to_fixed_point`): the time to the fixed point.  The estimator's side is timed
  with every ``--accelerate`` scheme (the default's rows give the ratio).  Each side first makes one
  untimed fit (bmm on the full data: compiles, starts the threads; StepMix on 500 rows).
- ``lca``: slow latent-class problems (:mod:`bench.lca_fits`): maximum likelihood with 20 starts
  to ``1e-10`` against StepMix's, per ``--accelerate`` scheme, the total log-likelihood each
  reached and plain EM's iterations.
- ``split``: where a default fit's time goes, from the estimator's progress hooks
  (:class:`SplitMonitor`): *before* (validation, encoding: ``fit`` called -> first start
  begins), *start* (the initialisation: the short EM by default), *EM* (the iterations),
  *after* (final E-step, labels: last start ends -> ``fit`` returns).
- ``tiny``: 435 x 16 with 5 % NaN (:func:`tiny_data`): whole default fit, and time per EM
  iteration (also over ``TINY_ITERATIONS`` from fixed means), with Numba's default thread count
  and with 1, without and with ``--busy`` processes spinning ``while True: pass``.
- ``select``: ``select_n_components`` over ``--select-K`` on MNIST test against one StepMix fit
  plus its ``bic`` per K, same settings as ``whole``.
- ``iteration``: one EM iteration on one thread (Numba and BLAS), maximum likelihood on both
  sides (``alpha=0``: StepMix has no prior): the estimator's from its progress hooks over
  ``ITERATION_RUN`` iterations from fixed means (:func:`fixed_iterations`; text as CSR), StepMix's
  as the difference of two fits (:func:`stepmix_iterations`); medians of ``--iteration-repeats``.

NumPy's BLAS (StepMix's E- and M-steps) at its best: run with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset (the script refuses otherwise, ``--allow-openblas-env`` to override)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.whole_fit --out docs/benchmarks

Writes ``whole_fit.json`` (every fit, the machine, the command) and ``whole_fit.md`` under
``--out`` after each panel.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from time import perf_counter

import numpy as np

from bmm_numba import BernoulliMixture, select_n_components
from bmm_numba.datasets import load_digits_binary, load_mnist

from .lca_fits import LCA_DATA, panel_lca
from .timed_fits import (
    bmm_defaults,
    busy_processes,
    fit_bmm,
    fit_split,
    fit_stepmix,
    fit_to_fixed_point,
    fixed_iterations,
    fixed_point_gap,
    onehot_data,
    quiet,
    stepmix_iterations,
    stepmix_measurement,
    stepmix_model,
    timed_bmm,
    tiny_data,
    zoo_data,
)
from .whole_fit_report import machine_info, markdown, median, save

PANELS = ("whole", "lca", "split", "tiny", "select", "iteration")
#: Data sets of the panels and their K (``--K`` sets one K for all).
DATA_K = {"mnist_train": 10, "mnist_test": 10, "digits": 10, "text": 10, "votes": 4, "zoo": 4, "onehot": 5}
DATA = tuple(DATA_K)
ACCELERATIONS = ("squarem", "overrelax", "none")
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
WARMUP_ROWS_STEPMIX = 500
#: Iterations of the tiny panel's fixed run (``tol=0`` from fixed means): the default fit there
#: converges within a few iterations of its short-EM start, too few to time one iteration.
TINY_ITERATIONS = 50
#: Iterations timed per run of the ``iteration`` panel: the estimator's, StepMix's.
ITERATION_RUN, STEPMIX_ITERATION_RUN = 20, 10


def load(name, mnist_dir=None, max_rows=None):
    """Return X of a panel data set (the first ``max_rows`` rows when given)."""
    if name.startswith("mnist_"):
        X, _ = load_mnist(mnist_dir, split=name.removeprefix("mnist_"), threshold=128)
    elif name == "digits":
        X, _ = load_digits_binary()
    elif name == "text":
        from .quality import stdlib_text

        X, _ = stdlib_text()
    elif name == "votes":
        X = tiny_data()
    elif name == "zoo":
        X = zoo_data()
    elif name == "onehot":
        X = onehot_data()
    else:
        raise ValueError(f"unknown data set {name!r}; expected one of {DATA}")
    return X if max_rows is None else X[:max_rows]


def k_of(name, args):
    """K of data set ``name``: ``--K`` when given, else :data:`DATA_K`."""
    return args.K if args.K is not None else DATA_K[name]


def default_accelerate():
    """The installed estimator's default ``accelerate`` (None before the parameter existed)."""
    return BernoulliMixture().get_params().get("accelerate")


def dense(X):
    """StepMix's input: a dense array (text is CSR)."""
    return X.toarray() if hasattr(X, "toarray") else np.asarray(X)


# ------------------------------------------------------------------------------------------------
# panels
# ------------------------------------------------------------------------------------------------

def panel_whole(data, args, log):
    """Rows of the ``whole`` panel (one per fit) on the loaded ``data`` dict ``name -> X``."""
    rows = []
    for name, X in data.items():
        K = k_of(name, args)
        info = {"data": name, "n": X.shape[0], "d": X.shape[1], "K": K}
        for accelerate in args.accelerate:
            params = {"accelerate": accelerate} if accelerate else {}
            fit_bmm(X, K, args.seeds.get(name)[0], **params)  # warm-up: compile, threads, memory
            # the timed fits one after another (as StepMix's), the untimed measures of each after them
            fits = [(seed, *timed_bmm(X, K, seed, **params)) for seed in args.seeds.get(name)]
            for seed, row, model in fits:
                rows.append({**info, "side": "bmm", "accelerate": accelerate, "seed": seed, **row})
                if args.gap:
                    rows[-1].update(fixed_point_gap(model, X))
                    rows[-1].update(fit_to_fixed_point(X, K, seed, **params))
                log(rows[-1])
        if args.stepmix:
            Xd = dense(X)
            fit_stepmix(Xd[:WARMUP_ROWS_STEPMIX], K, 0)
            for seed in args.stepmix_seeds.get(name):
                rows.append({**info, "side": "stepmix", "seed": seed, **fit_stepmix(Xd, K, seed)})
                log(rows[-1])
    return rows


def panel_split(data, args, log):
    """Rows of the ``split`` panel (one per fit)."""
    rows = []
    for name, X in data.items():
        K = k_of(name, args)
        quiet(BernoulliMixture(K, random_state=0).fit, X)  # warm-up
        for seed in args.seeds.get(name):
            rows.append({"data": name, "n": X.shape[0], "d": X.shape[1], "K": K, "seed": seed,
                         **fit_split(X, K, seed)})
            log(rows[-1])
    return rows


def panel_tiny(args, log):
    """Tiny data: per (busy processes, Numba threads), the median whole fit and EM iteration."""
    import numba

    X = tiny_data()
    default = numba.get_num_threads()
    rows = []
    for busy in (0, args.busy):
        with busy_processes(busy):
            for threads in dict.fromkeys((default, 1)):
                numba.set_num_threads(threads)
                try:
                    fit_split(X, args.tiny_K, 0)  # warm-up
                    fits = [fit_split(X, args.tiny_K, 0) for _ in range(args.tiny_repeats)]
                    iteration = [fixed_iterations(X, args.tiny_K, TINY_ITERATIONS) for _ in range(args.tiny_repeats)]
                finally:
                    numba.set_num_threads(default)
                rows.append({"n": X.shape[0], "d": X.shape[1], "K": args.tiny_K, "busy": busy, "threads": threads,
                             "repeats": len(fits), "n_iter": fits[0]["n_iter"],
                             **{key: median(fits, key) for key in ("seconds", "start", "em", "per_iteration")},
                             "fixed_iterations": TINY_ITERATIONS, "fixed_per_iteration": float(np.median(iteration))})
                log(rows[-1])
    return rows


def panel_select(X, name, args, log):
    """``select_n_components`` over ``args.select_K`` against a StepMix fit + ``bic`` per K."""
    Ks, seed = args.select_K, args.seeds.get(name)[0]
    quiet(BernoulliMixture(Ks[0], random_state=seed).fit, X)  # warm-up
    start = perf_counter()
    table = quiet(select_n_components, X, Ks, random_state=seed)
    row = {"data": name, "n": X.shape[0], "d": X.shape[1], "K": list(Ks), "seed": seed,
           "bmm_seconds": perf_counter() - start, "bmm_bic_K": int(Ks[int(np.argmin(table["BIC"]))]),
           "bmm_converged": sum(table["converged"])}
    if args.stepmix:
        Xd, seconds, bics, converged = dense(X), [], [], 0
        for K in Ks:
            model = stepmix_model(K, seed, stepmix_measurement(Xd))
            start = perf_counter()
            quiet(model.fit, Xd)
            bics.append(model.bic(Xd))
            seconds.append(perf_counter() - start)
            converged += bool(model.converged_)
        row.update(stepmix_seconds=sum(seconds), stepmix_seconds_per_K=seconds,
                   stepmix_bic_K=int(Ks[int(np.argmin(bics))]), stepmix_converged=converged)
    log(row)
    return [row]


def panel_iteration(data, args, log):
    """One EM iteration on one thread (Numba and BLAS), ``alpha=0`` against StepMix, per data set."""
    import numba
    from threadpoolctl import threadpool_limits

    rows, default = [], numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1):
            for name, X in data.items():
                K = k_of(name, args)
                fixed_iterations(X, K, 2, alpha=0.0)  # warm-up
                ours = [fixed_iterations(X, K, ITERATION_RUN, alpha=0.0) for _ in range(args.iteration_repeats)]
                row = {"data": name, "n": X.shape[0], "d": X.shape[1], "K": K, "repeats": len(ours),
                       "bmm_iterations": ITERATION_RUN, "bmm_per_iteration": float(np.median(ours)),
                       "stepmix_iterations": STEPMIX_ITERATION_RUN}
                if args.stepmix:
                    Xd = dense(X)
                    theirs = [stepmix_iterations(Xd, K, STEPMIX_ITERATION_RUN)
                              for _ in range(args.iteration_repeats)]
                    row["stepmix_per_iteration"] = float(np.median(theirs))
                rows.append(row)
                log(row)
    finally:
        numba.set_num_threads(default)
    return rows


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------

class Seeds(dict):
    """``"0,1,2;mnist_train=0"``: seeds per data set (``get``), the first list for the others."""

    def __init__(self, spec):
        default, *overrides = spec.split(";")
        super().__init__((name.strip(), ints(value)) for name, value in (o.split("=") for o in overrides))
        self.default = ints(default)

    def get(self, name):
        return super().get(name, self.default)


def ints(spec):
    """``"2-5"`` -> [2, 3, 4, 5]; ``"1,3"`` -> [1, 3]."""
    if "-" in spec:
        low, high = spec.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(v) for v in spec.split(",") if v.strip()]


def parse(argv):
    """The command line's namespace (``given``: its values before parsing the lists)."""
    parser = argparse.ArgumentParser(prog="python -m bench.whole_fit", description=__doc__.splitlines()[0],
                                     epilog="Run as: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
                                            "python -m bench.whole_fit ...")
    parser.add_argument("--panels", default=",".join(PANELS), help=f"any of {','.join(PANELS)}")
    parser.add_argument("--data", default=None, help=f"any of {','.join(DATA)} (default: all; --quick: digits, "
                        "mnist_test); the MNIST ones are skipped without an MNIST folder")
    parser.add_argument("--K", type=int, default=None, help=f"one K for every data set (default: {DATA_K})")
    parser.add_argument("--seeds", default="0-4", help="bmm seeds; per data set: '0,1,2;mnist_train=0'")
    parser.add_argument("--stepmix-seeds", default="0-4", help="StepMix seeds, as --seeds")
    parser.add_argument("--accelerate", default=",".join(ACCELERATIONS),
                        help="the estimator's accelerate values to time in the whole and lca panels (the ratios "
                        "to StepMix use the estimator's default's rows)")
    parser.add_argument("--no-gap", dest="gap", action="store_false",
                        help="skip the whole panel's fixed-point measures (the gap, the tol=0 fit)")
    parser.add_argument("--lca-data", default=",".join(LCA_DATA), help=f"any of {','.join(LCA_DATA)}")
    parser.add_argument("--no-stepmix", dest="stepmix", action="store_false", help="only the estimator's side")
    parser.add_argument("--tiny-repeats", type=int, default=20)
    parser.add_argument("--tiny-K", type=int, default=2)
    parser.add_argument("--busy", type=int, default=os.cpu_count(), help="busy processes of the tiny panel")
    parser.add_argument("--iteration-repeats", type=int, default=3)
    parser.add_argument("--select-data", default="mnist_test")
    parser.add_argument("--select-K", default="2-20", help="'2-20' or '2,5,10'")
    parser.add_argument("--max-rows", type=int, default=None, help="use the first rows of each data set")
    parser.add_argument("--mnist-dir", default=os.environ.get("BMM_NUMBA_MNIST_DIR"))
    parser.add_argument("--out", default="docs/benchmarks")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 300 rows; sets --seeds and --stepmix-seeds to 0, --select-K to 2-4, "
                        "--tiny-repeats to 3, --lca-data to gen_150x4_K3")
    parser.add_argument("--allow-openblas-env", action="store_true",
                        help=f"run even when {' or '.join(OPENBLAS_VARS)} is set (recorded in the JSON)")
    args = parser.parse_args(argv)
    if args.quick:
        args.max_rows = args.max_rows or 300
        args.seeds, args.stepmix_seeds, args.select_K, args.tiny_repeats = "0", "0", "2-4", 3
        args.iteration_repeats = 1
        args.data = args.data or "digits,mnist_test"
        args.lca_data = "gen_150x4_K3"
        args.select_data = "digits" if args.select_data == "mnist_test" and not args.mnist_dir else args.select_data
    args.data = args.data or ",".join(DATA)
    args.given = dict(vars(args))  # the settings in force, as strings, for the record
    if args.mnist_dir and args.mnist_dir == os.environ.get("BMM_NUMBA_MNIST_DIR"):
        args.given["mnist_dir"] = "$BMM_NUMBA_MNIST_DIR"  # the record names the variable, not a local path
    args.data = args.data.split(",")
    args.panels = args.panels.split(",")
    args.lca_data = args.lca_data.split(",")
    args.accelerate = args.accelerate.split(",")
    if default_accelerate() is None:  # an estimator without the parameter: its one scheme
        args.accelerate = [None]
    args.seeds, args.stepmix_seeds, args.select_K = Seeds(args.seeds), Seeds(args.stepmix_seeds), ints(args.select_K)
    checks = ((args.panels, PANELS, "panel"), (args.data + [args.select_data], DATA, "data set"),
              (args.lca_data, LCA_DATA, "lca problem"), (args.accelerate, ACCELERATIONS + (None,), "accelerate"))
    for value, allowed, what in checks:
        if set(value) - set(allowed):
            parser.error(f"unknown {what} {sorted(set(value) - set(allowed))}; expected any of {allowed}")
    return args


def main(argv=None, log=None):
    """Run the panels; write and return the result (``log(row)`` after every measurement)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    set_vars = [v for v in OPENBLAS_VARS if os.environ.get(v)]
    if set_vars and not args.allow_openblas_env:
        sys.exit(f"{' and '.join(set_vars)} set: OpenBLAS then holds NumPy's BLAS (StepMix's) to older kernels. Run "
                 f"`env -u {' -u '.join(OPENBLAS_VARS)} python -m bench.whole_fit ...` (or --allow-openblas-env)")
    try:
        import stepmix  # noqa: F401
    except ImportError:
        args.stepmix = False
    log = log or (lambda row: print(json.dumps(row), flush=True))
    result = {"command": shlex.join(["python", "-m", "bench.whole_fit", *argv]), "args": args.given,
              "settings": {**bmm_defaults(), "K": {name: k_of(name, args) for name in args.data},
                           "accelerate": default_accelerate(), "stepmix": args.stepmix},
              "panels": {}, "skipped": [] if args.stepmix else ["StepMix (not installed or --no-stepmix)"]}
    started = perf_counter()
    mnist_ok = bool(args.mnist_dir) and Path(args.mnist_dir).is_dir()
    if not mnist_ok and any(d.startswith("mnist") for d in args.data + [args.select_data]):
        result["skipped"].append("MNIST (no --mnist-dir / BMM_NUMBA_MNIST_DIR folder)")
        print("MNIST skipped: no --mnist-dir / BMM_NUMBA_MNIST_DIR folder", file=sys.stderr)
    data = {name: load(name, args.mnist_dir, args.max_rows) for name in args.data
            if mnist_ok or not name.startswith("mnist")}

    def record(panel, rows):
        result["panels"][panel] = rows
        result["machine"], result["elapsed_s"] = machine_info(), perf_counter() - started
        save(result, args.out)

    for panel in args.panels:
        if panel == "whole":
            record(panel, panel_whole(data, args, log))
        elif panel == "lca":
            record(panel, panel_lca(args.lca_data, args.seeds.get, args.stepmix_seeds.get, args.accelerate,
                                    args.stepmix, log))
        elif panel == "split":
            record(panel, panel_split(data, args, log))
        elif panel == "tiny":
            record(panel, panel_tiny(args, log))
        elif panel == "iteration":
            record(panel, panel_iteration(data, args, log))
        elif mnist_ok or not args.select_data.startswith("mnist"):
            X = data.get(args.select_data)
            X = load(args.select_data, args.mnist_dir, args.max_rows) if X is None else X
            record(panel, panel_select(X, args.select_data, args, log))
    result["machine"], result["elapsed_s"] = machine_info(), perf_counter() - started
    save(result, args.out)
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
