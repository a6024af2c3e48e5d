"""The EM loop, once, over any row source; best of ``n_init`` starts.

A *row source* gives one EM iteration's summed statistics under given parameters and, when a
component collapsed, the worst-explained rows.  Sources: :class:`InMemorySource` (here),
:class:`~bmm_numba.estimator.memmap.MemmapSource`, :class:`~bmm_numba.estimator.dask.DaskSource`
and ``partial_fit``'s :class:`~bmm_numba.estimator.memmap.BatchSource`.  Each keeps its own
arithmetic (the order of its sums); the loop holds the bound, the M-step with the collapse
policy (:mod:`bmm_numba.em.collapse`), the convergence test and the progress hooks
(:mod:`bmm_numba.em.progress`).
"""

from __future__ import annotations

import warnings
from time import perf_counter
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..kernels.m_step import params_from_stats
from .collapse import MIN_MASS, collapsed_components, column_means, log_prior, reseed, worst_samples
from .progress import ProgressMonitor

__all__ = ["PassStatistics", "InMemorySource", "Step", "em_step", "converged", "run_em", "short_em",
           "best_of_starts", "SHORT_EM_STARTS", "SHORT_EM_ITER", "SHORT_EM_MIN_ROWS",
           "SHORT_EM_ROWS_PER_COMPONENT", "short_em_rows"]


class PassStatistics(NamedTuple):
    """One pass's sufficient statistics under fixed ``(mu, pi)``, summed over every row.

    ``nk = sum_n w_n r_nk``, ``S_kd = sum_n w_n r_nk x_nd``, ``observed_kd`` the part of ``nk``
    where feature d is observed (None without missing cells), ``log_lik = sum_n w_n log p(x_n)``,
    ``weight = sum_n w_n``, ``n_rows``; ``log_prob_norm`` (``log p(x_n)``, shape (n_rows,)) where
    the source keeps it, else None.
    """

    nk: np.ndarray
    S: np.ndarray
    observed: np.ndarray | None
    log_lik: float
    weight: float
    n_rows: int
    log_prob_norm: np.ndarray | None = None


class InMemorySource:
    """Row source over in-memory :class:`~bmm_numba.em.data.MixtureData` and its weights.

    Parameters
    ----------
    data : MixtureData
        Its row index is kept (:attr:`MixtureData.keep_row_index`): every pass reads the same rows.
    w : ndarray of shape (n_samples,)
    backend : Backend
    """

    def __init__(self, data, w, backend):
        data.keep_row_index = True
        self.data, self.w, self.backend = data, w, backend
        self.n_samples = data.n_samples
        self.weight = float(w.sum())

    def statistics(self, mu, pi):
        """Fused E-step and statistics (:meth:`Backend.em_statistics`)."""
        w = self.w
        nk, S, observed, log_prob_norm = self.backend.em_statistics(self.data, w, mu, pi)
        # not `w @ log_prob_norm`: a BLAS call here wakes OpenBLAS's threads, which then spin
        # against Numba's in the next pass (10 iterations, MNIST train, 2 cores: 0.50 -> 0.20 s)
        log_lik = np.sum(w * log_prob_norm)
        return PassStatistics(nk, S, observed, log_lik, self.weight, self.n_samples, log_prob_norm)

    def worst(self, mu, pi, stats, m):
        """Return the ``m`` worst-explained rows under ``(mu, pi)``, from the pass's ``log_prob_norm``."""
        return worst_samples(self.data, self.w, stats.log_prob_norm, m)


class Step(NamedTuple):
    """One EM iteration's result (:func:`em_step`).

    ``mu, pi``: the new parameters; ``lower_bound``: the objective under the old parameters;
    ``reseeded``: ``(component, row)`` re-seeds (indices of the new parameters); ``dropped``:
    components dropped (indices of the old parameters); ``once``: which new components were
    re-seeded before (None when dropping is off).
    """

    mu: np.ndarray
    pi: np.ndarray
    lower_bound: float
    reseeded: list
    dropped: list
    once: np.ndarray | None


def em_step(source, mu, pi, alpha, once=None):
    """One EM iteration: a pass over ``source`` under ``(mu, pi)``, the M-step, the collapse policy.

    The objective, computed here only: ``(log L + log p(mu)) / sum(w)`` under the old parameters,
    the mean log-likelihood plus the Beta prior's log-density (:func:`~bmm_numba.em.collapse.log_prior`,
    prior mode = the data's column means), which the M-step maximises.

    Parameters
    ----------
    source : row source
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    alpha : float
    once : ndarray of shape (n_components,), bool, optional
        Components re-seeded before: one that collapses again is dropped.  None: never drop
        (every collapse re-seeds, as ``partial_fit`` does).

    Returns
    -------
    step : Step
    """
    stats = source.statistics(mu, pi)
    m = column_means(stats)
    lower_bound = float((stats.log_lik + log_prior(mu, alpha, m)) / stats.weight)
    new_mu, new_pi = params_from_stats(stats.nk, stats.S, alpha, stats.weight, stats.observed, prior_mean=m)
    collapsed = collapsed_components(stats.nk, stats.weight, stats.n_rows)
    records, dropped = [], []
    if collapsed.size and once is not None:
        drop = once[collapsed]
        dropped = [int(k) for k in collapsed[drop]]
        if dropped:
            keep = np.ones(len(new_pi), dtype=bool)
            keep[dropped] = False
            new_mu, new_pi, once = np.ascontiguousarray(new_mu[keep]), new_pi[keep] / new_pi[keep].sum(), once[keep]
            collapsed = np.flatnonzero(np.isin(np.flatnonzero(keep), collapsed))
    if collapsed.size:  # re-seeded from the rows worst explained by this pass's E-step
        records = reseed(new_mu, new_pi, collapsed, source.worst(mu, pi, stats, collapsed.size), stats.n_rows)
        if once is not None:
            once = once.copy()
            once[collapsed] = True
    return Step(new_mu, new_pi, lower_bound, records, dropped, once)


#: A change of the objective below ``-ROUNDING * max(1, |bound|)`` is a decrease, not rounding.
ROUNDING = 1e-10


def converged(change, lower_bound, tol):
    """Return whether the relative stopping rule ``0 <= change < tol * max(1, |lower_bound|)`` holds.

    Up to rounding (``ROUNDING``): a decrease beyond it is never convergence.  ``tol=0`` never
    converges (at a fixed point the change is +-1e-16 of rounding, which would otherwise pass).
    """
    scale = max(1.0, abs(lower_bound))
    return tol > 0 and -ROUNDING * scale <= change < tol * scale


def drop_small(mu, pi, n_samples):
    """Drop components with ``pi_k * n_samples < MIN_MASS`` (renormalise ``pi``); return them too."""
    small = np.flatnonzero(pi * n_samples < MIN_MASS)
    if small.size == 0 or small.size == pi.size:
        return mu, pi, []
    keep = np.ones(pi.size, dtype=bool)
    keep[small] = False
    return np.ascontiguousarray(mu[keep]), pi[keep] / pi[keep].sum(), [int(k) for k in small]


def run_em(source, mu, pi, *, alpha, max_iter, tol, monitor, reseeded_at_start=(), drop=True):
    """EM from ``(mu, pi)`` until the stopping rule (:func:`converged`) holds or ``max_iter`` iterations.

    A component re-seeded once (``reseeded_at_start``: components re-seeded at initialisation)
    and collapsing again is dropped (with ``drop=False``: re-seeded again, never dropped).  No
    stop on an iteration that re-seeded or dropped, nor on the one after (the bound compares
    different models there).  Components still below
    :data:`~bmm_numba.em.collapse.MIN_MASS` at the end (after ``max_iter``) are dropped.

    Returns
    -------
    run : dict
        ``mu, pi, converged, n_iter, lower_bound, lower_bounds, reseeded, dropped``
        (``reseeded``: ``(iteration, component, row)``; ``dropped``: ``(iteration, component)``).
    """
    lower_bound, lower_bounds, reseeded, dropped = -np.inf, [], [], []
    once = None
    if drop:
        once = np.zeros(len(pi), dtype=bool)
        once[list(reseeded_at_start)] = True
    is_converged, n_iter, event = False, 0, True
    begin = perf_counter()
    for n_iter in range(1, max_iter + 1):
        previous, previous_event = lower_bound, event
        step = em_step(source, mu, pi, alpha, once)
        mu, pi, lower_bound, once = step.mu, step.pi, step.lower_bound, step.once
        lower_bounds.append(lower_bound)
        dropped += [(n_iter, k) for k in step.dropped]
        if step.dropped:
            monitor.dropped(n_iter, step.dropped)
        if step.reseeded:
            reseeded += [(n_iter, k, n) for k, n in step.reseeded]
            monitor.reseeded(n_iter, [k for k, _ in step.reseeded])
        event = bool(step.reseeded or step.dropped)
        change = lower_bound - previous
        monitor.iteration(n_iter, lower_bound, change, perf_counter() - begin)
        if not (event or previous_event) and converged(change, lower_bound, tol):
            is_converged = True
            break
    if drop and not is_converged:
        mu, pi, small = drop_small(mu, pi, source.n_samples)
        dropped += [(n_iter, k) for k in small]
    return {"mu": mu, "pi": pi, "converged": is_converged, "n_iter": n_iter, "lower_bound": lower_bound,
            "lower_bounds": lower_bounds, "reseeded": reseeded, "dropped": dropped}


#: The short-EM start: the best (by the objective) of ``SHORT_EM_STARTS`` random starts after
#: ``SHORT_EM_ITER`` iterations each (digits K=20, train: 5 x 10 -17.710, 5 x 20 -17.636).
SHORT_EM_STARTS, SHORT_EM_ITER = 5, 20

#: The short-EM runs read a uniform sample of ``max(SHORT_EM_MIN_ROWS, SHORT_EM_ROWS_PER_COMPONENT * K)``
#: rows of larger data (:func:`short_em_rows`); the full run then reads every row.  Data up to
#: that size (digits, text, MNIST test and the quality panel's 8000 MNIST rows) keep the start
#: they had.  MNIST train, 2 shared cores, mean of seeds 0-5, train log-likelihood per image
#: with the start on all 60000 rows / on 10000 / on 3000: K=5 -178.319 / -178.319 / -178.527,
#: K=10 -164.947 / -164.910 / -164.963, K=20 -152.582 / -152.547 / -152.560; the start took 79 %
#: of a K=10 fit (2.8 s), 37 % on 10000 rows (fit 1.5 s), 20 % on 3000 (1.2 s).  3000 or 5000
#: rows lost the best basin at K=5 in 7 of 12 and 3 of 6 seeds (all rows: 2 of 12, 10000: 1
#: of 12), and 150 rows per component lost 0.24 nats at K=20 on the panel's 8000 MNIST rows.
SHORT_EM_MIN_ROWS, SHORT_EM_ROWS_PER_COMPONENT = 10_000, 400

#: Starts (short-EM runs, ``n_init`` starts) whose objectives differ by less than this (relative)
#: are a tie: the first is kept (the same optimum, components permuted, differs by rounding).
TIE = 1e-9


def short_em(source, draw, *, alpha, n_starts=SHORT_EM_STARTS, n_iter=SHORT_EM_ITER):
    """Return the "short EM" start: the best of ``n_starts`` draws after ``n_iter`` EM iterations each.

    Parameters
    ----------
    source : row source
    draw : callable
        ``draw() -> (mu, pi)``, one random start.
    alpha : float
    n_starts, n_iter : int

    Returns
    -------
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
        The parameters of the run with the highest objective (no component dropped: a short run
        re-seeds every collapse, the full run that follows decides on drops).
    """
    best = None
    for _ in range(n_starts):
        mu, pi = draw()
        run = run_em(source, mu, pi, alpha=alpha, max_iter=n_iter, tol=0.0, monitor=ProgressMonitor(), drop=False)
        # ties (the same optimum, components permuted) within TIE keep the first: kernels agree
        if best is None or run["lower_bound"] > best["lower_bound"] + TIE * max(1.0, abs(best["lower_bound"])):
            best = run
    return best["mu"], best["pi"]


def short_em_rows(n_samples, w, n_components, rng, *, min_rows=None, rows_per_component=None):
    """Rows the short-EM runs read: None (all rows) or a sorted sample of rows with positive weight.

    Parameters
    ----------
    n_samples : int
    w : ndarray of shape (n_samples,)
        Sample weights: rows of weight 0 are never drawn; the drawn rows keep their weights, so
        the sample's weighted objective estimates the full data's.
    n_components : int
    rng : numpy.random.RandomState
        Drawn from only when a sample is taken (data of at most the sample's size consume
        nothing: their start is the same as before the sample existed).
    min_rows, rows_per_component : int, default SHORT_EM_MIN_ROWS, SHORT_EM_ROWS_PER_COMPONENT
        The sample has ``max(min_rows, rows_per_component * n_components)`` rows.

    Returns
    -------
    index : ndarray of int or None
    """
    min_rows = SHORT_EM_MIN_ROWS if min_rows is None else min_rows
    per_component = SHORT_EM_ROWS_PER_COMPONENT if rows_per_component is None else rows_per_component
    size = max(int(min_rows), int(per_component) * int(n_components))
    if size >= n_samples:
        return None
    positive = np.flatnonzero(w > 0)
    if size >= positive.size:
        return None
    return np.sort(rng.choice(positive, size=size, replace=False))


def best_of_starts(n_starts, initialize, source, *, alpha, max_iter, tol, monitor):
    """Run :func:`run_em` from ``n_starts`` starts; return the run with the highest final objective.

    Parameters
    ----------
    n_starts : int
    initialize : callable
        ``initialize() -> (mu, pi, reseeded)``, ``reseeded`` as in the run (iteration 0).
    source : row source
    alpha, max_iter, tol : as in :class:`bmm_numba.BernoulliMixture`
    monitor : ProgressMonitor

    Warns
    -----
    ConvergenceWarning
        When the best start did not converge.
    UserWarning
        When the best start dropped components (the data do not support ``n_components``).
    """
    best = None
    for init in range(n_starts):
        start = perf_counter()
        monitor.start(init, n_starts)
        mu, pi, reseeded = initialize()
        if reseeded:
            monitor.reseeded(0, [k for _, k, _ in reseeded])
        run = run_em(source, mu, pi, alpha=alpha, max_iter=max_iter, tol=tol, monitor=monitor,
                     reseeded_at_start=[k for _, k, _ in reseeded])
        run["reseeded"] = reseeded + run["reseeded"]
        run["n_start"] = len(pi)
        monitor.end(run["converged"], run["lower_bound"], perf_counter() - start)
        if best is None or run["lower_bound"] > best["lower_bound"] + TIE * max(1.0, abs(best["lower_bound"])):
            best = run  # a tie within TIE keeps the first start: every row source picks the same one
    if best["dropped"]:
        warnings.warn(
            f"The data do not support n_components={best['n_start']}: {len(best['dropped'])} "
            f"component(s) collapsed again after a re-seed (or ended below {MIN_MASS} of an average "
            f"sample's weight) and were dropped; the fit has {len(best['pi'])} components "
            "(n_components_).",
            UserWarning,
            stacklevel=4,
        )
    if not best["converged"]:
        warnings.warn(
            "Best performing initialization did not converge. Try different init parameters, "
            "or increase max_iter, tol, or check for degenerate data.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return best
