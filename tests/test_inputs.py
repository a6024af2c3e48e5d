"""Input contract shared by every kernel: accepted forms, clear errors, no mutation."""

import numpy as np
import pytest

from bmm_numba import E_STEPS, PI_SUM_ATOL, e_step
from bmm_numba.kernels.e_step_numba import COMPILED_KERNELS
from bmm_numba.kernels.jit import JIT_DISABLED

ALL_KERNELS = list(E_STEPS)


@pytest.fixture
def problem(rng):
    X = (rng.random((9, 12)) < 0.4).astype(np.uint8)
    mu = rng.uniform(0.1, 0.9, size=(3, 12))
    pi = np.array([0.2, 0.3, 0.5])
    return X, mu, pi


def x_variants(X):
    """The same 0/1 data in every form a caller may pass."""
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=np.float32)
    wide[:, ::2] = X
    readonly = X.astype(np.int16)
    readonly.flags.writeable = False
    return {
        "uint8": X,
        "bool": X.astype(bool),
        "int8": X.astype(np.int8),
        "int64": X.astype(np.int64),
        "uint16": X.astype(np.uint16),
        "float32": X.astype(np.float32),
        "float64": X.astype(np.float64),
        "fortran": np.asfortranarray(X.astype(np.float64)),
        "readonly": readonly,
        "readonly_uint8": np.frombuffer(X.tobytes(), dtype=np.uint8).reshape(X.shape),
        "strided_view": wide[:, ::2],
        "transposed_view": np.ascontiguousarray(X.T).T,
        "nested_list": X.tolist(),
    }


@pytest.mark.parametrize("kernel", ALL_KERNELS)
def test_every_input_form_gives_the_same_result(kernel, problem):
    X, mu, pi = problem
    expected = E_STEPS[kernel](X, mu, pi)
    for form, Xv in x_variants(X).items():
        got = E_STEPS[kernel](Xv, mu, pi)
        np.testing.assert_array_equal(got, expected, err_msg=form)
    # parameters as lists, float32, Fortran order
    np.testing.assert_allclose(E_STEPS[kernel](X, mu.tolist(), pi.tolist()), expected, rtol=0, atol=0)
    np.testing.assert_allclose(E_STEPS[kernel](X, np.asfortranarray(mu), pi), expected, rtol=0, atol=0)
    got32 = E_STEPS[kernel](X, mu.astype(np.float32), pi.astype(np.float32))
    np.testing.assert_allclose(got32, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kernel", ALL_KERNELS)
def test_inputs_are_never_mutated(kernel, problem):
    X, mu, pi = problem
    for form, Xv in x_variants(X).items():
        X_before = np.array(Xv, copy=True)
        mu_in, pi_in = mu.copy(), pi.copy()
        E_STEPS[kernel](Xv, mu_in, pi_in)
        np.testing.assert_array_equal(np.asarray(Xv), X_before, err_msg=form)
        np.testing.assert_array_equal(mu_in, mu)
        np.testing.assert_array_equal(pi_in, pi)


@pytest.mark.skipif(JIT_DISABLED, reason="no dispatchers without the JIT")
def test_each_compiled_kernel_has_one_specialisation(problem, rng):
    X, mu, pi = problem
    # a problem big enough for the parallel build (PARALLEL_MIN_WORK) and the small one (serial)
    big_X = (rng.random((600, 784)) < 0.2).astype(np.uint8)
    big_mu = rng.uniform(0.1, 0.9, size=(3, 784))
    for kernel in COMPILED_KERNELS:
        for X_, mu_ in ((X, mu), (big_X, big_mu)):
            for Xv in x_variants(X_).values():
                E_STEPS[kernel](Xv, mu_.astype(np.float32), pi)
                E_STEPS[kernel](Xv, np.asfortranarray(mu_), pi.tolist())
    for kernel, spec in COMPILED_KERNELS.items():
        for build in spec.builds:
            assert len(build.signatures) == 1, (kernel, build.signatures)


def _bad_inputs(X, mu, pi):
    """(description, X, mu, pi, exception type, regex the message must match)."""
    Xf = X.astype(float)
    X_nan, X_inf, X_two, X_neg = Xf.copy(), Xf.copy(), X.astype(int), X.astype(int)
    X_nan[0, 0], X_inf[1, 1], X_two[2, 2], X_neg[0, 1] = np.nan, np.inf, 2, -1
    X_half = Xf.copy()
    X_half[3, 3] = 0.5
    mu_zero, mu_one, mu_nan = mu.copy(), mu.copy(), mu.copy()
    mu_zero[0, 0], mu_one[1, 1], mu_nan[2, 2] = 0.0, 1.0, np.nan
    return [
        ("X 1-D", X[0], mu, pi, ValueError, r"X must be 2-D"),
        ("X 3-D", X[None], mu, pi, ValueError, r"X must be 2-D"),
        ("X no rows", X[:0], mu, pi, ValueError, r"X is empty"),
        ("X no columns", X[:, :0], mu[:, :0], pi, ValueError, r"X is empty"),
        ("X NaN", X_nan, mu, pi, ValueError, r"X must contain only 0 and 1"),
        ("X inf", X_inf, mu, pi, ValueError, r"X must contain only 0 and 1"),
        ("X 2", X_two, mu, pi, ValueError, r"X must contain only 0 and 1"),
        ("X -1", X_neg, mu, pi, ValueError, r"X must contain only 0 and 1"),
        ("X 0.5", X_half, mu, pi, ValueError, r"X must contain only 0 and 1"),
        ("X strings", X.astype(str), mu, pi, TypeError, r"X must hold numbers"),
        ("X objects", X.astype(object), mu, pi, TypeError, r"X must hold numbers"),
        ("X complex", X.astype(complex), mu, pi, TypeError, r"X must hold numbers"),
        ("X ragged", [[0, 1], [1]], mu, pi, ValueError, r"X could not be converted"),
        ("D mismatch", X, mu[:, :-1], pi, ValueError, r"mu has 11 features .* X has 12"),
        ("mu 1-D", X, mu[0], pi, ValueError, r"mu must be 2-D"),
        ("mu no rows", X, mu[:0], pi[:0], ValueError, r"mu is empty"),
        ("mu 0", X, mu_zero, pi, ValueError, r"mu must lie in the open interval \(0, 1\)"),
        ("mu 1", X, mu_one, pi, ValueError, r"mu must lie in the open interval \(0, 1\)"),
        ("mu NaN", X, mu_nan, pi, ValueError, r"mu must lie in the open interval .*1 NaN"),
        ("mu strings", X, mu.astype(str), pi, TypeError, r"mu must be a real-valued array"),
        ("K mismatch", X, mu, pi[:2] / pi[:2].sum(), ValueError, r"pi has 2 entries but mu has 3"),
        ("pi 2-D", X, mu, pi[None], ValueError, r"pi must be 1-D"),
        ("pi negative", X, mu, np.array([-0.1, 0.6, 0.5]), ValueError, r"pi must be finite and non-negative"),
        ("pi NaN", X, mu, np.array([np.nan, 0.5, 0.5]), ValueError, r"pi must be finite and non-negative"),
        ("pi sum", X, mu, pi * 2, ValueError, r"pi must sum to 1 \(tolerance 1e-06\)"),
        ("pi slightly off", X, mu, pi + 10 * PI_SUM_ATOL, ValueError, r"pi must sum to 1"),
        ("pi strings", X, mu, pi.astype(str), TypeError, r"pi must be a real-valued array"),
    ]


_RNG = np.random.default_rng(7)
BAD_INPUTS = _bad_inputs(
    (_RNG.random((9, 12)) < 0.4).astype(np.uint8), _RNG.uniform(0.1, 0.9, size=(3, 12)), np.array([0.2, 0.3, 0.5])
)


@pytest.mark.parametrize("kernel", [*ALL_KERNELS, "e_step"])
@pytest.mark.parametrize("bad", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_raises_clear_error_naming_the_argument(kernel, bad):
    f = e_step if kernel == "e_step" else E_STEPS[kernel]
    _, X, mu, pi, exc, pattern = bad
    with pytest.raises(exc, match=pattern):
        f(X, mu, pi)


def test_sparse_X_is_refused_with_a_type_error(problem):
    sparse = pytest.importorskip("scipy.sparse")
    X, mu, pi = problem
    with pytest.raises(TypeError, match="X: sparse matrices are not accepted"):
        e_step(sparse.csr_matrix(X), mu, pi)


def test_pi_within_tolerance_is_accepted(problem):
    X, mu, pi = problem
    got = e_step(X, mu, pi + PI_SUM_ATOL / 10)
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("kernel, exc", [("fastest", ValueError), ("NUMBA", ValueError), (3, TypeError)])
def test_unknown_kernel_is_refused(kernel, exc, problem):
    with pytest.raises(exc, match="kernel"):
        e_step(*problem, kernel=kernel)
