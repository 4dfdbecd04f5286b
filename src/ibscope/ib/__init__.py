"""Information-bottleneck analysis of noisy networks while they train.

* :class:`ActivationRecorder` - forward hooks that capture every chosen layer's
  output on a fixed probe set in one unshuffled, row-aligned pass.
* :class:`IBRecorder` - per-epoch I(X;L) and I(L;Y) with CIs and sanity flags;
  a :class:`Callback`, usable from any training loop
  (``rows = rec.on_epoch_end(model, epoch)``).
* :class:`Trainer` - the built-in loop: trains, evaluates, fires callbacks.
* :func:`run_ib` and :class:`IBConfig` - a whole run writing a resumable,
  locked run folder (config.json, metrics.csv, info.csv, checkpoints, figures).
* :func:`load_run` - a run folder (of any writer) as pandas data frames.
* :func:`run_study`, :func:`load_study`, :func:`plot_study` - studies over seeds and
  grids, which live in :mod:`ibscope.study` and are available here too.

Modules: ``config`` (IBConfig), ``capture`` (hooks), ``recorder`` (IBRecorder),
``flags`` (sanity flags), ``schedule`` (analysed epochs), ``callbacks``
(Callback, RunWriter, Checkpoint, ProgressBar, FigureWriter), ``trainer`` (Trainer),
``network`` (the run's model and its checks), ``run`` (run_ib), ``results`` (load_run),
``worker`` (the opt-in background analysis).

Example
-------
>>> from ibscope.ib import IBConfig, run_ib
>>> res = run_ib(IBConfig(dataset="digits", epochs=20), out="runs/digits-s0", progress=True)  # doctest: +SKIP
"""

from ..plane.capture import ActivationRecorder, Activations, MisalignedRowsError, valid_layer_names
from ..plane.flags import FLAG_NAMES, flag_rows
from .callbacks import METRICS_COLUMNS, Callback, Checkpoint, FigureWriter, ProgressBar, RunWriter
from .config import IBConfig
from .recorder import INFO_COLUMNS, IBRecorder
from .results import RunData, load_run
from .run import IBRunResult, RunFolderError, load_run_config, run_ib
from .schedule import epoch_schedule, log_schedule
from .trainer import Trainer
from .worker import AnalysisError

__all__ = [
    "ActivationRecorder",
    "Activations",
    "MisalignedRowsError",
    "valid_layer_names",
    "IBRecorder",
    "flag_rows",
    "log_schedule",
    "epoch_schedule",
    "INFO_COLUMNS",
    "FLAG_NAMES",
    "METRICS_COLUMNS",
    "IBConfig",
    "run_ib",
    "IBRunResult",
    "RunFolderError",
    "Callback",
    "Checkpoint",
    "ProgressBar",
    "RunWriter",
    "FigureWriter",
    "Trainer",
    "AnalysisError",
    "load_run_config",
    "run_study",
    "plot_study",
    "StudyResult",
    "load_study",
    "StudyData",
    "load_run",
    "RunData",
]


#: Names that live in :mod:`ibscope.study` and are offered here as well (imported on first use, so that
#: ``ibscope.ib`` does not depend on the study room, which builds on it).
_STUDY_NAMES = ("run_study", "plot_study", "StudyResult", "load_study", "StudyData")


def __getattr__(name: str):
    if name in _STUDY_NAMES:
        import importlib

        return getattr(importlib.import_module("ibscope.study"), name)
    raise AttributeError(f"module 'ibscope.ib' has no attribute {name!r}")
