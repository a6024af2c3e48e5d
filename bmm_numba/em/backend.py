"""The kernels of one fit, resolved once from the estimator's ``kernel`` name.

:func:`resolve_backend` turns a name into a :class:`Backend`: for each data kind
(``"dense"``, ``"missing"``, ``"sparse"``, see :class:`~bmm_numba.em.data.MixtureData`) the
E-step, the sufficient statistics and one EM iteration's fused pass.  Nothing downstream
tests the name again.

``parallel`` has one meaning in :mod:`bmm_numba.em` and :mod:`bmm_numba.estimator`: True lets
the compiled kernels use threads, and each starts them only where its work reaches the one
threshold of :func:`bmm_numba.kernels.threads.choose_parallel` (a 435 x 16 fit stays in the
calling thread); False runs the serial ``nogil`` builds (inside Dask tasks, which bring their
own parallelism).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from ..kernels import missing as _missing
from ..kernels import sparse as _sparse
from ..kernels.e_step_numba import COMPILED_KERNELS, run_compiled
from ..kernels.m_step import STATS_IMPLEMENTATIONS
from ..kernels.registry import AUTO_KERNEL, PRODUCTION_KERNELS, resolve_kernel
from ..kernels.table.e_step import LUT_MIN_ROWS, table_e_step
from ..kernels.table.em_pass import lut_em_pass, lut_stats

__all__ = ["Backend", "KERNEL_CHOICES", "check_shapes", "kernel_name", "resolve_backend"]

#: Values of the estimator's ``kernel``.
KERNEL_CHOICES = ("auto",) + PRODUCTION_KERNELS


def kernel_name(kernel):
    """Registry name behind ``kernel`` (``"auto"`` resolved); ``ValueError`` for anything else."""
    if not isinstance(kernel, str) or kernel not in KERNEL_CHOICES:
        raise ValueError(f"kernel must be one of {list(KERNEL_CHOICES)}; got {kernel!r}")
    return AUTO_KERNEL if kernel == "auto" else kernel


@dataclass(frozen=True)
class Backend:
    """The functions one fit runs, per data kind.

    Attributes
    ----------
    name : str
        Registry name of the E-step (``"auto"`` resolved).
    parallel : bool
        See the module docstring.
    e_steps : dict of kind -> callable
        ``f(data, mu, pi) -> (resp, log_prob_norm)``.
    stats_functions : dict of kind -> callable
        ``f(data, rw) -> (nk, S, observed)``, ``rw`` the responsibilities times the sample
        weights; ``observed`` is None unless cells are missing.
    fused : dict of kind -> callable
        ``f(data, w, mu, pi) -> (nk, S, observed, log_prob_norm)``: one EM iteration's E-step
        and statistics, in one pass where the kernel has one
        (:func:`~bmm_numba.kernels.table.em_pass.lut_em_pass` for dense data,
        :func:`~bmm_numba.kernels.sparse.numba_em_pass` for sparse data), else the E-step then
        the statistics.
    """

    name: str
    parallel: bool
    e_steps: dict
    stats_functions: dict
    fused: dict

    @property
    def compiled(self):
        """Whether the kernels are compiled (``numba*``): small in-memory fits then run EM compiled."""
        return self.name == "numba" or self.name in COMPILED_KERNELS

    def e_step(self, data, mu, pi):
        """Return ``(resp, log_prob_norm)`` of ``data`` (a :class:`MixtureData`)."""
        check_shapes(data, mu, pi)
        return self.e_steps[data.kind](data, mu, pi)

    def stats(self, data, rw):
        """Return the sufficient statistics ``(nk, S, observed)``."""
        if rw.ndim != 2 or rw.shape[0] != data.n_samples:
            raise ValueError(f"responsibilities of shape {rw.shape} for {data.n_samples} samples")
        return self.stats_functions[data.kind](data, rw)

    def em_statistics(self, data, w, mu, pi):
        """One EM iteration's ``(nk, S, observed, log_prob_norm)`` under ``(mu, pi)``."""
        check_shapes(data, mu, pi)
        if w.shape != (data.n_samples,):
            raise ValueError(f"sample weights of shape {w.shape} for {data.n_samples} samples")
        return self.fused[data.kind](data, w, mu, pi)


def check_shapes(data, mu, pi):
    """``ValueError`` unless ``mu`` is (K, n_features) float64 and ``pi`` is (K,) float64.

    Every path from the estimator to a compiled kernel passes here: the kernels index ``mu``
    by the columns of ``data`` without bounds checks, so a narrower ``mu`` would be read past
    its end.  Shapes and dtypes only (a few attribute reads); values are checked where
    parameters come from outside (:func:`~bmm_numba.estimator.checks.check_fitted_parameters`).
    """
    shape_mu, shape_pi = getattr(mu, "shape", None), getattr(pi, "shape", None)
    if (shape_mu is None or shape_pi is None or len(shape_mu) != 2 or shape_pi != shape_mu[:1]
            or shape_mu[1] != data.n_features or mu.dtype != np.float64 or pi.dtype != np.float64):
        raise ValueError(f"parameters of shape mu {shape_mu}, pi {shape_pi} do not fit data with "
                         f"{data.n_features} features (expected float64 (K, {data.n_features}) and (K,))")


def _composed(e_step, stats):
    """Compose the E-step and the statistics of its responsibilities into one iteration's pass."""

    def em_statistics(data, w, mu, pi):
        resp, log_prob_norm = e_step(data, mu, pi)
        return (*stats(data, resp * w[:, None]), log_prob_norm)

    return em_statistics


def _dense_e_step(name, parallel):
    """Dense E-step of registry kernel ``name``."""
    if name == "numba":  # table_e_step runs the per-pixel kernel below LUT_MIN_ROWS rows

        def e_step(data, mu, pi):
            index = data.row_index(len(pi), parallel) if data.n_samples >= LUT_MIN_ROWS else None
            return table_e_step(data.X, mu, pi, parallel=parallel, return_log_norm=True, index=index)

        return e_step
    if name in COMPILED_KERNELS:
        return lambda data, mu, pi: run_compiled(name, data.X, mu, pi, parallel=parallel, return_log_norm=True)
    impl = resolve_kernel(name, allowed=PRODUCTION_KERNELS)
    return lambda data, mu, pi: impl(data.X, mu, pi, return_log_norm=True)


def _compiled_stats(parallel):
    """Statistics of the compiled kernels; dense data by the table kernel from LUT_MIN_ROWS rows."""

    def dense(data, rw):
        if data.n_samples < LUT_MIN_ROWS:
            return (*STATS_IMPLEMENTATIONS["numba"](data.X, rw, parallel=parallel), None)
        index = data.row_index(rw.shape[1], parallel)
        return (*lut_stats(data.X, rw, index=index, parallel=parallel), None)

    return {
        "dense": dense,
        "missing": lambda data, rw: _missing.numba_stats(data.X, rw, parallel=parallel),
        "sparse": lambda data, rw: (*_sparse.numba_stats(*data.csc, rw, parallel=parallel), None),
    }


def _table_em_pass(parallel, small):
    """Dense fused pass of the table kernel (``small``, the composed pass, below LUT_MIN_ROWS rows)."""

    def em_statistics(data, w, mu, pi):
        if data.n_samples < LUT_MIN_ROWS:
            return small(data, w, mu, pi)
        # 26 ms instead of 17 + 53 ms for E-step then statistics (MNIST train, K = 10, one thread)
        index = data.row_index(len(pi), parallel)
        nk, S, log_prob_norm = lut_em_pass(data.X, mu, pi, w, parallel=parallel, index=index)
        return nk, S, None, log_prob_norm

    return em_statistics


def _sparse_em_pass(parallel, two_passes):
    """Sparse fused pass: E-step and statistics over the CSR rows at once (no CSC pass).

    ``two_passes`` (E-step, then CSC statistics) where the fused pass's partial sums would
    not fit in two blocks (:func:`~bmm_numba.kernels.sparse.fused_pass_fits`).  1760 x 2000,
    8 % ones, K = 10, one thread: ~1.2 ms CPU against ~1.8 ms for the two passes.
    """

    def em_statistics(data, w, mu, pi):
        indptr, indices = data.csr
        if not _sparse.fused_pass_fits(indptr, data.n_features, len(pi)):
            return two_passes(data, w, mu, pi)
        nk, S, log_prob_norm = _sparse.numba_em_pass(indptr, indices, mu, pi, w, parallel=parallel)
        return nk, S, None, log_prob_norm

    return em_statistics


def resolve_backend(kernel, *, parallel=True):
    """Resolve the estimator's ``kernel`` into the :class:`Backend` of a fit.

    Parameters
    ----------
    kernel : str
        ``"auto"`` or a name in :data:`bmm_numba.PRODUCTION_KERNELS`.  The compiled kernels
        (``numba*``) take the compiled statistics and missing-value and sparse kernels, the
        NumPy ones their NumPy/SciPy twins.
    parallel : bool, default=True
        See the module docstring.

    Returns
    -------
    Backend
    """
    return _build(kernel_name(kernel), bool(parallel))


@cache  # a handful of names: each built once per process
def _build(name, parallel):
    """Build the :class:`Backend` of registry kernel ``name``."""
    e_steps = {"dense": _dense_e_step(name, parallel)}
    if name == "numba" or name in COMPILED_KERNELS:
        e_steps["missing"] = lambda data, mu, pi: _missing.numba_e_step(data.X, mu, pi, parallel=parallel)
        e_steps["sparse"] = lambda data, mu, pi: _sparse.numba_e_step(*data.csr, mu, pi, parallel=parallel)
        stats = _compiled_stats(parallel)
    else:
        e_steps["missing"] = lambda data, mu, pi: _missing.numpy_e_step(data.X, mu, pi)
        e_steps["sparse"] = lambda data, mu, pi: _sparse.scipy_e_step(data.X, mu, pi)
        stats = {
            "dense": lambda data, rw: (*STATS_IMPLEMENTATIONS["numpy"](data.X, rw), None),
            "missing": lambda data, rw: _missing.numpy_stats(data.X, rw),
            "sparse": lambda data, rw: (*_sparse.scipy_stats(data.X, rw), None),
        }
    fused = {kind: _composed(e_steps[kind], stats[kind]) for kind in e_steps}
    if name == "numba":
        fused["dense"] = _table_em_pass(parallel, fused["dense"])
    if name == "numba" or name in COMPILED_KERNELS:
        fused["sparse"] = _sparse_em_pass(parallel, fused["sparse"])
    return Backend(name, parallel, e_steps, stats, fused)
