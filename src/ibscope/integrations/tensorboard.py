"""TensorBoard logging of an IB run: per-layer I(X;L) and I(L;Y), training metrics, the information plane.

:class:`TensorBoardCallback` is an :class:`ibscope.ib.Callback`, so it goes into
:func:`ibscope.ib.run_ib` (``callbacks=[...]``, or ``ibscope ib --tensorboard DIR``),
into an :class:`ibscope.ib.Trainer`, or into a hand-written loop that calls its hooks
with ``logs = {"metrics": {...}, "rows": rows}``. After each epoch it writes, at step = epoch:

* ``ib/<layer>/i_xl``, ``ib/<layer>/i_xl_low``, ``ib/<layer>/i_xl_high`` and the same for
  ``i_ly``: the values and interval bounds of ``info.csv`` (``i_xl``, ``i_xl_lo``,
  ``i_xl_hi``, ...), in the run's units; an epoch the schedule skips has none;
* ``train/loss``, ``train/acc``, ``train/auc``, ``test/loss``, ``test/acc``, ``test/auc``,
  ``lr``, ``time/epoch_s`` and ``time/analysis_s`` from the epoch's metrics (those present);
* ``ib/information_plane``: the information planes of every epoch so far
  (:func:`ibscope.plots.ib.plot_information_planes`) as an image, every
  ``figure_every`` analysed epochs and after the last one.

Then it flushes the event file, so TensorBoard shows the run while it trains and a
killed run keeps everything logged. On a resumed :func:`~ibscope.ib.run_ib` the
figure includes the rows already in the run folder's ``info.csv``; the scalars of the
epochs run again after the checkpoint go to a new event file, at the same steps.

Needs the ``tensorboard`` package: ``pip install 'ibscope[tensorboard]'``.

Example
-------
>>> from ibscope.ib import IBConfig, run_ib
>>> from ibscope.integrations.tensorboard import TensorBoardCallback
>>> run_ib(IBConfig(dataset="digits", epochs=5), out="runs/d0",
...        callbacks=[TensorBoardCallback("runs/d0-tb")])                # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._validation import check_int
from ..ib.callbacks import Callback
from ..runs import make_folder
from ..runs.ibrun import RunArtefact
from ..runs.schema import epoch_of
from ._common import FIGURE_TAG, check_log_dir, ib_scalars, information_plane_image, require

__all__ = ["TensorBoardCallback", "METRIC_TAGS"]

#: ``logs["metrics"]`` key -> TensorBoard tag.
METRIC_TAGS = {
    "train_loss": "train/loss", "train_acc": "train/acc", "train_auc": "train/auc",
    "test_loss": "test/loss", "test_acc": "test/acc", "test_auc": "test/auc",
    "lr": "lr", "time_s": "time/epoch_s", "analysis_s": "time/analysis_s",
}


def _summary_writer_class() -> Any:
    require("tensorboard", owner="TensorBoardCallback", what="TensorBoard", extra="tensorboard")
    module = require("torch.utils.tensorboard", owner="TensorBoardCallback", what="TensorBoard", extra="tensorboard")
    return module.SummaryWriter


class TensorBoardCallback(Callback):
    """Write an IB run's information-plane values, metrics and figure to a TensorBoard log folder.

    Parameters
    ----------
    log_dir : str or path-like
        The TensorBoard log folder (``tensorboard --logdir log_dir``). It is checked
        here (it must be a folder or creatable, and writable) and created when
        training begins.
    prefix : str, default="ib"
        First part of the information-plane tags (``ib/L1/i_xl``, ``ib/information_plane``).
    figure_every : int, default=1
        Draw the information-plane image every this many analysed epochs (and after
        the last one); 0 never draws it.
    dpi : int, default=80
        Resolution of the image.

    Attributes
    ----------
    writer_ : torch.utils.tensorboard.SummaryWriter or None
        The open writer while training runs (None before and after).
    rows_ : list of dict
        The information-plane rows of the run so far (the figure's data).

    Raises
    ------
    ImportError
        If TensorBoard is not installed (the message names ``pip install 'ibscope[tensorboard]'``).
    OSError
        If ``log_dir`` cannot be created or written.
    """

    def __init__(self, log_dir: Any, *, prefix: str = "ib", figure_every: int = 1, dpi: int = 80) -> None:
        owner = "TensorBoardCallback"
        _summary_writer_class()
        self.log_dir = check_log_dir(log_dir, owner=owner)
        if not isinstance(prefix, str) or not prefix or prefix.strip("/") != prefix:
            raise ValueError(f"The 'prefix' parameter of {owner} must be a non-empty str without leading or "
                             f"trailing '/'. Got {prefix!r} instead.")
        self.prefix = prefix
        self.figure_every = check_int(figure_every, "figure_every", owner, low=0)
        self.dpi = check_int(dpi, "dpi", owner, low=10)
        self.writer_: Any = None
        self.rows_: list[dict[str, Any]] = []
        self._analysed = 0
        self._drawn_epoch: int | None = None
        self._last_epoch: int | None = None

    # ----------------------------------------------------------------- hooks
    def on_train_begin(self, trainer: Any) -> None:
        """Open the writer; start the figure's rows from the run folder's ``info.csv`` (a resumed run)."""
        self.close()
        writer_class = _summary_writer_class()
        make_folder(self.log_dir)
        self.writer_ = writer_class(log_dir=str(self.log_dir))
        self.rows_ = []
        self._analysed = 0
        self._drawn_epoch = None
        self._last_epoch = None
        out = getattr(trainer, "out", None)
        if out is not None and (Path(out) / "info.csv").is_file():
            self.rows_ = [dict(r) for r in RunArtefact(out).info_rows()]

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict) -> None:
        """Write the epoch's scalars (and the figure when due), then flush."""
        writer = self.writer_
        if writer is None:  # a hand-written loop that did not call on_train_begin
            self.on_train_begin(trainer)
            writer = self.writer_
        step = int(epoch)
        rows = list(logs.get("rows") or [])
        for tag, value in ib_scalars(rows, prefix=self.prefix).items():
            writer.add_scalar(tag, value, step)
        metrics = logs.get("metrics") or {}
        for key, tag in METRIC_TAGS.items():
            metric = metrics.get(key)
            if isinstance(metric, (int, float)) and not isinstance(metric, bool):
                writer.add_scalar(tag, float(metric), step)
        if rows:
            self.rows_ = [r for r in self.rows_ if epoch_of(r) != step] + rows
            self._analysed += 1
            self._last_epoch = step
            if self.figure_every and self._analysed % self.figure_every == 0:
                self._draw(step)
        writer.flush()

    def on_train_end(self, trainer: Any, result: Any = None) -> None:
        """Draw the figure of the last analysed epoch if it is not drawn yet, then close the writer."""
        if self.writer_ is not None and self.figure_every and self._last_epoch is not None \
                and self._drawn_epoch != self._last_epoch:
            self._draw(self._last_epoch)
        self.close()

    def on_exception(self, trainer: Any, exc: BaseException) -> None:
        """Close the writer (everything logged so far is on disk)."""
        self.close()

    # ----------------------------------------------------------------- helpers
    def _draw(self, step: int) -> None:
        image = information_plane_image(self.rows_, dpi=self.dpi)
        self.writer_.add_image(f"{self.prefix}/{FIGURE_TAG}", image, step, dataformats="HWC")
        self._drawn_epoch = step

    def close(self) -> None:
        """Flush and close the writer (no-op when none is open)."""
        if self.writer_ is not None:
            self.writer_.flush()
            self.writer_.close()
            self.writer_ = None

