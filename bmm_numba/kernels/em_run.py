"""EM iterations until a reason to stop: accelerated, stopped near the fixed point, compiled for small data.

One loop body, :func:`em_iterations`, runs EM from ``(mu, pi)`` until it converges, reaches its
pass budget, meets a collapsed component, or a progress report is due, and returns with that
reason (:data:`REASONS`).  The collapse policy and everything a fit records stay with the caller
(:func:`bmm_numba.em.loop.run_em`).  The body is run two ways:

* compiled (:func:`compiled_run`), with the serial row-list pass of
  :mod:`bmm_numba.kernels.row_lists`: the whole run is one ``nogil`` call, for data whose passes
  the thread rule keeps in one thread (a 435 x 16 survey: a few microseconds a pass, where the
  Python loop around a pass cost tens);
* as plain Python, with any other pass (the threaded table kernel on MNIST): the passes dominate
  there, and the same acceleration and stopping rule apply.

Both take an *EM map* ``em_map(data, mu, pi, new_mu, new_pi) -> (objective, collapsed)``: one
pass under ``(mu, pi)`` giving the objective there and the M-step's parameters ``F(mu, pi)``.

Acceleration (``scheme``), compared in ``docs/design.md`` (acceleration):

* :data:`SQUAREM`: Varadhan & Roland (2008), steplength S3, in the unconstrained coordinates
  ``logit(mu)`` and ``log(pi)`` (so every extrapolated point has means inside (0, 1) and weights
  on the simplex).  From an accepted point ``t0``: ``t1 = F(t0)``, ``t2 = F(t1)``,
  ``r = t1 - t0``, ``v = t2 - t1 - r``, ``a = -|r| / |v|`` clipped to ``[-step_max, -1]``,
  ``t' = t0 - 2 a r + a^2 v``; ``t'`` is accepted when its objective is at least ``t1``'s
  (monotone safeguard), else the run goes on from ``t1`` (plain EM: one pass lost).
* :data:`OVERRELAX`: adaptive over-relaxation (Salakhutdinov & Roweis 2003): ``t' = t + eta (F(t) - t)``,
  ``eta`` growing by :data:`ETA_GROWTH` after every accepted step and back to 1 after a rejected one.
* :data:`PLAIN`: EM.

Every accepted point's objective is at least the previous one's: the recorded objectives never
decrease (EM's own steps up to rounding).

Stopping (:func:`converged`, :func:`confirmed`): the change of the objective scaled by its
observed rate of convergence estimates the distance still to go, so slow problems run on and fast
ones stop.  A run ends only after :data:`CONFIRM_RATIOS` + 1 plain EM steps in a row whose changes
keep shrinking (an accelerated run takes them once its own sequence looks converged): a run that
passes near a saddle, where the changes drop and then grow, goes on.
"""

from __future__ import annotations

import types

import numba
import numpy as np

from .jit import JIT_OPTIONS, build_serial
from .m_step import MEANS_EPS, params_into
from .row_lists import RowLists, lists_pass, log_terms, padded_pairs

__all__ = ["PLAIN", "SQUAREM", "OVERRELAX", "SCHEMES", "CONVERGED", "MAX_PASSES", "COLLAPSED", "REPORT", "STOPPED",
           "REASONS", "ROUNDING", "FLAT", "converged", "confirmed", "refuted", "em_iterations", "compiled_run",
           "interpreted_run", "lists_em_map", "log_prior_sum"]

#: Acceleration schemes (the estimator's ``accelerate``).
PLAIN, SQUAREM, OVERRELAX = 0, 1, 2
SCHEMES = {"none": PLAIN, "squarem": SQUAREM, "overrelax": OVERRELAX}

#: Why a run returned (``STOPPED``: its stop flag was set from another thread).
CONVERGED, MAX_PASSES, COLLAPSED, REPORT, STOPPED = 0, 1, 2, 3, 4
REASONS = ("converged", "max_iter", "collapsed", "report", "stopped")

#: A change of the objective below ``-ROUNDING * max(1, |objective|)`` is a decrease, not rounding.
ROUNDING = 1e-10
#: A change below ``FLAT * max(1, |objective|)`` is rounding noise (a sum of N log-probabilities is
#: good to about ``sqrt(N) * 2.2e-16`` relative: 5e-14 for N = 60000): converged whatever the rate.
#: ``tol=0`` stops there, at the fixed point: where the objective no longer increases beyond rounding.
FLAT = 1e-13
#: Accepted points between the two changes whose ratio estimates the rate (one SQUAREM cycle: a
#: plain step and an accepted extrapolation).
RATE_SPAN = 2
#: Ratios of consecutive plain EM changes that :func:`confirmed` reads (``CONFIRM_RATIOS + 1``
#: plain steps in a row).  Near a saddle the changes first drop fast (the stable directions
#: contract) and then grow (the unstable one takes over): text K=10 (seed 2) stopped 0.22 nats
#: per sample short of its fixed point, one-hot K=5 (seed 0) 0.12 and MNIST test K=10 (seed 4)
#: 0.03, each after a change below the tolerance whose next plain changes were 1.7e-7, 1.9e-7
#: (one-hot) or 1.8e-5, 1.4e-5, 1.6e-5 (MNIST test): two ratios passed there, three did not.
CONFIRM_RATIOS = 3
#: SQUAREM's first largest step, and its growth after a step at the limit (Varadhan & Roland).
STEP_MAX, STEP_GROWTH = 4.0, 4.0
#: Over-relaxation's growth of ``eta`` after an accepted step, and its largest value.
ETA_GROWTH, ETA_MAX = 1.5, 64.0
#: The means' unconstrained coordinate stays within the clip's: ``logit(1 - MEANS_EPS)``.
LOGIT_MAX = float(np.log1p(-MEANS_EPS) - np.log(MEANS_EPS))


@build_serial  # also called from Python (interpreted runs): cached
def _last_change(bounds, n, tol):
    """``(verdict, c, limit)`` from the last change ``c`` of ``bounds[:n]`` alone.

    ``verdict``: 1 converged (a change within :data:`FLAT`), -1 not (fewer than two points, a
    decrease beyond :data:`ROUNDING`, or ``c`` not below ``limit = max(tol, FLAT) * max(1,
    |objective|)``), 0 for the rate to decide.
    """
    if n < 2:
        return -1, 0.0, 0.0
    last = bounds[n - 1]
    scale = max(1.0, abs(last))
    c = last - bounds[n - 2]
    if c < -ROUNDING * scale:
        return -1, c, 0.0
    if c <= FLAT * scale:
        return 1, c, 0.0
    limit = max(tol, FLAT) * scale
    return (-1 if c >= limit else 0), c, limit


@build_serial  # also called from Python (interpreted runs): cached
def converged(bounds, n, tol):
    """Return whether the objectives ``bounds[:n]`` have converged at relative tolerance ``tol``.

    With ``c`` the last change, ``c_old`` the change :data:`RATE_SPAN` points earlier and
    ``rho = (c / c_old) ** (1 / RATE_SPAN)`` the observed rate, the distance still to go is about
    ``c rho / (1 - rho)``; the run has converged when both ``c`` and that distance are below
    ``tol * max(1, |objective|)``.  A decrease beyond :data:`ROUNDING` never converges, a change
    within :data:`FLAT` always does, and changes that do not shrink never do (EM crossing a
    plateau).  ``tol=0`` is ``tol=FLAT``: the run ends at the fixed point.
    """
    verdict, c, limit = _last_change(bounds, n, tol)
    if verdict != 0 or n < RATE_SPAN + 2:
        return verdict > 0
    c_old = bounds[n - 1 - RATE_SPAN] - bounds[n - 2 - RATE_SPAN]
    if c_old <= c:
        return False
    rho = (c / c_old) ** (1.0 / RATE_SPAN)
    return c * rho / (1.0 - rho) < limit


@build_serial  # also called from Python (interpreted runs): cached
def confirmed(bounds, n, tol):
    """Return whether the objectives ``bounds[:n]``, ending in plain EM steps, have converged.

    The last ``CONFIRM_RATIOS + 1`` changes must come from plain EM steps in a row.  As
    :func:`converged`, with the rate ``rho`` the *largest* ratio of consecutive changes among the
    last :data:`CONFIRM_RATIOS`, and every one of them below 1: EM's changes approach their
    asymptotic ratio from below when a fast direction fades, so a ratio that grows (EM leaving a
    saddle, or a slower direction taking over) is never read as convergence.
    """
    verdict, c, limit = _last_change(bounds, n, tol)
    if verdict != 0 or n < CONFIRM_RATIOS + 2:
        return verdict > 0
    rho = 0.0
    for j in range(CONFIRM_RATIOS):
        newer = bounds[n - 1 - j] - bounds[n - 2 - j]
        older = bounds[n - 2 - j] - bounds[n - 3 - j]
        if not older > newer:
            return False
        rho = max(rho, newer / older)
    return c * rho / (1.0 - rho) < limit


@build_serial  # also called from Python (interpreted runs): cached
def refuted(bounds, n, tol):
    """Whether the last two changes (plain EM steps) already count against :func:`confirmed`.

    True when the last change is not below the tolerance, is not smaller than the one before,
    or when their ratio alone puts the distance still to go at the tolerance or beyond: an
    accelerated run then stops confirming and extrapolates again (votes-size data: 21 passes
    against 27 with three plain steps before every such verdict).
    """
    if n < 3:
        return False
    verdict, c, limit = _last_change(bounds, n, tol)
    if verdict != 0:
        return verdict < 0 and c > 0  # a change at the tolerance or beyond; not a flat one or a decrease
    c_old = bounds[n - 2] - bounds[n - 3]
    if not c_old > c:
        return True
    rho = c / c_old
    return c * rho / (1.0 - rho) >= limit


@build_serial  # also called from Python (interpreted runs): cached
def log_prior_sum(mu, alpha, m):
    """``sum_kd 2 alpha m_d log mu_kd + 2 alpha (1 - m_d) log(1 - mu_kd)``: the Beta prior's variable part."""
    if alpha == 0.0:
        return 0.0
    K, D = mu.shape
    total = 0.0
    for k in range(K):
        for d in range(D):
            total += 2.0 * alpha * m[d] * np.log(mu[k, d]) + 2.0 * alpha * (1.0 - m[d]) * np.log1p(-mu[k, d])
    return total


@build_serial  # also called from Python (interpreted runs): cached
def _to_free(mu, pi, out):
    """Write ``(logit(mu), log(pi))`` into ``out`` (length ``K D + K``)."""
    K, D = mu.shape
    for k in range(K):
        for d in range(D):
            out[k * D + d] = np.log(mu[k, d]) - np.log1p(-mu[k, d])
        out[K * D + k] = np.log(pi[k])


@build_serial  # also called from Python (interpreted runs): cached
def _from_free(theta, mu, pi):
    """Write the means (clipped to the M-step's range) and the softmax weights of ``theta``; False if not finite."""
    K, D = mu.shape
    for i in range(theta.shape[0]):
        if not np.isfinite(theta[i]):
            return False
    for k in range(K):
        for d in range(D):
            t = min(max(theta[k * D + d], -LOGIT_MAX), LOGIT_MAX)
            mu[k, d] = min(max(1.0 / (1.0 + np.exp(-t)), MEANS_EPS), 1.0 - MEANS_EPS)
    top = theta[K * D]
    for k in range(1, K):
        top = max(top, theta[K * D + k])
    total = 0.0
    for k in range(K):
        pi[k] = np.exp(theta[K * D + k] - top)
        total += pi[k]
    for k in range(K):
        pi[k] /= total
    return True


@build_serial  # also called from Python (interpreted runs): cached
def _squarem_point(t0, t1, t2, step_max, out):
    """Write SQUAREM's extrapolated point into ``out``; return the step length ``a`` (in ``[-step_max, -1]``)."""
    rr = 0.0
    vv = 0.0
    for i in range(t0.shape[0]):
        r = t1[i] - t0[i]
        v = t2[i] - 2.0 * t1[i] + t0[i]
        rr += r * r
        vv += v * v
    a = -1.0 if vv == 0.0 else -np.sqrt(rr / vv)
    a = min(-1.0, max(-step_max, a))
    for i in range(t0.shape[0]):
        r = t1[i] - t0[i]
        v = t2[i] - 2.0 * t1[i] + t0[i]
        out[i] = t0[i] - 2.0 * a * r + a * a * v
    return a


@numba.njit(**JIT_OPTIONS)
def lists_em_map(data, mu, pi, new_mu, new_pi):
    """EM map over row lists: ``data = (lists, w, m, alpha, prior_const, total_weight, min_nk, scratch)``."""
    lists, w, m, alpha, prior_const, total_weight, min_nk, scratch = data
    weights, log_1m_dk, bias, nk, S, M_dk, observed, row = scratch
    K, D = mu.shape
    prior_sum = log_terms(mu, pi, weights, log_1m_dk, bias, alpha, m)
    log_lik = lists_pass(lists, w, weights, log_1m_dk, bias, nk, S, M_dk, row)
    objective = (log_lik + prior_sum + prior_const) / total_weight
    collapsed = False
    for k in range(K):
        if nk[k] < min_nk:
            collapsed = True
    if observed.shape[0] > 0:
        for k in range(K):
            for d in range(D):
                observed[k, d] = max(nk[k] - M_dk[d, k], 0.0)
    params_into(nk, S.reshape((D, bias.shape[0]))[:, :K].T, observed, alpha, m, total_weight, new_mu, new_pi)
    return objective, collapsed


#: The EM map of :func:`em_iterations` (replaced in :func:`interpreted_run`).
em_map = lists_em_map


def em_iterations(data, mu, pi, max_passes, tol, scheme, report_every, bounds, stop):
    """Run EM from ``(mu, pi)`` until a reason to stop (the loop body, compiled or not).

    The EM map it calls is the module's global ``em_map``: :func:`lists_em_map` in the compiled
    build, another one in :func:`interpreted_run` (a copy of this function with that global
    replaced: a map passed as an argument would make the compiled build uncacheable).

    Parameters
    ----------
    data : object
        Whatever the EM map takes.
    mu : ndarray of shape (n_components, n_features)
    pi : ndarray of shape (n_components,)
        The start (not modified).
    max_passes : int
        Passes allowed (>= 1): accepted iterations plus rejected extrapolations.
    tol : float
        As in :func:`converged`.
    scheme : int
        :data:`PLAIN`, :data:`SQUAREM` or :data:`OVERRELAX`.
    report_every : int
        Return after this many accepted iterations (0: never).
    bounds : ndarray of shape (>= max_passes,)
        Written: the objective at each accepted point, in order.
    stop : ndarray of shape (1,), uint8
        Read before every pass: non-zero returns :data:`STOPPED` (another thread asks the run to
        end: :func:`bmm_numba.em.concurrent.stop_flag`).

    Returns
    -------
    mu, pi : ndarray
        ``F`` of the last accepted point (the next point to evaluate), or with :data:`COLLAPSED`
        the point whose pass found the collapse (not in ``bounds``).
    n_iter : int
        Accepted iterations (entries of ``bounds`` written).
    n_passes : int
    reason : int
        One of :data:`CONVERGED`, :data:`MAX_PASSES`, :data:`COLLAPSED`, :data:`REPORT`, :data:`STOPPED`.
    """
    K, D = mu.shape
    P = K * D + K
    # the accepted point (x_mu, x_pi), its image F (f_mu, f_pi); the image of a trial point
    x_mu, x_pi = mu.copy(), pi.copy()
    f_mu, f_pi = np.empty_like(mu), np.empty_like(pi)
    g_mu, g_pi = np.empty_like(mu), np.empty_like(pi)
    y_mu, y_pi = np.empty_like(mu), np.empty_like(pi)
    t0, t1, t2, t_new = np.empty(P), np.empty(P), np.empty(P), np.empty(P)
    objective, collapsed = em_map(data, x_mu, x_pi, f_mu, f_pi)
    n_passes = 1
    if collapsed:
        return x_mu, x_pi, 0, n_passes, COLLAPSED
    bounds[0] = objective
    n_iter = 1
    step_max, eta = STEP_MAX, 1.0
    plain = False  # whether the last accepted point came from a plain EM step (SQUAREM's t0 is set)
    n_plain = 0  # plain EM steps in a row ending at the accepted point
    confirming = False  # plain steps only, to confirm an accelerated run's convergence
    while True:
        # only plain EM steps in a row end a run: an extrapolated point accepted by a hair would
        # look converged (its change is any number >= 0); an accelerated run whose own sequence
        # looks converged (`converged`) takes plain steps until `confirmed` holds or fails
        # (over-relaxation stopped 0.24 nats short on MNIST train K = 10 without a plain step)
        if n_plain > CONFIRM_RATIOS:
            if confirmed(bounds, n_iter, tol):
                return f_mu, f_pi, n_iter, n_passes, CONVERGED
            confirming = False
        elif confirming and n_plain >= 2 and refuted(bounds, n_iter, tol):
            confirming = False
        if scheme != PLAIN and not confirming and converged(bounds, n_iter, tol):
            confirming = True
        if n_passes >= max_passes:
            return f_mu, f_pi, n_iter, n_passes, MAX_PASSES
        if report_every > 0 and n_iter % report_every == 0:
            return f_mu, f_pi, n_iter, n_passes, REPORT
        if stop[0]:
            return f_mu, f_pi, n_iter, n_passes, STOPPED
        if scheme == PLAIN or confirming or (scheme == OVERRELAX and eta == 1.0) or (scheme == SQUAREM and not plain):
            # a plain EM step: the accepted point's image becomes the accepted point
            objective, collapsed = em_map(data, f_mu, f_pi, g_mu, g_pi)
            n_passes += 1
            if collapsed:
                return f_mu, f_pi, n_iter, n_passes, COLLAPSED
            bounds[n_iter] = objective
            n_iter += 1
            _to_free(x_mu, x_pi, t0)
            x_mu[:] = f_mu
            x_pi[:] = f_pi
            f_mu[:] = g_mu
            f_pi[:] = g_pi
            plain = True
            n_plain += 1
            if scheme == OVERRELAX:
                eta = ETA_GROWTH
            continue
        _to_free(x_mu, x_pi, t1)
        _to_free(f_mu, f_pi, t2)
        if scheme == SQUAREM:
            # t0 -> t1 = x (accepted by the plain step) -> t2 = F(x)
            a = _squarem_point(t0, t1, t2, step_max, t_new)
        else:
            # over-relaxation: x + eta (F(x) - x)
            for i in range(P):
                t_new[i] = t1[i] + eta * (t2[i] - t1[i])
            a = -eta
        plain = False
        if not _from_free(t_new, y_mu, y_pi):
            step_max, eta = max(1.0, step_max / STEP_GROWTH), 1.0
            continue
        objective, collapsed = em_map(data, y_mu, y_pi, g_mu, g_pi)
        n_passes += 1
        if collapsed or not objective >= bounds[n_iter - 1]:
            # monotone safeguard: go on from the accepted point with a plain EM step
            step_max, eta = max(1.0, step_max / STEP_GROWTH), 1.0
            continue
        bounds[n_iter] = objective
        n_iter += 1
        n_plain = 0
        x_mu[:] = y_mu
        x_pi[:] = y_pi
        f_mu[:] = g_mu
        f_pi[:] = g_pi
        if scheme == SQUAREM and a == -step_max:
            step_max *= STEP_GROWTH
        elif scheme == OVERRELAX:
            eta = min(ETA_MAX, eta * ETA_GROWTH)


_em_iterations = numba.njit(**JIT_OPTIONS)(em_iterations)


def _lists_run(ones_ptr, ones, missing_ptr, missing, w, m, alpha, prior_const, total_weight, min_nk, weights,
               log_1m_dk, bias, nk, S, M_dk, observed, row, mu, pi, max_passes, tol, scheme, report_every, bounds,
               stop):
    """Run the compiled loop from flat arguments, packed into the EM map's data inside.

    A nested tuple as the argument cost ~60 us a call in Numba's type dispatch (435 x 16 data:
    about one pass of a compiled run per call); arrays and scalars are typed in C.
    """
    data = (RowLists(ones_ptr, ones, missing_ptr, missing), w, m, alpha, prior_const, total_weight, min_nk,
            (weights, log_1m_dk, bias, nk, S, M_dk, observed, row))
    return _em_iterations(data, mu, pi, max_passes, tol, scheme, report_every, bounds, stop)


_lists_run = build_serial(_lists_run)


def interpreted_run(em_map_function, data, mu, pi, *, max_passes, tol, scheme, report_every, bounds, stop=None):
    """Run :func:`em_iterations` as plain Python with another EM map (passes that use threads).

    Parameters
    ----------
    em_map_function : callable
        ``em_map_function(data, mu, pi, new_mu, new_pi) -> (objective, collapsed)``.
    data, mu, pi, max_passes, tol, scheme, report_every, bounds, stop
        As in :func:`em_iterations` (``stop`` default: never).
    """
    stop = np.zeros(1, dtype=np.uint8) if stop is None else stop
    body = types.FunctionType(em_iterations.__code__, {**em_iterations.__globals__, "em_map": em_map_function},
                              em_iterations.__name__)
    return body(data, mu, pi, int(max_passes), float(tol), int(scheme), int(report_every), bounds, stop)


def compiled_run(lists, w, m, alpha, prior_const, total_weight, min_nk, mu, pi, *, max_passes, tol, scheme,
                 report_every, bounds, stop=None):
    """Run :func:`em_iterations` compiled over row lists (one ``nogil`` call).

    Parameters
    ----------
    lists : RowLists
    w : ndarray of shape (n_samples,)
    m : ndarray of shape (n_features,)
        The prior's mode.
    alpha : float
    prior_const : float
        ``-K sum_d betaln(2 alpha m_d + 1, 2 alpha (1 - m_d) + 1)`` (0 at ``alpha=0``).
    total_weight, min_nk : float
        ``sum(w)``, and the mass below which a component has collapsed.
    mu, pi, max_passes, tol, scheme, report_every, bounds, stop
        As in :func:`em_iterations` (``stop`` default: never).

    Returns
    -------
    As :func:`em_iterations`.
    """
    stop = np.zeros(1, dtype=np.uint8) if stop is None else stop
    K, D = mu.shape
    KP = padded_pairs(K)
    has_missing = lists.missing.shape[0] > 0
    D_missing = D if has_missing else 0  # the missing cells' arrays are empty without any
    scratch = (np.empty(D * KP), np.empty((D_missing, KP)), np.empty(KP), np.empty(KP), np.empty(D * KP),
               np.empty((D_missing, KP)), np.empty((K, D) if has_missing else (0, 0)), np.empty(KP))
    try:
        return _lists_run(*lists, w, m, float(alpha), float(prior_const), float(total_weight), float(min_nk),
                          *scratch, mu, pi, int(max_passes), float(tol), int(scheme), int(report_every), bounds,
                          stop)
    except SystemError as error:
        # a signal handler that raised (Ctrl-C, the command line's SIGTERM) while the dispatcher
        # unboxed the arguments leaves its exception set: Python reports "returned a result with an
        # exception set"; the handler's exception is what the caller must see
        cause = error
        while isinstance(cause, SystemError) and (cause.__cause__ or cause.__context__) is not None:
            cause = cause.__cause__ or cause.__context__
        if cause is not error:
            raise cause from None
        raise
