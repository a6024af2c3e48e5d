"""Whole default fits (start + EM + final E-step) as pytest benchmarks: the panels of ``bench/whole_fit.py``.

``BernoulliMixture(K, random_state=0).fit(X)`` with the package's defaults against StepMix's
default fit given the same ``n_init``, ``max_iter`` and stopping rule
(:func:`bench.timed_fits.stepmix_model`) on digits, text (the word-presence CSR of
``bench/quality.py``; StepMix gets it dense) and MNIST (``--mnist-dir`` or
``BMM_NUMBA_MNIST_DIR``; skipped without), votes, zoo and onehot (K per data set,
:data:`bench.whole_fit.DATA_K`); the split of a default fit (before / start / EM / after, in
``extra_info``); the 435 x 16 data with 5 % NaN at Numba's default thread count and at 1,
without and with busy processes on every core.  Every side makes one untimed fit first.  The
``lca`` panel (20 starts to 1e-10, StepMix taking seconds to a minute a fit) runs in the
script only; here its parts run with 2 starts.

Under ``--benchmark-disable`` (CI's smoke run) every case runs once on the first
``SMOKE_ROWS`` rows.  The script (``python -m bench.whole_fit``) records medians over seeds,
the machine and the StepMix/bmm ratios; run it for numbers to quote.
"""

import functools
import json
import math
import os

import numpy as np
import pytest

from bench import lca_fits, whole_fit
from bench.timed_fits import (
    ONEHOT_LEVELS,
    bmm_defaults,
    busy_processes,
    fit_bmm,
    fit_split,
    fit_stepmix,
    fixed_iterations,
    fixed_point_gap,
    onehot_data,
    quiet,
    stepmix_measurement,
    stepmix_model,
    tiny_data,
    zoo_data,
)
from bmm_numba import BernoulliMixture

ROUNDS = 3
SMOKE_ROWS = 300
DATA = ["digits", "text", "votes", "zoo", "onehot", pytest.param("mnist_test", marks=pytest.mark.mnist),
        pytest.param("mnist_train", marks=pytest.mark.mnist)]

load = functools.lru_cache(maxsize=None)(whole_fit.load)  # each data set read once per session


@pytest.fixture
def data(request, benchmark):
    """``(name, X)``: the whole data set when timing, its first ``SMOKE_ROWS`` rows otherwise."""
    name = request.param
    folder = request.getfixturevalue("mnist_dir") if name.startswith("mnist") else None
    X = load(name, folder)
    return name, X if benchmark.enabled else X[:SMOKE_ROWS]


def _describe(benchmark, group, name, X, **info):
    benchmark.group = f"{group}: {name} {X.shape[0]} x {X.shape[1]}, K = {whole_fit.DATA_K[name]}"
    benchmark.extra_info.update(data=name, n=X.shape[0], d=X.shape[1], **info)


@pytest.mark.parametrize("data", DATA, indirect=True)
def test_whole_fit_bmm(benchmark, data):
    name, X = data
    _describe(benchmark, "whole default fit", name, X, side="BernoulliMixture defaults", **bmm_defaults())
    K = whole_fit.DATA_K[name]
    fit_bmm(X, K, 0)  # compiles, starts the threads, touches the memory a fit allocates
    row = benchmark.pedantic(fit_bmm, args=(X, K, 0), rounds=ROUNDS, iterations=1)
    assert math.isfinite(row["log_likelihood"]) and 1 <= row["n_iter"] <= bmm_defaults()["max_iter"]
    benchmark.extra_info.update(n_iter=row["n_iter"], log_likelihood=row["log_likelihood"])


@pytest.mark.parametrize("data", DATA, indirect=True)
def test_whole_fit_stepmix(benchmark, data):
    pytest.importorskip("stepmix", reason="StepMix not installed (optional peer)")
    name, X = data
    X = whole_fit.dense(X)
    _describe(benchmark, "whole default fit", name, X, side="StepMix, same n_init, max_iter, tolerance")
    K = whole_fit.DATA_K[name]
    fit_stepmix(X[: whole_fit.WARMUP_ROWS_STEPMIX], K, 0)
    rounds = 1 if X.shape[0] > 20000 else ROUNDS  # MNIST train: ~40 s a fit on 2 cores
    row = benchmark.pedantic(fit_stepmix, args=(X, K, 0), rounds=rounds, iterations=1)
    assert math.isfinite(row["log_likelihood"]) and 1 <= row["n_iter"] <= bmm_defaults()["max_iter"]
    benchmark.extra_info.update(n_iter=row["n_iter"], log_likelihood=row["log_likelihood"])


@pytest.mark.parametrize("data", DATA, indirect=True)
def test_split(benchmark, data):
    """Time a default fit; its phases (medians over the rounds) go to ``extra_info``."""
    name, X = data
    _describe(benchmark, "split of a default fit", name, X)
    K = whole_fit.DATA_K[name]
    fit_bmm(X, K, 0)
    splits = []
    benchmark.pedantic(lambda: splits.append(fit_split(X, K, 0)), rounds=ROUNDS, iterations=1)
    for split in splits:
        parts = [split[key] for key in ("before", "start", "em", "after")]
        assert min(parts) >= 0 and sum(parts) == pytest.approx(split["seconds"], rel=1e-3)
    benchmark.extra_info.update({key: whole_fit.median(splits, key) for key in splits[0]})


@pytest.mark.parametrize("busy", [0, os.cpu_count()], ids=lambda n: f"busy{n}")
@pytest.mark.parametrize("threads", ["default", 1], ids=lambda t: f"threads-{t}")
@pytest.mark.parametrize("what", ["fit", "50 iterations"])
def test_tiny(benchmark, what, threads, busy):
    """435 x 16, 5 % NaN, K = 2: the default fit, or 50 EM iterations from fixed means (``tol=0``)."""
    import numba

    X = tiny_data()
    default = numba.get_num_threads()
    n_threads = default if threads == "default" else threads
    benchmark.group = f"tiny data 435 x 16, 5 % NaN, K = 2: {what}"
    benchmark.extra_info.update(threads=n_threads, busy=busy)
    results = []
    if what == "fit":
        def run():
            results.append(fit_split(X, 2, 0))
    else:
        def run():
            results.append({"per_iteration": fixed_iterations(X, 2, 50)})
    numba.set_num_threads(n_threads)
    try:
        with busy_processes(busy):
            run()
            results.clear()
            benchmark.pedantic(run, rounds=5 * ROUNDS, iterations=1)
    finally:
        numba.set_num_threads(default)
    benchmark.extra_info.update({key: whole_fit.median(results, key) for key in results[0]})


# ------------------------------------------------------------------------------------------------
# the script and its parts (no timing)
# ------------------------------------------------------------------------------------------------

def test_script_quick(tmp_path, monkeypatch):
    monkeypatch.setattr(lca_fits, "N_INIT", 2)  # the lca panel's parts, not its 20 starts
    argv = ["--quick", "--data", "digits,votes", "--busy", "1", "--out", str(tmp_path), "--allow-openblas-env"]
    result = quiet(whole_fit.main, argv, log=lambda row: None)
    saved = json.loads((tmp_path / "whole_fit.json").read_text())
    assert saved["command"] == "python -m bench.whole_fit " + " ".join(argv)
    assert set(saved["panels"]) == set(whole_fit.PANELS) and saved["panels"] == json.loads(json.dumps(result["panels"]))
    sides = {"bmm", "stepmix"} if result["settings"]["stepmix"] else {"bmm"}
    assert {r["side"] for r in saved["panels"]["whole"]} == sides
    bmm = [r for r in saved["panels"]["whole"] if r["side"] == "bmm"]
    assert {(r["data"], r["accelerate"]) for r in bmm} == {
        (name, a) for name in ("digits", "votes") for a in whole_fit.ACCELERATIONS}
    assert {r["K"] for r in bmm if r["data"] == "votes"} == {4} and all(math.isfinite(r["gap"]) for r in bmm)
    # the tol=0 fit follows the default fit's path (same start) and goes on: never a lower objective
    assert all(r["fp_converged"] and r["fp_lower_bound"] >= r["lower_bound"] - 1e-9 for r in bmm)
    lca = saved["panels"]["lca"]
    assert {r["data"] for r in lca} == {"gen_150x4_K3"} and {r["side"] for r in lca} == sides
    assert {r.get("accelerate") for r in lca if r["side"] == "bmm"} == set(whole_fit.ACCELERATIONS)
    assert all(math.isfinite(r["total_log_likelihood"]) for r in lca)
    assert {(r["busy"], r["threads"]) for r in saved["panels"]["tiny"]} >= {(0, 1), (1, 1)}
    assert saved["machine"]["cpu_count"] >= 1 and saved["machine"]["versions"]["numpy"]
    markdown = (tmp_path / "whole_fit.md").read_text()
    for title in ("Whole default fit", "Acceleration on the whole panel", "Slow latent-class problems",
                  "Split of a default fit", "start share", "Tiny data", "Model selection", "One EM iteration"):
        assert title in markdown
    iteration = saved["panels"]["iteration"]
    assert [r["data"] for r in iteration] == ["digits", "votes"] and all(r["bmm_per_iteration"] > 0 for r in iteration)


def test_script_refuses_openblas_core_type(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    with pytest.raises(SystemExit, match="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"):
        whole_fit.main(["--out", str(tmp_path)])
    assert not (tmp_path / "whole_fit.json").exists()


def test_stepmix_gets_the_estimators_settings():
    pytest.importorskip("stepmix", reason="StepMix not installed (optional peer)")
    model, ours = stepmix_model(3, 0), bmm_defaults()
    assert (model.n_init, model.max_iter, model.rel_tol, model.abs_tol) == (
        ours["n_init"], ours["max_iter"], ours["tol"], ours["tol"])


def test_seed_and_K_lists():
    seeds = whole_fit.Seeds("0,1,2;mnist_train=0")
    assert seeds.get("mnist_train") == [0] and seeds.get("digits") == [0, 1, 2]
    assert whole_fit.ints("2-5") == [2, 3, 4, 5] and whole_fit.ints("2,10") == [2, 10]


def test_busy_processes_end():
    with busy_processes(1, settle=0.0) as pids:
        assert len(pids) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)  # killed and reaped


def test_generated_tables():
    zoo = zoo_data()
    assert zoo.shape == (101, 15) and set(np.unique(zoo)) == {0.0, 1.0}
    X = onehot_data()
    assert X.shape == (8124, sum(ONEHOT_LEVELS)) == (8124, 116) and len(ONEHOT_LEVELS) == 22
    edges = np.cumsum((0,) + ONEHOT_LEVELS)
    missing_rows = 0
    for row in X[:500]:
        blocks = [row[low:high] for low, high in zip(edges[:-1], edges[1:], strict=True)]
        nan = [bool(np.isnan(b).all()) for b in blocks]
        assert not any(np.isnan(b).any() and not np.isnan(b).all() for b in blocks)  # a whole block or none
        assert sum(nan) <= 1 and all(b.sum() == 1 for b, gone in zip(blocks, nan, strict=True) if not gone)
        missing_rows += any(nan)
    assert 0.2 < missing_rows / 500 < 0.4
    assert stepmix_measurement(X) == "binary_nan" and stepmix_measurement(zoo) == "binary"


def test_lca_problems():
    for name in lca_fits.LCA_DATA:
        X, K = lca_fits.load_problem(name)
        assert set(np.unique(X)) <= {0.0, 1.0} and K in (3, 4)
        if name in lca_fits.GENERATED:
            n, d, k, _ = lca_fits.GENERATED[name]
            assert X.shape == (n, d) and K == k and 4 <= d <= 7 and 100 <= n <= 400
    with pytest.raises(ValueError, match="unknown lca problem"):
        lca_fits.load_problem("nope")


def test_fixed_point_gap_of_a_fit_at_its_fixed_point():
    X = tiny_data()
    model = quiet(BernoulliMixture(2, tol=0.0, max_iter=5000, accelerate="none", random_state=0).fit, X)
    gap = fixed_point_gap(model, X)
    assert model.converged_ and gap["gap_converged"] and abs(gap["gap"]) < 1e-9
    early = quiet(BernoulliMixture(2, max_iter=2, accelerate="none", random_state=0).fit, X)
    assert fixed_point_gap(early, X)["gap"] > 0  # two iterations from the start: short of the fixed point
