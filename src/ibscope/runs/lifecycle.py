"""The one lifecycle of a results folder: fresh, continue, refuse, lock.

Every writer of a results folder -- :func:`ibscope.ib.run_ib`, the Lightning
callback, :func:`ibscope.ib.run_study`, :func:`ibscope.sweep.run_sweep` -- opens it
with :func:`open_folder`, which decides in the same way for all of them:

* a missing or empty folder (the lock file aside) starts **fresh**;
* a folder holding this kind's record file (``config.json``, ``study.json``,
  ``sweep.json``) with the same identity (the settings that give the numbers their
  meaning) is **continued** -- when the caller asks to continue (``resume=True``), or
  always for writers that continue by default (``resume=None``);
* the same kind with another identity: :class:`~ibscope.runs.ConfigMismatchError`
  naming the differing keys;
* another kind of ibscope folder, or files without a record:
  :class:`~ibscope.runs.ForeignFolderError` (with where to read it);
* a file in the folder's place: :class:`~ibscope.runs.NotAFolderError`;
* an unreadable record: :class:`~ibscope.runs.DamagedFolderError`;
* this kind's folder without ``resume``: :class:`~ibscope.runs.FolderNotEmptyError`.

The decision is made once without the lock (so that a refusal writes nothing) and
again under the folder's :class:`~ibscope.runs.FolderLock`, which the writer holds
for as long as it writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import (
    ConfigMismatchError,
    DamagedFolderError,
    FolderNotEmptyError,
    ForeignFolderError,
    NotAFolderError,
)
from .folder import RunFolder, check_not_a_file, config_diff, make_folder
from .lock import FolderLock

__all__ = ["FolderKind", "Opening", "KINDS", "IB_RUN", "IB_STUDY", "SWEEP", "identify", "plan_folder",
           "open_folder", "check_not_a_file", "clear_folder", "require_kind"]


@dataclasses.dataclass(frozen=True)
class FolderKind:
    """A kind of results folder.

    Attributes
    ----------
    what : str
        Its name in messages ("IB run").
    record : str
        Its record file, which says what the folder is (``config.json``).
    format : str
        The ``format`` its record is written with.
    formats : tuple of str
        Every ``format`` read as this kind (older spellings included).
    reader : str
        The public function that reads it, for hints.
    entries : tuple of str
        What the writer puts in the folder (an abandoned start is cleared of these).
    """

    what: str
    record: str
    format: str
    formats: tuple[str, ...]
    reader: str
    entries: tuple[str, ...] = ()
    noun: str = "run"


IB_RUN = FolderKind("IB run", "config.json", "ibscope-ib-run", ("ibscope-ib-run", "ibscope-lightning-ib-run"),
                    "ibscope.ib.load_run",
                    ("config.json", "metrics.csv", "info.csv", "summary.json", "figures", "compressors",
                     "checkpoints"), "run")
IB_STUDY = FolderKind("IB study", "study.json", "ibscope-ib-study", ("ibscope-ib-study",), "ibscope.study.load_study",
                      ("study.json", "runs", "summary.csv", "figures"), "study")
SWEEP = FolderKind("sweep", "sweep.json", "ibscope.sweep", ("ibscope.sweep",), "ibscope.sweep.load_results",
                   ("sweep.json", "results.csv", "models"), "sweep")

#: Every kind of folder ibscope writes, in the order they are recognised.
KINDS = (IB_RUN, IB_STUDY, SWEEP)


def _read_record(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def identify(folder: str | os.PathLike[str]) -> tuple[FolderKind | None, Any]:
    """What kind of ibscope folder ``folder`` is, and its record: ``(kind, record)``.

    ``(None, None)`` when it holds no record file of any kind. A record file that
    cannot be parsed gives ``(kind, None)``.
    """
    folder = Path(folder)
    for kind in KINDS:
        path = folder / kind.record
        if path.is_file():
            try:
                record = _read_record(path)
            except (OSError, ValueError):
                return kind, None
            if isinstance(record, dict) and record.get("format") in kind.formats:
                return kind, record
    return None, None


@dataclasses.dataclass
class Opening:
    """What :func:`plan_folder` decided.

    Attributes
    ----------
    folder : RunFolder
    fresh : bool
        Start fresh (True) or continue what the folder holds (False).
    record : dict or None
        The folder's record when it is continued.
    note : str
        Why a fresh start was chosen although ``resume`` was asked (or "").
    clear : bool
        The folder holds an abandoned start of this kind, to be cleared before writing.
    """

    folder: RunFolder
    fresh: bool
    record: dict[str, Any] | None = None
    note: str = ""
    clear: bool = False


def _shown(entries: Sequence[str]) -> str:
    return ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")


def plan_folder(path: str | os.PathLike[str], kind: FolderKind, *, identity: Any = None,
                identity_of: Callable[[dict[str, Any]], Any] | None = None, resume: bool | None = None,
                abandoned: Callable[[RunFolder], bool] | None = None,
                resume_hint: str = "Pass resume=True to continue it") -> Opening:
    """Decide how ``path`` is opened for a writer of ``kind``, without writing anything.

    Parameters
    ----------
    path : str or path-like
    kind : FolderKind
    identity : object or None
        What makes this run this run (JSON-like); compared with ``identity_of(record)``.
        None skips the comparison (the caller compares).
    identity_of : callable or None
        The identity stored in a record (default: ``record["identity"]``).
    resume : bool or None
        True: continue the folder's run (an empty folder starts fresh, with a note);
        False: a fresh run only; None: continue when the folder holds this run, start
        when it is empty (studies, sweeps).
    abandoned : callable or None
        Whether a folder of this kind is an abandoned start (set up, nothing done): it is
        then started afresh, whatever ``resume`` says.
    resume_hint : str
        How to continue, for the message of a non-empty folder without ``resume``.

    Raises
    ------
    NotAFolderError, FolderNotEmptyError, ForeignFolderError, ConfigMismatchError, DamagedFolderError
    """
    path = Path(path)
    folder = RunFolder(path, what=kind.what)
    check_not_a_file(path, what=kind.what)
    entries = folder.entries()
    if not entries:
        note = f"nothing to resume in {path} (no {kind.noun} there yet): starting a fresh {kind.noun}." \
            if resume else ""
        return Opening(folder, True, note=note)
    found, record = identify(path)
    if found is None and resume is False:
        raise FolderNotEmptyError(f"The {kind.what} folder {str(path)!r} is not empty (it holds {_shown(entries)}). "
                                  f"{resume_hint}, or choose a new or empty folder.")
    if found is None and (path / kind.record).is_file():
        raise DamagedFolderError(
            f"{str(path / kind.record)!r} does not describe an ibscope {kind.what}; the folder is damaged or was "
            "written by something else. Pass another folder.")
    if found is None:
        raise FolderNotEmptyError(f"The {kind.what} folder {str(path)!r} is not empty and has no {kind.record}: it "
                                  f"holds {_shown(entries)}. Pass a new or empty folder.")
    if found is not kind:
        raise ForeignFolderError(
            f"The {kind.what} folder {str(path)!r} has no {kind.record}: it is an ibscope {found.what} folder "
            f"(it has a {found.record}; read it with {found.reader}). Pass a new or empty folder.")
    if record is None:
        raise DamagedFolderError(
            f"{str(path / kind.record)!r} cannot be read as an ibscope {kind.what} record; the folder is damaged. "
            "Move it away and start again, or pass another folder.")
    if abandoned is not None and abandoned(folder):
        return Opening(folder, True, note=f"{path} holds a {kind.noun} that was set up but finished no epoch; its "
                                          f"files are replaced by this fresh {kind.noun}.", clear=True)
    if resume is False:
        raise FolderNotEmptyError(f"The run folder {str(path)!r} is not empty (it holds {_shown(entries)}). "
                                  f"{resume_hint}, or choose a new or empty folder.")
    if identity is not None:
        stored = identity_of(record) if identity_of is not None else record.get("identity")
        old, new = json.loads(json.dumps(stored)), json.loads(json.dumps(identity))
        if old != new:
            diffs = config_diff(old, new) or ["(order)"]
            raise ConfigMismatchError(
                f"The folder {str(path)!r} holds another {kind.what} (it differs in: {_shown(diffs)}). It was left "
                "unchanged; run it with its own settings to continue it, or pass another folder.", diffs)
    return Opening(folder, False, record=record)


@contextlib.contextmanager
def open_folder(path: str | os.PathLike[str], kind: FolderKind, *, hint: str, **plan: Any) -> Iterator[Opening]:
    """:func:`plan_folder`, then create the folder, take its lock and plan again under it.

    Yields the :class:`Opening` decided under the lock; the lock is held until the
    ``with`` block ends. Keywords as :func:`plan_folder`; ``hint`` is the last sentence
    of the refusal when another process holds the lock.
    """
    plan_folder(path, kind, **plan)  # refuse before anything is created
    make_folder(path)
    with FolderLock(path, what=kind.what, hint=hint):
        opening = plan_folder(path, kind, **plan)
        if opening.clear:
            clear_folder(opening.folder, kind)
        yield opening


def clear_folder(folder: RunFolder, kind: FolderKind) -> None:
    """Remove what a writer of ``kind`` puts in ``folder`` (an abandoned start), nothing else."""
    import shutil

    for name in kind.entries:
        p = folder.path / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def require_kind(path: str | os.PathLike[str], kind: FolderKind) -> dict[str, Any]:
    """The record of the ``kind`` folder ``path`` (for readers).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    NotAFolderError, ForeignFolderError, DamagedFolderError
    """
    path = Path(path).expanduser()
    what = f"ibscope {kind.what.lower()} folder"
    if not path.exists():
        raise FileNotFoundError(f"The {kind.what.lower()} folder {str(path)!r} does not exist.")
    if not path.is_dir():
        raise NotAFolderError(f"{str(path)!r} is a file, not an {what}.")
    found, record = identify(path)
    if found is None:
        raise ForeignFolderError(f"{str(path)!r} is not an {what}: it has no {kind.record}.")
    if found is not kind:
        raise ForeignFolderError(f"{str(path)!r} is an ibscope {found.what.lower()} (it has a {found.record}), not "
                                 f"an {what}: read it with {found.reader}.")
    if record is None:
        raise DamagedFolderError(f"{str(path / kind.record)!r} cannot be read; the {kind.what} folder is damaged.")
    return dict(record)
