"""Model choice and model criticism above the estimator (layer 4): which K, does it fit, how sure.

:func:`select_n_components` (:mod:`.table`), :func:`blrt` (:mod:`.blrt`), the fit statistics
(:mod:`.fit_statistics`), standard errors (:mod:`.standard_errors`), diagnostics
(:mod:`.diagnostics`) and the text report (:mod:`.summary`).  The estimator's methods
``standard_errors``, ``diagnostics`` and ``summary`` import from here when called.
"""
