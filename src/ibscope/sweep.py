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
``RUN_DIR/models/``
    Fitted compressors (``.npz`` files written by
    :meth:`ibscope.compress.BaseCompressor.save`), one per (task, compressor spec,
    seed), reused across MI points and across re-runs.

Compression follows the paper (Butakov et al., ICLR 2024; REFERENCE.md 2.1): each
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

Examples
--------
>>> from ibscope.sweep import SweepConfig, Grid, Method, run_sweep   # doctest: +SKIP
>>> cfg = SweepConfig([Grid(tasks=["bump-16"], mi=[0, 2, 4], n=[2000], seeds=[0],
...                         methods=[Method("ksg", compress_x="pca:2"), Method("ksg")])])
>>> df = run_sweep(cfg, "runs/bump", progress=True)                     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import math
import numbers
import os
import platform
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from .runs import jsonable as _jsonable

__all__ = [
    "BACKENDS",
    "CompressorFit",
    "Grid",
    "Job",
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

#: Identifier and version of the ``sweep.json`` format.
FORMAT_NAME = "ibscope.sweep"
FORMAT_VERSION = 1

#: Accepted values of ``run_sweep(backend=...)``.
BACKENDS = ("loky", "ray", "dask", "sequential", "threading")

#: Estimators that train a critic; they take images as they are (no flattening).
NEURAL_ESTIMATORS = ("mine", "nwj", "infonce")

#: Compressor spec meaning "estimate on the true latent variables" (the paper's uncompressed reference).
LATENT = "latent"

#: Columns of ``results.csv``, in order.
RESULT_COLUMNS = (
    "job_key", "status", "task", "task_params", "true_mi", "method", "estimator", "estimator_params",
    "compress_x", "compress_y", "n", "seed", "sample_seed",
    "estimate", "raw", "units", "ci_low", "ci_high", "ci_level", "std_err", "clipped",
    "dim_x", "dim_y", "time_s", "estimate_time_s", "compress_time_s",
    "recon_error_x", "recon_error_y", "recon_error_val_x", "recon_error_val_y",
    "compressor_x_file", "compressor_y_file", "warnings", "error",
    "ibscope_version", "numpy_version", "torch_version", "sklearn_version", "python_version",
    "host", "pid", "finished_at",
)

#: Default settings of the compressors a sweep fits (overridden by ``SweepConfig.compressor_options``).
DEFAULT_COMPRESSOR_OPTIONS = {"n_train": 6000, "params": {}}


# =========================================================================== small helpers
def _canonical(obj) -> str:
    """Deterministic JSON text of ``obj`` (sorted keys, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _digest(obj, length: int = 16) -> str:
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()[:length]


def _derive_seed(*parts) -> int:
    """A 32-bit seed derived deterministically from ``parts`` (JSON-serialisable)."""
    return int(hashlib.sha256(_canonical(list(parts)).encode()).hexdigest()[:8], 16)


def _clean_mi(value) -> float:
    """Round a true-MI value so that grids written as 0.3 and 0.30000000000000004 agree."""
    return float(round(float(value), 10))


def _norm_spec(spec) -> str | None:
    """Normalise a compressor spec: None/"none"/"raw" -> None, else lower-case text."""
    if spec is None:
        return None
    if not isinstance(spec, str):
        raise TypeError(f"A compressor spec in a sweep must be a string such as 'pca:4' or None. Got {spec!r}.")
    text = spec.strip().lower()
    return None if text in ("", "none", "raw") else text


def _spec_name(spec: str) -> str:
    return spec.partition(":")[0]


def _format_params(params: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(params.items()))


# =========================================================================== configuration
@dataclasses.dataclass(frozen=True)
class Method:
    """One estimator with its parameters and the compression applied before it.

    Parameters
    ----------
    estimator : str
        Estimator name accepted by :func:`ibscope.make_estimator` ("ksg", "kl",
        "wkl", "mine", ...).
    params : dict, default={}
        Estimator parameters, e.g. ``{"k": 5}`` or ``{"critic": "conv", "max_steps": 500}``.
    compress_x : str or None, default=None
        Compressor spec for X (see :func:`ibscope.compress.parse_compressor`,
        e.g. ``"pca:2"`` or ``"conv-ae:2"``), ``None`` for raw data, or
        ``"latent"`` to estimate on the task's true latent variables.
    compress_y : str or None, default="same"
        Compressor spec for Y; ``"same"`` copies ``compress_x``.
    label : str or None, default=None
        Name used in tables and plots; built from the other fields when None,
        e.g. ``"ksg | conv-ae:2"``.
    """

    estimator: str
    params: dict = dataclasses.field(default_factory=dict)
    compress_x: str | None = None
    compress_y: str | None = "same"
    label: str | None = None

    def __post_init__(self):
        if not isinstance(self.estimator, str) or not self.estimator.strip():
            raise ValueError(f"The 'estimator' of a sweep Method must be a non-empty string. Got {self.estimator!r}.")
        if not isinstance(self.params, dict):
            raise TypeError(f"The 'params' of a sweep Method must be a dict. Got {type(self.params).__name__}.")
        object.__setattr__(self, "estimator", self.estimator.strip().lower())
        object.__setattr__(self, "params", _jsonable(dict(self.params)))
        cx = _norm_spec(self.compress_x)
        cy = cx if (isinstance(self.compress_y, str) and self.compress_y.strip().lower() == "same") \
            else _norm_spec(self.compress_y)
        if (cx == LATENT) != (cy == LATENT):
            raise ValueError(
                f"compress_x={cx!r} and compress_y={cy!r}: 'latent' (estimate on the true latents) must be "
                "used for both sides or neither."
            )
        object.__setattr__(self, "compress_x", cx)
        object.__setattr__(self, "compress_y", cy)
        if self.label is None:
            object.__setattr__(self, "label", self._auto_label())

    def _auto_label(self) -> str:
        est = self.estimator + (f"({_format_params(self.params)})" if self.params else "")
        if self.compress_x == self.compress_y:
            comp = self.compress_x or "raw"
        else:
            comp = f"{self.compress_x or 'raw'}/{self.compress_y or 'raw'}"
        return f"{est} | {comp}"

    def to_dict(self) -> dict:
        """JSON-ready dictionary (inverse of :meth:`from_dict`)."""
        return {"estimator": self.estimator, "params": dict(self.params), "compress_x": self.compress_x,
                "compress_y": self.compress_y, "label": self.label}

    @classmethod
    def from_dict(cls, d: dict) -> "Method":
        """Build a Method from a dictionary (a string is read as an estimator name)."""
        if isinstance(d, str):
            return cls(d)
        if isinstance(d, Method):
            return d
        if not isinstance(d, dict):
            raise TypeError(f"A sweep method must be a dict, a Method or an estimator name. Got {d!r}.")
        unknown = set(d) - {"estimator", "params", "compress_x", "compress_y", "compress", "label"}
        if unknown:
            raise ValueError(f"Unknown sweep method field(s) {sorted(unknown)}. Valid fields: estimator, params, "
                             "compress (both sides), compress_x, compress_y, label.")
        d = dict(d)
        if "compress" in d:
            spec = d.pop("compress")
            d.setdefault("compress_x", spec)
            d.setdefault("compress_y", spec)
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class Grid:
    """A Cartesian product of tasks x true MI values x methods x sample sizes x seeds.

    Parameters
    ----------
    tasks : sequence of str
        Task names from :func:`ibscope.synthetic.list_tasks`.
    mi : sequence of float
        True MI values in nats (>= 0).
    methods : sequence of Method, dict or str
        Estimators with their compression.
    n : sequence of int or int
        Sample sizes.
    seeds : sequence of int or int
        Seeds (one job per seed at each point; the mean and spread over seeds are plotted).
    task_params : dict, default={}
        Extra parameters passed to every task, e.g. ``{"dim_x": 2, "dim_y": 2}``.
    """

    tasks: tuple
    mi: tuple
    methods: tuple
    n: tuple
    seeds: tuple
    task_params: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        def as_tuple(v):
            return (v,) if isinstance(v, (str, numbers.Number)) else tuple(v)

        object.__setattr__(self, "tasks", tuple(str(t) for t in as_tuple(self.tasks)))
        object.__setattr__(self, "mi", tuple(_clean_mi(m) for m in as_tuple(self.mi)))
        object.__setattr__(self, "methods", tuple(Method.from_dict(m) for m in as_tuple(self.methods)))
        for name in ("n", "seeds"):
            vals = as_tuple(getattr(self, name))
            for v in vals:
                if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < (1 if name == "n" else 0):
                    raise ValueError(
                        f"The '{name}' values of a sweep grid must be {'positive' if name == 'n' else 'non-negative'} "
                        f"integers. Got {v!r}."
                    )
            object.__setattr__(self, name, tuple(int(v) for v in vals))
        for m in self.mi:
            if not math.isfinite(m) or m < 0:
                raise ValueError(f"The true MI values of a sweep grid must be finite and >= 0 nats. Got {m!r}.")
        for name in ("tasks", "mi", "methods", "n", "seeds"):
            if not getattr(self, name):
                raise ValueError(f"The '{name}' list of a sweep grid is empty.")
        labels = [m.label for m in self.methods]
        dup = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dup:
            raise ValueError(f"Two methods of a sweep grid share the label(s) {dup}; give them distinct labels.")
        object.__setattr__(self, "task_params", _jsonable(dict(self.task_params or {})))

    def to_dict(self) -> dict:
        """JSON-ready dictionary (inverse of :meth:`from_dict`)."""
        return {"tasks": list(self.tasks), "task_params": dict(self.task_params), "mi": list(self.mi),
                "n": list(self.n), "seeds": list(self.seeds), "methods": [m.to_dict() for m in self.methods]}

    @classmethod
    def from_dict(cls, d: dict) -> "Grid":
        """Build a Grid from a dictionary with the constructor's keys."""
        if isinstance(d, Grid):
            return d
        unknown = set(d) - {"tasks", "task_params", "mi", "n", "seeds", "methods"}
        if unknown:
            raise ValueError(f"Unknown sweep grid field(s) {sorted(unknown)}. "
                             "Valid fields: tasks, task_params, mi, n, seeds, methods.")
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class Job:
    """One estimation: a task at one true MI, one method, one sample size, one seed."""

    task: str
    task_params: dict
    mi: float
    method: Method
    n: int
    seed: int

    @property
    def key(self) -> str:
        """Stable identifier (16 hex digits) of the job; the resume key in ``results.csv``."""
        return _digest({"task": self.task, "task_params": self.task_params, "mi": self.mi,
                        "method": self.method.to_dict(), "n": self.n, "seed": self.seed})

    @property
    def sample_seed(self) -> int:
        """Seed of the estimation sample; equal for every method at the same point."""
        return _derive_seed("sample", self.task, self.task_params, self.mi, self.n, self.seed)

    @property
    def neural(self) -> bool:
        return self.method.estimator in NEURAL_ESTIMATORS

    def cost_rank(self) -> int:
        """Rough cost class used to start the longest jobs first (larger = slower)."""
        if self.neural:
            return 3
        if self.method.compress_x is None or self.method.compress_y is None:
            return 2
        return 1


@dataclasses.dataclass(frozen=True)
class CompressorFit:
    """A compressor to fit once and reuse: (task, spec, side, seed) plus training settings."""

    task: str
    task_params: dict
    spec: str
    side: str  # "xy" (shared by both sides), "x" or "y"
    seed: int
    n_train: int
    params: dict

    @property
    def key(self) -> str:
        return _digest({"task": self.task, "task_params": self.task_params, "spec": self.spec, "side": self.side,
                        "seed": self.seed, "n_train": self.n_train, "params": self.params})

    @property
    def filename(self) -> str:
        spec = self.spec.replace(":", "-")
        return f"{self.task}__{spec}__{self.side}__seed{self.seed}__{self.key[:8]}.npz"

    @property
    def train_seed(self) -> int:
        """Seed of the independent-latent training images (shared by every spec of a task and seed)."""
        return _derive_seed("compressor-train", self.task, self.task_params, self.seed)


class SweepConfig:
    """A sweep: one or more :class:`Grid` s plus the settings of the compressors to fit.

    Parameters
    ----------
    grids : sequence of Grid or dict
        The job grids; the sweep runs the union of their jobs.
    name : str, default="custom"
        Name stored in ``sweep.json`` (presets use their own name).
    compressor_options : dict or None
        ``{"n_train": int, "params": {spec name: {parameter: value}}}``: the number
        of independent training images per compressor (default 6000, as in the
        paper) and constructor parameters per compressor kind, e.g.
        ``{"conv-ae": {"epochs": 60, "lr": 3e-3}}``.
    description : str, default=""
        Free text stored in ``sweep.json`` (not compared on resume).

    Examples
    --------
    >>> cfg = SweepConfig([Grid(tasks="gaussian", mi=[0, 1], methods=["ksg"], n=300, seeds=0)])
    >>> len(cfg.jobs())
    2
    """

    def __init__(self, grids, *, name: str = "custom", compressor_options: dict | None = None,
                 description: str = ""):
        if isinstance(grids, (Grid, dict)):
            grids = [grids]
        self.grids = tuple(Grid.from_dict(g) for g in grids)
        if not self.grids:
            raise ValueError("A sweep needs at least one grid.")
        self.name = str(name)
        self.description = str(description)
        opts = {"n_train": DEFAULT_COMPRESSOR_OPTIONS["n_train"], "params": {}}
        for key, value in (compressor_options or {}).items():
            if key not in opts:
                raise ValueError(f"Unknown compressor option {key!r}. Valid options: n_train, params.")
            opts[key] = value
        n_train = opts["n_train"]
        if isinstance(n_train, bool) or not isinstance(n_train, numbers.Integral) or n_train < 2:
            raise ValueError(f"compressor_options['n_train'] must be an integer >= 2. Got {n_train!r}.")
        if not isinstance(opts["params"], dict):
            raise TypeError("compressor_options['params'] must be a dict {spec name: {parameter: value}}.")
        self.compressor_options = _jsonable({"n_train": int(n_train), "params": dict(opts["params"])})

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """The configuration compared on resume (the description is excluded from the comparison)."""
        return {"name": self.name, "grids": [g.to_dict() for g in self.grids],
                "compressor_options": self.compressor_options}

    @classmethod
    def from_dict(cls, d: dict) -> "SweepConfig":
        """Inverse of :meth:`to_dict`."""
        return cls(d["grids"], name=d.get("name", "custom"), compressor_options=d.get("compressor_options"),
                   description=d.get("description", ""))

    def __repr__(self) -> str:
        return f"SweepConfig(name={self.name!r}, grids={len(self.grids)}, jobs={len(self.jobs())})"

    # ------------------------------------------------------------ expansion
    def jobs(self) -> list[Job]:
        """All jobs of the sweep, without duplicates, in grid order."""
        seen, out = set(), []
        for g in self.grids:
            for task in g.tasks:
                for mi in g.mi:
                    for method in g.methods:
                        for n in g.n:
                            for seed in g.seeds:
                                job = Job(task, dict(g.task_params), mi, method, n, seed)
                                if job.key not in seen:
                                    seen.add(job.key)
                                    out.append(job)
        return out

    def _compressor_params(self, spec: str) -> dict:
        return dict(self.compressor_options["params"].get(_spec_name(spec), {}))

    def compressor_fits(self, job: Job) -> dict:
        """``{"x": CompressorFit or None, "y": ...}`` for a job (``None`` for raw data or latents)."""
        cx, cy = job.method.compress_x, job.method.compress_y
        out = {"x": None, "y": None}
        if cx in (None, LATENT) and cy in (None, LATENT):
            return out
        shared = cx == cy and _task_shapes(job.task, job.task_params)[0] == _task_shapes(job.task, job.task_params)[1]
        for side, spec in (("x", cx), ("y", cy)):
            if spec is None or spec == LATENT:
                continue
            out[side] = CompressorFit(job.task, dict(job.task_params), spec, "xy" if shared else side, job.seed,
                                      self.compressor_options["n_train"], self._compressor_params(spec))
        return out

    def validate(self) -> None:
        """Check every task, estimator and compressor spec; raise ``ValueError`` naming the bad one.

        Nothing is fitted or estimated; the checks only build the objects.
        """
        from .api import make_estimator
        from .compress import parse_compressor
        from .synthetic import get_task, list_tasks

        for g in self.grids:
            for task in g.tasks:
                if task not in list_tasks():
                    raise ValueError(f"Unknown task {task!r}. Valid task names: {', '.join(list_tasks())}.")
                t = get_task(task, mi=g.mi[0], **g.task_params)
                if t.y_discrete:
                    raise ValueError(f"The task {task!r} has discrete labels Y; sweeps support continuous tasks only.")
            for m in g.methods:
                make_estimator(m.estimator, **m.params)
                for spec in (m.compress_x, m.compress_y):
                    if spec not in (None, LATENT):
                        comp = parse_compressor(spec)
                        params = self._compressor_params(spec)
                        if params:
                            comp.set_params(**params)


_SHAPES: dict = {}


def _task_shapes(task: str, task_params: dict) -> tuple:
    key = (task, _canonical(task_params))
    if key not in _SHAPES:
        from .synthetic import get_task

        t = get_task(task, mi=0.0, **task_params)
        _SHAPES[key] = (t.shape_x, t.shape_y)
    return _SHAPES[key]


# =========================================================================== presets
def parse_mi_grid(text) -> list[float]:
    """Parse a true-MI grid: ``"0:5:11"`` (start:stop:count, like ``numpy.linspace``), ``"0,1,2.5"`` or ``"3"``.

    Parameters
    ----------
    text : str or sequence of float

    Returns
    -------
    list of float
        MI values in nats.

    Raises
    ------
    ValueError
        For malformed text, a count < 1, or negative values.
    """
    if not isinstance(text, str):
        return [_clean_mi(v) for v in text]
    s = text.strip()
    try:
        if ":" in s:
            parts = s.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 1:
                raise ValueError
            values = np.linspace(start, stop, count).tolist()
        else:
            values = [float(v) for v in s.split(",") if v.strip()]
            if not values:
                raise ValueError
    except ValueError:
        raise ValueError(
            f"Cannot read the true-MI grid {text!r}. Write start:stop:count (e.g. 0:5:11, like numpy.linspace) "
            "or a comma-separated list (e.g. 0,1,2.5), in nats."
        ) from None
    if any(v < 0 or not math.isfinite(v) for v in values):
        raise ValueError(f"True MI values must be finite and >= 0 nats. Got {text!r}.")
    return [_clean_mi(v) for v in values]


def _mine_params(steps: int) -> dict:
    return {"critic": "conv", "conv_channels": [8, 16, 16], "hidden_sizes": [64], "max_steps": steps,
            "batch_size": 256, "eval_every": 50, "patience": 10, "lr": 1e-3}


#: KSG on raw pixels (256-D and more): brute-force neighbour search (a KD-tree does not prune in 256-D).
_RAW_KSG = {"backend": "torch"}

#: conv-AE settings of the presets: Adam with lr 3e-3, early stopping on a 10 % validation split. On
#: 16x16 bumps 60 epochs give a reconstruction error of ~0.019 per pixel and codes on which KSG/WKL track
#: the true MI to ~5 nats (about 4-5 minutes on one CPU core).
_PRESET_AE = {"epochs": 60, "lr": 3e-3, "batch_size": 256, "patience": 15}


def _paper() -> SweepConfig:
    mi = np.linspace(0.0, 10.0, 41).tolist()
    seeds = [0, 1, 2]
    knn = ("kl", "wkl", "ksg")
    bump = [Method(e, compress_x="conv-ae:2") for e in knn] + [Method(e, compress_x="pca:2") for e in knn] \
        + [Method("ksg", compress_x=LATENT), Method("ksg", _RAW_KSG, label="ksg | raw"),
           Method("mine", _mine_params(3000), label="mine | raw")]
    rect = [Method(e, compress_x="pca:4") for e in knn] + [Method(e, compress_x="conv-ae:4") for e in knn] \
        + [Method("ksg", compress_x=LATENT), Method("ksg", _RAW_KSG, label="ksg | raw"),
           Method("mine", _mine_params(3000), label="mine | raw")]
    return SweepConfig(
        [Grid(tasks=["bump-16"], mi=mi, methods=bump, n=[5000], seeds=seeds),
         Grid(tasks=["rectangle-32"], mi=mi, methods=rect, n=[5000], seeds=seeds)],
        name="paper",
        compressor_options={"n_train": 6000, "params": {"conv-ae": {**_PRESET_AE, "epochs": 200, "patience": 20}}},
        description="Butakov et al. (ICLR 2024) Figs. 3-4: 16x16 Gaussian bumps (conv AE and PCA to 2-D) and "
                    "32x32 rectangles (PCA and conv AE to 4-D); KL, WKL, KSG on the codes, KSG on the true "
                    "latents, MINE on raw images; true MI linspace(0, 10, 41), n=5000, 3 seeds.",
    )


def _paper_reduced() -> SweepConfig:
    codes = [Method("ksg", compress_x="conv-ae:2"), Method("wkl", compress_x="conv-ae:2"),
             Method("ksg", compress_x="pca:2"), Method("ksg", compress_x=LATENT)]
    raw = [Method("ksg", _RAW_KSG, label="ksg | raw"), Method("mine", _mine_params(600), label="mine | raw")]
    return SweepConfig(
        [Grid(tasks=["bump-16"], mi=np.linspace(0.0, 6.0, 13).tolist(), methods=codes, n=[5000], seeds=[0]),
         Grid(tasks=["bump-16"], mi=np.linspace(0.0, 6.0, 7).tolist(), methods=raw, n=[5000], seeds=[0])],
        name="paper-reduced", compressor_options={"n_train": 6000, "params": {"conv-ae": dict(_PRESET_AE)}},
        description="A reduced version of the paper's bump experiment for 2 CPU cores (about 15-20 minutes): "
                    "16x16 Gaussian bumps, n=5000, 1 seed; KSG and WKL on conv-AE:2 codes, KSG on PCA:2 codes "
                    "and on the true latents at true MI 0..6 in 13 points; KSG on raw pixels and MINE (conv "
                    "critic, 600 steps) on raw images at 0..6 in 7 points.",
    )


def _smoke() -> SweepConfig:
    return SweepConfig(
        [Grid(tasks=["gaussian"], task_params={"dim_x": 2, "dim_y": 2}, mi=[0.0, 1.0, 2.0],
              methods=[Method("ksg"), Method("kl")], n=[300], seeds=[0]),
         Grid(tasks=["bump-16"], mi=[0.0, 2.0], methods=[Method("ksg", compress_x="pca:2"), Method("ksg")],
              n=[300], seeds=[0])],
        name="smoke", compressor_options={"n_train": 300, "params": {}},
        description="A few seconds: KSG and KL on 2+2-D Gaussians, KSG on PCA codes and raw pixels of 16x16 bumps.",
    )


#: name -> (builder, one-line description with the runtime estimate)
PRESETS = {
    "paper": (_paper, "the paper's synthetic-image figures: bump-16 (conv-AE:2, PCA:2) and rectangle-32 (PCA:4, "
                      "conv-AE:4) x {KL, WKL, KSG}, plus KSG on the latents and on raw pixels and MINE (3000 steps) "
                      "on raw images; MI 0..10 in 41 points, n=5000, 3 seeds; 2214 jobs, about 39 CPU core-hours "
                      "(~20 h on 2 cores, ~1.5 h on 32), 85 % of it the 246 MINE runs"),
    "paper-reduced": (_paper_reduced, "bump-16, n=5000, 1 seed: KSG/WKL on conv-AE:2 codes, KSG on PCA:2 codes "
                                      "and latents at MI 0..6 (13 points), KSG on raw pixels and MINE (600 steps) "
                                      "on raw images (7 points); 66 jobs, about 15-20 minutes on 2 CPU cores"),
    "smoke": (_smoke, "a few seconds: KSG/KL on 2+2-D Gaussians, KSG on PCA codes and raw 16x16 bumps, n=300"),
}


def list_presets() -> list[str]:
    """Names of the built-in sweep presets, sorted."""
    return sorted(PRESETS)


def get_preset(name: str) -> SweepConfig:
    """Build a built-in sweep configuration.

    Parameters
    ----------
    name : {"paper", "paper-reduced", "smoke"}

    Returns
    -------
    SweepConfig

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"Unknown sweep preset {name!r}. Valid presets: {', '.join(list_presets())}.")
    return PRESETS[name][0]()


def custom_config(tasks, mi, estimators, *, compress=(None,), n=(5000,), seeds=(0,), estimator_params=None,
                  task_params=None, compressor_options=None) -> SweepConfig:
    """Build a one-grid sweep: every estimator with every compression.

    Parameters
    ----------
    tasks : str or sequence of str
    mi : str or sequence of float
        True MI values in nats, or a grid text for :func:`parse_mi_grid`.
    estimators : str or sequence of str
    compress : str, None or sequence of them, default=(None,)
        Compressor specs applied to both sides ("none" or None for raw data,
        "latent" for the true latents).
    n, seeds : int or sequence of int
    estimator_params : dict or None
        Parameters given to every estimator.
    task_params : dict or None
    compressor_options : dict or None
        See :class:`SweepConfig`.

    Returns
    -------
    SweepConfig
    """
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t.strip()]
    if isinstance(estimators, str):
        estimators = [e for e in estimators.split(",") if e.strip()]
    if compress is None or isinstance(compress, str):
        compress = [compress]
    methods = [Method(e, dict(estimator_params or {}), compress_x=c) for c in compress for e in estimators]
    grid = Grid(tasks=tasks, mi=parse_mi_grid(mi), methods=methods, n=n, seeds=seeds, task_params=task_params or {})
    return SweepConfig([grid], name="custom", compressor_options=compressor_options)


# =========================================================================== environment
def _versions() -> dict:
    """Versions of the packages that shape the numbers (read from metadata: nothing heavy is imported)."""
    from importlib import metadata

    from . import __version__

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {"ibscope_version": __version__, "numpy_version": np.__version__, "torch_version": version("torch"),
            "sklearn_version": version("scikit-learn"), "python_version": platform.python_version()}


def _now() -> str:
    """UTC time in ISO 8601 without colons (STYLE.md section 9), e.g. ``2026-01-31T120501Z``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")


def _limit_threads(n_threads: int | None, torch_needed: bool = False) -> None:
    """Limit torch and numba threads in this (worker) process; BLAS is limited by the caller.

    torch is imported only when the work needs it (neural estimators, autoencoders) or is
    already loaded, so kNN-only jobs do not pay for the import.
    """
    if not n_threads:
        return
    if torch_needed or "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != n_threads:
            torch.set_num_threads(n_threads)
    try:
        import numba

        numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
    except Exception:  # numba missing or its thread pool fixed: leave it
        pass


@contextlib.contextmanager
def _thread_limits(n_threads: int | None, torch_needed: bool = False):
    _limit_threads(n_threads, torch_needed)
    if not n_threads:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpool_limits(limits=n_threads):
        yield


def _uses_torch(spec: str | None) -> bool:
    return spec is not None and _spec_name(spec) in _TORCH_COMPRESSORS


#: compressor spec names backed by torch networks (and their aliases)
_TORCH_COMPRESSORS = ("ae", "conv-ae", "dense-ae", "autoencoder", "cae", "conv_ae")


# =========================================================================== worker side
_LOADED: dict = {}


def _load_blob(blob: bytes):
    """Load a compressor from the bytes of its ``.npz`` file (cached per worker process)."""
    digest = hashlib.sha256(blob).hexdigest()
    if digest not in _LOADED:
        from .compress import load_compressor

        with tempfile.TemporaryDirectory(prefix="ibscope-sweep-") as tmp:
            path = os.path.join(tmp, "compressor.npz")
            with open(path, "wb") as fh:
                fh.write(blob)
            comp = load_compressor(path)
        if len(_LOADED) > 32:
            _LOADED.clear()
        _LOADED[digest] = comp
    return _LOADED[digest]


def _fit_compressor(fit: CompressorFit, n_threads: int | None) -> dict:
    """Fit one compressor on independent-latent samples; return its saved bytes and a summary."""
    from .compress import parse_compressor
    from .synthetic import get_task

    with _thread_limits(n_threads, _uses_torch(fit.spec)):
        t0 = time.perf_counter()
        task = get_task(fit.task, mi=0.0, **fit.task_params)
        x, y = task.sample(fit.n_train, random_state=fit.train_seed)
        data = y if fit.side == "y" else x
        comp = parse_compressor(fit.spec, random_state=fit.seed)
        if fit.params:
            comp.set_params(**fit.params)
        comp.fit(data)
        with tempfile.TemporaryDirectory(prefix="ibscope-sweep-") as tmp:
            path = os.path.join(tmp, "compressor.npz")
            comp.save(path)
            blob = Path(path).read_bytes()
        err = getattr(comp, "reconstruction_error_", None) or {}
        return {"blob": blob, "time_s": time.perf_counter() - t0,
                "recon_train": err.get("train"), "recon_val": err.get("val"),
                "n_epochs": getattr(comp, "n_epochs_", None)}


def _recon_error(comp, data, codes) -> float | None:
    inv = getattr(comp, "inverse_transform", None)
    if not callable(inv):
        return None
    try:
        rec = np.asarray(inv(codes), dtype=np.float64).reshape(len(data), -1)
        return float(np.mean(np.abs(rec - np.asarray(data, dtype=np.float64).reshape(len(data), -1))))
    except Exception:
        return None


def _fmt(value) -> str:
    """CSV text of one value: full-precision floats, empty for None/NaN, no line breaks."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return "" if math.isnan(v) else repr(v)
    if isinstance(value, (dict, list, tuple)):
        value = _canonical(_jsonable(value))
    return str(value).replace("\r", " ").replace("\n", " ")


def _base_row(job: Job) -> dict:
    m = job.method
    return {
        "job_key": job.key, "task": job.task, "task_params": _canonical(job.task_params), "true_mi": job.mi,
        "method": m.label, "estimator": m.estimator, "estimator_params": _canonical(m.params),
        "compress_x": m.compress_x or "none", "compress_y": m.compress_y or "none", "n": job.n, "seed": job.seed,
        "sample_seed": job.sample_seed, "units": "nats",
    }


def _run_job(job: Job, blobs: dict, n_threads: int | None, fit_info: dict) -> dict:
    """Run one estimation job; never raises (failures become ``status="error"`` rows)."""
    row = _base_row(job)
    t0 = time.perf_counter()
    try:
        torch_needed = job.neural or _uses_torch(job.method.compress_x) or _uses_torch(job.method.compress_y)
        with _thread_limits(n_threads, torch_needed):
            row.update(_estimate(job, blobs, fit_info))
        row["status"] = "ok"
    except Exception as exc:  # keep the sweep going; the row says what failed
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
        row["status"] = "error"
        row["error"] = f"{type(exc).__name__}: {exc}{where}"
    row["time_s"] = time.perf_counter() - t0
    row.update(_versions())
    row["host"] = socket.gethostname()
    row["pid"] = os.getpid()
    row["finished_at"] = _now()
    return row


def _estimate(job: Job, blobs: dict, fit_info: dict) -> dict:
    from .api import make_estimator
    from .synthetic import get_task

    task = get_task(job.task, mi=job.mi, **job.task_params)
    m = job.method
    out: dict[str, Any] = {}
    if m.compress_x == LATENT:
        x, y = task.sample_latents(job.n, random_state=job.sample_seed)
    else:
        x, y = task.sample(job.n, random_state=job.sample_seed)
    t_comp = time.perf_counter()
    for side, spec in (("x", m.compress_x), ("y", m.compress_y)):
        blob = blobs.get(side)
        if blob is None:
            continue
        comp = _load_blob(blob)
        data = x if side == "x" else y
        codes = np.asarray(comp.transform(data), dtype=np.float64)
        if codes.ndim == 1:
            codes = codes[:, None]
        out[f"recon_error_{side}"] = _recon_error(comp, data, codes)
        info = fit_info.get(side) or {}
        out[f"recon_error_val_{side}"] = info.get("recon_val")
        out[f"compressor_{side}_file"] = info.get("file")
        if side == "x":
            x = codes
        else:
            y = codes
    out["compress_time_s"] = time.perf_counter() - t_comp
    if not job.neural:
        # kNN and closed-form estimators take (n, d) rows: flatten images
        x = np.asarray(x).reshape(len(x), -1)
        y = np.asarray(y).reshape(len(y), -1)
    est = make_estimator(m.estimator, random_state=job.seed, **m.params)
    t_est = time.perf_counter()
    res = est.estimate(x, y)
    out["estimate_time_s"] = time.perf_counter() - t_est
    warnings = list(res.warnings)
    if blobs.get("x") is not None or blobs.get("y") is not None:
        warnings.append("compressed estimate: a lower bound of I(X;Y) by the data-processing inequality")
    out.update({
        "estimate": res.value, "raw": res.raw_value, "units": res.units, "ci_low": res.ci_low,
        "ci_high": res.ci_high, "ci_level": res.ci_level, "std_err": res.std_err, "clipped": res.clipped,
        "dim_x": res.dim_x, "dim_y": res.dim_y, "warnings": " | ".join(str(w) for w in warnings),
    })
    return out


def _execute(item: tuple, n_threads: int | None):
    """Worker entry point: ``("fit", CompressorFit)`` or ``("job", Job, blobs, fit_info)``."""
    kind = item[0]
    if kind == "fit":
        fit = item[1]
        try:
            return ("fit", fit, _fit_compressor(fit, n_threads), None)
        except Exception as exc:
            return ("fit", fit, None, f"{type(exc).__name__}: {exc}")
    _, job, blobs, fit_info = item
    return ("job", job, _run_job(job, blobs, n_threads, fit_info), None)


# =========================================================================== run folder
def check_run_dir(config, out) -> int:
    """Check that ``out`` can hold ``config``'s sweep, without modifying anything.

    Parameters
    ----------
    config : SweepConfig
    out : str or os.PathLike

    Returns
    -------
    int
        Number of jobs already finished there (0 for a new folder).

    Raises
    ------
    ValueError
        If ``out`` holds a different sweep or a foreign ``results.csv``.
    OSError
        If ``out`` is a file.
    """
    out = Path(out)
    if not _check_folder(out, config):
        return 0
    try:
        done = set(load_results(out)["job_key"])
    except FileNotFoundError:
        return 0
    return len(done & {j.key for j in config.jobs()})


def _check_folder(out: Path, config: SweepConfig) -> bool:
    """Check ``out`` against ``config`` without modifying it; return whether it already holds this sweep."""
    cfg_path, res_path = out / "sweep.json", out / "results.csv"
    if out.exists() and not out.is_dir():
        raise OSError(f"The output folder {str(out)!r} is a file, not a folder. Pass another --out.")
    if cfg_path.exists():
        try:
            stored = json.loads(cfg_path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"Cannot read {str(cfg_path)!r} ({exc}); it is not an ibscope sweep file. "
                             "Pass another output folder.") from None
        if not isinstance(stored, dict) or stored.get("format") != FORMAT_NAME:
            raise ValueError(f"{str(cfg_path)!r} is not an ibscope sweep file. Pass another output folder.")
        old = stored.get("config")
        new = _jsonable(config.to_dict())
        if old != new:
            diffs = _diff(old, new)
            raise ValueError(
                f"The folder {str(out)!r} holds results of a different sweep configuration "
                f"(differences: {', '.join(diffs[:5])}{', ...' if len(diffs) > 5 else ''}). "
                "It was left unchanged; pass another output folder, or delete this one to start over."
            )
        return True
    if res_path.exists():
        raise ValueError(
            f"The folder {str(out)!r} has a results.csv but no sweep.json, so it was not written by this sweep. "
            "It was left unchanged; pass another output folder."
        )
    return False


def _diff(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (u, v) in enumerate(zip(a, b)):
            out += _diff(u, v, f"{path}[{i}]")
        return out
    return [] if a == b else [path or "(root)"]


def _ensure_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OSError(f"The output folder {str(out)!r} is not writable ({reason}). Pass another output folder."
                      ) from None


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_json_atomic(path: Path, obj) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".ibscope-", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _umask_mode())
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _header_line() -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(RESULT_COLUMNS)
    return buf.getvalue()


def _row_line(row: dict) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_fmt(row.get(c)) for c in RESULT_COLUMNS])
    return buf.getvalue()


def _repair_results(path: Path) -> set:
    """Drop a partial last line, check the header, and return the keys of finished (``ok``) jobs."""
    if not path.exists() or path.stat().st_size == 0:
        with open(path, "w", newline="") as fh:
            fh.write(_header_line())
            fh.flush()
            os.fsync(fh.fileno())
        return set()
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())
        data = data[:cut]
        if cut == 0:
            return _repair_results(path)
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if tuple(header or ()) != RESULT_COLUMNS:
        raise ValueError(
            f"{str(path)!r} does not have the columns this version of ibscope writes "
            f"(expected {len(RESULT_COLUMNS)} columns starting with {', '.join(RESULT_COLUMNS[:3])}). "
            "Pass another output folder."
        )
    done = set()
    i_key, i_status = RESULT_COLUMNS.index("job_key"), RESULT_COLUMNS.index("status")
    for fields in reader:
        if len(fields) == len(RESULT_COLUMNS) and fields[i_status] == "ok":
            done.add(fields[i_key])
    return done


@contextlib.contextmanager
def _folder_lock(out: Path):
    """Hold an exclusive lock on ``out/.sweep.lock`` so two sweeps never append to one file."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    fh = open(out / ".sweep.lock", "w")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OSError(f"Another sweep is writing to {str(out)!r} (its lock file .sweep.lock is held). "
                          "Wait for it to finish or pass another output folder.") from None
        yield
    finally:
        fh.close()


# =========================================================================== backends
@contextlib.contextmanager
def _backend(backend: str, n_jobs: int | None, address: str | None):
    """Yield ``(joblib backend name, n_jobs, threads per job)`` with the cluster set up and torn down."""
    import joblib

    if backend not in BACKENDS:
        raise ValueError(f"Unknown sweep backend {backend!r}. Valid backends: {', '.join(BACKENDS)}.")
    cpus = os.cpu_count() or 1
    if backend in ("loky", "threading", "sequential"):
        if address is not None:
            raise ValueError(f"The 'address' option is for backend='ray' or 'dask', not {backend!r}.")
        workers = 1 if backend == "sequential" else int(joblib.effective_n_jobs(n_jobs if n_jobs else -1))
        yield backend, (1 if backend == "sequential" else workers), max(1, cpus // max(workers, 1))
        return
    if backend == "ray":
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError:
            raise ImportError("backend='ray' needs Ray: pip install 'ibscope[ray]' (or pip install ray).") from None
        started = False
        if not ray.is_initialized():
            kwargs = {"address": address} if address else {"num_cpus": n_jobs if n_jobs and n_jobs > 0 else None,
                                                           "include_dashboard": False}
            ray.init(log_to_driver=False, **kwargs)
            started = True
        register_ray()
        try:
            yield "ray", (n_jobs if n_jobs else -1), 1
        finally:
            if started:
                ray.shutdown()
        return
    # dask
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("backend='dask' needs dask.distributed: pip install 'ibscope[dask]' "
                          "(or pip install 'dask[distributed]').") from None
    client = cluster = None
    try:
        if address:
            client = Client(address)
        else:
            try:
                from distributed import get_client

                get_client()  # a client already exists in this process: use it
            except ValueError:
                cluster = LocalCluster(n_workers=n_jobs if n_jobs and n_jobs > 0 else cpus, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
                client = Client(cluster)
        yield "dask", -1, 1
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _parallel_map(items: list, backend_name: str, n_jobs: int, n_threads: int):
    """Yield ``_execute(item)`` results as they finish (any order)."""
    import joblib

    if not items:
        return
    if backend_name == "sequential" or n_jobs == 1 and backend_name in ("loky", "threading"):
        for item in items:
            yield _execute(item, n_threads)
        return
    config = {"backend": backend_name, "n_jobs": n_jobs}
    if backend_name == "loky":
        config["inner_max_num_threads"] = n_threads
    with joblib.parallel_config(**config):
        try:
            par = joblib.Parallel(return_as="generator_unordered", batch_size=1, pre_dispatch="2*n_jobs")
            results = par(joblib.delayed(_execute)(item, n_threads) for item in items)
        except ValueError as exc:
            if "does not support return_as" not in str(exc):
                raise
            results = None
        if results is not None:
            yield from results
            return
        # Backends without result streaming (Ray's joblib backend): run in rounds of a few jobs per
        # worker, so that rows are still written as each round finishes.
        size = max(2 * int(joblib.effective_n_jobs(n_jobs)), 2)
        par = joblib.Parallel(return_as="list", batch_size=1)
        for start in range(0, len(items), size):
            yield from par(joblib.delayed(_execute)(item, n_threads) for item in items[start:start + size])


# =========================================================================== driver
def run_sweep(config, out, *, backend: str = "loky", n_jobs: int | None = None, address: str | None = None,
              progress: bool = False, threads_per_job: int | None = None):
    """Run (or resume) a sweep and write its results into the folder ``out``.

    Parameters
    ----------
    config : SweepConfig, dict or str
        The sweep; a dict is read with :meth:`SweepConfig.from_dict`, a string
        names a preset (:func:`list_presets`).
    out : str or os.PathLike
        Run folder (created if missing). If it already holds this sweep, finished
        jobs are skipped; if it holds a different sweep, ``ValueError`` is raised
        and the folder is left unchanged.
    backend : {"loky", "ray", "dask", "sequential", "threading"}, default="loky"
        joblib backend. "loky" uses local processes; "ray" runs on a Ray cluster
        (``ray.util.joblib``; a local one is started if Ray is not initialised and
        no ``address`` is given); "dask" uses a ``dask.distributed`` client (a
        local cluster when no ``address`` is given and no client exists);
        "sequential" runs in this process (debugging, tests).
    n_jobs : int or None, default=None
        Parallel jobs; ``None`` or ``-1`` uses every core (or every cluster CPU).
    address : str or None, default=None
        Cluster address for "ray" (e.g. ``"ray://head:10001"`` or ``"auto"``) or
        "dask" (e.g. ``"tcp://scheduler:8786"``).
    progress : bool, default=False
        Show tqdm bars over compressor fits and jobs.
    threads_per_job : int or None, default=None
        Threads each job may use (torch, numba, BLAS); ``None`` gives each of the
        parallel jobs an equal share of the local cores (1 on clusters).

    Returns
    -------
    pandas.DataFrame
        Every ``ok`` row of ``results.csv`` (see :func:`load_results`).

    Raises
    ------
    ValueError
        Unknown task, estimator, compressor or backend names; a folder holding a
        different sweep.
    OSError
        An output folder that cannot be created or written, or is locked by a
        running sweep.
    ImportError
        ``backend="ray"`` or ``"dask"`` without the package installed.

    Notes
    -----
    Jobs that raise are recorded as ``status="error"`` rows with the message and
    retried on the next run; :func:`load_results` drops them by default.
    """
    if isinstance(config, str):
        config = get_preset(config)
    elif isinstance(config, dict):
        config = SweepConfig.from_dict(config)
    elif not isinstance(config, SweepConfig):
        raise TypeError(f"The 'config' argument of run_sweep must be a SweepConfig, a dict or a preset name. "
                        f"Got {type(config).__name__}.")
    if backend not in BACKENDS:
        raise ValueError(f"Unknown sweep backend {backend!r}. Valid backends: {', '.join(BACKENDS)}.")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0):
        raise ValueError(f"The 'n_jobs' argument must be a non-zero int or None. Got {n_jobs!r}.")
    if threads_per_job is not None and (not isinstance(threads_per_job, numbers.Integral) or threads_per_job < 1):
        raise ValueError(f"The 'threads_per_job' argument must be a positive int or None. Got {threads_per_job!r}.")
    config.validate()
    out = Path(out)
    exists = _check_folder(out, config)
    _ensure_writable(out)
    with _folder_lock(out):
        if not exists:
            _write_json_atomic(out / "sweep.json", {
                "format": FORMAT_NAME, "version": FORMAT_VERSION, "config": _jsonable(config.to_dict()),
                "description": config.description, "created": _now(), "n_jobs_total": len(config.jobs()),
                "environment": {**_versions(), "host": socket.gethostname(), "cpu_count": os.cpu_count()},
            })
        results_path = out / "results.csv"
        done = _repair_results(results_path)
        jobs = config.jobs()
        pending = [j for j in jobs if j.key not in done]
        pending.sort(key=lambda j: -j.cost_rank())  # stable: slow jobs first, grid order otherwise
        with _backend(backend, n_jobs, address) as (backend_name, workers, auto_threads):
            n_threads = threads_per_job or auto_threads
            _drive(config, out, pending, len(jobs), len(jobs) - len(pending), backend_name, workers, n_threads,
                   progress)
    return load_results(out)


def _drive(config: SweepConfig, out: Path, pending: list, total: int, n_done: int, backend_name: str,
           workers: int, n_threads: int, progress: bool) -> None:
    from tqdm.auto import tqdm

    models = out / "models"
    fits: dict[str, CompressorFit] = {}
    needs: dict[str, dict] = {}
    for job in pending:
        sides = config.compressor_fits(job)
        needs[job.key] = sides
        for fit in sides.values():
            if fit is not None:
                fits[fit.key] = fit
    blobs: dict[str, bytes] = {}
    infos: dict[str, dict] = {}
    failed: dict[str, str] = {}
    to_fit = []
    for key, fit in fits.items():
        path = models / fit.filename
        if path.exists():
            blobs[key] = path.read_bytes()
            infos[key] = _stored_fit_info(path)
        else:
            to_fit.append(fit)
    if to_fit:
        models.mkdir(exist_ok=True)

    def ready(job):
        return all(f is None or f.key in blobs or f.key in failed for f in needs[job.key].values())

    def item(job):
        sides = needs[job.key]
        return ("job", job,
                {s: (blobs[f.key] if f is not None else None) for s, f in sides.items()},
                {s: (infos.get(f.key) if f is not None else None) for s, f in sides.items()})

    bar = tqdm(total=total, initial=n_done, desc="sweep jobs", unit="job", disable=not progress, smoothing=0.05)
    fit_bar = tqdm(total=len(to_fit), desc="compressor fits", unit="fit", disable=not (progress and to_fit),
                   leave=False)
    with open(out / "results.csv", "a", newline="", encoding="utf-8") as fh:
        def write(row):
            fh.write(_row_line(row))
            fh.flush()
            os.fsync(fh.fileno())
            bar.update(1)
            if row.get("status") != "ok":
                bar.write(f"job {row['job_key']} ({row['task']}, MI={row['true_mi']}, {row['method']}, "
                          f"seed={row['seed']}) failed: {row.get('error')}")

        try:
            # stage 1: fit compressors while the jobs that need none run; stage 2: the jobs that need them
            first = [("fit", f) for f in to_fit] + [item(j) for j in pending if ready(j)]
            later = [j for j in pending if not ready(j)]
            for stage in (first, None):
                items = stage if stage is not None else [item(j) for j in later]
                for kind, obj, payload, error in _parallel_map(items, backend_name, workers, n_threads):
                    if kind == "fit":
                        fit_bar.update(1)
                        if error is not None:
                            failed[obj.key] = error
                            bar.write(f"compressor {obj.spec} for {obj.task} (seed {obj.seed}) failed: {error}")
                            continue
                        path = models / obj.filename
                        _save_fit(path, payload)
                        blobs[obj.key] = payload["blob"]
                        infos[obj.key] = _stored_fit_info(path)
                    else:
                        write(payload)
                if stage is not None:
                    for job in later:  # jobs whose compressor failed: record why, retry next run
                        bad = [failed[f.key] for f in needs[job.key].values() if f is not None and f.key in failed]
                        if bad:
                            row = _base_row(job)
                            row.update(_versions())
                            row.update({"status": "error", "error": f"compressor fit failed: {bad[0]}",
                                        "host": socket.gethostname(), "finished_at": _now()})
                            write(row)
                    later = [j for j in later if not any(
                        f is not None and f.key in failed for f in needs[j.key].values())]
        finally:
            fit_bar.close()
            bar.close()


def _save_fit(path: Path, payload: dict) -> None:
    """Write a fitted compressor's bytes atomically, with a JSON side file of its training summary."""
    fd, tmp = tempfile.mkstemp(prefix=".ibscope-", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _umask_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload["blob"])
            fh.flush()
            os.fsync(fh.fileno())
        info = {k: v for k, v in payload.items() if k != "blob"}
        _write_json_atomic(path.with_suffix(".json"), _jsonable(info))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _stored_fit_info(path: Path) -> dict:
    info = {"file": f"models/{path.name}"}
    side = path.with_suffix(".json")
    if side.exists():
        try:
            info.update(json.loads(side.read_text()))
        except (OSError, ValueError):
            pass
    return info


# =========================================================================== reading results
def load_results(run_dir, *, include_failed: bool = False):
    """Read ``results.csv`` of a run folder into a DataFrame.

    Parameters
    ----------
    run_dir : str or os.PathLike
        Folder written by :func:`run_sweep`, or the ``results.csv`` file itself.
    include_failed : bool, default=False
        Keep ``status == "error"`` rows (and rows of jobs that later succeeded).

    Returns
    -------
    pandas.DataFrame
        One row per job (the last ``ok`` row of each job key), columns :data:`RESULT_COLUMNS`.
        A partial last line (a killed writer) is ignored.

    Raises
    ------
    FileNotFoundError
        If there is no ``results.csv``.
    """
    import pandas as pd

    path = Path(run_dir)
    if path.is_dir():
        path = path / "results.csv"
    if not path.exists():
        raise FileNotFoundError(f"No sweep results at {str(path)!r} (expected a results.csv written by run_sweep).")
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    if not data:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    df = pd.read_csv(io.BytesIO(data), dtype={"job_key": str, "task_params": str, "estimator_params": str,
                                               "warnings": str, "error": str, "compress_x": str, "compress_y": str},
                     keep_default_na=False, na_values={c: [""] for c in RESULT_COLUMNS
                                                       if c not in ("warnings", "error", "task_params",
                                                                    "estimator_params")})
    if not include_failed:
        df = df[df["status"] == "ok"]
        df = df.drop_duplicates(subset="job_key", keep="last")
    return df.reset_index(drop=True)


def summarize(results, *, by=("task", "method", "n", "true_mi")):
    """Mean, standard deviation and count of the estimates over seeds.

    Parameters
    ----------
    results : pandas.DataFrame or str or os.PathLike
        Output of :func:`load_results`, or a run folder.
    by : sequence of str
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``by`` + ``mean``, ``std`` (0 for a single seed), ``count``,
        ``bias`` (``mean - true_mi``) and ``recon_error`` (mean over sides and seeds, if any).
    """
    df = results if not isinstance(results, (str, os.PathLike)) else load_results(results)
    g = df.groupby(list(by), sort=True)
    out = g["estimate"].agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["bias"] = out["mean"] - out["true_mi"]
    recon = df[["recon_error_x", "recon_error_y"]].astype(float).mean(axis=1)
    out["recon_error"] = recon.groupby([df[c] for c in by]).mean().to_numpy()
    return out


def accuracy_table(results, *, mi_max: float = 5.0, by=("task", "method", "n")):
    """Per method: mean absolute error over true MI in [0, mi_max] and how far the estimate rises.

    Parameters
    ----------
    results : pandas.DataFrame or str or os.PathLike
    mi_max : float, default=5.0
        Upper end (nats) of the MI range over which the error is averaged.
    by : sequence of str

    Returns
    -------
    pandas.DataFrame
        ``mae`` (mean over points in [0, mi_max] of |mean over seeds - true MI|),
        ``max_abs_err`` on that range, ``monotone_up_to`` (the largest true MI
        up to which the seed-mean estimate increases strictly at every grid
        step), ``max_estimate``, ``n_points``, ``seeds``.
    """
    s = summarize(results, by=tuple(by) + ("true_mi",))
    rows = []
    for key, grp in s.groupby(list(by), sort=True):
        grp = grp.sort_values("true_mi")
        inside = grp[grp["true_mi"] <= mi_max + 1e-9]
        err = (inside["mean"] - inside["true_mi"]).abs()
        means, mis = grp["mean"].to_numpy(), grp["true_mi"].to_numpy()
        upto = mis[0] if len(mis) else float("nan")
        for i in range(1, len(mis)):
            if means[i] > means[i - 1]:
                upto = mis[i]
            else:
                break
        rec = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        rec.update({"mae": float(err.mean()) if len(err) else float("nan"),
                    "max_abs_err": float(err.max()) if len(err) else float("nan"),
                    "monotone_up_to": float(upto), "max_estimate": float(grp["mean"].max()),
                    "n_points": int(len(grp)), "seeds": int(grp["count"].max())})
        rows.append(rec)
    import pandas as pd

    return pd.DataFrame(rows)
