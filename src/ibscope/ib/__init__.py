"""Information-bottleneck analysis of noisy networks while they train.

* :class:`ActivationRecorder` - forward hooks that capture every chosen layer's
  output on a fixed probe set in one unshuffled, row-aligned pass.
* :class:`IBRecorder` - per-epoch I(X;L) and I(L;Y) with CIs and sanity flags,
  usable from any training loop (``rows = rec.on_epoch_end(model, epoch)``).
* :func:`run_ib` and :class:`IBConfig` - the built-in trainer writing a
  resumable run folder (config.json, metrics.csv, info.csv, checkpoints,
  figures).

Example
-------
>>> from ibscope.ib import IBConfig, run_ib
>>> res = run_ib(IBConfig(dataset="digits", epochs=20), out="runs/digits-s0", progress=True)  # doctest: +SKIP
"""

from .analysis import FLAG_NAMES, INFO_COLUMNS, IBRecorder, epoch_schedule, flag_rows, log_schedule
from .capture import ActivationRecorder, Activations, valid_layer_names
from .config import IBConfig
from .run import METRICS_COLUMNS, Callback, IBRunResult, RunFolderError, load_run_config, run_ib

__all__ = [
    "ActivationRecorder",
    "Activations",
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
    "load_run_config",
]
