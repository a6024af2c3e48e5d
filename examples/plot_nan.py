r"""
Why attempt 1 returns NaN: underflow, 0/0 and log-sum-exp
==========================================================

Attempt 1 of the E-step multiplies one probability per pixel,

.. math::

    p(x_n, k) = \pi_k \prod_{d=1}^{D} \mu_{kd}^{x_{nd}} (1 - \mu_{kd})^{1 - x_{nd}},

and divides by the sum over k.  With D = 784 pixels that product is tiny.  While the means are
a random start it still fits in a double.  Once the model is fitted, its means sit near 0 or 1,
and a pixel that disagrees with a component multiplies that component's product by something
like 1e-10: for an image that no component explains well (a noisy scan, an unusual digit) the
product underflows to exactly 0 for *every* component, and the normalisation computes
0 / 0 = NaN.  This example shows it on data, pixel by pixel, then shows the fix (log space and
log-sum-exp).

Data: 2000 binarised MNIST test images when ``BMM_NUMBA_MNIST_DIR`` names the MNIST folder,
otherwise 2000 generated MNIST-shaped rows (784 pixels, about 13 % ones).  One fit of K = 10
components (maximum likelihood, ``alpha=0``, at most 50 EM iterations): a few seconds.
"""

# %%
# Data and two sets of parameters
# -------------------------------
# A random start (means uniform in [0.25, 0.75], as in the benchmarks) and a fitted model.
# Maximum likelihood (``alpha=0``) lets the fitted means go as close to 0 or 1 as the
# estimator allows (it clips them to [1e-10, 1 - 1e-10]).

import warnings

import matplotlib.pyplot as plt
import numpy as np

from bmm_numba import E_STEPS, BernoulliMixture
from bmm_numba.datasets import load_mnist, make_bernoulli_mixture, mnist_dir_from_env

N_ROWS, K = 2000, 10
if mnist_dir_from_env() is not None:
    X, _ = load_mnist(split="test")
    X = X[:N_ROWS]
    source = "MNIST test images"
else:
    X, *_ = make_bernoulli_mixture(N_ROWS, 784, K, density=0.13, sharpness=0.9, random_state=0)
    source = "generated MNIST-shaped rows (BMM_NUMBA_MNIST_DIR not set)"
N, D = X.shape
print(f"data: {N} x {D} {source}, {X.mean():.1%} ones")

rng = np.random.default_rng(0)
mu_start = rng.uniform(0.25, 0.75, size=(K, D))
pi_start = np.full(K, 1.0 / K)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a ConvergenceWarning would not change the lesson
    bm = BernoulliMixture(K, alpha=0, max_iter=50, random_state=0).fit(X)
mu_fit, pi_fit = bm.means_, bm.weights_
sharp = np.mean((mu_fit < 1e-6) | (mu_fit > 1 - 1e-6))
print(f"fitted: {bm.n_iter_} iterations; {sharp:.0%} of the fitted means are within 1e-6 of 0 or 1")

# %%
# The running product, pixel by pixel
# -----------------------------------
# Take one image (the one of median log-likelihood under the fitted model: a typical image)
# and the same image with 15 % of its pixels flipped (noise the model has never seen).
# Follow ``log10`` of the running product ``pi_k * prod_{d <= j} p(x_d | mu_kd)`` as the
# pixels ``j = 1 .. 784`` are multiplied in, one line per component.  It is computed here as a
# sum of ``log10`` terms, which cannot underflow, so we see how small the true product is.  The
# two horizontal lines are the limits of a double: the smallest normal number, 2.2e-308, and
# the smallest subnormal, 5e-324.  Below 5e-324 the only double left is 0.

TINY, SUBNORMAL = np.finfo(np.float64).tiny, np.nextafter(0.0, 1.0)
print(f"smallest normal double {TINY:.3g}, smallest subnormal {SUBNORMAL:.3g}")

n = int(np.argsort(bm.score_samples(X))[N // 2])
x = X[n]
flip = np.random.default_rng(1).random(D) < 0.15
x_noisy = x ^ flip.astype(np.uint8)


def log10_running(x, mu, pi):
    """``log10`` of the running product for every component: shape (K, D)."""
    factor = np.where(x == 1, mu, 1.0 - mu)
    return np.log10(pi)[:, None] + np.cumsum(np.log10(factor), axis=1)


runs = {"random start, clean image": (log10_running(x, mu_start, pi_start), "tab:blue"),
        "fitted model, clean image": (log10_running(x, mu_fit, pi_fit), "tab:red"),
        "fitted model, noisy image": (log10_running(x_noisy, mu_fit, pi_fit), "tab:orange")}
for label, (run, _) in runs.items():
    print(f"{label}: final log10 product from {run[:, -1].min():.0f} to {run[:, -1].max():.0f}")

fig, axes = plt.subplots(1, 3, figsize=(12, 4.5), width_ratios=[1, 1, 3.5])
side = int(round(np.sqrt(D)))
for ax, image, title in ((axes[0], x, f"row {n}"), (axes[1], x_noisy, f"{flip.sum()} pixels flipped")):
    ax.imshow(image.reshape(side, side), cmap="gray_r")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
ax = axes[2]
pixels = np.arange(1, D + 1)
for label, (run, color) in runs.items():
    for k in range(K):
        ax.plot(pixels, run[k], color=color, lw=1, alpha=0.7, label=label if k == 0 else None)
ax.axhline(np.log10(TINY), color="k", ls="--", lw=1, label="smallest normal double 2.2e-308")
ax.axhline(np.log10(SUBNORMAL), color="k", ls=":", lw=1.5, label="smallest subnormal 5e-324")
ax.set_xlabel("pixels multiplied in, d")
ax.set_ylabel("log10 of the running product")
ax.set_title("Running product, one line per component")
ax.legend(fontsize=8, loc="lower left")
ax.grid(True, alpha=0.3)
fig.tight_layout()
plt.show()

# %%
# The random start uses about 250 of the 324 decades a double offers: 784 factors near 0.5.
# The fitted model's best component for the clean image stays far above the limit (that is
# what "explains the image well" means), while its other components may fall below it.  In
# the noisy image a flipped pixel costs up to 10 decades (``log10(1e-10)``) in each component
# whose mean there is clipped at 1e-10 or 1 - 1e-10, and every line ends below the limit.
#
# In floating point the product becomes exactly 0
# -----------------------------------------------
# Now multiply for real, as attempt 1 does.  Each product passes below 2.2e-308 (it loses
# precision: a subnormal has fewer significant digits), then below 5e-324, where it becomes
# exactly 0 and stays 0.


def float_products(x):
    """Return the running product in float64, as attempt 1 computes it: shape (K, D)."""
    with np.errstate(under="ignore"):
        return pi_fit[:, None] * np.cumprod(np.where(x == 1, mu_fit, 1.0 - mu_fit), axis=1)


for label, image in (("clean", x), ("noisy", x_noisy)):
    product = float_products(image)
    print(f"{label} image:")
    for k in range(K):
        below, zero = np.flatnonzero(product[k] < TINY), np.flatnonzero(product[k] == 0.0)
        print(f"  component {k}: below 2.2e-308 from pixel {below[0] + 1 if below.size else '-':>3}, "
              f"exactly 0 from pixel {zero[0] + 1 if zero.size else '-':>3}; final product {product[k, -1]:.3g}")
    with np.errstate(invalid="ignore"):
        print("  normalised, as attempt 1 does:", np.round(product[:, -1] / product[:, -1].sum(), 6))

# %%
# On data
# -------
# Attempt 1 (``python_loops``) and attempts 2 and 3 (``python_log``, ``numpy_rows``) from the
# registry, against two production kernels.  Attempts 2 and 3 sum logarithms (no underflow on
# the way) but take ``exp`` of the sum before normalising, so they hit the same 0 / 0.  Four
# situations, on the first 100 rows (the Python attempts are slow):
#
# * the random start;
# * the fitted model on its own training rows;
# * the fitted model on the same rows with 15 % of the pixels flipped;
# * sharp means, as in ``bmm-numba compare``'s underflow check: 10 other data rows clipped to
#   [1e-9, 1 - 1e-9] as the means (a model that has memorised examples).

rows = X[:100]
noisy_rows = rows ^ (np.random.default_rng(2).random(rows.shape) < 0.15).astype(np.uint8)
mu_sharp = np.clip(X[100:100 + K].astype(np.float64), 1e-9, 1 - 1e-9)
cases = {"random start": (rows, mu_start, pi_start), "fitted, own rows": (rows, mu_fit, pi_fit),
         "fitted, noisy rows": (noisy_rows, mu_fit, pi_fit), "sharp means": (rows, mu_sharp, pi_start)}
print(f"{'rows with NaN (of 100)':24s}" + "".join(f"{case:>20s}" for case in cases))
for name in ("python_loops", "python_log", "numpy_rows", "numpy", "numba"):
    counts = [int(np.isnan(E_STEPS[name](*args)).any(axis=1).sum()) for args in cases.values()]
    print(f"{name:24s}" + "".join(f"{c:>20d}" for c in counts))

# %%
# The fix: log space and log-sum-exp
# ----------------------------------
# Work with ``l_k = log pi_k + sum_d log p(x_d | mu_kd)`` (a sum: no underflow) and normalise
# with the identity
#
# .. math::
#
#     \gamma_k = \frac{e^{l_k}}{\sum_j e^{l_j}} = \frac{e^{l_k - m}}{\sum_j e^{l_j - m}},
#     \qquad m = \max_j l_j .
#
# Subtracting the row maximum ``m`` changes nothing mathematically, but the largest term is
# now ``exp(0) = 1``: the denominator is at least 1, never 0.  Terms far below the maximum
# still underflow to 0, and rightly so: their responsibility is below 5e-324 (``l_k`` more
# than 744 nats below the maximum).  Applied to the noisy image, where attempt 1 gave NaN:

log_joint = np.log(pi_fit) + np.where(x_noisy == 1, np.log(mu_fit), np.log1p(-mu_fit)).sum(axis=1)
print("l_k (nats):", np.round(log_joint, 1))
with np.errstate(under="ignore"):
    print("exp(l_k):  ", np.exp(log_joint))
    shifted = np.exp(log_joint - log_joint.max())
gamma_by_hand = shifted / shifted.sum()
gamma_numpy = E_STEPS["numpy"](x_noisy[None, :], mu_fit, pi_fit)[0]
print("log-sum-exp responsibilities:", np.round(gamma_by_hand, 6))
print(f"max |by hand - E_STEPS['numpy']| = {np.abs(gamma_by_hand - gamma_numpy).max():.1e}")

# %%
# Take-away
# ---------
# The NaN is not a bug in the loop but in the numerics: a product of hundreds of
# probabilities must be kept as a sum of logarithms, and normalised after subtracting the
# maximum.  Every production kernel of the registry (``numpy``, ``numpy_gemm``, ``numba_log``,
# ``numba_ones``, ``numba``) does so; the teaching kernels keep the article's numerics so the
# failure can be seen, as here.
