"""The collapse policy (re-seed once, then drop), the prior and objective, the initial M-step, scores.

A component whose mass ``nk_k`` falls below :data:`MIN_MASS` of an average sample's weight is
re-seeded halfway between the worst-explained sample and the population mean:
``mu_k = (x_n + mu_bar) / 2``, ``pi_k`` one average sample's weight (then ``pi`` renormalised).
The j-th collapsed component takes the sample with the j-th lowest ``log p(x_n)``.  A component
that collapses again after its re-seed is dropped: the data do not support it.  Rationale in
``docs/design.md`` (collapse policy).

The objective EM maximises is ``(log L + log p(mu)) / sum(w)`` with the Beta prior of
:func:`log_prior` (0 at ``alpha = 0``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import betaln

from ..kernels.em_run import log_prior_sum
from ..kernels.m_step import MEANS_EPS, params_from_stats
from ..kernels.missing import MISSING
from .init import seed_row

__all__ = [
    "COLLAPSE_MASS",
    "MIN_MASS",
    "column_means",
    "log_prior",
    "prior_constant",
    "m_step",
    "reseed",
    "worst_samples",
    "collapsed_components",
    "n_parameters",
    "classification_entropy",
]

#: A component is collapsed when ``nk_k < MIN_MASS * sum(w) / n_samples`` (half an average
#: sample's weight): below it the component's means rest on less than half an observation and
#: it only spends parameters (near-empty "zombies" of mass 1e-11 were seen with a 1e-8 floor).
MIN_MASS = 0.5

#: Former name of the collapse threshold (kept for imports).
COLLAPSE_MASS = MIN_MASS


def column_means(stats):
    """Return the prior's mode ``m_d``: the data's column means, Laplace-smoothed, from a pass's statistics.

    ``(sum_k S_kd + 1) / (sum_k observed_kd + 2)``: responsibilities sum to 1 over components, so
    this is ``(sum_n w_n x_nd + 1) / (sum_n w_n [x_nd observed] + 2)`` whatever the parameters
    (one pseudo-observation, in the units of ``sample_weight`` as ``alpha``'s, so integer weights
    still equal repeated rows).  The
    smoothing keeps a feature never 1 in training above 0 (its means then cost ~15 nats, not the
    clip's 23, per unseen 1 on MNIST); a feature never observed gets 0.5.

    Parameters
    ----------
    stats : PassStatistics
        Or any object with ``nk``, ``S`` and ``observed``.

    Returns
    -------
    m : ndarray of shape (n_features,)
    """
    denom = stats.nk.sum() if stats.observed is None else stats.observed.sum(axis=0)
    return np.clip((stats.S.sum(axis=0) + 1.0) / (denom + 2.0), 0.0, 1.0)


def log_prior(mu, alpha, m):
    """``log p(mu)`` under independent ``Beta(2 alpha m_d + 1, 2 alpha (1 - m_d) + 1)`` priors.

    Parameters
    ----------
    mu : ndarray of shape (n_components, n_features)
    alpha : float
        0 gives 0 (maximum likelihood).
    m : ndarray of shape (n_features,)
        The prior's mode (:func:`column_means`).

    Returns
    -------
    log_p : float
        Normalised log-density summed over every mean.
    """
    if alpha == 0:
        return 0.0
    return float(log_prior_sum(mu, float(alpha), m)) + prior_constant(alpha, m, mu.shape[0])


def prior_constant(alpha, m, n_components):
    """Return the normalising part of :func:`log_prior`: ``-K sum_d betaln(2 alpha m_d + 1, 2 alpha (1 - m_d) + 1)``."""
    if alpha == 0:
        return 0.0
    a, b = 2.0 * alpha * m, 2.0 * alpha * (1.0 - m)
    return float(-n_components * np.sum(betaln(a + 1.0, b + 1.0)))


def reseed(mu, pi, collapsed, worst, n_samples):
    """Re-seed the ``collapsed`` components of ``(mu, pi)`` in place.

    Parameters
    ----------
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    collapsed : sequence of int
        Components to re-seed, in component order.
    worst : list of (sample, codes, weight)
        The worst-explained samples with positive weight, lowest ``log p(x_n)`` first (ties in
        sample order): index, row of codes (0, 1, MISSING) and weight ``w_n``.  The j-th
        collapsed component takes ``worst[j % len(worst)]``.
    n_samples : int
        Rows in the data: a re-seeded component starts with ``pi_k = 1 / n_samples`` (one
        average sample, above :data:`MIN_MASS` whatever ``w_n``).

    Returns
    -------
    records : list of (component, sample) tuples
    """
    mu_bar = pi @ mu
    records = []
    for j, k in enumerate(collapsed):
        n, x, _ = worst[j % len(worst)]
        target = np.where(x == MISSING, mu_bar, x)
        mu[k] = np.clip(0.5 * (target + mu_bar), MEANS_EPS, 1.0 - MEANS_EPS)
        pi[k] = 1.0 / n_samples
        records.append((int(k), int(n)))
    pi /= pi.sum()
    return records


def worst_samples(data, w, log_prob_norm, m):
    """Return the ``m`` worst-explained samples of in-memory data, as :func:`reseed` takes them."""
    candidates = np.flatnonzero(w > 0)
    order = candidates[np.argsort(log_prob_norm[candidates], kind="stable")]
    return [(int(n), seed_row(data, int(n)), w[n]) for n in order[:m]]


def collapsed_components(nk, total_weight, n_samples):
    """Return the components whose mass is below ``MIN_MASS`` of an average sample."""
    return np.flatnonzero(nk < MIN_MASS * total_weight / n_samples)


def m_step(data, w, resp, alpha, backend):
    """Run the initialisation's M-step on in-memory data, then the collapse policy.

    Parameters
    ----------
    data : MixtureData
    w : ndarray of shape (n_samples,)
        Sample weights.
    resp : ndarray of shape (n_samples, n_components)
        Initial responsibilities.
    alpha : float
    backend : Backend
        Its statistics, and its E-step for the worst-explained rows when a component collapsed.

    Returns
    -------
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
    reseeded : list of (component, sample) tuples
    """
    nk, S, observed = backend.stats(data, resp * w[:, None])
    total = float(w.sum())
    m = column_means(_Totals(nk, S, observed))
    mu, pi = params_from_stats(nk, S, alpha, total, observed, prior_mean=m)
    collapsed = collapsed_components(nk, total, data.n_samples)
    if collapsed.size == 0:
        return mu, pi, []
    _, log_prob_norm = backend.e_step(data, mu, pi)
    return mu, pi, reseed(mu, pi, collapsed, worst_samples(data, w, log_prob_norm, collapsed.size), data.n_samples)


class _Totals(NamedTuple):
    nk: np.ndarray
    S: np.ndarray
    observed: np.ndarray | None


def n_parameters(n_components, n_features):
    """Free parameters: ``K * D`` means and ``K - 1`` weights."""
    return n_components * n_features + n_components - 1


def classification_entropy(resp, w):
    """``-sum_n w_n sum_k r_nk log r_nk`` with ``0 log 0 = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(resp > 0, resp * np.log(resp), 0.0)
    return float(-(w @ terms.sum(axis=1))) + 0.0  # + 0.0 turns -0.0 into 0.0
