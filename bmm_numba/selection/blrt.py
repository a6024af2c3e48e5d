"""The bootstrap likelihood-ratio test of K - 1 against K classes (McLachlan 1987; Mplus's TECH14).

The statistic is ``T = 2 (log L_K - log L_{K-1})`` of the two fitted models.  Its null
distribution is not chi-square (the K - 1 model lies on the boundary of the K-class one), so
it is simulated: B data sets of the shape of X are drawn from the fitted K - 1 model, both
models are refitted on each, and the p-value is ``(1 + #{T_b >= T}) / (B + 1)`` (the
estimator that counts the observed data set as one of the B + 1, never 0; Davison & Hinkley
1997, eq. 4.11): rejecting K - 1 classes when ``p <= alpha`` is an exact level-alpha test when
``alpha (B + 1)`` is a whole number (B = 19, 39, 99 at 5 %; with B = 19 the smallest p-value is
0.05 itself).  Nylund, Asparouhov & Muthén (2007) found it the most consistent test for the
number of classes.

Starts of the refits (Mplus's ``LRTSTARTS``).  A refit stuck at a poorer local optimum biases
``T_b``: too large when the K - 1 refit is poor (p-value inflated), too small when the K-class
refit is poor.  Each replicate's K - 1 refit starts from the parameters that generated the
replicate (the fitted K - 1 model: the replicate's truth, from which EM climbs to the nearby
maximum; Mplus's default ``LRTSTARTS = 0 0 20 5`` also gives the K - 1 refit no random
start).  Each K-class refit starts from the K-class model fitted to X *and* from
``refit_starts`` random starts (the estimator's ``init_params``: by default each is the best
of 5 short EM runs), and the best objective is kept.  ``refit_starts=1`` is the default:
with the informed start that is two basins tried, the random one already the winner of 5 short
runs (Mplus's default is 20 random starts of which 5 are iterated to the end); on 10 simulated
3-class surveys the test picked K = 3 on 9 with 1 refit start as with 5, and on 100 2-class
data sets its size was 7 % with either (``docs/benchmarks.md``), at a third of the time.  A
refit whose informed start cannot be used (the fitted model dropped a component) gets
``refit_starts`` random starts instead.  The K-class fit to X itself gets the same search (EM
from the given fit, and ``refit_starts`` random starts; the better is kept), so that ``T`` and
every ``T_b`` come from the same procedure: a K-class fit to X poorer than the replicates' would
lower ``T`` alone and inflate the p-value.

The replicates are independent: they run side by side where the data are too small for one fit
to use the threads (:mod:`bmm_numba.em.concurrent`).  Every replicate's seeds are drawn before
any replicate runs and each replicate draws its data from its own seed, so the p-value is the
same for any number of workers and threads.  A replicate's rows copy X's missing cells and
weights: with whole-number ``sample_weight`` (counts) a replicate has ``sum(w)`` unweighted
rows, with other weights one row per row of X, weighted as it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state

from ..em.concurrent import run_concurrently
from ..em.data import encode
from ..estimator.checks import check_sample_weight, is_dask_array, is_int
from ..estimator.mixture import BernoulliMixture
from .parallel import check_n_workers, quiet_fits

__all__ = ["BLRTResult", "blrt", "bootstrap_lrt", "replicate_layout", "log_likelihood", "check_blrt_options"]

#: Estimator parameters each replicate's refit sets itself (a replicate is 0/1 already: no ``binarize``).
_REFIT_OWN = ("n_components", "random_state", "n_init", "means_init", "weights_init", "warm_start", "verbose",
              "binarize")


@dataclass(frozen=True)
class BLRTResult:
    """The bootstrap likelihood-ratio test of ``n_components - 1`` against ``n_components`` classes.

    Attributes
    ----------
    n_components : int
        K, the alternative's number of classes (the null has K - 1).
    statistic : float
        ``T = 2 (log L_K - log L_{K-1})`` on X.
    p_value : float
        ``(1 + #{T_b >= T}) / (n_bootstrap + 1)``.
    bootstrap_statistics : ndarray of shape (n_bootstrap,)
        ``T_b`` of each replicate, in replicate order.
    log_likelihood_null, log_likelihood_alt : float
        ``log L_{K-1}`` and ``log L_K`` on X.
    n_bootstrap : int
    refit_starts : int
        Random starts of each K-class refit besides the informed one.
    n_not_converged : int
        Replicate refits (of the ``2 n_bootstrap`` kept) that stopped at ``max_iter``.
    """

    n_components: int
    statistic: float
    p_value: float
    bootstrap_statistics: np.ndarray
    log_likelihood_null: float
    log_likelihood_alt: float
    n_bootstrap: int
    refit_starts: int
    n_not_converged: int


def check_blrt_options(n_bootstrap, refit_starts):
    """``ValueError`` unless both are integers >= 1."""
    for name, value in (("n_bootstrap", n_bootstrap), ("refit_starts", refit_starts)):
        if not is_int(value, 1):
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def log_likelihood(est, X, sample_weight):
    """``sum_n w_n log p(x_n)`` of a fitted estimator on X."""
    log_prob = est.score_samples(X)
    return float(check_sample_weight(sample_weight, log_prob.shape[0], 1) @ log_prob)


def replicate_layout(X, sample_weight):
    """Return ``(rows, weights, missing)``: what a replicate's rows copy from X.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    sample_weight : array-like of shape (n_samples,) or None

    Returns
    -------
    rows : ndarray of int
        The row of X each replicate row stands for (its missing cells are copied).
    weights : ndarray or None
        The replicate's sample weights (None: unweighted rows).
    missing : ndarray of bool of shape (n_samples, n_features) or None
    """
    if is_dask_array(X):
        raise TypeError("the bootstrap likelihood-ratio test needs X in memory (or a memmap), not a Dask array")
    n = X.shape[0]
    missing = None
    if not sp.issparse(X) and np.asarray(X).dtype.kind == "f":
        mask = np.isnan(X)
        missing = mask if mask.any() else None
    if sample_weight is None:
        return np.arange(n), None, missing
    w = check_sample_weight(sample_weight, n, 1)
    if np.all(w == np.round(w)):  # counts: each unit is a row of its own
        return np.repeat(np.arange(n), w.astype(np.int64)), None, missing
    return np.arange(n), w, missing


def _draw(mu, pi, layout, seed):
    """One replicate: rows drawn from the mixture ``(mu, pi)``, with X's missing cells."""
    rows, _, missing = layout
    rng = np.random.RandomState(seed)
    labels = rng.choice(pi.shape[0], size=rows.shape[0], p=pi / pi.sum())
    X = (rng.random_sample((rows.shape[0], mu.shape[1])) < mu[labels]).astype(np.uint8)
    if missing is None:
        return X
    X = X.astype(np.float64)
    X[missing[rows]] = np.nan
    return X


class _Fit:
    """A replicate refit: the estimator and ``log L = sum_n w_n log p(x_n)`` from its final E-step."""

    def __init__(self, estimator, log_likelihood):
        self.estimator, self.log_likelihood = estimator, log_likelihood
        self.lower_bound_, self.converged_ = estimator.lower_bound_, estimator.converged_
        self.means_, self.weights_ = estimator.means_, estimator.weights_


def _fit_encoded(est, data, w):
    """Fit ``est`` on encoded replicate data (validated once per replicate, not once per fit)."""
    _, log_prob = est._fit_encoded(data, w, features={"n_features_in_": data.n_features})
    return _Fit(est, float(log_prob.sum() if w is None else w @ log_prob))


def _best_fit(K, start, data, w, refit_starts, seed, base, random):
    """Return the best (highest objective) fit from ``start`` and, if ``random``, ``refit_starts`` others."""
    fits = []
    mu, pi = start
    if mu.shape[0] == K:
        fits.append(_fit_encoded(BernoulliMixture(K, means_init=mu, weights_init=pi, n_init=1, **base), data, w))
    if random or not fits:
        fits.append(_fit_encoded(BernoulliMixture(K, n_init=refit_starts, random_state=seed, **base), data, w))
    return max(fits, key=lambda fit: fit.lower_bound_)  # the objective EM maximises


def _encoded(est, X):
    """X validated and encoded as ``est`` fits it (once: every refit on X reads it)."""
    return encode(est._check_X(X, reset=False), est.binarize)


def _weights(sample_weight, X):
    return None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0], 1)


def bootstrap_lrt(X, sample_weight, null, alt, *, n_bootstrap, refit_starts, rng, n_workers, params):
    """Run the test from two models fitted to X (``null`` with K - 1 classes, ``alt`` with K).

    The K-class model on X is searched as in every replicate: the better of ``alt`` (and EM
    from it) and ``refit_starts`` random starts, so that ``T`` and the ``T_b`` come from the same
    search (a poorer K-class optimum on X alone would lower ``T`` and inflate the p-value).

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Validated (or a memmap).
    sample_weight : array-like of shape (n_samples,) or None
    null, alt : BernoulliMixture
        Fitted to X.
    n_bootstrap, refit_starts : int
    rng : numpy.random.RandomState
        Draws every seed (X's extra starts, then each replicate's) before any replicate runs.
    n_workers : int or None
    params : dict
        The estimator parameters of the fits (the refits keep all but :data:`_REFIT_OWN`).

    Returns
    -------
    BLRTResult
    """
    K = alt.n_components
    base = {key: value for key, value in params.items() if key not in _REFIT_OWN}
    layout = replicate_layout(X, sample_weight)
    seed_x = int(rng.randint(0, 2**31 - 1))
    seeds = rng.randint(0, 2**31 - 1, size=(n_bootstrap, 3))
    null_start = (null.means_.copy(), null.weights_.copy())
    with quiet_fits():
        alt_fit = _best_fit(K, (alt.means_, alt.weights_), _encoded(alt, X), _weights(sample_weight, X),
                            refit_starts, seed_x, base, random=True)
    alt_start = (alt_fit.means_.copy(), alt_fit.weights_.copy())
    w = layout[1]

    def replicate(seed):
        data = encode(_draw(*null_start, layout, int(seed[0])))  # 0/1 (NaN where X's cells are missing)
        fit0 = _best_fit(K - 1, null_start, data, w, refit_starts, int(seed[1]), base, random=False)
        fit1 = _best_fit(K, alt_start, data, w, refit_starts, int(seed[2]), base, random=True)
        t_b = 2.0 * (fit1.log_likelihood - fit0.log_likelihood)
        return t_b, (not fit0.converged_) + (not fit1.converged_)

    work = layout[0].shape[0] * null.means_.shape[1] * K
    n = check_n_workers(n_workers, n_bootstrap, work)
    with quiet_fits():
        results = run_concurrently(replicate, list(seeds), n_workers=n)
    log_l_null, log_l_alt = log_likelihood(null, X, sample_weight), alt_fit.log_likelihood
    statistic = 2.0 * (log_l_alt - log_l_null)
    t_b = np.array([t for t, _ in results])
    return BLRTResult(n_components=int(K), statistic=float(statistic),
                      p_value=float((1 + np.count_nonzero(t_b >= statistic)) / (n_bootstrap + 1)),
                      bootstrap_statistics=t_b, log_likelihood_null=float(log_l_null),
                      log_likelihood_alt=float(log_l_alt), n_bootstrap=int(n_bootstrap),
                      refit_starts=int(refit_starts), n_not_converged=int(sum(c for _, c in results)))


def blrt(X, n_components, n_bootstrap=99, *, sample_weight=None, refit_starts=1, n_workers=None, **params):
    """Bootstrap likelihood-ratio test of ``n_components - 1`` against ``n_components`` classes.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        As in :meth:`BernoulliMixture.fit` (in memory or a memmap).
    n_components : int
        K >= 2: the alternative's classes.
    n_bootstrap : int, default=99
        Replicates B.  The smallest p-value possible is ``1 / (B + 1)``.
    sample_weight : array-like of shape (n_samples,), default=None
    refit_starts : int, default=1
        Random starts of each replicate's K-class refit besides the informed start (module docstring).
    n_workers : int or None, default=None
        Replicates run side by side; None lets
        :func:`~bmm_numba.em.concurrent.concurrent_workers` choose.  The result is the same for
        any value.
    **params
        :class:`BernoulliMixture` parameters of the two fits to X and of the refits
        (``random_state`` also seeds the replicates: an integer makes the test reproducible).

    Returns
    -------
    BLRTResult
        ``statistic``, ``p_value``, ``bootstrap_statistics`` and the fits' log-likelihoods.

    Examples
    --------
    >>> from bmm_numba import blrt
    >>> from bmm_numba.datasets import load_lca
    >>> X, _ = load_lca("carcinoma")
    >>> result = blrt(X, 2, n_bootstrap=19, random_state=0)
    >>> result.p_value  # 1 / 20: no replicate from one class comes near the observed T
    0.05
    """
    if not is_int(n_components, 2):
        raise ValueError(f"n_components must be an integer >= 2 (K - 1 against K classes); got {n_components!r}")
    check_blrt_options(n_bootstrap, refit_starts)
    if not is_dask_array(X) and not sp.issparse(X) and not isinstance(X, np.ndarray):
        X = check_array(X, ensure_all_finite="allow-nan", dtype=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        null = BernoulliMixture(n_components - 1, **params).fit(X, sample_weight=sample_weight)
        alt = BernoulliMixture(n_components, **params).fit(X, sample_weight=sample_weight)
    rng = check_random_state(params.get("random_state"))
    return bootstrap_lrt(X, sample_weight, null, alt, n_bootstrap=n_bootstrap, refit_starts=refit_starts, rng=rng,
                         n_workers=n_workers, params=params)
