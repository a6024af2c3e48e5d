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
from .collapse import collapsed_components, reseed, worst_samples

__all__ = ["PassStatistics", "InMemorySource", "em_step", "run_em", "best_of_starts"]


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


def em_step(source, mu, pi, alpha):
    """One EM iteration: a pass over ``source`` under ``(mu, pi)``, the M-step, the collapse policy.

    Returns
    -------
    mu, pi : ndarray
        The new parameters.
    lower_bound : float
        The objective under the old parameters: the mean log-likelihood per unit of weight.
    records : list of (component, row)
        Re-seeded components.
    """
    stats = source.statistics(mu, pi)
    lower_bound = float(stats.log_lik / stats.weight)
    new_mu, new_pi = params_from_stats(stats.nk, stats.S, alpha, stats.weight, stats.observed)
    collapsed = collapsed_components(stats.nk, stats.weight, stats.n_rows)
    records = []
    if collapsed.size:  # re-seeded from the rows worst explained by this pass's E-step
        records = reseed(new_mu, new_pi, collapsed, source.worst(mu, pi, stats, collapsed.size), stats.weight)
    return new_mu, new_pi, lower_bound, records


def run_em(source, mu, pi, *, alpha, max_iter, tol, monitor):
    """EM from ``(mu, pi)`` until the bound changes by less than ``tol`` or ``max_iter`` iterations.

    Returns
    -------
    run : dict
        ``mu, pi, converged, n_iter, lower_bound, lower_bounds, reseeded``
        (``reseeded``: ``(iteration, component, row)`` tuples).
    """
    lower_bound, lower_bounds, reseeded = -np.inf, [], []
    converged, n_iter = False, 0
    begin = perf_counter()
    for n_iter in range(1, max_iter + 1):
        previous = lower_bound
        mu, pi, lower_bound, records = em_step(source, mu, pi, alpha)
        lower_bounds.append(lower_bound)
        if records:
            reseeded += [(n_iter, k, n) for k, n in records]
            monitor.reseeded(n_iter, [k for k, _ in records])
        change = lower_bound - previous
        monitor.iteration(n_iter, lower_bound, change, perf_counter() - begin)
        # a re-seed changes the parameters after this iteration's bound: never stop on it
        if abs(change) < tol and not records:
            converged = True
            break
    return {"mu": mu, "pi": pi, "converged": converged, "n_iter": n_iter, "lower_bound": lower_bound,
            "lower_bounds": lower_bounds, "reseeded": reseeded}


def best_of_starts(n_starts, initialize, source, *, alpha, max_iter, tol, monitor):
    """Run :func:`run_em` from ``n_starts`` starts; return the run with the highest final bound.

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
    """
    best = None
    for init in range(n_starts):
        start = perf_counter()
        monitor.start(init, n_starts)
        mu, pi, reseeded = initialize()
        if reseeded:
            monitor.reseeded(0, [k for _, k, _ in reseeded])
        run = run_em(source, mu, pi, alpha=alpha, max_iter=max_iter, tol=tol, monitor=monitor)
        run["reseeded"] = reseeded + run["reseeded"]
        monitor.end(run["converged"], run["lower_bound"], perf_counter() - start)
        if best is None or run["lower_bound"] > best["lower_bound"]:
            best = run
    if not best["converged"]:
        warnings.warn(
            "Best performing initialization did not converge. Try different init parameters, "
            "or increase max_iter, tol, or check for degenerate data.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return best
