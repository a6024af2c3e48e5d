"""Generated Bernoulli mixtures, for examples, tests and benchmarks.

Part of :mod:`bmm_numba.datasets`, which re-exports the public names.
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_bernoulli_mixture"]


def make_bernoulli_mixture(n_samples, n_features, n_components, *, density=0.17, sharpness=0.8,
                           random_state=None):
    """Draw binary data from a random Bernoulli mixture.

    Parameters
    ----------
    n_samples, n_features, n_components : int
        Shape of the data and number of mixture components.
    density : float, default=0.17
        Expected fraction of ones (MNIST binarised at 128 has about 0.13-0.17).
    sharpness : float in [0, 1), default=0.8
        How far the component means spread around ``density``: 0 gives identical components;
        near 1 gives means close to 0 or 1 (well-separated clusters).
    random_state : int or numpy.random.Generator, optional
        Seed.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), uint8
    labels : ndarray of shape (n_samples,), int64
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    """
    if not 0.0 < density < 1.0:
        raise ValueError(f"density must be in (0, 1); got {density}")
    if not 0.0 <= sharpness < 1.0:
        raise ValueError(f"sharpness must be in [0, 1); got {sharpness}")
    rng = np.random.default_rng(random_state)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    # Beta with mean `density`; concentration falls as sharpness rises (more extreme means).
    concentration = 2.0 / max(sharpness, 1e-3) - 1.0
    means = rng.beta(density * concentration, (1 - density) * concentration, size=(n_components, n_features))
    means = np.clip(means, 1e-3, 1 - 1e-3)
    labels = rng.choice(n_components, size=n_samples, p=weights)
    X = (rng.random((n_samples, n_features)) < means[labels]).astype(np.uint8)
    return X, labels, weights, means
