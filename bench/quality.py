"""Quality benchmark: the estimator's fits against StepMix's, side by side in one process.

Panel (each with a fixed 80/20 train/held-out split, seed 0):

- ``digits``: scikit-learn's 8x8 digits binarised (1797 x 64), labels = digit;
- ``mnist``: MNIST test images binarised (10000 x 784), from ``--mnist-dir`` or
  ``BMM_NUMBA_MNIST_DIR`` (skipped when neither is given);
- ``text``: word presence, ``CountVectorizer(binary=True, max_features=2000)`` over the ``.py``
  files of Python's standard library (not ``site-packages``), passed as CSR, labels = top-level
  folder or module;
- ``digits_missing``: ``digits`` with 10 % of cells set to NaN at random (StepMix ``binary_nan``).

Methods: ``bmm`` (the estimator's defaults), ``bmm:key=value,...`` (defaults with overrides,
values as Python literals, e.g. ``bmm:alpha=0,init_params='random'``), ``stepmix`` (StepMix's
defaults, ``measurement="binary"``), ``stepmix-kmeans`` (its ``init_params="kmeans"``).

Columns per (data, K, seed, method): training and held-out mean log-likelihood (plain
likelihood, as ``score``), ARI of the training labels (where labels exist), BIC on the training
rows, iterations, fit time.  Writes ``quality.json``, ``quality.csv`` and ``quality.md`` (means
over seeds) under ``--out``::

    python -m bench.quality --data digits,text --K 2,5,10,20 --seeds 0,1,2 --out docs/benchmarks
"""

from __future__ import annotations

import argparse
import ast
import csv
import glob
import json
import os
import sysconfig
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from bmm_numba import BernoulliMixture
from bmm_numba.datasets import load_digits_binary, load_mnist

DATA = ("digits", "text", "mnist", "digits_missing")
METHODS = ("bmm", "stepmix", "stepmix-kmeans")
COLUMNS = ("data", "K", "seed", "method", "train_ll", "test_ll", "ari", "bic", "n_iter", "n_components",
           "seconds")


def stdlib_text(max_features=2000):
    """Word presence over the standard library's ``.py`` files: (CSR X, labels)."""
    from sklearn.feature_extraction.text import CountVectorizer

    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(f for f in glob.glob(str(root / "**" / "*.py"), recursive=True) if "site-packages" not in f)
    texts, labels = [], []
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            texts.append(fh.read())
        labels.append(Path(f).relative_to(root).parts[0].removesuffix(".py"))
    X = CountVectorizer(binary=True, max_features=max_features, dtype=np.uint8).fit_transform(texts)
    return X.tocsr(), np.unique(labels, return_inverse=True)[1]


def load(name, mnist_dir=None, max_rows=None):
    """Return ``(X_train, X_test, y_train)`` of a panel data set (fixed split, seed 0)."""
    if name in ("digits", "digits_missing"):
        X, y = load_digits_binary()
        if name == "digits_missing":
            X = X.astype(np.float64)
            X[np.random.default_rng(1).random(X.shape) < 0.1] = np.nan
    elif name == "mnist":
        X, y = load_mnist(mnist_dir, "test")
    elif name == "text":
        X, y = stdlib_text()
    else:
        raise ValueError(f"unknown data set {name!r}; expected one of {DATA}")
    order = np.random.default_rng(0).permutation(X.shape[0])
    if max_rows is not None:
        order = order[:max_rows]
    n_train = int(0.8 * order.size)
    train, test = np.sort(order[:n_train]), np.sort(order[n_train:])
    return X[train], X[test], y[train]


def parse_method(method):
    """``"bmm:a=1,b='x'"`` -> ``("bmm", {"a": 1, "b": "x"})``."""
    name, _, spec = method.partition(":")
    params = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        params[key.strip()] = ast.literal_eval(value.strip())
    return name, params


def fit_one(name, params, X_train, X_test, y_train, K, seed, missing):
    """Fit one method; return the result columns (without data, K, seed, method)."""
    if name == "bmm":
        model = BernoulliMixture(K, random_state=seed, **params)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = model.fit_predict(X_train)
        seconds = time.perf_counter() - start
        train_ll, test_ll = model.score(X_train), model.score(X_test)
        bic, n_iter, k_eff = model.bic(X_train), model.n_iter_, model.n_components_
    elif name.startswith("stepmix"):
        from stepmix import StepMix

        dense = [x.toarray() if hasattr(x, "toarray") else np.asarray(x) for x in (X_train, X_test)]
        init = {"init_params": "kmeans"} if name == "stepmix-kmeans" else {}
        model = StepMix(n_components=K, measurement="binary_nan" if missing else "binary", random_state=seed,
                        verbose=0, progress_bar=0, **init, **params)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(dense[0])
            labels = model.predict(dense[0])
        seconds = time.perf_counter() - start
        train_ll, test_ll = model.score(dense[0]), model.score(dense[1])
        bic, n_iter, k_eff = model.bic(dense[0]), model.n_iter_, K
    else:
        raise ValueError(f"unknown method {name!r}")
    ari = adjusted_rand_score(y_train, labels) if y_train is not None else float("nan")
    return {"train_ll": float(train_ll), "test_ll": float(test_ll), "ari": float(ari), "bic": float(bic),
            "n_iter": int(n_iter), "n_components": int(k_eff), "seconds": seconds}


def run(data, Ks, seeds, methods, mnist_dir=None, max_rows=None, log=print, done=None):
    """Run the panel; return one dict per fit (:data:`COLUMNS`).

    ``done(rows)``, when given, is called after every fit (the script saves there, so that a long
    panel stopped half-way keeps what it measured).
    """
    rows = []
    for name in data:
        X_train, X_test, y_train = load(name, mnist_dir, max_rows)
        for K in Ks:
            for method in methods:
                kind, params = parse_method(method)
                if kind == "stepmix-kmeans" and name.endswith("missing"):
                    continue  # StepMix's k-means start (scikit-learn's KMeans) rejects NaN
                for seed in seeds:
                    result = fit_one(kind, params, X_train, X_test, y_train, K, seed, name.endswith("missing"))
                    rows.append({"data": name, "K": K, "seed": seed, "method": method, **result})
                    log(json.dumps(rows[-1]))
                    if done is not None:
                        done(rows)
    return rows


def merge(old, new):
    """``old`` rows with those of the same (data, K, seed, method) replaced by ``new``, then the rest of ``new``."""
    key = ("data", "K", "seed", "method")
    fresh = {tuple(r[c] for c in key): r for r in new}
    kept = [fresh.pop(tuple(r[c] for c in key), r) for r in old]
    return kept + list(fresh.values())


def _order(key):
    """Sort key of a (data, K, method) group: panel order, then K, then bmm, its variants, StepMix."""
    name, K, method = key
    rank = 0 if method == "bmm" else 1 if method.startswith("bmm") else 2 if method == "stepmix" else 3
    return (DATA.index(name) if name in DATA else len(DATA), name, K, rank, method)


def _means(rows):
    """``{(data, K, method): (mean of every numeric column, number of seeds)}`` in table order."""
    groups = {}
    for r in rows:
        groups.setdefault((r["data"], r["K"], r["method"]), []).append(r)
    return {key: ({c: float(np.mean([r[c] for r in groups[key]])) for c in COLUMNS[4:]}, len(groups[key]))
            for key in sorted(groups, key=_order)}


def table(rows):
    """Markdown: the mean over seeds per (data, K, method), then the must-show check against StepMix.

    The check, per (data, K) with both ``bmm`` and ``stepmix``: training mean log-likelihood at
    least StepMix's minus 0.2 % of its magnitude, held-out at least StepMix's.
    """
    means = _means(rows)
    lines = ["| data | K | method | seeds | train ll | held-out ll | ARI | BIC | iter | K eff | s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (name, K, method), (m, n) in means.items():
        lines.append(f"| {name} | {K} | {method} | {n} | {m['train_ll']:.4f} | {m['test_ll']:.4f} | {m['ari']:.3f} | "
                     f"{m['bic']:.0f} | {m['n_iter']:.1f} | {m['n_components']:.1f} | {m['seconds']:.2f} |")
    lines += ["", "Must-show check (`bmm` defaults against `stepmix` defaults, means over the seeds above):", "",
              "| data | K | train bmm | train StepMix | bmm - StepMix (% of its magnitude) | held-out bmm | "
              "held-out StepMix | train >= StepMix - 0.2 % | held-out >= StepMix |",
              "|---|---|---|---|---|---|---|---|---|"]
    for (name, K, method), (m, _) in means.items():
        ref = means.get((name, K, "stepmix"))
        if method != "bmm" or ref is None:
            continue
        ref = ref[0]
        gap = 100 * (m["train_ll"] - ref["train_ll"]) / abs(ref["train_ll"])
        lines.append(f"| {name} | {K} | {m['train_ll']:.4f} | {ref['train_ll']:.4f} | {gap:+.3f} | "
                     f"{m['test_ll']:.4f} | {ref['test_ll']:.4f} | {'yes' if gap >= -0.2 else 'NO'} | "
                     f"{'yes' if m['test_ll'] >= ref['test_ll'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def save(rows, out):
    """Write ``quality.json``, ``quality.csv`` and ``quality.md`` under ``out`` (:func:`report`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(rows, indent=1))
    with open(out / "quality.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    report(out)


def report(out):
    """Rewrite ``quality.md`` under ``out`` from its ``quality.json``, keeping the text around the table.

    The table is replaced; what comes before it (the header: command, legend) and after it (the
    closing note) is kept.
    """
    out = Path(out)
    rows = json.loads((out / "quality.json").read_text())
    md = out / "quality.md"
    lines = md.read_text().splitlines(keepends=True) if md.exists() else []
    rows_at = [i for i, line in enumerate(lines) if line.startswith("|")]
    head = "".join(lines[: rows_at[0]]) if rows_at else ""
    tail = "".join(lines[rows_at[-1] + 1 :]) if rows_at else ""
    md.write_text(head + table(rows) + tail)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits,text,digits_missing,mnist")
    parser.add_argument("--K", default="2,5,10,20")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(METHODS), help="separated by ';' when a method has ','")
    parser.add_argument("--mnist-dir", default=os.environ.get("BMM_NUMBA_MNIST_DIR"))
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--out", default="quality-out")
    parser.add_argument("--merge", action="store_true",
                        help="add to (or replace in) the fits already saved in OUT/quality.json")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite OUT/quality.md's table from OUT/quality.json (no fits)")
    args = parser.parse_args(argv)
    if args.report:
        print(table(report(args.out)))
        return
    data = [d for d in args.data.split(",") if d != "mnist" or args.mnist_dir]
    methods = args.methods.split(";") if ";" in args.methods else args.methods.split(",")
    path = Path(args.out) / "quality.json"
    old = json.loads(path.read_text()) if args.merge and path.exists() else []

    def done(rows):
        save(merge(old, rows), args.out)

    rows = run(data, [int(k) for k in args.K.split(",")], [int(s) for s in args.seeds.split(",")], methods,
               args.mnist_dir, args.max_rows, done=done)
    print(table(merge(old, rows)))


if __name__ == "__main__":
    main()
