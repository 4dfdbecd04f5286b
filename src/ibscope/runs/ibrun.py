"""The IB run folder: its files, its logs, its summary, and one reader.

Both writers of an IB run folder -- :func:`ibscope.ib.run_ib` (``ibscope ib``) and the
Lightning callback :class:`ibscope.integrations.lightning.InformationPlane` -- write the
same layout, in the same order, through :class:`RunArtefact`::

    RUN_DIR/
      config.json          the record: format, writer, configuration, analysis settings, versions, resumes
      metrics.csv          one row per trained epoch (schema: ibscope.runs.schema.METRICS)
      info.csv             one row per analysed epoch and layer (schema: ibscope.runs.schema.INFO)
      checkpoints/last.pt  what a resumed run needs to continue (ibscope ib)
      compressors/         fitted compressors (folders written before the state moved into the checkpoint)
      figures/             figures
      summary.json         written when a run (or a fit) ends: see :func:`run_summary`

Each epoch's rows are appended (and ``fsync``-ed) before the checkpoint that implies
them is written, so a folder is never behind its checkpoint; a resumed run trims the
logs back to the checkpoint's epoch (:meth:`RunArtefact.trim`). :func:`ibscope.ib.load_run`
reads what either writer wrote.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .csvlog import CSVLog
from .folder import RunFolder
from .lifecycle import IB_RUN, FolderKind
from .record import utc_now
from .schema import INFO, METRICS, Schema, cell, epoch_of, number, parse_flags

__all__ = ["RunArtefact", "run_summary", "count_flags", "upgrade_info", "FORMAT", "FORMAT_VERSION", "CONFIG_FILE",
           "INFO_FILE", "METRICS_FILE", "SUMMARY_FILE", "CHECKPOINT", "COMPRESSORS", "FIGURES", "BOUND_COLUMNS"]

FORMAT = IB_RUN.format
#: 2: one format for every writer (``writer`` names it), the analysis settings under ``analysis``;
#: 3: ``i_xl`` is the estimate of I(X;L) itself, within the brackets ``xl_lower``/``xl_upper``, and the
#: paper's code MI moved to ``i_xl_code`` (folders of versions 1-2 are read with their ``i_xl`` as ``i_xl_code``).
FORMAT_VERSION = 3
CONFIG_FILE = "config.json"
METRICS_FILE = METRICS.filename
INFO_FILE = INFO.filename
SUMMARY_FILE = "summary.json"
CHECKPOINT = Path("checkpoints") / "last.pt"
COMPRESSORS = "compressors"
FIGURES = "figures"

#: ``info.csv`` columns that hold the bounds from the network's own prediction, after ``h_y``.
BOUND_COLUMNS = ("bound", "bound_ba", "bound_plugin", "bound_fano")


def count_flags(rows: Iterable[Mapping[str, Any]]) -> tuple[int, dict[str, int]]:
    """``(rows with any flag, {flag: rows carrying it})`` over ``info.csv`` rows."""
    counts: dict[str, int] = {}
    n_flagged = 0
    for r in rows:
        flags = parse_flags(r.get("flags"))
        n_flagged += bool(flags)
        for f in flags:
            counts[f] = counts.get(f, 0) + 1
    return n_flagged, counts


def _finite_or_none(v: Any) -> float | None:
    f = number(v)
    return f if f is not None and math.isfinite(f) else None


def _bounds_summary(info_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The lower bounds on I(L;Y) from the net's own prediction: per analysed epoch, and the last one."""
    per_epoch: dict[int, dict[str, Any]] = {}
    for r in info_rows:
        e = epoch_of(r)
        if e is None or e in per_epoch:
            continue
        per_epoch[e] = {"epoch": e, **{c: _finite_or_none(r.get(c)) for c in ("h_y", *BOUND_COLUMNS)},
                        "units": r.get("units")}
        if per_epoch[e]["bound"] is None:
            notes = [w for w in (r.get("warnings") or "").split(" | ") if w.startswith("bound: not computed")]
            per_epoch[e]["note"] = notes[0] if notes else "no bound in this row"
    epochs = [per_epoch[e] for e in sorted(per_epoch)]
    return {"last": epochs[-1] if epochs else None, "per_epoch": epochs,
            "rows_below_bound": sum("below_bound" in parse_flags(r.get("flags")) for r in info_rows),
            "what": "lower bounds on every layer's I(L;Y) from the network's own prediction on the probe set: "
                    "bound_ba = H(Y) - NLL, bound_plugin = plug-in I(Y_hat;Y), bound_fano = Fano; bound = the "
                    "largest (see ibscope.plane.bounds)"}


def run_summary(info_rows: list[dict[str, Any]], metrics_rows: list[dict[str, Any]], *, completed_epochs: int,
                time_s: float, figures: Iterable[str] = (), layers: Iterable[str] | None = None) -> dict[str, Any]:
    """The content of ``summary.json`` (the same for every writer).

    Parameters
    ----------
    info_rows, metrics_rows : list of dict
        The folder's rows (as read back).
    completed_epochs : int
        Epochs trained so far.
    time_s : float
        Wall-clock seconds of the call that wrote the summary.
    figures : iterable of str
        Figure files, relative to the run folder.
    layers : iterable of str or None
        The analysed layers (default: those of ``info_rows``, in order).

    Returns
    -------
    dict
        ``completed_epochs``, ``analysed_epochs``, ``layers``, ``final_metrics`` (the last
        ``metrics.csv`` row, typed), ``n_info_rows``, ``n_metrics_rows``, ``n_flagged``,
        ``flag_counts``, ``bounds``, ``figures``, ``finished`` (UTC time), ``time_s_last_call``.
    """
    n_flagged, counts = count_flags(info_rows)
    final = METRICS.parse(metrics_rows[-1]) if metrics_rows else {}
    analysed = sorted({e for e in (epoch_of(r) for r in info_rows) if e is not None})
    if layers is None:
        layers = list(dict.fromkeys(str(r.get("layer")) for r in info_rows))
    return {
        "completed_epochs": int(completed_epochs),
        "analysed_epochs": analysed,
        "layers": list(layers),
        "final_metrics": final,
        "n_info_rows": len(info_rows),
        "n_metrics_rows": len(metrics_rows),
        "n_flagged": n_flagged,
        "flag_counts": counts,
        "figures": list(figures),
        "bounds": _bounds_summary(info_rows),
        "finished": utc_now(),
        "time_s_last_call": float(time_s),
    }


def upgrade_info(info: Any) -> Any:
    """An ``info.csv`` frame in the columns of this version: in folders of formats 1-2 the only I(X;L)
    column, ``i_xl``, was the code MI; it is renamed ``i_xl_code`` (and its interval likewise)."""
    if "i_xl" in info and "i_xl_code" not in info:
        info = info.rename(columns={c: c.replace("i_xl", "i_xl_code", 1) for c in
                                    ("i_xl", "i_xl_lo", "i_xl_hi", "i_xl_raw") if c in info})
    return info


class RunArtefact:
    """The files of one IB run folder, as every writer and reader uses them.

    Parameters
    ----------
    path : str or path-like
        The run folder.
    """

    kind: FolderKind = IB_RUN

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.folder = RunFolder(self.path, what=IB_RUN.what)

    def __repr__(self) -> str:
        return f"RunArtefact({str(self.path)!r})"

    # ------------------------------------------------------------------ logs
    def _log(self, schema: Schema) -> CSVLog:
        return self.folder.log(schema.filename, schema.names, cell=cell)

    @property
    def info_log(self) -> CSVLog:
        """``info.csv`` (append-only, fsynced per epoch)."""
        return self._log(INFO)

    @property
    def metrics_log(self) -> CSVLog:
        """``metrics.csv`` (append-only, fsynced per epoch)."""
        return self._log(METRICS)

    def create_logs(self) -> None:
        """Write the headers of both logs (a fresh run)."""
        self.metrics_log.create()
        self.info_log.create()
        (self.path / FIGURES).mkdir(exist_ok=True)

    def append(self, info_rows: list[dict[str, Any]], metrics_row: dict[str, Any] | None) -> None:
        """One epoch's rows: ``info.csv`` first, then ``metrics.csv`` (each fsynced)."""
        self.info_log.append(info_rows)
        if metrics_row is not None:
            self.metrics_log.append([metrics_row])

    def info_rows(self) -> list[dict[str, str]]:
        """The complete rows of ``info.csv`` (strings, as written)."""
        return self.info_log.read()

    def metrics_rows(self) -> list[dict[str, str]]:
        """The complete rows of ``metrics.csv`` (strings, as written)."""
        return self.metrics_log.read()

    def logged_epochs(self) -> list[int]:
        """Epochs with a ``metrics.csv`` row, sorted."""
        return sorted({e for e in (epoch_of(r) for r in self.metrics_rows()) if e is not None})

    def trim(self, epoch: int) -> None:
        """Keep the rows of epochs up to ``epoch`` (a resumed run's checkpoint); drop torn lines."""
        self.metrics_log.keep(lambda r: (epoch_of(r) or 0) <= epoch and epoch_of(r) is not None)
        self.info_log.keep(lambda r: (epoch_of(r) or 0) <= epoch and epoch_of(r) is not None)

    # ------------------------------------------------------------------ record and summary
    def read_record(self) -> dict[str, Any]:
        """``config.json`` (raises ``FileNotFoundError`` or ``ValueError``)."""
        record: dict[str, Any] = self.folder.read_json(CONFIG_FILE)
        return record

    def write_record(self, record: dict[str, Any]) -> None:
        """Write ``config.json`` atomically."""
        self.folder.write_json(CONFIG_FILE, record)

    def read_summary(self) -> dict[str, Any] | None:
        """``summary.json`` (None when missing or unreadable: the run has not finished)."""
        try:
            summary = self.folder.read_json(SUMMARY_FILE)
        except (OSError, ValueError):
            return None
        return summary if isinstance(summary, dict) else None

    def write_summary(self, *, completed_epochs: int, time_s: float, figures: Iterable[str] = (),
                      layers: Iterable[str] | None = None) -> dict[str, Any]:
        """Write ``summary.json`` from the folder's rows (see :func:`run_summary`) and return it."""
        summary = run_summary(self.info_rows(), self.metrics_rows(), completed_epochs=completed_epochs,
                              time_s=time_s, figures=figures, layers=layers)
        self.folder.write_json(SUMMARY_FILE, summary)
        return summary

    def consistency(self, summary: dict[str, Any] | None = None) -> list[str]:
        """What in the folder contradicts its ``summary.json`` (e.g. an ``info.csv`` cut short).

        Returns
        -------
        list of str
            One sentence per problem; empty when the files agree (or there is no summary).
        """
        summary = self.read_summary() if summary is None else summary
        if not summary:
            return []
        problems = []
        for key, rows, name in (("n_info_rows", self.info_rows(), INFO_FILE),
                                ("n_metrics_rows", self.metrics_rows(), METRICS_FILE)):
            expected = summary.get(key)
            if isinstance(expected, int) and len(rows) < expected:
                problems.append(f"{name} has {len(rows)} complete rows where summary.json recorded {expected}: the "
                                "file was cut or edited after the run finished")
        return problems

    def finished(self, epochs: int | None) -> bool:
        """Whether the run completed ``epochs`` epochs and its files agree with its summary."""
        summary = self.read_summary()
        done = summary.get("completed_epochs") if summary else None
        if not (isinstance(done, int) and epochs is not None and done >= epochs):
            return False
        return not self.consistency(summary)

    def frames(self) -> tuple[Any, Any]:
        """``(info, metrics)`` as data frames (empty frames with the schema's columns when a file is missing)."""
        info = upgrade_info(INFO.read_frame(self.path / INFO_FILE)) if (self.path / INFO_FILE).is_file() \
            else INFO.frame()
        metrics = METRICS.read_frame(self.path / METRICS_FILE) if (self.path / METRICS_FILE).is_file() \
            else METRICS.frame()
        return info, metrics

    def warn_inconsistent(self) -> list[str]:
        """Warn (``RuntimeWarning``) about each problem of :meth:`consistency`; return them."""
        problems = self.consistency()
        for p in problems:
            warnings.warn(f"{self.path}: {p}. The run is reported as not finished. Rows of epochs before the last "
                          "checkpoint cannot be recomputed: restore the file from a copy, or rerun the run in a new "
                          "folder.", RuntimeWarning, stacklevel=3)
        return problems
