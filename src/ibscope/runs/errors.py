"""What can be wrong with a results folder: one exception type per condition.

Every writer (IB runs, the Lightning callback, studies, sweeps) and every reader
raises these, so a caller can handle a condition the same way everywhere. All are
``ValueError`` subclasses (the folder cannot be used *as asked*); the one about a
file standing where a folder should be is an ``OSError`` too.
"""

from __future__ import annotations

__all__ = [
    "RunFolderError",
    "NotAFolderError",
    "FolderNotEmptyError",
    "ForeignFolderError",
    "ConfigMismatchError",
    "DamagedFolderError",
]


class RunFolderError(ValueError):
    """A results folder cannot be used as asked (the base of the conditions below)."""


class NotAFolderError(RunFolderError, OSError):
    """A file stands where the folder should be (or where one of its parents should be)."""


class FolderNotEmptyError(RunFolderError):
    """The folder holds files, and the call did not ask to continue what is in it."""


class ForeignFolderError(RunFolderError):
    """The folder holds something other than what the caller writes or reads (another kind of
    ibscope folder, or files ibscope did not write)."""


class ConfigMismatchError(RunFolderError):
    """The folder holds a run of the same kind made with another configuration.

    Attributes
    ----------
    differences : list of str
        The differing settings (dotted paths).
    """

    def __init__(self, message: str, differences: list[str] | None = None) -> None:
        super().__init__(message)
        self.differences = list(differences or [])


class DamagedFolderError(RunFolderError):
    """A file the folder needs is unreadable or inconsistent with the others (the message says
    what, and what to do)."""
