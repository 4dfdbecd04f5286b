"""An exclusive, crash-safe lock on a results folder."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .record import utc_now

#: Name of the lock file every ibscope writer takes in its folder.
LOCK_NAME = ".ibscope.lock"


class FolderLockedError(OSError):
    """Another live process holds the folder's lock."""


class FolderLock:
    """Hold an exclusive lock on a folder while writing into it.

    The lock is an ``flock`` on ``folder/.ibscope.lock``: the kernel drops it when
    the holding process exits or is killed (``kill -9`` included), so a lock file
    left behind by a dead process is simply taken over. While it is held, the file
    names the holder (PID, host, start time), and a second writer is refused with
    a message that quotes it. On systems without ``fcntl`` (Windows) the lock is a
    no-op.

    Parameters
    ----------
    folder : str or path-like
        The folder (it must exist).
    what : str, default="run"
        What writes the folder, for the message ("IB run", "sweep").
    hint : str
        Last sentence of the refusal, what the user can do.

    Examples
    --------
    >>> with FolderLock("runs/digits", what="IB run"):    # doctest: +SKIP
    ...     ...  # write files
    """

    def __init__(self, folder: str | os.PathLike[str], *, what: str = "run",
                 hint: str = "Wait for it to finish, or pass another output folder.") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self.hint = hint
        self._fh: IO[str] | None = None

    def holder(self) -> dict[str, Any]:
        """What the lock file says about its last holder (empty if unreadable)."""
        try:
            info: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return info
        except (OSError, ValueError):
            return {}

    def acquire(self) -> FolderLock:
        """Take the lock or raise :class:`FolderLockedError` naming the holder."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            info = self.holder()
            who = f"PID {info['pid']}" if "pid" in info else "another process"
            if info.get("host") and info.get("host") != socket.gethostname():
                who += f" on {info['host']}"
            since = f", since {info['started']}" if info.get("started") else ""
            raise FolderLockedError(
                f"Another {self.what} ({who}{since}) is writing to {str(self.folder)!r}: its lock file "
                f"{LOCK_NAME} is held. {self.hint}"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": utc_now()}))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        """Release the lock (the file stays; its content no longer matters)."""
        if self._fh is not None:
            self._fh.close()  # closing the descriptor drops the flock
            self._fh = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
