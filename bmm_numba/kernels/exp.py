"""Branch-free ``exp`` for ``x <= 0``: the constants (one place) and the scalar version.

A row's log-sum-exp calls ``exp`` K times; through libm that is a scalar call per term, about
4 ms of the 17 ms single-thread E-step on MNIST train (K = 10).  This version is plain
arithmetic (range reduction, a polynomial, an exponent built from bits), which the loop
vectoriser turns into 8-lane code; :func:`bmm_numba.kernels.simd.vexp_shifted` is the same
algorithm on explicit vectors, with the constants below.

Accuracy: ``x = k ln2 + r`` with ``|r| <= ln2 / 2`` (ln2 split in two parts, as in fdlibm), then
``exp(r)`` by its Taylor series to degree 12 (truncation error below 2e-16 relative).  Checked in
the tests against ``numpy.exp`` to a few ulp over [-708, 0]; below -708 it returns 0, where the
true value is under 3.3e-308 and every caller adds it to a term equal to 1.
"""

from __future__ import annotations

import numba
import numpy as np

from .jit import JIT_OPTIONS

__all__ = ["exp_nonpositive", "EXP_UNDERFLOW", "LOG2E", "LN2_HI", "LN2_LO", "ROUND_TO_INT", "EXP_TAYLOR"]

#: Arguments below this give 0.
EXP_UNDERFLOW = -708.0
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # fdlibm: ln2 with its low bits cleared, exact times k
LN2_LO = 1.90821492927058770002e-10
#: ``(t + ROUND_TO_INT) - ROUND_TO_INT`` rounds ``t`` to the nearest integer (1.5 * 2**52).
ROUND_TO_INT = 6755399441055744.0
#: Taylor coefficients of ``exp(r)``, degree 12 down to 0, in Horner order.
EXP_TAYLOR = (1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
              1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0)


@numba.njit(**JIT_OPTIONS)
def exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0``, branch-free; 0 for ``x < -708`` (and for ``-inf``)."""
    y = max(x, EXP_UNDERFLOW)
    k = np.floor(y * LOG2E + 0.5)
    r = (y - k * LN2_HI) - k * LN2_LO
    # Taylor series of exp(r) to degree 12, Horner form (a constant tuple: LLVM unrolls the loop)
    p = EXP_TAYLOR[0]
    for c in EXP_TAYLOR[1:]:
        p = p * r + c
    scale = np.int64((np.int64(k) + 1023) << 52).view(np.float64)  # 2**k from its bits (a bitcast)
    return p * scale if x >= EXP_UNDERFLOW else 0.0
