"""``BernoulliMixture``: a scikit-learn estimator fitting Bernoulli mixtures by EM.

The estimator validates, resolves its kernel once (:func:`bmm_numba.em.backend.resolve_backend`),
picks a row source (in memory, memmap, Dask, ``partial_fit``'s batches) and runs the one EM
loop of :mod:`bmm_numba.em.loop`; a final E-step makes ``fit_predict(X) == fit(X).predict(X)``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..em.backend import resolve_backend
from ..em.blocks import check_block, init_sample_index
from ..em.collapse import m_step, n_parameters
from ..em.data import encode
from ..em.init import initial_resp
from ..em.loop import SHORT_EM_STARTS, InMemorySource, best_of_starts, em_step, short_em, short_em_rows
from ..em.progress import ProgressMonitor, VerbosePrinter
from ..kernels.missing import MISSING
from .checks import (
    check_fitted_parameters,
    check_input,
    check_observed,
    check_parameters,
    check_sample_weight,
    is_dask_array,
    is_int,
    is_memmap,
    n_rows,
    scale_weights,
)
from .memmap import BatchSource, MemmapSource, OnlineStats, check_rows_observed

__all__ = ["BernoulliMixture", "PARTIAL_FIT_HISTORY"]

#: ``partial_fit`` keeps the objectives (``lower_bounds_``) and re-seeds of this many recent steps:
#: on a never-ending stream its memory stays bounded (the history grew 8 bytes a batch).
PARTIAL_FIT_HISTORY = 1000

#: The attributes that record the data's columns (set by a new fit, kept by a warm or partial step).
_FEATURE_ATTRIBUTES = ("n_features_in_", "feature_names_in_")

#: Every attribute of the fitted state, replaced together by :meth:`BernoulliMixture._set_fitted`.
_FITTED_ATTRIBUTES = frozenset({"means_", "weights_", "n_components_", "converged_", "n_iter_", "lower_bound_",
                                "lower_bounds_", "reseeded_components_", "dropped_components_", "labels_", "n_passes_",
                                "start_objectives_",
                                "_online", "_incremental", *_FEATURE_ATTRIBUTES})


class BernoulliMixture(ClusterMixin, DensityMixin, BaseEstimator):
    """Mixture of multivariate Bernoulli distributions fitted by EM.

    ``p(x) = sum_k pi_k prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d)`` for 0/1 vectors ``x``.

    Parameters
    ----------
    n_components : int, default=1
        Number of components K, ``1 <= K <= n_samples``.
    kernel : str, default="auto"
        E-step of :data:`bmm_numba.E_STEPS` (one of :data:`bmm_numba.PRODUCTION_KERNELS`, or
        ``"auto"`` = ``"numba"``).  ``"numba"``/``"numba_log"`` use the compiled M-step and the
        compiled missing-value and sparse kernels, ``"numpy"``/``"numpy_gemm"`` their NumPy/SciPy
        twins.  Every kernel gives the same fit up to rounding.
    init_params : {"short_em", "random", "k-means++", "random_from_data"}, default="short_em"
        How the first responsibilities are chosen (then turned into parameters by an M-step).
        ``"random"`` draws random soft responsibilities, which puts every mean near the data
        mean (StepMix's default start); ``"short_em"`` ("short EM") runs ``SHORT_EM_ITER`` = 20
        EM iterations from each of ``SHORT_EM_STARTS`` = 5 random starts and keeps the one with
        the highest objective; ``"k-means++"`` seeds K samples spread out in Hamming distance
        (greedy k-means++) and assigns every sample to its nearest seed; ``"random_from_data"``
        draws the K seeds uniformly (by weight).  ``"short_em"`` is the default: on the quality
        panel it was the only start within 0.2 % of StepMix's training log-likelihood on digits
        at K = 20 and beat one random start by 2.6 nats per document on text at K = 20, for 100
        short iterations (measurements in ``docs/design.md``).  On data with more than
        ``max(SHORT_EM_MIN_ROWS, SHORT_EM_ROWS_PER_COMPONENT * K)`` = ``max(10000, 400 K)``
        rows the short runs read a uniform sample of that many rows (rows of positive weight,
        drawn from ``random_state``, keeping their weights) and only the run from the winner
        reads every row: on MNIST train at K = 10 the start fell from 82 % to 36 % of the fit
        and the fit took 1.6 s instead of 3.8 s (2 loaded cores), at the same log-likelihood.
        Smaller data (digits, text, MNIST test) get exactly the start they had.  The seeding
        starts compute their Hamming distances by compiled popcounts
        (:mod:`bmm_numba.kernels.hamming`).  Use ``n_init > 1`` for fits that matter.
    means_init : array-like of shape (n_components, n_features), default=None
        Exact starting means, strictly inside (0, 1).  Overrides ``init_params`` for the means.
    weights_init : array-like of shape (n_components,), default=None
        Exact starting weights (non-negative, summing to 1).  Default with ``means_init``:
        uniform; otherwise from the initialisation.
    n_init : int, default=1
        Number of starts; the one with the highest final lower bound is kept.
    max_iter : int, default=100
        Maximum passes over the data per start (one pass = E-step then M-step; an accelerated
        fit's rejected extrapolations count too, see :attr:`n_passes_`).
    tol : float, default=1e-6
        Stopping rule, relative to ``max(1, |objective|)``: the fit has converged when the last
        change of the objective (:attr:`lower_bounds_`) and the distance still to go, estimated
        from the change and the observed rate of convergence (``c rho / (1 - rho)``), are both
        below ``tol``.  The fit ends on four plain EM steps in a row whose changes shrink, ``rho``
        the largest ratio of consecutive changes among them (an accelerated fit takes them once
        its own sequence looks converged): a fit that passes near a saddle, where the changes
        drop and then grow, goes on.  A decrease is never convergence; changes that do not
        shrink never converge.  With 0 the fit runs to the fixed point: until the objective no
        longer increases beyond its rounding (``1e-13`` relative), or ``max_iter``.
        :func:`bmm_numba.kernels.em_run.confirmed` has the rule.
    accelerate : {"squarem", "overrelax", "none"}, default="squarem"
        Extrapolation between EM steps (:mod:`bmm_numba.kernels.em_run`): SQUAREM (Varadhan &
        Roland 2008, steplength S3, in logit/log coordinates so means stay in (0, 1) and weights
        on the simplex), adaptive over-relaxation, or plain EM.  Every accepted point has an
        objective at least the previous one's (a rejected extrapolation falls back to the EM
        step), so the fit is as monotone as EM; it reaches the same fixed points in fewer passes
        (measurements in ``docs/design.md``, acceleration).
    alpha : float, default=0.5
        Prior strength ``alpha >= 0``: ``mu_kd = (S_kd + 2 alpha m_d) / (nk_k + 2 alpha)``, the MAP
        estimate under a ``Beta(2 alpha m_d + 1, 2 alpha (1 - m_d) + 1)`` prior whose mode ``m_d``
        is the data's mean of feature d, Laplace-smoothed (``(sum_n w_n x_nd + 1) / (sum_n w_n +
        2)``): ``2 alpha`` pseudo-observations that look like the data, so a small component is
        pulled towards the population, not towards 0.5, and a feature never 1 in training keeps
        means above 0.  It matters only for small components (mass ``nk_k`` of tens or less):
        ``0.5`` rather than ``1`` brings digits at K = 20 (~70 rows per component) within 0.1 %
        of StepMix's training log-likelihood (``docs/design.md``).  With ``alpha=0`` (maximum
        likelihood) and in every case the means are clipped to ``[1e-10, 1 - 1e-10]``, which
        keeps the log-likelihood of unseen data finite (at least ``log(1e-10) = -23`` per feature).
    binarize : float or None, default=None
        If a number, values ``>= binarize`` become 1 and the others 0, the one rule of the
        package (:func:`bmm_numba.datasets.binarize`, ``bmm-numba fit --threshold``; MNIST's
        pixels ``>= 128``); scikit-learn's ``BernoulliNB`` uses ``>`` instead.  Sparse X needs
        ``binarize > 0`` (the zeros it does not store stay 0);
        if None, X must already hold only 0 and 1 (and NaN for missing values).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample` (an int in ``[0, 2**32 - 1]``, as
        scikit-learn's ``check_random_state`` takes it).
    warm_start : bool, default=False
        If True and already fitted, ``fit`` starts from the fitted parameters (one start).
        The fitted model keeps its components: changing ``n_components`` in between is an error.
    partial_fit_method : {"stepwise", "incremental"}, default="stepwise"
        What :meth:`partial_fit` does with a batch.  ``"stepwise"``: stepwise online EM
        (Cappé & Moulines 2009), bounded memory on a stream of batches that never repeat;
        ``"incremental"``: exact incremental EM (Neal & Hinton 1998) over a finite set of batches
        passed again and again, which keeps every distinct batch's statistics.  See
        :meth:`partial_fit`.
    step_decay : float, default=0.6
        The exponent ``kappa`` of stepwise EM's step sizes ``gamma_t = (t + 1) ** -kappa`` at
        the t-th step (t = 0, 1, ...; ``0.5 < kappa <= 1``, the range where the steps sum to
        infinity and their squares do not).
    verbose : int, default=0
        1 reports each start (and re-seeded components), 2 also the log-likelihood and time
        every ``verbose_interval`` iterations.
    verbose_interval : int, default=10
        Iterations between two reports at ``verbose=2``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    converged_ : bool
        Whether the best start met the stopping rule (never after a decrease of the objective).
    n_iter_ : int
        Accepted iterations of the best start (one entry of :attr:`lower_bounds_` each).
    n_passes_ : int
        Passes over the data of the best start: :attr:`n_iter_` plus rejected extrapolations.
    start_objectives_ : ndarray of shape (n_init,)
        The final objective of every start, in start order.  With ``n_init > 1`` a
        ``UserWarning`` says when only one start reached the best (within ``1e-6`` relative):
        Mplus's "best log-likelihood not replicated".
    n_components_ : int
        Components of the fitted model: ``n_components`` minus the dropped ones.
    lower_bound_ : float
        The objective EM maximises, at the best start's last E-step: the weighted mean
        log-likelihood per sample plus the log-prior of the means divided by ``sum(w)`` (the
        plain mean log-likelihood at ``alpha=0``).  It picks the best of ``n_init`` starts.
        :meth:`score` and :meth:`score_samples` are the plain log-likelihood.
    lower_bounds_ : ndarray of shape (n_iter_,)
        The objective at every iteration of the best start (under the parameters entering the
        iteration).  It never decreases, except right after an iteration that re-seeded or
        dropped a component (recorded in the next two attributes).
    reseeded_components_ : list of (iteration, component, sample) tuples
        Collapsed components (mass below half an average sample's weight) of the best start,
        re-seeded from the worst-explained sample (iteration 0: at initialisation); see
        :mod:`bmm_numba.em.collapse`.
    dropped_components_ : list of (iteration, component) tuples
        Components dropped because they collapsed again after their re-seed (or ended the fit
        below the minimum mass); a ``UserWarning`` says the data do not support
        ``n_components``.
    labels_ : ndarray of shape (n_samples,)
        Component of each training sample (the final E-step); not set by :meth:`partial_fit`.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X had string column names.

    Notes
    -----
    Speed: small in-memory data (passes under ``COMPILED_RUN_MAX_WORK`` steps of
    :mod:`bmm_numba.em.loop`) run their EM iterations as one compiled call over row lists
    (:mod:`bmm_numba.kernels.row_lists`); the ``n_init`` starts and the short-EM candidates then
    run side by side, one thread each (:mod:`bmm_numba.em.concurrent`), with results identical
    to running them in turn.

    Missing values: NaN cells of dense X are unobserved; the E-step sums only the observed
    features of each row and the M-step divides each feature by the responsibility mass of the
    rows where it is observed (full information maximum likelihood).  Sparse X (CSR/CSC) is
    never densified.  Results do not depend on the Numba thread count.

    Examples
    --------
    >>> import numpy as np
    >>> from bmm_numba import BernoulliMixture
    >>> X = np.array([[1, 1, 0, 0]] * 5 + [[0, 0, 1, 1]] * 5)
    >>> bm = BernoulliMixture(2, random_state=0).fit(X)
    >>> bm.predict([[1, 1, 0, 0], [0, 0, 1, 1]]).tolist() in ([0, 1], [1, 0])
    True
    """

    def __init__(
        self,
        n_components=1,
        *,
        kernel="auto",
        init_params="short_em",
        means_init=None,
        weights_init=None,
        n_init=1,
        max_iter=100,
        tol=1e-6,
        alpha=0.5,
        accelerate="squarem",
        binarize=None,
        random_state=None,
        warm_start=False,
        partial_fit_method="stepwise",
        step_decay=0.6,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.kernel = kernel
        self.init_params = init_params
        self.means_init = means_init
        self.weights_init = weights_init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.alpha = alpha
        self.accelerate = accelerate
        self.binarize = binarize
        self.random_state = random_state
        self.warm_start = warm_start
        self.partial_fit_method = partial_fit_method
        self.step_decay = step_decay
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = True
        return tags

    # ----------------------------------------------------------------------------------------
    # validation
    # ----------------------------------------------------------------------------------------

    def _check_X(self, X, reset):
        """``check_array`` through scikit-learn (feature count and names recorded or checked)."""
        return validate_data(self, check_input(X), accept_sparse=("csr", "csc"), ensure_all_finite="allow-nan",
                             reset=reset)

    def _check_new_X(self, X):
        """Validate the data of a new fit without touching ``self``: ``(X, features)``.

        ``features`` holds the ``n_features_in_`` (and ``feature_names_in_``) the fit will set
        (:meth:`_set_fitted`); until then the previous fitted state stays as it was.
        """
        scratch = object.__new__(type(self))
        X = scratch._check_X(X, reset=True)
        return X, {key: scratch.__dict__[key] for key in _FEATURE_ATTRIBUTES if key in scratch.__dict__}

    def _features(self):
        """Return the fitted ``n_features_in_`` (and ``feature_names_in_``), kept by a warm or partial step."""
        return {key: self.__dict__[key] for key in _FEATURE_ATTRIBUTES if key in self.__dict__}

    def _warm(self):
        """Return whether ``fit`` starts from the fitted parameters; ``ValueError`` for a bad ``warm_start``."""
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"warm_start must be a bool (True or False); got {self.warm_start!r} "
                             f"({type(self.warm_start).__name__})")
        if not (self.warm_start and hasattr(self, "means_")):
            return False
        fitted = getattr(self, "n_components_", len(self.weights_)) + len(getattr(self, "dropped_components_", ()))
        if self.n_components != fitted:
            raise ValueError(f"warm_start=True continues the fitted model of n_components={fitted}, but "
                             f"n_components={self.n_components!r} now: set warm_start=False to fit "
                             f"{self.n_components!r} components from a new start")
        return True

    def _set_fitted(self, best, labels, features, online=None):
        """Replace the whole fitted state in one assignment (the one place fitted attributes are set).

        Everything is computed (into ``best``, a run as :func:`~bmm_numba.em.loop.best_of_starts`
        returns it) and validated before; an error or Ctrl-C before this line leaves the
        previous fitted state intact, or the estimator unfitted.  A NaN model is an error here,
        never a result.

        Parameters
        ----------
        best : dict
            ``mu, pi, converged, n_iter, lower_bound, lower_bounds, reseeded, dropped``.
        labels : ndarray, lazy Dask array or None
            ``labels_`` (None: not set, as after :meth:`partial_fit`).
        features : dict
            ``n_features_in_`` and, when X had column names, ``feature_names_in_``.
        online : OnlineStats, optional
            :meth:`partial_fit`'s statistics, kept for its next step.
        """
        try:
            mu, pi = check_fitted_parameters(best["mu"], best["pi"], features["n_features_in_"], len(best["pi"]))
            if not np.isfinite(best["lower_bound"]):
                raise ValueError(f"the objective is {best['lower_bound']!r}")
        except ValueError as exc:
            raise ValueError(f"the fit produced an invalid model ({exc}); nothing was changed: check the "
                             "sample weights and alpha") from None
        state = {
            "means_": mu, "weights_": pi, "n_components_": len(pi),
            "converged_": bool(best["converged"]), "n_iter_": int(best["n_iter"]),
            "lower_bound_": float(best["lower_bound"]),
            "lower_bounds_": np.asarray(best["lower_bounds"], dtype=np.float64),
            "reseeded_components_": list(best["reseeded"]), "dropped_components_": list(best["dropped"]),
            "n_passes_": int(best.get("n_passes", best["n_iter"])),
            "start_objectives_": np.asarray(best.get("start_objectives", [best["lower_bound"]]), dtype=np.float64),
            **features,
        }
        if labels is not None:
            state["labels_"] = labels
        if online is not None:
            state["_online"] = online
        kept = {key: value for key, value in self.__dict__.items() if key not in _FITTED_ATTRIBUTES}
        self.__dict__ = {**kept, **state}  # one assignment: all or nothing, even under Ctrl-C

    # ----------------------------------------------------------------------------------------
    # EM template (the loop itself: bmm_numba.em.loop)
    # ----------------------------------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM (best of ``n_init`` starts).

        Parameters
        ----------
        X : array-like, sparse matrix, numpy.memmap or dask.array.Array of shape (n_samples, n_features)
            0/1 data (any numeric dtype, NaN = missing in dense X), or any numbers with
            ``binarize`` set.  Lists, DataFrames, CSR/CSC matrices accepted.  A
            ``numpy.memmap`` is read in row blocks, never copied whole; a Dask array (chunked
            along the rows) is fitted on the Dask scheduler in use, one map-reduce per EM
            iteration.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; integer weights are equivalent to repeating rows.  May be a
            Dask array when X is one.

        Returns
        -------
        self : BernoulliMixture
        """
        self.fit_predict(X, y, sample_weight=sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the component of each sample (a final E-step on the best parameters).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        warm = self._warm()  # a full fit forgets partial_fit's batches (_set_fitted)
        if is_dask_array(X) or is_memmap(X):
            return self._fit_row_source(X, sample_weight, warm)
        if warm:
            X, features = self._check_X(X, reset=False), self._features()
        else:
            X, features = self._check_new_X(X)
        check_parameters(self, *X.shape)
        resolve_backend(self.kernel)
        data = encode(X, self.binarize)
        check_observed(data)
        self._fit_encoded(data, sample_weight, warm, features)
        return self.labels_

    def _fit_encoded(self, data, sample_weight, warm=False, features=None):
        """Fit on validated, encoded data (:func:`~bmm_numba.selection.table.select_n_components` encodes once).

        ``features``: the ``n_features_in_`` (and names) to record; default ``data.n_features``.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components_)
        log_prob_norm : ndarray of shape (n_samples,)
            The final E-step (which set :attr:`labels_`).
        """
        means_init, weights_init = check_parameters(self, data.n_samples, data.n_features)
        backend = resolve_backend(self.kernel)
        w = check_sample_weight(sample_weight, data.n_samples, self.n_components)
        w, alpha = scale_weights(w, self.alpha)
        rng = check_random_state(self.random_state)
        source = InMemorySource(data, w, backend)
        best = self._run_starts(warm, source, alpha,
                                lambda: self._initialize(data, w, rng, means_init, weights_init, backend, alpha))
        resp, log_prob_norm = backend.e_step(data, best["mu"], best["pi"])
        self._set_fitted(best, resp.argmax(axis=1), {"n_features_in_": data.n_features} if features is None
                         else features)
        return resp, log_prob_norm

    def _progress_monitor(self):
        """Return the :class:`~bmm_numba.em.progress.ProgressMonitor` of a fit; override to watch one."""
        return VerbosePrinter(self.verbose, self.verbose_interval) if self.verbose else ProgressMonitor()

    def _run_starts(self, warm, source, alpha, initialize):
        """Return the best of ``n_init`` starts (one from the fitted parameters if warm), changing nothing.

        A warm start keeps the components dropped before in ``dropped``: ``n_components_`` plus
        the dropped ones always make ``n_components``.
        """
        if warm:
            mu, pi = self._fitted_parameters()
            initialize = lambda: lambda: (mu.copy(), pi.copy(), [])  # noqa: E731
        best = best_of_starts(1 if warm else self.n_init, initialize, source, alpha=alpha,
                              max_iter=self.max_iter, tol=self.tol, monitor=self._progress_monitor(),
                              accelerate=self.accelerate, n_components=self.n_components)
        if warm:
            best = {**best, "dropped": list(getattr(self, "dropped_components_", [])) + list(best["dropped"])}
        return best

    def _initialize(self, data, w, rng, means_init, weights_init, backend, alpha):
        """Draw one start from ``rng``; return ``finish() -> (mu, pi, reseeded)``, which computes it.

        The draws (the short-EM sample and random responsibilities, or the seeding) happen here,
        the M-steps and short-EM runs in ``finish``: the starts of ``n_init`` draw in start
        order, then may run side by side (:func:`~bmm_numba.em.loop.best_of_starts`).
        """
        K = self.n_components
        if means_init is not None:
            pi = np.full(K, 1.0 / K) if weights_init is None else weights_init.copy()
            return lambda: (means_init.copy(), pi.copy(), [])
        if self.init_params == "short_em":
            index = short_em_rows(data.n_samples, w, K, rng)
            rows, w_rows = (data, w) if index is None else (data.rows(index), w[index])
            draws = iter([initial_resp(rows, w_rows, K, "random", rng) for _ in range(SHORT_EM_STARTS)])

            def finish():
                mu, pi = short_em(InMemorySource(rows, w_rows, backend),
                                  lambda: m_step(rows, w_rows, next(draws), alpha, backend)[:2], alpha=alpha,
                                  accelerate=self.accelerate)
                return mu, (pi if weights_init is None else weights_init.copy()), []

            return finish
        resp = initial_resp(data, w, K, self.init_params, rng)

        def finish():
            mu, pi, records = m_step(data, w, resp, alpha, backend)
            return mu, (pi if weights_init is None else weights_init.copy()), [(0, k, n) for k, n in records]

        return finish

    # ----------------------------------------------------------------------------------------
    # out-of-core: memmaps and Dask arrays (one pass over row blocks per EM iteration)
    # ----------------------------------------------------------------------------------------

    def _check_row_source(self, X, reset):
        """Shape checks for a memmap or Dask X (values are checked block by block): ``(X, features)``."""
        if is_dask_array(X):
            from .dask import check_dask_X

            X = check_dask_X(X)
        elif X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"Expected a non-empty 2D memmap; got shape {X.shape}")
        if reset:
            return X, {"n_features_in_": X.shape[1]}
        check_is_fitted(self, ("means_", "weights_"))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        return X, self._features()

    def _row_source(self, X, sample_weight, n_components):
        """``(source, alpha)``: the row source of a memmap or Dask X, weights (in memory) scaled with alpha."""
        alpha = scale_weights(np.ones(1), self.alpha)[1]
        if is_dask_array(X):
            from .dask import DaskSource

            if sample_weight is not None and not is_dask_array(sample_weight):
                sample_weight = check_sample_weight(sample_weight, X.shape[0], n_components)
                sample_weight, alpha = scale_weights(sample_weight, self.alpha)
            return DaskSource(X, sample_weight, self.kernel, self.binarize), alpha
        w = None
        if sample_weight is not None:
            w, alpha = scale_weights(check_sample_weight(sample_weight, X.shape[0], n_components), self.alpha)
        source = MemmapSource(X, w, resolve_backend(self.kernel), self.binarize)
        source.check_file()
        return source, alpha

    def _fit_row_source(self, X, sample_weight, warm):
        """``fit_predict`` on a memmap or Dask array: EM passes over row blocks."""
        X, features = self._check_row_source(X, reset=not warm)
        means_init, weights_init = check_parameters(self, *X.shape)
        source, alpha = self._row_source(X, sample_weight, self.n_components)
        rng = check_random_state(self.random_state)
        if warm or means_init is not None:  # no sample read at the start: check every row may be needed
            check_rows_observed(source)
        best = self._run_starts(warm, source, alpha,
                                lambda: self._initialize_from_rows(source, rng, means_init, weights_init, alpha))
        if is_dask_array(X):
            from .dask import lazy_estimate

            labels = lazy_estimate(X, best["mu"], best["pi"], self.kernel, self.binarize, "labels")
        else:
            labels = source.labels(best["mu"], best["pi"])
        self._set_fitted(best, labels, features)
        return self.labels_

    def _initialize_from_rows(self, source, rng, means_init, weights_init, alpha):
        """Draw the start for a memmap or Dask array; return ``finish() -> (mu, pi, reseeded)``.

        The in-memory initialisation on a uniform sample of
        :data:`bmm_numba.em.blocks.INIT_SAMPLE_ROWS` rows (on all rows, exactly as in memory,
        when there are no more).  A sample with every cell missing is an error when every
        row is (the sample is all rows, or a pass over the rows finds no observed cell).
        """
        backend = resolve_backend(self.kernel)
        if means_init is not None:
            return self._initialize(None, None, rng, means_init, weights_init, backend, alpha)
        index = init_sample_index(source.n_samples, rng)
        X, w = source.take(index)
        data = check_block(X, self.binarize)
        if index is None:
            check_observed(data)
        elif data.kind == "missing" and not (data.X != MISSING).any():
            check_rows_observed(source)
        w = check_sample_weight(w, data.n_samples, self.n_components)
        start = self._initialize(data, w, rng, None, weights_init, backend, alpha)

        def finish():
            mu, pi, reseeded = start()
            if index is not None:
                reseeded = [(0, k, int(index[n])) for _, k, n in reseeded]
            return mu, pi, reseeded

        return finish

    # ----------------------------------------------------------------------------------------
    # incremental fitting
    # ----------------------------------------------------------------------------------------

    def partial_fit(self, X, y=None, sample_weight=None):
        """One online EM step on a batch: stepwise (bounded memory, the default) or exact incremental.

        The batch's sufficient statistics (``nk``, ``S``, observed mass, log-likelihood) are
        computed under the current parameters, then merged with the statistics of the batches
        before as ``partial_fit_method`` says, and the parameters set from the result (the
        M-step of :meth:`fit`, with its collapse policy: re-seeds, never drops):

        * ``"stepwise"`` (default): stepwise online EM (Cappé & Moulines 2009; Liang & Klein
          2009): ``s_t = (1 - gamma_t) s_(t-1) + gamma_t s(batch_t)`` with step sizes
          ``gamma_t = (t + 1) ** -step_decay`` (``gamma_0 = 1``).  Memory is one set of
          statistics (``K x D``) whatever the number of batches: for streams of batches that
          never repeat, or data too large to pass over often.  The running statistics are
          in the units of one batch, so ``alpha`` weighs as in a fit of one batch.
        * ``"incremental"``: the exact incremental EM of Neal & Hinton (1998): every distinct
          batch's statistics are kept (``K x D`` floats per batch) and a batch seen before
          (same 0/1 values, same missing cells, same weights, whatever its container: uint8,
          float, bool or CSR) replaces its earlier statistics, so passing over the batches of
          a finite data set again and again converges to the full-batch fit.  Memory grows
          with the number of distinct batches.

        On MNIST train (60 000 x 784, K = 10, batches of 1000): ``bench/partial_fit.py``
        measures both against the full-batch fit; see the user guide (incremental fitting).

        The first call (on an unfitted estimator) initialises from its batch (``means_init``,
        ``weights_init``, ``init_params`` and ``random_state`` as in :meth:`fit`); after
        :meth:`fit` (or a model loaded from a file) the steps start from the fitted parameters
        with fresh statistics.  :meth:`fit` forgets the statistics.  A failed call changes
        nothing.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_batch, n_features)
            As in :meth:`fit` (in memory; at least ``n_components`` rows in the first batch; not
            every cell missing).
        y : Ignored
        sample_weight : array-like of shape (n_batch,), default=None

        Returns
        -------
        self : BernoulliMixture
            ``n_iter_`` counts the ``partial_fit`` steps, ``lower_bound_`` is the objective of
            the merged statistics (stepwise: a running average over recent batches;
            incremental: over the stored batches, each under the parameters of its last
            visit), ``converged_`` is False (no convergence test: watch ``lower_bounds_``, the
            objectives of the last :data:`PARTIAL_FIT_HISTORY` steps, and
            ``reseeded_components_``, the last as many re-seeds: a stream of batches never
            grows them without bound).
        """
        first = not hasattr(self, "means_")
        if first:
            X, features = self._check_new_X(X)
        else:
            X, features = self._check_X(X, reset=False), self._features()
        data = encode(X, self.binarize)
        check_observed(data)
        if first:
            means_init, weights_init = check_parameters(self, *X.shape)
        else:
            check_parameters(self, max(self.n_components, X.shape[0]), X.shape[1])  # batches may be small
        backend = resolve_backend(self.kernel)
        w = check_sample_weight(sample_weight, data.n_samples, self.n_components if first else 1)
        alpha = float(self.alpha)
        scale_weights(w, alpha)  # alpha's bound
        online = self.__dict__.get("_online")
        if online is None or online.method != self.partial_fit_method:
            online = OnlineStats(self.partial_fit_method, self.step_decay)
            n_iter, lower_bounds = 0, []
        else:
            n_iter, lower_bounds = self.n_iter_, list(self.lower_bounds_)
        if first:
            rng = check_random_state(self.random_state)
            mu, pi, reseeded = self._initialize(data, w, rng, means_init, weights_init, backend, alpha)()
            dropped = []
        else:
            (mu, pi), reseeded = self._fitted_parameters(), list(self.reseeded_components_)
            dropped = list(getattr(self, "dropped_components_", []))
        source = BatchSource(data, w, backend, online)
        step = em_step(source, mu, pi, alpha)
        n_iter += 1
        best = {"mu": step.mu, "pi": step.pi, "converged": False, "n_iter": n_iter, "lower_bound": step.lower_bound,
                "lower_bounds": [*lower_bounds, step.lower_bound][-PARTIAL_FIT_HISTORY:],
                "reseeded": (reseeded + [(n_iter, k, n) for k, n in step.reseeded])[-PARTIAL_FIT_HISTORY:],
                "dropped": dropped}
        self._set_fitted(best, None, features, online=source.merged)
        return self

    # ----------------------------------------------------------------------------------------
    # the model file (bmm_numba.estimator.persist) and the fitted parameters' check
    # ----------------------------------------------------------------------------------------

    def save(self, file, **metadata):
        """Write the fitted model to a ``.npz`` file (no pickle; format in :mod:`bmm_numba.estimator.persist`).

        Parameters
        ----------
        file : str, path-like or binary file object
        **metadata
            Extra arrays of numbers or text to store alongside.
        """
        from .persist import save_model

        save_model(self, file, **metadata)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`, validated (:func:`bmm_numba.load_model`).

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        BernoulliMixture
        """
        from .persist import load_model

        return load_model(path)

    def _fitted_parameters(self):
        """``(means_, weights_)`` validated against ``n_features_in_`` and ``n_components_`` (after drops)."""
        check_is_fitted(self, ("means_", "weights_"))
        return check_fitted_parameters(self.means_, self.weights_, getattr(self, "n_features_in_", None),
                                       getattr(self, "n_components_", self.n_components))

    # ----------------------------------------------------------------------------------------
    # prediction
    # ----------------------------------------------------------------------------------------

    def _estimate(self, X):
        """``(resp, log_prob_norm)`` for new in-memory data or a memmap (read by row blocks)."""
        mu, pi = self._fitted_parameters()
        backend = resolve_backend(self.kernel)
        if is_memmap(X):
            X, _ = self._check_row_source(X, reset=False)
            source = MemmapSource(X, None, backend, self.binarize)
            source.check_file()
            return source.estimate(mu, pi)
        data = encode(self._check_X(X, reset=False), self.binarize)
        return backend.e_step(data, mu, pi)

    def _lazy_estimate(self, X, what):
        """Lazy Dask array of ``"proba"``, ``"labels"`` or ``"log_prob"`` for a Dask X."""
        from .dask import lazy_estimate

        mu, pi = self._fitted_parameters()
        X, _ = self._check_row_source(X, reset=False)
        return lazy_estimate(X, mu, pi, self.kernel, self.binarize, what)

    def _predict(self, X, what):
        """``"proba"``, ``"labels"`` or ``"log_prob"`` of X: lazy for a Dask X, else computed."""
        if is_dask_array(X):
            return self._lazy_estimate(X, what)
        resp, log_prob_norm = self._estimate(X)
        if what == "labels":
            return resp.argmax(axis=1)
        return resp if what == "proba" else log_prob_norm

    def predict_proba(self, X):
        """Posterior probability of each component, ``resp[n, k] = p(k | x_n)``.

        Parameters
        ----------
        X : array-like, sparse matrix, numpy.memmap or dask.array.Array of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to 1.  A lazy Dask array when X is one, computed chunk by chunk.
        """
        return self._predict(X, "proba")

    def predict(self, X):
        """Most probable component of each sample, ``predict_proba(X).argmax(axis=1)``.

        Parameters
        ----------
        X : array-like, sparse matrix, numpy.memmap or dask.array.Array
            Of shape (n_samples, n_features).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            (lazy for a Dask X)
        """
        return self._predict(X, "labels")

    def score_samples(self, X):
        """Log-likelihood ``log p(x_n)`` of each sample (observed cells only).

        Parameters
        ----------
        X : {array-like, sparse matrix, numpy.memmap, dask.array.Array} of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log sum_k pi_k p(x_n | mu_k)``; lazy when X is a Dask array.
        """
        return self._predict(X, "log_prob")

    def score(self, X, y=None):
        """Mean log-likelihood per sample, ``score_samples(X).mean()``.

        Parameters
        ----------
        X : array-like, sparse matrix, numpy.memmap or dask.array.Array of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
            Computed (on the scheduler in use) when X is a Dask array.
        """
        if is_dask_array(X):
            return float(self._lazy_estimate(X, "log_prob").mean().compute())
        return float(self.score_samples(X).mean())

    def _n_parameters(self):
        return n_parameters(*self.means_.shape)

    def _log_likelihood(self, X, sample_weight):
        """``(log L, n)``: ``sum_n w_n log p(x_n)`` and ``sum_n w_n`` (the number of rows without weights)."""
        if sample_weight is None:
            n = n_rows(X)  # lists and data frames too
            return self.score(X) * n, n
        log_prob = self.score_samples(X)
        w = check_sample_weight(sample_weight, log_prob.shape[0], 1)
        return float(w @ log_prob), float(w.sum())

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion ``-2 log L + p log n``.

        Evaluated at the fitted parameters (the MAP estimate when ``alpha > 0``) with the plain
        log-likelihood ``log L = sum_n w_n log p(x_n)`` (as :meth:`score`), ``n = sum_n w_n``
        and ``p = K D + K - 1`` free parameters, ``K = n_components_`` (after dropped components).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights (those of the fit, for the fitted model's BIC); default all 1.

        Returns
        -------
        bic : float
            Lower is better.
        """
        log_l, n = self._log_likelihood(X, sample_weight)
        return -2.0 * log_l + self._n_parameters() * np.log(n)

    def aic(self, X, sample_weight=None):
        """Akaike information criterion ``-2 log L + 2 p`` (``log L`` and ``p`` as in :meth:`bic`).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The data whose log-likelihood is penalised.
        sample_weight : array-like of shape (n_samples,), default=None
            As in :meth:`bic`.

        Returns
        -------
        aic : float
            Lower is better; it penalises parameters less than BIC from ``n = 8`` samples on.
        """
        log_l, _ = self._log_likelihood(X, sample_weight)
        return -2.0 * log_l + 2.0 * self._n_parameters()

    # ----------------------------------------------------------------------------------------
    # model criticism: thin doors into bmm_numba.selection (imported when called: a layer above)
    # ----------------------------------------------------------------------------------------

    def standard_errors(self, X, method="information", *, sample_weight=None, n_bootstrap=200, n_workers=None):
        """Return standard errors of :attr:`means_` and :attr:`weights_` (:mod:`bmm_numba.selection.standard_errors`).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The training data.
        method : {"information", "bootstrap"}, default="information"
            The observed information (the exact negative Hessian of the log-likelihood) or the
            nonparametric bootstrap (``sample_weight`` resampling, classes aligned to the fit).
        sample_weight : array-like of shape (n_samples,), default=None
        n_bootstrap : int, default=200
        n_workers : int or None, default=None
            Bootstrap refits side by side (None: chosen; the result does not depend on it).

        Returns
        -------
        StandardErrors
            ``.means`` (n_components, n_features), ``.weights`` (n_components,), and the
            boundary flags ``.boundary_means``, ``.boundary_weights``.
        """
        from ..selection.standard_errors import standard_errors

        return standard_errors(self, X, method, sample_weight=sample_weight, n_bootstrap=n_bootstrap,
                               n_workers=n_workers)

    def diagnostics(self, X, sample_weight=None):
        """Return classification diagnostics and bivariate residuals (:mod:`bmm_numba.selection.diagnostics`).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        dict
            ``"avepp"``, ``"classification_error"``, ``"entropy"``, ``"relative_entropy"``,
            ``"class_sizes"`` and ``"bivariate_residuals"`` (n_features, n_features).
        """
        from ..selection.diagnostics import diagnostics

        return diagnostics(self, X, sample_weight=sample_weight)

    def summary(self, X, sample_weight=None, *, method="information", feature_names=None):
        """Return a text report of the fitted model on X (:mod:`bmm_numba.selection.summary`).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None
        method : {"information", "bootstrap"}, default="information"
            Of the standard errors printed.
        feature_names : sequence of str, default=None
            Item names (default: ``feature_names_in_`` or ``x0, x1, ...``).

        Returns
        -------
        str
            Fit statistics, class sizes, item-response probabilities with standard errors and
            the diagnostics, like poLCA's or Mplus's printout.
        """
        from ..selection.summary import summary

        return summary(self, X, sample_weight=sample_weight, method=method, feature_names=feature_names)

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), uint8
            0/1 samples, grouped by component.
        labels : ndarray of shape (n_samples,)
            Component of each sample.
        """
        means, weights = self._fitted_parameters()
        if not is_int(n_samples, 1):
            raise ValueError(f"n_samples must be an integer >= 1; got {n_samples!r}")
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        X = np.vstack([(rng.uniform(size=(c, means.shape[1])) < mu).astype(np.uint8)
                       for mu, c in zip(means, counts, strict=True)])
        return X, np.repeat(np.arange(means.shape[0]), counts)
