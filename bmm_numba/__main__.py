"""``python -m bmm_numba``: the article's comparison on generated MNIST-shaped data (no files needed)."""

import numpy as np

from .compare import compare_kernels, format_comparison
from .datasets import make_bernoulli_mixture


def main():
    """Compare every registry kernel on generated data, n = 5 ... 1000, D = 784, K = 10."""
    X, _, _, _ = make_bernoulli_mixture(1000, 784, 10, density=0.13, random_state=0)
    rng = np.random.default_rng(0)
    mu = rng.uniform(0.25, 0.75, size=(10, 784))
    pi = np.full(10, 0.1)
    print("bmm_numba: E-step kernels on generated binary data (1000 x 784, K=10, mu ~ U(0.25, 0.75))")
    print("median of 5 calls after a warm-up call (which compiles the Numba kernels)\n")
    print(format_comparison(compare_kernels(X, mu, pi, repeats=5, time_budget=1.5)))


if __name__ == "__main__":
    main()
