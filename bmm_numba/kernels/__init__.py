"""Layer 1, the kernels: E-steps, the table kernel, M-step statistics and what runs them.

The article's four attempts and the compiled E-steps, the table kernel, M-step statistics, the
missing-value and sparse kernels, and what runs them (JIT options, threads, the parameter-term
cache).  Nothing here knows about estimators or EM; every module imports only from this folder.
"""
