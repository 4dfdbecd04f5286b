"""Run folders: the one place where ibscope writes results to disk.

Every writer in the package (IB runs, sweeps, compressor files, dataset
downloads) goes through these pieces, so durability rules live in one place:

* :func:`atomic_open` / :func:`atomic_write_bytes` / :func:`atomic_write_text` /
  :func:`atomic_write_json` - write to a temporary file in the target's folder,
  ``fsync`` it, then ``os.replace`` it onto the final name (a reader sees the old
  file or the new one, never half of one);
* :class:`CSVLog` - an append-only CSV file: one ``fsync`` per batch of rows,
  a torn last line (a writer killed mid-row) is skipped on read and dropped on
  :meth:`CSVLog.repair`;
* :class:`FolderLock` - an exclusive lock on a folder for a writer's lifetime,
  naming the holder's process in the refusal; the kernel releases it when the
  holder dies, so a lock left by a killed process never blocks a new one;
* :class:`RunFolder` - a folder with a JSON record, CSV logs and a lock, plus
  :func:`config_diff` for "resume with the same configuration" checks;
* :func:`package_versions` and :func:`utc_now` - the environment record;
* :mod:`~ibscope.runs.lifecycle` - the one lifecycle of a results folder (fresh,
  continue, refuse, lock) for every writer, and :mod:`~ibscope.runs.errors` - one
  exception type per condition;
* :mod:`~ibscope.runs.schema` - the typed columns of ``info.csv`` and ``metrics.csv``,
  and :mod:`~ibscope.runs.ibrun` - the files of an IB run folder.
"""

from ._json import canonical_json, jsonable
from .atomic import atomic_open, atomic_write_bytes, atomic_write_json, atomic_write_text, fsync_dir
from .csvlog import CSVLog
from .errors import (
    ConfigMismatchError,
    DamagedFolderError,
    FolderNotEmptyError,
    ForeignFolderError,
    NotAFolderError,
    RunFolderError,
)
from .folder import RunFolder, config_diff, ensure_writable, make_folder
from .lock import FolderLock, FolderLockedError
from .record import package_versions, utc_now

__all__ = [
    "CSVLog",
    "ConfigMismatchError",
    "DamagedFolderError",
    "FolderNotEmptyError",
    "ForeignFolderError",
    "NotAFolderError",
    "RunFolderError",
    "FolderLock",
    "FolderLockedError",
    "RunFolder",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "canonical_json",
    "config_diff",
    "ensure_writable",
    "fsync_dir",
    "jsonable",
    "make_folder",
    "package_versions",
    "utc_now",
]
