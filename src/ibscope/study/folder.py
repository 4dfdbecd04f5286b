"""A study's folder: its record (``study.json``), its identity, and the state of its runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..ib.config import IBConfig
from ..runs import config_diff, jsonable
from ..runs.errors import ConfigMismatchError, DamagedFolderError, ForeignFolderError
from ..runs.ibrun import RunArtefact
from ..runs.lifecycle import IB_STUDY, plan_folder, require_kind
from .grid import Point, strip_unchanging

__all__ = ["STUDY_FILE", "SUMMARY_FILE", "RUNS_DIR", "FIGURES_DIR", "FORMAT", "FORMAT_VERSION", "identity",
           "read_study_record", "check_folder", "run_state", "Run"]

STUDY_FILE = IB_STUDY.record
SUMMARY_FILE = "summary.csv"
RUNS_DIR = "runs"
FIGURES_DIR = "figures"
FORMAT = IB_STUDY.format
FORMAT_VERSION = 1


def identity(base: IBConfig, seeds: list[int], grid: dict, points: list[Point]) -> dict:
    """What makes a study this study (compared with ``study.json`` when it is run again)."""
    return jsonable({
        "config": strip_unchanging(base.resolved().to_dict(), "seed"),
        "seeds": list(seeds),
        "grid": {k: list(v) for k, v in grid.items()},
        "points": [{"name": p.name, "values": p.values,
                    "config": strip_unchanging(p.config.resolved().to_dict(), "seed")} for p in points],
    })


def read_study_record(out) -> dict:
    """``study.json`` of a study folder.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    RunFolderError
        If the folder has none (:class:`~ibscope.runs.ForeignFolderError`; an IB run folder is named as
        such), or it cannot be read (:class:`~ibscope.runs.DamagedFolderError`).
    """
    out = Path(out)
    try:
        record = require_kind(out, IB_STUDY)
    except ForeignFolderError:
        hint = " It is an ib run folder: read it with ibscope.ib.load_run." if (out / "config.json").is_file() else ""
        raise ForeignFolderError(f"{str(out)!r} is not an ibscope ib study folder: it has no {STUDY_FILE}.{hint}"
                                 ) from None
    if "identity" not in record:
        raise DamagedFolderError(f"{str(out / STUDY_FILE)!r} is not an ibscope ib study file.")
    return record


def check_folder(out: Path, study_identity: dict) -> dict | None:
    """Check ``out`` for this study without writing; return its ``study.json`` (None for a new study).

    Raises
    ------
    RunFolderError
        Another study (:class:`~ibscope.runs.ConfigMismatchError`, naming the differing keys), another
        kind of folder, or files that are not a study's.
    """
    try:
        opening = plan_folder(out, IB_STUDY, identity=study_identity, identity_of=lambda r: r.get("identity"))
    except ConfigMismatchError:
        old = json.loads(json.dumps(read_study_record(out)["identity"]))
        new = json.loads(json.dumps(study_identity))
        top = ("config", "seeds", "grid")  # name what the user set; the points follow from them
        diffs = config_diff({k: old.get(k) for k in top}, {k: new.get(k) for k in top}) or config_diff(old, new)
        shown = ", ".join(diffs[:6]) + (", ..." if len(diffs) > 6 else "")
        raise ConfigMismatchError(
            f"The folder {str(out)!r} holds another study (it differs in: {shown or 'the order of the grid'}). "
            "It was left unchanged; run it with its own settings to continue it, or pass another --out.",
            diffs) from None
    return None if opening.fresh else opening.record


def run_state(path: Path, epochs: int) -> str:
    """``"finished"`` (summary.json says every epoch is done, and the files agree), ``"partial"`` (resume)
    or ``"missing"``."""
    art = RunArtefact(path)
    if not art.folder.entries():
        return "missing"
    return "finished" if art.finished(epochs) else "partial"


@dataclasses.dataclass
class Run:
    point: Point
    seed: int
    path: Path
    config: IBConfig
    state: str = "missing"

    @property
    def name(self) -> str:
        return f"{self.point.name}/seed{self.seed}"
