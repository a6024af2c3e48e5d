"""The E-step registry's names, and the article's size ladder, standard library only.

What ``--help`` and option parsing need without importing Numba.  The registry
(:mod:`bmm_numba.kernels.registry`) refuses to import if its records disagree with these names.
"""

#: Every registry name, in registry order (a public contract: users and checks rely on them).
KERNEL_NAMES = ("python_loops", "python_log", "numpy_rows", "numpy", "numpy_gemm", "numba_loops", "numba_log",
                "numba_ones", "numba")

#: Kernels kept faithful to the article's numerics (they may return NaN on sharp parameters).
TEACHING_KERNEL_NAMES = ("python_loops", "python_log", "numpy_rows", "numba_loops")

#: Kernels stable for every valid input: the ones the estimator accepts.
PRODUCTION_KERNEL_NAMES = ("numpy", "numpy_gemm", "numba_log", "numba_ones", "numba")

#: What ``kernel="auto"`` runs: the fastest kernel that is stable for every valid input.
AUTO_KERNEL = "numba"

#: The article's ladder of n: the row counts at which ``compare`` and the benchmarks time every kernel.
ARTICLE_SIZES = (5, 10, 20, 50, 100, 200, 500, 1000)
