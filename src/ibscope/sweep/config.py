"""Sweep configuration: methods, grids, jobs, compressor fits and the whole :class:`SweepConfig`."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np

from .._random import hashed_seed
from .._validation import Interval, Param, check_value
from ..runs import canonical_json, jsonable

__all__ = ["Method", "Grid", "Job", "CompressorFit", "SweepConfig", "parse_mi_grid", "LATENT", "NEURAL_ESTIMATORS",
           "DEFAULT_COMPRESSOR_OPTIONS"]

NEURAL_ESTIMATORS = ("mine", "nwj", "infonce")

#: Compressor spec meaning "estimate on the true latent variables" (the paper's uncompressed reference).
LATENT = "latent"
#: Default settings of the compressors a sweep fits (overridden by ``SweepConfig.compressor_options``).
DEFAULT_COMPRESSOR_OPTIONS = {"n_train": 6000, "params": {}}

#: What the numbers of a grid accept (declared once; see :class:`ibscope._validation.Param`)
GRID_VALUES = {
    "n": Param((numbers.Integral,), Interval(1), allowed="positive integers"),
    "seeds": Param((numbers.Integral,), Interval(0), allowed="non-negative integers"),
    "mi": Param((numbers.Real,), Interval(0), allowed="finite and >= 0 nats"),
}
#: What ``compressor_options["n_train"]`` accepts
N_TRAIN = Param((numbers.Integral,), Interval(2), allowed="an integer >= 2")


# =========================================================================== small helpers
def _digest(obj, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


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
        object.__setattr__(self, "params", jsonable(dict(self.params)))
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
    def from_dict(cls, d: dict) -> Method:
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


@dataclasses.dataclass(frozen=True, init=False)
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

    tasks: tuple[str, ...]
    mi: tuple[float, ...]
    methods: tuple[Method, ...]
    n: tuple[int, ...]
    seeds: tuple[int, ...]
    task_params: dict[str, Any]

    # A hand-written __init__ (the dataclass one would take the stored tuple types): it accepts
    # single values and any iterables and stores tuples.
    def __init__(self, tasks: str | Iterable[str], mi: float | Iterable[float],
                 methods: str | Iterable[Method | dict[str, Any] | str], n: int | Iterable[int],
                 seeds: int | Iterable[int], task_params: Mapping[str, Any] | None = None) -> None:
        def as_tuple(v: Any) -> tuple[Any, ...]:
            return (v,) if isinstance(v, (str, numbers.Number)) else tuple(v)

        object.__setattr__(self, "tasks", tuple(str(t) for t in as_tuple(tasks)))
        object.__setattr__(self, "mi", tuple(_clean_mi(m) for m in as_tuple(mi)))
        object.__setattr__(self, "methods", tuple(Method.from_dict(m) for m in as_tuple(methods)))
        for name, given in (("n", n), ("seeds", seeds)):
            vals = as_tuple(given)
            for v in vals:
                check_value(v, name, GRID_VALUES[name], what="values of a sweep grid")
            object.__setattr__(self, name, tuple(int(v) for v in vals))
        for m in self.mi:
            if not GRID_VALUES["mi"].value_ok(m):
                raise ValueError(f"The true MI values of a sweep grid must be {GRID_VALUES['mi'].describe()}. "
                                 f"Got {m!r}.")
        for name in ("tasks", "mi", "methods", "n", "seeds"):
            if not getattr(self, name):
                raise ValueError(f"The '{name}' list of a sweep grid is empty.")
        labels = [cast(str, m.label) for m in self.methods]  # Method.__post_init__ sets every label
        dup = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dup:
            raise ValueError(f"Two methods of a sweep grid share the label(s) {dup}; give them distinct labels.")
        object.__setattr__(self, "task_params", jsonable(dict(task_params or {})))

    def to_dict(self) -> dict:
        """JSON-ready dictionary (inverse of :meth:`from_dict`)."""
        return {"tasks": list(self.tasks), "task_params": dict(self.task_params), "mi": list(self.mi),
                "n": list(self.n), "seeds": list(self.seeds), "methods": [m.to_dict() for m in self.methods]}

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
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
        return hashed_seed("sample", self.task, self.task_params, self.mi, self.n, self.seed)

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
        return hashed_seed("compressor-train", self.task, self.task_params, self.seed)


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
        opts: dict[str, Any] = {"n_train": DEFAULT_COMPRESSOR_OPTIONS["n_train"], "params": {}}
        for key, value in (compressor_options or {}).items():
            if key not in opts:
                raise ValueError(f"Unknown compressor option {key!r}. Valid options: n_train, params.")
            opts[key] = value
        n_train = opts["n_train"]
        if not (N_TRAIN.type_ok(n_train) and N_TRAIN.value_ok(n_train)):
            raise ValueError(f"compressor_options['n_train'] must be {N_TRAIN.describe()}. Got {n_train!r}.")
        if not isinstance(opts["params"], dict):
            raise TypeError("compressor_options['params'] must be a dict {spec name: {parameter: value}}.")
        self.compressor_options = jsonable({"n_train": int(n_train), "params": dict(opts["params"])})

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """The configuration compared on resume (the description is excluded from the comparison)."""
        return {"name": self.name, "grids": [g.to_dict() for g in self.grids],
                "compressor_options": self.compressor_options}

    @classmethod
    def from_dict(cls, d: dict) -> SweepConfig:
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
        out: dict[str, CompressorFit | None] = {"x": None, "y": None}
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
        from ..api import make_estimator
        from ..compress import parse_compressor
        from ..synthetic import get_task, list_tasks

        for g in self.grids:
            for task in g.tasks:
                if task not in list_tasks():
                    raise ValueError(f"Unknown task {task!r}. Valid task names: {', '.join(list_tasks())}.")
                t = get_task(task, mi=g.mi[0], **g.task_params)
                if t.y_discrete:
                    raise ValueError(f"The task {task!r} has discrete labels Y; sweeps support continuous tasks only.")
            for m in g.methods:
                est = make_estimator(m.estimator, **m.params)
                check = getattr(est, "check_params", None)
                if callable(check):
                    for n in sorted(set(g.n)):
                        try:
                            check(n)
                        except (TypeError, ValueError) as exc:
                            raise type(exc)(f"Sweep method {m.label!r} at n={n}: {exc}") from None
                for spec in (m.compress_x, m.compress_y):
                    if spec not in (None, LATENT):
                        comp = parse_compressor(spec)
                        params = self._compressor_params(spec)
                        if params:
                            comp.set_params(**params)


_SHAPES: dict = {}


def _task_shapes(task: str, task_params: dict) -> tuple:
    key = (task, canonical_json(task_params))
    if key not in _SHAPES:
        from ..synthetic import get_task

        t = get_task(task, mi=0.0, **task_params)
        _SHAPES[key] = (t.shape_x, t.shape_y)
    return _SHAPES[key]


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

