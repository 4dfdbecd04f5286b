"""Sweeps of independent MI-estimation jobs with known ground truth, resumable and parallel.

A sweep is a grid of jobs. Each job draws ``n`` samples of a known-MI task
(:func:`ibscope.synthetic.get_task`) at one true MI, optionally compresses each
side with a pre-fitted compressor, runs one estimator, and becomes one row of
``RUN_DIR/results.csv``. Jobs are independent, so they are handed to joblib:
all local cores by default (``backend="loky"``), or a Ray or Dask cluster by
naming the backend (``backend="ray"`` / ``"dask"``, optionally with ``address``).

Run folder
----------
``RUN_DIR/sweep.json``
    The sweep configuration (plus creation time and package versions). A folder
    whose ``sweep.json`` holds a different configuration is refused and left
    untouched.
``RUN_DIR/results.csv``
    One row per finished job (see :data:`RESULT_COLUMNS`), appended as each job
    finishes: one complete line per ``write``, then ``flush`` and ``fsync``, so a
    killed sweep loses at most the jobs in flight. Re-running the same sweep skips
    the jobs whose key already has an ``ok`` row; a partial last line left by a
    kill is dropped; jobs that failed (``status == "error"``) are tried again.
    Columns: ``job_key`` (resume key), ``status`` ("ok" or "error"), the job
    (``task``, ``task_params`` JSON, ``true_mi``, ``method`` label, ``estimator``,
    ``estimator_params`` JSON, ``compress_x``/``compress_y`` spec or "none" or
    "latent", ``n``, ``seed``, ``sample_seed``), the result in nats
    (``estimate`` clipped at 0, ``raw``, ``ci_low``/``ci_high``/``ci_level``,
    ``std_err``, ``clipped``, ``dim_x``/``dim_y`` as estimated), timings
    (``time_s`` for the whole job, ``estimate_time_s``, ``compress_time_s``),
    compression (``recon_error_x``/``_y``: mean absolute reconstruction error
    per input element on the estimation sample; ``recon_error_val_x``/``_y``: on
    the compressor's validation split; ``compressor_x_file``/``_y_file``),
    ``warnings`` (joined by " | "), ``error``, package versions, ``host``,
    ``pid`` and ``finished_at`` (UTC, ISO 8601 without colons).
``RUN_DIR/.ibscope.lock``
    Held while a sweep writes the folder (:class:`ibscope.runs.FolderLock`); a
    second sweep on the same folder is refused with a message naming it.
``RUN_DIR/models/``
    Fitted compressors (``.npz`` files written by
    :meth:`ibscope.compress.BaseCompressor.save`), one per (task, compressor spec,
    seed), reused across MI points and across re-runs.

Compression follows the paper (Butakov et al., ICLR 2024): each
compressor is fitted **once**, on images rendered from *independent* latents
(``n_train``, 6000 as in the paper), never on the estimation sample, and then
applied to every MI point. When both sides have the same shape and the same
spec, one compressor serves X and Y (their marginal distributions are equal).
The row records the compressor's reconstruction error on the estimation sample
(mean absolute error per input element) and on its own validation split.

Seeds
-----
For a job with seed ``s``, the sample is drawn with a seed derived from
``(task, task parameters, true MI, n, s)``, so every method at the same point
sees the same sample (paired comparisons); the estimator gets
``random_state=s``; the compressor training images use a seed derived from
``(task, task parameters, s)`` and the compressor itself ``random_state=s``.

Modules
-------
``config`` (Method, Grid, Job, CompressorFit, SweepConfig), ``presets`` (the
built-in sweeps), ``jobs`` (the worker side: one compressor fit, one job),
``backends`` (joblib, Ray, Dask), ``runner`` (run_sweep), ``results``
(results.csv: reading and summarising).

Examples
--------
>>> from ibscope.sweep import SweepConfig, Grid, Method, run_sweep   # doctest: +SKIP
>>> cfg = SweepConfig([Grid(tasks=["bump-16"], mi=[0, 2, 4], n=[2000], seeds=[0],
...                         methods=[Method("ksg", compress_x="pca:2"), Method("ksg")])])
>>> df = run_sweep(cfg, "runs/bump", progress=True)                     # doctest: +SKIP
"""

from .backends import BACKENDS
from .config import LATENT, CompressorFit, Grid, Job, Method, SweepConfig, parse_mi_grid
from .presets import PRESETS, custom_config, get_preset, list_presets
from .results import RESULT_COLUMNS, accuracy_table, load_results, summarize
from .runner import check_run_dir, run_sweep

__all__ = [
    "BACKENDS",
    "CompressorFit",
    "Grid",
    "Job",
    "LATENT",
    "Method",
    "PRESETS",
    "RESULT_COLUMNS",
    "SweepConfig",
    "accuracy_table",
    "check_run_dir",
    "custom_config",
    "get_preset",
    "list_presets",
    "load_results",
    "parse_mi_grid",
    "run_sweep",
    "summarize",
]
