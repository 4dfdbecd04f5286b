"""Input validation with clear messages: who failed, what is allowed, what came.

Every public entry point funnels its data and parameters through these helpers so
that bad input fails early with a message naming the argument, instead of a
traceback from deep inside numpy, scipy or torch.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, cast

import numpy as np


def describe(obj) -> str:
    shape = getattr(obj, "shape", None)
    if shape is not None:
        return f"{type(obj).__name__} of shape {tuple(shape)}"
    return type(obj).__name__


def to_numpy(x, name: str) -> np.ndarray:
    """Convert array-likes, including torch tensors (any device), to numpy."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) in ("torch.bfloat16", "torch.float8_e4m3fn", "torch.float8_e5m2"):
            x = x.float()  # dtypes numpy does not have: widen to float32 (exact)
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(
            f"The '{name}' argument must be array-like (numpy array, torch tensor, list of rows). "
            f"Could not convert {describe(x)}: {exc}"
        ) from None
    return arr


def as_samples(x, name: str, *, dtype=np.float64, allow_empty: bool = False) -> np.ndarray:
    """Validate a continuous sample and return it as a C-contiguous 2-D float array.

    A 1-D input is one column. Raises ``TypeError`` for non-numeric data and
    ``ValueError`` for wrong dimensionality, no rows or non-finite values.
    """
    arr = to_numpy(x, name)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(
            f"The '{name}' argument must hold numeric data. Got dtype {arr.dtype} "
            f"({describe(x)}). Convert it to floats first."
        )
    if np.iscomplexobj(arr):
        raise TypeError(f"The '{name}' argument must be real-valued. Got complex dtype {arr.dtype}.")
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim == 0:
        raise ValueError(
            f"The '{name}' argument must be a 1-D or 2-D array of shape (n_samples, n_features). "
            "Got a scalar."
        )
    elif arr.ndim != 2:
        raise ValueError(
            f"The '{name}' argument must be a 1-D or 2-D array of shape (n_samples, n_features). "
            f"Got an array with {arr.ndim} dimensions, shape {arr.shape}. "
            f"Flatten the trailing axes first, e.g. {name}.reshape(len({name}), -1)."
        )
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"The '{name}' argument has 0 rows (shape {arr.shape}); at least 2 samples are needed.")
    if arr.shape[1] == 0:
        raise ValueError(f"The '{name}' argument has 0 columns (shape {arr.shape}).")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.all(np.isfinite(arr)):
        bad = ~np.isfinite(arr)
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(bad.sum()) - n_nan
        first = int(np.argwhere(bad)[0][0])
        raise ValueError(
            f"The '{name}' argument contains non-finite values ({n_nan} NaN, {n_inf} inf; first in row {first}). "
            "Remove or impute those rows before estimating."
        )
    return arr


def as_labels(y, name: str = "y") -> np.ndarray:
    """Validate discrete labels and return them as a 1-D integer code array (0..n_classes-1).

    Accepts integers, booleans, strings, and floats that are whole numbers. A column
    vector of shape (n, 1) is accepted; other 2-D inputs are rejected.
    """
    return label_codes(y, name)[0]


def label_codes(y, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """:func:`as_labels` and the user's label of every code: ``(codes, classes)``, ``classes[code]``
    being the label as given (so that messages can name the user's labels, not internal codes)."""
    arr = to_numpy(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"The '{name}' argument must be a 1-D array of discrete labels when it is discrete. "
            f"Got shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"The '{name}' argument has 0 rows; at least 2 samples are needed.")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"The '{name}' argument contains NaN or inf; discrete labels must be finite.")
        if not np.all(arr == np.round(arr)):
            bad = arr[arr != np.round(arr)][:3]
            raise ValueError(
                f"The '{name}' argument must hold integer class labels when it is discrete. "
                f"Got non-integer values such as {bad.tolist()}. "
                "Pass integer labels, or leave the variable continuous."
            )
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iubUSO":
        raise TypeError(
            f"The '{name}' argument must hold discrete labels (int, bool or str). Got dtype {arr.dtype}."
        )
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(str)
        except Exception:
            raise TypeError(f"The '{name}' argument holds objects that are not valid labels.") from None
    classes, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64).ravel(), classes


def constant_columns(x: np.ndarray) -> np.ndarray:
    """Boolean mask of the columns of ``x`` whose values are all equal (they carry no information)."""
    return np.asarray(x.min(axis=0) == x.max(axis=0))


def column_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of ``x``, without overflow or underflow at any scale.

    Each column is divided by the power of two above its largest magnitude before
    the moments are taken, and the results are scaled back (both steps exact).
    """
    z = np.asarray(x, dtype=np.float64)
    peak = np.max(np.abs(z), axis=0)
    _, exponent = np.frexp(np.where(peak > 0, peak, 1.0))
    u = np.ldexp(z, -exponent)
    mean = u.mean(axis=0)
    centred = u - mean
    spread = np.max(np.abs(centred), axis=0)
    _, e2 = np.frexp(np.where(spread > 0, spread, 1.0))
    sd = np.ldexp(np.ldexp(centred, -e2).std(axis=0), e2)
    return np.ldexp(mean, exponent), np.ldexp(sd, exponent)


def scale_free(x: np.ndarray) -> np.ndarray:
    """``x`` centred and scaled per column without overflow, underflow or loss from a large offset.

    Each column is divided by the power of two just above its largest magnitude
    (exact in floating point), centred, divided again by the power of two above
    its largest centred magnitude, and finally standardised. The result is the
    same, to rounding, for ``a * x + b`` with any ``a`` between about 1e-300 and
    1e300 (no overflow in the moments, as squaring 1e155 would) and any offset
    ``b`` that float64 can hold next to the data (the centring is done on
    numbers of order one, so the offset costs no more than its own rounding of
    the input). Constant columns come out as zeros.
    """
    z = np.array(x, dtype=np.float64)
    for _ in range(2):  # scale to [-1, 1], centre; then again for the spread left after the centring
        peak = np.max(np.abs(z), axis=0)
        _, exponent = np.frexp(np.where(peak > 0, peak, 1.0))
        z = np.ldexp(z, -exponent)
        z -= z.mean(axis=0)
    sd = z.std(axis=0)
    return z / np.where(sd > 0, sd, 1.0)


def check_same_length(x: np.ndarray, y: np.ndarray, names=("x", "y")) -> int:
    if len(x) != len(y):
        raise ValueError(
            f"The '{names[0]}' and '{names[1]}' arguments must have the same number of rows (samples). "
            f"Got {len(x)} and {len(y)}."
        )
    return len(x)


def check_int(value, name: str, owner: str, *, low: int, high: int | None = None, hint: str = "") -> int:
    """Check an integer parameter in [low, high] (high inclusive, None = unbounded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"The '{name}' parameter of {owner} must be an int. Got {value!r} of type {type(value).__name__}."
        )
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f"[{low}, {high}]" if high is not None else f"[{low}, inf)"
        raise ValueError(
            f"The '{name}' parameter of {owner} must be an int in the range {rng}. Got {value} instead."
            + (f" {hint}" if hint else "")
        )
    return value


def check_k(k, n_samples: int, owner: str, *, n_needed: int | None = None) -> int:
    """Check the neighbour count against the sample size (needs k <= n - 1)."""
    n_max = n_samples - 1 if n_needed is None else n_needed
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"The 'k' parameter of {owner} must be an int. Got {k!r} of type {type(k).__name__}.")
    if int(k) < 1 or int(k) > n_max:
        raise ValueError(
            f"The 'k' parameter of {owner} must be an int in the range [1, n_samples - 1]. "
            f"Got {k} instead (n_samples={n_samples}). Pass a smaller k or more samples."
        )
    return int(k)


def check_float(value, name: str, owner: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"The '{name}' parameter of {owner} must be a float. Got {value!r} of type {type(value).__name__}."
        )
    value = float(value)
    ok = np.isfinite(value)
    if low is not None:
        ok &= value > low if low_open else value >= low
    if high is not None:
        ok &= value < high if high_open else value <= high
    if not ok:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a float in the range "
            f"{lb}{'-inf' if low is None else low}, {'inf' if high is None else high}{hb}. Got {value} instead."
        )
    return value


def check_choice(value, name: str, owner: str, choices) -> str:
    if value not in choices:
        listed = sorted(choices, key=lambda c: (c is None, str(c)))  # None sorts last, beside strings
        raise ValueError(
            f"The '{name}' parameter of {owner} must be one of {listed}. Got {value!r} instead."
        )
    return value


def check_ci(ci, owner: str) -> float | None:
    if ci is None:
        return None
    return check_float(ci, "ci", owner, low=0.0, high=1.0, low_open=True, high_open=True)


# ---------------------------------------------------------------------------------------------------------------
# Declared constraints (in the style of scikit-learn's parameter validation)
# ---------------------------------------------------------------------------------------------------------------
_TYPE_WORDS = {bool: "a bool", int: "an int", float: "a float", str: "a string", list: "a list", dict: "a dict"}


def type_words(types) -> str:
    """``(int, float)`` -> "an int or a float" (for messages)."""
    return " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in types)


@dataclasses.dataclass(frozen=True)
class Interval:
    """Real numbers between ``low`` and ``high`` (None: unbounded); ``closed`` says which ends belong."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both", "left", "right" or "neither"

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            return False
        value = cast(float, value)  # a real number (the stubs cannot compare float with numbers.Real)
        if not np.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        if self.high is not None and (value > self.high
                                      or (value == self.high and self.closed in ("left", "neither"))):
            return False
        return True

    def describe(self) -> str:
        lb = "[" if self.closed in ("both", "left") and self.low is not None else "("
        hb = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"in the range {lb}{low}, {high}{hb}"


@dataclasses.dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple

    def __contains__(self, value) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return f"one of {list(self.values)}"


@dataclasses.dataclass(frozen=True)
class Param:
    """What one parameter (or configuration field) accepts, declared once as data.

    Attributes
    ----------
    types : tuple of type
        Accepted Python types (a bool is accepted only where ``bool`` is listed).
    values : Interval, Options, callable or None
        Accepted values, checked after the type; a callable returns whether a value is valid.
    nullable : bool
        Whether None is accepted.
    allowed : str or None
        How messages describe the accepted values (default: from ``types`` and ``values``).
    """

    types: tuple
    values: Any = None
    nullable: bool = False
    allowed: str | None = None

    def type_ok(self, value) -> bool:
        if value is None:
            return self.nullable
        return isinstance(value, self.types) and not (isinstance(value, bool) and bool not in self.types)

    def value_ok(self, value) -> bool:
        if value is None or self.values is None:
            return True
        if callable(self.values) and not isinstance(self.values, (Interval, Options)):
            return bool(self.values(value))
        return value in self.values

    def describe(self) -> str:
        if self.allowed is not None:
            return self.allowed
        text = type_words(self.types)
        if isinstance(self.values, (Interval, Options)):
            text += " " + self.values.describe()
        return text + (" or None" if self.nullable else "")


def check_declared(values, constraints, owner: str, *, kind: str = "parameter", source: str | None = None) -> None:
    """Check every entry of ``values`` (a mapping) against its declared :class:`Param`.

    Raises ``TypeError`` for a wrong type and ``ValueError`` for a value outside the
    allowed ones, with the template "The 'name' <kind> of <owner> must be <allowed>.
    Got <value> instead." ``source`` (a file name) is quoted in type errors, and then
    the entry is called a "key".
    """
    for name, param in constraints.items():
        if name not in values:
            continue
        value = values[name]
        if not param.type_ok(value):
            what = "key" if source else kind
            where = f" in {source}" if source else ""
            nullable = " or None" if param.nullable and not source else ""
            raise TypeError(
                f"The {name!r} {what} of {owner}{where} must be {type_words(param.types)}{nullable}. "
                f"Got {value!r} of type {type(value).__name__}."
            )
        if not param.value_ok(value):
            raise ValueError(f"The {name!r} {kind} of {owner} must be {param.describe()}. Got {value!r} instead.")


def check_value(value, name: str, param: Param, *, what: str = "argument", error: type = ValueError) -> None:
    """Raise ``error("The 'name' <what> must be <allowed>. Got <value>.")`` unless ``param`` accepts ``value``."""
    if not (param.type_ok(value) and param.value_ok(value)):
        raise error(f"The {name!r} {what} must be {param.describe()}. Got {value!r}.")
