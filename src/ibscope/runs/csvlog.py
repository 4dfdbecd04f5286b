"""Append-only CSV logs that survive a writer killed at any moment."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes


def _plain(value: Any) -> Any:
    return "" if value is None else value


class CSVLog:
    """A CSV file with a fixed header, written one batch of rows at a time.

    Each :meth:`append` writes complete lines, then flushes and ``fsync``-s, so a
    killed writer leaves at most one partial last line. :meth:`read` skips such a
    line; :meth:`repair` removes it from the file; :meth:`keep` rewrites the file
    atomically with a subset of its rows.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    columns : sequence of str
        Header, in order; rows are dicts and missing keys become empty cells.
    cell : callable, default: ``None`` -> ``""``, everything else as :mod:`csv` writes it
        Formats one value for the file.
    """

    def __init__(self, path: str | os.PathLike[str], columns: Iterable[str], *,
                 cell: Callable[[Any], Any] = _plain) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self.cell = cell

    # ------------------------------------------------------------------ writing
    def _lines(self, rows: Iterable[Mapping[str, Any]], header: bool = False) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if header:
            writer.writerow(self.columns)
        for row in rows:
            writer.writerow([self.cell(row.get(c)) for c in self.columns])
        return buf.getvalue().encode("utf-8")

    def create(self) -> None:
        """Write the header only (atomically), replacing any existing file."""
        atomic_write_bytes(self.path, self._lines([], header=True))

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append complete rows, then flush and ``fsync`` (nothing happens for no rows)."""
        data = self._lines(rows)
        if not data:
            return
        with open(self.path, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    # ------------------------------------------------------------------ reading
    def complete_text(self) -> str:
        """The file's text up to its last complete line (a torn last line is left out)."""
        return self._complete_text()

    def _complete_text(self) -> str:
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]
        return data.decode("utf-8", errors="replace")

    def header(self) -> tuple[str, ...] | None:
        """The file's header as written, or None for a missing or empty file."""
        if not self.path.is_file():
            return None
        first = next(csv.reader(io.StringIO(self._complete_text())), None)
        return tuple(first) if first else None

    def read(self) -> list[dict[str, str]]:
        """Complete rows as dicts of strings (a torn last line and malformed lines are skipped)."""
        if not self.path.is_file():
            return []
        reader = csv.reader(io.StringIO(self._complete_text()))
        header = next(reader, None)
        if not header:
            return []
        return [dict(zip(header, values)) for values in reader if len(values) == len(header)]

    # ------------------------------------------------------------------ repair
    def repair(self) -> bool:
        """Drop a partial last line in place; create the file (header only) if missing or empty.

        Returns
        -------
        bool
            Whether the file was changed.
        """
        if not self.path.is_file() or self.path.stat().st_size == 0:
            self.create()
            return True
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return False
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            self.create()
            return True
        with open(self.path, "r+b") as fh:
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def keep(self, predicate: Callable[[dict[str, str]], bool]) -> int:
        """Keep only the complete rows for which ``predicate(row)`` holds (atomic rewrite).

        A missing file is created with its header. A file written with other columns
        (an older version of the same log) is rewritten with this log's columns: the
        columns both have keep their values, new ones are empty. Returns the number
        of lines dropped (rows failing the predicate, malformed lines and a torn last
        line).
        """
        if not self.path.is_file():
            self.create()
            return 0
        raw = self.path.read_bytes()
        rows = self.read()
        keep = [r for r in rows if predicate(r)]
        n_lines = max(len(raw.decode("utf-8", errors="replace").splitlines()) - 1, 0)
        if len(keep) == n_lines and raw.endswith(b"\n") and self.header() == self.columns:
            return 0
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        for r in keep:
            writer.writerow([r.get(c, "") for c in self.columns])
        atomic_write_bytes(self.path, buf.getvalue().encode("utf-8"))
        return n_lines - len(keep)
