"""The E-step registry: one :class:`KernelRecord` per kernel, ``E_STEPS`` and ``e_step``.

Every registry entry has the article's signature ``f(X, mu, pi) -> resp`` and runs the same
input checks (:mod:`bmm_numba.kernels.validation`) before its kernel.  :data:`KERNELS` is the one
list of implementations: ``E_STEPS``, the teaching/production lists, the estimator, the tests,
the benchmarks and the command line all derive from it.  Teaching kernels keep the article's
numerics; production kernels are stable for every valid input (``docs/design.md``, the registry).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from . import e_step_numba as _e_step_numba
from . import e_step_numpy as _e_step_numpy
from . import e_step_python as _e_step_python
from . import names as _names
from .names import AUTO_KERNEL
from .table import e_step as _table
from .validation import check_e_step_inputs, check_e_step_inputs_deferred

__all__ = ["KernelRecord", "KERNELS", "E_STEPS", "e_step", "TEACHING_KERNELS", "PRODUCTION_KERNELS",
           "AUTO_KERNEL", "kernel_record", "resolve_kernel"]

_ROLES = ("teaching", "production")
_FAMILIES = ("python", "numpy", "numba")
_ROLE_NOTES = {
    "teaching": "Teaching kernel, faithful to the article's numerics: it may return NaN on sharp parameters.",
    "production": "Production kernel: finite and exact for any valid input.",
}


@dataclass(frozen=True)
class KernelRecord:
    """One E-step kernel of the registry.

    Attributes
    ----------
    name : str
        Registry name (a key of :data:`E_STEPS`).
    implementation : callable
        ``implementation(X, mu, pi) -> resp`` on validated input (``X`` uint8 C-contiguous,
        ``mu``/``pi`` float64).  Production implementations also take ``return_log_norm=True``
        and then return ``(resp, log_prob_norm)``.
    summary : str
        One line: what the kernel loops over and how.
    notes : str
        What else a user should know (may be empty).
    role : {"teaching", "production"}
        Teaching kernels keep the article's numerics; production kernels are stable.
    family : {"python", "numpy", "numba"}
        What runs the loop over rows: the interpreter, NumPy's vectorised calls, or compiled code.
        The estimator runs the M-step and the missing-value and sparse kernels of the same family.
    checks_values_in_scan : bool
        The kernel checks the 0/1 values of uint8 ``X`` during its own scan (no separate pass).
    """

    name: str
    implementation: Callable
    summary: str
    notes: str
    role: str
    family: str
    checks_values_in_scan: bool = False

    def __post_init__(self):
        if self.role not in _ROLES or self.family not in _FAMILIES:
            raise ValueError(f"{self.name}: role must be one of {_ROLES} and family one of {_FAMILIES}")


#: What a user should know beyond the summary and the role (the table kernel's notes live with it).
_NOTES = {
    "numba": "float64 throughout.  For uint8 ``X`` the 0/1 check runs inside the scan, not as a separate pass; "
             "below 192 rows it runs the ``numba_ones`` kernel.",
}


def _records(*rows):
    """``KERNELS`` from rows ``(name, implementation, role, family[, checks_values_in_scan])``.

    The summary is the first line of the implementation's docstring: the kernel describes itself.
    """
    records = OrderedDict()
    for name, implementation, role, family, *flags in rows:
        summary = implementation.__doc__.strip().splitlines()[0]
        records[name] = KernelRecord(name, implementation, summary, _NOTES.get(name, ""), role, family, *flags)
    return records


#: name -> KernelRecord, in registry order.
KERNELS = _records(
    ("python_loops", _e_step_python.python_loops, "teaching", "python"),
    ("python_log", _e_step_python.python_log, "teaching", "python"),
    ("numpy_rows", _e_step_python.numpy_rows, "teaching", "python"),
    ("numpy", _e_step_numpy.numpy_two_gemm, "production", "numpy"),
    ("numpy_gemm", _e_step_numpy.numpy_one_gemm, "production", "numpy"),
    ("numba_loops", _e_step_numba.numba_loops, "teaching", "numba"),
    ("numba_log", _e_step_numba.numba_log, "production", "numba"),
    ("numba_ones", _e_step_numba.numba_ones, "production", "numba"),
    ("numba", _table.table_e_step, "production", "numba", True),
)

#: Kernels kept faithful to the article's numerics; they may return NaN on sharp parameters.
TEACHING_KERNELS = tuple(name for name, r in KERNELS.items() if r.role == "teaching")

#: Kernels stable for every valid input; their implementations also accept
#: ``return_log_norm=True`` and then return ``(resp, log p(x_n))`` (used by the estimator).
PRODUCTION_KERNELS = tuple(name for name, r in KERNELS.items() if r.role == "production")

# names.py is what --help reads without importing Numba: keep the two in step
if (tuple(KERNELS), TEACHING_KERNELS, PRODUCTION_KERNELS) != (
        _names.KERNEL_NAMES, _names.TEACHING_KERNEL_NAMES, _names.PRODUCTION_KERNEL_NAMES) \
        or AUTO_KERNEL not in PRODUCTION_KERNELS:
    raise ImportError("bmm_numba.kernels.names is out of step with the registry's records")


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
resp : ndarray of shape (n_samples, n_components), float64
    Responsibilities ``resp[n, k] = p(k | x_n)``; each row sums to 1.

Notes
-----
{role_notes} {notes} Registry name: ``{name!r}`` in :data:`bmm_numba.E_STEPS`. Inputs are
validated and converted exactly as in :func:`bmm_numba.e_step`.
"""


def _run_checked(record, X, mu, pi):
    """Validate, then run the record's kernel; kernels that scan for bad values get the uint8 check deferred."""
    if record.checks_values_in_scan:
        X8, mu64, pi64, values_checked = check_e_step_inputs_deferred(X, mu, pi)
        return record.implementation(X8, mu64, pi64, values_checked=values_checked)
    return record.implementation(*check_e_step_inputs(X, mu, pi))


def _public(record):
    def e_step_kernel(X, mu, pi):
        return _run_checked(record, X, mu, pi)

    e_step_kernel.__name__ = e_step_kernel.__qualname__ = f"e_step_{record.name}"
    e_step_kernel.__doc__ = _DOC_TEMPLATE.format(summary=record.summary, role_notes=_ROLE_NOTES[record.role],
                                                 notes=record.notes, name=record.name)
    return e_step_kernel


#: Ordered registry: name -> ``f(X, mu, pi) -> resp``.  The names are a public contract.
E_STEPS = OrderedDict((name, _public(record)) for name, record in KERNELS.items())


def e_step(X, mu, pi, *, kernel="auto"):
    """Compute Bernoulli-mixture responsibilities (the E-step).

    ``resp[n, k] = pi_k prod_d mu_kd^x_nd (1 - mu_kd)^(1 - x_nd)``, normalised over k.

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
    resp : ndarray of shape (n_samples, n_components), float64
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
    return _run_checked(kernel_record(kernel), X, mu, pi)


def kernel_record(kernel, allowed=None):
    """Return the :class:`KernelRecord` behind a kernel name (``"auto"`` resolved once, here).

    Parameters
    ----------
    kernel : str
        ``"auto"`` or a registry name.
    allowed : sequence of str, optional
        Restrict the accepted names (e.g. to :data:`PRODUCTION_KERNELS`); default: all.

    Returns
    -------
    KernelRecord

    Raises
    ------
    TypeError
        ``kernel`` is not a string.
    ValueError
        ``kernel`` is not ``"auto"`` or an allowed name.
    """
    names = list(KERNELS) if allowed is None else list(allowed)
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a string naming an E-step; got {type(kernel).__name__}")
    name = AUTO_KERNEL if kernel == "auto" else kernel
    if name not in names:
        raise ValueError(f"kernel must be 'auto' or one of {names}; got {kernel!r}")
    return KERNELS[name]


def resolve_kernel(kernel, allowed=None):
    """Return the implementation (on validated input) behind a kernel name; see :func:`kernel_record`."""
    return kernel_record(kernel, allowed).implementation
