"""The look-up-table kernel behind E_STEPS["numba"]: shapes, tails, in-kernel value check, exp."""

import numpy as np
import pytest

from bmm_numba import E_STEPS, e_step
from bmm_numba.kernels.exp import EXP_UNDERFLOW, exp_nonpositive
from bmm_numba.kernels.jit import JIT_DISABLED
from bmm_numba.kernels.table.e_step import LUT_MIN_ROWS, _build_table, lut_e_step, table_pass
from bmm_numba.kernels.validation import check_e_step_inputs

from .oracle import log_likelihood_per_row, responsibilities


def problem(rng, n, d, k, density=0.35):
    X = (rng.random((n, d)) < density).astype(np.uint8)
    mu = rng.uniform(0.02, 0.98, size=(k, d))
    pi = rng.dirichlet(np.ones(k))
    return X, mu, pi


# D covers: fewer than one word, exact words, every tail length 1..7, nibble-split tails, one and
# two whole 64-pixel chunks (listed by vector code) with and without words and bytes after them;
# K covers: one lane, a full vector, one past it, two vectors, three.
@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 23, 64, 65, 72, 100, 128, 135, 203])
@pytest.mark.parametrize("k", [1, 2, 8, 9, 16, 17])
def test_table_kernel_matches_oracle(d, k, rng):
    X, mu, pi = problem(rng, 37, d, k)
    resp, log_prob_norm = lut_e_step(X, mu, pi, return_log_norm=True)
    np.testing.assert_allclose(resp, responsibilities(X, mu, pi), rtol=0, atol=1e-12)
    np.testing.assert_allclose(log_prob_norm, log_likelihood_per_row(X, mu, pi), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 784, 10), (5, 1, 3), (3, 9, 1)])
def test_table_kernel_on_single_row_column_component(shape, rng):
    X, mu, pi = problem(rng, *shape)
    np.testing.assert_allclose(lut_e_step(X, mu, pi), responsibilities(X, mu, pi), rtol=0, atol=1e-12)


def test_registry_entry_uses_table_from_lut_min_rows_and_agrees_below(rng):
    for n in (1, LUT_MIN_ROWS - 1, LUT_MIN_ROWS, 3 * LUT_MIN_ROWS + 5):
        X, mu, pi = problem(rng, n, 50, 4)
        np.testing.assert_allclose(E_STEPS["numba"](X, mu, pi), responsibilities(X, mu, pi), rtol=0, atol=1e-12)


def test_all_zero_and_all_one_rows(rng):
    X = np.zeros((80, 30), dtype=np.uint8)
    X[1::2] = 1
    _, mu, pi = problem(rng, 1, 30, 5)
    np.testing.assert_allclose(lut_e_step(X, mu, pi), responsibilities(X, mu, pi), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [3, LUT_MIN_ROWS, 700])
@pytest.mark.parametrize("position", ["first", "middle_word", "tail", "last"])
@pytest.mark.parametrize("value", [2, 3, 128, 255])
def test_uint8_values_other_than_0_1_are_caught_in_the_scan(n, position, value, rng):
    X, mu, pi = problem(rng, n, 29, 3)  # 29 = 3 words + a 5-byte tail
    row, col = {"first": (0, 0), "middle_word": (n // 2, 10), "tail": (n - 1, 26), "last": (n - 1, 28)}[position]
    X[row, col] = value
    before = X.copy()
    for f in (E_STEPS["numba"], e_step):
        with pytest.raises(ValueError, match="X must contain only 0 and 1"):
            f(X, mu, pi)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("col", [0, 63, 64, 130, 191, 192, 199, 200, 202])
def test_values_other_than_0_1_are_caught_in_vector_chunks_words_and_tail(col, rng):
    X, mu, pi = problem(rng, 300, 203, 3)  # 203 = three 64-pixel chunks, one word, a 3-byte tail
    X[137, col] = 2
    with pytest.raises(ValueError, match="X must contain only 0 and 1"):
        E_STEPS["numba"](X, mu, pi)


@pytest.mark.skipif(JIT_DISABLED, reason="compile-time choice of code path")
def test_generic_simd_path_gives_identical_results(rng, tmp_path):
    """The lane-by-lane packing (no AVX-512) lists the same offsets in the same order."""
    import os
    import subprocess
    import sys

    X, mu, pi = problem(rng, 700, 203, 11, density=0.2)
    np.savez(tmp_path / "p.npz", X=X, mu=mu, pi=pi)
    script = (
        "import sys, numpy as np\n"
        "from bmm_numba.kernels.table.e_step import lut_e_step\n"
        "d = np.load(sys.argv[1])\n"
        "g, l = lut_e_step(d['X'], d['mu'], d['pi'], return_log_norm=True)\n"
        "np.savez(sys.argv[2], g=g, l=l)\n"
    )
    env = {**os.environ, "BMM_NUMBA_GENERIC_SIMD": "1", "BMM_NUMBA_CACHE": "0"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "p.npz"), str(tmp_path / "out.npz")],
                   check=True, env=env, timeout=600)
    generic = np.load(tmp_path / "out.npz")
    resp, log_prob_norm = lut_e_step(X, mu, pi, return_log_norm=True)
    np.testing.assert_array_equal(generic["g"], resp)
    np.testing.assert_array_equal(generic["l"], log_prob_norm)
    np.testing.assert_allclose(resp, responsibilities(X, mu, pi), rtol=0, atol=1e-12)


def test_pi_zero_component_and_sharp_parameters(rng):
    X, _, _ = problem(rng, 200, 784, 6)
    mu = np.where(rng.random((6, 784)) < 0.3, 1 - 1e-9, 1e-9)
    pi = np.array([0.3, 0.0, 0.2, 0.2, 0.1, 0.2])
    got = lut_e_step(X, mu, pi)
    assert np.all(np.isfinite(got))
    assert np.all(got[:, 1] == 0.0)
    np.testing.assert_allclose(got, responsibilities(X, mu, pi), rtol=0, atol=1e-9)


def test_serial_build_equals_parallel_build(rng):
    X, mu, pi = check_e_step_inputs(*problem(rng, 3000, 784, 10, density=0.15))
    serial = lut_e_step(X, mu, pi, parallel=False, return_log_norm=True)
    parallel = lut_e_step(X, mu, pi, parallel=True, return_log_norm=True)
    np.testing.assert_array_equal(serial[0], parallel[0])
    np.testing.assert_array_equal(serial[1], parallel[1])


@pytest.mark.skipif(JIT_DISABLED, reason="no dispatchers without the JIT")
def test_table_kernel_has_one_specialisation(rng):
    X, mu, pi = problem(rng, 2000, 784, 3)
    for Xv in (X, X.astype(bool), X.astype(np.float32), np.asfortranarray(X), X.tolist()):
        E_STEPS["numba"](Xv, mu.astype(np.float32), pi)
    assert len(table_pass.signatures) == 1, table_pass.signatures
    assert len(_build_table.signatures) == 1, _build_table.signatures


def test_exp_nonpositive_matches_numpy_to_a_few_ulp():
    import numba

    @numba.njit
    def apply(x, out):
        for i in range(x.size):
            out[i] = exp_nonpositive(x[i])

    x = np.concatenate([-np.logspace(-15, np.log10(-EXP_UNDERFLOW), 20001), np.linspace(EXP_UNDERFLOW, 0, 20001),
                        [0.0, -0.0, -5e-324]])
    got = np.empty_like(x)
    apply(x, got)
    expected = np.exp(x)
    np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(float).eps, atol=0)
    below = np.array([EXP_UNDERFLOW - 1e-9, -745.2, -1e4, -np.inf])
    got_below = np.empty_like(below)
    apply(below, got_below)
    assert np.all(got_below == 0.0)


def test_transpose_and_vector_shift():
    import numba

    from bmm_numba.kernels.simd import vdiv, vexp_shifted, vload, vmul, vstore, vtranspose8

    @numba.njit
    def transpose(src, src_at, src_stride, dst, dst_at, dst_stride):
        vtranspose8(src, src_at, src_stride, dst, dst_at, dst_stride)

    @numba.njit
    def shifted(x, top, out):
        vstore(vexp_shifted(vload(x, 0), vload(top, 0)), out, 0)
        vstore(vdiv(vload(x, 0), vload(top, 0)), out, 8)
        vstore(vmul(vload(x, 0), vload(top, 0)), out, 16)

    src = np.arange(300.0)
    dst = np.full(300, -1.0)
    transpose(src, 7, 19, dst, 3, 11)  # strided rows in, strided columns out
    expected = np.full(300, -1.0)
    for r in range(8):
        for k in range(8):
            expected[3 + 11 * k + r] = src[7 + 19 * r + k]
    np.testing.assert_array_equal(dst, expected)  # and nothing else written
    x = np.array([-3.0, 0.0, 2.5, -np.inf, -690.0, 1.0, -1e-300, 4.0])  # x - top >= -708: no flush to 0
    top = np.array([0.0, 1.0, 2.5, 3.0, 10.0, 1.0, 0.0, 4.5])
    out = np.empty(24)
    shifted(x, top, out)
    np.testing.assert_allclose(out[:8], np.exp(x - top), rtol=8 * np.finfo(float).eps, atol=0)
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(out[8:16], x / top)  # IEEE division, -1e-300 / 0 included
    np.testing.assert_array_equal(out[16:], x * top)


@pytest.mark.parametrize("count", range(9))
def test_masked_store_writes_only_its_lanes(count):
    import numba

    from bmm_numba.kernels.simd import vload, vstore_first

    @numba.njit
    def store(src, dst, at, count):
        vstore_first(vload(src, 0), dst, at, count)

    dst = np.full(20, -1.0)
    store(np.arange(1.0, 9.0), dst, 5, count)
    expected = np.full(20, -1.0)
    expected[5:5 + count] = np.arange(1.0, 1.0 + count)
    np.testing.assert_array_equal(dst, expected)


def test_vector_exp_max_and_splat():
    import numba

    from bmm_numba.kernels.simd import vexp_shifted, vload, vmax, vsplat, vstore

    @numba.njit
    def exp_all(x, top, out):
        for i in range(0, x.size, 8):
            vstore(vexp_shifted(vload(x, i), top), out, i)

    @numba.njit
    def max_and_splat(x, out):
        vstore(vmax(vload(x, 0), vload(x, 8)), out, 0)
        vstore(vsplat(x[2]), out, 8)

    x = np.concatenate([-np.logspace(-15, np.log10(-EXP_UNDERFLOW), 4000), np.linspace(EXP_UNDERFLOW, 0, 3997),
                        [0.0, -0.0, -5e-324]])
    got = np.empty_like(x)
    exp_all(x + 2.5, 2.5, got)  # shifted by top = 2.5
    np.testing.assert_allclose(got, np.exp(x), rtol=8 * np.finfo(float).eps, atol=0)
    below = np.array([EXP_UNDERFLOW - 1.0, -745.2, -1e4, -np.inf, -800.0, -709.0, -1e300, -np.inf])
    got_below = np.empty(8)
    exp_all(below, 0.0, got_below)
    assert np.all(got_below == 0.0)
    y = np.array([3.0, -1.0, 7.5, 2.0, -np.inf, 0.0, 1.0, 4.0, 9.0, -2.0, 0.5, 8.0, 1.0, 1.0, 1.0, 1.0])
    out = np.empty(16)
    max_and_splat(y, out)
    np.testing.assert_array_equal(out[:8], np.maximum(y[:8], y[8:]))  # the -inf lane included
    np.testing.assert_array_equal(out[8:], np.full(8, 7.5))


def test_vector_log_matches_numpy_to_one_ulp():
    import numba

    from bmm_numba.kernels.simd import vload, vlog, vstore

    @numba.njit
    def log_all(x, out):
        for i in range(0, x.size, 8):
            vstore(vlog(vload(x, i)), out, i)

    rng = np.random.default_rng(0)
    special = [1.0, 2.0, np.sqrt(2), np.nextafter(np.sqrt(2), 0), 0.5, 1e-300, 1e300, 16.0]
    x = np.concatenate([rng.uniform(1, 16, 4000), np.exp(rng.uniform(-700, 700, 4000)), special])
    got = np.empty_like(x)
    log_all(x, got)
    expected = np.log(x)
    assert np.all(np.abs(got - expected) <= np.spacing(np.abs(expected)))
    assert got[-len(special)] == 0.0  # log(1) exactly


@pytest.mark.parametrize("error", ["TypingError", "LoweringError"])
def test_compile_error_falls_back_to_numba_ones_with_one_warning(error, rng, monkeypatch):
    from numba.core import errors

    from bmm_numba.kernels.table import e_step as table_module
    from bmm_numba.kernels.table import em_pass

    def broken(*args):
        raise getattr(errors, error)("no such instruction on this target")

    monkeypatch.setattr(table_module, "table_pass", broken)
    monkeypatch.setattr(table_module, "_unavailable", None)
    monkeypatch.setattr(table_module, "_warned", False)
    X, mu, pi = check_e_step_inputs(*problem(rng, 500, 50, 4))
    with pytest.warns(RuntimeWarning, match="table kernel cannot run on this target"):
        got = e_step(X, mu, pi)  # kernel="auto"
    assert not table_module.table_kernel_available()
    np.testing.assert_allclose(got, responsibilities(X, mu, pi), rtol=0, atol=1e-12)
    # no second warning (filterwarnings = error would raise it), and the fused pass falls back too
    np.testing.assert_array_equal(E_STEPS["numba"](X, mu, pi), E_STEPS["numba_ones"](X, mu, pi))
    w = rng.uniform(0, 2, size=500)
    nk, S, log_prob_norm = em_pass.lut_em_pass(X, mu, pi, w)
    expected_rw = responsibilities(X, mu, pi) * w[:, None]
    np.testing.assert_allclose(nk, expected_rw.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(S, expected_rw.T @ X, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(log_prob_norm, log_likelihood_per_row(X, mu, pi), rtol=1e-12)
    np.testing.assert_allclose(em_pass.lut_stats(X, expected_rw)[1], expected_rw.T @ X, rtol=1e-12, atol=1e-11)
    assert table_module.build_row_index(X, 4) is None
    X[3, 7] = 2
    for f in (lambda: em_pass.lut_em_pass(X, mu, pi), lambda: E_STEPS["numba"](X, mu, pi)):
        with pytest.raises(ValueError, match="only 0 and 1"):
            f()


def test_runtime_errors_are_not_taken_for_compile_errors(rng):
    from bmm_numba.kernels.table import e_step as table_module

    X, mu, pi = check_e_step_inputs(*problem(rng, 500, 50, 4))
    X[0, 0] = 5
    with pytest.raises(ValueError, match="only 0 and 1"):
        E_STEPS["numba"](X, mu, pi)
    assert table_module.table_kernel_available()
