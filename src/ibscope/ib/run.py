"""Built-in trainer with a resumable, self-describing run folder.

:func:`run_ib` trains a noisy classifier and analyses its information plane as
it trains. Everything goes to one folder::

    RUN_DIR/
      config.json          every parameter (resolved), seed, package versions, device, start/resume times
      metrics.csv          epoch, train/test loss, accuracy and ROC-AUC, lr, analysed, timings
      info.csv             epoch, layer, i_xl, i_xl_lo, i_xl_hi, i_ly, i_ly_lo, i_ly_hi, flags, n, k, units, ...
      checkpoints/last.pt  model, optimiser, noise RNG streams, torch RNG, loader RNG (atomic)
      compressors/         X compressor (fitted once) and layer compressors (fit-once mode)
      figures/             information planes, MI and loss vs epoch (PNG and PDF)
      summary.json         final metrics and pointers, written when the run completes

Metrics
-------
``train_loss`` (NLL, nats per sample) and ``train_acc`` are running means over
the epoch's training batches, in training mode (dropout on, weights changing),
so they can be worse than ``test_loss`` / ``test_acc``, which are computed after
the epoch on the whole test split in evaluation mode (noise on, dropout off).
``train_auc`` / ``test_auc`` are one-vs-one macro ROC-AUCs of the predicted
class probabilities (``exp`` of the log-softmax output), the paper's metric;
the train value comes from the same training-mode outputs as ``train_loss``.
``analysed`` is 1 when the epoch has rows in ``info.csv``; ``time_s`` is the
epoch's wall-clock time, analysis included; ``train_s``, ``eval_s`` and
``analysis_s`` split it into the training pass, the test-split evaluation and
the information-plane analysis (probe pass, compression, estimates).

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
noise layer's generator, the global torch generator (dropout) and the data
loader's generator are restored, so a resumed run gives the same numbers as an
uninterrupted one on the same device. Estimator and compressor seeds are pure
functions of (seed, epoch, layer), so they need no saved state.

A run holds an exclusive lock on its folder (``.ibscope.lock``, see
:class:`ibscope.runs.FolderLock`) while it writes: a second ``run_ib`` on the
same folder, fresh or ``resume=True``, is refused with a message naming the
holder's process, and a lock left by a killed process is taken over.

The training loop itself is :class:`~ibscope.ib.Trainer`; everything above is
done by its callbacks (:mod:`ibscope.ib.callbacks`): the
:class:`~ibscope.ib.IBRecorder` analyses, a ``RunWriter`` writes the CSV
rows, a ``Checkpoint`` saves the state, a ``ProgressBar`` shows progress.

Resuming checks that the folder was made with the same configuration (apart
from ``epochs``, which may grow, and settings that do not change the numbers'
meaning: ``device``, ``data_dir``, ``threads``, ``backend``, ``plots``);
otherwise it stops with a one-line error before touching any file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .._random import child_seed
from .._torch import resolve_device
from ..runs import RunFolder, package_versions, utc_now
from .bounds import BOUND_COLUMNS
from .callbacks import METRICS_COLUMNS, Callback, Checkpoint, ProgressBar, RunFolderError, RunWriter, csv_cell
from .config import IBConfig, as_config
from .flags import count_flags
from .network import Network, build_network, check_sources, run_sources
from .recorder import INFO_COLUMNS, IBRecorder
from .schedule import epoch_schedule
from .trainer import Trainer

if TYPE_CHECKING:
    from ..data import ProbeSet

__all__ = ["run_ib", "IBRunResult", "RunFolderError", "METRICS_COLUMNS", "Callback", "load_run_config"]

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
INFO_FILE = "info.csv"
CHECKPOINT = Path("checkpoints") / "last.pt"
COMPRESSORS = "compressors"
FORMAT = "ibscope-ib-run"
FORMAT_VERSION = 1

# purposes of derived seeds
_SEED_LOADER, _SEED_TORCH, _SEED_ANALYSIS, _SEED_PROBE = 1, 2, 3, 4


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
        flags = ", ".join(f"{k}: {v}" for k, v in sorted(self.flag_counts.items())) or "none"
        lines.append(f"info rows with sanity flags: {self.n_flagged} ({flags})")
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


def _number(v):
    """A CSV cell as int or float when it is one, else unchanged."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if f.is_integer() and "." not in str(v) and "e" not in str(v).lower() else f


def _int(v):
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None



def _resolve_device(device: str) -> str:
    return resolve_device(device, "IBConfig")


def load_run_config(out) -> dict:
    """Read ``config.json`` of a run folder (the whole record, ``record["config"]`` being the IBConfig fields)."""
    path = Path(out) / CONFIG_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{out} is not an ibscope ib run folder: it has no {CONFIG_FILE}.") from None
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{path} is not valid JSON ({exc}); the run folder is damaged.") from None
    if record.get("format") != FORMAT or "config" not in record:
        raise RunFolderError(f"{path} does not describe an ibscope ib run (format {record.get('format')!r}).")
    # folders written before the decoder label side existed estimated I(L;Y) on the layer codes
    record["config"].setdefault("label_side", "codes")
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


def _build(cfg: IBConfig, folder: RunFolder, device: str, progress: bool = False) -> _Parts:
    """Load the data, build the model, optimiser and recorder (checks layer names)."""
    import torch

    from ..data import load_dataset, make_dataloader, normalize, probe_set

    # cfg is resolved (IBConfig.resolved): these fields are never None
    batch_size, lr, epochs = cast(int, cfg.batch_size), cast(float, cfg.lr), cast(int, cfg.epochs)
    probe_split = cast(str, cfg.probe_split)
    kw: dict[str, Any] = {"data_dir": cfg.data_dir} if cfg.dataset != "digits" else {}
    x_train, y_train = load_dataset(cfg.dataset, "train", **kw)
    x_test, y_test = load_dataset(cfg.dataset, "test", **kw)
    n_classes = int(max(y_train.max(), y_test.max()) + 1)
    train_loader = make_dataloader(
        x_train, y_train, batch_size=batch_size, shuffle=True,
        random_state=child_seed(cfg.seed, _SEED_LOADER), normalize=cfg.dataset, device=device,
    )
    test_loader = make_dataloader(x_test, y_test, batch_size=cfg.eval_batch_size, shuffle=False,
                                  normalize=cfg.dataset, device=device)
    probe = probe_set(cfg.dataset, probe_split, n=cfg.probe_size, random_state=child_seed(cfg.seed, _SEED_PROBE),
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
        ci=cfg.ci if cfg.ci > 0 else None, n_subsamples=cfg.n_subsamples, units=cfg.units, refit=cfg.refit,
        batch_size=cfg.eval_batch_size, backend=cfg.backend, device=device if device.startswith("cuda") else None,
        random_state=child_seed(cfg.seed, _SEED_ANALYSIS), epochs=epoch_schedule(cfg.schedule, epochs),
        label_side=cfg.label_side, progress=progress,
    )
    trainer = Trainer(model, optimizer, train_loader, test_loader, device=device, out=folder.path, config=cfg)
    return _Parts(trainer=trainer, recorder=recorder, probe=probe, network=network)


def _check_folder_for_fresh_run(folder: RunFolder) -> None:
    out = folder.path
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"The run folder {out} exists and is not a folder.")
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent != out and not parent.is_dir():
        raise RunFolderError(f"The run folder {out} cannot be created: {parent} is a file, not a folder. "
                             "Pass another --out.")
    entries = folder.entries()
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise RunFolderError(
            f"The run folder {out} is not empty (it holds {shown}). Pass resume=True (--resume) to continue "
            "the run in it, or choose a new or empty folder."
        )


def _check_resume(out: Path, cfg: IBConfig, record: dict) -> dict:
    try:
        old = IBConfig.from_dict(record["config"])
    except (TypeError, ValueError) as exc:
        raise RunFolderError(f"The configuration in {out / CONFIG_FILE} is not valid: {exc}") from None
    diff = old.differences(cfg)
    if not diff:
        check_sources(out, cfg, record)  # a user's model file or npz data changed: refuse
    if diff:
        shown = "; ".join(f"{k}: {a!r} in the folder, {b!r} now" for k, (a, b) in list(diff.items())[:4])
        more = f" (and {len(diff) - 4} more)" if len(diff) > 4 else ""
        raise RunFolderError(
            f"Cannot resume {out}: it was created with a different configuration ({shown}{more}). "
            "Use the original settings to resume, or a new folder for the new ones."
        )
    if cast(int, cfg.epochs) < cast(int, old.epochs):  # both resolved (the folder's was written resolved)
        done = _last_checkpoint_epoch_hint(out)
        if done is not None and cfg.epochs < done:
            raise RunFolderError(
                f"Cannot resume {out} with epochs={cfg.epochs}: it has already completed {done} epochs."
            )
    return record


def _last_checkpoint_epoch_hint(out: Path):
    rows = RunFolder(out).log(METRICS_FILE, METRICS_COLUMNS).read()
    epochs = [_int(r.get("epoch")) for r in rows]
    epochs = [e for e in epochs if e is not None]
    return max(epochs) if epochs else None


#: What a run writes in its folder; a folder holding only these and no finished epoch is an abandoned start.
_RUN_ENTRIES = (CONFIG_FILE, METRICS_FILE, INFO_FILE, "summary.json", "figures", COMPRESSORS, "checkpoints")


def _logged_epochs(out: Path) -> list[int]:
    rows = RunFolder(out).log(METRICS_FILE, METRICS_COLUMNS).read()
    return sorted({e for e in (_int(r.get("epoch")) for r in rows) if e is not None})


def _abandoned_start(folder: RunFolder) -> bool:
    """A folder where a run was set up but finished no epoch (no checkpoint, no logged epoch, nothing else)."""
    entries = folder.entries()
    return (CONFIG_FILE in entries and set(entries) <= set(_RUN_ENTRIES) and not (folder.path / CHECKPOINT).exists()
            and not _logged_epochs(folder.path))


def _clear_abandoned_start(folder: RunFolder) -> None:
    import shutil

    for name in _RUN_ENTRIES:
        path = folder.path / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _plan(config: IBConfig, out: Path, resume: bool, *, locked: bool = False):
    """``(cfg, fresh, record, note)``: the resolved configuration and what the folder holds; checks only.

    ``note`` says why a fresh run starts although ``resume`` was asked (or "" otherwise). The checks
    that another live writer could make look wrong (logged epochs whose checkpoint is still being
    written) run only ``locked``.
    """
    folder = RunFolder(out, what="IB run")
    if resume and out.is_dir() and folder.entries() and not _abandoned_start(folder):
        record = load_run_config(out)
        if config.epochs is None:  # no explicit epoch count: finish the folder's run
            config = config.replace(epochs=record["config"].get("epochs"))
        cfg = config.resolved()
        _check_resume(out, cfg, record)
        logged = _logged_epochs(out)
        if locked and logged and not (out / CHECKPOINT).is_file():
            raise RunFolderError(
                f"Cannot resume {out}: it has {len(logged)} logged epoch(s) (up to epoch {logged[-1]}) but no "
                f"{CHECKPOINT}, so training cannot continue from them. Restore the checkpoint, or move the folder "
                "away and start a new run."
            )
        return cfg, False, record, ""
    cfg = config.resolved()
    note = ""
    if _abandoned_start(folder):
        note = (f"{out} holds a run that was set up but finished no epoch; its files are replaced by this "
                "fresh run.")
    else:
        _check_folder_for_fresh_run(folder)
        if resume:
            note = f"nothing to resume in {out} (no run there yet): starting a fresh run."
    return cfg, True, None, note


def _new_record(cfg: IBConfig, parts: _Parts, device: str) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "derived_seeds": {
            "model_init_and_noise": cfg.seed,
            "loader": child_seed(cfg.seed, _SEED_LOADER),
            "torch_global (dropout)": child_seed(cfg.seed, _SEED_TORCH),
            "analysis": child_seed(cfg.seed, _SEED_ANALYSIS),
            "probe_subset": child_seed(cfg.seed, _SEED_PROBE),
        },
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
        "schedule_epochs": epoch_schedule(cfg.schedule, cast(int, cfg.epochs)),  # resolved: an int
    }


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
        folder's), ``device``, ``data_dir``, ``threads``, ``backend``, ``plots``
        and ``progress_every``.
    progress : bool, default=False
        Show a progress bar over epochs (tqdm) and print a summary at the end.
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
        ``out`` is not empty and ``resume`` is False; or the folder was created
        with a different configuration; or it is not an ibscope ib run folder.
        No file is changed in these cases.
    FolderLockedError
        Another process is writing to ``out`` (an ``OSError``; the message names it).
    ValueError, TypeError
        Invalid configuration values, naming the field.

    Examples
    --------
    >>> res = run_ib(IBConfig(dataset="digits", epochs=5), out="runs/digits")   # doctest: +SKIP
    >>> print(res.summary())                                                    # doctest: +SKIP
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"The 'out' argument of run_ib must be a path (str or os.PathLike) naming the run folder. "
                        f"Got {out!r} of type {type(out).__name__}.")
    import torch

    t0 = time.perf_counter()
    config = as_config(config, "run_ib")
    if overrides:
        config = config.replace(**overrides)
    out = Path(out).expanduser()
    cfg, fresh, _, _ = _plan(config, out, resume)  # nothing is written before these checks pass
    device = _resolve_device(cfg.device)
    folder = RunFolder(out, what="IB run")
    # loads data, builds the model, checks layer names; with progress, autoencoder fits show their cost
    parts = _build(cfg, folder, device, progress=bool(progress))

    with folder.locked(hint="Wait for it to finish (or stop it), then resume; or pass another --out."):
        planned = cfg
        cfg, fresh, record, note = _plan(config, out, resume, locked=True)  # again, now that nothing else writes
        if cfg.to_dict() != planned.to_dict():
            raise RunFolderError(f"The run folder {out} changed while this run was starting (another process "
                                 "wrote to it). Check the folder, then start again.")
        metrics_log = folder.log(METRICS_FILE, METRICS_COLUMNS, cell=csv_cell)
        info_log = folder.log(INFO_FILE, INFO_COLUMNS, cell=csv_cell)
        if note and progress:
            print(f"ibscope: note: {note}", file=sys.stderr)
        elif note:
            warnings.warn(note, RuntimeWarning, stacklevel=2)
        if fresh and _abandoned_start(folder):
            _clear_abandoned_start(folder)
        if fresh:
            record = _new_record(cfg, parts, device)
            folder.write_json(CONFIG_FILE, record)
            metrics_log.create()
            info_log.create()
            (out / "figures").mkdir(exist_ok=True)
        else:
            record["config"]["epochs"] = cfg.epochs
            record["schedule_epochs"] = epoch_schedule(cfg.schedule, cast(int, cfg.epochs))  # resolved: an int
            record.setdefault("resumes", []).append({"time": utc_now(), "device": device,
                                                     "versions": package_versions(), "command": " ".join(sys.argv)})
            folder.write_json(CONFIG_FILE, record)

        trainer, recorder = parts.trainer, parts.recorder
        checkpoint = Checkpoint(out / CHECKPOINT, format=FORMAT)
        devices = Checkpoint._rng_devices(trainer)
        old_threads = torch.get_num_threads()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        try:
            with torch.random.fork_rng(devices=devices):
                # the global torch generator drives dropout; seed it locally (the caller's state is restored on exit)
                torch.manual_seed(child_seed(cfg.seed, _SEED_TORCH))
                start = 0
                if not fresh:
                    start = checkpoint.load(trainer)
                    metrics_log.keep(lambda r: _at_most(r, start))
                    info_log.keep(lambda r: _at_most(r, start))
                    recorder.load_state(out / COMPRESSORS, max_fit_epoch=start)
                    repaired = _redo_lost_rows(trainer, recorder, cfg, start, metrics_log, info_log)
                    if repaired:
                        record.setdefault("repairs", []).append({"time": utc_now(), "epoch": start, "redone": repaired})
                        folder.write_json(CONFIG_FILE, record)
                writer = RunWriter(info_log, metrics_log, recorder=recorder, compressors_dir=out / COMPRESSORS,
                                   save_at_start=fresh or not (out / COMPRESSORS / "state.json").is_file())
                trainer.callbacks = [recorder, writer]
                if progress:
                    trainer.callbacks.append(ProgressBar(cfg.epochs, initial=start, every=cfg.progress_every))
                trainer.callbacks += [*callbacks, checkpoint]
                ran = trainer.fit(cfg.epochs, start=start)
        finally:
            if cfg.threads:
                torch.set_num_threads(old_threads)
        return _finish(trainer, cfg, folder, ran, start, t0, progress)


def _bounds_summary(info_rows: list[dict]) -> dict[str, Any]:
    """The lower bounds on I(L;Y) from the net's own prediction: per analysed epoch, and the last one."""
    per_epoch: dict[int, dict[str, Any]] = {}
    for r in info_rows:
        e = _int(r.get("epoch"))
        if e is None or e in per_epoch:
            continue
        values = {c: _number(r.get(c, "")) for c in ("h_y", *BOUND_COLUMNS)}
        per_epoch[e] = {"epoch": e, **{c: (v if isinstance(v, (int, float)) and v == v else None)
                                       for c, v in values.items()}, "units": r.get("units")}
        if per_epoch[e]["bound"] is None:
            notes = [w for w in (r.get("warnings") or "").split(" | ") if w.startswith("bound: not computed")]
            per_epoch[e]["note"] = notes[0] if notes else "no bound in this row"
    epochs = [per_epoch[e] for e in sorted(per_epoch)]
    return {"last": epochs[-1] if epochs else None, "per_epoch": epochs,
            "rows_below_bound": sum("below_bound" in (r.get("flags") or "").split(";") for r in info_rows),
            "what": "lower bounds on every layer's I(L;Y) from the network's own prediction on the probe set: "
                    "bound_ba = H(Y) - NLL, bound_plugin = plug-in I(Y_hat;Y), bound_fano = Fano; bound = the "
                    "largest (see ibscope.ib.bounds)"}


def _redo_lost_rows(trainer: Trainer, recorder: IBRecorder, cfg: IBConfig, epoch: int, metrics_log, info_log) -> list:
    """Re-create the rows of the checkpoint's epoch that the logs lost (a file cut after the checkpoint landed).

    The checkpoint holds the model as it was after ``epoch``, so its analysis is redone on it, and a lost
    metrics row gets the test metrics again (the training-pass metrics are gone: NaN). Every random stream
    is restored afterwards, so the epochs that follow are the ones an uninterrupted run would give.
    Returns what was redone (empty when nothing was lost).
    """
    import torch

    from ..nets import get_noise_rng_state, set_noise_rng_state

    if epoch < 1:
        return []
    info_rows = [r for r in info_log.read() if _int(r.get("epoch")) == epoch]
    has_metrics = any(_int(r.get("epoch")) == epoch for r in metrics_log.read())
    scheduled = recorder.epochs is None or epoch in recorder.epochs
    expected = recorder.expected_rows(trainer.model) if scheduled else 0
    redo_info = scheduled and len(info_rows) < expected
    if not redo_info and has_metrics:
        return []
    noise, cpu = get_noise_rng_state(trainer.model), torch.get_rng_state()
    cuda = [torch.cuda.get_rng_state(d) for d in Checkpoint._rng_devices(trainer)]
    redone = []
    try:
        if redo_info:
            info_log.keep(lambda r: (_int(r.get("epoch")) or 0) < epoch)
            rows = recorder.analyse(trainer.model, epoch)
            for r in rows:
                r["warnings"] = " | ".join(w for w in (r.get("warnings"), "re-analysed on resume: the logged row "
                                                       "was lost") if w)
            info_log.append(rows)
            redone.append(f"info.csv rows of epoch {epoch}")
        if not has_metrics:
            test_loss, test_acc, test_auc = trainer.evaluate()
            nan = float("nan")
            metrics_log.append([{"epoch": epoch, "train_loss": nan, "train_acc": nan, "train_auc": nan,
                                 "test_loss": test_loss, "test_acc": test_acc, "test_auc": test_auc,
                                 "lr": trainer.optimizer.param_groups[0]["lr"], "analysed": int(scheduled),
                                 "time_s": nan, "train_s": nan, "eval_s": nan, "analysis_s": nan}])
            redone.append(f"metrics.csv row of epoch {epoch} (training-pass metrics lost)")
    finally:
        set_noise_rng_state(trainer.model, noise)
        torch.set_rng_state(cpu)
        for dev, st in zip(Checkpoint._rng_devices(trainer), cuda):
            torch.cuda.set_rng_state(st, dev)
    return redone


def _at_most(row: dict, epoch: int) -> bool:
    e = _int(row.get("epoch"))
    return e is not None and e <= epoch


def _finish(trainer: Trainer, cfg: IBConfig, folder: RunFolder, ran: list[int], start: int, t0: float,
            progress: bool) -> IBRunResult:
    out = folder.path
    figures = []
    if cfg.plots:
        try:
            from ..plots import plot_ib_run

            figures = plot_ib_run(out)
        except Exception as exc:  # the results are on disk; a plotting problem must not hide them
            warnings.warn(f"Drawing the figures of {out} failed ({type(exc).__name__}: {exc}); the results are "
                          "intact. Run 'ibscope plot' to retry.", RuntimeWarning, stacklevel=2)
    metrics_rows = folder.log(METRICS_FILE, METRICS_COLUMNS).read()
    info_rows = folder.log(INFO_FILE, INFO_COLUMNS).read()
    n_flagged, counts = count_flags(info_rows)
    final = {k: _number(v) for k, v in metrics_rows[-1].items()} if metrics_rows else {}
    result = IBRunResult(out=out, config=cfg, epochs_run=ran, resumed_from=start, final_metrics=final,
                         n_flagged=n_flagged, flag_counts=counts, figures=figures,
                         time_s=time.perf_counter() - t0)
    summary = {
        "completed_epochs": _int(final.get("epoch")) if final else 0,
        "final_metrics": final,
        "n_info_rows": len(info_rows),
        "n_flagged": n_flagged,
        "flag_counts": counts,
        "figures": [str(Path(f).relative_to(out)) if Path(f).is_relative_to(out) else str(f) for f in figures],
        "bounds": _bounds_summary(info_rows),
        "finished": utc_now(),
        "time_s_last_call": result.time_s,
    }
    folder.write_json("summary.json", summary)
    trainer.fire("on_train_end", result)
    if progress:
        print(result.summary(), file=sys.stderr)
    return result
