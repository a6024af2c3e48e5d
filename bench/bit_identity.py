"""Record every kernel's and every fit's results, or compare them with a recording, bit for bit.

A refactor that must not change any result runs this before and after::

    python bench/bit_identity.py record before.npz --mnist-dir path/to/mnist
    ... change the code ...
    python bench/bit_identity.py compare before.npz --mnist-dir path/to/mnist

It uses the public API only (``E_STEPS``, ``M_STEPS``, ``BernoulliMixture``,
``select_n_components``), so the same script runs on both sides of a restructure.  Recorded:
every E-step of the registry on MNIST train (the pure-Python kernels on its first 60 rows) and
on generated shapes including N = 1, K = 1, D = 1; both M-steps; full fits on dense, sparse,
missing-value, memmap and Dask data, ``partial_fit`` passes, ``n_init > 1``, warm starts and
every ``init_params``; ``select_n_components``.  ``compare`` prints each differing entry and
exits 1 if any differs (``np.array_equal``, NaN equal to NaN).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def _generated():
    from bmm_numba.datasets import make_bernoulli_mixture

    shapes = [(1, 1, 1), (1, 5, 3), (7, 1, 2), (50, 9, 1), (300, 37, 4), (1000, 64, 10), (2500, 200, 13),
              (3000, 784, 10), (500, 100, 20)]
    for n, d, k in shapes:
        X, _, _, _ = make_bernoulli_mixture(n, d, max(k, 1), random_state=n + d + k)
        rng = np.random.default_rng(n * 7 + d)
        mu = rng.uniform(0.05, 0.95, size=(k, d))
        pi = rng.dirichlet(np.ones(k))
        yield f"gen_{n}x{d}x{k}", X, mu, pi


def _mnist(folder):
    if folder is None:
        return None
    from bmm_numba.datasets import load_mnist

    X, _ = load_mnist(folder, "train")
    rng = np.random.default_rng(0)
    mu = rng.uniform(0.25, 0.75, size=(10, X.shape[1]))
    return X, mu, np.full(10, 0.1)


def _fit_record(out, name, est):
    out[f"{name}/means"] = est.means_
    out[f"{name}/weights"] = est.weights_
    out[f"{name}/lower_bounds"] = np.asarray(est.lower_bounds_)
    out[f"{name}/n_iter"] = np.asarray(est.n_iter_)
    out[f"{name}/converged"] = np.asarray(est.converged_)
    if hasattr(est, "labels_"):
        out[f"{name}/labels"] = np.asarray(est.labels_)
    out[f"{name}/reseeded"] = np.asarray(est.reseeded_components_, dtype=np.int64).reshape(-1, 3)


def record(mnist_dir):
    """Return ``{name: array}`` of every recorded result."""
    from bmm_numba import E_STEPS, M_STEPS, PRODUCTION_KERNELS, BernoulliMixture, select_n_components
    from bmm_numba.datasets import load_digits_binary, make_bernoulli_mixture

    out = {}
    problems = list(_generated())
    mnist = _mnist(mnist_dir)
    if mnist is not None:
        problems.append(("mnist_train", *mnist))
    for problem, X, mu, pi in problems:
        for kernel, f in E_STEPS.items():
            rows = X
            if kernel.startswith("python") or kernel == "numpy_rows":
                if X.shape[0] * X.shape[1] * mu.shape[0] > 3e6:
                    rows = X[:60]
            with np.errstate(all="ignore"):
                out[f"e_step/{problem}/{kernel}"] = f(rows, mu, pi)
        resp = E_STEPS["numpy"](X, mu, pi)
        for kernel, f in M_STEPS.items():
            mu_new, pi_new = f(X, resp, alpha=0.5, sample_weight=np.linspace(0.5, 1.5, X.shape[0]))
            out[f"m_step/{problem}/{kernel}/mu"] = mu_new
            out[f"m_step/{problem}/{kernel}/pi"] = pi_new

    X, _, _, _ = make_bernoulli_mixture(4000, 60, 6, random_state=1)
    w = np.random.default_rng(2).uniform(0.2, 2.0, X.shape[0])
    X_nan = X.astype(float)
    X_nan[np.random.default_rng(3).random(X.shape) < 0.1] = np.nan
    X_csr = sp.csr_matrix(X)
    digits = load_digits_binary()[0]
    warnings.simplefilter("ignore")
    for kernel in PRODUCTION_KERNELS:
        for form, data in (("dense", X), ("nan", X_nan), ("csr", X_csr), ("digits", digits)):
            for init in ("k-means++", "random", "random_from_data"):
                est = BernoulliMixture(8, kernel=kernel, init_params=init, random_state=4, max_iter=30)
                est.fit(data, sample_weight=w if form == "dense" else None)
                _fit_record(out, f"fit/{kernel}/{form}/{init}", est)
        est = BernoulliMixture(5, kernel=kernel, n_init=3, random_state=5, tol=0, max_iter=12).fit(X)
        _fit_record(out, f"fit/{kernel}/n_init", est)
        est.set_params(warm_start=True, max_iter=5).fit(X)
        _fit_record(out, f"fit/{kernel}/warm", est)
        # a degenerate fit: more components than distinct rows (the collapse policy runs)
        few = np.repeat(np.eye(4, 12, dtype=np.uint8), 30, axis=0)
        est = BernoulliMixture(9, kernel=kernel, random_state=6, max_iter=15).fit(few)
        _fit_record(out, f"fit/{kernel}/collapse", est)
        est = BernoulliMixture(6, kernel=kernel, random_state=7)
        for _ in range(3):
            for batch in np.array_split(X, 4):
                est.partial_fit(batch)
        _fit_record(out, f"fit/{kernel}/partial_fit", est)
        out[f"score/{kernel}/partial_fit"] = est.score_samples(X_nan)
        out[f"proba/{kernel}/partial_fit"] = est.predict_proba(X_csr)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "X.dat"
        mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=X.shape)
        mm[:] = X
        mm.flush()
        mm = np.memmap(path, dtype=np.uint8, mode="r", shape=X.shape)
        est = BernoulliMixture(6, random_state=8, max_iter=20).fit(mm)
        _fit_record(out, "fit/memmap", est)
        out["score/memmap"] = est.score_samples(mm)
        del mm
    try:
        import dask.array as da
    except ImportError:
        da = None
    if da is not None:
        import dask

        with dask.config.set(scheduler="synchronous"):
            est = BernoulliMixture(6, random_state=9, max_iter=20).fit(da.from_array(X, chunks=(1000, 60)))
            _fit_record(out, "fit/dask", est)
            out["score/dask"] = np.asarray(est.score_samples(da.from_array(X, chunks=(1000, 60))).compute())
    if mnist is not None:
        est = BernoulliMixture(10, random_state=0, max_iter=15).fit(mnist[0])
        _fit_record(out, "fit/mnist_train", est)
    table = select_n_components(digits, range(1, 6), random_state=0)
    for key, values in table.items():
        out[f"select/{key}"] = np.asarray(values)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "compare"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--mnist-dir", default=os.environ.get("BMM_NUMBA_MNIST_DIR"))
    args = parser.parse_args(argv)
    mnist_dir = Path(args.mnist_dir) if args.mnist_dir and Path(args.mnist_dir).is_dir() else None
    got = record(mnist_dir)
    if args.action == "record":
        np.savez_compressed(args.path, **{k.replace("/", "|"): v for k, v in got.items()})
        print(f"recorded {len(got)} arrays into {args.path}")
        return 0
    with np.load(args.path) as saved:
        expected = {k.replace("|", "/"): saved[k] for k in saved.files}
    bad = sorted(set(expected) ^ set(got))
    for name in bad:
        print(f"only on one side: {name}")
    for name in sorted(set(expected) & set(got)):
        a, b = expected[name], got[name]
        if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            bad.append(name)
            diff = np.nanmax(np.abs(a - b)) if a.shape == b.shape and a.dtype.kind in "fiu" else "shape"
            print(f"differs: {name} (max abs diff {diff})")
    print(f"compared {len(expected)} arrays: {'all bit-identical' if not bad else f'{len(bad)} differ'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
