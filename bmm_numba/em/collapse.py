"""The collapse policy (re-seeding empty components), the initial M-step, model scores.

A component whose mass ``nk_k`` falls to at most :data:`COLLAPSE_MASS` of an average sample's
weight is re-seeded halfway between the worst-explained sample and the population mean:
``mu_k = (x_n + mu_bar) / 2``, ``pi_k = w_n / sum(w)`` (then ``pi`` renormalised).  The j-th
collapsed component takes the sample with the j-th lowest ``log p(x_n)``.  Rationale in
``docs/design.md`` (collapse policy).
"""

from __future__ import annotations

import numpy as np

from ..kernels.m_step import MEANS_EPS, params_from_stats
from ..kernels.missing import MISSING
from .init import seed_row

__all__ = [
    "COLLAPSE_MASS",
    "m_step",
    "reseed",
    "worst_samples",
    "collapsed_components",
    "n_parameters",
    "classification_entropy",
]

#: A component is collapsed when ``nk_k <= COLLAPSE_MASS * sum(w) / n_samples``.
COLLAPSE_MASS = 1e-8


def reseed(mu, pi, collapsed, worst, total_weight):
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
    total_weight : float
        ``sum_n w_n``.

    Returns
    -------
    records : list of (component, sample) tuples
    """
    mu_bar = pi @ mu
    records = []
    for j, k in enumerate(collapsed):
        n, x, w_n = worst[j % len(worst)]
        target = np.where(x == MISSING, mu_bar, x)
        mu[k] = np.clip(0.5 * (target + mu_bar), MEANS_EPS, 1.0 - MEANS_EPS)
        pi[k] = w_n / total_weight
        records.append((int(k), int(n)))
    pi /= pi.sum()
    return records


def worst_samples(data, w, log_prob_norm, m):
    """Return the ``m`` worst-explained samples of in-memory data, as :func:`reseed` takes them."""
    candidates = np.flatnonzero(w > 0)
    order = candidates[np.argsort(log_prob_norm[candidates], kind="stable")]
    return [(int(n), seed_row(data, int(n)), w[n]) for n in order[:m]]


def collapsed_components(nk, total_weight, n_samples):
    """Return the components whose mass is at most ``COLLAPSE_MASS`` of an average sample."""
    return np.flatnonzero(nk <= COLLAPSE_MASS * total_weight / n_samples)


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
    mu, pi = params_from_stats(nk, S, alpha, total, observed)
    collapsed = collapsed_components(nk, total, data.n_samples)
    if collapsed.size == 0:
        return mu, pi, []
    _, log_prob_norm = backend.e_step(data, mu, pi)
    return mu, pi, reseed(mu, pi, collapsed, worst_samples(data, w, log_prob_norm, collapsed.size), w.sum())


def n_parameters(n_components, n_features):
    """Free parameters: ``K * D`` means and ``K - 1`` weights."""
    return n_components * n_features + n_components - 1


def classification_entropy(resp, w):
    """``-sum_n w_n sum_k r_nk log r_nk`` with ``0 log 0 = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(resp > 0, resp * np.log(resp), 0.0)
    return float(-(w @ terms.sum(axis=1))) + 0.0  # + 0.0 turns -0.0 into 0.0
