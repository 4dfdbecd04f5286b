"""Hooks of a training loop, and the callbacks an IB run is built from.

One contract serves the built-in :class:`~ibscope.ib.Trainer` and hand-written
loops alike: a :class:`Callback` overrides any of its no-op hooks, each of which
receives the trainer first (an object with at least ``model``; the built-in one
also has ``optimizer``, ``train_loader``, ``device``, ``out`` and ``config``).

``on_epoch_end(trainer, epoch, logs)`` gets the epoch's ``logs``: a dict with
``"metrics"`` (epoch, train/test loss, accuracy and ROC-AUC, lr, timings) and
``"rows"`` (information-plane rows, filled by an :class:`~ibscope.ib.IBRecorder`
earlier in the list). Callbacks run in list order; :func:`~ibscope.ib.run_ib`
uses ``[IBRecorder, RunWriter, ProgressBar, *your callbacks, Checkpoint]``, so
your ``on_epoch_end`` sees the epoch's rows on disk and runs before its
checkpoint is written.

Built-in callbacks here:

* :class:`RunWriter` - appends the rows to ``info.csv`` and the metrics to
  ``metrics.csv`` (``fsync`` per epoch) and saves newly fitted compressors;
* :class:`Checkpoint` - model, optimiser and every RNG stream to
  ``checkpoints/last.pt`` (atomic), and loads them back on resume;
* :class:`ProgressBar` - a tqdm bar over epochs.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..runs import CSVLog, atomic_open, utc_now

__all__ = ["Callback", "RunWriter", "Checkpoint", "ProgressBar", "METRICS_COLUMNS", "RunFolderError", "csv_cell"]

#: Columns of ``metrics.csv``.
METRICS_COLUMNS = ("epoch", "train_loss", "train_acc", "train_auc", "test_loss", "test_acc", "test_auc", "lr",
                   "analysed", "time_s", "train_s", "eval_s", "analysis_s")


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (not empty, different configuration, not a run, unreadable)."""


class Callback:
    """No-op hooks of a training loop; subclass and override the ones you need."""

    def on_train_begin(self, trainer) -> None:
        """Before the first epoch of this call."""

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        """Before epoch ``epoch`` (1-based) trains."""

    def on_batch_end(self, trainer, epoch: int, batch: int, loss: float) -> None:
        """After each optimiser step; ``loss`` is the batch's training loss."""

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> object:
        """After epoch ``epoch`` trained and was evaluated (``logs``: see the module notes).

        The trainer ignores what the hook returns (:class:`~ibscope.ib.IBRecorder` returns its
        rows, for hand-written loops, and there takes ``logs`` as optional).
        """

    def on_train_end(self, trainer, result) -> None:
        """After the last epoch, with the run's result (:class:`~ibscope.ib.IBRunResult` in ``run_ib``)."""

    def on_exception(self, trainer, exc: BaseException) -> None:
        """When training stops with an exception (it is re-raised afterwards)."""


def csv_cell(v):
    """How ``info.csv`` and ``metrics.csv`` write a value (NaN as "nan", floats at full precision)."""
    import math

    import numpy as np

    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    if isinstance(v, np.floating):
        return repr(float(v))
    if isinstance(v, np.integer):
        return int(v)
    return v


class RunWriter(Callback):
    """Write each epoch's rows and metrics to the run folder as soon as the epoch ends.

    Parameters
    ----------
    info_log, metrics_log : CSVLog
        ``info.csv`` and ``metrics.csv``.
    recorder : IBRecorder or None
        Its fitted compressors are saved to ``compressors_dir`` when they are new
        (before the rows that used them are written).
    compressors_dir : path-like or None
    save_at_start : bool
        Save the recorder's state once before the first epoch (a fresh run, or a
        folder without one).
    """

    def __init__(self, info_log: CSVLog, metrics_log: CSVLog, *, recorder=None, compressors_dir=None,
                 save_at_start: bool = True):
        self.info_log = info_log
        self.metrics_log = metrics_log
        self.recorder = recorder
        self.compressors_dir = None if compressors_dir is None else Path(compressors_dir)
        self.save_at_start = save_at_start
        self._saved_fit_epoch = None

    def _save_compressors(self) -> None:
        if self.recorder is not None and self.compressors_dir is not None:
            self.recorder.save_state(self.compressors_dir)
            self._saved_fit_epoch = self.recorder.fit_epoch_

    def on_train_begin(self, trainer) -> None:
        if self.recorder is not None:
            self._saved_fit_epoch = self.recorder.fit_epoch_
            if self.save_at_start:
                self._save_compressors()

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        metrics = logs["metrics"]
        rec = self.recorder
        if rec is not None and rec.refit == "first" and rec.fit_epoch_ is not None \
                and rec.fit_epoch_ != self._saved_fit_epoch:
            self._save_compressors()
        total = time.perf_counter() - logs["t0"]
        metrics["time_s"] = total
        metrics["analysis_s"] = total - metrics["train_s"] - metrics["eval_s"]
        self.info_log.append(logs.get("rows", []))
        self.metrics_log.append([metrics])


class Checkpoint(Callback):
    """Save (and restore) everything a resumed run needs to continue bit for bit.

    ``checkpoints/last.pt`` holds the model, the optimiser, every noise layer's
    generator, the global torch generator (dropout), the CUDA generators and the
    training loader's generator. It is written atomically after each epoch.

    Parameters
    ----------
    path : path-like
        The checkpoint file.
    format : str
        Format tag stored in the file.
    """

    def __init__(self, path, *, format: str = "ibscope-ib-run"):
        self.path = Path(path)
        self.format = format

    @staticmethod
    def _rng_devices(trainer) -> list:
        import torch

        if str(trainer.device).startswith("cuda"):
            return [torch.device(trainer.device).index or 0]
        return []

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        self.save(trainer, epoch)

    def save(self, trainer, epoch: int) -> None:
        """Write the checkpoint of ``trainer`` after ``epoch``."""
        import torch

        from ..nets import get_noise_rng_state

        state = {
            "format": self.format,
            "epoch": int(epoch),
            "model": trainer.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
            "noise_rng": get_noise_rng_state(trainer.model),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": [torch.cuda.get_rng_state(d) for d in self._rng_devices(trainer)],
            "loader_rng": trainer.train_loader.generator.get_state(),
            "device": trainer.device,
            "time": utc_now(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.path, "wb") as fh:
            torch.save(state, fh)

    def load(self, trainer) -> int:
        """Restore the checkpoint into ``trainer``; returns its epoch (0 when there is none).

        Raises
        ------
        ValueError
            The file cannot be read (the message says how to restart).
        """
        import torch

        from ..nets import set_noise_rng_state

        if not self.path.is_file():
            return 0
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise RunFolderError(f"Cannot read the checkpoint {self.path} ({type(exc).__name__}: {exc}). "
                                 "Delete it to restart the run from epoch 1.") from None
        trainer.model.load_state_dict(state["model"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        set_noise_rng_state(trainer.model, state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        for dev, st in zip(self._rng_devices(trainer), state.get("cuda_rng", [])):
            torch.cuda.set_rng_state(st, dev)
        trainer.train_loader.generator.set_state(state["loader_rng"])
        return int(state["epoch"])


class ProgressBar(Callback):
    """A tqdm bar over epochs, with the loss and test accuracy every ``every`` epochs.

    Parameters
    ----------
    total : int
        Last epoch of the run.
    initial : int, default=0
        Epochs already done (a resumed run).
    every : int, default=1
        Update the postfix every this many epochs (and at the last one).
    """

    def __init__(self, total: int, *, initial: int = 0, every: int = 1):
        self.total = total
        self.initial = initial
        self.every = every
        self._bar = None

    def on_train_begin(self, trainer) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=self.total, initial=self.initial, desc="ib epochs", unit="epoch", dynamic_ncols=True,
                         mininterval=0.5)

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if self._bar is None:
            return
        m = logs["metrics"]
        if epoch % self.every == 0 or epoch == self.total:
            self._bar.set_postfix(loss=f"{m['train_loss']:.3f}", test_acc=f"{m['test_acc']:.3f}", refresh=False)
        self._bar.update(1)
        if epoch >= self.total:
            self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_train_end(self, trainer, result) -> None:
        self._close()

    def on_exception(self, trainer, exc: BaseException) -> None:
        self._close()
