"""One IB run folder as data frames: :func:`load_run` and :class:`RunData`.

:func:`load_run` reads what any writer of an IB run folder wrote -- :func:`ibscope.ib.run_ib`
(``ibscope ib``), each run of a study, and the Lightning callback
:class:`ibscope.integrations.lightning.InformationPlane` -- into pandas data frames with
numeric columns as floats (the schema of :mod:`ibscope.runs.schema`), for analysis in a
notebook or a script::

    >>> from ibscope.ib import load_run
    >>> run = load_run("runs/digits-s0")                                   # doctest: +SKIP
    >>> run.info.query("layer == 'L3'")[["epoch", "i_xl", "i_ly"]]         # doctest: +SKIP
    >>> run.metrics["test_acc"].iloc[-1], run.config.noise                 # doctest: +SKIP

Several seeds (and settings) at once are read by :func:`ibscope.ib.load_study`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..runs.errors import DamagedFolderError
from ..runs.ibrun import RunArtefact
from .config import IBConfig

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
    config : IBConfig or None
        The run's resolved configuration (``config.seed`` is the run's seed); None for a folder
        written by the Lightning callback, which trains a model of its own (its settings are in
        :attr:`analysis`).
    record : dict
        The whole ``config.json`` (writer, versions, device, derived seeds, resumes, ...).
    summary : dict or None
        ``summary.json``, written when the run completed (None while it has not).
    problems : list of str
        What in the folder contradicts its ``summary.json`` (e.g. an ``info.csv`` cut short after
        the run finished); a run with problems is not :attr:`finished`, and :func:`load_run` warns.
    """

    path: Path
    info: Any
    metrics: Any
    config: IBConfig | None
    record: dict
    summary: dict | None
    problems: list = dataclasses.field(default_factory=list)

    @property
    def analysis(self) -> dict:
        """The analysis settings every writer records (layers, compressors, estimators, k, CI, probe size)."""
        return dict(self.record.get("analysis") or {})

    @property
    def writer(self) -> str:
        """Which writer made the folder: ``"ibscope ib"`` or ``"lightning"``."""
        return str(self.record.get("writer", "ibscope ib"))

    @property
    def finished(self) -> bool:
        """Whether the run completed all its epochs (its ``summary.json`` says so) and its files agree with it."""
        if self.problems:
            return False
        if self.config is None:  # Lightning: a summary is written when a fit ends
            return self.summary is not None
        return completed_all(self.summary, self.config.epochs)

    def __repr__(self) -> str:
        state = "finished" if self.finished else "not finished"
        seed = f"seed={self.config.seed}, " if self.config is not None else f"writer={self.writer!r}, "
        return (f"RunData({str(self.path)!r}, {seed}{len(self.metrics)} epoch(s), "
                f"{len(self.info)} info row(s), {state})")


def read_summary(run_dir) -> dict | None:
    """``summary.json`` of a run folder (None when it is missing or unreadable: the run has not finished)."""
    return RunArtefact(run_dir).read_summary()


def completed_all(summary: dict | None, epochs) -> bool:
    """Whether a run's ``summary.json`` says that all of its ``epochs`` are done."""
    done = summary.get("completed_epochs") if summary else None
    return isinstance(done, int) and epochs is not None and done >= epochs


def load_run(run_dir) -> RunData:
    """Read an IB run folder into data frames.

    Parameters
    ----------
    run_dir : str or path-like
        A folder written by :func:`ibscope.ib.run_ib` (or ``ibscope ib``, or a study's run), or by
        the Lightning callback :class:`~ibscope.integrations.lightning.InformationPlane`, finished or not.

    Returns
    -------
    RunData
        ``info`` and ``metrics`` data frames, the configuration and the folder's records. A run
        that finished no epoch yet has empty frames with the usual columns.

    Warns
    -----
    RuntimeWarning
        When the files contradict ``summary.json`` (rows lost after the run finished): the run is
        then reported as not finished (:attr:`RunData.problems` says why).

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
    from .run import load_run_config

    path = Path(run_dir).expanduser()
    record = load_run_config(path)
    config = None
    if isinstance(record.get("config"), dict):
        try:
            config = IBConfig.from_dict(record["config"], source=str(path / "config.json"))
        except (TypeError, ValueError) as exc:
            raise DamagedFolderError(f"The configuration in {path / 'config.json'} cannot be read: {exc}") from None
    artefact = RunArtefact(path)
    info, metrics = artefact.frames()
    summary = artefact.read_summary()
    problems = artefact.warn_inconsistent()
    return RunData(path=path, info=info, metrics=metrics, config=config, record=record, summary=summary,
                   problems=problems)
