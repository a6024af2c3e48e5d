"""Plumbing of the command line: errors, output folders, atomic writes, the fit progress bar.

Only the standard library at import time: the parser and its errors must stay fast.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..em.progress import ProgressMonitor

__all__ = ["CLIError", "prepare_out_dir", "atomic_write", "FitProgress"]


class CLIError(Exception):
    """An error the command line reports in one line (exit status 2)."""


def prepare_out_dir(path) -> Path:
    """Create ``path`` if needed and check that a file can be written there, before any work.

    Raises
    ------
    CLIError
        The folder cannot be created or written to.
    """
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CLIError(f"cannot write to output folder {folder}: {reason}") from None
    return folder


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path, mode="wb"):
    """Yield a temporary file next to ``path``; rename it to ``path`` only if the block succeeds.

    A failure (or Ctrl-C) part-way never leaves a half-written ``path``: the temporary file is
    removed and an older ``path`` stays as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class FitProgress(ProgressMonitor):
    """A progress bar fed by the EM loop's hooks (:class:`bmm_numba.em.progress.ProgressMonitor`).

    On a terminal it redraws one line on ``stream`` after every iteration; elsewhere (logs,
    tests) it writes one summary line per start.  Re-seeded components get a line of their own.
    """

    def __init__(self, n_init, max_iter, stream=None, width=30):
        self.n_init, self.max_iter, self.width = n_init, max_iter, width
        self.stream = sys.stderr if stream is None else stream
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start_number = self.n_iter = 0
        self.value = None
        self.t0 = time.perf_counter()

    def start(self, init, n_init):
        """Reset the bar: a start begins."""
        self.start_number, self.n_init, self.n_iter, self.value = init + 1, n_init, 0, None
        self.t0 = time.perf_counter()
        self._draw()

    def reseeded(self, n_iter, components):
        """Write the re-seeded components on a line of their own."""
        where = "Initial M-step" if n_iter == 0 else f"Iteration {n_iter}"
        self._clear()
        print(f"{where}\t re-seeded collapsed components {list(components)}", file=self.stream, flush=True)

    def iteration(self, n_iter, lower_bound, change, seconds):
        """Advance the bar."""
        self.n_iter, self.value = n_iter, lower_bound
        self._draw()

    def end(self, converged, lower_bound, seconds):
        """Write the start's summary line."""
        state = "converged" if converged else "did not converge"
        self._clear()
        value = f", log-likelihood per sample {lower_bound:.4f}" if self.n_iter else ""
        print(f"start {self.start_number}/{self.n_init}: {state} after {self.n_iter} iterations{value} "
              f"({time.perf_counter() - self.t0:.2f} s)", file=self.stream, flush=True)

    def _draw(self):
        if not self.live:
            return
        done = min(self.n_iter / max(self.max_iter, 1), 1.0)
        bar = "#" * int(round(done * self.width))
        value = f"  log-lik/sample {self.value:.4f}" if self.value is not None else ""
        self.stream.write(f"\rstart {self.start_number}/{self.n_init} [{bar:<{self.width}}] iteration "
                          f"{self.n_iter}/{self.max_iter}{value}  {time.perf_counter() - self.t0:.1f} s ")
        self.stream.flush()

    def _clear(self):
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
