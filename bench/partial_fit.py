"""``partial_fit`` on MNIST: stepwise (default) and incremental EM against the full-batch fit, and memory.

    BMM_NUMBA_MNIST_DIR=path/to/mnist python bench/partial_fit.py [--passes 5] [--batches 10000]

Two measurements (issue 22):

1. quality: MNIST train (60 000 x 784, pixels >= 128), K = 10, batches of ``--batch-size``
   rows in one fixed shuffled order, ``--passes`` passes; after each pass the mean
   log-likelihood per image of the whole training set (:meth:`score`) for
   ``partial_fit_method="stepwise"`` (the defaults) and ``"incremental"``, against the
   full-batch ``fit`` at its defaults (same K, ``random_state``);
2. memory: ``partial_fit`` at its defaults over ``--batches`` distinct batches of 100 MNIST-size
   rows (uniform draws of training rows, so no batch repeats), with ``tracemalloc``: the
   Python/NumPy memory held after 100 batches and after all of them, and the peak (the
   incremental method's growth over 1 000 batches for comparison).

Prints one table per measurement; ``--json FILE`` also writes the numbers.
"""

import argparse
import json
import time
import tracemalloc
import warnings

import numpy as np

from bmm_numba import BernoulliMixture
from bmm_numba.datasets import load_mnist

K = 10


def quality(X, passes, batch_size, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        full = BernoulliMixture(K, random_state=seed).fit(X)
        full_seconds = time.perf_counter() - start
    full_score = full.score(X)
    order = np.random.default_rng(seed).permutation(X.shape[0])
    batches = [X[np.sort(rows)] for rows in np.array_split(order, X.shape[0] // batch_size)]
    rows = []
    for method in ("stepwise", "incremental"):
        est = BernoulliMixture(K, random_state=seed, partial_fit_method=method)
        seconds = 0.0
        for p in range(1, passes + 1):
            start = time.perf_counter()
            for batch in batches:
                est.partial_fit(batch)
            seconds += time.perf_counter() - start
            score = est.score(X)
            rows.append({"method": method, "pass": p, "score": score, "gap_percent": 100 * (full_score - score)
                         / abs(full_score), "seconds": seconds})
    return {"full_score": full_score, "full_seconds": full_seconds, "batches": len(batches), "rows": rows}


def memory(X, n_batches, seed, method="stepwise", batch_rows=100):
    rng = np.random.default_rng(seed)
    est = BernoulliMixture(K, random_state=seed, partial_fit_method=method)
    est.partial_fit(X[rng.integers(0, X.shape[0], 1000)])  # first batch: initialisation, compilation
    tracemalloc.start()
    held = {}
    start = time.perf_counter()
    try:
        for b in range(1, n_batches + 1):
            est.partial_fit(X[rng.integers(0, X.shape[0], batch_rows)])
            if b in (100, n_batches):
                held[b] = tracemalloc.get_traced_memory()[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {"method": method, "batches": n_batches, "held_after_100": held[100], "held_at_end": held[n_batches],
            "peak": peak, "seconds": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    X, _ = load_mnist(split="train")
    q = quality(X, args.passes, args.batch_size, args.seed)
    print(f"full-batch fit: score {q['full_score']:.3f} per image ({q['full_seconds']:.1f} s); "
          f"{q['batches']} batches of {args.batch_size}")
    print(f"{'method':<12} {'pass':>4} {'score':>10} {'gap %':>7} {'seconds':>8}")
    for r in q["rows"]:
        print(f"{r['method']:<12} {r['pass']:>4} {r['score']:>10.3f} {r['gap_percent']:>7.3f} {r['seconds']:>8.1f}")
    m = [memory(X, args.batches, args.seed), memory(X, min(args.batches, 1000), args.seed, "incremental")]
    print(f"{'method':<12} {'batches':>7} {'MiB after 100':>13} {'MiB at end':>10} {'peak MiB':>8} {'seconds':>8}")
    for r in m:
        print(f"{r['method']:<12} {r['batches']:>7} {r['held_after_100'] / 2**20:>13.2f} "
              f"{r['held_at_end'] / 2**20:>10.2f} {r['peak'] / 2**20:>8.2f} {r['seconds']:>8.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"quality": q, "memory": m, "args": vars(args)}, fh, indent=1)


if __name__ == "__main__":
    main()
