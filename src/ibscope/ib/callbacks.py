"""Hooks of a training loop, and the callbacks an IB run is built from.

One contract serves the built-in :class:`~ibscope.ib.Trainer` and hand-written
loops alike: a :class:`Callback` overrides any of its no-op hooks, each of which
receives the trainer first (an object with at least ``model``; the built-in one
also has ``optimizer``, ``train_loader``, ``device``, ``out`` and ``config``).

``on_epoch_end(trainer, epoch, logs)`` gets the epoch's ``logs``: a dict with
``"metrics"`` (epoch, train/test loss, accuracy and ROC-AUC, lr, timings) and
``"rows"`` (information-plane rows, filled by an :class:`~ibscope.ib.IBRecorder`
earlier in the list). Callbacks run in list order; :func:`~ibscope.ib.run_ib`
uses ``[IBRecorder, FigureWriter, RunWriter, ProgressBar, *your callbacks, Checkpoint]``,
so your ``on_epoch_end`` sees the epoch's rows on disk and runs before its
checkpoint is written. The trainer fires ``on_train_end`` itself when its
``fit`` returns, and ``on_exception`` when it raises.

With the background analysis (``IBConfig(background_analysis=True)``, :mod:`ibscope.ib.worker`) the
recorder's ``on_epoch_end`` only runs the probe pass and hands the rest to a worker thread; the
callbacks after it get the epoch's ``on_epoch_end`` once its analysis is done (in epoch order, at the
latest before the next epoch's analysis), with the rows in ``logs``. ``trainer.model`` may then hold
later weights; a callback that needs the epoch's own state defines ``freeze(trainer, epoch)``, whose
result it finds in ``logs["frozen"][id(callback)]`` (the :class:`Checkpoint` does).

A callback with state (the recorder's fitted compressors) has a ``state_key`` and
``state_dict()`` / ``load_state_dict()``; the :class:`Checkpoint` stores that state
in the checkpoint, with the model, so it is always as new as the weights.

Built-in callbacks here:

* :class:`RunWriter` - appends the rows to ``info.csv`` and the metrics to
  ``metrics.csv`` (``fsync`` per epoch), and writes ``summary.json`` at the end;
* :class:`Checkpoint` - model, optimiser, every RNG stream and the callbacks' state
  to ``checkpoints/last.pt`` (atomic), and loads them back on resume;
* :class:`ProgressBar` - a tqdm bar over epochs, with the analysis stage below it;
* :class:`FigureWriter` - the run folder's figures when training ends.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ..runs import RunFolderError, atomic_open, utc_now
from ..runs.errors import DamagedFolderError
from ..runs.ibrun import FIGURES, RunArtefact
from ..runs.schema import METRICS, cell

__all__ = ["Callback", "RunWriter", "Checkpoint", "ProgressBar", "FigureWriter", "METRICS_COLUMNS",
           "RunFolderError", "csv_cell"]

#: Columns of ``metrics.csv`` (see :data:`ibscope.runs.schema.METRICS`).
METRICS_COLUMNS = METRICS.names

#: How ``info.csv`` and ``metrics.csv`` write a value (NaN as "nan", floats at full precision).
csv_cell = cell


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
        """After the last epoch of a ``fit`` that returned; ``result`` is the list of epochs it trained."""

    def on_exception(self, trainer, exc: BaseException) -> None:
        """When training stops with an exception (it is re-raised afterwards)."""


class RunWriter(Callback):
    """Write each epoch's rows and metrics to the run folder as soon as the epoch ends.

    Parameters
    ----------
    artefact : ibscope.runs.ibrun.RunArtefact
        The run folder's files.
    layers : sequence of str or None
        The analysed layers, for ``summary.json``.

    Notes
    -----
    ``metrics["time_s"]`` is the epoch's wall-clock time up to this callback (training,
    evaluation, analysis), ``metrics["analysis_s"]`` the analysis time the recorder
    measured (its ``last_analysis_s``), the same quantity the Lightning callback writes, and
    ``metrics["analysis_wait_s"]`` the seconds the training loop waited for it (all of it, unless the
    analysis ran in the background: :mod:`ibscope.ib.worker`; then ``time_s`` is the epoch's own loop
    time plus that wait).
    """

    def __init__(self, artefact: RunArtefact, *, layers=None):
        self.artefact = artefact
        self.layers = None if layers is None else list(layers)
        self._t0 = time.perf_counter()

    def on_train_begin(self, trainer) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        metrics = logs["metrics"]
        if "time_s" not in metrics:  # a background analysis' epoch has it already (its loop time and wait)
            metrics["time_s"] = time.perf_counter() - logs["t0"]
        metrics.setdefault("analysis_s", 0.0)
        metrics.setdefault("analysis_wait_s", 0.0)
        self.artefact.append(logs.get("rows", []), metrics)

    def on_train_end(self, trainer, result) -> None:
        figures = sorted(str(p.relative_to(self.artefact.path)) for p in (self.artefact.path / FIGURES).glob("*")
                         if p.is_file())
        self.artefact.write_summary(completed_epochs=int(getattr(trainer, "epoch", 0)),
                                    time_s=time.perf_counter() - self._t0, figures=figures, layers=self.layers)


def _rng_devices(trainer) -> list:
    import torch

    if str(trainer.device).startswith("cuda"):
        return [torch.device(trainer.device).index or 0]
    return []


class Checkpoint(Callback):
    """Save (and restore) everything a resumed run needs to continue bit for bit.

    The checkpoint holds the model, the optimiser, every noise layer's generator, the
    global torch generator (dropout), the CUDA generators, the training loader's
    generator and the state of every callback that has one (``state_key`` and
    ``state_dict()``, e.g. the recorder's fitted compressors). It is written atomically
    after each epoch (and once before the first epoch of a fresh run, to ``start.pt``,
    so that an expensive X compressor survives a crash in epoch 1).

    Parameters
    ----------
    path : path-like
        The checkpoint file (``checkpoints/last.pt``).
    format : str
        Format tag stored in the file.
    """

    #: devices whose CUDA generators are saved (kept for callers of the old private name)
    _rng_devices = staticmethod(_rng_devices)

    def __init__(self, path, *, format: str = "ibscope-ib-run"):
        self.path = Path(path)
        self.format = format

    @property
    def start_path(self) -> Path:
        """The checkpoint written before the first epoch of a fresh run (``start.pt``)."""
        return self.path.with_name("start.pt")

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        frozen = (logs.get("frozen") or {}).get(id(self))
        if frozen is None:
            self.save(trainer, epoch)
            return
        # a background analysis' epoch: the training state frozen at the epoch's end, the callbacks' state now
        # (the analysis is done and the worker idle, so the recorder's state is the one of this epoch)
        self._write({**frozen, "callbacks": self._callback_states(trainer), "time": utc_now()}, self.path)

    def freeze(self, trainer, epoch: int) -> dict[str, Any]:
        """A copy of the training state after ``epoch`` (everything but the callbacks' state), for an epoch
        whose checkpoint waits for its background analysis (:class:`~ibscope.ib.worker.EpochQueue`)."""
        import copy

        state = self._state(trainer, epoch, callbacks=False)
        return copy.deepcopy(state)

    @staticmethod
    def _callback_states(trainer) -> dict[str, Any]:
        return {cb.state_key: cb.state_dict() for cb in getattr(trainer, "callbacks", ())
                if getattr(cb, "state_key", None) and hasattr(cb, "state_dict")}

    def _state(self, trainer, epoch: int, *, callbacks: bool = True) -> dict[str, Any]:
        import torch

        from ..nets import get_noise_rng_state

        return {
            "format": self.format,
            "epoch": int(epoch),
            "model": trainer.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
            "noise_rng": get_noise_rng_state(trainer.model),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": [torch.cuda.get_rng_state(d) for d in _rng_devices(trainer)],
            "loader_rng": trainer.train_loader.generator.get_state(),
            "config": trainer.config.to_dict() if hasattr(getattr(trainer, "config", None), "to_dict") else None,
            "callbacks": self._callback_states(trainer) if callbacks else {},
            "device": trainer.device,
            "time": utc_now(),
        }

    def save(self, trainer, epoch: int, path=None) -> None:
        """Write the checkpoint of ``trainer`` after ``epoch`` (to ``path``, default the checkpoint file)."""
        self._write(self._state(trainer, epoch), self.path if path is None else Path(path))

    @staticmethod
    def _write(state: dict[str, Any], path: Path) -> None:
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            torch.save(state, fh)

    def save_start(self, trainer) -> None:
        """Write ``start.pt``: the state before the first epoch of a fresh run."""
        self.save(trainer, 0, self.start_path)

    def load(self, trainer) -> int:
        """Restore the newest checkpoint (``last.pt``, else ``start.pt``) into ``trainer``; returns its epoch
        (0 when there is none).

        Raises
        ------
        DamagedFolderError
            The file cannot be read; the message says how to go on (the checkpoint can be moved away, and
            the run resumed from the start).
        """
        import torch

        from ..nets import set_noise_rng_state

        path = self.path if self.path.is_file() else self.start_path
        if not path.is_file():
            return 0
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise DamagedFolderError(
                f"Cannot read the checkpoint {path} ({type(exc).__name__}: {exc}). Move it away (e.g. rename it to "
                f"{path.name}.bad) and resume again: the run then restarts from epoch 1 in the same folder, "
                "replacing the rows written so far.") from None
        trainer.model.load_state_dict(state["model"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        set_noise_rng_state(trainer.model, state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        for dev, st in zip(_rng_devices(trainer), state.get("cuda_rng", [])):
            torch.cuda.set_rng_state(st, dev)
        trainer.train_loader.generator.set_state(state["loader_rng"])
        saved = state.get("callbacks") or {}
        for cb in getattr(trainer, "callbacks", ()):
            key = getattr(cb, "state_key", None)
            if key and key in saved and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(saved[key])
        return int(state["epoch"])


class ProgressBar(Callback):
    """A tqdm bar over epochs, with the loss and test accuracy every ``every`` epochs.

    While an epoch is analysed, the bar's description shows the analysis stage
    (``analysis L3 3/5: estimates``), fed by the recorder's progress events
    (:meth:`analysis_progress`, which :func:`~ibscope.ib.run_ib` passes to the recorder).

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

    def analysis_progress(self, event: dict) -> None:
        """Show an analysis event (``stage``, ``layer``, ``index``, ``total``, ``note``) as the bar's description."""
        if self._bar is None:  # before training (the X compressor's fit): the note on its own line
            if event.get("note"):
                say(f"ibscope: {event['note']}")
            return
        stage = event.get("stage", "")
        where = f" {event['layer']} {event.get('index', 0) + 1}/{event.get('total', 0)}" if event.get("layer") else ""
        self._bar.set_description(f"analysis{where}: {stage}", refresh=True)
        if event.get("note"):
            self._bar.write(f"ibscope: {event['note']}")

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if self._bar is None:
            return
        m = logs["metrics"]
        self._bar.set_description("ib epochs", refresh=False)
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


class FigureWriter(Callback):
    """Draw the run folder's figures (:func:`ibscope.plots.plot_ib_run`) when training ends.

    A drawing problem never hides the results: it becomes a ``RuntimeWarning`` that says
    how to retry (``ibscope plot RUN_DIR``).

    Parameters
    ----------
    out : path-like
        The run folder.
    """

    def __init__(self, out) -> None:
        self.out = Path(out)
        self.figures: list[Path] = []

    def on_train_end(self, trainer, result) -> None:
        from ..plots import plot_ib_run  # the one place ib draws: figures are an optional product of a run

        try:
            self.figures = plot_ib_run(self.out)
        except Exception as exc:  # the results are on disk; a plotting problem must not hide them
            warnings.warn(f"Drawing the figures of {self.out} failed ({type(exc).__name__}: {exc}); the results are "
                          "intact. Run 'ibscope plot' to retry.", RuntimeWarning, stacklevel=2)


def say(text: str) -> None:
    """Print one progress line to standard error (what the CLI and ``progress=True`` show)."""
    print(text, file=sys.stderr, flush=True)
