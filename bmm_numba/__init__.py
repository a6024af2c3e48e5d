"""bmm_numba: Bernoulli mixture models fitted by EM, with Numba-compiled E-steps.

Public API
----------
E_STEPS
    Ordered registry ``name -> f(X, mu, pi) -> gamma`` of every E-step implementation.
e_step
    Validating entry point that runs a registry kernel (``kernel="auto"`` picks the fastest).
"""

from ._e_step import AUTO_KERNEL, E_STEPS, PRODUCTION_KERNELS, TEACHING_KERNELS, e_step
from ._validation import PI_SUM_ATOL

__version__ = "0.1.0"

__all__ = [
    "E_STEPS",
    "e_step",
    "AUTO_KERNEL",
    "TEACHING_KERNELS",
    "PRODUCTION_KERNELS",
    "PI_SUM_ATOL",
    "__version__",
]
