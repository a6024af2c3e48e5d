"""The E-step registry ``E_STEPS`` and the validating entry point ``e_step``.

Every registry entry has the article's signature ``f(X, mu, pi) -> gamma`` and runs the same
input checks (:mod:`bmm_numba._validation`) before its kernel.  The registry is the one list of
implementations: tests, benchmarks and the estimator iterate over it.
"""

from __future__ import annotations

from collections import OrderedDict

from . import e_step_numba as _e_step_numba
from . import e_step_numpy as _e_step_numpy
from . import e_step_python as _e_step_python
from .names import AUTO_KERNEL, KERNEL_NAMES
from .table import e_step as _e_step_lut
from .validation import check_e_step_inputs, check_e_step_inputs_deferred

__all__ = ["E_STEPS", "e_step", "TEACHING_KERNELS", "PRODUCTION_KERNELS", "AUTO_KERNEL", "resolve_kernel"]

# name -> (implementation on validated input, one-line summary, notes)
_IMPLEMENTATIONS = OrderedDict(
    [
        ("python_loops", (_e_step_python.python_loops,
                          "Article attempt 1: pure-Python triple loop over n, k, d in probability space.",
                          "Faithful teaching kernel: underflows to NaN on sharp parameters.")),
        ("python_log", (_e_step_python.python_log,
                        "Article attempt 2: loop over n and k, vectorised log-space sum over d.",
                        "Faithful teaching kernel: ``exp`` before normalising underflows to NaN on "
                        "sharp parameters.")),
        ("numpy_rows", (_e_step_python.numpy_rows,
                        "Article attempt 3: loop over n, two matrix-vector products per row.",
                        "Faithful teaching kernel: ``exp`` before normalising underflows to NaN on "
                        "sharp parameters.")),
        ("numpy", (_e_step_numpy.numpy_two_gemm,
                   "Article attempt 4: fully vectorised NumPy, two GEMMs, stable log-sum-exp.",
                   "Production kernel: finite and exact for any valid input.")),
        ("numpy_gemm", (_e_step_numpy.numpy_one_gemm,
                        "Attempt 4 folded into one GEMM: ``X @ (log mu - log(1-mu)).T + b``.",
                        "Production kernel: finite and exact for any valid input.")),
        ("numba_loops", (_e_step_numba.numba_loops,
                         "Attempt 1's triple loop compiled with ``@njit(parallel=True)``, prange over n.",
                         "Teaching kernel: probability space like attempt 1, so it underflows to NaN "
                         "on sharp parameters.")),
        ("numba_log", (_e_step_numba.numba_log,
                       "Attempt 2's log-space loop compiled with ``@njit(parallel=True)``, "
                       "stable per-row log-sum-exp.",
                       "Production kernel: finite and exact for any valid input.")),
        ("numba_ones", (_e_step_numba.numba_ones,
                        "Compiled loop over the ones of each row only, K-contiguous weights, "
                        "``@njit(parallel=True)``, stable per-row log-sum-exp.",
                        "Production kernel: finite and exact for any valid input.")),
        ("numba", (_e_step_lut.numba_fastest,
                   "Fastest compiled kernel: rows read 8 pixels at a time, a look-up table of summed "
                   "weights per 4-pixel pattern, 8-lane vector accumulators, stable log-sum-exp.",
                   "Production kernel: finite and exact for any valid input (float64 throughout). "
                   "For uint8 ``X`` the 0/1 check runs inside the scan, not as a separate pass; "
                   "below 192 rows it runs the ``numba_ones`` kernel.")),
    ]
)

#: Kernels kept faithful to the article's numerics; they may return NaN on sharp parameters.
TEACHING_KERNELS = ("python_loops", "python_log", "numpy_rows", "numba_loops")

#: Kernels stable for every valid input; their implementations also accept
#: ``return_log_norm=True`` and then return ``(gamma, log p(x_n))`` (used by the estimator).
PRODUCTION_KERNELS = ("numpy", "numpy_gemm", "numba_log", "numba_ones", "numba")

#: Kernels that check the 0/1 values of uint8 ``X`` during their own scan.
_CHECK_VALUES_IN_KERNEL = frozenset({"numba"})


_DOC_TEMPLATE = """{summary}

Parameters
----------
X : array-like of shape (n_samples, n_features)
    Binary data: 0/1 values of any numeric dtype (bool, integer, float), any memory order.
mu : array-like of shape (n_components, n_features)
    Bernoulli means, each strictly inside (0, 1).
pi : array-like of shape (n_components,)
    Mixing weights, non-negative and summing to 1.

Returns
-------
gamma : ndarray of shape (n_samples, n_components), float64
    Responsibilities ``gamma[n, k] = p(k | x_n)``; each row sums to 1.

Notes
-----
{notes} Registry name: ``{name!r}`` in :data:`bmm_numba.E_STEPS`. Inputs are validated and
converted exactly as in :func:`bmm_numba.e_step`.
"""


def _run_checked(name, impl, X, mu, pi):
    """Validate, then run ``impl``; kernels that scan for bad values get the uint8 check deferred."""
    if name in _CHECK_VALUES_IN_KERNEL:
        X8, mu64, pi64, values_checked = check_e_step_inputs_deferred(X, mu, pi)
        return impl(X8, mu64, pi64, values_checked=values_checked)
    return impl(*check_e_step_inputs(X, mu, pi))


def _public(name, impl, summary, notes):
    def e_step_kernel(X, mu, pi):
        return _run_checked(name, impl, X, mu, pi)

    e_step_kernel.__name__ = e_step_kernel.__qualname__ = f"e_step_{name}"
    e_step_kernel.__doc__ = _DOC_TEMPLATE.format(summary=summary, notes=notes, name=name)
    return e_step_kernel


#: Ordered registry: name -> ``f(X, mu, pi) -> gamma``.  The names are a public contract.
E_STEPS = OrderedDict((name, _public(name, *spec)) for name, spec in _IMPLEMENTATIONS.items())


def e_step(X, mu, pi, *, kernel="auto"):
    """Compute Bernoulli-mixture responsibilities (the E-step).

    ``gamma[n, k] = pi_k prod_d mu_kd^x_nd (1 - mu_kd)^(1 - x_nd)``, normalised over k.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Binary data: 0/1 values of any numeric dtype (bool, integer, float), C or Fortran
        order, views and nested lists accepted.  Never modified.
    mu : array-like of shape (n_components, n_features)
        Bernoulli means, each strictly inside (0, 1).
    pi : array-like of shape (n_components,)
        Mixing weights, non-negative and summing to 1 within ``PI_SUM_ATOL`` (1e-6).
    kernel : str, default="auto"
        A key of :data:`E_STEPS`, or ``"auto"`` for the fastest kernel that is stable for every
        valid input (currently ``"numba"``).

    Returns
    -------
    gamma : ndarray of shape (n_samples, n_components), float64
        Responsibilities; each row sums to 1.

    Raises
    ------
    TypeError
        Non-numeric or sparse ``X``, non-numeric ``mu``/``pi``, or a non-string ``kernel``.
    ValueError
        Unknown kernel, ``X`` not 2-D, empty or not 0/1, ``mu`` outside (0, 1), ``pi`` negative
        or not summing to 1, or shapes that do not agree.

    Examples
    --------
    >>> import numpy as np
    >>> from bmm_numba import e_step
    >>> X = np.array([[1, 0, 1], [0, 0, 1]])
    >>> mu = np.array([[0.9, 0.1, 0.8], [0.2, 0.3, 0.5]])
    >>> e_step(X, mu, [0.5, 0.5]).round(3)
    array([[0.903, 0.097],
           [0.205, 0.795]])
    """
    impl = resolve_kernel(kernel)
    return _run_checked(AUTO_KERNEL if kernel == "auto" else kernel, impl, X, mu, pi)


def resolve_kernel(kernel, allowed=None):
    """Return the implementation (on validated input) behind a kernel name.

    Parameters
    ----------
    kernel : str
        ``"auto"`` or a registry name.
    allowed : sequence of str, optional
        Restrict the accepted names (e.g. to :data:`PRODUCTION_KERNELS`); default: all.
    """
    names = list(_IMPLEMENTATIONS) if allowed is None else list(allowed)
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a string naming an E-step; got {type(kernel).__name__}")
    name = AUTO_KERNEL if kernel == "auto" else kernel
    if name not in names:
        raise ValueError(f"kernel must be 'auto' or one of {names}; got {kernel!r}")
    return _IMPLEMENTATIONS[name][0]

if tuple(_IMPLEMENTATIONS) != KERNEL_NAMES:  # names.py is what --help reads: keep the two in step
    raise ImportError("bmm_numba.kernels.names.KERNEL_NAMES is out of step with the registry")
