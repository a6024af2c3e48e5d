"""How the many refits of model choice run: how many side by side, and with their warnings silenced."""

from __future__ import annotations

import warnings

from ..em.concurrent import concurrent_workers, in_worker
from ..estimator.checks import is_int

__all__ = ["check_n_workers", "quiet_fits"]


def check_n_workers(n_workers, n_tasks, work):
    """Return how many fits run side by side.

    Parameters
    ----------
    n_workers : int or None
        None: :func:`~bmm_numba.em.concurrent.concurrent_workers`'s choice (more than one only
        where one fit's passes are too small for the threads); else this many.
    n_tasks : int
    work : float
        ``n * d * K`` of one pass of the largest fit.

    Returns
    -------
    int
        1 inside a worker already (its sub-tasks run in turn).
    """
    if n_workers is not None and not is_int(n_workers, 1):
        raise ValueError(f"n_workers must be None or an integer >= 1; got {n_workers!r}")
    if in_worker():
        return 1
    return concurrent_workers(n_tasks, work) if n_workers is None else int(n_workers)


class quiet_fits(warnings.catch_warnings):
    """Silence every warning of many refits (their state is reported in counts instead).

    Entered once in the calling thread around :func:`~bmm_numba.em.concurrent.run_concurrently`,
    never inside a task: the filters are process-wide and ``catch_warnings`` is not thread-safe.
    """

    def __enter__(self):
        out = super().__enter__()
        warnings.simplefilter("ignore")
        return out
