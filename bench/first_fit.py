"""Time the first ``BernoulliMixture().fit`` of a fresh process (run it twice: cold, then cached).

    BMM_NUMBA_CACHE=0 python bench/first_fit.py   # everything compiled: the cold start
    python bench/first_fit.py                     # run twice: the second loads from the cache
"""

import time
import warnings

start = time.perf_counter()
import numpy as np  # noqa: E402

from bmm_numba import BernoulliMixture  # noqa: E402

X = (np.random.default_rng(0).random((500, 784)) < 0.13).astype(np.uint8)
imported = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # ConvergenceWarning after 3 iterations
    BernoulliMixture(10, max_iter=3, random_state=0).fit(X)
print(f"import {imported - start:.2f} s, first fit {time.perf_counter() - imported:.2f} s")
