"""bmm_numba.cli.compare: the timing table, the underflow check, thread handling, CSV."""

import csv
import io

import numba
import numpy as np
import pytest

from bmm_numba import E_STEPS, TEACHING_KERNELS
from bmm_numba.cli.compare import (
    RECORD_FIELDS,
    algorithm_switches,
    compare_kernels,
    format_comparison,
    numba_threads,
    records_to_csv,
    underflow_check,
)


@pytest.fixture
def article_like(rng):
    """(X, mu, pi): 40 MNIST-shaped binary rows, K=3, mu ~ U(0.25, 0.75)."""
    X = (rng.random((40, 784)) < 0.13).astype(np.uint8)
    return X, rng.uniform(0.25, 0.75, size=(3, 784)), np.full(3, 1 / 3)


def test_compare_kernels_records_every_kernel_and_size(article_like):
    records = compare_kernels(*article_like, sizes=(5, 10), repeats=1)
    assert [(r["kernel"], r["n"]) for r in records] == [(k, n) for k in E_STEPS for n in (5, 10)]
    for r in records:
        assert set(r) == set(RECORD_FIELDS)
        assert r["seconds"] > 0
        assert r["nan"] is False
        assert r["max_abs_diff"] < 1e-9


def test_compare_kernels_skips_past_the_time_budget(article_like):
    records = compare_kernels(*article_like, sizes=(5, 10, 20), kernels=["python_loops", "numba"],
                              repeats=1, time_budget=0.0)
    by_kernel = {k: [r["seconds"] for r in records if r["kernel"] == k] for k in ("python_loops", "numba")}
    for seconds in by_kernel.values():  # the first n always runs; every later n is predicted over 0 s
        assert seconds[0] is not None and seconds[1:] == [None, None]
    text = format_comparison(records, time_budget=0.0)
    assert "skipped past the 0 s time budget" in text
    assert "python_loops from n=10" in text and "numba from n=10" in text


@pytest.mark.parametrize("kwargs, match", [
    ({"kernels": ["nope"]}, "unknown kernels"),
    ({"sizes": (5, 41)}, "sizes must be between 1 and 40"),
    ({"repeats": 0}, "repeats must be at least 1"),
])
def test_compare_kernels_rejects(article_like, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare_kernels(*article_like, **kwargs)


def test_threads_option_is_restored(article_like):
    before = numba.get_num_threads()
    compare_kernels(*article_like, sizes=(5,), kernels=["numba"], repeats=1, threads=1)
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError), numba_threads(1):
        assert numba.get_num_threads() == 1
        raise RuntimeError("restored on error too")
    assert numba.get_num_threads() == before


def test_numba_threads_rejects_out_of_range():
    with pytest.raises(ValueError, match="threads must be between 1 and"):
        with numba_threads(numba.config.NUMBA_NUM_THREADS + 1):
            pass


def test_underflow_check_marks_the_teaching_kernels(rng):
    X = (rng.random((60, 784)) < 0.13).astype(np.uint8)
    records = underflow_check(X, n_components=4, n_rows=20)
    by_kernel = {r["kernel"]: r for r in records}
    assert list(by_kernel) == list(E_STEPS)
    for kernel, r in by_kernel.items():
        if kernel in TEACHING_KERNELS:
            assert r["nan_rows"] == 20  # probability space: 0/0 on every row
        else:
            assert r["nan_rows"] == 0 and r["max_abs_diff"] < 1e-9
    text = format_comparison(compare_kernels(X, rng.uniform(0.25, 0.75, (4, 784)), np.full(4, 0.25),
                                             sizes=(5,), repeats=1), underflow=records)
    assert "python_loops  NaN in 20 of 20 rows: underflows (teaching)" in text
    assert "numba         finite" in text


def test_format_comparison_speedups(article_like):
    text = format_comparison(compare_kernels(*article_like, sizes=(5,), repeats=1))
    assert "speed-up against python_loops" in text and "speed-up against numpy" in text
    assert "python_loops" in text and "(teaching)" in text and "no NaN" in text


def test_records_to_csv_round_trip(article_like):
    records = compare_kernels(*article_like, sizes=(5, 10), kernels=["numpy"], repeats=1, time_budget=0.0)
    rows = list(csv.DictReader(io.StringIO(records_to_csv(records))))
    assert [r["kernel"] for r in rows] == ["numpy", "numpy"]
    assert float(rows[0]["seconds"]) > 0 and rows[1]["seconds"] == ""  # skipped: empty cell


# ---------------------------------------------------------------------------------------------
# --threads caps BLAS too; unreliable timings are flagged
# ---------------------------------------------------------------------------------------------

def _blas_threads():
    from threadpoolctl import threadpool_info

    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_thread_limits_caps_blas_and_restores_it():
    from bmm_numba.cli.compare import thread_limits

    before, numba_before = _blas_threads(), numba.get_num_threads()
    with thread_limits(1):
        assert numba.get_num_threads() == 1
        assert _blas_threads() <= {1}
    assert _blas_threads() == before and numba.get_num_threads() == numba_before


def _record(kernel, n, seconds, spread=1.0):
    return {"kernel": kernel, "n": n, "seconds": seconds, "spread": spread, "max_abs_diff": 0.0, "nan": False,
            "warning": None}


def test_flag_unreliable_keeps_a_jump_where_the_kernel_switches_algorithm():
    """``numba`` builds its table from LUT_MIN_ROWS rows: a fixed cost, not a busy machine."""
    from bmm_numba.cli.compare import flag_unreliable
    from bmm_numba.kernels.table import LUT_MIN_ROWS

    below, above = LUT_MIN_ROWS // 2, LUT_MIN_ROWS * 5
    records = [_record("numba", below, 50e-6), _record("numba", above, 5e-3),        # 100x for 10x: the table
               _record("numba", above * 2, 60e-3),                                    # 12x for 2x: flagged
               _record("numba_log", below, 50e-6), _record("numba_log", above, 5e-3)]  # no switch: flagged
    flag_unreliable(records)
    warnings = {(r["kernel"], r["n"]): r["warning"] for r in records}
    assert warnings[("numba", above)] is None
    assert "12x the time" in warnings[("numba", above * 2)]
    assert "100x the time" in warnings[("numba_log", above)]
    falls = flag_unreliable([_record("numba", below, 80e-6), _record("numba", LUT_MIN_ROWS, 40e-6),  # the table
                             _record("numba_log", below, 80e-6), _record("numba_log", LUT_MIN_ROWS, 40e-6)])
    assert [r["warning"] is None for r in falls] == [True, True, True, False]
    assert algorithm_switches(falls) == [("numba", LUT_MIN_ROWS)]
    assert algorithm_switches(falls[1:]) == []  # the timed sizes do not straddle it


def test_flag_unreliable_spread_fall_and_jump():
    from bmm_numba.cli.compare import flag_unreliable

    records = [_record("numpy", 50, 1e-4), _record("numpy", 100, 24e-3),     # 240x the time for 2x the rows
               _record("numpy", 1000, 24e-3, spread=3.0),                    # flat, repeats spread 3x
               _record("numba_log", 100, 80e-6), _record("numba_log", 200, 40e-6),  # falls as n grows
               _record("numba_ones", 5, 20e-6, spread=1.9),                  # 1.9x of 20 us: timer noise, kept
               _record("numba_ones", 10, 21e-6)]
    flag_unreliable(flag_unreliable(records))  # twice (per kernel, then over all): the same warnings
    warnings = {(r["kernel"], r["n"]): r["warning"] for r in records}
    assert warnings[("numpy", 50)] is None
    assert "240x the time at n=50 for 2x the rows" in warnings[("numpy", 100)]
    assert warnings[("numpy", 1000)] == "repeats spread 3x"
    assert "faster than at n=100" in warnings[("numba_log", 200)]
    assert warnings[("numba_ones", 5)] is None and warnings[("numba_ones", 10)] is None
    text = format_comparison(records)
    assert "24 ms!" in text and "! unreliable (3 of 7 timings" in text
    assert "numba_log n=200: faster than at n=100" in text
    rows = list(csv.DictReader(io.StringIO(records_to_csv(records))))
    assert rows[2]["warning"] == "repeats spread 3x" and rows[0]["warning"] == "" and rows[2]["spread"] == "3.0"


def test_headline_takes_the_largest_reliable_n():
    from bmm_numba.cli.compare import flag_unreliable, headline

    records = [_record("numpy", 100, 1e-3), _record("numba", 100, 1e-4),
               _record("numpy", 200, 2e-3), _record("numba", 200, 5e-5, spread=4.0),  # flagged: spread 4x
               _record("numpy", 500, 5e-3), _record("numba", 500, 2e-4)]
    flag_unreliable(records)
    line = headline(records)
    assert "25x the speed at n=500" in line
    records[-1]["warning"] = "busy"  # the largest n flagged: falls back to n=100, never to the flagged n=200
    assert "10x the speed at n=100" in headline(records)
    for r in records:
        r["warning"] = "busy"
    assert "no reliable pair" in headline(records)
    assert headline([_record("numba", 5, 1e-4)]) is None
    assert line in format_comparison([dict(r, warning=None) for r in records[4:]])


def test_retime_unreliable_keeps_the_less_flagged_timing():
    from bmm_numba.cli.compare import flag_unreliable, retime_unreliable

    busy = flag_unreliable([_record("numpy", 100, 1e-4), _record("numpy", 200, 3e-2)])  # 300x for 2x: flagged
    smooth = [_record("numpy", 100, 1e-4), _record("numpy", 200, 2e-4)]
    calls = []

    def retime(result):
        def run():
            calls.append(1)
            return [dict(r) for r in result]
        return run

    kept, again = retime_unreliable(busy, "numpy", retime(smooth))
    assert again and [r["seconds"] for r in kept] == [1e-4, 2e-4] and all(r["warning"] is None for r in kept)
    kept, again = retime_unreliable(busy, "numpy", retime(busy))  # no better: the first timing stays
    assert not again and kept is busy
    calls.clear()
    kept, again = retime_unreliable(smooth, "numpy", retime(busy))  # nothing flagged: not re-timed
    assert not again and kept is smooth and calls == []
