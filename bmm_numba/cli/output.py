"""Plumbing of the command line: errors, output folders, atomic writes, the fit progress bar.

Only the standard library at import time: the parser and its errors must stay fast.
"""

from __future__ import annotations

import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..datasets.files import atomic_write
from ..em.progress import ProgressMonitor

__all__ = ["CLIError", "prepare_out_dir", "atomic_write", "FitProgress", "compile_notice", "note", "end_open_line"]


class CLIError(Exception):
    """An error the command line reports in one line (exit status 2)."""


def prepare_out_dir(path) -> Path:
    """Create ``path`` if needed and check that a file can be written there, before any work.

    Raises
    ------
    CLIError
        The folder cannot be created or written to.
    """
    if not str(path).strip():  # Path("") is the current folder: an empty --out is a mistake, not "."
        raise CLIError("--out is empty: name a folder (--out . for the current one)")
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CLIError(f"cannot write to output folder {folder}: {reason}") from None
    return folder


# The stream whose last write left a line open (a progress bar drawn with ``\r``), if any:
# whatever prints next on it (a note, "interrupted") starts on a line of its own.
_open_line = {"stream": None}


def end_open_line():
    """Finish an open progress line with a newline, so that the next message has its own line."""
    stream, _open_line["stream"] = _open_line["stream"], None
    if stream is not None:
        try:
            stream.write("\n")
            stream.flush()
        except (OSError, ValueError):  # closed or broken stream: nothing to finish
            pass


def note(text, stream=None):
    """Print ``text`` on stderr (or ``stream``), on a line of its own even if a progress bar is drawn."""
    end_open_line()
    print(text, file=sys.stderr if stream is None else stream, flush=True)


COMPILING = "compiling kernels (first run only: later runs load them from the cache)"
COMPILING_NO_CACHE = "compiling kernels (BMM_NUMBA_CACHE=0: every run compiles them)"


@contextmanager
def compile_notice(stream=None):
    """Print one line the first time Numba compiles (not loads from its cache) inside the block.

    A cold first run spends seconds compiling before the first iteration (4 s for ``fit
    --digits`` on the 2-core AMD EPYC); a warm one loads the kernels from the cache, which
    fires no ``numba:compile`` event, so warm runs print nothing and pay nothing.
    """
    try:
        from numba.core import event
    except ImportError:  # pragma: no cover - Numba without the event API (before 0.53)
        yield
        return
    from ..kernels.jit import CACHE_ENABLED

    class _Listener(event.Listener):
        said = False

        def on_start(self, ev):
            if not self.said:
                self.said = True
                note(COMPILING if CACHE_ENABLED else COMPILING_NO_CACHE, stream)

        def on_end(self, ev):
            pass

    with event.install_listener("numba:compile", _Listener()):
        yield


class FitProgress(ProgressMonitor):
    """A progress bar fed by the EM loop's hooks (:class:`bmm_numba.em.progress.ProgressMonitor`).

    On a terminal it redraws one line on ``stream`` after every iteration; elsewhere (logs,
    pipes, tests) it writes one line every ``interval`` seconds while a start runs, and one
    summary line per start, never a carriage return.  Re-seeded components get a line of their own.
    """

    #: The bar hears of every 10 iterations (:attr:`ProgressMonitor.report_every`).
    report_every = 10

    def __init__(self, n_init, max_iter, stream=None, width=30, interval=10.0, clock=time.perf_counter):
        self.n_init, self.max_iter, self.width, self.interval = n_init, max_iter, width, interval
        self.stream = sys.stderr if stream is None else stream
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.clock = clock
        self.start_number = self.n_iter = 0
        self.value = None
        self.t0 = self.printed_at = clock()

    def start(self, init, n_init):
        """Reset the bar: a start begins."""
        self.start_number, self.n_init, self.n_iter, self.value = init + 1, n_init, 0, None
        self.t0 = self.printed_at = self.clock()
        self._draw()

    def reseeded(self, n_iter, components):
        """Write the re-seeded components on a line of their own."""
        where = "Initial M-step" if n_iter == 0 else f"Iteration {n_iter}"
        self._clear()
        print(f"{where}\t re-seeded collapsed components {list(components)}", file=self.stream, flush=True)

    def iteration(self, n_iter, lower_bound, change, seconds):
        """Advance the bar (on a terminal), or write a line if ``interval`` seconds passed (elsewhere)."""
        self.n_iter, self.value = n_iter, lower_bound
        if self.live:
            self._draw()
            return
        now = self.clock()
        if now - self.printed_at >= self.interval:
            self.printed_at = now
            print(f"start {self.start_number}/{self.n_init}: iteration {n_iter}/{self.max_iter}, "
                  f"objective per sample {lower_bound:.4f} ({now - self.t0:.1f} s)",
                  file=self.stream, flush=True)

    def end(self, converged, lower_bound, seconds):
        """Write the start's summary line."""
        state = "converged" if converged else "did not converge"
        self._clear()
        value = f", objective per sample {lower_bound:.4f}" if self.n_iter else ""
        print(f"start {self.start_number}/{self.n_init}: {state} after {self.n_iter} iterations{value} "
              f"({self.clock() - self.t0:.2f} s)", file=self.stream, flush=True)

    def _draw(self):
        if not self.live:
            return
        done = min(self.n_iter / max(self.max_iter, 1), 1.0)
        bar = "#" * int(round(done * self.width))
        value = f"  objective/sample {self.value:.4f}" if self.value is not None else ""
        self.stream.write(f"\rstart {self.start_number}/{self.n_init} [{bar:<{self.width}}] iteration "
                          f"{self.n_iter}/{self.max_iter}{value}  {self.clock() - self.t0:.1f} s ")
        self.stream.flush()
        _open_line["stream"] = self.stream

    def _clear(self):
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
            if _open_line["stream"] is self.stream:
                _open_line["stream"] = None
