"""Opening files safely: readers that never block on a FIFO, writers that never expose half a file.

Part of :mod:`bmm_numba.datasets`; used by the loaders, the model file
(:mod:`bmm_numba.estimator.persist`) and the command line.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

__all__ = ["open_input", "is_regular", "atomic_write"]

_KINDS = ((stat.S_ISFIFO, "a FIFO or pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def open_input(path, *, pipes=False):
    """Open ``path`` for binary reading without ever blocking in ``open``.

    A FIFO without a writer makes a plain ``open`` wait for ever; here the file is opened with
    ``O_NONBLOCK`` and its type checked on the open descriptor (no race between a check and
    the open), so a file is opened exactly once: ``--npy <(cat f)`` reads the pipe it names.

    Parameters
    ----------
    path : str or path-like
    pipes : bool, default=False
        Also accept a FIFO or pipe (read as a stream: a FIFO with no writer reads as empty).
        Otherwise only a regular file is accepted.

    Returns
    -------
    file : io.BufferedReader
        Blocking reads from here on.

    Raises
    ------
    ValueError
        Not a regular file (nor, with ``pipes``, a pipe): the message names the path and its kind.
    OSError
        Missing, unreadable, or a folder (``IsADirectoryError``).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not (stat.S_ISREG(mode) or (pipes and stat.S_ISFIFO(mode))):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            accepted = "a regular file or a pipe" if pipes else "a regular file"
            raise ValueError(f"{path}: is {kind}; expected {accepted}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def is_regular(fh):
    """Return True when the open file ``fh`` is a regular file (seekable, with a size)."""
    return stat.S_ISREG(os.fstat(fh.fileno()).st_mode)


_UMASK_LOCK = threading.Lock()


def _umask():
    """Return the process's umask, read without changing it where Linux shows it (``/proc/self/status``).

    Setting it to read it (``os.umask(0)`` then back) races with other threads: two saves at
    once could leave the process with umask 0.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0)
        os.umask(mask)
        return mask


@contextmanager
def atomic_write(path, mode="wb"):
    """Yield a temporary file next to ``path``; flush, sync and rename it to ``path`` only if the block succeeds.

    A failure part-way (a full disk, a file-size limit, Ctrl-C) never leaves a half-written
    ``path``: the temporary file is removed and an older ``path`` stays as it was.  Concurrent
    writers each rename a complete file (``os.replace`` is atomic), so a reader sees one whole
    file or another, never a mixture.

    Raises
    ------
    IsADirectoryError
        ``path`` is an existing folder (checked before anything is written).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())  # the data reach the disk before the name points at them
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
