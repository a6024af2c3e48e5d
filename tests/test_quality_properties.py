"""Properties of every fit over many random small problems (issue 12).

For 1000 seeded random problems (dense, sparse, missing cells, sample weights, every production
kernel, alpha 0 / 0.1 / 0.5 / 1, every start, every acceleration; at most 30 rows, 10 features and 15 iterations: the
four blocks take ~10 s with a warm Numba cache on 2 shared cores; marked slow): the objective
``lower_bounds_`` never decreases except on the iteration after a recorded re-seed or drop;
``converged_`` is never True after a decrease; means stay in ``[MEANS_EPS, 1 - MEANS_EPS]`` and
weights on the simplex (accelerated fits extrapolate); no component ends below
:data:`~bmm_numba.em.collapse.MIN_MASS` of an average sample's weight.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from bmm_numba import PRODUCTION_KERNELS, BernoulliMixture
from bmm_numba.em.collapse import MIN_MASS
from bmm_numba.kernels.em_run import ROUNDING
from bmm_numba.kernels.m_step import MEANS_EPS

N_PROBLEMS = 1000
KINDS = ("dense", "sparse", "missing", "weighted")


def random_problem(seed):
    """A small 0/1 problem: (X, sample_weight, estimator parameters)."""
    rng = np.random.default_rng(seed)
    n, D = int(rng.integers(4, 31)), int(rng.integers(2, 11))
    n_true = int(rng.integers(1, 4))
    means = rng.random((n_true, D)) ** 2
    X = (rng.random((n, D)) < means[rng.integers(0, n_true, n)]).astype(np.float64)
    kind = KINDS[seed % len(KINDS)]
    w = None
    if kind == "sparse":
        X = sp.csr_matrix(X)
    elif kind == "missing":
        X[rng.random(X.shape) < 0.2] = np.nan
    elif kind == "weighted":
        w = rng.choice([0.0, 0.5, 1.0, 3.0], size=n)
        w[0] = 1.0
    params = {
        "n_components": int(rng.integers(1, min(6, n) + 1)),
        "kernel": PRODUCTION_KERNELS[(seed // len(KINDS)) % len(PRODUCTION_KERNELS)],
        "alpha": float(rng.choice([0.0, 0.1, 0.5, 1.0])),
        "init_params": str(rng.choice(["short_em", "k-means++", "random", "random_from_data"])),
        "max_iter": int(rng.integers(1, 16)),
        "tol": float(rng.choice([0.0, 1e-6, 1e-3])),
        "accelerate": str(rng.choice(["squarem", "overrelax", "none"])),
        "random_state": seed,
    }
    if w is not None and np.count_nonzero(w) < params["n_components"]:
        w[:] = 1.0
    return X, w, params


def check_fit(bm, n_samples):
    """Return the violated properties of a fitted estimator (empty list when none)."""
    lb = bm.lower_bounds_
    events = {it for it, *_ in bm.reseeded_components_} | {it for it, _ in bm.dropped_components_}
    problems = []
    for t in range(1, lb.size):  # lb[t] is the bound of iteration t + 1, after iteration t's changes
        if lb[t] < lb[t - 1] - ROUNDING * max(1.0, abs(lb[t])) and t not in events:
            problems.append(f"decrease at iteration {t + 1}: {lb[t - 1]!r} -> {lb[t]!r}")
    if bm.converged_ and lb.size > 1 and lb[-1] < lb[-2] - ROUNDING * max(1.0, abs(lb[-1])):
        problems.append("converged_ after a decrease")
    if not (np.all(bm.means_ >= MEANS_EPS) and np.all(bm.means_ <= 1 - MEANS_EPS)):
        problems.append("means outside [MEANS_EPS, 1 - MEANS_EPS]")
    if not (np.all(bm.weights_ > 0) and abs(bm.weights_.sum() - 1.0) < 1e-12):
        problems.append("weights off the simplex")
    if np.min(bm.weights_) * n_samples < MIN_MASS * (1 - 1e-12):
        problems.append(f"component below the minimum mass: {np.min(bm.weights_) * n_samples}")
    if bm.n_components_ != bm.means_.shape[0] or bm.n_components_ + len(bm.dropped_components_) != bm.n_components:
        problems.append("n_components_ does not count the dropped components")
    return problems


@pytest.mark.parametrize("block", range(4))
def test_objective_monotone_and_no_small_components(block):
    failures = []
    for seed in range(block, N_PROBLEMS, 4):
        X, w, params = random_problem(seed)
        bm = BernoulliMixture(**params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bm.fit(X, sample_weight=w)
        problems = check_fit(bm, X.shape[0])
        if problems:
            failures.append((seed, params, problems))
    assert not failures, failures[:5]


def test_check_fit_flags_a_decrease():
    """The checker is not vacuous: a doctored history with a decrease is reported."""
    X, w, params = random_problem(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bm = BernoulliMixture(**{**params, "max_iter": 5, "tol": 0.0}).fit(X, sample_weight=w)
    bm.lower_bounds_ = np.array([-3.0, -2.0, -2.5])
    bm.reseeded_components_, bm.dropped_components_, bm.converged_ = [], [], True
    assert len(check_fit(bm, X.shape[0])) == 2
