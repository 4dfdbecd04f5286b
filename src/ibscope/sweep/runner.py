"""Running a sweep: check the folder, lock it, fit compressors once, run the jobs, append the rows."""

from __future__ import annotations

import json
import numbers
import os
import socket
from pathlib import Path

from .._validation import Interval, Param, check_value
from ..executors import EXECUTORS as BACKENDS
from ..executors import executor as open_executor
from ..executors import map_jobs, require_executor
from ..runs import CSVLog, RunFolder, atomic_open, atomic_write_json, ensure_writable, jsonable, utc_now
from ..runs.lifecycle import SWEEP, open_folder, plan_folder
from . import jobs
from .config import CompressorFit, SweepConfig
from .presets import get_preset
from .results import RESULT_COLUMNS, load_results, result_cell

__all__ = ["run_sweep", "check_run_dir"]

FORMAT_NAME = "ibscope.sweep"
FORMAT_VERSION = 1

RESULTS_FILE = "results.csv"

#: What the numeric arguments of :func:`run_sweep` accept (declared once)
RUN_ARGS = {
    "n_jobs": Param((numbers.Integral,), lambda v: v != 0, nullable=True, allowed="a non-zero int or None"),
    "threads_per_job": Param((numbers.Integral,), Interval(1), nullable=True, allowed="a positive int or None"),
}


def check_run_dir(config, out) -> int:
    """Check that ``out`` can hold ``config``'s sweep, without modifying anything.

    Parameters
    ----------
    config : SweepConfig
    out : str or os.PathLike

    Returns
    -------
    int
        Number of jobs already finished there (0 for a new folder).

    Raises
    ------
    RunFolderError
        If ``out`` holds a different sweep (:class:`~ibscope.runs.ConfigMismatchError`), files that
        are not a sweep's (:class:`~ibscope.runs.FolderNotEmptyError`), another kind of ibscope folder
        (:class:`~ibscope.runs.ForeignFolderError`), or a file stands in its place
        (:class:`~ibscope.runs.NotAFolderError`, also an ``OSError``).
    """
    out = Path(out)
    if not _check_folder(out, config):
        return 0
    try:
        done = set(load_results(out)["job_key"])
    except FileNotFoundError:
        return 0
    return len(done & {j.key for j in config.jobs()})


def _plan(out: Path, config: SweepConfig) -> dict:
    return {"identity": jsonable(config.to_dict()), "identity_of": lambda record: record.get("config")}


def _check_folder(out: Path, config: SweepConfig) -> bool:
    """Check ``out`` against ``config`` without modifying it; return whether it already holds this sweep."""
    return not plan_folder(out, SWEEP, **_plan(out, config)).fresh


def run_sweep(config, out, *, executor: str = "loky", n_jobs: int | None = None, address: str | None = None,
              progress: bool = False, threads_per_job: int | None = None, backend: str | None = None):
    """Run (or resume) a sweep and write its results into the folder ``out``.

    Parameters
    ----------
    config : SweepConfig, dict or str
        The sweep; a dict is read with :meth:`SweepConfig.from_dict`, a string
        names a preset (:func:`list_presets`).
    out : str or os.PathLike
        Run folder (created if missing). If it already holds this sweep, finished
        jobs are skipped; if it holds a different sweep, ``ValueError`` is raised
        and the folder is left unchanged.
    executor : {"loky", "ray", "dask", "sequential", "threading"}, default="loky"
        Where the jobs run (:mod:`ibscope.executors`). "loky" uses local processes; "ray" runs on a Ray cluster
        (``ray.util.joblib``; a local one is started if Ray is not initialised and
        no ``address`` is given); "dask" uses a ``dask.distributed`` client (a
        local cluster when no ``address`` is given and no client exists);
        "sequential" runs in this process (debugging, tests).
    n_jobs : int or None, default=None
        Parallel jobs; ``None`` or ``-1`` uses every core (or every cluster CPU).
    address : str or None, default=None
        Cluster address for "ray" (e.g. ``"ray://head:10001"`` or ``"auto"``) or
        "dask" (e.g. ``"tcp://scheduler:8786"``).
    progress : bool, default=False
        Show tqdm bars over compressor fits and jobs.
    threads_per_job : int or None, default=None
        Threads each job may use (torch, numba, BLAS); ``None`` gives each of the
        parallel jobs an equal share of the local cores (1 on clusters).
    backend : str or None
        Deprecated name of ``executor`` (a ``DeprecationWarning``; removed in a later release).

    Returns
    -------
    pandas.DataFrame
        Every ``ok`` row of ``results.csv`` (see :func:`load_results`).

    Raises
    ------
    ValueError
        Unknown task, estimator, compressor or backend names.
    RunFolderError
        A folder holding a different sweep or other files (see :func:`check_run_dir`);
        it is left unchanged.
    OSError
        An output folder that cannot be created or written, or is locked by a
        running sweep.
    ImportError
        ``backend="ray"`` or ``"dask"`` without the package installed.

    Notes
    -----
    Jobs that raise are recorded as ``status="error"`` rows with the message and
    retried on the next run; :func:`load_results` drops them by default.
    """
    if backend is not None:
        import warnings

        warnings.warn("The 'backend' argument of run_sweep is deprecated and will be removed in a later release; use "
                      "'executor'.", DeprecationWarning, stacklevel=2)
        executor = backend
    backend = executor
    if isinstance(config, str):
        config = get_preset(config)
    elif isinstance(config, dict):
        config = SweepConfig.from_dict(config)
    elif not isinstance(config, SweepConfig):
        raise TypeError(f"The 'config' argument of run_sweep must be a SweepConfig, a dict or a preset name. "
                        f"Got {type(config).__name__}.")
    if backend not in BACKENDS:
        raise ValueError(f"Unknown sweep backend {backend!r}. Valid backends: {', '.join(BACKENDS)}.")
    require_executor(backend)  # Ray or Dask missing: say so before the sweep folder is made
    for name, value in (("n_jobs", n_jobs), ("threads_per_job", threads_per_job)):
        check_value(value, name, RUN_ARGS[name])
    config.validate()
    out = Path(out)
    _check_folder(out, config)
    ensure_writable(out)
    with open_folder(out, SWEEP, hint="Wait for it to finish, or pass another output folder.",
                     **_plan(out, config)) as opening:
        if opening.fresh:
            atomic_write_json(out / "sweep.json", {
                "format": FORMAT_NAME, "version": FORMAT_VERSION, "config": jsonable(config.to_dict()),
                "description": config.description, "created": utc_now(), "n_jobs_total": len(config.jobs()),
                "environment": {**jobs.versions_row(), "host": socket.gethostname(), "cpu_count": os.cpu_count()},
            }, sort_keys=True, newline=True)
        log = _results_log(out)
        done = _finished_keys(log)
        all_jobs = config.jobs()
        pending = [j for j in all_jobs if j.key not in done]
        pending.sort(key=lambda j: -j.cost_rank())  # stable: slow jobs first, grid order otherwise
        with open_executor(backend, n_jobs, address) as (backend_name, workers, auto_threads):
            n_threads = threads_per_job or auto_threads
            _drive(config, out, log, pending, len(all_jobs), len(all_jobs) - len(pending), backend_name, workers,
                   n_threads, progress)
    return load_results(out)


def _results_log(out: Path) -> CSVLog:
    return RunFolder(out, what="sweep").log(RESULTS_FILE, RESULT_COLUMNS, cell=result_cell)


def _finished_keys(log: CSVLog) -> set:
    """Drop a partial last line, check the header, and return the keys of finished (``ok``) jobs."""
    log.repair()
    if log.header() != RESULT_COLUMNS:
        raise ValueError(
            f"{str(log.path)!r} does not have the columns this version of ibscope writes "
            f"(expected {len(RESULT_COLUMNS)} columns starting with {', '.join(RESULT_COLUMNS[:3])}). "
            "Pass another output folder."
        )
    return {row["job_key"] for row in log.read() if row.get("status") == "ok"}


def _drive(config: SweepConfig, out: Path, log: CSVLog, pending: list, total: int, n_done: int, backend_name: str,
           workers: int, n_threads: int, progress: bool) -> None:
    from tqdm.auto import tqdm

    models = out / "models"
    fits: dict[str, CompressorFit] = {}
    needs: dict[str, dict] = {}
    for job in pending:
        sides = config.compressor_fits(job)
        needs[job.key] = sides
        for fit in sides.values():
            if fit is not None:
                fits[fit.key] = fit
    blobs: dict[str, bytes] = {}
    infos: dict[str, dict] = {}
    failed: dict[str, str] = {}
    to_fit = []
    for key, fit in fits.items():
        path = models / fit.filename
        if path.exists():
            blobs[key] = path.read_bytes()
            infos[key] = _stored_fit_info(path)
        else:
            to_fit.append(fit)
    if to_fit:
        models.mkdir(exist_ok=True)

    def ready(job):
        return all(f is None or f.key in blobs or f.key in failed for f in needs[job.key].values())

    def item(job):
        sides = needs[job.key]
        return ("job", job,
                {s: (blobs[f.key] if f is not None else None) for s, f in sides.items()},
                {s: (infos.get(f.key) if f is not None else None) for s, f in sides.items()})

    bar = tqdm(total=total, initial=n_done, desc="sweep jobs", unit="job", disable=not progress, smoothing=0.05)
    fit_bar = tqdm(total=len(to_fit), desc="compressor fits", unit="fit", disable=not (progress and to_fit),
                   leave=False)

    def write(row):
        log.append([row])
        bar.update(1)
        if row.get("status") != "ok":
            bar.write(f"job {row['job_key']} ({row['task']}, MI={row['true_mi']}, {row['method']}, "
                      f"seed={row['seed']}) failed: {row.get('error')}")

    try:
        # stage 1: fit compressors while the jobs that need none run; stage 2: the jobs that need them
        first = [("fit", f) for f in to_fit] + [item(j) for j in pending if ready(j)]
        later = [j for j in pending if not ready(j)]
        for stage in (first, None):
            items = stage if stage is not None else [item(j) for j in later]
            for kind, obj, payload, error in map_jobs(jobs._execute, items, name=backend_name, n_jobs=workers,
                                                      n_threads=n_threads):
                if kind == "fit":
                    fit_bar.update(1)
                    if error is not None:
                        failed[obj.key] = error
                        bar.write(f"compressor {obj.spec} for {obj.task} (seed {obj.seed}) failed: {error}")
                        continue
                    path = models / obj.filename
                    _save_fit(path, payload)
                    blobs[obj.key] = payload["blob"]
                    infos[obj.key] = _stored_fit_info(path)
                else:
                    write(payload)
            if stage is not None:
                for job in later:  # jobs whose compressor failed: record why, retry next run
                    bad = [failed[f.key] for f in needs[job.key].values() if f is not None and f.key in failed]
                    if bad:
                        row = jobs._base_row(job)
                        row.update(jobs.versions_row())
                        row.update({"status": "error", "error": f"compressor fit failed: {bad[0]}",
                                    "host": socket.gethostname(), "finished_at": utc_now()})
                        write(row)
                later = [j for j in later if not any(
                    f is not None and f.key in failed for f in needs[j.key].values())]
    finally:
        fit_bar.close()
        bar.close()


def _save_fit(path: Path, payload: dict) -> None:
    """Write a fitted compressor's bytes atomically, with a JSON side file of its training summary.

    The side file is written first, so a compressor file never exists without its summary.
    """
    info = {k: v for k, v in payload.items() if k != "blob"}
    atomic_write_json(path.with_suffix(".json"), jsonable(info), sort_keys=True, newline=True)
    with atomic_open(path, "wb") as fh:
        fh.write(payload["blob"])


def _stored_fit_info(path: Path) -> dict:
    info = {"file": f"models/{path.name}"}
    side = path.with_suffix(".json")
    if side.exists():
        try:
            info.update(json.loads(side.read_text()))
        except (OSError, ValueError):
            pass
    return info


# =========================================================================== reading results
