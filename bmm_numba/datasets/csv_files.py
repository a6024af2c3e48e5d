"""CSV files: separator guessed, header detected and reported, missing cells as NaN.

Part of :mod:`bmm_numba.datasets`, which re-exports the public names.
"""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .files import open_input
from .numpy_files import _check_2d

__all__ = ["CSV_MISSING", "CSV_MAX_LINE", "CSV_BLOCK_BYTES", "CSV_DELIMITERS", "CSV_DELIMITER_NAMES", "CSVFormatError",
           "CSVInfo", "load_csv"]


#: Cells read as missing (NaN) in a CSV file, compared after stripping and lower-casing.
CSV_MISSING = frozenset({"", "na", "nan", "?", "null", "none"})


#: Longest CSV line read, in characters (64 Mi): a file with no line breaks (``/dev/zero``)
#: fails here instead of growing one line without bound.
CSV_MAX_LINE = 1 << 26

#: Bytes of one float64 block of parsed rows: a block holds ``max(1, CSV_BLOCK_BYTES // (8 *
#: n_columns))`` rows, so a wide file (3 rows x 100 000 columns, 0.6 MB) allocates one block of
#: 3 rows, not 4096 rows x 100 000 columns (3 GiB) as blocks of a fixed row count did.
CSV_BLOCK_BYTES = 4 << 20


def _csv_lines(fh, path):
    """Yield the lines of a text file, each at most :data:`CSV_MAX_LINE` characters."""
    while True:
        line = fh.readline(CSV_MAX_LINE)
        if not line:
            return
        if "\x00" in line:
            raise ValueError(f"{path}: not a CSV text file (it holds NUL bytes)")
        if len(line) == CSV_MAX_LINE and not line.endswith("\n"):
            raise ValueError(f"{path}: a line is longer than {CSV_MAX_LINE} characters; not a CSV file of 0/1 data")
        yield line


#: Separators :func:`load_csv` tells apart on its own, in order of preference.
CSV_DELIMITERS = (",", ";", "\t", "|")
CSV_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}

#: Lines :func:`load_csv` looks at to guess the separator (at most :data:`_SNIFF_CHARS` characters).
_SNIFF_LINES, _SNIFF_CHARS = 5, 1 << 20


class CSVFormatError(ValueError):
    """A CSV file :func:`load_csv` cannot read as numbers.

    Attributes
    ----------
    path : str
    line, column : int or None
        Where, 1-based as in an editor (None: the whole file, or the whole line).
    suggested_delimiter : str or None
        A separator the failing cell holds, when it is likely the file's real one.
    """

    def __init__(self, path, line, message, suggested_delimiter=None, column=None):
        self.path, self.line, self.column, self.problem = str(path), line, column, message
        self.suggested_delimiter = suggested_delimiter
        where = f"{path}, line {line}" if line is not None else f"{path}"
        where += f", column {column}" if column is not None else ""
        hint = ""
        if suggested_delimiter is not None:
            hint = (f"; the file looks {CSV_DELIMITER_NAMES[suggested_delimiter]}-separated: "
                    f"pass delimiter={suggested_delimiter!r}")
        super().__init__(f"{where}: {message}{hint}")


class CSVInfo(NamedTuple):
    """What :func:`load_csv` (``return_info=True``) found besides the numbers.

    Attributes
    ----------
    delimiter : str
        The separator used (given, or guessed).
    header : tuple of str or None
        The cells of the skipped header line, or None when the file has none.
    header_line : int or None
        Its line number (1-based).
    row_lines : tuple of (int, int)
        Breakpoints ``(row, line)``: row ``row`` (0-based) of ``X`` is on line ``line`` and the
        following rows on the following lines, up to the next breakpoint.  See :meth:`line_of_row`.
    """

    delimiter: str
    header: tuple | None
    header_line: int | None
    row_lines: tuple

    def line_of_row(self, row):
        """Return the 1-based line of the file holding row ``row`` (0-based) of the returned array."""
        at = max(i for i, (first, _) in enumerate(self.row_lines) if first <= row)
        first, line = self.row_lines[at]
        return line + row - first


def _cell(text):
    """Return a cell as a float (NaN when missing); ``ValueError`` when it is not a number."""
    return np.nan if text.strip().lower() in CSV_MISSING else float(text)


def _bad_cell(cells):
    """``(index, text)`` of the first cell that is neither a number nor missing, else None."""
    for i, c in enumerate(cells):
        if c.strip().lower() not in CSV_MISSING and not _is_float(c):
            return i, c
    return None


def _guess_delimiter(lines):
    """Return the candidate of :data:`CSV_DELIMITERS` found equally often (> 0) on every line.

    ``lines`` are the first non-blank lines (the first may be a header).  Several candidates:
    the most frequent; none consistent: the most frequent on the lines after the first; none
    at all: ``","`` (one column).
    """
    counts = {d: [line.count(d) for line in lines] for d in CSV_DELIMITERS}
    consistent = [d for d, c in counts.items() if c and c[0] > 0 and len(set(c)) == 1]
    if consistent:
        return max(consistent, key=lambda d: counts[d][0])
    data = {d: sum(c[1:]) for d, c in counts.items()}
    best = max(CSV_DELIMITERS, key=lambda d: data[d])
    return best if data[best] else ","


def _other_delimiter(text, delimiter):
    """Return a candidate separator other than ``delimiter`` that ``text`` holds, else None."""
    return next((d for d in CSV_DELIMITERS if d != delimiter and d in text), None)


def load_csv(path, delimiter=None, max_rows=None, *, return_info=False):
    """Read a CSV file of 0/1 values; empty cells (and ``NA``, ``NaN``, ``?``) become NaN.

    The first line is a header (skipped) only when it holds a cell that is not a number and
    the next line is all numbers; ``return_info=True`` returns what was skipped.  Any other
    cell that is not a number is an error naming its line (1-based, as in an editor) and,
    when the cell holds another separator (``0;1;0`` read with ``,``), the separator to pass.
    The file is read line by line into float64 blocks of :data:`CSV_BLOCK_BYTES` (at most twice
    the returned array plus one block in memory, where a list of Python floats took ~18 times
    the file), and reading stops after ``max_rows`` data rows.  It is opened once, without
    blocking: a regular file or a pipe (``<(zcat f.csv.gz)``).

    Parameters
    ----------
    path : str or path-like
    delimiter : str or None, default=None
        The cell separator; None guesses it among ``,`` ``;`` tab ``|`` from the first lines
        (the one found the same number of times on each; ``,`` when none is).
    max_rows : int or None, default=None
        Read at most this many data rows (the first ones).
    return_info : bool, default=False
        Also return a :class:`CSVInfo`: the separator, the skipped header and the line of
        each row.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        NaN marks a missing cell.
    info : CSVInfo
        Only with ``return_info=True``.

    Raises
    ------
    CSVFormatError
        A cell that is not a number, rows of different lengths, no data rows, or not a
        readable text file (a ``ValueError``).
    """
    path = Path(path)
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1):
        raise ValueError(f"max_rows must be None or an integer >= 1; got {max_rows!r}")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise ValueError(f"delimiter must be None or one character; got {delimiter!r}")
    blocks, block, n_rows, n_cols, block_rows = [], None, 0, None, 1
    header, pending, row_lines, last_line = None, None, [], None
    with io.TextIOWrapper(open_input(path, pipes=True), newline="", encoding="utf-8-sig") as fh:
        try:
            lines = _csv_lines(fh, path)
            peeked, chars = [], 0
            for line in lines:
                peeked.append(line)
                chars += len(line)
                if sum(1 for x in peeked if x.strip()) >= _SNIFF_LINES or chars >= _SNIFF_CHARS:
                    break
            guessed = delimiter is None
            if guessed:
                delimiter = _guess_delimiter([x for x in peeked if x.strip()])
            reader = csv.reader(itertools.chain(peeked, lines), delimiter=delimiter)
            for cells in reader:
                if not cells:  # blank line
                    continue
                try:
                    row = [_cell(c) for c in cells]
                except ValueError:
                    if n_cols is None and pending is None:
                        pending = (reader.line_num, cells)  # a header if the next line is numbers
                        continue
                    at, lineno = (pending[1], pending[0]) if pending is not None else (cells, reader.line_num)
                    column, bad = _bad_cell(at)
                    raise CSVFormatError(path, lineno, f"{bad!r} is not a number", _other_delimiter(bad, delimiter),
                                         column + 1) from None
                if pending is not None:
                    header_line, header = pending
                    pending = None
                if n_cols is None:
                    n_cols = len(row)
                    block_rows = max(1, CSV_BLOCK_BYTES // (8 * n_cols))
                elif len(row) != n_cols:
                    raise CSVFormatError(path, reader.line_num, f"{len(row)} cells; the first data line "
                                         f"(line {row_lines[0][1]}) has {n_cols}")
                if reader.line_num != (last_line or 0) + 1 or not row_lines:
                    row_lines.append((n_rows, reader.line_num))
                last_line = reader.line_num
                if block is None or n_rows % block_rows == 0:
                    block = np.empty((block_rows, n_cols))
                    blocks.append(block)
                block[n_rows % block_rows] = row
                n_rows += 1
                if n_rows == max_rows:
                    break
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CSVFormatError(path, None, f"not a readable CSV text file ({exc})") from None
    if not n_rows:
        if pending is not None:
            column, bad = _bad_cell(pending[1])
            raise CSVFormatError(path, pending[0], f"{bad!r} is not a number, and no data rows follow",
                                 _other_delimiter(bad, delimiter), column + 1)
        raise CSVFormatError(path, None, "no data rows")
    X = np.empty((n_rows, n_cols))
    blocks.reverse()
    for start in range(0, n_rows, block_rows):
        stop = min(start + block_rows, n_rows)
        X[start:stop] = blocks.pop()[:stop - start]
    X = _check_2d(X, path, "table")
    if not return_info:
        return X
    return X, CSVInfo(delimiter, None if header is None else tuple(header),
                      None if header is None else header_line, tuple(row_lines))


def _is_float(text):
    try:
        float(text)
    except ValueError:
        return False
    return True
