"""Each LLVM intrinsic against its plain-Python twin, in one process; the twins against NumPy.

The compiled side runs through small ``@njit`` wrappers; the same wrapper bodies run on the
twins as plain Python.  Exact equality except ``vexp_shifted`` and ``vlog`` (the compiled ones
fuse multiply-adds and use their own polynomial: a few ulp).
"""

import numba
import numpy as np
import pytest

from bmm_numba.kernels import simd_llvm, simd_python
from bmm_numba.kernels.exp import EXP_UNDERFLOW
from bmm_numba.kernels.jit import JIT_DISABLED
from bmm_numba.kernels.table import nibbles_python
from bmm_numba.kernels.table.layout import table_layout

EPS = np.finfo(float).eps


def wrappers(v, lister, jit):
    """Test wrappers over the vector module ``v`` and lister module ``lister``, decorated by ``jit``."""

    def lanewise(a, b, out):
        v.vstore(v.vadd(v.vload(a, 0), v.vload(b, 0)), out, 0)
        v.vstore(v.vdiv(v.vload(a, 0), v.vload(b, 0)), out, 8)
        v.vstore(v.vmul(v.vload(a, 0), v.vload(b, 0)), out, 16)
        v.vstore(v.vmax(v.vload(a, 0), v.vload(b, 0)), out, 24)
        v.vstore(v.vadd_load(v.vload(a, 0), b, 0), out, 32)
        v.vstore(v.vsplat(a[2]), out, 40)
        v.vstore(v.vzero(), out, 48)
        v.pstore(v.padd_load(v.pload(a, 3), b, 5), out, 56)

    def exp_log(x, top, positive, out):
        v.vstore(v.vexp_shifted(v.vload(x, 0), v.vload(top, 0)), out, 0)
        v.vstore(v.vexp_shifted(v.vload(x, 0), top[0]), out, 8)
        v.vstore(v.vlog(v.vload(positive, 0)), out, 16)

    def masked_store(src, dst, at, count):
        v.vstore_first(v.vload(src, 0), dst, at, count)

    def transpose(src, src_at, src_stride, dst, dst_at, dst_stride):
        v.vtranspose8(src, src_at, src_stride, dst, dst_at, dst_stride)

    def list_row(X, n, KP, lst):
        seen = v.vzero()
        m = 0
        for word in range(0, X.shape[1] // 8 - 7, 8):
            m, seen = lister.list_nibbles(X, n, word, KP, lst, m, seen)
        seen = lister.seen_or(seen, lister.load_u64(X, n, X.shape[1] - 8))
        return m, lister.any_above_one(seen), lister.load_u64(X, n, 3)

    return {f.__name__: jit(f) for f in (lanewise, exp_log, masked_store, transpose, list_row)}


TWIN = wrappers(simd_python, nibbles_python, lambda f: f)
if JIT_DISABLED:
    COMPILED = None
else:
    from bmm_numba.kernels.table import nibbles

    COMPILED = wrappers(simd_llvm, nibbles, numba.njit)

needs_jit = pytest.mark.skipif(JIT_DISABLED, reason="the intrinsics need the JIT")


def both(name, *args):
    """Run wrapper ``name`` compiled and as twin on copies of ``args``: ``(compiled_args, twin_args, results)``."""
    got = [np.copy(a) if isinstance(a, np.ndarray) else a for a in args]
    expected = [np.copy(a) if isinstance(a, np.ndarray) else a for a in args]
    return got, expected, (COMPILED[name](*got), TWIN[name](*expected))


@needs_jit
def test_lanewise_operations_match_twins(rng):
    a = np.concatenate([rng.normal(size=6), [-np.inf, 0.0]])
    b = np.concatenate([rng.normal(size=5), [0.0, 2.0, -0.0]])
    got, expected, _ = both("lanewise", a, b, np.full(64, -1.0))
    np.testing.assert_array_equal(got[2], expected[2])


@needs_jit
def test_exp_and_log_match_twins_to_a_few_ulp(rng):
    x = np.array([-3.0, 0.0, 2.5, -np.inf, -690.0, 1.0, -1e-300, 4.0])
    top = np.array([1.0, 1.0, 2.5, 3.0, 10.0, 1.0, 0.0, 4.5])
    positive = np.array([1.0, 2.0, np.sqrt(2), 0.5, 1e-300, 1e300, 16.0, 3.7])
    got, expected, _ = both("exp_log", x, top, positive, np.empty(24))
    np.testing.assert_allclose(got[3], expected[3], rtol=8 * EPS, atol=0)
    assert np.array_equal(got[3] == 0.0, expected[3] == 0.0)  # the same lanes underflow
    np.testing.assert_allclose(got[3][:16], np.exp(np.concatenate([x - top, x - top[0]])), rtol=8 * EPS, atol=0)


@needs_jit
@pytest.mark.parametrize("count", range(9))
def test_masked_store_matches_twin(count):
    got, expected, _ = both("masked_store", np.arange(1.0, 9.0), np.full(20, -1.0), 5, count)
    np.testing.assert_array_equal(got[1], expected[1])


@needs_jit
def test_transpose_matches_twin():
    got, expected, _ = both("transpose", np.arange(300.0), 7, 19, np.full(300, -1.0), 3, 11)
    np.testing.assert_array_equal(got[3], expected[3])


@needs_jit
@pytest.mark.parametrize("n_components", [3, 10, 17])
def test_lister_matches_twin(n_components, rng):
    X = (rng.random((4, 200)) < 0.3).astype(np.uint8)
    X[2, 190] = 2  # a value above 1 in the word read by seen_or
    KP, _ = table_layout(n_components, 200)
    for n in range(4):
        got, expected, (got_result, expected_result) = both("list_row", X, n, KP, np.full(64, -1, np.int32))
        assert got_result == expected_result
        m = got_result[0]
        np.testing.assert_array_equal(got[3][:m], expected[3][:m])
        # list_nibbles may write its 16 spare slots past the count (AVX-512's 64-byte store of the
        # compressed lanes does), never further
        assert (got[3][m + 16:] == -1).all() and (expected[3][m:] == -1).all()


def test_twins_transpose_and_masked_store_match_numpy():
    src = np.arange(300.0)
    dst = np.full(300, -1.0)
    TWIN["transpose"](src, 7, 19, dst, 3, 11)
    expected = np.full(300, -1.0)
    for r in range(8):
        expected[3 + 11 * np.arange(8) + r] = src[7 + 19 * r:7 + 19 * r + 8]
    np.testing.assert_array_equal(dst, expected)
    dst = np.full(20, -1.0)
    TWIN["masked_store"](np.arange(1.0, 9.0), dst, 5, 3)
    np.testing.assert_array_equal(dst, np.r_[np.full(5, -1.0), 1.0, 2.0, 3.0, np.full(12, -1.0)])


def test_twin_exp_flushes_below_underflow_and_matches_numpy():
    x = np.array([0.0, -1.0, -20.0, -700.0, EXP_UNDERFLOW - 1.0, -1e4, -np.inf, -0.5])
    got = simd_python.vexp_shifted(x, 0.0)
    np.testing.assert_allclose(got[:4], np.exp(x[:4]), rtol=8 * EPS, atol=0)
    assert np.all(got[4:7] == 0.0)


@needs_jit
@pytest.mark.skipif(__import__("platform").machine().lower() not in {"x86_64", "amd64"}, reason="x86 target only")
def test_avx512_path_compiles_to_vpcompressd_and_masked_stores():
    """Compile (never run) the table pass for an AVX-512 CPU: the machine running the tests may lack it."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from numba import typeof\n"
        "from bmm_numba.kernels.simd_llvm import target_has_avx512f\n"
        "from bmm_numba.kernels.table import e_step as m\n"
        "assert target_has_avx512f()\n"
        "X = np.zeros((8, 784), np.uint8)\n"
        "args = m.e_step_arguments(X, np.zeros(50176), np.zeros(16), np.empty((8, 10)))\n"
        "sig = tuple(typeof(a) for a in (0, 1, *args))\n"
        "m.table_pass.compile(sig)\n"
        "asm = m.table_pass.inspect_asm(sig)\n"
        "print(asm.count('vpcompressd'), sum('vmovupd' in line and '{%k' in line for line in asm.splitlines()))\n"
    )
    features = "+64bit,+avx,+avx2,+avx512f,+avx512bw,+avx512dq,+avx512vl,+avx512cd,+fma,+bmi,+bmi2,+popcnt,+sse4.2"
    env = {**os.environ, "BMM_NUMBA_CACHE": "0", "NUMBA_CPU_NAME": "skylake-avx512", "NUMBA_CPU_FEATURES": features}
    env.pop("BMM_NUMBA_GENERIC_SIMD", None)
    out = subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=600, capture_output=True,
                         text=True)
    compresses, masked_stores = map(int, out.stdout.split())
    assert compresses > 0 and masked_stores > 0


@pytest.mark.parametrize(("name", "features", "expected"), [
    (None, "+avx2,+avx512f", True), (None, "+avx2,-avx512f", False), ("haswell", None, False)])
def test_cpu_features_follow_numba_config(name, features, expected, monkeypatch):
    monkeypatch.setattr(numba.config, "CPU_NAME", name)
    monkeypatch.setattr(numba.config, "CPU_FEATURES", features)
    monkeypatch.setattr(simd_llvm, "GENERIC_SIMD", False)
    assert simd_llvm.target_has_avx512f() is expected
    monkeypatch.setattr(simd_llvm, "GENERIC_SIMD", True)
    assert simd_llvm.target_has_avx512f() is False
