"""Many small fits side by side: one Python thread each, one Numba thread inside each.

A fit whose passes are too small to start threads (the one rule,
:func:`~bmm_numba.kernels.threads.choose_parallel`) leaves every core but one idle.  The work of
latent class analysis is many such fits: the ``n_init`` starts, the short-EM candidates of the
default start, the K values of ``select_n_components``, bootstrap replicates.  They are
independent, so they run concurrently here, each in a worker thread whose Numba thread count is 1
(``numba.set_num_threads`` is per thread), so every kernel inside runs its serial ``nogil`` build
and the compiled EM run releases the GIL for its whole loop.  Larger in-memory fits, whose passes
could use the threads themselves, go side by side too: the Python around one fit's passes then
overlaps the other fit's compiled pass (MNIST test, K = 10: 0.316 -> 0.255 s a default fit).

Results are bit-identical to running the tasks one after another: every task gets its inputs
(random draws included) before any task runs, a task never reads another's state, and the
results come back in task order.  The calling thread only waits (and handles Ctrl-C).  A task
that runs inside a worker runs its own sub-tasks one after another (no nested pools, no
deadlock).  The pool is made again after a ``fork``.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, TimeoutError

import numba
import numpy as np

from ..kernels.threads import choose_parallel

__all__ = ["concurrent_workers", "run_concurrently", "in_worker", "stop_flag", "Cancelled", "MIN_TASK_WORK"]

#: Fewest inner-loop steps a task must do for tasks to go side by side: handing tasks to threads
#: costs ~0.1-0.3 ms, and the tasks' Python holds the GIL.  Default fits (five 20-pass short-EM
#: runs, medians of 6 x 20 fits, 2 cores, the caller waiting on futures): a 435 x 16 survey with
#: 5 % NaN (K = 4, 0.34 M steps a task) 6.3 ms side by side against 7.7 ms in turn; a 101 x 15
#: table (K = 4, 0.06 M) 3.1 against 2.1-3.0 ms, carcinoma (K = 3, 5400) 1.2-1.3 against 1.1 ms.
MIN_TASK_WORK = 1 << 18

_POOL = None
_POOL_PID = None
_POOL_LOCK = threading.Lock()
_LOCAL = threading.local()


def in_worker() -> bool:
    """Return True inside a task run by :func:`run_concurrently` (its sub-tasks then run in turn)."""
    return getattr(_LOCAL, "worker", False)


def concurrent_workers(n_tasks, work, kind="cells", task_work=None) -> int:
    """Return how many of ``n_tasks`` independent fits to run at once (1: one after another).

    Parameters
    ----------
    n_tasks : int
    work : int
        Inner-loop steps of one pass of one fit, as in
        :func:`~bmm_numba.kernels.threads.choose_parallel` (``n * d * K`` for dense data); 0
        for fits that never use threads themselves.
    kind : {"cells", "table", "combine"}, default="cells"
    task_work : int, optional
        Inner-loop steps of one whole task (all its passes); below :data:`MIN_TASK_WORK` the
        tasks run in turn.

    Returns
    -------
    int
        1 where one fit's passes use the threads themselves (their work reaches the thread
        threshold), where the tasks are too small, where there is one task or one Numba
        thread, or inside a worker already; else ``min(n_tasks, numba.get_num_threads())``.
    """
    if n_tasks <= 1 or in_worker() or choose_parallel(True, work, kind):
        return 1
    if task_work is not None and task_work < MIN_TASK_WORK:
        return 1
    return max(1, min(int(n_tasks), numba.get_num_threads()))


def _pool():
    """Return the process's fit workers (made again after a ``fork``, sized by ``NUMBA_NUM_THREADS``)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():
            _POOL = ThreadPoolExecutor(max_workers=max(1, numba.config.NUMBA_NUM_THREADS),
                                       thread_name_prefix="bmm_numba_fit")
            _POOL_PID = os.getpid()
        return _POOL


class Cancelled(Exception):
    """Raised inside a task whose batch was stopped (another task failed, or the caller was interrupted)."""


#: The stop flag of tasks run outside :func:`run_concurrently` (never set).
_NEVER = np.zeros(1, dtype=np.uint8)


def stop_flag():
    """Return the current task's stop flag: a 1-element ``uint8`` array, set to 1 when its batch stops.

    Compiled EM runs read it between passes (:func:`bmm_numba.kernels.em_run.em_iterations`) and
    return early, so an error or Ctrl-C stops every task within a pass, not at the end of a run.
    """
    return getattr(_LOCAL, "stop", _NEVER)


def run_concurrently(task, items, *, n_workers):
    """Return ``[task(item) for item in items]``, up to ``n_workers`` tasks at a time.

    ``n_workers`` pool threads take the next item not yet taken until none is left; the calling
    thread waits, so that Ctrl-C reaches it at once (a signal is handled between bytecodes, never
    inside a compiled call): it then sets the batch's stop flag (:func:`stop_flag`), every
    running task stops within a pass, and the interrupt is raised.

    Parameters
    ----------
    task : callable
        ``task(item) -> result``; it must not depend on the order in which items run.
    items : sequence
    n_workers : int
        From :func:`concurrent_workers`; 1 runs the items one after another in the calling thread
        (as does any call from inside a task).

    Returns
    -------
    results : list
        In item order.

    Raises
    ------
    BaseException
        The first exception in item order other than :class:`Cancelled`, once every worker has
        stopped: after an error no worker takes a new item.
    """
    items = list(items)
    if n_workers <= 1 or len(items) <= 1 or in_worker():  # inside a worker: in turn (no pool thread to wait on)
        return [task(item) for item in items]
    results, errors = [None] * len(items), [None] * len(items)
    next_item, lock = iter(range(len(items))), threading.Lock()
    flag = np.zeros(1, dtype=np.uint8)

    def drain():
        numba.set_num_threads(1)  # per thread (a pool thread of ours): every kernel runs its serial build
        _LOCAL.worker, _LOCAL.stop = True, flag
        try:
            while not flag[0]:
                with lock:
                    i = next(next_item, None)
                if i is None:
                    return
                try:
                    results[i] = task(items[i])
                except BaseException as error:  # noqa: BLE001 - re-raised by the caller below
                    errors[i] = error
                    flag[0] = 1
        finally:
            _LOCAL.worker, _LOCAL.stop = False, _NEVER

    futures = [_pool().submit(drain) for _ in range(min(n_workers, len(items)))]
    try:
        for future in futures:
            while True:
                try:
                    future.result(timeout=0.1)  # a timed wait: Ctrl-C is handled between the waits
                    break
                except TimeoutError:
                    continue
    except BaseException:  # an interrupt while waiting: every task stops within a pass
        flag[0] = 1
        for future in futures:
            future.exception()
        raise
    real = [error for error in errors if error is not None and not isinstance(error, Cancelled)]
    if real or any(error is not None for error in errors):
        raise (real or [error for error in errors if error is not None])[0]
    return results
