"""
Digit prototypes: the component means of a fitted mixture
=========================================================

Fit :class:`bmm_numba.BernoulliMixture` with K = 10 components to binarised handwritten
digits and look at what it learned: each component's mean ``mu_k`` is an image whose pixel
``d`` is the probability that pixel ``d`` is inked in an image of that component, and its
weight ``pi_k`` is the share of images it explains.

Data: when the environment variable ``BMM_NUMBA_MNIST_DIR`` names a folder with the MNIST IDX
files, 10000 images drawn at random from the 60000 training images (28 × 28 pixels, pixels
≥ 128 of 255 are 1); otherwise scikit-learn's bundled 8 × 8 digits (1797 images, grey levels
≥ 8 of 16 are 1), which need no download.  The fit takes a few seconds either way.
"""

# %%
# Load the data
# -------------

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import adjusted_rand_score

from bmm_numba import BernoulliMixture
from bmm_numba.datasets import load_digits_binary, load_mnist, mnist_dir_from_env

N_ROWS = 10000
if mnist_dir_from_env() is not None:
    X_all, y_all = load_mnist(split="train")
    rows = np.sort(np.random.default_rng(0).choice(X_all.shape[0], N_ROWS, replace=False))
    X, y = X_all[rows], y_all[rows]
    side, source = 28, f"MNIST: {N_ROWS} random training images"
else:
    X, y = load_digits_binary()
    side, source = 8, "scikit-learn's 8x8 digits"
    print("note: BMM_NUMBA_MNIST_DIR is not set, so this example uses scikit-learn's bundled 8x8 digits")
print(f"data: {source}, {X.shape[0]} x {X.shape[1]}, {X.mean():.1%} of pixels are 1")

# %%
# Fit
# ---
# The defaults: the best of 5 short EM runs as the start, then EM until the objective changes
# by less than 1e-6 (relative), the means smoothed towards the pixel averages (``alpha=0.5``).
# ``kernel="auto"`` is the compiled ``numba`` E-step.

start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a ConvergenceWarning is reported below instead
    bm = BernoulliMixture(n_components=10, random_state=0).fit(X)
seconds = time.perf_counter() - start
labels = bm.labels_
print(f"fit: {bm.n_iter_} iterations, converged: {bm.converged_}, {seconds:.2f} s")
print(f"mean log-likelihood per image: {bm.score(X):.2f} nats")
print(f"adjusted Rand index against the true digits: {adjusted_rand_score(y, labels):.3f}")

# %%
# The ten prototypes
# ------------------
# Components are ordered by weight.  Each title gives the weight, the most frequent true digit
# among the images assigned to the component, and that digit's share of them (the purity).
# The labels are never shown to EM: it is unsupervised, and ten components need not be the
# ten digits.

order = np.argsort(bm.weights_)[::-1]
fig, axes = plt.subplots(2, 5, figsize=(11, 5.8))
for ax, k in zip(axes.flat, order, strict=True):
    members = y[labels == k]
    majority = np.bincount(members, minlength=10).argmax() if members.size else -1
    purity = np.mean(members == majority) if members.size else 0.0
    ax.imshow(bm.means_[k].reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"w={bm.weights_[k]:.3f}\nmostly {majority} ({purity:.0%})", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    print(f"component {k}: weight {bm.weights_[k]:.3f}, {members.size} images, majority digit {majority} "
          f"({purity:.0%})")
fig.suptitle(f"Component means (white = 0, black = 1), K = 10, {source}")
fig.tight_layout()
plt.show()

# %%
# The mixing weights
# ------------------
# The weights sum to 1; a uniform mixture would give every component 0.1 (dashed line).

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.bar(np.arange(10), bm.weights_[order], color="tab:blue")
ax.axhline(0.1, color="k", ls="--", lw=1, label="uniform, 1/K")
ax.set_xticks(np.arange(10), [f"{k}" for k in order])
ax.set_xlabel("component (ordered by weight)")
ax.set_ylabel("weight pi_k")
ax.set_title("Mixing weights")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Reading the prototypes
# ----------------------
# Sharp dark strokes mean the images of a component agree pixel by pixel; a grey halo means
# they vary (slant, thickness, style).  Digits written in several styles (a slanted and an
# upright 1, a round and a narrow 0) can take two components, while similar digits (4, 7 and
# 9 on MNIST) can share one; the purity in each title shows which happened here.  More
# components (``n_components=20``) or several starts (``n_init``) separate them better.
# Sampling new images from the fitted model is one call, :meth:`BernoulliMixture.sample`:

samples, sample_labels = bm.sample(10)
fig, axes = plt.subplots(1, 10, figsize=(11, 1.6))
for ax, image, k in zip(axes, samples, sample_labels, strict=True):
    ax.imshow(image.reshape(side, side), cmap="gray_r")
    ax.set_title(f"comp. {k}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("Ten images drawn from the fitted mixture (each pixel independent given the component)")
fig.tight_layout()
plt.show()
