"""Generators of test problems, one place for the shapes the tests draw.

Two kinds: ``random_problem`` draws an E-step input ``(X, mu, pi)`` whose rows do not come from
``mu`` (any binary rows against any parameters, as the kernels must accept), and
``mixture_rows`` draws rows from a mixture, for fits that should find structure. For a seeded
mixture with its labels and parameters use the public ``bmm_numba.datasets.make_bernoulli_mixture``.
"""

import numpy as np


def random_problem(rng, n, d, k, *, density=0.3, low=0.05, high=0.95, weights="dirichlet"):
    """Draw an E-step problem.

    Parameters
    ----------
    rng : numpy.random.Generator
    n, d, k : int
        Rows, features, components.
    density : float
        Probability of a one in ``X``.
    low, high : float
        Range of the uniform means.
    weights : {"dirichlet", "uniform"}
        ``pi`` from Dirichlet(1, ..., 1) (drawn after ``mu``) or ``1 / k`` each (no draw).

    Returns
    -------
    X : ndarray of shape (n, d), uint8
    mu : ndarray of shape (k, d)
    pi : ndarray of shape (k,)
    """
    if weights not in ("dirichlet", "uniform"):
        raise ValueError(f"weights must be 'dirichlet' or 'uniform'; got {weights!r}")
    X = (rng.random((n, d)) < density).astype(np.uint8)
    mu = rng.uniform(low, high, size=(k, d))
    pi = rng.dirichlet(np.ones(k)) if weights == "dirichlet" else np.full(k, 1.0 / k)
    return X, mu, pi


def mnist_like(rng, n=3000, d=784, k=10):
    """MNIST-shaped rows (17 % ones) against means in [0.25, 0.75] and equal weights."""
    return random_problem(rng, n, d, k, density=0.17, low=0.25, high=0.75, weights="uniform")


def mixture_rows(seed=0, n=1500, d=20, k=3):
    """Rows drawn from a mixture of ``k`` uniform-random means with equal odds, shape (n, d), uint8."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.05, 0.95, (k, d))
    z = rng.integers(0, k, n)
    return (rng.random((n, d)) < mu[z]).astype(np.uint8)
