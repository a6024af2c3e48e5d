"""The size of the bootstrap likelihood-ratio test, and whether fewer refit starts inflate it.

``--data-sets`` data sets (seeds 1000, 1001, ...) of 300 rows, 6 items, drawn from 2 classes
(weights 0.6, 0.4); on each, ``blrt(X, 3, n_bootstrap=19, refit_starts=r)`` tests 2 against 3
classes, so every rejection is a type-I error.  Recorded per ``r``: the share rejected at
``p <= 0.05`` (an exact 5 % test with B = 19) and at ``p <= 0.10``, and the mean p-value::

    python -m bench.blrt_size --refit-starts 1 5
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from bmm_numba import blrt

MEANS = np.array([[0.8, 0.75, 0.8, 0.25, 0.2, 0.3], [0.2, 0.3, 0.25, 0.75, 0.8, 0.7]])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-sets", type=int, default=100)
    parser.add_argument("--refit-starts", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args(argv)
    for r in args.refit_starts:
        p_values, start = [], time.perf_counter()
        for seed in range(args.data_sets):
            rng = np.random.default_rng(1000 + seed)
            X = (rng.random((300, 6)) < MEANS[rng.choice(2, 300, p=[0.6, 0.4])]).astype(np.uint8)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p_values.append(blrt(X, 3, n_bootstrap=19, refit_starts=r, random_state=seed).p_value)
        p = np.array(p_values)
        print(f"refit_starts={r}: {args.data_sets} data sets from 2 classes, 2 vs 3, B=19: rejected at p<=0.05 "
              f"{np.mean(p <= 0.05):.3f}, at p<=0.10 {np.mean(p <= 0.10):.3f}, mean p {p.mean():.3f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
