"""Background analysis: an epoch's information-plane analysis runs in one worker thread while the next epoch trains.

Opt-in (``IBConfig(background_analysis=True)``, ``ibscope ib --background-analysis``). What runs where:

* **Main thread, synchronously** at the end of epoch e: the probe pass (it must see the epoch's
  weights, and it draws from the model's noise streams exactly as the synchronous mode does), and,
  when the brackets are on, a frozen deep copy of the model (same device, eval mode) for their noisy
  identification passes. The copy carries its own noise generators, so the brackets' passes never
  touch the live model's streams; :func:`~ibscope.plane.brackets.xl_brackets` reseeds every stream it
  uses, so the copy gives the numbers the live model gives in the synchronous mode.
* **Worker thread** (one, so epochs are analysed in order): compression, the estimates and their
  intervals, the decoders, the brackets (on the copy) and the flags. The numba neighbour kernels are
  compiled with ``nogil=True`` and torch releases the GIL in its operators, so most of this work
  runs beside the training loop.

The brackets on the copy leave the global torch generators alone (``fork_global_rng=False``): a
worker must not seed or restore them while the training loop draws dropout from them. That is exact
only for a model that draws nothing from the global generators in eval mode (dropout is off there);
:func:`draws_global_rng` checks it once per run, on the main thread, and a model that does draw has
its brackets computed synchronously instead, as in the synchronous mode.

**When rows and checkpoints are written.** The callbacks after the recorder (the run writer, the
progress bar, your callbacks, the checkpoint) get epoch e's ``on_epoch_end`` when its analysis has
completed, on the main thread: at the start of a later epoch if it is done by then, at the latest
just before epoch e + 1's own analysis starts (the loop waits for it there), and before the run ends.
So rows are written in epoch order, and **the checkpoint of epoch e is written only after epoch e's
rows** (from a snapshot of the training state taken at the end of epoch e, and the recorder's state
once its analysis is done): a resumed run continues exactly as after a synchronous run, and a run
killed while an analysis is pending resumes from the checkpoint before it and trains that epoch
again (seeded, so with the same rows).

Caveats: the worker's code checks silence warnings with ``warnings.catch_warnings``, which is
process-wide, so a warning the training loop raises in that moment can be lost; progress events
(``progress=``) come from the worker thread; and the loop holds one model copy and one checkpoint
snapshot per pending epoch (at most one epoch is pending).

An error in the worker is raised in the main thread (:class:`AnalysisError`) when the loop next
collects the analysis; the folder keeps the epochs before it, and resumes from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any

__all__ = ["AnalysisWorker", "AnalysisError", "EpochQueue", "frozen_copy", "draws_global_rng"]


class AnalysisError(RuntimeError):
    """The background analysis of an epoch failed (its cause is chained as ``__cause__``)."""


class AnalysisWorker:
    """One daemon thread that runs submitted analyses in order.

    A daemon thread, so that a process stopped with Ctrl-C does not wait for a pending analysis to end
    (nothing is written from the worker: every file is written on the main thread).

    Parameters
    ----------
    threads : int or None, default=None
        Torch intra-op threads of the worker thread (None: the submitting thread's count when the worker
        starts), so that the worker's torch passes use the same thread count, hence the same sums, as
        the synchronous mode.
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, fn, *args) -> Future:
        """Queue ``fn(*args)``; returns its :class:`~concurrent.futures.Future`."""
        fut: Future = Future()
        if self._thread is None:
            import torch

            threads = self.threads if self.threads else torch.get_num_threads()
            self._thread = threading.Thread(target=self._run, args=(threads,), name="ibscope-analysis", daemon=True)
            self._thread.start()
        self._queue.put((fut, fn, args))
        return fut

    def _run(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        while True:
            item = self._queue.get()
            if item is None:
                return
            fut, fn, args = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # handed to the main thread, which raises it
                fut.set_exception(exc)

    def close(self, wait: bool = True) -> None:
        """Stop the thread after the queued work (``wait``: until it has stopped)."""
        if self._thread is None:
            return
        self._queue.put(None)
        if wait:
            self._thread.join()
        self._thread = None


@dataclasses.dataclass
class _Deferred:
    """An epoch whose later callbacks wait for its analysis."""

    epoch: int
    future: Future
    logs: dict
    callbacks: list
    loop_s: float


class EpochQueue:
    """The epochs whose ``on_epoch_end`` waits for a background analysis (the :class:`~ibscope.ib.Trainer`'s).

    An analysing callback puts a ``Future`` in ``logs["pending"]``; the trainer then hands the epoch to
    :meth:`defer` with the callbacks after it, and :meth:`settle` fires them, in epoch order, once the
    analysis is done. The future's result is ``{"rows": [...], "metrics": {...}}``, merged into the logs.
    """

    def __init__(self) -> None:
        self._items: deque[_Deferred] = deque()
        self._waited: list[tuple[float, float]] = []  # (when, seconds) of every wait

    def __len__(self) -> int:
        return len(self._items)

    def defer(self, trainer, epoch: int, logs: dict, callbacks: list) -> None:
        """Hold ``callbacks``' ``on_epoch_end`` of ``epoch`` until ``logs["pending"]`` completes.

        Callbacks with a ``freeze(trainer, epoch)`` method (the :class:`~ibscope.ib.Checkpoint`) snapshot
        the training state now; the snapshot reaches them in ``logs["frozen"][id(callback)]``.
        """
        future = logs.pop("pending")
        logs["frozen"] = {id(cb): cb.freeze(trainer, epoch) for cb in callbacks if hasattr(cb, "freeze")}
        t0 = float(logs.get("t0", time.perf_counter()))
        # the epoch's own loop time: waits for earlier epochs' analyses inside it count for those epochs
        others = sum(s for when, s in self._waited if when >= t0)
        self._waited = []
        self._items.append(_Deferred(int(epoch), future, logs, list(callbacks), time.perf_counter() - t0 - others))

    def settle(self, trainer, *, block: bool) -> None:
        """Fire the held callbacks of every finished analysis, oldest first (``block``: wait for all).

        Raises
        ------
        AnalysisError
            An analysis failed; the epochs before it have been written.
        """
        while self._items:
            item = self._items[0]
            if not block and not item.future.done():
                return
            t0 = time.perf_counter()
            try:
                result = item.future.result()
            except BaseException as exc:
                self._items.clear()
                raise AnalysisError(
                    f"The background analysis of epoch {item.epoch} failed ({type(exc).__name__}: {exc}). The run "
                    "folder holds the epochs before it; resume the run (resume=True, --resume) to train and "
                    "analyse again from its last checkpoint.") from exc
            waited = time.perf_counter() - t0
            self._waited.append((t0, waited))
            self._items.popleft()
            logs, metrics = item.logs, item.logs.setdefault("metrics", {})
            logs.setdefault("rows", []).extend(result.get("rows", []))
            metrics.update(result.get("metrics", {}))
            metrics["analysis_wait_s"] = float(metrics.get("analysis_wait_s") or 0.0) + waited
            metrics["time_s"] = item.loop_s + waited
            for cb in item.callbacks:
                fn = getattr(cb, "on_epoch_end", None)
                if fn is not None:
                    fn(trainer, item.epoch, logs)

    def abandon(self) -> None:
        """Forget the held epochs (training stopped): their rows and checkpoints are never written."""
        for item in self._items:
            item.future.cancel()
        self._items.clear()
        self._waited = []


def frozen_copy(model) -> Any:
    """A deep copy of ``model`` on its device, in eval mode, without gradients: what the brackets of a
    background analysis pass data through (the live model trains on meanwhile)."""
    import copy

    clone = copy.deepcopy(model)
    clone.eval()
    for p in clone.parameters():
        p.grad = None
        p.requires_grad_(False)
    return clone


def draws_global_rng(model, x) -> bool:
    """Whether an eval-mode forward pass of ``model`` on ``x`` draws from the global torch generators
    (CPU, or CUDA on the model's device); every generator, the model's noise streams and its mode are
    left as they were."""
    import torch

    from ..nets import get_noise_rng_state, set_noise_rng_state
    from ..plane.brackets import _model_device

    dev = _model_device(model)
    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    noise = get_noise_rng_state(model)
    was = model.training
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            cpu = torch.get_rng_state()
            cuda = [torch.cuda.get_rng_state(d) for d in devices]
            model.eval()
            model(torch.as_tensor(x).to(dev))
            return not torch.equal(cpu, torch.get_rng_state()) or any(
                not torch.equal(s, torch.cuda.get_rng_state(d)) for d, s in zip(devices, cuda))
    finally:
        model.train(was)
        set_noise_rng_state(model, noise)
