"""A results folder: record file, CSV logs, lock and the resume check."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json
from .csvlog import CSVLog
from .errors import NotAFolderError
from .lock import LOCK_NAME, FolderLock


def config_diff(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted paths (``grids[0].mi``) at which two JSON-like configurations differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            out += config_diff(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (u, v) in enumerate(zip(old, new)):
            out += config_diff(u, v, f"{path}[{i}]")
        return out
    return [] if old == new else [path or "(root)"]


def check_not_a_file(path: Path, *, what: str, flag: str = "another output folder") -> None:
    """Raise :class:`NotAFolderError` when ``path``, or the first existing parent of it, is a file."""
    if path.exists() and not path.is_dir():
        raise NotAFolderError(f"The {what} folder {str(path)!r} is a file, not a folder. Pass {flag}.")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent != path and not parent.is_dir():
        raise NotAFolderError(f"The {what} folder {str(path)!r} cannot be created: {parent} is a file, not a "
                              f"folder. Pass {flag}.")


def make_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and its parents) if needed, with a one-line message when that is impossible.

    Raises
    ------
    OSError
        Naming the folder and the reason, e.g. "'/tmp/f' is a file, not a folder"
        (:class:`~ibscope.runs.NotAFolderError`) or "No such file or directory" (a path below
        ``/proc``), instead of a bare ``[Errno N]``.
    """
    path = Path(folder)
    check_not_a_file(path, what="output")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"The output folder {str(path)!r} cannot be created ({exc.strerror or exc}). "
                      "Pass another output folder.") from None
    return path


def ensure_writable(folder: str | os.PathLike[str]) -> None:
    """Create ``folder`` if needed and check that a file can be written in it.

    Raises
    ------
    OSError
        With a one-line message naming the folder and the reason (e.g. "Permission denied").
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OSError(f"The output folder {str(folder)!r} is not writable ({reason}). Pass another output folder."
                      ) from None


class RunFolder:
    """One results folder, as every ibscope writer uses it.

    Parameters
    ----------
    path : str or path-like
        The folder.
    what : str, default="run"
        What writes it ("IB run", "sweep"), for messages.

    Notes
    -----
    The folder's own bookkeeping file (the lock, ``.ibscope.lock``) does not count
    as content: :meth:`entries` leaves it out.
    """

    def __init__(self, path: str | os.PathLike[str], *, what: str = "run") -> None:
        self.path = Path(path)
        self.what = what

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ------------------------------------------------------------------ state
    def entries(self) -> list[str]:
        """Names of the folder's entries, sorted, without the lock file (empty if it does not exist)."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.name != LOCK_NAME)

    def is_empty(self) -> bool:
        """Whether the folder is missing or holds nothing but its lock file."""
        return not self.entries()

    # ------------------------------------------------------------------ files
    def read_json(self, name: str) -> Any:
        """Parse ``name`` (raises ``FileNotFoundError`` or ``json.JSONDecodeError``)."""
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def write_json(self, name: str, obj: Any, **kwargs: Any) -> None:
        """Write ``obj`` to ``name`` atomically (keywords as :func:`atomic_write_json`)."""
        atomic_write_json(self.path / name, obj, **kwargs)

    def log(self, name: str, columns: Iterable[str], *, cell: Callable[[Any], Any] | None = None) -> CSVLog:
        """The :class:`CSVLog` ``name`` of this folder."""
        return CSVLog(self.path / name, columns) if cell is None else CSVLog(self.path / name, columns, cell=cell)

    # ------------------------------------------------------------------ lock
    @contextlib.contextmanager
    def locked(self, *, hint: str = "Wait for it to finish, or pass another output folder.") -> Iterator[RunFolder]:
        """Create the folder if needed and hold its :class:`FolderLock` for the ``with`` block."""
        make_folder(self.path)
        with FolderLock(self.path, what=self.what, hint=hint):
            yield self
