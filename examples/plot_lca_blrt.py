"""
How many latent classes? BIC, SABIC and the bootstrap likelihood-ratio test
===========================================================================

A survey of 8 yes/no items answered by 400 people, simulated from 3 latent classes.  Three ways
to choose the number of classes K, side by side:

* BIC ``= −2 log L + p log N`` and SABIC ``= −2 log L + p log((N + 2) / 24)`` (the
  sample-size adjusted BIC, with a smaller price per parameter);
* the bootstrap likelihood-ratio test (BLRT) of K − 1 against K classes: the statistic
  ``T = 2 (log L_K − log L_{K−1})`` is compared with its distribution over data sets drawn from
  the fitted K − 1 class model, each refitted with K − 1 and K classes.  Choose the first K whose
  test against K + 1 is not significant (``p > 0.05``: with ``p = (1 + #{T_b ≥ T}) / (B + 1)``,
  rejecting at ``p ≤ α`` is an exact level-α test when ``α (B + 1)`` is a whole number).

:func:`bmm_numba.select_n_components` returns all of them in one table (``blrt=B`` fills
``"BLRT_p"``), then :meth:`~bmm_numba.BernoulliMixture.summary` reports the chosen model.  At
the end, the BLRT's cost against StepMix's ``blrt_sweep`` on the same data (when StepMix is
installed: ``pip install "bmm_numba[peers]"``).
"""

# %%
# A simulated survey
# ------------------

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

from bmm_numba import BernoulliMixture, select_n_components

truth = np.array([[0.9, 0.85, 0.8, 0.9, 0.15, 0.1, 0.2, 0.1],    # "engaged"
                  [0.15, 0.2, 0.85, 0.9, 0.85, 0.8, 0.15, 0.1],  # "selective"
                  [0.1, 0.15, 0.1, 0.2, 0.15, 0.85, 0.9, 0.8]])  # "detached"
rng = np.random.default_rng(1)
labels = rng.choice(3, size=400, p=[0.45, 0.35, 0.2])
X = (rng.random((400, 8)) < truth[labels]).astype(np.uint8)

# %%
# One table: information criteria and the BLRT
# ---------------------------------------------
# 19 bootstrap replicates per test keep this page quick (the smallest p-value is 1/20 = 0.05,
# so a test rejects only when no replicate reaches the observed T); use 99 or more for a
# decision that matters.

B = 19
start = time.perf_counter()
table = select_n_components(X, range(1, 6), blrt=B, n_init=5, random_state=0)
seconds_bmm = time.perf_counter() - start
print(f"K  {'log L':>9} {'BIC':>9} {'SABIC':>9} {'rel.entropy':>11} {'BLRT_p':>7}")
for K, log_l, bic, sabic, rel, p in zip(table["K"], table["log_likelihood"], table["BIC"], table["SABIC"],
                                        table["relative_entropy"], table["BLRT_p"], strict=True):
    print(f"{K}  {log_l:9.2f} {bic:9.2f} {sabic:9.2f} {rel:11.3f} {p:7.3f}")
Ks = np.array(table["K"])
p_values = np.array(table["BLRT_p"])
not_significant = [int(K) - 1 for K, p in zip(Ks[1:], p_values[1:], strict=True) if p > 0.05]
choice = {"BIC": int(Ks[np.argmin(table["BIC"])]), "SABIC": int(Ks[np.argmin(table["SABIC"])]),
          "BLRT": not_significant[0] if not_significant else int(Ks[-1])}
print("chosen:", choice, f"({seconds_bmm:.1f} s for 5 fits and {4 * B} bootstrap replicates)")

# %%
# The three criteria against K
# ----------------------------

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
for ax, name in zip(axes[:2], ("BIC", "SABIC"), strict=True):
    ax.plot(Ks, table[name], marker="o")
    ax.plot(choice[name], min(table[name]), marker="*", markersize=16, color="k",
            label=f"minimum at K = {choice[name]}")
    ax.set_title(f"{name} (lower is better)")
    ax.set_xlabel("K")
    ax.legend()
axes[2].bar(Ks[1:], p_values[1:], color="tab:purple")
axes[2].axhline(0.05, color="k", linestyle="--", label="0.05")
axes[2].set_title("BLRT p-value of K − 1 against K")
axes[2].set_xlabel("K")
axes[2].legend()
fig.tight_layout()
plt.show()

# %%
# The chosen model
# ----------------
# The report: fit statistics (G² and χ² against the observed response patterns: with 2^8 = 256
# cells and 400 rows their chi-square p-values are not computed, the table being too sparse),
# class sizes with standard errors from the observed information, the average posterior
# probability of the rows assigned to each class (avepp), the item-response probabilities, and
# the bivariate residuals (local dependence between two items shows as a value above 3.84).

best = BernoulliMixture(choice["BLRT"], n_init=5, random_state=0).fit(X)
print(best.summary(X, feature_names=[f"item{d + 1}" for d in range(8)]))

# %%
# The BLRT's cost against StepMix's
# ---------------------------------
# StepMix's ``blrt_sweep`` runs the same tests (1 vs 2, ..., 4 vs 5) with one start per refit;
# this package starts each K-class refit from the fitted parameters and from one random start
# (``refit_starts=1``, itself the best of 5 short EM runs), and runs the replicates side by side
# when the data are small.

try:
    from stepmix import StepMix
    from stepmix.bootstrap import blrt_sweep
except ImportError:
    print("StepMix is not installed: pip install 'bmm_numba[peers]' to time it here")
else:
    import contextlib
    import io

    model = StepMix(n_components=1, measurement="binary", verbose=0, progress_bar=0, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        stepmix_p = blrt_sweep(model, X.astype(float), low=1, high=5, n_repetitions=B, random_state=0,
                               verbose=False)
    seconds_stepmix = time.perf_counter() - start
    print(f"StepMix p-values: {np.round(np.asarray(stepmix_p).ravel(), 3).tolist()}")
    print(f"StepMix blrt_sweep: {seconds_stepmix:.1f} s; select_n_components(blrt={B}): {seconds_bmm:.1f} s "
          f"({seconds_stepmix / seconds_bmm:.1f}x), both including the fits to X")
