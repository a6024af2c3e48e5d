"""Initial responsibilities for EM: ``"k-means++"``, ``"random_from_data"``, ``"random"``.

The seeding methods pick K samples as seeds and assign every sample to its nearest seed in
Hamming distance (the squared Euclidean distance of 0/1 vectors); the estimator's M-step then
turns these one-hot responsibilities into the first parameters.  With missing values the
distance counts disagreements over the cells observed in both vectors and rescales them to all
D features (as ``sklearn.metrics.pairwise.nan_euclidean_distances`` does); a pair with no cell
observed in both is at distance 0.  Sparse X is never densified: one seed row at a time is.

``"k-means++"`` is the greedy variant of scikit-learn's ``kmeans_plusplus``: each new seed is the
best of ``2 + int(log K)`` candidates drawn with probability ``w_n * D(x_n)^2``.
"""

from __future__ import annotations

import numpy as np

from ..kernels.missing import MISSING

__all__ = ["INIT_METHODS", "initial_resp", "hamming_to", "seed_row"]

#: Every ``init_params``; ``"short_em"`` (random starts, best after a few EM iterations) is
#: run by the estimator with :func:`bmm_numba.em.loop.short_em`, not by :func:`initial_resp`.
INIT_METHODS = ("short_em", "k-means++", "random", "random_from_data")

#: rows per chunk for the missing-value distance (bounds the temporaries to ~8 MB at D = 1000)
_CHUNK_ROWS = 8192


def seed_row(data, i):
    """Row ``i`` as a dense uint8 vector of codes (0, 1, MISSING)."""
    if data.kind == "sparse":
        return data.X[i].toarray().ravel().astype(np.uint8)
    return data.X[i]


def hamming_to(data, seed, row_sums=None):
    """Hamming distance of every sample to one seed row.

    Parameters
    ----------
    data : MixtureData
    seed : ndarray of shape (n_features,), uint8
        Codes 0, 1, MISSING.
    row_sums : ndarray of shape (n_samples,), optional
        Number of ones per row (fully observed and sparse data), reused across seeds.

    Returns
    -------
    dist : ndarray of shape (n_samples,), float64
    """
    if data.kind == "sparse":
        common = np.asarray(data.X @ seed.astype(np.float64)).ravel()
        return row_sums + float(seed.sum()) - 2.0 * common
    if data.kind == "dense":
        # |x| + |s| - 2 x.s, reading only the columns where the seed is 1 (a sixth on MNIST)
        ones = np.flatnonzero(seed)
        common = data.X[:, ones].sum(axis=1, dtype=np.int64)
        return (row_sums + ones.size - 2 * common).astype(np.float64)
    D = data.n_features
    seed_obs = seed != MISSING
    out = np.empty(data.n_samples)
    for start in range(0, data.n_samples, _CHUNK_ROWS):
        Xc = data.X[start : start + _CHUNK_ROWS]
        both = (Xc != MISSING) & seed_obs
        n_both = both.sum(axis=1)
        mismatches = ((Xc != seed) & both).sum(axis=1)
        out[start : start + _CHUNK_ROWS] = np.where(n_both > 0, mismatches * D / np.maximum(n_both, 1), 0.0)
    return out


def _row_sums(data):
    if data.kind == "sparse":
        return np.diff(data.X.indptr).astype(np.float64)
    if data.kind == "dense":
        return data.X.sum(axis=1, dtype=np.int64)
    return None


def _draw(rng, p_unnormalised, size):
    """Draw indices with probability proportional to ``p_unnormalised`` (cumsum + searchsorted)."""
    cum = np.cumsum(p_unnormalised)
    idx = np.searchsorted(cum, rng.uniform(size=size) * cum[-1], side="right")
    return np.minimum(idx, cum.size - 1)


def _kmeans_plusplus(data, w, n_components, rng):
    """Greedy k-means++ seeds; returns the label of the nearest seed for every sample."""
    row_sums = _row_sums(data)
    n_trials = 2 + int(np.log(n_components))
    first = int(_draw(rng, w, 1)[0])
    closest = hamming_to(data, seed_row(data, first), row_sums)
    labels = np.zeros(data.n_samples, dtype=np.intp)
    for k in range(1, n_components):
        potential = w * closest
        # all samples coincide with a seed: no distance left to sample from, fall back to w
        candidates = _draw(rng, potential if potential.sum() > 0 else w, n_trials)
        best = None
        for c in candidates:
            dist = hamming_to(data, seed_row(data, int(c)), row_sums)
            score = float(np.dot(w, np.minimum(closest, dist)))
            if best is None or score < best[0]:
                best = (score, dist)
        closer = best[1] < closest
        labels[closer] = k
        closest = np.where(closer, best[1], closest)
    return labels


def _random_from_data(data, w, n_components, rng):
    """K distinct seeds drawn with probability proportional to w; nearest-seed labels."""
    positive = np.flatnonzero(w > 0)
    seeds = rng.choice(positive, size=n_components, replace=False, p=w[positive] / w[positive].sum())
    row_sums = _row_sums(data)
    dists = np.column_stack([hamming_to(data, seed_row(data, int(s)), row_sums) for s in seeds])
    return np.argmin(dists, axis=1)


def initial_resp(data, w, n_components, method, rng):
    """Draw the initial responsibilities.

    Parameters
    ----------
    data : MixtureData
    w : ndarray of shape (n_samples,)
        Sample weights (some positive).
    n_components : int
    method : {"k-means++", "random", "random_from_data"}
    rng : numpy.random.RandomState
        From ``sklearn.utils.check_random_state``.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
        One-hot nearest-seed assignments, or (``"random"``) uniform random rows normalised to 1.
    """
    if method == "random":
        resp = rng.uniform(size=(data.n_samples, n_components))
        return resp / resp.sum(axis=1, keepdims=True)
    if method == "k-means++":
        labels = _kmeans_plusplus(data, w, n_components, rng)
    else:
        labels = _random_from_data(data, w, n_components, rng)
    resp = np.zeros((data.n_samples, n_components))
    resp[np.arange(data.n_samples), labels] = 1.0
    return resp
