"""Studies: one IB run per seed (and per grid point), run as independent jobs, summarised over seeds.

A study repeats one :class:`~ibscope.ib.IBConfig` for several seeds, and
optionally for every combination of a few settings (a grid, e.g. ``noise`` x
``lr``). Each run is an ordinary, resumable run folder written by
:func:`~ibscope.ib.run_ib` itself; the runs are independent jobs handed to the
same joblib backends as the sweeps (:mod:`ibscope.sweep.backends`): local
processes (``"loky"``), a Ray cluster (``"ray"``) or a Dask cluster
(``"dask"``), or this process (``"sequential"``). Everything goes to one
folder::

    STUDY/
      study.json                   base configuration, seeds, grid, points, versions, created time, drivers
      runs/<point>/seed<s>/        one ibscope ib run folder per grid point and seed (see ibscope.ib.run)
      summary.csv                  mean and std over seeds per point, epoch and layer (see SUMMARY_VALUES)
      figures/<point>/             seeds_info_plane, seeds_mi_vs_epoch, seeds_loss (.png, .pdf)

``<point>`` is ``base`` without a grid, else the grid values, e.g.
``noise=0.001,lr=0.01`` (characters other than letters, digits and ``.+-_``
in a value become ``-``); ``study.json`` maps each name to its values.

Resuming
--------
Running the same study again continues it: runs whose ``summary.json`` says
that every epoch is done are skipped, runs in flight continue from their
checkpoints (``run_ib(..., resume=True)``), missing ones start. A folder that
holds another study (its ``study.json`` differs in the configuration, the seeds
or the grid; the settings that do not change the numbers -- ``device``,
``data_dir``, ``threads``, ``backend``, ``plots``, ``progress_every`` -- may
change) is refused before anything is written, naming the differing keys. The
study driver holds a :class:`~ibscope.runs.FolderLock` on ``STUDY`` (a second
driver is refused), and each run holds its own.

Failures
--------
A run that raises does not stop the others: its error is reported at the end
(:attr:`StudyResult.failed`; ``ibscope ib`` exits with status 1), everything
finished is kept, and the next call retries it.

Seeds
-----
Run ``s`` of a point is exactly ``run_ib(point_config.replace(seed=s))``: the
same folder contents as a single run with that seed (timings aside), whatever
the backend.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import numbers
import os
import platform
import re
import socket
import sys
import time
import traceback
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..runs import (
    FolderLock,
    RunFolder,
    atomic_write_json,
    atomic_write_text,
    config_diff,
    jsonable,
    make_folder,
    package_versions,
    utc_now,
)
from .callbacks import RunFolderError
from .config import FIELDS, MUTABLE_ON_RESUME, IBConfig, as_config
from .results import completed_all, load_run, read_summary

__all__ = [
    "run_study",
    "load_study",
    "plot_study",
    "StudyResult",
    "StudyData",
    "parse_seeds",
    "parse_grid",
    "summarize_study",
    "STUDY_BACKENDS",
    "GRID_EXCLUDED",
    "SUMMARY_VALUES",
    "SUMMARY_METRICS",
]

STUDY_FILE = "study.json"
SUMMARY_FILE = "summary.csv"
RUNS_DIR = "runs"
FIGURES_DIR = "figures"
FORMAT = "ibscope-ib-study"
FORMAT_VERSION = 1
#: Name of the only point of a study without a grid.
BASE_POINT = "base"

#: Where a study's runs can go (the sweep backends less "threading": runs in one process would share
#: torch's global random generator, so their numbers would depend on the interleaving).
STUDY_BACKENDS = ("loky", "ray", "dask", "sequential")

#: IBConfig fields that cannot be grid keys: ``seed`` has its own axis (``seeds``), the others do not
#: change the numbers (set them for the whole study).
GRID_EXCLUDED = ("seed",) + tuple(f for f in MUTABLE_ON_RESUME if f != "epochs")

#: ``info.csv`` columns averaged over seeds in ``summary.csv`` (``<col>_mean``, ``<col>_std``).
SUMMARY_VALUES = ("i_xl", "i_xl_raw", "i_xl_lo", "i_xl_hi", "i_ly", "i_ly_raw", "i_ly_lo", "i_ly_hi", "h_y",
                  "bound")
#: ``metrics.csv`` columns averaged over seeds in ``summary.csv``.
SUMMARY_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "test_auc")

_OWNER = "run_study"


# ---------------------------------------------------------------------------------------------------------------
# Seeds and grid
# ---------------------------------------------------------------------------------------------------------------
def _seeds_error(spec, owner: str, why: str = "") -> ValueError:
    name = "option of ibscope ib" if owner.startswith("--") else "argument of " + owner
    return ValueError(f"The '{owner.lstrip('-') if not owner.startswith('--') else owner}' {name} must be "
                      "START:STOP (0:5 = seeds 0 to 4), a comma-separated list (0,3,7), one seed (3) or a list of "
                      f"non-negative ints. Got {spec!r} instead{why}.")


def parse_seeds(spec, *, owner: str = "seeds") -> list[int]:
    """The seeds of a study from ``"0:5"`` (0, 1, 2, 3, 4), ``"0,3,7"``, ``"3"``, an int or a list of ints.

    Parameters
    ----------
    spec : str, int or iterable of int
        The seeds.
    owner : str, default="seeds"
        Name used in the error message (the CLI passes ``"--seeds"``).

    Returns
    -------
    list of int
        Distinct non-negative seeds, in the order given.

    Raises
    ------
    ValueError
        For anything else (bad syntax, an empty range, a negative or repeated seed), in one line.
    """
    def as_int(v) -> int:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise _seeds_error(spec, owner)
        return int(v)

    if isinstance(spec, str):
        text = spec.strip()
        try:
            if ":" in text:
                start, stop = (int(p) for p in text.split(":"))
                if stop <= start:
                    raise _seeds_error(spec, owner, f" (the range {start}:{stop} is empty; STOP is exclusive)")
                seeds = list(range(start, stop))
            else:
                seeds = [int(p) for p in text.split(",")]
        except ValueError as exc:
            if str(exc).startswith("The '"):
                raise
            raise _seeds_error(spec, owner) from None
    elif isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        seeds = [int(spec)]
    elif isinstance(spec, Iterable) and not isinstance(spec, (bytes, Mapping)):
        seeds = [as_int(v) for v in spec]
    else:
        raise _seeds_error(spec, owner)
    if not seeds:
        raise _seeds_error(spec, owner, " (no seeds)")
    bad = [s for s in seeds if s < 0]
    if bad:
        raise _seeds_error(spec, owner, f" (seed {bad[0]} is negative)")
    dup = [s for i, s in enumerate(seeds) if s in seeds[:i]]
    if dup:
        raise _seeds_error(spec, owner, f" (seed {dup[0]} is repeated)")
    return seeds


def _grid_keys() -> list[str]:
    return [f for f in IBConfig.field_names() if f not in GRID_EXCLUDED]


def _check_grid_key(key, where: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"The grid keys of {_OWNER} must be IBConfig field names (str). Got {key!r}{where}.")
    name = key.strip().replace("-", "_")
    if name in GRID_EXCLUDED:
        why = ("the seeds have their own axis: pass seeds=... (--seeds)" if name == "seed" else
               "it does not change the results; set it for the whole study")
        raise ValueError(f"The '{name}' field cannot be a grid key{where}: {why}.")
    if name not in IBConfig.field_names():
        raise ValueError(f"Unknown grid key {key!r}{where}. Valid keys: {', '.join(_grid_keys())}.")
    return name


def _parse_value(key: str, text: str, spec: str):
    """One ``--grid`` value, converted to the type the IBConfig field takes."""
    param = FIELDS[key]
    t = text.strip()
    if param.nullable and t.lower() in ("none", "null"):
        return None
    types = param.types
    if bool in types:
        low = t.lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"The --grid values of '{key}' must be true or false. Got {text!r} in {spec!r}.")
    if float in types:
        try:
            return float(t)
        except ValueError:
            raise ValueError(f"The --grid values of '{key}' must be numbers. Got {text!r} in {spec!r}.") from None
    if int in types:
        try:
            return int(t)
        except ValueError:
            raise ValueError(f"The --grid values of '{key}' must be ints. Got {text!r} in {spec!r}.") from None
    if str in types:
        return t
    raise ValueError(f"The '{key}' field cannot be a --grid key on the command line (its values are lists); pass "
                     f"grid={{'{key}': [...]}} to ibscope.ib.run_study instead.")


def parse_grid(specs) -> dict[str, list]:
    """A study grid from ``KEY=V1,V2`` strings (the ``--grid`` flags), e.g. ``["noise=1e-3,1e-2", "lr=1e-3"]``.

    Parameters
    ----------
    specs : iterable of str
        One ``KEY=V1,V2,...`` per key; ``KEY`` is an :class:`~ibscope.ib.IBConfig` field (``-`` or
        ``_``), the values are converted to the field's type (``none`` for None).

    Returns
    -------
    dict
        ``{key: [values]}`` in the order given (the cartesian product is the study's points).

    Raises
    ------
    ValueError
        For a malformed spec, an unknown or excluded key (:data:`GRID_EXCLUDED`), a repeated key, or
        a value of the wrong type, naming it.
    """
    grid: dict[str, list] = {}
    for spec in specs:
        if not isinstance(spec, str) or "=" not in spec:
            raise ValueError(f"A --grid value must be KEY=V1,V2,... (e.g. noise=1e-3,1e-2). Got {spec!r} instead.")
        key, _, values = spec.partition("=")
        name = _check_grid_key(key, f" in --grid {spec!r}")
        if name in grid:
            raise ValueError(f"The grid key '{name}' is given twice (--grid {spec!r}); give all its values in one "
                             "--grid, separated by commas.")
        parts = [v for v in values.split(",")]
        if not values.strip() or any(not v.strip() for v in parts):
            raise ValueError(f"The --grid values of '{name}' must be a comma-separated list of values. "
                             f"Got {spec!r} instead.")
        grid[name] = [_parse_value(name, v, spec) for v in parts]
    return grid


def _check_grid(grid) -> dict[str, list]:
    if grid is None:
        return {}
    if isinstance(grid, (list, tuple)) and all(isinstance(s, str) for s in grid):
        return parse_grid(grid)
    if not isinstance(grid, Mapping):
        raise TypeError(f"The 'grid' argument of {_OWNER} must be a dict {{field: [values]}}, a list of "
                        f"'KEY=V1,V2' strings or None. Got {type(grid).__name__} instead.")
    out: dict[str, list] = {}
    for key, values in grid.items():
        name = _check_grid_key(key, "")
        if name in out:
            raise ValueError(f"The grid key '{name}' is given twice.")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(f"The grid values of '{name}' must be a list of values. Got {values!r} instead.")
        values = list(values)
        if not values:
            raise ValueError(f"The grid values of '{name}' must be a non-empty list. Got [] instead.")
        out[name] = values
    return out


def _value_text(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "x".join(_value_text(u) for u in v)
    return str(v)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]+", "-", text).strip("-") or "-"


@dataclasses.dataclass
class _Point:
    name: str
    values: dict
    config: IBConfig  # the point's configuration (before the seed is set)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_value_text(v)}" for k, v in self.values.items()) or "all runs"


def _points(base: IBConfig, grid: dict[str, list]) -> list[_Point]:
    """Every grid point's validated configuration (the cartesian product of the grid), named."""
    points: list[_Point] = []
    seen: dict[str, dict] = {}
    names: set[str] = set()
    for combo in itertools.product(*grid.values()) if grid else [()]:
        raw = dict(zip(grid, combo))
        where = ", ".join(f"{k}={v!r}" for k, v in raw.items())
        try:
            cfg = base.replace(**raw) if raw else base
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"Grid point {where}: {exc}") from None
        values = {k: getattr(cfg, k) for k in raw}  # normalised ("MNIST" -> "mnist", 0 -> 0.0)
        key = json.dumps(jsonable(values), sort_keys=True)
        if key in seen:
            raise ValueError(f"The grid has the same point twice ({where}): remove the repeated value.")
        seen[key] = values
        name = ",".join(f"{k}={_safe(_value_text(v))}" for k, v in values.items()) or BASE_POINT
        unique, i = name, 2
        while unique in names:
            unique, i = f"{name}-{i}", i + 1
        names.add(unique)
        points.append(_Point(name=unique, values=values, config=cfg))
    return points


def _run_config(point: _Point, seed: int) -> IBConfig:
    cfg = point.config.replace(seed=seed).resolved()
    if cfg.data_dir is not None:  # workers may run elsewhere (cwd of a Ray or Dask worker)
        cfg = cfg.replace(data_dir=os.path.abspath(os.path.expanduser(cfg.data_dir)))
    return cfg


def _minimal_config(cfg: IBConfig) -> dict:
    """The fields set explicitly or differing from the defaults: ``IBConfig.from_dict`` of it is ``cfg`` again,
    presets included (a field left at its default still takes the preset's value)."""
    defaults = IBConfig().to_dict()
    explicit = cfg._explicit_fields()
    return {k: v for k, v in cfg.to_dict().items() if k in explicit or v != defaults[k]}


def _strip(cfg: dict, *extra: str) -> dict:
    return {k: v for k, v in cfg.items() if k not in GRID_EXCLUDED[1:] and k not in extra}


# ---------------------------------------------------------------------------------------------------------------
# The folder
# ---------------------------------------------------------------------------------------------------------------
def _identity(base: IBConfig, seeds: list[int], grid: dict, points: list[_Point]) -> dict:
    """What makes a study this study (compared with ``study.json`` when it is run again)."""
    return jsonable({
        "config": _strip(base.resolved().to_dict(), "seed"),
        "seeds": list(seeds),
        "grid": {k: list(v) for k, v in grid.items()},
        "points": [{"name": p.name, "values": p.values, "config": _strip(p.config.resolved().to_dict(), "seed")}
                   for p in points],
    })


def _roundtrip(obj):
    return json.loads(json.dumps(obj))


def read_study_record(out) -> dict:
    """``study.json`` of a study folder.

    Raises
    ------
    RunFolderError
        If the folder has none, or it is not an ibscope study file.
    """
    path = Path(out) / STUDY_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = (" It is an ib run folder: read it with ibscope.ib.load_run." if (Path(out) / "config.json").is_file()
                else "")
        raise RunFolderError(f"{str(out)!r} is not an ibscope ib study folder: it has no {STUDY_FILE}.{hint}"
                             ) from None
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{str(path)!r} cannot be read ({exc}); the study folder is damaged.") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT or "identity" not in record:
        raise RunFolderError(f"{str(path)!r} is not an ibscope ib study file.")
    return record


def _check_folder(out: Path, identity: dict) -> dict | None:
    """Check ``out`` for this study without writing; return its ``study.json`` (None for a new study)."""
    if out.exists() and not out.is_dir():
        raise OSError(f"The study folder {str(out)!r} is a file, not a folder. Pass another --out.")
    if (out / STUDY_FILE).exists():
        record = read_study_record(out)
        old, new = _roundtrip(record["identity"]), _roundtrip(identity)
        if old != new:
            top = {k: old.get(k) for k in ("config", "seeds", "grid")}
            diffs = config_diff(top, {k: new.get(k) for k in ("config", "seeds", "grid")}) or config_diff(old, new)
            shown = ", ".join(diffs[:6]) + (", ..." if len(diffs) > 6 else "")
            raise RunFolderError(
                f"The folder {str(out)!r} holds another study (it differs in: {shown or 'the order of the grid'}). "
                "It was left unchanged; run it with its own settings to continue it, or pass another --out.")
        return record
    entries = RunFolder(out).entries()
    if entries:
        what = (" it is an ib run folder" if "config.json" in entries else
                f" it holds {', '.join(entries[:4])}{', ...' if len(entries) > 4 else ''}")
        raise RunFolderError(f"The study folder {str(out)!r} is not empty and has no {STUDY_FILE}:{what}. "
                             "Pass a new or empty folder.")
    return None


def _run_state(path: Path, epochs: int) -> str:
    """``"finished"`` (summary.json says every epoch is done), ``"partial"`` (resume) or ``"missing"``."""
    if not RunFolder(path).entries():
        return "missing"
    return "finished" if completed_all(read_summary(path), epochs) else "partial"


@dataclasses.dataclass
class _Run:
    point: _Point
    seed: int
    path: Path
    config: IBConfig
    state: str = "missing"

    @property
    def name(self) -> str:
        return f"{self.point.name}/seed{self.seed}"


# ---------------------------------------------------------------------------------------------------------------
# The worker side
# ---------------------------------------------------------------------------------------------------------------
def _run_one(item: tuple, n_threads: int | None) -> dict:
    """Run (or resume) one run folder; never raises: a failure is returned as ``status="error"``."""
    name, path, config, resume = item
    t0 = time.perf_counter()
    out: dict[str, Any] = {"name": name, "status": "ok", "error": None}
    try:
        import torch

        from ..sweep.jobs import _thread_limits
        from .run import run_ib

        threads = torch.get_num_threads()
        try:
            with _thread_limits(n_threads, True), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # "nothing to resume": the driver decided
                res = run_ib(IBConfig.from_dict(config), out=path, resume=resume)
        finally:
            torch.set_num_threads(threads)
        out.update(epochs_run=list(res.epochs_run), resumed_from=res.resumed_from,
                   final_metrics=jsonable(res.final_metrics), n_flagged=res.n_flagged)
    except Exception as exc:  # one run's failure must not stop the others
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
        out.update(status="error", error=f"{type(exc).__name__}: {exc}{where}".replace("\n", " "))
    out.update(time_s=time.perf_counter() - t0, pid=os.getpid(), host=socket.gethostname())
    return out


# ---------------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class StudyResult:
    """What :func:`run_study` returns.

    Attributes
    ----------
    out : pathlib.Path
        The study folder.
    runs : list of dict
        One per run, in point-then-seed order: ``point``, ``seed``, ``path``, ``status``
        (``"finished"``: done before this call and skipped; ``"ok"``: ran, or resumed, now;
        ``"error"``: failed now), ``error`` (the message, or None), ``resumed`` (continued from a
        checkpoint), ``epochs_run``, ``time_s``, and ``pid`` and ``host`` of the process that ran it.
    table : pandas.DataFrame or None
        ``summary.csv`` (None when no run has finished).
    figures : list of pathlib.Path
        The figure files written by this call (none when nothing ran and they were up to date).
    time_s : float
        Wall-clock time of the call.
    """

    out: Path
    runs: list
    table: Any
    figures: list
    time_s: float

    @property
    def failed(self) -> list:
        """The runs that failed in this call (each a dict of :attr:`runs`)."""
        return [r for r in self.runs if r["status"] == "error"]

    def summary(self) -> str:
        """One line: runs ran, skipped and failed, the wall time and where the results are."""
        ran = sum(r["status"] == "ok" for r in self.runs)
        skipped = sum(r["status"] == "finished" for r in self.runs)
        failed = len(self.failed)
        where = f"; summary: {self.out / SUMMARY_FILE}" if self.table is not None else ""
        if self.figures:
            where += f"; figures: {self.out / FIGURES_DIR}"
        return (f"study {self.out}: {len(self.runs)} run(s): {ran} ran, {skipped} already finished, {failed} failed; "
                f"wall time {self.time_s:.1f} s{where}")


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
    import pandas as pd

    keys = list(grid_keys)
    values = [c for c in SUMMARY_VALUES if c in info]
    g = info.groupby(["point", "epoch", "layer"], sort=False)
    parts = {"layer_index": g["layer_index"].first(), "n_seeds": g["seed"].nunique()}
    for c in values:
        col = pd.to_numeric(info[c], errors="coerce").groupby([info["point"], info["epoch"], info["layer"]],
                                                              sort=False)
        parts[f"{c}_mean"], parts[f"{c}_std"] = col.mean(), col.std()
    table = pd.DataFrame(parts).reset_index()
    mcols = [c for c in SUMMARY_METRICS if c in metrics]
    if len(metrics) and mcols:
        mg = metrics.groupby(["point", "epoch"], sort=False)[mcols].agg(["mean", "std"])
        mg.columns = [f"{a}_{b}" for a, b in mg.columns]
        table = table.merge(mg.reset_index(), on=["point", "epoch"], how="left")
    table["units"] = info.groupby(["point", "epoch", "layer"], sort=False)["units"].first().to_numpy() \
        if "units" in info and len(info) else pd.Series(dtype=str)
    if keys:
        per_point = info.drop_duplicates("point").set_index("point")[keys]
        table = table.join(per_point, on="point")
        table = table[["point", *keys, *[c for c in table.columns if c not in keys and c != "point"]]]
    order = {p: i for i, p in enumerate(dict.fromkeys(info["point"]))}
    table = table.sort_values(["point", "epoch", "layer_index"], key=lambda s: s.map(order) if s.name == "point"
                              else s, kind="stable").reset_index(drop=True)
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
            state = _run_state(path, int(epochs_of.get(p["name"]) or 0))
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
    if not path.exists():
        raise FileNotFoundError(f"The study folder {str(path)!r} does not exist.")
    if not path.is_dir():
        raise RunFolderError(f"{str(path)!r} is a file, not an ibscope ib study folder.")
    record = read_study_record(path)
    runs, info, metrics = _frames(path, record)
    summary_path = path / SUMMARY_FILE
    if summary_path.is_file():
        summary = pd.read_csv(summary_path)
    else:
        _, fin_info, fin_metrics = _frames(path, record, runs_only={"finished"})
        summary = (summarize_study(fin_info, fin_metrics, grid_keys=list(record["grid"])) if len(fin_info)
                   else pd.DataFrame())
    return StudyData(path=path, record=record, runs=runs, info=info, metrics=metrics, summary=summary)


# ---------------------------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------------------------
def _check_backend(backend, n_jobs, address) -> None:
    if backend not in STUDY_BACKENDS:
        extra = (" ('threading' would run the runs in one process, where they share torch's global random "
                 "generator)" if backend == "threading" else "")
        raise ValueError(f"The 'backend' argument of {_OWNER} must be one of {', '.join(STUDY_BACKENDS)}. "
                         f"Got {backend!r} instead{extra}.")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0):
        raise ValueError(f"The 'n_jobs' argument of {_OWNER} must be a non-zero int or None (-1: every core). "
                         f"Got {n_jobs!r} instead.")
    if address is not None:
        if backend not in ("ray", "dask"):
            raise ValueError(f"The 'address' argument of {_OWNER} is for backend='ray' or 'dask', not {backend!r}.")
        if not isinstance(address, str) or not address.strip():
            raise ValueError(f"The 'address' argument of {_OWNER} must be a cluster address such as "
                             f"'ray://head:10001', 'auto' or 'tcp://scheduler:8786'. Got {address!r} instead.")
    from ..sweep.backends import require_backend

    require_backend(backend)  # Ray or Dask missing: say so before the study folder is made


def _write_summary(out: Path, record: dict):
    """Write ``summary.csv`` over the finished runs and return it (None when no run has finished)."""
    _, info, metrics = _frames(out, record, runs_only={"finished"})
    if not len(info):
        return None
    table = summarize_study(info, metrics, grid_keys=list(record["grid"]))
    atomic_write_text(out / SUMMARY_FILE, table.to_csv(index=False))
    return table


def _draw(out: Path, record: dict, points: list[_Point], formats) -> list:
    from ..plots import plot_ib_runs

    written: list = []
    runs = {}
    for p in points:
        dirs = [out / RUNS_DIR / p.name / f"seed{s}" for s in record["seeds"]]
        runs[p.name] = [d for d in dirs if _run_state(d, int(p.config.resolved().epochs or 0)) == "finished"]
    for p in points:
        if not runs[p.name]:
            continue
        try:
            written += plot_ib_runs(runs[p.name], out=out / FIGURES_DIR / p.name, formats=formats,
                                    label=p.label if p.values else None)
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
    return _draw(out, record, _points(config, _check_grid(record["grid"])), formats)


def run_study(config: IBConfig | dict | None = None, *, out, seeds=None, grid=None, backend: str = "loky",
              n_jobs: int | None = None, address: str | None = None, progress: bool = False,
              figures: bool | None = None, formats=("png", "pdf")) -> StudyResult:
    """Run (or continue) an IB study: one run per seed and grid point, as independent jobs.

    Parameters
    ----------
    config : IBConfig, dict or None
        The base configuration of every run (None: ``IBConfig()``, or, with ``seeds=None``, the
        study's own from ``study.json``). Its ``seed`` is replaced by each of ``seeds``.
    out : str or path-like
        The study folder: new or empty, or one holding this study (which is then continued).
    seeds : str, int, iterable of int or None
        The seeds (see :func:`parse_seeds`: ``"0:5"``, ``"0,3,7"``, ``3``, ``[0, 1]``). None
        continues the study in ``out`` with its stored seeds, grid and (unless given) configuration.
    grid : dict, list of str or None
        Settings to vary, ``{"noise": [1e-3, 1e-2], "lr": [1e-3, 1e-2]}`` or
        ``["noise=1e-3,1e-2", "lr=1e-3,1e-2"]``: every combination (cartesian product) is a point,
        run with every seed. Keys are IBConfig fields except :data:`GRID_EXCLUDED`.
    backend : {"loky", "ray", "dask", "sequential"}, default="loky"
        Where the runs go (the sweep backends, :mod:`ibscope.sweep.backends`): local processes, a
        Ray cluster (a local one started when Ray is not initialised and no ``address`` is given),
        a Dask cluster (a local one when no client exists and no ``address`` is given), or this
        process. On a cluster, ``out`` must be on a file system the workers share.
    n_jobs : int or None
        Runs at once (None or -1: every core, or every cluster CPU).
    address : str or None
        Cluster address for ``"ray"`` (``"ray://head:10001"``, ``"auto"``) or ``"dask"``
        (``"tcp://scheduler:8786"``).
    progress : bool, default=False
        Print a line per finished run and a final summary line (standard error).
    figures : bool or None, default=None
        Draw mean +- std figures per point into ``out/figures/<point>/`` (None: when the
        configuration's ``plots`` is on, which also draws each run's own figures).
    formats : sequence of str, default=("png", "pdf")
        Figure formats.

    Returns
    -------
    StudyResult
        Per-run outcomes, the summary table and the figures. Failed runs are in
        :attr:`StudyResult.failed` (and a ``RuntimeWarning`` names them unless ``progress``).

    Raises
    ------
    ValueError, TypeError
        Bad seeds, grid keys or values (naming them; every point's configuration is checked
        before any run starts), backend or ``n_jobs``.
    RunFolderError
        ``out`` holds another study (the message lists the differing keys), a run folder of the
        study was made with another configuration, or ``out`` is neither empty nor a study.
        Nothing is written in these cases.
    FolderLockedError
        Another study driver is using ``out`` (an ``OSError``).
    ImportError
        ``backend="ray"`` or ``"dask"`` without the package.

    Examples
    --------
    >>> from ibscope.ib import IBConfig, run_study, load_study
    >>> res = run_study(IBConfig(dataset="digits", epochs=20), seeds="0:5", out="runs/digits-study",
    ...                 backend="loky", progress=True)                                # doctest: +SKIP
    >>> res = run_study(IBConfig(epochs=20), seeds=[0, 1], grid={"noise": [1e-3, 1e-2]},
    ...                 out="runs/noise-study")                                        # doctest: +SKIP
    >>> load_study("runs/noise-study").summary.head()                                  # doctest: +SKIP
    """
    from .run import _plan

    t0 = time.perf_counter()
    out = Path(out).expanduser()
    _check_backend(backend, n_jobs, address)
    stored = None
    if seeds is None:
        if not (out / STUDY_FILE).is_file():
            raise ValueError(f"The 'seeds' argument of {_OWNER} is needed for a new study ({str(out)!r} holds "
                             "none): pass e.g. seeds='0:5'.")
        stored = read_study_record(out)
        seeds = stored["seeds"]
        if grid is None:
            grid = stored["grid"]
        if config is None:
            config = IBConfig.from_dict(stored["config"], source=str(out / STUDY_FILE))
    seeds = parse_seeds(seeds)
    grid = _check_grid(grid)
    config = as_config(config, _OWNER)
    if figures is None:
        figures = bool(config.plots)
    points = _points(config, grid)
    # the grid as the configurations hold it ("MNIST" -> "mnist", 0 -> 0.0), each value once, in order
    grid = {k: [json.loads(v) for v in dict.fromkeys(json.dumps(jsonable(p.values[k])) for p in points)]
            for k in grid}
    runs = [_Run(point=p, seed=s, path=out / RUNS_DIR / p.name / f"seed{s}", config=_run_config(p, s))
            for p in points for s in seeds]
    identity = _identity(config, seeds, grid, points)
    _check_folder(out, identity)
    for r in runs:  # run folders made with other settings: refuse now, before anything runs
        r.state = _run_state(r.path, int(r.config.epochs or 0))
        if r.state == "partial":
            try:
                _plan(r.config, r.path, True)
            except (TypeError, ValueError) as exc:
                raise RunFolderError(f"Run {r.name} of the study {str(out)!r} cannot be continued: {exc}") from None

    make_folder(out)
    with FolderLock(out, what="IB study", hint="Wait for it to finish (or stop it), then run the study again; "
                                                "or pass another --out."):
        record = _check_folder(out, identity)  # again, now that no other driver writes
        driver = {"time": utc_now(), "backend": backend, "n_jobs": n_jobs, "address": address,
                  "host": socket.gethostname(), "pid": os.getpid(), "command": " ".join(sys.argv),
                  "versions": package_versions()}
        if record is None:
            record = {"format": FORMAT, "format_version": FORMAT_VERSION, "created": utc_now(),
                      "versions": package_versions(), "platform": platform.platform(), "drivers": []}
        record.update({
            "config": jsonable(_minimal_config(config)),
            "config_resolved": jsonable(config.resolved().to_dict()),
            "seeds": list(seeds), "grid": jsonable(grid),
            "points": [{"name": p.name, "values": jsonable(p.values), "path": f"{RUNS_DIR}/{p.name}"} for p in points],
            "identity": identity,
        })
        record["drivers"] = [*record.get("drivers", []), driver]
        atomic_write_json(out / STUDY_FILE, record, newline=True)
        for r in runs:
            r.state = _run_state(r.path, int(r.config.epochs or 0))
        todo = [r for r in runs if r.state != "finished"]
        outcomes: dict[str, dict] = {}
        say = _say if progress else _quiet
        n_fin, n_part = len(runs) - len(todo), sum(r.state == "partial" for r in todo)
        say(f"study {out}: {len(runs)} run(s) ({len(points)} point(s) x {len(seeds)} seed(s)): {n_fin} already "
            f"finished, {n_part} to resume, {len(todo) - n_part} to start, on {backend}")
        if todo:
            from ..sweep.backends import _backend, _parallel_map

            items = [(r.name, str(r.path.resolve()), r.config.to_dict(), r.state == "partial") for r in todo]
            by_name = {r.name: r for r in todo}
            with _backend(backend, n_jobs, address) as (name, workers, threads):
                for i, res in enumerate(_parallel_map(items, name, workers, threads, func=_run_one), 1):
                    outcomes[res["name"]] = res
                    r = by_name[res["name"]]
                    say(f"[{i}/{len(todo)}] {r.name}: " + _outcome_text(res, r.state == "partial"))
        fresh = not todo and (out / SUMMARY_FILE).is_file() and (not figures or (out / FIGURES_DIR).is_dir())
        if fresh:  # nothing ran and the summary is there: keep it (and the figures) as they are
            import pandas as pd

            table, drawn = pd.read_csv(out / SUMMARY_FILE), []
        else:
            table = _write_summary(out, record)
            drawn = _draw(out, record, points, tuple(formats)) if figures and table is not None else []
    results = []
    for r in runs:
        res = outcomes.get(r.name)
        results.append({"point": r.point.name, **{k: v for k, v in r.point.values.items() if k not in
                                                  ("point", "seed", "path", "status")},
                        "seed": r.seed, "path": r.path,
                        "status": "finished" if res is None else res["status"],
                        "error": None if res is None else res["error"], "resumed": r.state == "partial",
                        "epochs_run": [] if res is None else res.get("epochs_run", []),
                        "time_s": 0.0 if res is None else res["time_s"],
                        "pid": None if res is None else res.get("pid"),
                        "host": None if res is None else res.get("host")})
    result = StudyResult(out=out, runs=results, table=table, figures=drawn, time_s=time.perf_counter() - t0)
    say(result.summary())
    for r in result.failed:
        say(f"run {r['point']}/seed{r['seed']} failed: {r['error']}")
    if result.failed and not progress:
        names = ", ".join(f"{r['point']}/seed{r['seed']} ({r['error']})" for r in result.failed[:3])
        warnings.warn(f"{len(result.failed)} run(s) of the study {out} failed: {names}"
                      f"{', ...' if len(result.failed) > 3 else ''}. The other runs are kept; run the study again "
                      "to retry.", RuntimeWarning, stacklevel=2)
    return result


def _outcome_text(res: dict, resumed: bool) -> str:
    if res["status"] != "ok":
        return f"FAILED after {res['time_s']:.1f} s: {res['error']}"
    m = res.get("final_metrics") or {}
    acc = m.get("test_acc")
    acc_text = f", test accuracy {100 * float(acc):.1f}%" if isinstance(acc, (int, float)) else ""
    verb = "resumed, done" if resumed else "done"
    return f"{verb} in {res['time_s']:.1f} s ({len(res.get('epochs_run', []))} epoch(s) trained{acc_text})"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _quiet(text: str) -> None:
    pass
