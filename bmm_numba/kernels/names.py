"""The E-step registry's names, standard library only.

What ``--help`` and option parsing need without importing Numba.  The registry
(:mod:`bmm_numba.kernels.registry`) refuses to import if its records are not in this order.
"""

#: Every registry name, in registry order (a public contract: users and checks rely on them).
KERNEL_NAMES = ("python_loops", "python_log", "numpy_rows", "numpy", "numpy_gemm", "numba_loops", "numba_log",
                "numba_ones", "numba")

#: What ``kernel="auto"`` runs: the fastest kernel that is stable for every valid input.
AUTO_KERNEL = "numba"
