"""The peak of Python's allocations in a block (``tracemalloc``), for the tests that bound memory."""

import contextlib
import tracemalloc
from types import SimpleNamespace


@contextlib.contextmanager
def peak_memory():
    """Trace allocations in the block; the yielded object's ``peak`` is the most bytes held at once.

    ``peak`` is set when the block ends without an exception (None before).
    """
    traced = SimpleNamespace(peak=None)
    tracemalloc.start()
    try:
        yield traced
        traced.peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
