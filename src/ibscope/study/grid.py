"""A study's seeds and grid: parsing, checking, and the grid points' configurations."""

from __future__ import annotations

import dataclasses
import itertools
import json
import numbers
import os
import re
from collections.abc import Iterable, Mapping

from ..ib.config import FIELDS, MUTABLE_ON_RESUME, IBConfig
from ..runs import jsonable

__all__ = ["parse_seeds", "parse_grid", "GRID_EXCLUDED", "BASE_POINT", "Point", "points", "check_grid", "run_config",
           "minimal_config", "strip_unchanging"]

#: Name of the only point of a study without a grid.
BASE_POINT = "base"

#: IBConfig fields that cannot be grid keys: ``seed`` has its own axis (``seeds``), the others do not
#: change the numbers (set them for the whole study).
GRID_EXCLUDED = ("seed",) + tuple(f for f in MUTABLE_ON_RESUME if f != "epochs")

_OWNER = "run_study"


def _seeds_error(spec, owner: str, why: str = "") -> ValueError:
    name = "option of ibscope ib" if owner.startswith("--") else "argument of " + owner
    return ValueError(f"The '{owner.lstrip('-') if not owner.startswith('--') else owner}' {name} must be "
                      "START:STOP (0:5 = seeds 0 to 4), a comma-separated list (0,3,7), one seed (3) or a list of "
                      f"non-negative ints. Got {spec!r} instead{why}.")


def parse_seeds(spec, *, owner: str = "seeds") -> list[int]:
    """The seeds of a study from ``"0:5"`` (0, 1, 2, 3, 4), ``"0,3,7"``, ``"3"``, an int or a list of ints.

    Parameters
    ----------
    spec : str, int or iterable of int
        The seeds.
    owner : str, default="seeds"
        Name used in the error message (the CLI passes ``"--seeds"``).

    Returns
    -------
    list of int
        Distinct non-negative seeds, in the order given.

    Raises
    ------
    ValueError
        For anything else (bad syntax, an empty range, a negative or repeated seed), in one line.
    """
    def as_int(v) -> int:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise _seeds_error(spec, owner)
        return int(v)

    if isinstance(spec, str):
        text = spec.strip()
        try:
            if ":" in text:
                start, stop = (int(p) for p in text.split(":"))
                if stop <= start:
                    raise _seeds_error(spec, owner, f" (the range {start}:{stop} is empty; STOP is exclusive)")
                seeds = list(range(start, stop))
            else:
                seeds = [int(p) for p in text.split(",")]
        except ValueError as exc:
            if str(exc).startswith("The '"):
                raise
            raise _seeds_error(spec, owner) from None
    elif isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        seeds = [int(spec)]
    elif isinstance(spec, Iterable) and not isinstance(spec, (bytes, Mapping)):
        seeds = [as_int(v) for v in spec]
    else:
        raise _seeds_error(spec, owner)
    if not seeds:
        raise _seeds_error(spec, owner, " (no seeds)")
    bad = [s for s in seeds if s < 0]
    if bad:
        raise _seeds_error(spec, owner, f" (seed {bad[0]} is negative)")
    dup = [s for i, s in enumerate(seeds) if s in seeds[:i]]
    if dup:
        raise _seeds_error(spec, owner, f" (seed {dup[0]} is repeated)")
    return seeds


def _grid_keys() -> list[str]:
    return [f for f in IBConfig.field_names() if f not in GRID_EXCLUDED]


def _check_grid_key(key, where: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"The grid keys of {_OWNER} must be IBConfig field names (str). Got {key!r}{where}.")
    name = key.strip().replace("-", "_")
    if name in GRID_EXCLUDED:
        why = ("the seeds have their own axis: pass seeds=... (--seeds)" if name == "seed" else
               "it does not change the results; set it for the whole study")
        raise ValueError(f"The '{name}' field cannot be a grid key{where}: {why}.")
    if name not in IBConfig.field_names():
        raise ValueError(f"Unknown grid key {key!r}{where}. Valid keys: {', '.join(_grid_keys())}.")
    return name


def _parse_value(key: str, text: str, spec: str):
    """One ``--grid`` value, converted to the type the IBConfig field takes."""
    param = FIELDS[key]
    t = text.strip()
    if param.nullable and t.lower() in ("none", "null"):
        return None
    types = param.types
    if bool in types:
        low = t.lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"The --grid values of '{key}' must be true or false. Got {text!r} in {spec!r}.")
    if float in types:
        try:
            return float(t)
        except ValueError:
            raise ValueError(f"The --grid values of '{key}' must be numbers. Got {text!r} in {spec!r}.") from None
    if int in types:
        try:
            return int(t)
        except ValueError:
            raise ValueError(f"The --grid values of '{key}' must be ints. Got {text!r} in {spec!r}.") from None
    if str in types:
        return t
    raise ValueError(f"The '{key}' field cannot be a --grid key on the command line (its values are lists); pass "
                     f"grid={{'{key}': [...]}} to ibscope.ib.run_study instead.")


def parse_grid(specs) -> dict[str, list]:
    """A study grid from ``KEY=V1,V2`` strings (the ``--grid`` flags), e.g. ``["noise=1e-3,1e-2", "lr=1e-3"]``.

    Parameters
    ----------
    specs : iterable of str
        One ``KEY=V1,V2,...`` per key; ``KEY`` is an :class:`~ibscope.ib.IBConfig` field (``-`` or
        ``_``), the values are converted to the field's type (``none`` for None).

    Returns
    -------
    dict
        ``{key: [values]}`` in the order given (the cartesian product is the study's points).

    Raises
    ------
    ValueError
        For a malformed spec, an unknown or excluded key (:data:`GRID_EXCLUDED`), a repeated key, or
        a value of the wrong type, naming it.
    """
    grid: dict[str, list] = {}
    for spec in specs:
        if not isinstance(spec, str) or "=" not in spec:
            raise ValueError(f"A --grid value must be KEY=V1,V2,... (e.g. noise=1e-3,1e-2). Got {spec!r} instead.")
        key, _, values = spec.partition("=")
        name = _check_grid_key(key, f" in --grid {spec!r}")
        if name in grid:
            raise ValueError(f"The grid key '{name}' is given twice (--grid {spec!r}); give all its values in one "
                             "--grid, separated by commas.")
        parts = [v for v in values.split(",")]
        if not values.strip() or any(not v.strip() for v in parts):
            raise ValueError(f"The --grid values of '{name}' must be a comma-separated list of values. "
                             f"Got {spec!r} instead.")
        grid[name] = [_parse_value(name, v, spec) for v in parts]
    return grid


def check_grid(grid) -> dict[str, list]:
    if grid is None:
        return {}
    if isinstance(grid, (list, tuple)) and all(isinstance(s, str) for s in grid):
        return parse_grid(grid)
    if not isinstance(grid, Mapping):
        raise TypeError(f"The 'grid' argument of {_OWNER} must be a dict {{field: [values]}}, a list of "
                        f"'KEY=V1,V2' strings or None. Got {type(grid).__name__} instead.")
    out: dict[str, list] = {}
    for key, values in grid.items():
        name = _check_grid_key(key, "")
        if name in out:
            raise ValueError(f"The grid key '{name}' is given twice.")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(f"The grid values of '{name}' must be a list of values. Got {values!r} instead.")
        values = list(values)
        if not values:
            raise ValueError(f"The grid values of '{name}' must be a non-empty list. Got [] instead.")
        out[name] = values
    return out


def _value_text(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "x".join(_value_text(u) for u in v)
    return str(v)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]+", "-", text).strip("-") or "-"


@dataclasses.dataclass
class Point:
    name: str
    values: dict
    config: IBConfig  # the point's configuration (before the seed is set)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_value_text(v)}" for k, v in self.values.items()) or "all runs"


def points(base: IBConfig, grid: dict[str, list]) -> list[Point]:
    """Every grid point's validated configuration (the cartesian product of the grid), named."""
    out: list[Point] = []
    seen: dict[str, dict] = {}
    names: set[str] = set()
    for combo in itertools.product(*grid.values()) if grid else [()]:
        raw = dict(zip(grid, combo))
        where = ", ".join(f"{k}={v!r}" for k, v in raw.items())
        try:
            cfg = base.replace(**raw) if raw else base
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"Grid point {where}: {exc}") from None
        values = {k: getattr(cfg, k) for k in raw}  # normalised ("MNIST" -> "mnist", 0 -> 0.0)
        key = json.dumps(jsonable(values), sort_keys=True)
        if key in seen:
            raise ValueError(f"The grid has the same point twice ({where}): remove the repeated value.")
        seen[key] = values
        name = ",".join(f"{k}={_safe(_value_text(v))}" for k, v in values.items()) or BASE_POINT
        unique, i = name, 2
        while unique in names:
            unique, i = f"{name}-{i}", i + 1
        names.add(unique)
        out.append(Point(name=unique, values=values, config=cfg))
    return out


def run_config(point: Point, seed: int) -> IBConfig:
    cfg = point.config.replace(seed=seed).resolved()
    if cfg.data_dir is not None:  # workers may run elsewhere (cwd of a Ray or Dask worker)
        cfg = cfg.replace(data_dir=os.path.abspath(os.path.expanduser(cfg.data_dir)))
    return cfg


def minimal_config(cfg: IBConfig) -> dict:
    """The fields that differ from the defaults: ``IBConfig.from_dict`` of it is ``cfg`` again (a preset
    fills only the fields left unset, so nothing else needs recording)."""
    defaults = IBConfig().to_dict()
    return {k: v for k, v in cfg.to_dict().items() if v != defaults[k]}


def strip_unchanging(cfg: dict, *extra: str) -> dict:
    return {k: v for k, v in cfg.items() if k not in GRID_EXCLUDED[1:] and k not in extra}
