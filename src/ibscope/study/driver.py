"""Studies: one IB run per seed (and per grid point), run as independent jobs, summarised over seeds.

A study repeats one :class:`~ibscope.ib.IBConfig` for several seeds, and
optionally for every combination of a few settings (a grid, e.g. ``noise`` x
``lr``). Each run is an ordinary, resumable run folder written by
:func:`~ibscope.ib.run_ib` itself; the runs are independent jobs handed to the
executors of :mod:`ibscope.executors` (which sweeps use too): local
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
``data_dir``, ``threads``, ``knn_backend``, ``plots``, ``progress_every`` -- may
change) is refused before anything is written, naming the differing keys. The
study driver holds a :class:`~ibscope.runs.FolderLock` on ``STUDY`` (a second
driver is refused), and each run holds its own. Workers on this machine exit
when their driver is gone (:func:`ibscope.executors.watch_driver`), so a driver
killed with ``kill -9`` leaves no run training behind, and running the study
again continues it.

Progress
--------
With ``progress=True`` the driver prints a line per finished run and, while runs
are in flight, every few seconds the epochs done so far per run (read from the
runs' ``metrics.csv``).

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
import json
import numbers
import os
import platform
import socket
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from ..executors import EXECUTORS, map_jobs, require_executor, thread_limits
from ..executors import executor as open_executor
from ..ib.config import IBConfig, as_config
from ..runs import atomic_write_json, jsonable, package_versions, utc_now
from ..runs.errors import RunFolderError
from ..runs.ibrun import RunArtefact
from ..runs.lifecycle import IB_STUDY, open_folder
from .folder import (
    FIGURES_DIR,
    FORMAT,
    FORMAT_VERSION,
    RUNS_DIR,
    STUDY_FILE,
    SUMMARY_FILE,
    Run,
    check_folder,
    identity,
    read_study_record,
    run_state,
)
from .grid import check_grid, minimal_config, parse_seeds, points, run_config
from .summary import draw, write_summary

__all__ = ["run_study", "StudyResult", "STUDY_BACKENDS"]

#: Where a study's runs can go (the executors less "threading": runs in one process would share
#: torch's global random generator, so their numbers would depend on the interleaving).
STUDY_BACKENDS = tuple(e for e in EXECUTORS if e != "threading")

_OWNER = "run_study"

#: Seconds between two progress lines of runs in flight.
PROGRESS_EVERY_S = 10.0


def _run_one(item: tuple, n_threads: int | None) -> dict:
    """Run (or resume) one run folder; never raises: a failure is returned as ``status="error"``."""
    name, path, config, resume = item
    t0 = time.perf_counter()
    out: dict[str, Any] = {"name": name, "status": "ok", "error": None}
    try:
        import torch

        from ..ib.run import run_ib

        threads = torch.get_num_threads()
        try:
            with thread_limits(n_threads, True), warnings.catch_warnings():
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



def _check_backend(backend, n_jobs, address) -> None:
    if backend not in STUDY_BACKENDS:
        extra = (" ('threading' would run the runs in one process, where they share torch's global random "
                 "generator)" if backend == "threading" else "")
        raise ValueError(f"The 'executor' argument of {_OWNER} must be one of {', '.join(STUDY_BACKENDS)}. "
                         f"Got {backend!r} instead{extra}.")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0):
        raise ValueError(f"The 'n_jobs' argument of {_OWNER} must be a non-zero int or None (-1: every core). "
                         f"Got {n_jobs!r} instead.")
    if address is not None:
        if backend not in ("ray", "dask"):
            raise ValueError(f"The 'address' argument of {_OWNER} is for executor='ray' or 'dask', not {backend!r}.")
        if not isinstance(address, str) or not address.strip():
            raise ValueError(f"The 'address' argument of {_OWNER} must be a cluster address such as "
                             f"'ray://head:10001', 'auto' or 'tcp://scheduler:8786'. Got {address!r} instead.")
    require_executor(backend)  # Ray or Dask missing: say so before the study folder is made


def run_study(config: IBConfig | dict | None = None, *, out, seeds=None, grid=None, executor: str = "loky",
              n_jobs: int | None = None, address: str | None = None, progress: bool = False,
              figures: bool | None = None, formats=("png", "pdf"), backend: str | None = None) -> StudyResult:
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
    executor : {"loky", "ray", "dask", "sequential"}, default="loky"
        Where the runs go (:mod:`ibscope.executors`, as for sweeps): local processes, a
        Ray cluster (a local one started when Ray is not initialised and no ``address`` is given),
        a Dask cluster (a local one when no client exists and no ``address`` is given), or this
        process. On a cluster, ``out`` must be on a file system the workers share.
    n_jobs : int or None
        Runs at once (None or -1: every core, or every cluster CPU).
    address : str or None
        Cluster address for ``"ray"`` (``"ray://head:10001"``, ``"auto"``) or ``"dask"``
        (``"tcp://scheduler:8786"``).
    progress : bool, default=False
        Print a line per finished run, the epochs of the runs in flight every few seconds, and a
        final summary line (standard error).
    figures : bool or None, default=None
        Draw mean +- std figures per point into ``out/figures/<point>/`` (None: when the
        configuration's ``plots`` is on, which also draws each run's own figures).
    formats : sequence of str, default=("png", "pdf")
        Figure formats.
    backend : str or None
        Deprecated name of ``executor`` (a ``DeprecationWarning``; removed in a later release).

    Returns
    -------
    StudyResult
        Per-run outcomes, the summary table and the figures. Failed runs are in
        :attr:`StudyResult.failed` (and a ``RuntimeWarning`` names them unless ``progress``).

    Raises
    ------
    ValueError, TypeError
        Bad seeds, grid keys or values (naming them; every point's configuration is checked
        before any run starts), executor or ``n_jobs``.
    RunFolderError
        ``out`` holds another study (the message lists the differing keys), a run folder of the
        study was made with another configuration, or ``out`` is neither empty nor a study.
        Nothing is written in these cases.
    FolderLockedError
        Another study driver is using ``out`` (an ``OSError``).
    ImportError
        ``executor="ray"`` or ``"dask"`` without the package.

    Examples
    --------
    >>> from ibscope.ib import IBConfig, run_study, load_study
    >>> res = run_study(IBConfig(dataset="digits", epochs=20), seeds="0:5", out="runs/digits-study",
    ...                 executor="loky", progress=True)                               # doctest: +SKIP
    >>> res = run_study(IBConfig(epochs=20), seeds=[0, 1], grid={"noise": [1e-3, 1e-2]},
    ...                 out="runs/noise-study")                                        # doctest: +SKIP
    >>> load_study("runs/noise-study").summary.head()                                  # doctest: +SKIP
    """
    from ..ib.run import _plan

    t0 = time.perf_counter()
    if backend is not None:
        warnings.warn(f"The 'backend' argument of {_OWNER} is deprecated and will be removed in a later release; use "
                      "'executor' (where the runs go; the neighbour search is IBConfig.knn_backend).",
                      DeprecationWarning, stacklevel=2)
        executor = backend
    backend = executor
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
    grid = check_grid(grid)
    config = as_config(config, _OWNER)
    if figures is None:
        figures = bool(config.plots)
    study_points = points(config, grid)
    # the grid as the configurations hold it ("MNIST" -> "mnist", 0 -> 0.0), each value once, in order
    grid = {k: [json.loads(v) for v in dict.fromkeys(json.dumps(jsonable(p.values[k])) for p in study_points)]
            for k in grid}
    runs = [Run(point=p, seed=s, path=out / RUNS_DIR / p.name / f"seed{s}", config=run_config(p, s))
            for p in study_points for s in seeds]
    study_identity = identity(config, seeds, grid, study_points)
    check_folder(out, study_identity)
    for r in runs:  # run folders made with other settings: refuse now, before anything runs
        r.state = run_state(r.path, int(r.config.epochs or 0))
        if r.state == "partial":
            try:
                _plan(r.config, r.path, True)
            except (TypeError, ValueError) as exc:
                raise RunFolderError(f"Run {r.name} of the study {str(out)!r} cannot be continued: {exc}") from None

    with open_folder(out, IB_STUDY, identity=study_identity, identity_of=lambda r: r.get("identity"),
                     hint="Wait for it to finish (or stop it), then run the study again; or pass another --out."):
        record = check_folder(out, study_identity)  # again, now that no other driver writes
        driver = {"time": utc_now(), "executor": backend, "n_jobs": n_jobs, "address": address,
                  "host": socket.gethostname(), "pid": os.getpid(), "command": " ".join(sys.argv),
                  "versions": package_versions()}
        if record is None:
            record = {"format": FORMAT, "format_version": FORMAT_VERSION, "created": utc_now(),
                      "versions": package_versions(), "platform": platform.platform(), "drivers": []}
        record.update({
            "config": jsonable(minimal_config(config)),
            "config_resolved": jsonable(config.resolved().to_dict()),
            "seeds": list(seeds), "grid": jsonable(grid),
            "points": [{"name": p.name, "values": jsonable(p.values), "path": f"{RUNS_DIR}/{p.name}"}
                       for p in study_points],
            "identity": study_identity,
        })
        record["drivers"] = [*record.get("drivers", []), driver]
        atomic_write_json(out / STUDY_FILE, record, newline=True)
        for r in runs:
            r.state = run_state(r.path, int(r.config.epochs or 0))
        todo = [r for r in runs if r.state != "finished"]
        outcomes: dict[str, dict] = {}
        say = _say if progress else _quiet
        n_fin, n_part = len(runs) - len(todo), sum(r.state == "partial" for r in todo)
        say(f"study {out}: {len(runs)} run(s) ({len(study_points)} point(s) x {len(seeds)} seed(s)): {n_fin} already "
            f"finished, {n_part} to resume, {len(todo) - n_part} to start, on {backend}")
        if todo:
            items = [(r.name, str(r.path.resolve()), r.config.to_dict(), r.state == "partial") for r in todo]
            by_name = {r.name: r for r in todo}
            monitor = _Monitor(todo, say) if progress else None
            try:
                with open_executor(backend, n_jobs, address) as (name, workers, threads):
                    for i, res in enumerate(map_jobs(_run_one, items, name=name, n_jobs=workers, n_threads=threads),
                                            1):
                        outcomes[res["name"]] = res
                        r = by_name[res["name"]]
                        if monitor is not None:
                            monitor.done(r.name)
                        say(f"[{i}/{len(todo)}] {r.name}: " + _outcome_text(res, r.state == "partial"))
            finally:
                if monitor is not None:
                    monitor.stop()
        fresh = not todo and (out / SUMMARY_FILE).is_file() and (not figures or (out / FIGURES_DIR).is_dir())
        if fresh:  # nothing ran and the summary is there: keep it (and the figures) as they are
            import pandas as pd

            table, drawn = pd.read_csv(out / SUMMARY_FILE), []
        else:
            table, mtable, phases = write_summary(out, record)
            drawn = draw(out, table, mtable, study_points, tuple(formats), phases) \
                if figures and table is not None else []
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


class _Monitor:
    """Print, every :data:`PROGRESS_EVERY_S` seconds, the epochs done by the runs in flight (from their
    ``metrics.csv``), so a study is not silent until its first run finishes."""

    def __init__(self, runs: list, say) -> None:
        self._runs = {r.name: r for r in runs}
        self._say = say
        self._stop = threading.Event()
        self._last = ""
        self._thread = threading.Thread(target=self._loop, name="ibscope-study-progress", daemon=True)
        self._thread.start()

    def done(self, name: str) -> None:
        self._runs.pop(name, None)

    def _line(self) -> str:
        parts = []
        for name, r in list(self._runs.items()):
            done = RunArtefact(r.path).logged_epochs() if r.path.is_dir() else []
            parts.append(f"{name} {done[-1] if done else 0}/{r.config.epochs}")
        return "in flight: " + ", ".join(parts) + " epochs" if parts else ""

    def _loop(self) -> None:
        while not self._stop.wait(PROGRESS_EVERY_S):
            line = self._line()
            if line and line != self._last:
                self._say(line)
                self._last = line

    def stop(self) -> None:
        self._stop.set()


def _quiet(text: str) -> None:
    pass
