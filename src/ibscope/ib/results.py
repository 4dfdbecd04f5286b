"""One IB run folder as data frames: :func:`load_run` and :class:`RunData`.

:func:`load_run` reads what :func:`ibscope.ib.run_ib` wrote (``config.json``,
``info.csv``, ``metrics.csv``, ``summary.json``) into pandas data frames with
numeric columns as floats, for analysis in a notebook or a script::

    >>> from ibscope.ib import load_run
    >>> run = load_run("runs/digits-s0")                                   # doctest: +SKIP
    >>> run.info.query("layer == 'L3'")[["epoch", "i_xl", "i_ly"]]         # doctest: +SKIP
    >>> run.metrics["test_acc"].iloc[-1], run.config.noise                 # doctest: +SKIP

Several seeds (and settings) at once are read by :func:`ibscope.ib.load_study`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .callbacks import METRICS_COLUMNS, RunFolderError
from .config import IBConfig
from .recorder import INFO_COLUMNS

__all__ = ["RunData", "load_run", "read_summary", "completed_all"]


@dataclasses.dataclass
class RunData:
    """The contents of one IB run folder (what :func:`load_run` returns).

    Attributes
    ----------
    path : pathlib.Path
        The run folder.
    info : pandas.DataFrame
        ``info.csv``: one row per analysed epoch and layer (columns :data:`ibscope.ib.INFO_COLUMNS`;
        the estimates ``i_xl``, ``i_ly``, their intervals, ``h_y`` and the bounds as floats, in the
        ``units`` column's units; ``seed`` is the analysis seed derived from the run's seed).
    metrics : pandas.DataFrame
        ``metrics.csv``: one row per trained epoch (losses in nats per sample, accuracies in [0, 1]).
    config : IBConfig
        The run's resolved configuration (``config.seed`` is the run's seed).
    record : dict
        The whole ``config.json`` (versions, device, derived seeds, resumes, ...).
    summary : dict or None
        ``summary.json``, written when the run completed (None while it has not).
    """

    path: Path
    info: Any
    metrics: Any
    config: IBConfig
    record: dict
    summary: dict | None

    @property
    def finished(self) -> bool:
        """Whether the run completed all its configured epochs (it has a ``summary.json`` saying so)."""
        return completed_all(self.summary, self.config.epochs)

    def __repr__(self) -> str:
        state = "finished" if self.finished else "not finished"
        return (f"RunData({str(self.path)!r}, seed={self.config.seed}, {len(self.metrics)} epoch(s), "
                f"{len(self.info)} info row(s), {state})")


def read_summary(run_dir) -> dict | None:
    """``summary.json`` of a run folder (None when it is missing or unreadable: the run has not finished)."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def completed_all(summary: dict | None, epochs) -> bool:
    """Whether a run's ``summary.json`` says that all of its ``epochs`` are done."""
    done = summary.get("completed_epochs") if summary else None
    return isinstance(done, int) and epochs is not None and done >= epochs


def _empty(columns):
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})


def load_run(run_dir) -> RunData:
    """Read an IB run folder into data frames.

    Parameters
    ----------
    run_dir : str or path-like
        A folder written by :func:`ibscope.ib.run_ib` (or ``ibscope ib``), finished or not.

    Returns
    -------
    RunData
        ``info`` and ``metrics`` data frames, the configuration and the folder's records. A run
        that finished no epoch yet has empty frames with the usual columns.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` does not exist.
    RunFolderError
        If it is not an IB run folder (no or a foreign ``config.json``; a study folder, which
        :func:`ibscope.ib.load_study` reads), or its configuration cannot be read. A ``ValueError``.

    Examples
    --------
    >>> run = load_run("runs/digits-s0")                                 # doctest: +SKIP
    >>> run.info.pivot(index="epoch", columns="layer", values="i_xl")    # doctest: +SKIP
    """
    from ..plots.ib import read_info, read_metrics
    from .run import load_run_config

    path = Path(run_dir).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"The run folder {str(path)!r} does not exist.")
    if not path.is_dir():
        raise RunFolderError(f"{str(path)!r} is a file, not an ibscope ib run folder.")
    if (path / "study.json").is_file() and not (path / "config.json").is_file():
        raise RunFolderError(f"{str(path)!r} is an ibscope ib study (it has a study.json), not a single run: "
                             "read it with ibscope.ib.load_study.")
    record = load_run_config(path)
    try:
        config = IBConfig.from_dict(record["config"], source=str(path / "config.json"))
    except (TypeError, ValueError) as exc:
        raise RunFolderError(f"The configuration in {path / 'config.json'} cannot be read: {exc}") from None
    info = read_info(path) if (path / "info.csv").is_file() else _empty(INFO_COLUMNS)
    metrics = read_metrics(path) if (path / "metrics.csv").is_file() else _empty(METRICS_COLUMNS)
    summary = read_summary(path)
    return RunData(path=path, info=info, metrics=metrics, config=config, record=record, summary=summary)
