"""
Missing values: fitting with NaN and imputing from the mixture
==============================================================

:class:`bmm_numba.BernoulliMixture` reads NaN in dense ``X`` as "not observed".  The E-step
sums the log-probabilities of the observed cells of each row only, and the M-step divides
each feature by the responsibility mass of the rows where that feature is observed (full
information maximum likelihood): nothing is imputed during the fit.

This example hides 10 %, 20 % and 30 % of the cells of the binarised 8 × 8 digits (1797 × 64,
bundled with scikit-learn) at random, fits K = 10 components to what is left, and compares
with the fit on the full data: the means, the log-likelihood, the clustering, and how well
the fitted model fills the hidden cells back in with :meth:`~bmm_numba.BernoulliMixture.predict_proba`.
Each fit takes well under a second.
"""

# %%
# The full-data fit and the fits with hidden cells
# ------------------------------------------------

import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from bmm_numba import BernoulliMixture
from bmm_numba.datasets import load_digits_binary

X, y = load_digits_binary()
K = 10


def fit(data):
    """Return ``BernoulliMixture(K)`` fitted to ``data`` (same seed for every fit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is printed instead
        return BernoulliMixture(K, random_state=0).fit(data)


full = fit(X)
print(f"full data: {X.shape[0]} x {X.shape[1]}, {full.n_iter_} iterations, "
      f"log-likelihood per row {full.score(X):.3f}")

fits = {}
for share in (0.1, 0.2, 0.3):
    hidden = np.random.default_rng(0).random(X.shape) < share
    X_nan = X.astype(np.float64)
    X_nan[hidden] = np.nan
    fits[share] = (hidden, X_nan, fit(X_nan))
    print(f"{share:.0%} hidden: {hidden.sum()} cells NaN, {fits[share][2].n_iter_} iterations, converged: "
          f"{fits[share][2].converged_}")

# %%
# Comparing the fits
# ------------------
# Components come out in an arbitrary order, so each fit's components are first matched to
# the full-data fit's (the assignment that minimises the summed distance between means).
#
# * **Means**: the mean absolute difference per pixel between matched means.
# * **Log-likelihood**: both models scored on the same observed cells (``score`` skips NaN
#   cells), so the numbers are comparable; the full-data fit has seen more, the NaN fit was
#   optimised for exactly these cells.
# * **Clustering**: the adjusted Rand index between the two fits' labels (1 = the same
#   partition) and against the true digits.


def matched(model):
    """Return ``model``'s component indices matched to the full-data components."""
    cost = np.abs(full.means_[:, None, :] - model.means_[None, :, :]).sum(axis=2)
    _, columns = linear_sum_assignment(cost)
    return columns


print(f"{'hidden':>7s} {'mean |d mu|':>12s} {'max |d mu|':>11s} {'logL NaN fit':>13s} "
      f"{'logL full fit':>14s} {'ARI vs full':>12s} {'ARI vs digits':>14s}")
print(f"{'0%':>7s} {0:12.4f} {0:11.4f} {'':>13s} {full.score(X):14.3f} {1:12.3f} "
      f"{adjusted_rand_score(y, full.labels_):14.3f}")
for share, (_, X_nan, model) in fits.items():
    diff = np.abs(full.means_ - model.means_[matched(model)])
    print(f"{share:>7.0%} {diff.mean():12.4f} {diff.max():11.4f} {model.score(X_nan):13.3f} "
          f"{full.score(X_nan):14.3f} {adjusted_rand_score(full.labels_, model.labels_):12.3f} "
          f"{adjusted_rand_score(y, model.labels_):14.3f}")

# %%
# The log-likelihoods per row are higher than the full data's simply because fewer cells are
# scored; what matters is the comparison on the same cells, where the two models are close.
# Most matched means differ by a few hundredths per pixel on average; the largest single
# differences come from components that the two fits, started from different data, placed on
# slightly different groups of digits (EM finds a local optimum), not from the missing
# values as such.  The means, side by side (full data above, 30 % hidden below, matched components in the
# same column):

hidden, X_nan, model = fits[0.3]
order = matched(model)
fig, axes = plt.subplots(2, K, figsize=(11, 2.8))
for k in range(K):
    for row, means in enumerate((full.means_[k], model.means_[order[k]])):
        axes[row, k].imshow(means.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[row, k].set_xticks([])
        axes[row, k].set_yticks([])
axes[0, 0].set_ylabel("full", fontsize=9)
axes[1, 0].set_ylabel("30 % NaN", fontsize=9)
fig.suptitle("Component means: full data against 30 % of the cells hidden")
fig.tight_layout()
plt.show()

# %%
# Filling in the hidden cells
# ---------------------------
# The model gives every hidden cell a probability: with ``r_nk = p(k | observed cells of row
# n)`` from :meth:`~bmm_numba.BernoulliMixture.predict_proba` (which, like ``fit``, skips NaN
# cells),
#
# .. math::
#
#     p(x_{nd} = 1 \mid \text{observed}) = \sum_k r_{nk} \, \mu_{kd}.
#
# Rounding it gives an imputation.  The baseline fills every hidden cell with the majority
# value of its column; the hidden true values are known here, so both can be scored.

print(f"{'hidden':>7s} {'mixture accuracy':>17s} {'column-majority accuracy':>25s} {'log loss (mixture)':>19s}")
for share, (hidden, X_nan, model) in fits.items():
    p_one = model.predict_proba(X_nan) @ model.means_
    truth = X[hidden]
    guess = p_one[hidden]
    column_majority = (np.nanmean(X_nan, axis=0) >= 0.5)[np.nonzero(hidden)[1]]
    log_loss = -np.mean(np.where(truth == 1, np.log(guess), np.log1p(-guess)))
    print(f"{share:>7.0%} {np.mean((guess >= 0.5) == truth):17.3f} {np.mean(column_majority == truth):25.3f} "
          f"{log_loss:19.3f}")

# %%
# Four rows of the 30 % case: the image, what the model saw (hidden cells in red), and the
# probability of ink it gives to every cell.

p_one = model.predict_proba(X_nan) @ model.means_
fig, axes = plt.subplots(3, 4, figsize=(8, 6.4))
for j, n in enumerate((0, 1, 2, 3)):
    seen = np.where(hidden[n], 0.5, X[n]).reshape(8, 8)
    axes[0, j].imshow(X[n].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    axes[1, j].imshow(seen, cmap="gray_r", vmin=0, vmax=1)
    axes[1, j].imshow(np.ma.masked_where(~hidden[n].reshape(8, 8), np.ones((8, 8))), cmap="autumn", alpha=0.8)
    axes[2, j].imshow(np.where(hidden[n], p_one[n], X[n]).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    axes[0, j].set_title(f"row {n} (digit {y[n]})", fontsize=9)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
for row, label in enumerate(("true", "observed", "filled in")):
    axes[row, 0].set_ylabel(label)
fig.tight_layout()
plt.show()

# %%
# What this shows
# ---------------
# Fitting with NaN uses every observed cell and no invented value.  The printed tables show
# how far the means move and how much of the clustering survives as the hidden share grows,
# and that the mixture fills hidden cells in more accurately than the column majority: it
# uses what the rest of the row says about which component (which kind of digit) the row
# comes from.
