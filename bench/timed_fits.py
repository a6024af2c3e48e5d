"""One timed fit of each kind, for ``bench/whole_fit.py`` and ``bench/test_bench_whole_fit.py``.

The estimator's default fit (:func:`fit_bmm`), the gap to its own fixed point
(:func:`fixed_point_gap`) and the time to a fixed point (:func:`fit_to_fixed_point`),
StepMix's with the same settings (:func:`stepmix_model`, :func:`fit_stepmix`), a default fit
split into its phases through the estimator's progress hooks (:class:`SplitMonitor`,
:func:`fit_split`), EM iterations from fixed means (:func:`fixed_iterations`); the small data
sets of the ``whole`` panel (:func:`tiny_data`, the generated :func:`zoo_data` and
:func:`onehot_data`) and the busy processes of the tiny panel.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from time import perf_counter

import numpy as np

from bmm_numba import BernoulliMixture
from bmm_numba.em.progress import ProgressMonitor


def quiet(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with warnings silenced (ConvergenceWarning at ``max_iter``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def tiny_data(n=435, d=16, missing=0.05, seed=0):
    """``n x d`` float rows from a 2-component Bernoulli mixture with a ``missing`` fraction of NaN cells."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.1, 0.9, size=(2, d))
    X = (rng.random((n, d)) < mu[rng.integers(0, 2, n)]).astype(np.float64)
    X[rng.random((n, d)) < missing] = np.nan
    return X


#: Class sizes of :func:`zoo_data` (101 rows in 7 classes, the sizes of UCI's zoo table's types).
ZOO_CLASS_SIZES = (41, 20, 5, 13, 4, 8, 10)
#: Levels of the 22 attributes of :func:`onehot_data` (2-12 each, 116 one-hot columns; the shape
#: of the one-hot coded UCI mushroom table, its one-level attribute given two).
ONEHOT_LEVELS = (6, 4, 10, 2, 9, 2, 2, 2, 12, 2, 4, 4, 4, 9, 9, 2, 4, 2, 5, 9, 6, 7)


def zoo_data(seed=0):
    """A *generated* 101 x 15 0/1 table shaped like an animal-features table (no public copy used).

    Rows drawn from a 7-class Bernoulli mixture (class sizes :data:`ZOO_CLASS_SIZES`) whose
    means are mostly sharp (0.05 or 0.95, as features like "has feathers" are), 40 % of them
    uniform in (0.2, 0.8).
    """
    rng = np.random.default_rng(seed)
    n_classes, d = len(ZOO_CLASS_SIZES), 15
    mu = np.where(rng.random((n_classes, d)) < 0.5, 0.05, 0.95)
    vague = rng.random((n_classes, d)) < 0.4
    mu[vague] = rng.uniform(0.2, 0.8, size=vague.sum())
    z = np.repeat(np.arange(n_classes), ZOO_CLASS_SIZES)
    return (rng.random((z.size, d)) < mu[z]).astype(np.float64)


def onehot_data(n=8124, n_classes=5, missing_rows=0.3, shared=0.8, seed=0):
    """A *generated* one-hot coded categorical table with missing attributes (NaN across a block).

    ``n`` rows of the 22 categorical attributes of :data:`ONEHOT_LEVELS` (116 one-hot columns)
    from a latent-class model: ``n_classes`` classes (weights from a Dirichlet(2)) whose
    category probabilities per attribute are ``shared`` of one distribution common to all classes
    (Dirichlet(1)) and the rest their own (Dirichlet(0.5): a few likely levels), so the classes
    overlap as the mushroom table's do.  A
    ``missing_rows`` fraction of the rows miss one attribute (drawn uniformly): its whole block
    of columns is NaN.
    """
    rng = np.random.default_rng(seed)
    z = rng.choice(n_classes, size=n, p=rng.dirichlet(np.full(n_classes, 2.0)))
    blocks, start = [], 0
    X = np.zeros((n, sum(ONEHOT_LEVELS)))
    for levels in ONEHOT_LEVELS:
        base = rng.dirichlet(np.full(levels, 1.0))
        p = shared * base + (1.0 - shared) * rng.dirichlet(np.full(levels, 0.5), size=n_classes)  # (classes, levels)
        u = rng.random(n)[:, None]
        level = np.minimum((u > np.cumsum(p[z], axis=1)).sum(axis=1), levels - 1)
        X[np.arange(n), start + level] = 1.0
        blocks.append((start, start + levels))
        start += levels
    rows = np.flatnonzero(rng.random(n) < missing_rows)
    for row, attribute in zip(rows, rng.integers(0, len(ONEHOT_LEVELS), rows.size), strict=True):
        low, high = blocks[attribute]
        X[row, low:high] = np.nan
    return X


@contextmanager
def busy_processes(n, settle=0.5):
    """Run ``n`` Python processes spinning ``while True: pass`` for the ``with`` block; kill them after."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        if procs:
            time.sleep(settle)  # past their start-up, spinning
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def bmm_defaults():
    """The installed estimator's ``n_init``, ``max_iter`` and ``tol`` (StepMix gets the same)."""
    params = BernoulliMixture().get_params()
    return {key: params[key] for key in ("n_init", "max_iter", "tol")}


def stepmix_measurement(X):
    """StepMix's measurement for ``X``: ``"binary_nan"`` (its missing-value model) when X has NaN, else ``"binary"``."""
    return "binary_nan" if np.isnan(np.asarray(X, dtype=float)).any() else "binary"


def stepmix_model(K, seed, measurement="binary"):
    """StepMix 3 with the estimator's ``n_init``, ``max_iter`` and stopping rule (``measurement``).

    The estimator stops when its objective (per sample) changes by ``0 <= change < tol *
    max(1, |objective|)``; StepMix when its mean log-likelihood changes by ``|change| < abs_tol``
    *or* ``|change / ll| < rel_tol``.  With ``abs_tol = rel_tol = tol`` StepMix's threshold is
    ``tol * max(1, |ll|)``, the same.  Left different: StepMix also takes a decrease smaller
    than that for convergence (EM decreases only by rounding); the estimator's objective adds
    the log-prior of its means (default ``alpha``) to the log-likelihood, StepMix's is the
    plain log-likelihood.  Both count the iteration whose change met the rule (its M-step
    applied) and end with one E-step.
    """
    from stepmix import StepMix

    d = bmm_defaults()
    return StepMix(n_components=K, measurement=measurement, n_init=d["n_init"], max_iter=d["max_iter"],
                   rel_tol=d["tol"], abs_tol=d["tol"], random_state=seed, verbose=0, progress_bar=0)


def fit_bmm(X, K, seed, *, gap=False, **params):
    """Time ``BernoulliMixture(K, random_state=seed, **params).fit(X)``; return the fit's row.

    ``gap``: also run the fit on to its own fixed point (:func:`fixed_point_gap`, untimed) and
    record ``gap`` (nats per sample), ``gap_n_iter``, ``gap_converged``, ``gap_seconds``.
    """
    row, model = timed_bmm(X, K, seed, **params)
    if gap:
        row.update(fixed_point_gap(model, X))
    return row


def timed_bmm(X, K, seed, **params):
    """Time ``BernoulliMixture(K, random_state=seed, **params).fit(X)``; return ``(row, model)``."""
    model = BernoulliMixture(K, random_state=seed, **params)
    start = perf_counter()
    quiet(model.fit, X)
    seconds = perf_counter() - start
    row = {"seconds": seconds, "n_iter": int(model.n_iter_), "n_passes": int(getattr(model, "n_passes_", -1)),
           "converged": bool(model.converged_), "lower_bound": float(model.lower_bound_),
           "log_likelihood": float(model.score(X)), "n_components": int(model.n_components_)}
    return row, model


def fit_to_fixed_point(X, K, seed, **params):
    """Time ``BernoulliMixture(K, random_state=seed, tol=0, max_iter=FIXED_POINT_MAX_ITER, **params).fit(X)``.

    ``tol=0`` stops where the objective no longer increases beyond rounding: the time to the
    fixed point from the default start.  Returns ``fp_seconds``, ``fp_n_iter``, ``fp_n_passes``,
    ``fp_converged`` and ``fp_lower_bound`` (the objective reached, nats per sample).
    """
    model = BernoulliMixture(K, random_state=seed, tol=0.0, max_iter=FIXED_POINT_MAX_ITER, **params)
    start = perf_counter()
    quiet(model.fit, X)
    seconds = perf_counter() - start
    return {"fp_seconds": seconds, "fp_n_iter": int(model.n_iter_), "fp_n_passes": int(getattr(model, "n_passes_", -1)),
            "fp_converged": bool(model.converged_), "fp_lower_bound": float(model.lower_bound_)}


#: The continuation of :func:`fixed_point_gap`: plain EM (no extrapolation) at ``tol=0``, which
#: stops where the objective no longer increases beyond rounding.
FIXED_POINT_MAX_ITER = 100_000


def fixed_point_gap(model, X):
    """How far a fitted ``model`` stopped from the fixed point of its own objective.

    Continues from its ``means_`` and ``weights_`` with plain EM at ``tol=0`` (the same
    ``alpha``, :data:`FIXED_POINT_MAX_ITER` at most) and returns ``gap``: the continuation's
    ``lower_bound_`` minus the model's (nats per sample; the objective includes the prior's
    log-density), with the continuation's ``gap_n_iter``, ``gap_converged`` and ``gap_seconds``.
    """
    weights = model.weights_
    more = BernoulliMixture(len(weights), means_init=model.means_, weights_init=weights, tol=0.0,
                            max_iter=FIXED_POINT_MAX_ITER, accelerate="none", alpha=model.alpha)
    start = perf_counter()
    quiet(more.fit, X)
    return {"gap": float(more.lower_bound_ - model.lower_bound_), "gap_n_iter": int(more.n_iter_),
            "gap_converged": bool(more.converged_), "gap_seconds": perf_counter() - start}


def fit_stepmix(X, K, seed):
    """Time StepMix's fit (:func:`stepmix_model`, :func:`stepmix_measurement`) on dense X; return the fit's row."""
    model = stepmix_model(K, seed, stepmix_measurement(X))
    start = perf_counter()
    quiet(model.fit, X)
    seconds = perf_counter() - start
    return {"seconds": seconds, "n_iter": int(model.n_iter_), "converged": bool(model.converged_),
            "log_likelihood": float(model.score(X)), "n_components": K}


class SplitMonitor(ProgressMonitor):
    """Progress hooks recording ``(started, em_began, ended, iterations)`` of every start.

    Times are ``perf_counter`` marks: ``started`` when the start begins (before its
    initialisation), ``em_began`` the first iteration's report time minus its ``seconds`` (the
    hook's time since the start's EM iterations began, after the initialisation), ``ended`` when
    the start ends.
    """

    def __init__(self):
        self.marks, self._started, self._began, self._iterations = [], None, None, 0

    def start(self, init, n_init):
        self._started, self._began, self._iterations = perf_counter(), None, 0

    def iteration(self, n_iter, lower_bound, change, seconds):
        if self._began is None:
            self._began = perf_counter() - seconds
        self._iterations = n_iter

    def end(self, converged, lower_bound, seconds):
        ended = perf_counter()
        self.marks.append((self._started, ended if self._began is None else self._began, ended, self._iterations))


class SplitMixture(BernoulliMixture):
    """:class:`BernoulliMixture` whose fits keep their :class:`SplitMonitor` in ``monitor_``."""

    def _progress_monitor(self):
        self.monitor_ = SplitMonitor()
        return self.monitor_


def fit_split(X, K, seed):
    """Time a default fit and split it into before / start / EM / after (seconds) from its hooks.

    *before*: ``fit`` called -> first start begins (validation, encoding); *start*: the
    initialisations; *EM*: the iterations; *after*: last start ends -> ``fit`` returns (the
    final E-step, labels); ``per_iteration`` = EM / iterations of every start.
    """
    if not hasattr(BernoulliMixture, "_progress_monitor"):
        raise RuntimeError("BernoulliMixture has no _progress_monitor hook: the split cannot be measured")
    model = SplitMixture(K, random_state=seed)
    called = perf_counter()
    quiet(model.fit, X)
    returned = perf_counter()
    marks = model.monitor_.marks
    em = sum(ended - began for _, began, ended, _ in marks)
    return {"seconds": returned - called, "before": marks[0][0] - called,
            "start": sum(began - started for started, began, _, _ in marks), "em": em,
            "after": returned - marks[-1][2], "n_iter": int(model.n_iter_),
            "per_iteration": em / max(1, sum(m[3] for m in marks))}


def fixed_iterations(X, K, iterations, seed=0, **params):
    """Seconds per EM iteration over ``iterations`` iterations (``tol=0``) from fixed means (no start).

    ``params``: other estimator parameters (``alpha=0.0`` for maximum likelihood, as StepMix).
    """
    means = np.random.default_rng(seed).uniform(0.25, 0.75, size=(K, X.shape[1]))
    model = SplitMixture(K, means_init=means, tol=0.0, max_iter=iterations, **params)
    quiet(model.fit, X)
    [(_, began, ended, n_iter)] = model.monitor_.marks
    return (ended - began) / n_iter


def stepmix_iterations(X, K, iterations, seed=0):
    """Seconds per StepMix EM iteration: ``(T(1 + iterations) - T(1)) / iterations`` (``tol=0``).

    Two fits of StepMix (random start, no stopping) differing only in ``max_iter``: the
    difference holds ``iterations`` EM iterations and none of the validation, start and final
    E-step both fits share.
    """
    from stepmix import StepMix

    measurement = stepmix_measurement(X)

    def seconds(max_iter):
        model = StepMix(n_components=K, measurement=measurement, n_init=1, max_iter=max_iter, abs_tol=0.0, rel_tol=0.0,
                        init_params="random", random_state=seed, verbose=0, progress_bar=0)
        start = perf_counter()
        quiet(model.fit, X)
        return perf_counter() - start

    return (seconds(1 + iterations) - seconds(1)) / iterations
