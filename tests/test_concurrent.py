import threading

import numba
import pytest

from bmm_numba.em.concurrent import concurrent_workers, in_worker, run_concurrently
from bmm_numba.kernels import threads


def test_results_come_back_in_item_order_with_one_numba_thread_per_task():
    got = run_concurrently(lambda i: (i * i, numba.get_num_threads(), in_worker()), range(20), n_workers=2)
    assert [g[0] for g in got] == [i * i for i in range(20)]
    assert all(g[1] == 1 and g[2] for g in got)
    assert not in_worker()


def test_the_first_error_in_item_order_is_raised_and_thread_counts_are_restored():
    before = numba.get_num_threads()
    started = []

    def task(i):
        started.append(i)
        if i in (3, 5):
            raise ValueError(f"item {i}")
        return i

    with pytest.raises(ValueError, match="item 3"):
        run_concurrently(task, range(40), n_workers=2)
    assert numba.get_num_threads() == before
    assert len(started) < 40  # no worker takes a new item after an error


def test_a_batch_stops_within_a_pass_when_a_task_fails():
    import time

    from bmm_numba.em.concurrent import Cancelled, stop_flag

    passes = []

    def task(i):
        if i == 0:
            time.sleep(0.05)
            raise ValueError("first")
        flag = stop_flag()
        for n in range(400):  # what a compiled EM run does between passes
            if flag[0]:
                passes.append(n)
                raise Cancelled("stopped")
            time.sleep(0.01)
        return i

    with pytest.raises(ValueError, match="first"):  # the real error, not the cancellations
        run_concurrently(task, range(2), n_workers=2)
    assert passes and passes[0] < 400  # the other task saw the flag and stopped early


def test_one_worker_runs_in_the_calling_thread():
    me = threading.get_ident()
    assert run_concurrently(lambda i: threading.get_ident(), range(3), n_workers=1) == [me] * 3


def test_tasks_inside_a_worker_run_their_sub_tasks_in_turn():
    def outer(i):
        assert concurrent_workers(8, 1) == 1
        return run_concurrently(lambda j: (i, j, numba.get_num_threads()), range(3), n_workers=2)

    got = run_concurrently(outer, range(4), n_workers=2)
    assert got == [[(i, j, 1) for j in range(3)] for i in range(4)]


def test_the_thread_rule_decides(monkeypatch):
    if numba.get_num_threads() < 2:
        pytest.skip("one Numba thread: never concurrent")
    assert concurrent_workers(1, 10) == 1
    assert concurrent_workers(5, 10) == min(5, numba.get_num_threads())
    assert concurrent_workers(5, 10, task_work=100) == 1  # too little work a task
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 100)
    assert concurrent_workers(5, 1000) == 1  # one fit's passes use the threads themselves
