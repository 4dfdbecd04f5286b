"""Result objects returned by every estimator.

This module imports nothing from the rest of the package, so any module can
depend on it without creating import cycles.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, cast, overload

#: Multiplicative factor from nats to each supported unit.
UNIT_FACTORS = {"nats": 1.0, "bits": 1.0 / math.log(2.0)}


def check_units(units: str) -> str:
    """Return ``units`` if it is a supported unit name, else raise ``ValueError``."""
    if units not in UNIT_FACTORS:
        raise ValueError(
            f"The 'units' parameter must be one of {sorted(UNIT_FACTORS)}. Got {units!r} instead."
        )
    return units


@overload
def convert(value_nats: float, units: str) -> float: ...
@overload
def convert(value_nats: None, units: str) -> None: ...
@overload
def convert(value_nats: float | None, units: str) -> float | None: ...


def convert(value_nats: float | None, units: str) -> float | None:
    """Convert a value in nats to ``units`` (``None`` passes through)."""
    if value_nats is None:
        return None
    return float(value_nats) * UNIT_FACTORS[check_units(units)]


def _clean(obj: Any) -> Any:
    """Make ``obj`` JSON-serialisable (numpy scalars, tuples, nested dicts)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def _in_units(result, units: str, fields: tuple):
    """Copy of a result dataclass with ``fields`` (None stays None) converted to ``units``."""
    check_units(units)
    factor = UNIT_FACTORS[units] / UNIT_FACTORS[result.units]
    changes = {f: None if getattr(result, f) is None else getattr(result, f) * factor for f in fields}
    return dataclasses.replace(result, units=units, **changes)


@dataclasses.dataclass
class MIResult:
    """A mutual-information estimate with its uncertainty and provenance.

    All numeric fields are in ``units``. ``value`` is ``max(raw_value, 0)``
    (mutual information is non-negative); ``raw_value`` is what the estimator
    produced before clipping, and ``clipped`` says whether clipping happened.

    Attributes
    ----------
    value : float
        Estimate, clipped at zero.
    units : {"nats", "bits"}
    raw_value : float
        Unclipped estimate.
    ci_low, ci_high : float or None
        Confidence interval bounds (``None`` unless a CI was requested).
    ci_level : float or None
        Nominal coverage of the interval, e.g. 0.95.
    std_err : float or None
        Standard error of ``raw_value``.
    n_samples, dim_x, dim_y : int
        Sample size and dimensions after validation (``dim_y`` is 1 for labels).
    estimator : str
        Estimator name.
    params : dict
        Estimator parameters that produced the value.
    seed : int or None
        Seed used for every random step (jitter, subsampling, training).
    time_s : float
        Wall-clock time of the estimate, CI included.
    warnings : list of str
        Human-readable diagnostics (near the kNN ceiling, clipped, ties, ...).
    extra : dict
        Estimator-specific details (e.g. a neural critic's training curve).
    """

    value: float
    units: str
    raw_value: float
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None
    std_err: float | None = None
    n_samples: int = 0
    dim_x: int = 0
    dim_y: int = 0
    estimator: str = ""
    params: dict = dataclasses.field(default_factory=dict)
    seed: int | None = None
    time_s: float = 0.0
    warnings: list = dataclasses.field(default_factory=list)
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def clipped(self) -> bool:
        """Whether ``value`` differs from ``raw_value`` because of clipping at 0."""
        return self.raw_value < 0

    @property
    def diagnostics(self) -> dict:
        """Flat dictionary of provenance fields (seed, versions, parameters)."""
        return {
            "raw_value": self.raw_value,
            "clipped": self.clipped,
            "n_samples": self.n_samples,
            "dim_x": self.dim_x,
            "dim_y": self.dim_y,
            "seed": self.seed,
            "time_s": self.time_s,
            **{k: v for k, v in self.params.items() if isinstance(v, (int, float, str, bool))},
        }

    def to(self, units: str) -> MIResult:
        """Return a copy expressed in ``units`` ("nats" or "bits")."""
        return _in_units(self, units, ("value", "raw_value", "ci_low", "ci_high", "std_err"))

    def to_row(self, columns: dict | None = None, *, drop_warnings=()) -> dict:
        """The result as one flat row of a results file: ``{column: value}``.

        Every file ibscope writes (sweep ``results.csv``, IB ``info.csv``) builds its
        result cells with this method.

        Parameters
        ----------
        columns : dict or None
            Field name -> column name, for the fields to include; fields are
            ``value``, ``raw_value``, ``ci_low``, ``ci_high``, ``ci_level``,
            ``std_err``, ``clipped``, ``units``, ``n_samples``, ``dim_x``,
            ``dim_y``, ``estimator``, ``seed``, ``time_s`` and ``warnings``
            (joined by " | "). None takes every field under its own name.
        drop_warnings : collection of str
            Warnings left out of the ``warnings`` cell (notes a file states elsewhere).

        Returns
        -------
        dict
        """
        fields = {
            "value": self.value, "raw_value": self.raw_value, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "ci_level": self.ci_level, "std_err": self.std_err, "clipped": self.clipped, "units": self.units,
            "n_samples": self.n_samples, "dim_x": self.dim_x, "dim_y": self.dim_y, "estimator": self.estimator,
            "seed": self.seed, "time_s": self.time_s,
            "warnings": " | ".join(str(w) for w in self.warnings if w not in drop_warnings),
        }
        if columns is None:
            return fields
        unknown = sorted(set(columns) - set(fields))
        if unknown:
            raise ValueError(f"Unknown MIResult field(s) {unknown} in 'columns'. Valid fields: {', '.join(fields)}.")
        return {column: fields[name] for name, column in columns.items()}

    def to_dict(self) -> dict:
        """JSON-ready dictionary of every field (plus ``clipped``)."""
        d = dataclasses.asdict(self)
        d["clipped"] = self.clipped
        return _clean(d)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        text = f"I = {self.value:.4f} {self.units}"
        if self.ci_low is not None:
            level = cast(float, self.ci_level)  # set together with the interval
            text += f"  ({100 * level:.0f}% CI [{self.ci_low:.4f}, {self.ci_high:.4f}])"
        text += f"  [{self.estimator}, n={self.n_samples}, dims={self.dim_x}+{self.dim_y}]"
        return text


@dataclasses.dataclass
class EntropyResult:
    """A differential (or discrete) entropy estimate, in ``units``.

    Entropy of a continuous variable may be negative, so no clipping happens.
    Fields mirror :class:`MIResult`; ``dim`` is the dimension of the sample.
    """

    value: float
    units: str
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None
    std_err: float | None = None
    n_samples: int = 0
    dim: int = 0
    estimator: str = ""
    params: dict = dataclasses.field(default_factory=dict)
    seed: int | None = None
    time_s: float = 0.0
    warnings: list = dataclasses.field(default_factory=list)

    def to(self, units: str) -> EntropyResult:
        """Return a copy expressed in ``units`` ("nats" or "bits")."""
        return _in_units(self, units, ("value", "ci_low", "ci_high", "std_err"))

    def to_dict(self) -> dict:
        return _clean(dataclasses.asdict(self))

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        text = f"H = {self.value:.4f} {self.units}"
        if self.ci_low is not None:
            level = cast(float, self.ci_level)  # set together with the interval
            text += f"  ({100 * level:.0f}% CI [{self.ci_low:.4f}, {self.ci_high:.4f}])"
        return text + f"  [{self.estimator}, n={self.n_samples}, dim={self.dim}]"
