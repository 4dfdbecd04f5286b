"""Information-bottleneck analysis of noisy networks while they train.

* :class:`ActivationRecorder` - forward hooks that capture every chosen layer's
  output on a fixed probe set in one unshuffled, row-aligned pass.
* :class:`IBRecorder` - per-epoch I(X;L) and I(L;Y) with CIs and sanity flags;
  a :class:`Callback`, usable from any training loop
  (``rows = rec.on_epoch_end(model, epoch)``).
* :class:`Trainer` - the built-in loop: trains, evaluates, fires callbacks.
* :func:`run_ib` and :class:`IBConfig` - a whole run writing a resumable,
  locked run folder (config.json, metrics.csv, info.csv, checkpoints, figures).
* :func:`run_study` - one run per seed (and grid point) as independent jobs on
  local processes, Ray or Dask, with a summary over seeds; resumable.
* :func:`load_run`, :func:`load_study` - run and study folders as pandas data frames.

Modules: ``config`` (IBConfig), ``capture`` (hooks), ``recorder`` (IBRecorder),
``flags`` (sanity flags), ``schedule`` (analysed epochs), ``callbacks``
(Callback, RunWriter, Checkpoint, ProgressBar), ``trainer`` (Trainer),
``run`` (run_ib), ``study`` (run_study, load_study), ``results`` (load_run).

Example
-------
>>> from ibscope.ib import IBConfig, run_ib
>>> res = run_ib(IBConfig(dataset="digits", epochs=20), out="runs/digits-s0", progress=True)  # doctest: +SKIP
"""

from .callbacks import METRICS_COLUMNS, Callback, Checkpoint, ProgressBar, RunWriter
from .capture import ActivationRecorder, Activations, MisalignedRowsError, valid_layer_names
from .config import IBConfig
from .flags import FLAG_NAMES, flag_rows
from .recorder import INFO_COLUMNS, IBRecorder
from .results import RunData, load_run
from .run import IBRunResult, RunFolderError, load_run_config, run_ib
from .schedule import epoch_schedule, log_schedule
from .study import StudyData, StudyResult, load_study, plot_study, run_study
from .trainer import Trainer

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
    "Trainer",
    "load_run_config",
    "run_study",
    "plot_study",
    "StudyResult",
    "load_study",
    "StudyData",
    "load_run",
    "RunData",
]
