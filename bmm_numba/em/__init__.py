"""Layer 2, EM: data encoding, the kernel resolved for a fit, initialisation, the EM loop.

Also the collapse policy and row blocks.  Imports only from :mod:`bmm_numba.kernels`.
"""
