"""Does the bootstrap likelihood-ratio test pick the true number of classes?

10 data sets (seeds 0..9), each N = 300 rows of 8 items from 3 well-separated classes (weights
0.4, 0.35, 0.25; item probabilities 0.85 or 0.15 in three different patterns).  On each, the
BLRT with 49 replicates tests 1 vs 2, 2 vs 3, 3 vs 4 in turn (:func:`bmm_numba.blrt`, defaults,
``random_state`` = the data set's seed), and the chosen K is the first K whose test against
K + 1 has p >= 0.05 (the tests after it are not run).  BIC's and SABIC's choices over K = 1..5
are recorded beside it.  Slow (minutes on 2 loaded cores)::

    python -m bench.blrt_power --out docs/benchmarks
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from bmm_numba import blrt, select_n_components

from .lca_fits import class_rows

MEANS = np.array([[0.85, 0.85, 0.85, 0.85, 0.15, 0.15, 0.15, 0.15],
                  [0.15, 0.15, 0.85, 0.85, 0.85, 0.85, 0.15, 0.15],
                  [0.85, 0.15, 0.15, 0.85, 0.15, 0.85, 0.85, 0.15]])
WEIGHTS = np.array([0.4, 0.35, 0.25])


def simulate(seed, n=300):
    return class_rows(np.random.default_rng(seed), MEANS, WEIGHTS, n).astype(np.uint8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-sets", type=int, default=10)
    parser.add_argument("--replicates", type=int, default=49)
    parser.add_argument("--refit-starts", type=int, default=5, help="blrt's refit_starts (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    rows = []
    for seed in range(args.data_sets):
        X = simulate(seed)
        start = time.perf_counter()
        p_values, chosen = [], None
        for K in (2, 3, 4):
            result = blrt(X, K, n_bootstrap=args.replicates, refit_starts=args.refit_starts, random_state=seed)
            p_values.append(result.p_value)
            if result.p_value >= 0.05:
                chosen = K - 1
                break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = select_n_components(X, range(1, 6), random_state=seed, n_init=5)
        Ks = np.array(table["K"])
        row = {"seed": seed, "blrt_p": p_values, "blrt_K": chosen if chosen is not None else ">=4",
               "bic_K": int(Ks[np.argmin(table["BIC"])]), "sabic_K": int(Ks[np.argmin(table["SABIC"])]),
               "seconds": time.perf_counter() - start}
        rows.append(row)
        print(row, flush=True)
    hits = sum(r["blrt_K"] == 3 for r in rows)
    summary = {"blrt_picks_3": hits, "bic_picks_3": sum(r["bic_K"] == 3 for r in rows),
               "sabic_picks_3": sum(r["sabic_K"] == 3 for r in rows), "data_sets": len(rows)}
    print(summary)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "blrt_power.json" if args.refit_starts == 5 else f"blrt_power_refit{args.refit_starts}.json"
    (args.out / name).write_text(json.dumps(
        {"summary": summary, "rows": rows, "replicates": args.replicates, "refit_starts": args.refit_starts,
         "N": 300, "items": 8,
         "load_average_at_end": os.getloadavg()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
