"""A study's results: the table over seeds (``summary.csv``), the data frames, the figures."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

from ..ib.config import IBConfig
from ..ib.results import load_run
from ..runs import atomic_write_text
from ..runs.aggregate import seed_table
from ..runs.schema import INFO, METRICS
from .folder import FIGURES_DIR, RUNS_DIR, STUDY_FILE, SUMMARY_FILE, read_study_record, run_state
from .grid import Point, check_grid, points

__all__ = ["summarize_study", "StudyData", "load_study", "plot_study", "SUMMARY_VALUES", "SUMMARY_METRICS",
           "write_summary", "draw", "phase_table", "PHASES_FILE", "GATED"]

#: The phase verdicts of a study (one row per point, layer and quantity).
PHASES_FILE = "phases.csv"

#: The plotted quantities the phase gate judges: column, kind ("xl" or "ly"), the same quantity under a second
#: estimator and under a second code dimension. A proven lower bound needs no second estimator (it is not an
#: estimate), so its own column stands for both; I(L;Y) is read by decoders, which have no code dimension.
GATED = (
    ("xl_lower", "xl", "xl_lower", "xl_lower"),
    ("i_xl_code", "xl", "i_xl_code_ksg", "i_xl_code_2d"),
    ("i_ly", "ly", "i_ly_best", "i_ly_best"),
)

#: ``info.csv`` columns averaged over seeds in ``summary.csv`` (``<col>_mean``, ``<col>_std``).
SUMMARY_VALUES = INFO.summarised
#: ``metrics.csv`` columns averaged over seeds in ``summary.csv``.
SUMMARY_METRICS = METRICS.summarised


def summarize_study(info, metrics, *, grid_keys=()) -> Any:
    """Mean and standard deviation over seeds per grid point, epoch and layer (the ``summary.csv`` table).

    Parameters
    ----------
    info : pandas.DataFrame
        ``info.csv`` rows of every run with the columns ``point`` and ``seed`` (the run's seed) and
        the grid keys, as in :attr:`StudyData.info`.
    metrics : pandas.DataFrame
        ``metrics.csv`` rows of every run with ``point`` and ``seed``.
    grid_keys : sequence of str
        Grid columns copied into the table (constant within a point).

    Returns
    -------
    pandas.DataFrame
        Columns ``point``, the grid keys, ``epoch``, ``layer``, ``layer_index``, ``n_seeds``, then
        ``<col>_mean`` and ``<col>_std`` for each of :data:`SUMMARY_VALUES` and (from the epoch's
        ``metrics.csv`` rows) :data:`SUMMARY_METRICS`, then ``units``. Standard deviations use
        ``ddof=1`` (NaN for a single seed); the values are in the runs' units.
    """
    keys = list(grid_keys)
    table = seed_table(info, metrics, by=["point"])
    if keys:
        per_point = info.drop_duplicates("point").set_index("point")[keys]
        table = table.join(per_point, on="point")
        table = table[["point", *keys, *[c for c in table.columns if c not in keys and c != "point"]]]
    return table


def _frames(out: Path, record: dict, runs_only=None):
    """``(runs, info, metrics)`` of a study folder (info and metrics over every run that has rows)."""
    import pandas as pd


    grid_keys = list(record["grid"])
    rows: list[dict] = []
    infos: list = []
    mets: list = []
    epochs_of = {p["name"]: p["config"].get("epochs") for p in record["identity"]["points"]}
    for p in record["points"]:
        for seed in record["seeds"]:
            rel = f"{RUNS_DIR}/{p['name']}/seed{seed}"
            path = out / rel
            state = run_state(path, int(epochs_of.get(p["name"]) or 0))
            rows.append({"point": p["name"], **p["values"], "seed": seed, "path": str(path), "status": state})
            if state == "missing" or (runs_only is not None and state not in runs_only):
                continue
            try:
                run = load_run(path)
            except (OSError, ValueError):
                continue
            for frame, sink in ((run.info, infos), (run.metrics, mets)):
                if not len(frame):
                    continue
                frame = frame.rename(columns={"seed": "analysis_seed"}) if "seed" in frame else frame.copy()
                frame.insert(0, "seed", seed)
                for k in reversed(grid_keys):
                    if k in frame:
                        frame = frame.drop(columns=k)
                    frame.insert(0, k, [p["values"][k]] * len(frame))
                frame.insert(0, "point", p["name"])
                sink.append(frame)
    runs = pd.DataFrame(rows)
    info = pd.concat(infos, ignore_index=True) if infos else pd.DataFrame(columns=["point", *grid_keys, "seed"])
    metrics = pd.concat(mets, ignore_index=True) if mets else pd.DataFrame(columns=["point", *grid_keys, "seed"])
    return runs, info, metrics


@dataclasses.dataclass
class StudyData:
    """The contents of a study folder (what :func:`load_study` returns).

    Attributes
    ----------
    path : pathlib.Path
        The study folder.
    record : dict
        ``study.json``.
    runs : pandas.DataFrame
        One row per run: ``point``, the grid keys, ``seed``, ``path`` and ``status``
        (``"finished"``, ``"partial"``: started but not finished, ``"missing"``: not started).
    info : pandas.DataFrame
        ``info.csv`` rows of every run that has some, with ``point``, the grid keys and ``seed``
        (the run's seed) in front; the file's own ``seed`` column (the analysis seed derived from
        it) is renamed ``analysis_seed``, and a grid key that is also an ``info.csv`` column
        (``k``, ``refit``, ...) holds the configured value.
    metrics : pandas.DataFrame
        ``metrics.csv`` rows of those runs, with the same leading columns.
    summary : pandas.DataFrame
        ``summary.csv`` (see :func:`summarize_study`), or the same table computed from the
        finished runs when the file is not there yet.
    """

    path: Path
    record: dict
    runs: Any
    info: Any
    metrics: Any
    summary: Any

    @property
    def seeds(self) -> list:
        """The study's seeds."""
        return list(self.record["seeds"])

    @property
    def grid(self) -> dict:
        """The study's grid, ``{key: [values]}`` (empty without one)."""
        return dict(self.record["grid"])

    def __repr__(self) -> str:
        counts = self.runs["status"].value_counts().to_dict() if len(self.runs) else {}
        shown = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        return f"StudyData({str(self.path)!r}, {len(self.runs)} runs: {shown})"


def load_study(study_dir) -> StudyData:
    """Read a study folder (written by :func:`run_study` or ``ibscope ib --seeds``) into data frames.

    Parameters
    ----------
    study_dir : str or path-like

    Returns
    -------
    StudyData
        ``runs``, ``info``, ``metrics`` (over every run, with ``point``, grid and ``seed``
        columns) and ``summary`` (mean and std over seeds).

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    RunFolderError
        If it is not a study folder (e.g. a single run's folder, which :func:`ibscope.ib.load_run`
        reads). A ``ValueError``.

    Examples
    --------
    >>> study = load_study("runs/digits-study")                                       # doctest: +SKIP
    >>> last = study.info[study.info.epoch == study.info.epoch.max()]                 # doctest: +SKIP
    >>> last.groupby(["noise", "layer"])["i_xl"].agg(["mean", "std"])                  # doctest: +SKIP
    """
    import pandas as pd

    path = Path(study_dir).expanduser()
    record = read_study_record(path)
    runs, info, metrics = _frames(path, record)
    summary_path = path / SUMMARY_FILE
    if summary_path.is_file():
        summary = pd.read_csv(summary_path)
    else:
        table, _, _ = _tables(path, record)
        summary = table if table is not None else pd.DataFrame()
    return StudyData(path=path, record=record, runs=runs, info=info, metrics=metrics, summary=summary)



def phase_table(info) -> Any:
    """The phase gate (:func:`ibscope.infobounds.trend_gate`) per grid point, layer and plotted quantity.

    Parameters
    ----------
    info : pandas.DataFrame
        ``info.csv`` rows of a study's finished runs with ``point`` and ``seed``.

    Returns
    -------
    pandas.DataFrame
        ``point``, ``layer``, ``quantity``, ``n_seeds``, ``change`` (mean over seeds of the change from
        the early to the late third of the epochs), ``spread`` (its seed spread), ``sign_primary``,
        ``sign_second_estimator``, ``sign_second_dim``, ``verdict`` ("increase", "decrease", "no
        claim"), ``phase`` ("fitting", "compression" or empty) and ``reasons``. A fall of a lower
        bound (``xl_lower``) is never called compression: the bound falling does not prove that
        I(X;L) does.
    """
    import numpy as np
    import pandas as pd

    from ..infobounds import trend_gate

    rows: list[dict[str, Any]] = []
    if not len(info):
        return pd.DataFrame(rows)
    for point, pdf in info.groupby("point", sort=False):
        for layer, ldf in pdf.groupby("layer", sort=False):
            epochs = np.sort(ldf["epoch"].unique())
            for col, kind, second, dim in GATED:
                if col not in ldf or not np.isfinite(pd.to_numeric(ldf[col], errors="coerce")).any():
                    continue
                if len(epochs) < 2:
                    rows.append({"point": point, "layer": layer, "quantity": col, "n_seeds": int(ldf["seed"].nunique()),
                                 "verdict": "no claim", "phase": "", "reasons": "fewer than 2 analysed epochs"})
                    continue

                g = trend_gate(_per_seed(ldf, col, epochs), epochs=epochs,
                               second_estimator=_per_seed(ldf, second, epochs),
                               second_dim=_per_seed(ldf, dim, epochs), quantity=kind)
                phase = g["phase"]
                reasons = list(g["reasons"])
                if col == "xl_lower" and g["verdict"] == "decrease":
                    phase = None
                    reasons.append("a falling lower bound does not show that I(X;L) falls")
                signs = g["signs"]
                rows.append({"point": point, "layer": layer, "quantity": col, "n_seeds": g["n_seeds"],
                             "change": g["change"], "spread": g["spread"], "sign_primary": signs.get("primary"),
                             "sign_second_estimator": signs.get("second_estimator"),
                             "sign_second_dim": signs.get("second_dim"), "verdict": g["verdict"],
                             "phase": phase or "", "reasons": "; ".join(reasons)})
    return pd.DataFrame(rows)


def _per_seed(rows, column: str, epochs):
    """A column as an array of shape (n_seeds, n_epochs) (None when the rows lack it)."""
    if column not in rows:
        return None
    table = rows.pivot_table(index="seed", columns="epoch", values=column, aggfunc="first")
    return table.reindex(columns=epochs).to_numpy(float)


def _phase_notes(phases, point: str) -> dict[str, str]:
    """Per layer, the verdicts of one point as a few short lines for its figure."""
    notes: dict[str, str] = {}
    if phases is None or not len(phases):
        return notes
    names = {"xl_lower": "I(X;L) bound", "i_xl_code": "code MI", "i_ly": "I(L;Y)"}
    for _, r in phases[phases["point"] == point].iterrows():
        text = r["phase"] or ("no claim" if r["verdict"] == "no claim" else f"{r['verdict']}, no phase")
        notes[r["layer"]] = (notes.get(r["layer"], "") + ("\n" if r["layer"] in notes else "")
                             + f"{names.get(r['quantity'], r['quantity'])}: {text}")
    return notes


def _tables(out: Path, record: dict):
    """``(summary table, metrics table)`` over the finished runs of a study, from one read of their folders
    (``(None, None)`` when no run has finished)."""
    from ..runs.aggregate import seed_metrics

    _, info, metrics = _frames(out, record, runs_only={"finished"})
    if not len(info):
        return None, None, None
    table = summarize_study(info, metrics, grid_keys=list(record["grid"]))
    return table, seed_metrics(metrics, by=["point"], metric_values=("train_loss", "train_acc", "test_loss",
                                                                        "test_acc")), phase_table(info)


def write_summary(out: Path, record: dict):
    """Write ``summary.csv`` and ``phases.csv`` over the finished runs; return ``(table, metrics table,
    phases)`` (Nones when none finished)."""
    table, mtable, phases = _tables(out, record)
    if table is not None:
        atomic_write_text(out / SUMMARY_FILE, table.to_csv(index=False))
        atomic_write_text(out / PHASES_FILE, phases.to_csv(index=False))
    return table, mtable, phases


def draw(out: Path, table, mtable, study_points: list[Point], formats, phases=None) -> list:
    """The mean +- std figures of every point into ``out/figures/<point>/``, from the summary tables."""
    from ..plots.seeds import bands_from_table, plot_bands

    written: list = []
    if table is None:
        return written
    for p in study_points:
        part = table[table["point"] == p.name]
        if not len(part):
            continue
        try:
            agg, _ = bands_from_table(part)
            magg = mtable[mtable["point"] == p.name].drop(columns="point").rename(columns={"n_seeds": "n_runs"})
            written += plot_bands(agg, magg.sort_values("epoch").reset_index(drop=True),
                                  out=out / FIGURES_DIR / p.name, formats=formats,
                                  label=p.label if p.values else None, notes=_phase_notes(phases, p.name))
        except Exception as exc:  # the results are on disk; a plotting problem must not hide them
            warnings.warn(f"Drawing the figures of {p.name} in {out} failed ({type(exc).__name__}: {exc}); the "
                          "results are intact.", RuntimeWarning, stacklevel=3)
    return written


def plot_study(out, *, formats=("png", "pdf")) -> list:
    """(Re)draw a study's mean +- std figures from its finished runs: ``ibscope plot STUDY``.

    Parameters
    ----------
    out : str or path-like
        A study folder (it holds ``study.json``).
    formats : sequence of str, default=("png", "pdf")

    Returns
    -------
    list of pathlib.Path
        The files written, under ``out/figures/<point>/`` (none for points without a finished run).

    Raises
    ------
    RunFolderError
        ``out`` is not a study folder, or its ``study.json`` cannot be read.
    """
    out = Path(out)
    record = read_study_record(out)
    config = IBConfig.from_dict(record["config"], source=str(out / STUDY_FILE))
    table, mtable, phases = _tables(out, record)
    return draw(out, table, mtable, points(config, check_grid(record["grid"])), formats, phases)
