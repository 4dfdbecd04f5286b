"""Information-plane analysis inside a Lightning ``Trainer``: the :class:`InformationPlane` callback.

:class:`InformationPlane` wraps an :class:`ibscope.ib.IBRecorder` (the analysis is the
recorder's, unchanged) and runs it on the ``LightningModule`` being fitted:

* **When.** At the end of every scheduled *training* epoch (Lightning's
  ``on_train_epoch_end`` hook), numbered from 1 as in ``ibscope ib`` (Lightning's
  ``trainer.current_epoch + 1``). That hook fires exactly once per epoch, with or
  without a validation loop (which, with the default ``val_check_interval``, has
  already run), and never during the sanity check, unlike ``on_validation_end``.
  ``schedule="every"``, ``"log"`` (:func:`ibscope.ib.epoch_schedule` over the
  trainer's ``max_epochs``, plus the epoch on which training stops early) or an
  explicit collection of epochs.
* **What.** The probe pass runs the network's ``forward`` on the fixed probe set in
  evaluation mode without gradients, then restores the training mode; layer outputs
  are captured with forward hooks on named modules. With ``module=None`` (the
  default) the names are those of ``pl_module.named_modules()``, e.g. ``"model.L1"``
  for a LightningModule that keeps its network in ``self.model``; with
  ``module="model"`` the analysis runs on ``pl_module.model`` itself, so its names
  (``"L1"``) and its ``layer_names`` default apply. Unknown names stop the fit in
  ``on_fit_start``, before the first batch, with the list of valid names.
* **Where to.** With ``out``, a run folder in the format of ``ibscope ib``:
  ``config.json`` (every setting, the probe set's digest, package versions),
  ``info.csv`` (:data:`ibscope.ib.INFO_COLUMNS`, one row per analysed epoch and layer,
  appended and fsynced each epoch), ``metrics.csv`` (:data:`ibscope.ib.METRICS_COLUMNS`
  that the module logs under those names, e.g. ``train_loss``, plus ``analysed`` and
  the timings), ``compressors/`` and ``summary.json``; the folder is locked
  (:class:`ibscope.runs.FolderLock`) while the fit runs, so ``ibscope plot`` and
  :mod:`ibscope.plots.ib` read it like an ``ibscope ib`` folder. To every logger of the
  trainer (``trainer.loggers``): ``ib/<layer>/i_xl``, ``ib/<layer>/i_xl_low``,
  ``ib/<layer>/i_xl_high`` and the same for ``i_ly`` (``log_metrics`` at the trainer's
  ``global_step``, with Lightning's 0-based ``epoch`` beside them). To a
  ``TensorBoardLogger``: also the information planes so far, as the image
  ``ib/information_plane``. Lightning calls ``ModelCheckpoint`` after this hook, so an
  epoch's rows are on disk before its checkpoint.

Distributed runs analyse on the global rank 0 only (the other ranks wait for it at the
next collective operation). Resuming with ``trainer.fit(..., ckpt_path=...)`` into the
same ``out`` continues the folder: rows of epochs after the checkpoint are dropped, the
fitted compressors are reloaded, the settings must be the same. Fitting again into a
used ``out`` without a checkpoint is refused.

Needs Lightning 2.1 or newer: ``pip install 'ibscope[lightning]'``.

Example
-------
>>> import lightning as L
>>> from ibscope.integrations.lightning import InformationPlane
>>> cb = InformationPlane(probe.images, probe.labels, module="model", ci=0.9, out="runs/lit")   # doctest: +SKIP
>>> L.Trainer(max_epochs=5, callbacks=[cb]).fit(lit_module, train_loader)                    # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

try:
    import lightning.pytorch as pl
except ImportError as _exc:  # pragma: no cover - exercised by a test that hides lightning
    raise ImportError(f"ibscope.integrations.lightning needs Lightning: pip install 'ibscope[lightning]' "
                      f"(importing 'lightning.pytorch' failed: {_exc}).") from None

from ..ib.callbacks import METRICS_COLUMNS, RunFolderError, csv_cell
from ..ib.capture import ActivationRecorder, valid_layer_names
from ..ib.flags import count_flags
from ..ib.recorder import INFO_COLUMNS, IBRecorder
from ..ib.schedule import epoch_schedule, log_schedule
from ..runs import FolderLock, RunFolder, config_diff, package_versions, utc_now
from ._common import FIGURE_TAG, check_log_dir, ib_scalars, information_plane_image

__all__ = ["InformationPlane", "FORMAT"]

#: ``format`` of the ``config.json`` this callback writes.
FORMAT = "ibscope-lightning-ib-run"
FORMAT_VERSION = 1
_OWNER = "InformationPlane"
_SCHEDULES = ("every", "log")


def _spec(spec: Any) -> Any:
    return "none" if spec is None else spec if isinstance(spec, str) else repr(spec)


def _short(names: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _array(x: Any) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)


class InformationPlane(pl.Callback):
    """A Lightning callback that records every chosen layer's I(X;L) and I(L;Y) while a module trains.

    Parameters
    ----------
    probe_x : numpy.ndarray or torch.Tensor of shape (n, ...)
        Probe inputs, normalised as the module's ``forward`` expects, in a fixed order.
    probe_y : array-like of shape (n,)
        Integer class labels of the probe set.
    layers : sequence of str or None, default=None
        Names of the modules to analyse, relative to the analysed module (see
        ``module``); None takes its ``layer_names``.
    module : str or None, default=None
        Dotted attribute path of the network inside the LightningModule (``"model"``,
        ``"net.backbone"``) whose ``forward`` the probe pass runs and relative to which
        ``layers`` are named; None: the LightningModule itself (names like ``"model.L1"``).
    softmax : bool, default=False
        As in :class:`~ibscope.ib.IBRecorder`.
    compress, compress_x, x_fit, estimator, estimator_y, k, ci, n_subsamples, units, refit, label_side, batch_size, \
backend, random_state
        As in :class:`~ibscope.ib.IBRecorder` (``compress="pca:4"``, ``estimator="kl"``,
        ``k=5``, ``ci=0.95``, ``n_subsamples=10``, ``units="nats"``, ``refit="first"``,
        ``label_side="decoder"``, ``random_state=0`` by default).
    device : str or None, default=None
        Device of the estimators' neighbour search: None is the CPU, ``"auto"`` the
        LightningModule's device when it is a GPU, else a torch device string.
    schedule : {"every", "log"} or collection of int, default="every"
        Epochs (1-based) to analyse: every epoch, log-spaced ones
        (:func:`ibscope.ib.epoch_schedule` over ``max_epochs``, plus the epoch on which
        training stops), or the epochs given.
    out : str, path-like or None, default=None
        Run folder for ``config.json``, ``info.csv``, ``metrics.csv``, ``compressors/``
        and ``summary.json`` (missing or empty for a fresh fit); None writes no files.
    prefix : str, default="ib"
        First part of the logged names (``ib/L1/i_xl``).
    figure_every : int, default=1
        Put the information-plane image into each ``TensorBoardLogger`` every this many
        analysed epochs (0: never).

    Attributes
    ----------
    recorder_ : IBRecorder
        The recorder of the current (or last) fit; its ``history`` holds every row.
    layers_ : tuple of str
        The analysed layer names, set at fit start.
    rows_ : list of dict
        Rows of the current fit (as written to ``info.csv``).

    Raises
    ------
    ValueError, TypeError
        Bad settings or probe set (here); unknown layer names or a probe set the module
        cannot take (at fit start, before the first batch).
    OSError
        ``out`` cannot be created or written (here), or is locked by another writer.

    Examples
    --------
    >>> cb = InformationPlane(probe_x, probe_y, module="model", schedule="log", out="runs/lit")   # doctest: +SKIP
    >>> trainer = L.Trainer(max_epochs=30, callbacks=[cb], logger=L.pytorch.loggers.TensorBoardLogger("tb"))
    ... # doctest: +SKIP
    """

    def __init__(self, probe_x: Any, probe_y: Any, *, layers: Sequence[str] | None = None, module: str | None = None,
                 softmax: bool = False, compress: Any = "pca:4", compress_x: Any = "pca:4", x_fit: Any = None,
                 estimator: Any = "kl", estimator_y: Any = None, k: int = 5, ci: float | None = 0.95,
                 n_subsamples: int = 10, units: str = "nats", refit: str = "first", label_side: str = "decoder",
                 batch_size: int = 2048, backend: str | None = "auto", device: str | None = None,
                 random_state: int = 0, schedule: str | Iterable[int] = "every", out: Any = None,
                 prefix: str = "ib", figure_every: int = 1) -> None:
        from .._validation import check_int

        if isinstance(layers, str):
            layers = [layers]
        if layers is not None:
            layers = list(layers)
            bad = [n for n in layers if not isinstance(n, str) or not n]
            if bad or not layers:
                raise ValueError(f"The 'layers' parameter of {_OWNER} must be a non-empty list of module names or "
                                 f"None. Got {layers!r} instead.")
        self.layers = layers
        if module is not None and (not isinstance(module, str) or not module.strip(".")):
            raise TypeError(f"The 'module' parameter of {_OWNER} must be a dotted attribute name such as 'model', "
                            f"or None. Got {module!r} instead.")
        self.module = module
        self.schedule, self._epochs = self._check_schedule(schedule)
        self.out = None if out is None else check_log_dir(out, owner=_OWNER, param="out")
        if not isinstance(prefix, str) or not prefix or prefix.strip("/") != prefix:
            raise ValueError(f"The 'prefix' parameter of {_OWNER} must be a non-empty str without leading or "
                             f"trailing '/'. Got {prefix!r} instead.")
        self.prefix = prefix
        self.figure_every = check_int(figure_every, "figure_every", _OWNER, low=0)
        self.device = device
        self._kwargs: dict[str, Any] = dict(
            layers=layers, softmax=softmax, compress=compress, compress_x=compress_x, x_fit=x_fit,
            estimator=estimator, estimator_y=estimator_y, k=k, ci=ci, n_subsamples=n_subsamples, units=units,
            refit=refit, batch_size=batch_size, backend=backend, random_state=random_state, label_side=label_side,
        )
        # builds and checks everything that does not need the module: probe set, estimators, a dry run
        self.recorder_ = IBRecorder(probe_x, probe_y, device=None if device == "auto" else device, **self._kwargs)
        self._fresh_recorder = True
        self.layers_: tuple[str, ...] = ()
        self.rows_: list[dict[str, Any]] = []
        self._lock: FolderLock | None = None
        self._folder: RunFolder | None = None
        self._target: Any = None
        self._record: dict[str, Any] | None = None
        self._resume_ok = False
        self._analysed = 0
        self._epoch_t0 = 0.0
        self._fit_t0 = 0.0
        self._saved_fit_epoch: int | None = None

    # ----------------------------------------------------------------- settings
    @staticmethod
    def _check_schedule(schedule: Any) -> tuple[str | list[int], frozenset[int] | None]:
        if isinstance(schedule, str):
            if schedule not in _SCHEDULES:
                raise ValueError(f"The 'schedule' parameter of {_OWNER} must be 'every', 'log' or a collection of "
                                 f"epochs (ints >= 1). Got {schedule!r} instead.")
            return schedule, None
        try:
            epochs = sorted({int(e) for e in schedule if not isinstance(e, bool) and int(e) == e})
            ok = len(epochs) == len(set(schedule)) and epochs and epochs[0] >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"The 'schedule' parameter of {_OWNER} must be 'every', 'log' or a collection of "
                             f"epochs (ints >= 1). Got {schedule!r} instead.")
        return epochs, frozenset(epochs)

    def _config(self) -> dict[str, Any]:
        """The settings that give the numbers their meaning (compared when a fit resumes into ``out``)."""
        kw, rec = self._kwargs, self.recorder_
        x = _array(rec.probe_x).astype(np.float32)
        digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
        digest.update(np.ascontiguousarray(rec.probe_labels_).astype(np.int64).tobytes())
        x_fit = kw["x_fit"]
        return {
            "layers": list(self.layers_), "module": self.module, "softmax": bool(kw["softmax"]),
            "compress": _spec(kw["compress"]), "compress_x": _spec(kw["compress_x"]),
            "x_fit": None if x_fit is None else list(np.shape(x_fit)),
            "estimator": _spec(kw["estimator"]), "estimator_y": _spec(rec.estimator_y), "k": rec.k, "ci": kw["ci"],
            "n_subsamples": rec.n_subsamples, "units": rec.units, "refit": rec.refit, "label_side": rec.label_side,
            "schedule": self.schedule, "random_state": rec.random_state, "batch_size": rec.batch_size,
            "probe": {"n": int(len(rec.probe_y)), "shape": list(x.shape[1:]), "sha256": digest.hexdigest()},
        }

    # ----------------------------------------------------------------- module and layers
    def _resolve_target(self, pl_module: Any) -> Any:
        import torch

        if self.module is None:
            return pl_module
        obj: Any = pl_module
        for part in self.module.split("."):
            obj = getattr(obj, part, None)
        if not isinstance(obj, torch.nn.Module):
            children = [n for n, _ in pl_module.named_children()]
            raise ValueError(f"The 'module' parameter of {_OWNER} is {self.module!r}, but "
                             f"{type(pl_module).__name__}.{self.module} is {type(obj).__name__}, not a "
                             f"torch.nn.Module. Child modules of {type(pl_module).__name__}: {_short(children)}.")
        return obj

    def _hint(self, target: Any, missing: Sequence[str]) -> str:
        """Where the names would be valid: a child module that names its layers or holds the missing ones."""
        if self.module is not None:
            return ""
        for name, sub in target.named_modules():
            if not name:
                continue
            own = list(getattr(sub, "layer_names", ()) or ())
            inside = {n for n, _ in sub.named_modules() if n}
            if (missing and all(m in inside for m in missing)) or (not missing and own):
                shown = f", which names its layers {own}" if own else ""
                return (f" Or pass module={name!r} to name layers relative to "
                        f"{type(target).__name__}.{name}{shown}.")
        return ""

    def _check_layers(self, target: Any) -> tuple[str, ...]:
        valid = valid_layer_names(target)
        where = type(target).__name__ + (f" ({self.module!r} of the LightningModule)" if self.module else "")
        if self.layers is None:
            if not getattr(target, "layer_names", None):
                raise ValueError(f"{_OWNER} needs 'layers' for {where}, which has no 'layer_names' attribute. "
                                 f"Valid names: {_short(valid)}.{self._hint(target, [])}")
        else:
            missing = [n for n in self.layers if n not in set(valid)]
            if missing:
                raise ValueError(f"Unknown layer name(s) {missing} for {_OWNER} on {where}. Valid names: "
                                 f"{_short(valid)}.{self._hint(target, missing)}")
        return tuple(ActivationRecorder(target, self.layers).layers)

    def _dry_pass(self, target: Any) -> None:
        """Two probe rows through the module with every hook, the random streams restored afterwards."""
        import torch

        from ..nets import get_noise_rng_state, set_noise_rng_state

        rec = self.recorder_
        n = min(2, len(rec.probe_y))
        noise = get_noise_rng_state(target)
        with torch.random.fork_rng(devices=[]):
            try:
                ActivationRecorder(target, self.layers, capture_output=True).capture(
                    rec.probe_x[:n], rec.probe_y[:n], batch_size=n)
            except (RuntimeError, ValueError, TypeError) as exc:
                shape = tuple(np.shape(rec.probe_x)[1:])
                message = str(exc).replace("\n", " ")
                raise ValueError(f"The probe inputs of {_OWNER} (per-row shape {shape}) cannot be analysed on "
                                 f"{type(target).__name__}: the probe pass fails with: {message}. Pass probe_x "
                                 "shaped and normalised as the module's training inputs.") from None
            finally:
                set_noise_rng_state(target, noise)

    # ----------------------------------------------------------------- the run folder
    def _open_folder(self, trainer: Any) -> None:
        """Lock ``out`` and check what it holds (fresh, or ours with a checkpoint to resume from)."""
        if self.out is None:
            return
        folder = RunFolder(self.out, what="Lightning IB run")
        if self.out.exists() and not self.out.is_dir():
            raise RunFolderError(f"The 'out' folder {str(self.out)!r} of {_OWNER} is a file, not a folder.")
        self._lock = FolderLock(self.out, what="Lightning IB run",
                                hint="Wait for that fit to finish (or stop it), or pass another 'out'.")
        from ..runs import make_folder

        make_folder(self.out)
        self._lock.acquire()
        self._folder = folder
        entries = folder.entries()
        self._record = None
        if not entries:
            return
        try:
            record = folder.read_json("config.json")
        except (OSError, ValueError):
            record = None
        ours = isinstance(record, dict) and record.get("format") == FORMAT
        if not ours:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise RunFolderError(f"The 'out' folder {str(self.out)!r} of {_OWNER} is not empty and not a run folder "
                                 f"of this callback (it holds {shown}). Pass a new or empty folder.")
        if getattr(trainer, "ckpt_path", None) is None:
            raise RunFolderError(f"The 'out' folder {str(self.out)!r} of {_OWNER} already holds a run. Pass "
                                 "ckpt_path= to trainer.fit to resume it, or a new or empty folder.")
        assert isinstance(record, dict)
        diff = config_diff(record.get("config"), self._config())
        if diff:
            raise RunFolderError(f"Cannot resume into {str(self.out)!r}: it was written with other {_OWNER} "
                                 f"settings ({', '.join(diff[:5])} differ). Use the original settings, or a new "
                                 "folder.")
        self._record = record

    def _start_folder(self, trainer: Any, pl_module: Any) -> None:
        """Write ``config.json`` and the CSV headers (fresh), or trim and reload (resumed); save compressors."""
        folder, rec = self._folder, self.recorder_
        if folder is None:
            return
        info, metrics = self._logs()
        start = int(trainer.current_epoch)
        if self._record is None:
            self._record = {
                "format": FORMAT, "format_version": FORMAT_VERSION, "config": self._config(),
                "model": type(self._target).__name__, "lightning_module": type(pl_module).__name__,
                "device": str(pl_module.device), "estimator_device": rec.device, "backend": rec.backend,
                "versions": {**package_versions(), "lightning": pl.__version__}, "platform": platform.platform(),
                "command": " ".join(sys.argv), "created": utc_now(), "start_epoch": start, "resumes": [],
            }
            folder.write_json("config.json", self._record)
            info.create()
            metrics.create()
            rec.prepare()
        else:
            info.keep(lambda r: (_int(r.get("epoch")) or 0) <= start)
            metrics.keep(lambda r: (_int(r.get("epoch")) or 0) <= start)
            rec.load_state(self.out / "compressors", max_fit_epoch=start)  # type: ignore[operator]
            rec.prepare()
            self._record.setdefault("resumes", []).append(
                {"time": utc_now(), "epoch": start, "device": str(pl_module.device), "command": " ".join(sys.argv),
                 "versions": {**package_versions(), "lightning": pl.__version__}})
            folder.write_json("config.json", self._record)
        self._save_compressors()

    def _logs(self) -> tuple[Any, Any]:
        assert self._folder is not None
        return (self._folder.log("info.csv", INFO_COLUMNS, cell=csv_cell),
                self._folder.log("metrics.csv", METRICS_COLUMNS, cell=csv_cell))

    def _save_compressors(self) -> None:
        if self.out is not None:
            self.recorder_.save_state(self.out / "compressors")
            self._saved_fit_epoch = self.recorder_.fit_epoch_

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ----------------------------------------------------------------- Lightning hooks
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Check the layers and the probe pass on the module, resolve the device, lock ``out``."""
        self._target = self._resolve_target(pl_module)
        self.layers_ = self._check_layers(self._target)
        device = self.device
        if device == "auto":
            device = str(pl_module.device) if pl_module.device.type == "cuda" else None
        if not self._fresh_recorder or device != self.recorder_.device:
            self.recorder_ = IBRecorder(self.recorder_.probe_x, self.recorder_.probe_labels_, device=device,
                                        **self._kwargs)
        self._fresh_recorder = False
        self._dry_pass(self._target)
        self.rows_ = []
        self._analysed = 0
        self._fit_t0 = time.perf_counter()
        if trainer.is_global_zero:
            self._open_folder(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Set up the run folder (the checkpoint, if any, is loaded by now) and fit the X compressor."""
        if not trainer.is_global_zero:
            return
        if self.out is not None:
            self._start_folder(trainer, pl_module)
        else:
            self.recorder_.prepare()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Note the epoch's start time (for ``metrics.csv``)."""
        self._epoch_t0 = time.perf_counter()

    def scheduled(self, epoch: int, trainer: Any = None) -> bool:
        """Whether epoch ``epoch`` (1-based) is analysed under ``schedule`` in ``trainer``'s run."""
        if self._epochs is not None:
            return epoch in self._epochs
        if self.schedule == "every":
            return True
        max_epochs = getattr(trainer, "max_epochs", None)
        if max_epochs is not None and max_epochs > 0:
            if epoch in epoch_schedule("log", int(max_epochs)):
                return True
        elif epoch in log_schedule(epoch):
            return True
        return bool(getattr(trainer, "should_stop", False))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Analyse the module if the epoch is scheduled; write and log the rows."""
        if not trainer.is_global_zero:
            return
        epoch = int(trainer.current_epoch) + 1
        t0 = time.perf_counter()
        rows: list[dict[str, Any]] = []
        if self.scheduled(epoch, trainer):
            rows = self.recorder_.analyse(self._target, epoch)
        analysis_s = time.perf_counter() - t0
        self.rows_.extend(rows)
        if self._folder is not None:
            self._write(trainer, epoch, rows, analysis_s)
        if rows:
            self._analysed += 1
            self._log(trainer, rows)

    def _write(self, trainer: Any, epoch: int, rows: list[dict[str, Any]], analysis_s: float) -> None:
        rec = self.recorder_
        if rec.refit == "first" and rec.fit_epoch_ is not None and rec.fit_epoch_ != self._saved_fit_epoch:
            self._save_compressors()  # before the rows that used them
        info, metrics = self._logs()
        info.append(rows)
        row: dict[str, Any] = {"epoch": epoch, "analysed": int(bool(rows)), "analysis_s": analysis_s,
                               "time_s": time.perf_counter() - self._epoch_t0}
        for name, value in trainer.callback_metrics.items():
            if name in METRICS_COLUMNS and name not in row:
                try:
                    row[name] = float(value)
                except (TypeError, ValueError, RuntimeError):  # not a single number: leave the cell empty
                    pass
        optimizers = getattr(trainer, "optimizers", None) or []
        if optimizers and "lr" not in row:
            row["lr"] = float(optimizers[0].param_groups[0]["lr"])
        metrics.append([row])

    def _log(self, trainer: Any, rows: list[dict[str, Any]]) -> None:
        values = ib_scalars(rows, prefix=self.prefix)
        step = int(trainer.global_step)
        for logger in trainer.loggers:
            logger.log_metrics({**values, "epoch": int(trainer.current_epoch)}, step=step)
        if not self.figure_every or self._analysed % self.figure_every:
            return
        from lightning.pytorch.loggers import TensorBoardLogger

        boards = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if boards:
            # the whole run's rows: with a resumed run folder, those written before the checkpoint too
            history = self._logs()[0].read() if self._folder is not None else self.recorder_.history
            image = information_plane_image(history)
            for lg in boards:
                lg.experiment.add_image(f"{self.prefix}/{FIGURE_TAG}", image, global_step=step, dataformats="HWC")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write ``summary.json`` (with ``out``)."""
        if self._folder is None or self._lock is None:
            return
        info, _ = self._logs()
        rows = info.read()
        n_flagged, counts = count_flags(rows)
        epochs = sorted({e for e in (_int(r.get("epoch")) for r in rows) if e is not None})
        self._folder.write_json("summary.json", {
            "completed_epochs": int(trainer.current_epoch), "analysed_epochs": epochs, "n_info_rows": len(rows),
            "n_flagged": n_flagged, "flag_counts": counts, "layers": list(self.layers_), "finished": utc_now(),
            "time_s_last_fit": time.perf_counter() - self._fit_t0,
        })

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Release the run folder's lock."""
        self._release()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Release the run folder's lock (everything written so far stays)."""
        self._release()


def _int(v: Any) -> int | None:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None
