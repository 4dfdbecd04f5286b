"""The built-in training loop: it trains, evaluates and fires callbacks, nothing else.

Everything else an IB run does (analysis, files, checkpoints, progress) is a
:class:`~ibscope.ib.Callback` handed to the :class:`Trainer`; see
:mod:`ibscope.ib.callbacks` for the contract.
"""

from __future__ import annotations

import time

import numpy as np

from .worker import EpochQueue

__all__ = ["Trainer", "roc_auc_ovo"]


class Trainer:
    """Train a classifier with NLL loss for a range of epochs, firing callbacks.

    Parameters
    ----------
    model : torch.nn.Module
        Returns log-probabilities of shape (batch, n_classes).
    optimizer : torch.optim.Optimizer
    train_loader : iterable of (inputs, labels)
        Batches in training order (its ``generator`` is checkpointed by
        :class:`~ibscope.ib.callbacks.Checkpoint`).
    test_loader : iterable of (inputs, labels)
        Evaluated after every epoch (evaluation mode: dropout off, noise as configured).
    callbacks : sequence of Callback
        Fired in order at every hook.
    device : str, default="cpu"
    out : pathlib.Path or None
        The run folder, for callbacks that want it.
    config : object or None
        The run's configuration, for callbacks that want it.
    analysis_worker : AnalysisWorker or None, default=None
        Run the :class:`~ibscope.ib.IBRecorder`'s analysis in this background thread
        (:mod:`ibscope.ib.worker`): the callbacks after the recorder then get an epoch's
        ``on_epoch_end`` once its analysis is done, in epoch order, at the latest just before the next
        epoch's analysis and before ``on_train_end``. None analyses synchronously.

    Attributes
    ----------
    epoch : int
        Last epoch that finished (0 before the first).
    pending : EpochQueue
        Epochs whose later callbacks wait for a background analysis (empty without ``analysis_worker``).
    """

    def __init__(self, model, optimizer, train_loader, test_loader, *, callbacks=(), device: str = "cpu", out=None,
                 config=None, analysis_worker=None):
        self.model = model
        self.optimizer = optimizer
        self.train_loader = train_loader
        self.test_loader = test_loader
        self.callbacks = list(callbacks)
        self.device = device
        self.out = out
        self.config = config
        self.epoch = 0
        self.analysis_worker = analysis_worker
        self.pending = EpochQueue()

    def fire(self, hook: str, *args) -> None:
        """Call ``hook(self, *args)`` on every callback that has it, in order."""
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args)

    def fit(self, epochs: int, *, start: int = 0) -> list[int]:
        """Train epochs ``start + 1 .. epochs``; returns the epochs run.

        Each epoch: ``on_epoch_begin``, one pass over the training loader
        (``on_batch_end`` after every step), an evaluation of the test loader, then
        ``on_epoch_end`` with ``logs = {"metrics": {...}, "rows": [], "t0": start time}``.
        ``on_train_begin`` comes first, ``on_train_end(trainer, epochs_run)`` last (also when
        there was nothing left to train); if training raises, ``on_exception`` instead.

        With an ``analysis_worker``, an epoch whose analysis runs in the background has the
        ``on_epoch_end`` of the callbacks after the recorder fired later (see :class:`EpochQueue`):
        finished analyses are collected before each epoch begins, the loop waits for the previous
        epoch's before each epoch ends and for the last one before ``on_train_end``. A failed analysis
        raises :class:`~ibscope.ib.worker.AnalysisError` there.
        """
        self.epoch = start
        ran: list[int] = []
        self.fire("on_train_begin")
        try:
            for epoch in range(start + 1, epochs + 1):
                te = time.perf_counter()
                self.pending.settle(self, block=False)  # a finished analysis: its rows now, its error now
                self.fire("on_epoch_begin", epoch)
                train_loss, train_acc, train_auc = self.train_epoch(epoch)
                t_train = time.perf_counter() - te
                test_loss, test_acc, test_auc = self.evaluate()
                t_eval = time.perf_counter() - te - t_train
                metrics = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "train_auc": train_auc,
                           "test_loss": test_loss, "test_acc": test_acc, "test_auc": test_auc,
                           "lr": self.optimizer.param_groups[0]["lr"], "analysed": 0, "train_s": t_train,
                           "eval_s": t_eval}
                self.pending.settle(self, block=True)  # the previous epoch's analysis, before this one's
                self._epoch_end(epoch, {"metrics": metrics, "rows": [], "t0": te})
                self.epoch = epoch
                ran.append(epoch)
            self.pending.settle(self, block=True)
        except BaseException as exc:
            self.pending.abandon()
            self.fire("on_exception", exc)
            raise
        self.fire("on_train_end", ran)
        return ran

    def _epoch_end(self, epoch: int, logs: dict) -> None:
        """``on_epoch_end`` of every callback, in order; when one leaves ``logs["pending"]`` (a background
        analysis), the callbacks after it are held until it completes."""
        for i, cb in enumerate(self.callbacks):
            fn = getattr(cb, "on_epoch_end", None)
            if fn is not None:
                fn(self, epoch, logs)
            if logs.get("pending") is not None:
                self.pending.defer(self, epoch, logs, self.callbacks[i + 1:])
                return

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
            self.fire("on_batch_end", epoch, b, float(loss.detach()))
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


