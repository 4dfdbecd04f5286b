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

Resuming checks that the folder was made with the same configuration (apart
from ``epochs``, which may grow, and settings that do not change the numbers'
meaning: ``device``, ``data_dir``, ``threads``, ``backend``, ``plots``);
otherwise it stops with a one-line error before touching any file.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .analysis import INFO_COLUMNS, IBRecorder, _derive, epoch_schedule
from .capture import ActivationRecorder
from .config import IBConfig

__all__ = ["run_ib", "IBRunResult", "RunFolderError", "METRICS_COLUMNS", "Callback", "load_run_config"]

#: Columns of ``metrics.csv``.
METRICS_COLUMNS = ("epoch", "train_loss", "train_acc", "train_auc", "test_loss", "test_acc", "test_auc", "lr",
                   "analysed", "time_s", "train_s", "eval_s", "analysis_s")

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
INFO_FILE = "info.csv"
CHECKPOINT = Path("checkpoints") / "last.pt"
COMPRESSORS = "compressors"
FORMAT = "ibscope-ib-run"
FORMAT_VERSION = 1

# purposes of derived seeds
_SEED_LOADER, _SEED_TORCH, _SEED_ANALYSIS, _SEED_PROBE = 1, 2, 3, 4


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (not empty, different configuration, not a run)."""


class Callback:
    """No-op hooks of :func:`run_ib`; subclass and override the ones you need.

    Hooks receive the :class:`_Trainer` (``trainer.model``, ``trainer.optimizer``,
    ``trainer.out``, ``trainer.config``). ``on_epoch_end`` runs after the
    epoch's rows are on disk and before its checkpoint is written.
    """

    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        pass

    def on_batch_end(self, trainer, epoch: int, batch: int, loss: float) -> None:
        pass

    def on_epoch_end(self, trainer, epoch: int, metrics: dict, rows: list) -> None:
        pass

    def on_train_end(self, trainer, result) -> None:
        pass


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


# ---------------------------------------------------------------------------------------------------------------
# CSV logs: append + fsync, truncate atomically
# ---------------------------------------------------------------------------------------------------------------
def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on every platform (e.g. Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    if isinstance(v, (np.floating,)):
        return repr(float(v))
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


class _CSVLog:
    def __init__(self, path: Path, columns):
        self.path = Path(path)
        self.columns = tuple(columns)

    def create(self) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(self.columns)
        _atomic_write_bytes(self.path, buf.getvalue().encode("utf-8"))

    def append(self, rows) -> None:
        if not rows:
            return
        with open(self.path, "a", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            for row in rows:
                writer.writerow([_cell(row.get(c)) for c in self.columns])
            fh.flush()
            os.fsync(fh.fileno())

    def read(self) -> list[dict]:
        """Complete rows (a half-written last line is skipped)."""
        if not self.path.is_file():
            return []
        text = self.path.read_text(encoding="utf-8")
        rows = []
        lines = text.splitlines(keepends=True)
        if not lines:
            return []
        header = next(csv.reader([lines[0]]))
        for line in lines[1:]:
            if not line.endswith("\n"):
                break  # torn final line
            try:
                values = next(csv.reader([line]))
            except (csv.Error, StopIteration):
                continue
            if len(values) != len(header):
                continue
            rows.append(dict(zip(header, values)))
        return rows

    def truncate(self, last_epoch: int) -> int:
        """Keep rows with ``epoch <= last_epoch`` (and complete lines only); returns rows dropped."""
        if not self.path.is_file():
            self.create()
            return 0
        raw = self.path.read_text(encoding="utf-8")
        rows = self.read()
        keep = [r for r in rows if _int(r.get("epoch")) is not None and _int(r["epoch"]) <= last_epoch]
        n_lines = max(len(raw.splitlines()) - 1, 0)
        if len(keep) == n_lines and raw.endswith("\n"):
            return 0
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        for r in keep:
            writer.writerow([r.get(c, "") for c in self.columns])
        _atomic_write_bytes(self.path, buf.getvalue().encode("utf-8"))
        return n_lines - len(keep)


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


# ---------------------------------------------------------------------------------------------------------------
# Environment record
# ---------------------------------------------------------------------------------------------------------------
def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("ibscope", "numpy", "scipy", "scikit-learn", "torch", "matplotlib", "pandas", "numba"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"The 'device' field is {device!r} but CUDA is not available here. Use device='cpu'.")
    return device


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
    return record


# ---------------------------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------------------------
class _Trainer:
    """State of one run (data, model, optimiser, recorder, files). Built by :func:`run_ib`."""

    def __init__(self, config: IBConfig, out: Path, device: str, callbacks):
        import torch

        from ..data import load_dataset, make_dataloader, normalize, probe_set
        from ..nets import build_model

        self.config = cfg = config
        self.out = out
        self.device = device
        self.callbacks = list(callbacks)
        kw = {"data_dir": cfg.data_dir} if cfg.dataset != "digits" else {}
        x_train, y_train = load_dataset(cfg.dataset, "train", **kw)
        x_test, y_test = load_dataset(cfg.dataset, "test", **kw)
        self.n_classes = int(max(y_train.max(), y_test.max()) + 1)
        self.train_loader = make_dataloader(
            x_train, y_train, batch_size=cfg.batch_size, shuffle=True,
            random_state=_derive(cfg.seed, _SEED_LOADER), normalize=cfg.dataset, device=device,
        )
        self.test_loader = make_dataloader(x_test, y_test, batch_size=cfg.eval_batch_size, shuffle=False,
                                           normalize=cfg.dataset, device=device)
        probe = probe_set(cfg.dataset, cfg.probe_split, n=cfg.probe_size, random_state=_derive(cfg.seed, _SEED_PROBE),
                          stratify=cfg.probe_size is not None, **kw)
        self.probe = probe
        probe_x = torch.as_tensor(normalize(probe.images, cfg.dataset)).to(device)
        x_fit = normalize(x_train, cfg.dataset)
        in_shape = tuple(x_train.shape[1:])
        params = dict(noise_sigma=cfg.noise, noise_kind=cfg.noise_kind, seed=cfg.seed, n_classes=self.n_classes,
                      active_in_eval=cfg.noise_in_eval)
        if cfg.dropout is not None:
            params["dropout"] = cfg.dropout
        if cfg.model == "paper-conv":
            params["in_shape"] = in_shape
        else:
            params.update(in_dim=in_shape, hidden=tuple(cfg.hidden))
        self.model = build_model(cfg.model, **params).to(device)
        ActivationRecorder(self.model, cfg.layers)  # unknown layer names fail now, not after an epoch
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.recorder = IBRecorder(
            probe_x, probe.labels, layers=cfg.layers, softmax=cfg.softmax, compress=cfg.compress, compress_x=cfg.compress_x, x_fit=x_fit,
            estimator=cfg.estimator, estimator_y=cfg.estimator_y, k=cfg.k, ci=cfg.ci if cfg.ci > 0 else None,
            n_subsamples=cfg.n_subsamples, units=cfg.units, refit=cfg.refit, batch_size=cfg.eval_batch_size,
            backend=cfg.backend, device=device if device.startswith("cuda") else None,
            random_state=_derive(cfg.seed, _SEED_ANALYSIS),
        )
        self.metrics_log = _CSVLog(out / METRICS_FILE, METRICS_COLUMNS)
        self.info_log = _CSVLog(out / INFO_FILE, INFO_COLUMNS)

    # --------------------------------------------------------------- checkpoints
    def _rng_devices(self):
        import torch

        if self.device.startswith("cuda"):
            return [torch.device(self.device).index or 0]
        return []

    def save_checkpoint(self, epoch: int) -> None:
        import torch

        from ..nets import get_noise_rng_state

        state = {
            "format": FORMAT,
            "epoch": int(epoch),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "noise_rng": get_noise_rng_state(self.model),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": [torch.cuda.get_rng_state(d) for d in self._rng_devices()],
            "loader_rng": self.train_loader.generator.get_state(),
            "device": self.device,
            "time": _now(),
        }
        path = self.out / CHECKPOINT
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    def load_checkpoint(self) -> int:
        """Restore the last checkpoint; returns its epoch (0 when there is none)."""
        import torch

        from ..nets import set_noise_rng_state

        path = self.out / CHECKPOINT
        if not path.is_file():
            return 0
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise RunFolderError(f"Cannot read the checkpoint {path} ({type(exc).__name__}: {exc}). "
                                 "Delete it to restart the run from epoch 1.") from None
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        set_noise_rng_state(self.model, state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        for dev, st in zip(self._rng_devices(), state.get("cuda_rng", [])):
            torch.cuda.set_rng_state(st, dev)
        self.train_loader.generator.set_state(state["loader_rng"])
        return int(state["epoch"])

    # --------------------------------------------------------------- epochs
    def _fire(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args)

    def train_epoch(self, epoch: int) -> tuple[float, float, float]:
        """One pass over the training split; returns (mean loss, accuracy, ROC-AUC) of the training outputs."""
        import torch
        import torch.nn.functional as F

        self.model.train()
        total, loss_sum, correct = 0, 0.0, 0
        outs, labels = [], []
        for b, (xb, yb) in enumerate(self.train_loader):
            self.optimizer.zero_grad(set_to_none=True)
            out = self.model(xb)
            loss = F.nll_loss(out, yb)
            loss.backward()
            self.optimizer.step()
            n = int(yb.shape[0])
            total += n
            loss_sum += float(loss.detach()) * n
            with torch.no_grad():
                correct += int((out.argmax(dim=1) == yb).sum())
                outs.append(out.detach().cpu())
                labels.append(yb.detach().cpu())
            self._fire("on_batch_end", epoch, b, float(loss.detach()))
        return loss_sum / total, correct / total, roc_auc_ovo(torch.cat(outs), torch.cat(labels))

    def evaluate(self) -> tuple[float, float, float]:
        """Loss, accuracy and ROC-AUC on the test split (evaluation mode: noise as configured, dropout off)."""
        import torch
        import torch.nn.functional as F

        was = self.model.training
        self.model.eval()
        total, loss_sum, correct = 0, 0.0, 0
        outs, labels = [], []
        with torch.no_grad():
            for xb, yb in self.test_loader:
                out = self.model(xb)
                loss_sum += float(F.nll_loss(out, yb, reduction="sum"))
                correct += int((out.argmax(dim=1) == yb).sum())
                total += int(yb.shape[0])
                outs.append(out.cpu())
                labels.append(yb.cpu())
        self.model.train(was)
        return loss_sum / total, correct / total, roc_auc_ovo(torch.cat(outs), torch.cat(labels))


def roc_auc_ovo(log_probs, labels) -> float:
    """One-vs-one macro ROC-AUC of class probabilities ``exp(log_probs)`` (NaN when undefined).

    Undefined when the labels hold fewer than two classes, or when some class of
    the model's output never occurs (scikit-learn requires every column's class
    to be present); a NaN then goes to ``metrics.csv`` rather than an error.
    """
    from sklearn.metrics import roc_auc_score

    p = np.exp(np.asarray(log_probs, dtype=np.float64))
    y = np.asarray(labels)
    present = np.unique(y)
    if len(present) < 2 or len(present) != p.shape[1] or not np.all(np.isfinite(p)):
        return float("nan")
    p = p / p.sum(axis=1, keepdims=True)  # float32 softmax rows sum to 1 only up to rounding
    return float(roc_auc_score(y, p, multi_class="ovo", labels=np.arange(p.shape[1])))


def _check_folder_for_fresh_run(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"The run folder {out} exists and is not a folder.")
    if out.is_dir():
        entries = sorted(p.name for p in out.iterdir())
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
    if diff:
        shown = "; ".join(f"{k}: {a!r} in the folder, {b!r} now" for k, (a, b) in list(diff.items())[:4])
        more = f" (and {len(diff) - 4} more)" if len(diff) > 4 else ""
        raise RunFolderError(
            f"Cannot resume {out}: it was created with a different configuration ({shown}{more}). "
            "Use the original settings to resume, or a new folder for the new ones."
        )
    if cfg.epochs < old.epochs:
        done = _last_checkpoint_epoch_hint(out)
        if done is not None and cfg.epochs < done:
            raise RunFolderError(
                f"Cannot resume {out} with epochs={cfg.epochs}: it has already completed {done} epochs."
            )
    return record


def _last_checkpoint_epoch_hint(out: Path):
    rows = _CSVLog(out / METRICS_FILE, METRICS_COLUMNS).read()
    epochs = [_int(r.get("epoch")) for r in rows]
    epochs = [e for e in epochs if e is not None]
    return max(epochs) if epochs else None


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
        Extra hooks, e.g. to log elsewhere or to stop a run.
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
    ValueError, TypeError
        Invalid configuration values, naming the field.

    Examples
    --------
    >>> res = run_ib(IBConfig(dataset="digits", epochs=5), out="runs/digits")   # doctest: +SKIP
    >>> print(res.summary())                                                    # doctest: +SKIP
    """
    import torch

    t0 = time.perf_counter()
    if config is None:
        config = IBConfig()
    elif isinstance(config, dict):
        config = IBConfig.from_dict(config)
    elif not isinstance(config, IBConfig):
        raise TypeError(f"The 'config' argument of run_ib must be an IBConfig, a dict or None. "
                        f"Got {type(config).__name__}.")
    if overrides:
        config = config.replace(**overrides)
    out = Path(out).expanduser()

    fresh = True
    record = None
    if resume and out.is_dir() and any(out.iterdir()):
        record = load_run_config(out)
        if config.epochs is None:  # no explicit epoch count: finish the folder's run
            config = config.replace(epochs=record["config"].get("epochs"))
        cfg = config.resolved()
        _check_resume(out, cfg, record)
        fresh = False
    else:
        cfg = config.resolved()
        _check_folder_for_fresh_run(out)
    device = _resolve_device(cfg.device)

    trainer = _Trainer(cfg, out, device, callbacks)  # loads data, builds the model, checks layer names
    out.mkdir(parents=True, exist_ok=True)
    versions = _versions()
    if fresh:
        record = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": cfg.to_dict(),
            "seed": cfg.seed,
            "derived_seeds": {
                "model_init_and_noise": cfg.seed,
                "loader": _derive(cfg.seed, _SEED_LOADER),
                "torch_global (dropout)": _derive(cfg.seed, _SEED_TORCH),
                "analysis": _derive(cfg.seed, _SEED_ANALYSIS),
                "probe_subset": _derive(cfg.seed, _SEED_PROBE),
            },
            "device": device,
            "versions": versions,
            "platform": platform.platform(),
            "command": " ".join(sys.argv),
            "created": _now(),
            "resumes": [],
            "probe": {"split": cfg.probe_split, "n": int(len(trainer.probe.labels))},
            "model_layers": list(getattr(trainer.model, "layer_names", ())),
            "schedule_epochs": epoch_schedule(cfg.schedule, cfg.epochs),
        }
        _atomic_write_bytes(out / CONFIG_FILE, json.dumps(record, indent=2).encode("utf-8"))
        trainer.metrics_log.create()
        trainer.info_log.create()
        (out / "figures").mkdir(exist_ok=True)
    else:
        record["config"]["epochs"] = cfg.epochs
        record["schedule_epochs"] = epoch_schedule(cfg.schedule, cfg.epochs)
        record.setdefault("resumes", []).append({"time": _now(), "device": device, "versions": versions,
                                                 "command": " ".join(sys.argv)})
        _atomic_write_bytes(out / CONFIG_FILE, json.dumps(record, indent=2).encode("utf-8"))

    devices = trainer._rng_devices()
    old_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        ran, start = _train_loop(trainer, cfg, out, fresh, devices, progress)
    finally:
        if cfg.threads:
            torch.set_num_threads(old_threads)
    return _finish(trainer, cfg, out, ran, start, t0, progress)


def _train_loop(trainer, cfg, out, fresh, devices, progress):
    import torch

    with torch.random.fork_rng(devices=devices):
        # the global torch generator drives dropout; seed it locally (the caller's state is restored on exit)
        torch.manual_seed(_derive(cfg.seed, _SEED_TORCH))
        start = 0
        if not fresh:
            start = trainer.load_checkpoint()
            trainer.metrics_log.truncate(start)
            trainer.info_log.truncate(start)
            if not trainer.recorder.load_state(out / COMPRESSORS, max_fit_epoch=start):
                pass  # compressors are (re)fitted on the next analysed epoch
        schedule = set(epoch_schedule(cfg.schedule, cfg.epochs))
        trainer._fire("on_train_begin")
        trainer.recorder.prepare()
        if fresh or not (out / COMPRESSORS / "state.json").is_file():
            trainer.recorder.save_state(out / COMPRESSORS)
        epochs = range(start + 1, cfg.epochs + 1)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.epochs, initial=start, desc="ib epochs", unit="epoch", dynamic_ncols=True,
                       mininterval=0.5)
        ran = []
        try:
            for epoch in epochs:
                te = time.perf_counter()
                trainer._fire("on_epoch_begin", epoch)
                train_loss, train_acc, train_auc = trainer.train_epoch(epoch)
                t_train = time.perf_counter() - te
                test_loss, test_acc, test_auc = trainer.evaluate()
                t_eval = time.perf_counter() - te - t_train
                rows = []
                if epoch in schedule:
                    fitted_before = trainer.recorder.fit_epoch_
                    rows = trainer.recorder.on_epoch_end(trainer.model, epoch)
                    if cfg.refit == "first" and fitted_before is None:
                        trainer.recorder.save_state(out / COMPRESSORS)
                t_all = time.perf_counter() - te
                metrics = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "train_auc": train_auc,
                           "test_loss": test_loss, "test_acc": test_acc, "test_auc": test_auc, "lr": cfg.lr,
                           "analysed": int(bool(rows)), "time_s": t_all, "train_s": t_train, "eval_s": t_eval,
                           "analysis_s": t_all - t_train - t_eval}
                trainer.info_log.append(rows)
                trainer.metrics_log.append([metrics])
                trainer._fire("on_epoch_end", epoch, metrics, rows)
                trainer.save_checkpoint(epoch)
                ran.append(epoch)
                if bar is not None:
                    if epoch % cfg.progress_every == 0 or epoch == cfg.epochs:
                        bar.set_postfix(loss=f"{train_loss:.3f}", test_acc=f"{test_acc:.3f}", refresh=False)
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    return ran, start


def _finish(trainer, cfg, out, ran, start, t0, progress):
    figures = []
    if cfg.plots:
        try:
            from ..plots import plot_ib_run

            figures = plot_ib_run(out)
        except Exception as exc:  # the results are on disk; a plotting problem must not hide them
            warnings.warn(f"Drawing the figures of {out} failed ({type(exc).__name__}: {exc}); the results are "
                          "intact. Run 'ibscope plot' to retry.", RuntimeWarning, stacklevel=2)
    metrics_rows = trainer.metrics_log.read()
    info_rows = trainer.info_log.read()
    counts: dict[str, int] = {}
    n_flagged = 0
    for r in info_rows:
        flags = [f for f in (r.get("flags") or "").split(";") if f]
        n_flagged += bool(flags)
        for f in flags:
            counts[f] = counts.get(f, 0) + 1
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
        "finished": _now(),
        "time_s_last_call": result.time_s,
    }
    _atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode("utf-8"))
    trainer._fire("on_train_end", result)
    if progress:
        print(result.summary(), file=sys.stderr)
    return result
