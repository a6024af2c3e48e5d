"""Plumbing of the command line: errors, output folders, atomic writes, the fit progress bar.

Only the standard library at import time: the parser and its errors must stay fast.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

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


class FitProgress:
    """A progress bar fed by the estimator's ``verbose=2`` report (stdout redirected here).

    ``BernoulliMixture(verbose=2, verbose_interval=1)`` prints ``Initialization i`` at each
    start and ``Iteration n ... log-likelihood x`` after every iteration; this object parses
    those lines.  On a terminal it redraws one line on ``stream``; elsewhere (logs, tests) it
    writes one summary line per start.  Lines it does not recognise (re-seeded components)
    are passed through.
    """

    _START = re.compile(r"^Initialization (\d+)\s*$")
    _ITER = re.compile(r"^\s*Iteration (\d+)\b.*log-likelihood (\S+)")
    _END = re.compile(r"^Initialization (converged|did not converge)")

    def __init__(self, n_init, max_iter, stream=None, width=30):
        self.n_init, self.max_iter, self.width = n_init, max_iter, width
        self.stream = sys.stderr if stream is None else stream
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self.iteration = 0
        self.value = None
        self.t0 = time.perf_counter()
        self._buffer = ""

    # file-like interface for contextlib.redirect_stdout
    def write(self, text):
        """Take estimator output; handle it line by line."""
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._line(line)
        return len(text)

    def flush(self):
        """Nothing is buffered beyond the current line."""

    def _line(self, line):
        if m := self._START.match(line):
            self.start, self.iteration, self.value = int(m[1]), 0, None
            self.t0 = time.perf_counter()
            self._draw()
        elif m := self._ITER.match(line):
            self.iteration, self.value = int(m[1]), float(m[2])
            self._draw()
        elif m := self._END.match(line):
            state = "converged" if m[1] == "converged" else "did not converge"
            self._clear()
            value = f", log-likelihood per sample {self.value:.4f}" if self.value is not None else ""
            print(f"start {self.start}/{self.n_init}: {state} after {self.iteration} iterations{value} "
                  f"({time.perf_counter() - self.t0:.2f} s)", file=self.stream, flush=True)
        elif line.strip():
            self._clear()
            print(line.strip(), file=self.stream, flush=True)

    def _draw(self):
        if not self.live:
            return
        done = min(self.iteration / max(self.max_iter, 1), 1.0)
        bar = "#" * int(round(done * self.width))
        value = f"  log-lik/sample {self.value:.4f}" if self.value is not None else ""
        self.stream.write(f"\rstart {self.start}/{self.n_init} [{bar:<{self.width}}] iteration "
                          f"{self.iteration}/{self.max_iter}{value}  {time.perf_counter() - self.t0:.1f} s ")
        self.stream.flush()

    def _clear(self):
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
