"""
Choosing the number of components: BIC, ICL and entropy
=======================================================

A mixture with more components always fits its training data at least as well, so the
log-likelihood alone cannot choose K.  Information criteria add a price per parameter
(``p = K·D + K − 1``):

* AIC ``= −2 log L + 2 p``;
* BIC ``= −2 log L + p log n`` (with n = 1797 rows, log n ≈ 7.5 per parameter);
* ICL ``= BIC + 2 E``, where ``E = −Σ_n Σ_k r_nk log r_nk`` is the entropy of the soft
  assignments: ICL also penalises components that overlap.

:func:`bmm_numba.select_n_components` fits one model per K and returns all of them as
columns.  Here: scikit-learn's bundled 8 × 8 digits, binarised (1797 × 64, no download),
K = 1 … 30, one start per K (about 5 seconds in all).
"""

# %%
# Fit every K
# -----------

import time

import matplotlib.pyplot as plt
import numpy as np

from bmm_numba import BernoulliMixture, select_n_components
from bmm_numba.datasets import load_digits_binary

X, y = load_digits_binary()
start = time.perf_counter()
table = select_n_components(X, n_components=range(1, 31), random_state=0)
print(f"{len(table['K'])} fits in {time.perf_counter() - start:.1f} s on {X.shape[0]} x {X.shape[1]} digits")
print(f"{'K':>3s} {'log L':>11s} {'params':>7s} {'AIC':>10s} {'BIC':>10s} {'ICL':>10s} {'entropy':>8s} conv.")
columns = ("K", "log_likelihood", "n_parameters", "AIC", "BIC", "ICL", "entropy", "converged")
for row in zip(*(table[name] for name in columns), strict=True):
    K, log_l, p, aic, bic, icl, entropy, converged = row
    print(f"{K:3d} {log_l:11.1f} {p:7d} {aic:10.1f} {bic:10.1f} {icl:10.1f} {entropy:8.1f} {converged}")

Ks = np.array(table["K"])
best = {name: int(Ks[np.argmin(table[name])]) for name in ("AIC", "BIC", "ICL")}
print("lowest:", ", ".join(f"{name} at K={k}" for name, k in best.items()))

# %%
# The curves
# ----------
# One panel per quantity so that no curve hides another (BIC and ICL differ by only twice the
# entropy, a few hundred units on a scale of tens of thousands).  Lower is better for AIC,
# BIC and ICL; a star marks each minimum.

fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
panels = [("log_likelihood", "log-likelihood log L (higher fits better)", "tab:gray"),
          ("AIC", "AIC", "tab:green"), ("BIC", "BIC", "tab:blue"), ("ICL", "ICL", "tab:red"),
          ("entropy", "entropy E of the assignments (nats)", "tab:orange")]
for ax, (name, title, color) in zip(axes.flat, panels, strict=False):
    values = np.array(table[name])
    ax.plot(Ks, values, marker="o", markersize=4, color=color)
    if name in best:
        i = int(np.argmin(values))
        ax.plot(Ks[i], values[i], marker="*", markersize=16, color="k", label=f"minimum at K = {Ks[i]}")
        ax.legend()
    ax.set_title(title)
    ax.set_xlabel("K")
    ax.grid(True, alpha=0.3)

ax = axes.flat[5]
parts = {"-2 log L": -2 * np.array(table["log_likelihood"]),
         "BIC penalty p log n": np.array(table["n_parameters"]) * np.log(X.shape[0]),
         "ICL's extra 2E": 2 * np.array(table["entropy"])}
for (label, values), style in zip(parts.items(), ("-", "--", ":"), strict=True):
    ax.plot(Ks, values - values[0], style, marker="o", markersize=3, label=label)
ax.set_title("terms of ICL, change from K = 1")
ax.set_xlabel("K")
ax.legend(fontsize=8)
ax.grid(True, alpha=0.3)
fig.suptitle("Model selection on the 8x8 digits (one start per K)")
fig.tight_layout()
plt.show()

# %%
# How to read them
# ----------------
# ``−2 log L`` falls with every component (the first panel, upside down), and the BIC penalty
# grows in a straight line, 65 parameters × log n per component; BIC's minimum is where the
# fall no longer pays for the line.  AIC charges 2 per parameter instead of about 7.5: its lowest
# value is at K = 30, the largest K tried, so it would ask for still more components.  The
# entropy is 0 at K = 1 (every row certain) and then stays under 200 nats, far below the
# other terms, so ICL follows BIC closely and picks the same K here.  With a single start per K the curves are
# a little ragged (a poorer local optimum at one K shows as a bump); ``n_init=3`` smooths them
# at three times the cost.
#
# The model BIC chose
# -------------------

K_bic = best["BIC"]
bm = BernoulliMixture(K_bic, random_state=0).fit(X)
order = np.argsort(bm.weights_)[::-1]
cols = 10
rows = int(np.ceil(K_bic / cols))
fig, axes = plt.subplots(rows, cols, figsize=(11, 1.3 * rows + 0.6))
for ax in axes.flat:
    ax.axis("off")
for ax, k in zip(axes.flat, order, strict=False):
    ax.imshow(bm.means_[k].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"w={bm.weights_[k]:.3f}", fontsize=8)
fig.suptitle(f"The {K_bic} component means of the BIC-chosen model")
fig.tight_layout()
plt.show()
