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

from ..kernels import em_run
from ..kernels.m_step import params_from_stats, params_into
from ..kernels.row_lists import column_weights
from ..kernels.table.e_step import LUT_MIN_ROWS, table_kernel_available
from .collapse import MIN_MASS, collapsed_components, column_means, log_prior, prior_constant, reseed, worst_samples
from .concurrent import Cancelled, concurrent_workers, run_concurrently, stop_flag
from .progress import ProgressMonitor

__all__ = ["PassStatistics", "InMemorySource", "Step", "em_step", "run_em", "short_em", "best_of_starts",
           "fit_workers", "REPLICATED",
           "ACCELERATIONS", "COMPILED_RUN_MAX_WORK", "TABLE_RUN_MIN_ROWS", "TABLE_RUN_MIN_ROW_COMPONENTS",
           "SHORT_EM_STARTS", "SHORT_EM_ITER", "SHORT_EM_MIN_ROWS",
           "SHORT_EM_ROWS_PER_COMPONENT", "short_em_rows"]

#: Values of the estimator's ``accelerate`` (:mod:`bmm_numba.kernels.em_run`).
ACCELERATIONS = tuple(em_run.SCHEMES)

#: In-memory data whose pass does fewer steps (``(ones + missing cells) * K``) run EM compiled
#: over row lists (:func:`~bmm_numba.kernels.em_run.compiled_run`); larger data run the same
#: iterations in Python around the backend's (threaded) pass.
COMPILED_RUN_MAX_WORK = 1 << 23
#: Dense data without repeated rows from this many rows, and this many rows times components, run
#: in Python around the table kernel instead: its vectorised pass beats the row lists' once the
#: rows are many, now that such fits also go side by side (default fits, medians of 3 x 8, 2
#: cores, row lists / table: digits 1797 x 64 K = 10 33 / 23 ms, K = 5 23 / 17 ms, K = 20 72 /
#: 62 ms; generated 3000 x 16 K = 4 23 / 15 ms, 4000 x 20 K = 3 35 / 16 ms, 2400 x 16 K = 5 26 /
#: 14 ms; but 2000 x 16 K = 2 11 / 14 ms, 1500 x 16 K = 4 13 / 15 ms, and from 1000 rows down
#: the row lists tie or win: 1000 x 64 K = 10 20 / 20 ms, 500 x 64 K = 10 12 / 20 ms).
TABLE_RUN_MIN_ROWS, TABLE_RUN_MIN_ROW_COMPONENTS = 1500, 8000


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
        self._prior_mean = None
        self._pattern_weights = None

    @property
    def prior_mean(self):
        """The prior's mode ``m``: :func:`~bmm_numba.em.collapse.column_means` from the data's columns, once."""
        if self._prior_mean is None:
            ones, missing = column_weights(self.data.lists, self.w, self.data.n_features)
            self._prior_mean = np.clip((ones + 1.0) / (self.weight - missing + 2.0), 0.0, 1.0)
        return self._prior_mean

    def row_lists(self, n_components):
        """Return ``(lists, weights)`` for the compiled EM run, or None where it does not take these data.

        Compiled backends only, and only for passes under :data:`COMPILED_RUN_MAX_WORK` steps;
        dense data of many distinct rows (:data:`TABLE_RUN_MIN_ROWS`,
        :data:`TABLE_RUN_MIN_ROW_COMPONENTS`) take the table kernel's pass instead.  Where rows
        repeat (:attr:`~bmm_numba.em.data.MixtureData.patterns`), the lists of the
        distinct rows with their summed weights.
        """
        if not self.backend.compiled or self.data.stored_cells * n_components >= COMPILED_RUN_MAX_WORK:
            return None  # decided before the lists are made: MNIST train's would be 32 MB, unread
        data = self.data
        if (data.kind == "dense" and self.n_samples >= TABLE_RUN_MIN_ROWS
                and self.n_samples * n_components >= TABLE_RUN_MIN_ROW_COMPONENTS
                and data.patterns is None and table_kernel_available()):
            return None  # many distinct dense rows: the table kernel's pass
        if self._pattern_weights is None:
            patterns = data.patterns
            self._pattern_weights = (data.lists, self.w) if patterns is None else (
                patterns[0], np.bincount(patterns[1], weights=self.w, minlength=patterns[1].max() + 1))
        return self._pattern_weights

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


def objective(stats, mu, alpha, m):
    """Return the one objective, ``(log L + log p(mu)) / sum(w)``, of a pass's statistics under means ``mu``."""
    return float((stats.log_lik + log_prior(mu, alpha, m)) / stats.weight)


def em_step(source, mu, pi, alpha, once=None, prior_mean=None):
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
    prior_mean : ndarray of shape (n_features,), optional
        The prior's mode; default :func:`~bmm_numba.em.collapse.column_means` of this pass.

    Returns
    -------
    step : Step
    """
    stats = source.statistics(mu, pi)
    m = column_means(stats) if prior_mean is None else prior_mean
    lower_bound = objective(stats, mu, alpha, m)
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


class _SourceMap:
    """The data of :func:`_source_em_map`: a row source, ``alpha`` and the prior's mode (from its first pass)."""

    def __init__(self, source, alpha, prior_mean):
        self.source, self.alpha, self.prior_mean = source, alpha, prior_mean


def _source_em_map(data, mu, pi, new_mu, new_pi):
    """EM map of :func:`~bmm_numba.kernels.em_run.interpreted_run` over any row source (its own pass)."""
    stats = data.source.statistics(mu, pi)
    if data.prior_mean is None:
        data.prior_mean = column_means(stats)
    m = data.prior_mean
    collapsed = collapsed_components(stats.nk, stats.weight, stats.n_rows).size > 0
    params_into(stats.nk, stats.S, np.empty((0, 0)) if stats.observed is None else stats.observed, data.alpha, m,
                stats.weight, new_mu, new_pi)
    return objective(stats, mu, data.alpha, m), collapsed


def _run_segment(source_map, mu, pi, **settings):
    """EM iterations from ``(mu, pi)`` until a reason to return: compiled where the source allows it."""
    source, alpha, m = source_map.source, source_map.alpha, source_map.prior_mean
    lists = source.row_lists(len(pi)) if hasattr(source, "row_lists") else None
    if lists is None:
        return em_run.interpreted_run(_source_em_map, source_map, mu, pi, **settings)
    lists, w = lists
    return em_run.compiled_run(lists, w, m, alpha, prior_constant(alpha, m, len(pi)), source.weight,
                               MIN_MASS * source.weight / source.n_samples, mu, pi, **settings)


def drop_small(mu, pi, n_samples):
    """Drop components with ``pi_k * n_samples < MIN_MASS`` (renormalise ``pi``); return them too."""
    small = np.flatnonzero(pi * n_samples < MIN_MASS)
    if small.size == 0 or small.size == pi.size:
        return mu, pi, []
    keep = np.ones(pi.size, dtype=bool)
    keep[small] = False
    return np.ascontiguousarray(mu[keep]), pi[keep] / pi[keep].sum(), [int(k) for k in small]


def run_em(source, mu, pi, *, alpha, max_iter, tol, monitor, reseeded_at_start=(), drop=True,
           accelerate="squarem"):
    """EM from ``(mu, pi)`` until the stopping rule holds or ``max_iter`` passes.

    The iterations run in segments (:func:`~bmm_numba.kernels.em_run.em_iterations`, compiled
    for small in-memory data); a segment returns when it converged, ran out of passes, a
    progress report is due (``monitor.report_every``), or a pass found a collapsed component.
    Then this loop applies the collapse policy with one :func:`em_step`: a component re-seeded
    once (``reseeded_at_start``: at initialisation) and collapsing again is dropped (with
    ``drop=False``: re-seeded again, never dropped).  The segment after an event starts afresh,
    so no stop compares objectives across it.  Components still below
    :data:`~bmm_numba.em.collapse.MIN_MASS` at the end (not converged) are dropped.

    Parameters
    ----------
    accelerate : {"squarem", "overrelax", "none"}, default="squarem"
        :mod:`bmm_numba.kernels.em_run`.

    Returns
    -------
    run : dict
        ``mu, pi, converged, n_iter, n_passes, lower_bound, lower_bounds, reseeded, dropped``
        (``reseeded``: ``(iteration, component, row)``; ``dropped``: ``(iteration, component)``;
        ``n_iter``: accepted iterations, one entry of ``lower_bounds`` each; ``n_passes``:
        passes over the data, rejected extrapolations included, at most ``max_iter``).
    """
    scheme = em_run.SCHEMES[accelerate]
    lower_bounds, reseeded, dropped = [], [], []
    once = None
    if drop:
        once = np.zeros(len(pi), dtype=bool)
        once[list(reseeded_at_start)] = True
    # the compiled run takes the prior's mode from the data; other passes from their first pass
    compiled = hasattr(source, "row_lists") and source.row_lists(len(pi)) is not None
    source_map = _SourceMap(source, alpha, source.prior_mean if compiled else None)
    bounds = np.empty(max(1, max_iter))
    report_every = int(getattr(monitor, "report_every", 0))
    stop = stop_flag()
    is_converged, n_passes = False, 0
    begin = perf_counter()
    while n_passes < max_iter:
        mu_next, pi_next, n_new, passes, reason = _run_segment(
            source_map, mu, pi, max_passes=max_iter - n_passes, tol=tol, scheme=scheme, report_every=report_every,
            bounds=bounds, stop=stop)
        # a collapse is found by a pass that em_step below makes again: counted once
        n_passes += passes - (reason == em_run.COLLAPSED)
        seconds = perf_counter() - begin
        for value in bounds[:n_new]:
            change = value - lower_bounds[-1] if lower_bounds else np.inf
            lower_bounds.append(float(value))
            monitor.iteration(len(lower_bounds), float(value), change, seconds)
        mu, pi = mu_next, pi_next
        if reason == em_run.CONVERGED:
            is_converged = True
            break
        if reason == em_run.STOPPED:
            raise Cancelled("the fits running beside this one stopped")
        if reason != em_run.COLLAPSED:
            continue
        # the policy: one Python step from the point whose pass found the collapse (its pass again)
        step = em_step(source, mu, pi, alpha, once, prior_mean=source_map.prior_mean)
        n_passes += 1
        mu, pi, once = step.mu, step.pi, step.once
        lower_bounds.append(step.lower_bound)
        n_iter = len(lower_bounds)
        change = step.lower_bound - lower_bounds[-2] if n_iter > 1 else np.inf
        dropped += [(n_iter, k) for k in step.dropped]
        if step.dropped:
            monitor.dropped(n_iter, step.dropped)
        if step.reseeded:
            reseeded += [(n_iter, k, n) for k, n in step.reseeded]
            monitor.reseeded(n_iter, [k for k, _ in step.reseeded])
        monitor.iteration(n_iter, step.lower_bound, change, perf_counter() - begin)
    if drop and not is_converged:
        mu, pi, small = drop_small(mu, pi, source.n_samples)
        dropped += [(len(lower_bounds), k) for k in small]
    return {"mu": mu, "pi": pi, "converged": is_converged, "n_iter": len(lower_bounds), "n_passes": n_passes,
            "lower_bound": lower_bounds[-1] if lower_bounds else -np.inf, "lower_bounds": lower_bounds,
            "reseeded": reseeded, "dropped": dropped}


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


def fit_workers(source, n_components, n_tasks, passes):
    """How many of ``n_tasks`` fits on ``source`` to run at once (:mod:`bmm_numba.em.concurrent`).

    In-memory fits run side by side, one thread each, when each does enough work (the steps of
    a pass times ``passes``, at most that many passes, against
    :data:`~bmm_numba.em.concurrent.MIN_TASK_WORK`): compiled runs cannot use a second thread,
    and the Python around a threaded pass overlaps the other fit's pass.  Fits that read blocks
    from a file or a cluster run one after another.  What the workers share and make lazily
    (the prior's mode, the row index, the CSR/CSC columns) is made here first.
    """
    if not isinstance(source, InMemorySource) or not source.backend.compiled:
        return 1
    lists = source.row_lists(n_components)
    if lists is None:
        # larger in-memory data: each fit's passes in one thread, the fits side by side, beat one
        # fit at a time over both threads: the Python around each pass (table, prior, M-step)
        # then overlaps another fit's compiled pass (MNIST test K=10, default fit: 0.316 -> 0.255 s)
        task_work = source.data.stored_cells * n_components * passes
    else:
        source.prior_mean  # noqa: B018 - made once (the compiled run reads it), before the workers share it
        task_work = (lists[0].ones.size + lists[0].missing.size + lists[1].size) * n_components * passes
    n = concurrent_workers(n_tasks, 0, task_work=task_work)
    if n > 1:  # what the passes, the starts' M-steps and the final E-step read, made before the workers share it
        data = source.data
        if data.kind == "sparse":
            data.csr, data.csc  # noqa: B018
        elif data.kind == "dense" and data.n_samples >= LUT_MIN_ROWS:
            data.row_index(n_components)
    return n


def short_em(source, draw, *, alpha, n_starts=None, n_iter=None, accelerate="squarem"):
    """Return the "short EM" start: the best of ``n_starts`` draws after ``n_iter`` EM passes each.

    Parameters
    ----------
    source : row source
    draw : callable
        ``draw() -> (mu, pi)``, one random start.  Called ``n_starts`` times first (in order),
        then the runs go side by side where :func:`fit_workers` allows.
    alpha : float
    n_starts, n_iter : int, default SHORT_EM_STARTS, SHORT_EM_ITER
    accelerate : str

    Returns
    -------
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
        The parameters of the run with the highest objective (no component dropped: a short run
        re-seeds every collapse, the full run that follows decides on drops).
    """
    n_starts = SHORT_EM_STARTS if n_starts is None else n_starts
    n_iter = SHORT_EM_ITER if n_iter is None else n_iter
    starts = [draw() for _ in range(n_starts)]

    def run(start):
        return run_em(source, *start, alpha=alpha, max_iter=n_iter, tol=0.0, monitor=ProgressMonitor(), drop=False,
                      accelerate=accelerate)

    best = None
    for run_ in run_concurrently(run, starts, n_workers=fit_workers(source, len(starts[0][1]), n_starts, n_iter)):
        # ties (the same optimum, components permuted) within TIE keep the first: kernels agree
        if best is None or run_["lower_bound"] > best["lower_bound"] + TIE * max(1.0, abs(best["lower_bound"])):
            best = run_
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


class _Recorder(ProgressMonitor):
    """A monitor that keeps the calls of a start run in a worker, to replay them in start order."""

    def __init__(self):
        self.calls = []

    def __getattribute__(self, name):
        if name in ("start", "reseeded", "dropped", "iteration", "end"):
            return lambda *args: object.__getattribute__(self, "calls").append((name, args))
        return object.__getattribute__(self, name)

    def replay(self, monitor):
        """Make the recorded calls on ``monitor``."""
        for name, args in self.calls:
            getattr(monitor, name)(*args)


#: Starts whose final objectives are within this of the best (relative, ``max(1, |best|)``) reached it.
REPLICATED = 1e-6


def best_of_starts(n_starts, initialize, source, *, alpha, max_iter, tol, monitor, accelerate="squarem",
                   n_components=None):
    """Run :func:`run_em` from ``n_starts`` starts; return the run with the highest final objective.

    Parameters
    ----------
    n_starts : int
    initialize : callable
        ``initialize() -> finish``, where ``finish() -> (mu, pi, reseeded)`` (``reseeded`` as in
        the run, iteration 0): ``initialize`` draws (from the fit's random state, in start order)
        and ``finish`` computes.  All draws are made before the starts run side by side (where
        :func:`fit_workers` allows), so the result is the same with any number of threads.
    source : row source
    alpha, max_iter, tol, accelerate : as in :class:`bmm_numba.BernoulliMixture`
    monitor : ProgressMonitor
        Called in start order (a start run in a worker is recorded, then replayed).
    n_components : int, optional
        K at the starts; None runs the starts one after another.

    Returns
    -------
    best : dict
        The best run (:func:`run_em`), with ``start_objectives`` (the final objective of every
        start, in start order) and ``n_start`` (its components at the start).

    Warns
    -----
    ConvergenceWarning
        When the best start did not converge.
    UserWarning
        When the best start dropped components (the data do not support ``n_components``), and
        when ``n_starts > 1`` and only one start reached the best objective (the best converged).
    """
    workers = fit_workers(source, n_components, n_starts, max_iter) if n_components and n_starts > 1 else 1
    # side by side, every start's draws first (in start order); one after another, each when it runs
    pending = [initialize() for _ in range(n_starts)] if workers > 1 else None

    def one(init):
        watch = monitor if workers == 1 else _Recorder()
        start = perf_counter()
        watch.start(init, n_starts)
        finish = pending[init] if pending is not None else initialize()
        mu, pi, reseeded = finish()
        if reseeded:
            watch.reseeded(0, [k for _, k, _ in reseeded])
        run = run_em(source, mu, pi, alpha=alpha, max_iter=max_iter, tol=tol, monitor=watch,
                     reseeded_at_start=[k for _, k, _ in reseeded], accelerate=accelerate)
        run["reseeded"] = reseeded + run["reseeded"]
        run["n_start"] = len(pi)
        watch.end(run["converged"], run["lower_bound"], perf_counter() - start)
        return run, watch

    results = run_concurrently(one, range(n_starts), n_workers=workers)
    best = None
    for run, watch in results:
        if watch is not monitor:
            watch.replay(monitor)
        if best is None or run["lower_bound"] > best["lower_bound"] + TIE * max(1.0, abs(best["lower_bound"])):
            best = run  # a tie within TIE keeps the first start: every row source picks the same one
    best["start_objectives"] = [run["lower_bound"] for run, _ in results]
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
    top = best["lower_bound"]
    reached = sum(value >= top - REPLICATED * max(1.0, abs(top)) for value in best["start_objectives"])
    if n_starts > 1 and reached == 1 and best["converged"]:  # unconverged: the ConvergenceWarning says enough
        warnings.warn(
            f"The best objective ({top:.6g}) was reached by 1 of {n_starts} starts only (not replicated): "
            "it may be a local optimum found by chance, or the others may be. Increase n_init (Mplus "
            "advises until the best log-likelihood is replicated) and compare start_objectives_.",
            UserWarning,
            stacklevel=4,
        )
    return best
