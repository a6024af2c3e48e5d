"""bmm_numba: Bernoulli mixture models fitted by EM, with Numba-compiled E-steps.

Public API
----------
E_STEPS
    Ordered registry ``name -> f(X, mu, pi) -> gamma`` of every E-step implementation.
e_step
    Validating entry point that runs a registry kernel (``kernel="auto"`` picks the fastest).
M_STEPS
    Registry of M-step implementations.
BernoulliMixture
    scikit-learn-style EM estimator.
select_n_components
    Fit over a range of K and tabulate fit statistics (AIC, BIC, SABIC, ICL, G², ..., BLRT).
blrt
    Bootstrap likelihood-ratio test of K - 1 against K classes.
load_model
    Read a model file written by ``BernoulliMixture.save`` (validated, no pickle).

Attributes are imported on first access (PEP 562), so ``import bmm_numba`` and the command
line's ``--help`` stay fast: Numba, SciPy and scikit-learn load only when something needs them.
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS = {
    "E_STEPS": ".kernels.registry",
    "e_step": ".kernels.registry",
    "AUTO_KERNEL": ".kernels.registry",
    "TEACHING_KERNELS": ".kernels.registry",
    "PRODUCTION_KERNELS": ".kernels.registry",
    "PI_SUM_ATOL": ".kernels.validation",
    "M_STEPS": ".kernels.m_step",
    "BernoulliMixture": ".estimator.mixture",
    "select_n_components": ".selection.table",
    "blrt": ".selection.blrt",
    "load_model": ".estimator.persist",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
