"""Information-plane analysis inside a Lightning ``Trainer``: the :class:`InformationPlane` callback.

:class:`InformationPlane` is an adapter: the analysis is an :class:`ibscope.ib.IBRecorder`'s,
the run folder is the one every IB run writes (:mod:`ibscope.runs.ibrun`, opened with the
lifecycle of :mod:`ibscope.runs.lifecycle`), so :func:`ibscope.ib.load_run`, ``ibscope plot``
and the figures read it like an ``ibscope ib`` folder.

* **When.** At the end of every scheduled *training* epoch (Lightning's
  ``on_train_epoch_end``, which fires once per epoch and never in the sanity check),
  numbered from 1 as in ``ibscope ib``. ``schedule="every"``, ``"log"``
  (:func:`ibscope.ib.epoch_schedule` over ``max_epochs``, plus the epoch on which training
  stops early) or a collection of epochs.
* **What.** The probe pass runs the network's ``forward`` on the fixed probe set in
  evaluation mode without gradients. With ``module=None`` the layer names are those of
  ``pl_module.named_modules()`` (``"model.L1"``); with ``module="model"`` the analysis runs
  on ``pl_module.model`` (names ``"L1"``, its ``layer_names`` by default). Unknown names
  stop the fit in ``on_fit_start``, before the first batch, with the valid names.
* **Where to.** With ``out``: ``config.json`` (``writer: "lightning"``, the analysis settings
  and the probe set's digest under ``analysis``), ``info.csv``, ``metrics.csv`` (the
  :data:`ibscope.ib.METRICS_COLUMNS` the module logs, plus ``analysed`` and the timings)
  and ``summary.json``; the folder is locked while the fit runs. To every logger of the
  trainer: ``ib/<layer>/i_xl``, ``_low``, ``_high`` and the same for ``i_ly``, at
  ``step = epoch`` (1-based), as the TensorBoard callback of ``ibscope ib`` logs them; to a
  ``TensorBoardLogger`` also the image ``ib/information_plane``.
* **State.** The fitted compressors are the callback's state (``state_dict``), so they go
  into Lightning's checkpoints; ``trainer.fit(..., ckpt_path=...)`` into the same ``out``
  restores them, drops the rows of epochs after the checkpoint and continues the folder
  (the settings must be the same). Fitting again into a used ``out`` without a checkpoint
  is refused.

* **Synchronously.** The analysis runs in ``on_train_epoch_end``, on the training thread, and
  Lightning waits for it: the background worker of ``ibscope ib`` (``background_analysis``,
  :mod:`ibscope.ib.worker`) is not used here, so ``analysis_wait_s`` equals ``analysis_s``.

Distributed runs analyse on the global rank 0 only. Needs Lightning 2.1 or newer:
``pip install 'ibscope[lightning]'``.

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

from .._validation import to_numpy
from ..ib.recorder import IBRecorder
from ..ib.schedule import epoch_schedule, log_schedule
from ..plane.capture import ActivationRecorder, valid_layer_names
from ..runs import FolderLock, package_versions, utc_now
from ..runs.errors import ConfigMismatchError, FolderNotEmptyError
from ..runs.ibrun import FORMAT, FORMAT_VERSION, RunArtefact
from ..runs.lifecycle import IB_RUN, plan_folder
from ..runs.schema import METRICS, epoch_of
from ._common import FIGURE_TAG, check_log_dir, ib_scalars, information_plane_image

__all__ = ["InformationPlane", "FORMAT"]

_OWNER = "InformationPlane"
_SCHEDULES = ("every", "log")


def _spec(spec: Any) -> Any:
    return "none" if spec is None else spec if isinstance(spec, str) else repr(spec)


def _short(names: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


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
knn_backend, random_state
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
        Run folder for ``config.json``, ``info.csv``, ``metrics.csv`` and ``summary.json``, the
        layout every IB run folder has (:mod:`ibscope.runs.ibrun`; missing or empty for a
        fresh fit); None writes no files.
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
                 batch_size: int = 2048, knn_backend: str | None = "auto", device: str | None = None,
                 random_state: int = 0, schedule: str | Iterable[int] = "every", out: Any = None,
                 prefix: str = "ib", figure_every: int = 1, backend: str | None = None) -> None:
        from .._validation import check_int

        if backend is not None:
            import warnings

            warnings.warn(f"The 'backend' parameter of {_OWNER} is deprecated and will be removed in a later release; "
                          "use 'knn_backend'.", DeprecationWarning, stacklevel=2)
            knn_backend = backend
        if isinstance(layers, str):
            layers = [layers]
        if layers is not None:
            layers = list(layers)
            if not layers or any(not isinstance(n, str) or not n for n in layers):
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
            refit=refit, batch_size=batch_size, knn_backend=knn_backend, random_state=random_state,
            label_side=label_side,
        )
        self.recorder_ = IBRecorder(probe_x, probe_y, device=None if device == "auto" else device, **self._kwargs)
        self.layers_: tuple[str, ...] = ()
        self.rows_: list[dict[str, Any]] = []
        self._lock: FolderLock | None = None
        self._artefact: RunArtefact | None = None
        self._record: dict[str, Any] | None = None
        self._target: Any = None
        self._pending_state: dict[str, Any] | None = None
        self._pending_epoch: int | None = None
        self._last_epoch = 0
        self._analysed = 0
        self._epoch_t0 = self._fit_t0 = 0.0

    # ----------------------------------------------------------------- settings and state
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

    def _settings(self) -> dict[str, Any]:
        """The settings that give the numbers their meaning (compared when a fit resumes into ``out``)."""
        kw, rec = self._kwargs, self.recorder_
        x = to_numpy(rec.probe_x, "probe_x").astype(np.float32)
        digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
        digest.update(np.ascontiguousarray(rec.probe_labels_).astype(np.int64).tobytes())
        return {
            "layers": list(self.layers_), "module": self.module, "softmax": bool(kw["softmax"]),
            "compress": _spec(kw["compress"]), "compress_x": _spec(kw["compress_x"]),
            "x_fit": None if kw["x_fit"] is None else list(np.shape(kw["x_fit"])),
            "estimator": _spec(kw["estimator"]), "estimator_y": _spec(rec.estimator_y), "k": rec.k, "ci": kw["ci"],
            "n_subsamples": rec.n_subsamples, "units": rec.units, "refit": rec.refit, "label_side": rec.label_side,
            "schedule": self.schedule, "random_state": rec.random_state, "batch_size": rec.batch_size,
            "probe": {"n": int(len(rec.probe_y)), "shape": list(x.shape[1:]), "sha256": digest.hexdigest()},
        }

    def state_dict(self) -> dict[str, Any]:
        """The recorder's state (its fitted compressors) and the last epoch written, which Lightning puts into
        its checkpoints (checkpoint callbacks run after this one, so the epoch's rows are on disk)."""
        return {"recorder": self.recorder_.state_dict(), "epoch": self._last_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Keep the state from a checkpoint; it is applied when the fit starts."""
        self._pending_state = dict(state_dict.get("recorder") or {}) or None
        self._pending_epoch = state_dict.get("epoch")

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
    def _open_folder(self, trainer: Any, pl_module: Any) -> None:
        """Lock ``out`` and set it up: fresh (record, headers), or continued from the checkpoint's epoch (rows
        after it dropped, rows of that epoch lost since redone on the restored weights)."""
        if self.out is None:
            return
        start = None if self._pending_epoch is None else int(self._pending_epoch)
        try:
            opening = plan_folder(self.out, IB_RUN, resume=start is not None, abandoned=_nothing_logged,
                                  resume_hint="Pass ckpt_path= to trainer.fit to resume it")
        except FolderNotEmptyError as exc:
            raise FolderNotEmptyError(f"The 'out' folder {str(self.out)!r} of {_OWNER} already holds a run. Pass "
                                      "ckpt_path= to trainer.fit to resume it, or a new or empty folder."
                                      if (self.out / "config.json").is_file() else str(exc)) from None
        if opening.record is not None:
            stored = opening.record.get("analysis") if opening.record.get("writer") == "lightning" \
                else opening.record.get("config")
            diff = config_diff_keys(stored, self._settings())
            if diff:
                raise ConfigMismatchError(f"Cannot resume into {str(self.out)!r}: it was written with other {_OWNER} "
                                          f"settings ({', '.join(diff[:5])} differ). Use the original settings, or a "
                                          "new folder.", diff)
        from ..runs import make_folder
        from ..runs.lifecycle import clear_folder

        make_folder(self.out)
        self._lock = FolderLock(self.out, what="Lightning IB run",
                                hint="Wait for that fit to finish (or stop it), or pass another 'out'.").acquire()
        if opening.clear:
            clear_folder(opening.folder, IB_RUN)
        art = self._artefact = RunArtefact(self.out)
        versions = {**package_versions(), "lightning": pl.__version__}
        self._record = opening.record
        if self._record is None:
            self._record = {
                "format": FORMAT, "format_version": FORMAT_VERSION, "writer": "lightning", "config": None,
                "analysis": self._settings(), "model": type(self._target).__name__,
                "lightning_module": type(pl_module).__name__, "device": str(pl_module.device),
                "estimator_device": self.recorder_.device, "knn_backend": self.recorder_.knn_backend,
                "versions": versions, "platform": platform.platform(), "command": " ".join(sys.argv),
                "created": utc_now(), "start_epoch": 0, "resumes": [],
            }
            art.write_record(self._record)
            art.create_logs()
            return
        assert start is not None
        art.trim(start)
        self._record.setdefault("resumes", []).append({"time": utc_now(), "epoch": start, "versions": versions,
                                                       "device": str(pl_module.device), "command": " ".join(sys.argv)})
        art.write_record(self._record)
        lost = start >= 1 and self.scheduled(start, trainer) and \
            sum(epoch_of(r) == start for r in art.info_rows()) < self.recorder_.expected_rows(self._target)
        if lost:  # the rows of the checkpoint's epoch were lost after the checkpoint: redo them on its weights
            art.info_log.keep(lambda r: (epoch_of(r) or 0) < start)
            art.info_log.append(self.recorder_.reanalyse(self._target, start))

    # ----------------------------------------------------------------- Lightning hooks
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Check the layers and the probe pass on the module, resolve the device, restore the recorder's state
        from the checkpoint, lock and set up ``out``, fit the X compressor."""
        self._target = self._resolve_target(pl_module)
        self.layers_ = self._check_layers(self._target)
        device = self.device
        if device == "auto":
            device = str(pl_module.device) if pl_module.device.type == "cuda" else None
        if device != self.recorder_.device or self.recorder_.history:  # a new fit starts from a new recorder
            self.recorder_ = IBRecorder(self.recorder_.probe_x, self.recorder_.probe_labels_, device=device,
                                        **self._kwargs)
        if self._pending_state is not None:  # restored from Lightning's checkpoint before this hook
            self.recorder_.load_state_dict(self._pending_state)
        self._dry_pass(self._target)
        self.recorder_.check()
        self.rows_, self._analysed, self._fit_t0 = [], 0, time.perf_counter()
        self._last_epoch = int(self._pending_epoch or 0)
        if trainer.is_global_zero:
            self._open_folder(trainer, pl_module)
            self.recorder_.prepare()
        self._pending_state = self._pending_epoch = None

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
        rows = self.recorder_.analyse(self._target, epoch) if self.scheduled(epoch, trainer) else []
        self._last_epoch = epoch
        self.rows_.extend(rows)
        if self._artefact is not None:
            row: dict[str, Any] = {"epoch": epoch, "analysed": int(bool(rows)),
                                   "analysis_s": self.recorder_.last_analysis_s if rows else 0.0,
                                   "analysis_wait_s": self.recorder_.last_analysis_s if rows else 0.0,
                                   "time_s": time.perf_counter() - self._epoch_t0}
            for name, value in trainer.callback_metrics.items():
                if name in METRICS.by_name and name not in row:
                    try:
                        row[name] = float(value)
                    except (TypeError, ValueError, RuntimeError):  # not a single number: leave the cell empty
                        pass
            optimizers = getattr(trainer, "optimizers", None) or []
            if optimizers and "lr" not in row:
                row["lr"] = float(optimizers[0].param_groups[0]["lr"])
            self._artefact.append(rows, row)
        if rows:
            self._analysed += 1
            self._log(trainer, epoch, rows)

    def _log(self, trainer: Any, epoch: int, rows: list[dict[str, Any]]) -> None:
        for logger in trainer.loggers:
            logger.log_metrics(ib_scalars(rows, prefix=self.prefix), step=epoch)
        if not self.figure_every or self._analysed % self.figure_every:
            return
        from lightning.pytorch.loggers import TensorBoardLogger

        boards = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if boards:  # the whole run's rows: with a resumed run folder, those written before the checkpoint too
            image = information_plane_image(self._artefact.info_rows() if self._artefact is not None
                                            else self.recorder_.history)
            for lg in boards:
                lg.experiment.add_image(f"{self.prefix}/{FIGURE_TAG}", image, global_step=epoch, dataformats="HWC")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write ``summary.json`` (with ``out``)."""
        if self._artefact is not None and self._lock is not None:
            self._artefact.write_summary(completed_epochs=int(trainer.current_epoch),
                                         time_s=time.perf_counter() - self._fit_t0, layers=self.layers_)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Release the run folder's lock."""
        self._release()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Release the run folder's lock (everything written so far stays)."""
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _nothing_logged(folder: Any) -> bool:
    """A folder set up by a fit that finished no epoch (started afresh, as ``ibscope ib`` does)."""
    return not RunArtefact(folder.path).logged_epochs()


def config_diff_keys(old: Any, new: Any) -> list[str]:
    """The settings in which a stored and a current settings dict differ (dotted paths)."""
    import json

    from ..runs import config_diff

    return config_diff(json.loads(json.dumps(old)), json.loads(json.dumps(new)))
