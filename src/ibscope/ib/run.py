"""Built-in trainer with a resumable, self-describing run folder.

:func:`run_ib` trains a noisy classifier and analyses its information plane as
it trains. Everything goes to one folder::

    RUN_DIR/
      config.json          every parameter (resolved), seed, package versions, device, start/resume times
      metrics.csv          epoch, train/test loss, accuracy and ROC-AUC, lr, analysed, timings
      info.csv             per epoch and layer: brackets, estimates with intervals, flags, settings
      checkpoints/last.pt  model, optimiser, noise RNG streams, torch RNG, loader RNG and the
                           recorder's fitted compressors (atomic); start.pt: the same before epoch 1
      figures/             information planes, MI and loss vs epoch (PNG and PDF)
      summary.json         final metrics and pointers, written when the run completes

The files are those of every IB run folder (:mod:`ibscope.runs.ibrun`), opened with the one
lifecycle of :mod:`ibscope.runs.lifecycle`.

Columns
-------
Every column of ``metrics.csv`` and ``info.csv``, with its type and meaning, is declared once in
:mod:`ibscope.runs.schema` (``METRICS``, ``INFO``). ``train_loss`` and ``train_acc`` are running
means over the epoch's training batches in training mode, so they can be worse than ``test_loss``
and ``test_acc``, computed after the epoch in evaluation mode.

Fault tolerance
---------------
Each epoch's rows are appended to ``metrics.csv`` and ``info.csv`` and flushed
to disk (``fsync``) as soon as the epoch finishes; *then* the checkpoint is
written (to a temporary file, fsynced, then ``os.replace``d onto
``checkpoints/last.pt``, so it is either the old or the new one, never half of
one). ``resume=True`` loads the last checkpoint, drops from the CSV files any
row of a later epoch (written by an epoch whose checkpoint never landed) and
any half-written line, and continues with the next epoch, so after a kill at
any moment every epoch appears exactly once. The model, the optimiser, every
noise layer's generator, the global torch generator (dropout), the data
loader's generator and the recorder's fitted compressors are restored, so a
resumed run gives the same numbers as an uninterrupted one on the same device.
Estimator and compressor seeds are pure functions of (seed, epoch, layer).

The checkpoint also holds the configuration the run was trained with: a
``config.json`` edited by hand after the run started is refused on resume,
with the edited keys named, so the folder's record always says what the run
used.

A run holds an exclusive lock on its folder (``.ibscope.lock``, see
:class:`ibscope.runs.FolderLock`) while it writes: a second ``run_ib`` on the
same folder, fresh or ``resume=True``, is refused with a message naming the
holder's process, and a lock left by a killed process is taken over.

The training loop itself is :class:`~ibscope.ib.Trainer`; everything above is
done by its callbacks (:mod:`ibscope.ib.callbacks`): the
:class:`~ibscope.ib.IBRecorder` analyses, a ``RunWriter`` writes the CSV
rows, a ``Checkpoint`` saves the state, a ``ProgressBar`` shows progress.

Background analysis
-------------------
``background_analysis=True`` runs each epoch's analysis, after its probe pass, in one worker thread
while the next epoch trains (:mod:`ibscope.ib.worker`): the same rows, weights and checkpoints; an
epoch's checkpoint is written only after its rows, so the guarantees above hold unchanged.

Resuming checks that the folder was made with the same configuration (apart
from ``epochs``, which may grow, and settings that do not change the numbers'
meaning: ``device``, ``data_dir``, ``threads``, ``backend``, ``plots``);
otherwise it stops with a one-line error before touching any file.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .._random import child_seed
from .._torch import resolve_device
from ..plane.flags import flag_summary
from ..runs import RunFolderError, package_versions, utc_now
from ..runs.errors import ConfigMismatchError, DamagedFolderError, ForeignFolderError
from ..runs.ibrun import CHECKPOINT, COMPRESSORS, CONFIG_FILE, FORMAT, FORMAT_VERSION, RunArtefact, count_flags
from ..runs.lifecycle import IB_RUN, open_folder, plan_folder, require_kind
from ..runs.schema import METRICS, epoch_of
from .callbacks import METRICS_COLUMNS, Callback, Checkpoint, FigureWriter, ProgressBar, RunWriter
from .config import IBConfig, _renamed_keys, as_config
from .network import Network, build_network, check_sources, run_sources
from .recorder import IBRecorder
from .schedule import epoch_schedule
from .trainer import Trainer
from .worker import AnalysisWorker

if TYPE_CHECKING:
    from ..data import ProbeSet

__all__ = ["run_ib", "IBRunResult", "RunFolderError", "METRICS_COLUMNS", "Callback", "load_run_config"]

# purposes of derived seeds
_SEED_LOADER, _SEED_TORCH, _SEED_ANALYSIS, _SEED_PROBE = 1, 2, 3, 4


def derived_seeds(seed: int) -> dict[str, int]:
    """Every seed a run derives from its ``seed`` (recorded in ``config.json``)."""
    return {"model_init_and_noise": seed, "loader": child_seed(seed, _SEED_LOADER),
            "torch_global (dropout)": child_seed(seed, _SEED_TORCH), "analysis": child_seed(seed, _SEED_ANALYSIS),
            "probe_subset": child_seed(seed, _SEED_PROBE)}


@dataclasses.dataclass
class IBRunResult:
    """What :func:`run_ib` returns.

    Attributes
    ----------
    out : pathlib.Path
        The run folder.
    config : IBConfig
        The resolved configuration.
    epochs_run : list of int
        Epochs trained by this call (empty if the run was already complete).
    resumed_from : int
        Last completed epoch found in the folder (0 for a fresh run).
    final_metrics : dict
        The last row of ``metrics.csv``.
    n_flagged : int
        Rows of ``info.csv`` with at least one sanity flag.
    flag_counts : dict
        Number of rows carrying each flag.
    figures : list of pathlib.Path
        Figure files written.
    time_s : float
        Wall-clock time of this call.
    """

    out: Path
    config: IBConfig
    epochs_run: list
    resumed_from: int
    final_metrics: dict
    n_flagged: int
    flag_counts: dict
    figures: list
    time_s: float

    def summary(self) -> str:
        """A few human-readable lines about the run."""
        m = self.final_metrics
        lines = [f"run folder: {self.out}"]
        if self.resumed_from:
            lines.append(f"resumed after epoch {self.resumed_from}")
        if m:
            lines.append(
                f"epoch {m.get('epoch')}: train loss {_fmt(m.get('train_loss'))}, test loss {_fmt(m.get('test_loss'))},"
                f" test accuracy {_fmt(m.get('test_acc'), pct=True)}"
            )
        lines.append(flag_summary(self.flag_counts))
        if self.figures:
            lines.append(f"figures: {Path(self.figures[0]).parent}")
        lines.append(f"time: {self.time_s:.1f} s for {len(self.epochs_run)} epoch(s)")
        return "\n".join(lines)


def _fmt(v, pct=False) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "n/a"
    return f"{100 * f:.1f}%" if pct else f"{f:.4f}"


def load_run_config(out) -> dict:
    """Read ``config.json`` of a run folder (the whole record; ``record["config"]`` holds the IBConfig fields
    of a run written by :func:`run_ib`, and is None for a folder written by the Lightning callback).

    Raises
    ------
    FileNotFoundError
        ``out`` does not exist.
    RunFolderError
        Not an IB run folder (the message says what it is), or an unreadable record.
    """
    out = Path(out)
    try:
        record = require_kind(out, IB_RUN)
    except ForeignFolderError as exc:
        if (out / "study.json").is_file() and not (out / CONFIG_FILE).is_file():
            raise ForeignFolderError(f"{str(out)!r} is an ibscope ib study (it has a study.json), not a single run: "
                                     "read it with ibscope.study.load_study.") from None
        if (out / CONFIG_FILE).is_file():
            raise ForeignFolderError(f"{out / CONFIG_FILE} does not describe an ibscope ib run.") from None
        raise ForeignFolderError(f"{out} is not an ibscope ib run folder: it has no {CONFIG_FILE}.") from exc
    if record.get("format") == "ibscope-lightning-ib-run":  # format 1 of the Lightning callback
        record = {**record, "writer": "lightning", "analysis": record.get("config"), "config": None}
    record.setdefault("writer", "ibscope ib")
    if isinstance(record.get("config"), dict):
        # folders written before the decoder label side existed estimated I(L;Y) on the layer codes
        record["config"].setdefault("label_side", "codes")
        record["config"] = _renamed_keys(record["config"], warn=False)  # "backend" is now "knn_backend"
        if int(record.get("format_version", 1)) < 3:  # before the brackets: a resumed run continues without them
            record["config"].setdefault("brackets", False)
    return record


# ---------------------------------------------------------------------------------------------------------------
# Building a run
# ---------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Parts:
    """What a run trains and analyses (built before any file is touched)."""

    trainer: Trainer
    recorder: IBRecorder
    probe: ProbeSet
    network: Network | None = None


def _build(cfg: IBConfig, out: Path, device: str, seeds: dict[str, int], schedule: list[int],
           progress: Any = False) -> _Parts:
    """Load the data, build the model, optimiser and recorder (checks layer names and the probe settings)."""
    import torch

    from ..data import load_dataset, make_dataloader, normalize, probe_set

    # cfg is resolved (IBConfig.resolved): these fields are never None
    batch_size, lr = cast(int, cfg.batch_size), cast(float, cfg.lr)
    probe_split = cast(str, cfg.probe_split)
    kw: dict[str, Any] = {"data_dir": cfg.data_dir} if cfg.dataset != "digits" else {}
    x_train, y_train = load_dataset(cfg.dataset, "train", **kw)
    x_test, y_test = load_dataset(cfg.dataset, "test", **kw)
    n_classes = int(max(y_train.max(), y_test.max()) + 1)
    train_loader = make_dataloader(
        x_train, y_train, batch_size=batch_size, shuffle=True,
        random_state=seeds["loader"], normalize=cfg.dataset, device=device,
    )
    test_loader = make_dataloader(x_test, y_test, batch_size=cfg.eval_batch_size, shuffle=False,
                                  normalize=cfg.dataset, device=device)
    probe = probe_set(cfg.dataset, probe_split, n=cfg.probe_size, random_state=seeds["probe_subset"],
                      stratify=cfg.probe_size is not None, **kw)
    probe_x = torch.as_tensor(normalize(probe.images, cfg.dataset)).to(device)
    x_fit = normalize(x_train, cfg.dataset)
    # built-in or user model, checked on a probe batch; unknown layer names fail now, not after an epoch
    network = build_network(cfg, in_shape=tuple(x_train.shape[1:]), n_classes=n_classes, probe_x=probe_x,
                            device=device)
    model = network.model
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    recorder = IBRecorder(
        probe_x, probe.labels, layers=network.layers, softmax=cfg.softmax, compress=cfg.compress,
        compress_x=cfg.compress_x, x_fit=x_fit, estimator=cfg.estimator, estimator_y=cfg.estimator_y, k=cfg.k,
        ci=cfg.ci, n_subsamples=cfg.n_subsamples, units=cfg.units, refit=cast(str, cfg.refit),
        batch_size=cfg.eval_batch_size, knn_backend=cfg.knn_backend,
        device=device if device.startswith("cuda") else None, random_state=seeds["analysis"], schedule=schedule,
        label_side=cast(str, cfg.label_side), progress=progress, brackets=cfg.brackets,
        bracket_trials=cfg.bracket_trials, xl_estimate=cfg.xl_estimate,
    ).check()  # settings that cannot work on this probe set fail now, before any file
    trainer = Trainer(model, optimizer, train_loader, test_loader, device=device, out=out, config=cfg)
    return _Parts(trainer=trainer, recorder=recorder, probe=probe, network=network)


def _check_resume(out: Path, cfg: IBConfig, record: dict) -> None:
    if not isinstance(record.get("config"), dict):
        raise ForeignFolderError(f"Cannot resume {out} with run_ib: it was written by the {record.get('writer')} "
                                 "writer (no IBConfig). Pass a new folder.")
    try:
        old = IBConfig.from_dict(record["config"])
    except (TypeError, ValueError) as exc:
        raise DamagedFolderError(f"The configuration in {out / CONFIG_FILE} is not valid: {exc}") from None
    diff = old.differences(cfg)
    if not diff:
        check_sources(out, cfg, record)  # a user's model file or npz data changed: refuse
    if diff:
        shown = "; ".join(f"{k}: {a!r} in the folder, {b!r} now" for k, (a, b) in list(diff.items())[:4])
        more = f" (and {len(diff) - 4} more)" if len(diff) > 4 else ""
        raise ConfigMismatchError(
            f"Cannot resume {out}: it was created with a different configuration ({shown}{more}). "
            "Use the original settings to resume, or a new folder for the new ones.", list(diff))
    if cast(int, cfg.epochs) < cast(int, old.epochs):  # both resolved (the folder's was written resolved)
        done = RunArtefact(out).logged_epochs()
        if done and cast(int, cfg.epochs) < done[-1]:
            raise RunFolderError(
                f"Cannot resume {out} with epochs={cfg.epochs}: it has already completed {done[-1]} epochs."
            )


def _check_trained_config(out: Path, cfg: IBConfig, checkpoint: Checkpoint) -> None:
    """Refuse to resume when ``config.json`` no longer says what the run was trained with (an edit by hand).

    The checkpoint keeps the configuration the run used; the settings that may change on
    resume (:data:`~ibscope.ib.config.MUTABLE_ON_RESUME`) are not compared.
    """
    import torch

    path = checkpoint.path if checkpoint.path.is_file() else checkpoint.start_path
    if not path.is_file():
        return
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # unreadable: Checkpoint.load says so, with what to do
        return
    used = state.get("config")
    if not isinstance(used, dict):
        return  # a checkpoint of an earlier version
    diff = IBConfig.from_dict(used).differences(cfg)
    if diff:
        shown = "; ".join(f"{k}: {a!r} when trained, {b!r} in config.json" for k, (a, b) in list(diff.items())[:4])
        raise ConfigMismatchError(
            f"Cannot resume {out}: its {CONFIG_FILE} no longer matches the configuration the run was trained with "
            f"({shown}). The file was edited after the run started; restore those values to resume (they are the "
            "run's), or start a new run in a new folder for the new settings.", list(diff))


def _abandoned_start(folder) -> bool:
    """A folder where a run was set up but finished no epoch (no logged epoch, no epoch checkpoint)."""
    art = RunArtefact(folder.path)
    entries = folder.entries()
    return (CONFIG_FILE in entries and set(entries) <= set(IB_RUN.entries) and not (art.path / CHECKPOINT).exists()
            and not art.logged_epochs())


def _plan(config: IBConfig, out: Path, resume: bool, *, locked: bool = False):
    """``(cfg, fresh, record, note)``: the resolved configuration and what the folder holds; checks only.

    ``note`` says why a fresh run starts although ``resume`` was asked (or "" otherwise). The checks
    that another live writer could make look wrong (logged epochs whose checkpoint is still being
    written) run only ``locked``.
    """
    opening = plan_folder(out, IB_RUN, resume=bool(resume), abandoned=_abandoned_start,
                          resume_hint="Pass resume=True (--resume) to continue the run in it")
    if opening.fresh:
        return config.resolved(), True, None, opening.note
    record = load_run_config(out)
    if config.epochs is None:  # no explicit epoch count: finish the folder's run
        config = config.replace(epochs=record["config"].get("epochs"))
    cfg = config.resolved()
    _check_resume(out, cfg, record)
    art = RunArtefact(out)
    logged = art.logged_epochs()
    start_pt = (out / CHECKPOINT).with_name("start.pt")
    if locked and logged and not (out / CHECKPOINT).is_file() and not start_pt.is_file():
        raise DamagedFolderError(
            f"Cannot resume {out}: it has {len(logged)} logged epoch(s) (up to epoch {logged[-1]}) but no "
            f"{CHECKPOINT}, so training cannot continue from them. Restore the checkpoint, or move the folder "
            "away and start a new run."
        )
    _check_trained_config(out, cfg, Checkpoint(out / CHECKPOINT))
    return cfg, False, record, ""


def _new_record(cfg: IBConfig, parts: _Parts, device: str, seeds: dict[str, int], schedule: list[int]) -> dict:
    rec = parts.recorder
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "writer": "ibscope ib",
        "config": cfg.to_dict(),
        "analysis": _analysis_settings(rec),
        "seed": cfg.seed,
        "derived_seeds": seeds,
        "device": device,
        "versions": package_versions(),
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "created": utc_now(),
        "resumes": [],
        "probe": {"split": cfg.probe_split, "n": int(len(parts.probe.labels))},
        "model_layers": list(parts.network.layers if parts.network is not None
                             else getattr(parts.trainer.model, "layer_names", ())),
        "sources": run_sources(cfg),  # a user's model file / npz dataset and their SHA-256 (checked on resume)
        "schedule_epochs": schedule,
    }


def _analysis_settings(rec: IBRecorder) -> dict[str, Any]:
    """The recorder's settings, as every writer of an IB run folder records them under ``analysis``."""
    def spec(v: Any) -> Any:
        return "none" if v is None else v if isinstance(v, str) else repr(v)

    return {"layers": None if rec.layers is None else list(rec.layers), "softmax": rec.softmax,
            "compress": spec(rec.compress), "compress_x": spec(rec.compress_x), "estimator": spec(rec.estimator),
            "estimator_y": spec(rec.estimator_y), "k": rec.k, "ci": rec.ci, "n_subsamples": rec.n_subsamples,
            "units": rec.units, "refit": rec.refit, "label_side": rec.label_side, "random_state": rec.random_state,
            "batch_size": rec.batch_size, "n_probe": int(len(rec.probe_y))}


def run_ib(config: IBConfig | dict | None = None, *, out, resume: bool = False, progress: bool = False,
           callbacks=(), **overrides) -> IBRunResult:
    """Train a noisy network and record its information plane, epoch by epoch.

    Parameters
    ----------
    config : IBConfig, dict or None
        The configuration (None: ``IBConfig()`` defaults, i.e. the digits run).
    out : str or path-like
        Run folder. A fresh run needs it to be missing or empty.
    resume : bool, default=False
        Continue the run in ``out`` from its last checkpoint (an empty or
        missing folder starts a fresh run). The configuration must match the
        folder's, except the fields in :data:`~ibscope.ib.config.MUTABLE_ON_RESUME`:
        ``epochs`` (which may grow to extend a finished run; None keeps the
        folder's), ``device``, ``data_dir``, ``threads``, ``knn_backend``, ``plots``
        and ``progress_every``.
    progress : bool, default=False
        Show a progress bar over epochs (tqdm), with the analysis stage of the epoch
        being analysed, and print a summary at the end.
    callbacks : sequence of :class:`Callback`
        Extra hooks, e.g. to log elsewhere or to stop a run. They run after the
        epoch's rows are on disk and before its checkpoint (see :mod:`ibscope.ib.callbacks`).
    **overrides
        Field values that replace those of ``config`` (``run_ib(out=d, epochs=3)``).

    Returns
    -------
    IBRunResult

    Raises
    ------
    RunFolderError
        ``out`` is not empty and ``resume`` is False (:class:`~ibscope.runs.FolderNotEmptyError`);
        the folder was created with a different configuration, or its ``config.json`` was edited
        after the run started (:class:`~ibscope.runs.ConfigMismatchError`); it is not an ibscope
        ib run folder (:class:`~ibscope.runs.ForeignFolderError`); a file stands in its place
        (:class:`~ibscope.runs.NotAFolderError`, also an ``OSError``); a file it needs is damaged
        (:class:`~ibscope.runs.DamagedFolderError`). No file is changed in these cases.
    FolderLockedError
        Another process is writing to ``out`` (an ``OSError``; the message names it).
    ValueError, TypeError
        Invalid configuration values, naming the field.

    Examples
    --------
    >>> res = run_ib(IBConfig(dataset="digits", epochs=5), out="runs/digits")   # doctest: +SKIP
    >>> print(res.summary())                                                    # doctest: +SKIP
    """
    import torch

    t0 = time.perf_counter()
    if out is None or not isinstance(out, (str, Path)) and not hasattr(out, "__fspath__"):
        raise TypeError(f"The 'out' argument of run_ib must be a folder (a str or path-like). Got "
                        f"{type(out).__name__} instead.")
    config = as_config(config, "run_ib")
    if overrides:
        config = config.replace(**overrides)
    out = Path(out).expanduser()
    cfg, _, _, _ = _plan(config, out, resume)  # nothing is written before these checks pass
    device = resolve_device(cfg.device, "IBConfig")
    artefact = RunArtefact(out)
    bar = ProgressBar(cast(int, cfg.epochs), every=cfg.progress_every) if progress else None
    # loads data, builds the model, checks layer names and the probe settings
    seeds, schedule = derived_seeds(cfg.seed), epoch_schedule(cfg.schedule, cast(int, cfg.epochs))
    parts = _build(cfg, out, device, seeds, schedule, progress=bar.analysis_progress if bar is not None else False)

    with open_folder(out, IB_RUN, hint="Wait for it to finish (or stop it), then resume; or pass another --out.",
                     resume=bool(resume), abandoned=_abandoned_start,
                     resume_hint="Pass resume=True (--resume) to continue the run in it") as opening:
        planned = cfg
        cfg, fresh, record, note = _plan(config, out, resume, locked=True)  # again, now that nothing else writes
        note = opening.note or note  # an abandoned start was cleared when the folder was opened
        if cfg.to_dict() != planned.to_dict():
            raise RunFolderError(f"The run folder {out} changed while this run was starting (another process "
                                 "wrote to it). Check the folder, then start again.")
        if note and progress:
            print(f"ibscope: note: {note}", file=sys.stderr)
        elif note:
            warnings.warn(note, RuntimeWarning, stacklevel=2)
        if fresh:
            record = _new_record(cfg, parts, device, seeds, schedule)
            artefact.write_record(record)
            artefact.create_logs()
        else:
            assert record is not None
            record["config"]["epochs"] = cfg.epochs
            record["schedule_epochs"] = schedule
            record.setdefault("resumes", []).append({"time": utc_now(), "device": device,
                                                     "versions": package_versions(), "command": " ".join(sys.argv)})
            artefact.write_record(record)

        trainer, recorder = parts.trainer, parts.recorder
        checkpoint = Checkpoint(out / CHECKPOINT, format=FORMAT)
        figures = FigureWriter(out) if cfg.plots else None
        trainer.callbacks = [recorder, *([figures] if figures else []), RunWriter(artefact, layers=recorder.layers)]
        if bar is not None:
            bar.initial = 0
            trainer.callbacks.append(bar)
        trainer.callbacks += [*callbacks, checkpoint]
        devices = Checkpoint._rng_devices(trainer)
        old_threads = torch.get_num_threads()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        worker = trainer.analysis_worker = AnalysisWorker() if cfg.background_analysis else None
        try:
            with torch.random.fork_rng(devices=devices):
                # the global torch generator drives dropout; seed it locally (the caller's state is restored on exit)
                torch.manual_seed(seeds["torch_global (dropout)"])
                start = 0
                if fresh:
                    recorder.prepare()  # the X compressor, fitted before the first epoch and kept in start.pt
                    checkpoint.save_start(trainer)
                else:
                    start = _resume_state(trainer, recorder, checkpoint, out, record)
                    artefact.trim(start)
                    repaired = _redo_lost_rows(trainer, recorder, cfg, start, artefact)
                    if repaired:
                        assert record is not None
                        record.setdefault("repairs", []).append({"time": utc_now(), "epoch": start, "redone": repaired})
                        artefact.write_record(record)
                if bar is not None:
                    bar.initial = start
                ran = trainer.fit(cast(int, cfg.epochs), start=start)
        finally:
            trainer.analysis_worker = None
            if worker is not None:
                worker.close(wait=False)  # nothing is pending after fit; after an error its result is not wanted
            if cfg.threads:
                torch.set_num_threads(old_threads)
        result = _result(artefact, cfg, ran, start, t0, figures.figures if figures else [])
    if progress:
        print(result.summary(), file=sys.stderr)
    return result


def _resume_state(trainer: Trainer, recorder: IBRecorder, checkpoint: Checkpoint, out: Path, record) -> int:
    """Load the checkpoint (and, for folders of earlier versions, the compressors folder); its epoch."""
    if not checkpoint.path.is_file() and checkpoint.start_path.is_file():
        logged = RunArtefact(out).logged_epochs()
        if logged:
            warnings.warn(f"{out} has no {CHECKPOINT}: the run continues from its start state (before epoch 1), so "
                          f"its {len(logged)} logged epoch(s) are trained again; being seeded, they give the same "
                          "numbers.", RuntimeWarning, stacklevel=3)
    start = checkpoint.load(trainer)
    if recorder.fit_epoch_ is None and recorder.x_coded_ is None and (out / COMPRESSORS / "state.json").is_file():
        recorder.load_state(out / COMPRESSORS, max_fit_epoch=start)  # a folder written before format 2
    return start


def _redo_lost_rows(trainer: Trainer, recorder: IBRecorder, cfg: IBConfig, epoch: int, artefact: RunArtefact) -> list:
    """Re-create the rows of the checkpoint's epoch that the logs lost (a file cut after the checkpoint landed).

    The checkpoint holds the model as it was after ``epoch``, so its analysis is redone on it, and a lost
    metrics row gets the test metrics again (the training-pass metrics are gone: NaN). Every random stream
    is restored afterwards, so the epochs that follow are the ones an uninterrupted run would give.
    Rows lost from earlier epochs cannot be recomputed (no checkpoint holds those weights): they are
    named in a warning. Returns what was redone (empty when nothing was lost).
    """
    import torch

    from ..nets import get_noise_rng_state, set_noise_rng_state

    if epoch < 1:
        return []
    info_rows = artefact.info_rows()
    metrics_rows = artefact.metrics_rows()
    scheduled_epochs = recorder.schedule
    earlier = sorted(e for e in (scheduled_epochs or range(1, epoch)) if e < epoch
                     and not any(epoch_of(r) == e for r in info_rows))
    if earlier:
        warnings.warn(f"{artefact.path / 'info.csv'} has no rows for the analysed epoch(s) {earlier[:6]}"
                      f"{'...' if len(earlier) > 6 else ''}: they were lost after they were written, and no checkpoint "
                      "holds those epochs' weights, so they cannot be redone. Restore info.csv from a copy, or rerun "
                      "the run in a new folder.", RuntimeWarning, stacklevel=3)
    epoch_rows = [r for r in info_rows if epoch_of(r) == epoch]
    has_metrics = any(epoch_of(r) == epoch for r in metrics_rows)
    scheduled = scheduled_epochs is None or epoch in scheduled_epochs
    expected = recorder.expected_rows(trainer.model) if scheduled else 0
    redo_info = scheduled and len(epoch_rows) < expected
    if not redo_info and has_metrics:
        return []
    noise, cpu = get_noise_rng_state(trainer.model), torch.get_rng_state()
    cuda = [torch.cuda.get_rng_state(d) for d in Checkpoint._rng_devices(trainer)]
    redone = []
    try:
        if redo_info:
            artefact.info_log.keep(lambda r: (epoch_of(r) or 0) < epoch)
            artefact.info_log.append(recorder.reanalyse(trainer.model, epoch))
            redone.append(f"info.csv rows of epoch {epoch}")
        if not has_metrics:
            test_loss, test_acc, test_auc = trainer.evaluate()
            nan = float("nan")
            artefact.metrics_log.append([{"epoch": epoch, "train_loss": nan, "train_acc": nan, "train_auc": nan,
                                          "test_loss": test_loss, "test_acc": test_acc, "test_auc": test_auc,
                                          "lr": trainer.optimizer.param_groups[0]["lr"], "analysed": int(scheduled),
                                          "time_s": nan, "train_s": nan, "eval_s": nan, "analysis_s": nan,
                                          "analysis_wait_s": nan}])
            redone.append(f"metrics.csv row of epoch {epoch} (training-pass metrics lost)")
    finally:
        set_noise_rng_state(trainer.model, noise)
        torch.set_rng_state(cpu)
        for dev, st in zip(Checkpoint._rng_devices(trainer), cuda):
            torch.cuda.set_rng_state(st, dev)
    return redone


def _result(artefact: RunArtefact, cfg: IBConfig, ran: list[int], start: int, t0: float,
            figures: list) -> IBRunResult:
    metrics_rows = artefact.metrics_rows()
    n_flagged, counts = count_flags(artefact.info_rows())
    final = METRICS.parse(metrics_rows[-1]) if metrics_rows else {}
    return IBRunResult(out=artefact.path, config=cfg, epochs_run=ran, resumed_from=start, final_metrics=final,
                       n_flagged=n_flagged, flag_counts=counts, figures=figures,
                       time_s=time.perf_counter() - t0)
