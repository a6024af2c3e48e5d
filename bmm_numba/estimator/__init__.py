"""Layer 3, the scikit-learn estimator and what it alone uses.

:class:`~bmm_numba.BernoulliMixture`, its parameter checks, model selection and the memmap and
Dask row sources.  Imports from the layers below.
"""
