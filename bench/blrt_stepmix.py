"""The bootstrap likelihood-ratio test on poLCA's carcinoma data, timed against StepMix's, in one process.

``select_n_components(X, range(1, 5), blrt=50)`` (the table for K = 1..4 and the three tests
1 vs 2, 2 vs 3, 3 vs 4 with 50 replicates each) against StepMix's
``blrt_sweep(model, X, low=1, high=4, n_repetitions=50)`` on the same 118 x 7 data.  Each side
is run once to warm up (Numba compiles, StepMix imports), then ``--repeats`` times; the medians
and their ratio are recorded with the p-values of both sides.

The sides do not use the same starts: StepMix refits each replicate once (its default
``n_init=1``); this package refits the K - 1 model from its generating parameters and the
K-class model from the fitted K-class parameters plus ``refit_starts`` random starts each
(``refit_starts``).  1, 2 and 5 are timed (``--refit-starts``); 1 is the closest to StepMix's work.

NumPy's BLAS (StepMix's E- and M-steps) at its best: run with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.blrt_stepmix --out docs/benchmarks
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np

from bmm_numba import select_n_components
from bmm_numba.cli.info import cpu_name, versions
from bmm_numba.datasets import load_lca


def time_bmm(X, n_repetitions, refit_starts, seed):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = select_n_components(X, range(1, 5), blrt=n_repetitions, refit_starts=refit_starts,
                                    random_state=seed)
    return time.perf_counter() - start, [float(p) for p in table["BLRT_p"][1:]]


def time_stepmix(X, n_repetitions, seed):
    from stepmix import StepMix
    from stepmix.bootstrap import blrt_sweep

    model = StepMix(n_components=1, measurement="binary", verbose=0, progress_bar=0, random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings(), open(os.devnull, "w") as null, redirect_stdout(null), redirect_stderr(null):
        warnings.simplefilter("ignore")  # and its progress bars and messages: not timed against us
        result = blrt_sweep(model, X, low=1, high=4, n_repetitions=n_repetitions, random_state=seed, verbose=False)
    seconds = time.perf_counter() - start
    return seconds, [float(p) for p in np.asarray(result).ravel()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=50, help="bootstrap replicates per test")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side (median)")
    parser.add_argument("--refit-starts", type=int, nargs="+", default=[1, 2, 5],
                        help="refit_starts values timed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for blrt_stepmix.json")
    args = parser.parse_args(argv)
    X, _ = load_lca("carcinoma")
    X = X.astype(np.float64)
    try:
        import stepmix  # noqa: F401
    except ImportError:
        stepmix_ok = False
        print("StepMix is not installed (pip install 'bmm_numba[peers]'): timing this package only")
    else:
        stepmix_ok = True
    sides = {f"bmm refit_starts={r}": (lambda seed, r=r: time_bmm(X, args.repetitions, r, seed))
             for r in args.refit_starts}
    if stepmix_ok:
        sides["stepmix blrt_sweep"] = lambda seed: time_stepmix(X, args.repetitions, seed)
    rows = []
    for name, run in sides.items():
        run(100)  # warm-up: compilation, imports, caches
        for seed in range(args.repeats):
            seconds, p_values = run(seed)
            rows.append({"side": name, "seed": seed, "seconds": seconds, "p_values": p_values})
            print(f"{name:<30} seed {seed}: {seconds:7.2f} s   p (1v2, 2v3, 3v4) = {p_values}", flush=True)
    medians = {name: float(np.median([r["seconds"] for r in rows if r["side"] == name])) for name in sides}
    ratios = {}
    if stepmix_ok:
        ratios = {name: medians["stepmix blrt_sweep"] / medians[name] for name in sides if name.startswith("bmm")}
    for name, ratio in ratios.items():
        print(f"StepMix / {name}: {ratio:.1f}x (medians {medians['stepmix blrt_sweep']:.2f} / {medians[name]:.2f} s)")
    import numba

    record = {"data": "poLCA carcinoma (118 x 7), K = 1..4", "n_repetitions": args.repetitions,
              "rows": rows, "median_seconds": medians, "stepmix_over_bmm": ratios,
              "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
                          "load_average_at_end": os.getloadavg(), "platform": platform.platform()},
              "versions": versions(), "command": " ".join(["python -m bench.blrt_stepmix", *sys.argv[1:]]),
              "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "blrt_stepmix.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out / 'blrt_stepmix.json'}")


if __name__ == "__main__":
    main()
