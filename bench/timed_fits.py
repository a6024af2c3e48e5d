"""One timed fit of each kind, for ``bench/whole_fit.py`` and ``bench/test_bench_whole_fit.py``.

The estimator's default fit (:func:`fit_bmm`), StepMix's with the same settings
(:func:`stepmix_model`, :func:`fit_stepmix`), a default fit split into its phases through the
estimator's progress hooks (:class:`SplitMonitor`, :func:`fit_split`), EM iterations from fixed
means (:func:`fixed_iterations`); the tiny data set and busy processes of the tiny panel.
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


def stepmix_model(K, seed):
    """StepMix 3 with the estimator's ``n_init``, ``max_iter`` and stopping rule (binary measurement).

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
    return StepMix(n_components=K, measurement="binary", n_init=d["n_init"], max_iter=d["max_iter"],
                   rel_tol=d["tol"], abs_tol=d["tol"], random_state=seed, verbose=0, progress_bar=0)


def fit_bmm(X, K, seed):
    """Time ``BernoulliMixture(K, random_state=seed).fit(X)``; return the fit's row."""
    model = BernoulliMixture(K, random_state=seed)
    start = perf_counter()
    quiet(model.fit, X)
    seconds = perf_counter() - start
    return {"seconds": seconds, "n_iter": int(model.n_iter_), "converged": bool(model.converged_),
            "log_likelihood": float(model.score(X)), "n_components": int(model.n_components_)}


def fit_stepmix(X, K, seed):
    """Time StepMix's fit (:func:`stepmix_model`) on dense X; return the fit's row."""
    model = stepmix_model(K, seed)
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

    def seconds(max_iter):
        model = StepMix(n_components=K, measurement="binary", n_init=1, max_iter=max_iter, abs_tol=0.0, rel_tol=0.0,
                        init_params="random", random_state=seed, verbose=0, progress_bar=0)
        start = perf_counter()
        quiet(model.fit, X)
        return perf_counter() - start

    return (seconds(1 + iterations) - seconds(1)) / iterations
