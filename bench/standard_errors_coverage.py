"""Coverage of 95 % Wald intervals from ``standard_errors``, and the bootstrap against the information.

100 data sets (seeds 0..99) of N = 500 rows, 6 items, 2 classes (weights 0.6, 0.4; item
probabilities 0.8/0.2, 0.7/0.3, 0.75/0.25, 0.2/0.8, 0.3/0.7, 0.25/0.75), each fitted with
``BernoulliMixture(2, alpha=0, n_init=5, tol=1e-8)``; the fitted classes are matched to the true
ones (the permutation nearest in the means).  Recorded: the share of the 1200 intervals
``mu_hat +- 1.96 SE`` (information method) that cover the true item probability, and, on the
first ``--bootstrap-sets`` data sets, the ratio of the bootstrap errors (``--bootstrap``
replicates) to the information errors, per parameter and on average::

    python -m bench.standard_errors_coverage --out docs/benchmarks
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from bmm_numba import BernoulliMixture

from .lca_fits import class_rows

MEANS = np.array([[0.8, 0.7, 0.75, 0.2, 0.3, 0.25], [0.2, 0.3, 0.25, 0.8, 0.7, 0.75]])
WEIGHTS = np.array([0.6, 0.4])


def simulate(seed, n=500):
    return class_rows(np.random.default_rng(seed), MEANS, WEIGHTS, n).astype(np.uint8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-sets", type=int, default=100)
    parser.add_argument("--bootstrap-sets", type=int, default=100)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    covered, total, ratios, weight_covered = 0, 0, [], 0
    start = time.perf_counter()
    for seed in range(args.data_sets):
        X = simulate(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bm = BernoulliMixture(2, alpha=0, n_init=5, tol=1e-8, max_iter=2000, random_state=seed).fit(X)
        order = [0, 1] if np.abs(bm.means_ - MEANS).sum() <= np.abs(bm.means_[::-1] - MEANS).sum() else [1, 0]
        means, weights = bm.means_[order], bm.weights_[order]
        se = bm.standard_errors(X)
        se_means, se_weights = se.means[order], se.weights[order]
        inside = np.abs(means - MEANS) <= 1.96 * se_means
        covered += int(inside.sum())
        total += inside.size
        weight_covered += int(abs(weights[0] - WEIGHTS[0]) <= 1.96 * se_weights[0])
        if seed < args.bootstrap_sets:
            boot = bm.standard_errors(X, method="bootstrap", n_bootstrap=args.bootstrap)
            ratios.append((boot.means[order] / se_means).ravel().tolist())
        if seed % 10 == 9:
            print(f"{seed + 1} data sets: coverage {covered / total:.3f} ({time.perf_counter() - start:.0f} s)",
                  flush=True)
    ratios = np.array(ratios)
    per_parameter = ratios.mean(axis=0) if len(ratios) else np.array([])
    summary = {"coverage_means": covered / total, "intervals": total,
               "coverage_weight": weight_covered / args.data_sets,
               "bootstrap_over_information_mean_per_parameter": per_parameter.round(4).tolist(),
               "bootstrap_over_information_overall": float(ratios.mean()) if len(ratios) else None,
               "bootstrap_over_information_min_max": [float(per_parameter.min()), float(per_parameter.max())]
               if len(ratios) else None,
               "bootstrap_sets": len(ratios), "bootstrap_replicates": args.bootstrap,
               "seconds": time.perf_counter() - start, "load_average_at_end": os.getloadavg()}
    print(summary)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "standard_errors_coverage.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
