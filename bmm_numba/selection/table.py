"""``select_n_components``: one fit per K, tabulated with every fit statistic (and the BLRT)."""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ..em.collapse import classification_entropy
from ..em.concurrent import run_concurrently
from ..em.data import MixtureData, encode
from ..estimator.checks import check_observed, check_sample_weight, is_dask_array, is_int, is_memmap
from ..estimator.mixture import BernoulliMixture
from .blrt import bootstrap_lrt, check_blrt_options
from .fit_statistics import information_criteria, pattern_statistics, relative_entropy
from .parallel import check_n_workers

__all__ = ["select_n_components", "COLUMNS"]

#: The columns of :func:`select_n_components`'s table, in order.
COLUMNS = ("K", "log_likelihood", "n_parameters", "AIC", "BIC", "ICL", "entropy", "converged",
           "SABIC", "CAIC", "AIC3", "relative_entropy", "G2", "chi2", "df", "p_G2", "p_chi2", "BLRT_p")


def _fit_every_k(X, values, sample_weight, params, n_workers):
    """Return ``[(estimator, resp, log_prob), ...]`` per K, and the encoded data (None out of core)."""
    encoded = None
    if not (is_dask_array(X) or is_memmap(X)) and values:
        # validated and encoded once for every K; the bit-packed rows and the row index (one per
        # table width) live on the data (MNIST test, K = 2..20: see docs/design.md, issue 13)
        template = BernoulliMixture(int(values[0]), **params)
        X = template._check_X(X, reset=True)
        encoded = encode(X, template.binarize)
        check_observed(encoded)
    random_state = params.get("random_state")
    shared_rng = random_state is not None and not isinstance(random_state, (int, np.integer))
    # in memory, the K values side by side (one thread each), whatever a pass costs: on larger
    # data too the Python around each pass then overlaps another fit's compiled pass (MNIST test,
    # K = 2..20: 7.1 -> 6.0 s); the largest K first, so that no worker is left with it alone
    n = 1 if encoded is None or shared_rng else check_n_workers(n_workers, len(values), 0)
    order = sorted(range(len(values)), key=lambda i: -int(values[i])) if n > 1 else range(len(values))

    def fit(K):
        est = BernoulliMixture(int(K), **params)
        if encoded is None:
            est.fit(X, sample_weight=sample_weight)
            return (est, *est._estimate(X))
        # side by side, each fit gets the data without the shared caches (they are not thread-safe)
        data = encoded if n == 1 else MixtureData(encoded.kind, encoded.X)
        features = {key: getattr(template, key) for key in ("n_features_in_", "feature_names_in_")
                    if hasattr(template, key)}
        return (est, *est._fit_encoded(data, sample_weight, features=features))

    with warnings.catch_warnings():  # once, in the calling thread (the filters are process-wide)
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported in the "converged" column
        # the estimator's "best objective not replicated" warning (issue 21 item 5): the table's
        # fits are compared with each other, not read one by one
        warnings.filterwarnings("ignore", message="The best objective.*not replicated", category=UserWarning)
        fits = run_concurrently(fit, [values[i] for i in order], n_workers=n)
        by_position = dict(zip(order, fits, strict=True))
        return [by_position[i] for i in range(len(values))], encoded, X


def select_n_components(X, n_components=range(1, 11), *, sample_weight=None, blrt=0, refit_starts=1,
                        n_workers=None, **params):
    """Fit :class:`~bmm_numba.BernoulliMixture` for each K and tabulate fit statistics.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        As in :meth:`BernoulliMixture.fit`.
    n_components : iterable of int, default=range(1, 11)
        The values of K to try.
    sample_weight : array-like of shape (n_samples,), default=None
    blrt : int, default=0
        Bootstrap replicates of the bootstrap likelihood-ratio test (:func:`bmm_numba.blrt`) of
        K - 1 against K classes, for each K after the first (the K - 1 model is the table's
        when K - 1 was tried, else fitted with the same parameters).  0 leaves ``"BLRT_p"`` NaN.
    refit_starts : int, default=1
        Random starts of each replicate's K-class refit, besides the start from the fitted
        K-class parameters (see :func:`bmm_numba.blrt`).
    n_workers : int or None, default=None
        Fits run side by side (the K values; the BLRT's replicates).  None: as many as
        :func:`~bmm_numba.em.concurrent.concurrent_workers` allows (in-memory data: the K values
        side by side, one thread each, largest K first; the BLRT's replicates only when the
        data are too small for one fit to use the threads).  The table is the same for any
        value (with an integer or None ``random_state``; a ``RandomState`` instance is drawn
        from in turn, so its fits run one after another).
    **params
        Other :class:`BernoulliMixture` parameters (``n_init``, ``random_state``, ...).

    Returns
    -------
    table : dict of str -> list
        Columns (:data:`COLUMNS`), one entry per K (``pandas.DataFrame(table)`` makes a data frame):

        - ``"K"``: number of components;
        - ``"log_likelihood"``: ``log L = sum_n w_n log p(x_n)``;
        - ``"n_parameters"``: ``p = K D + K - 1``;
        - ``"AIC"``: ``-2 log L + 2 p``;  ``"BIC"``: ``-2 log L + p log n`` (n = sum of weights);
        - ``"ICL"``: ``BIC + 2 E`` (integrated completed likelihood, BIC approximation);
        - ``"entropy"``: ``E = -sum_n w_n sum_k r_nk log r_nk`` (0 for a crisp partition);
        - ``"converged"``: whether the best start converged;
        - ``"SABIC"``, ``"CAIC"``, ``"AIC3"``, ``"relative_entropy"``, ``"G2"``, ``"chi2"``,
          ``"df"``, ``"p_G2"``, ``"p_chi2"``: :mod:`bmm_numba.selection.fit_statistics` (as
          poLCA defines G², χ² and df; NaN where not meaningful, with the reasons there);
        - ``"BLRT_p"``: the bootstrap p-value of K - 1 against K classes (NaN for the first K
          and without ``blrt``).

        Lower AIC/BIC/ICL/SABIC/CAIC/AIC3 is better.

    Examples
    --------
    >>> import numpy as np
    >>> from bmm_numba import select_n_components
    >>> rng = np.random.default_rng(0)
    >>> mu = np.array([[0.9] * 8 + [0.1] * 8, [0.1] * 8 + [0.9] * 8])
    >>> X = (rng.random((400, 16)) < mu[rng.integers(0, 2, 400)]).astype(np.uint8)
    >>> table = select_n_components(X, range(1, 5), random_state=0)
    >>> table["K"][int(np.argmin(table["BIC"]))]
    2
    """
    values = list(n_components)
    for K in values:
        if not is_int(K, 1):
            raise ValueError(f"n_components must hold integers >= 1; got {K!r}")
    if not is_int(blrt, 0):
        raise ValueError(f"blrt must be an integer >= 0 (bootstrap replicates); got {blrt!r}")
    if blrt:
        check_blrt_options(blrt, refit_starts)
    fits, encoded, X = _fit_every_k(X, values, sample_weight, params, n_workers)
    table = {name: [] for name in COLUMNS}
    for K, (est, resp, log_prob) in zip(values, fits, strict=True):
        w = check_sample_weight(sample_weight, resp.shape[0], 1)
        log_l = float(w @ log_prob)
        p = est._n_parameters()
        criteria = information_criteria(log_l, p, float(w.sum()))
        entropy = classification_entropy(resp, w)
        row = {"K": int(K), "log_likelihood": log_l, "n_parameters": p, "AIC": criteria["AIC"],
               "BIC": criteria["BIC"], "ICL": criteria["BIC"] + 2.0 * entropy, "entropy": entropy,
               "converged": bool(est.converged_), "SABIC": criteria["SABIC"], "CAIC": criteria["CAIC"],
               "AIC3": criteria["AIC3"], "relative_entropy": relative_entropy(resp, w),
               **pattern_statistics(encoded, w, log_prob, p), "BLRT_p": math.nan}
        for name in COLUMNS:
            table[name].append(row[name])
    if blrt:
        _fill_blrt(table, X, values, fits, sample_weight, blrt, refit_starts, n_workers, params)
    return table


def _fill_blrt(table, X, values, fits, sample_weight, n_bootstrap, refit_starts, n_workers, params):
    """Set ``table["BLRT_p"]`` for each K after the first (one seed stream for all, in K order)."""
    fitted = {int(K): est for K, (est, _, _) in zip(values, fits, strict=True)}
    rng = check_random_state(params.get("random_state"))
    for i, K in enumerate(values[1:], start=1):
        if K < 2:
            continue
        null = fitted.get(K - 1)
        if null is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                null = BernoulliMixture(K - 1, **params).fit(X, sample_weight=sample_weight)
        result = bootstrap_lrt(X, sample_weight, null, fitted[K], n_bootstrap=n_bootstrap, refit_starts=refit_starts,
                               rng=rng, n_workers=n_workers, params=params)
        table["BLRT_p"][i] = result.p_value
