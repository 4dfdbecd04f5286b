"""Base classes shared by every estimator.

An estimator is a small object configured in ``__init__`` (explicit keyword
parameters, no logic) whose ``estimate(x, y)`` validates the data, runs the
estimator's core on arrays, optionally computes a confidence interval, and
returns an :class:`~ibscope.MIResult`.

Subclasses implement:

* ``_prepare(x, y, call)`` -> arrays (validation beyond the basics,
  standardisation, tie-breaking jitter); the result is what CIs resample.
* ``_core(x, y, call)`` -> float in nats on prepared arrays.

Estimators are stateless between calls: everything one ``estimate`` call needs
besides the parameters (its generator, its warnings, notes the core collects
for them) travels in a :class:`Call` object, so one estimator object can serve
several threads at once.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .._params import Configurable
from .._random import make_rng
from .._result import EntropyResult, MIResult, check_units, convert
from .._torch import collect_memory_notes, memory_guarded
from .._validation import as_labels, as_samples, check_ci, check_int, check_same_length, constant_columns, scale_free
from . import _plausibility


class _Configurable(Configurable):
    """Estimator parameters (see :class:`ibscope._params.Configurable`); ``name`` is
    the estimator's registry name (:mod:`ibscope.estimators.registry`).

    An estimator's ``__init__`` stores its keyword arguments with ``self._store_params(locals())``.
    """

    if TYPE_CHECKING:
        # the parameters are set from the ``__init__`` signature by ``_store_params``; to mypy they are
        # ``Any``, as the untyped ``__init__`` arguments they come from are
        def __getattr__(self, name: str) -> Any: ...

    @property
    def name(self) -> str:
        """The registry name; estimators set it as a class attribute, or as a property when it
        depends on the parameters (``KSG``: "ksg" or "ksg2")."""
        return ""


@dataclasses.dataclass
class Call:
    """State of one ``estimate`` call.

    Attributes
    ----------
    rng : numpy.random.Generator
        The call's generator (jitter, subsampling, training seeds).
    seed : int
        The seed it was made from (stored in the result).
    warnings : list of str
        Warnings collected so far, in order.
    notes : dict
        Whatever the estimator's hooks pass each other within the call.
    """

    rng: np.random.Generator
    seed: int
    warnings: list = dataclasses.field(default_factory=list)
    notes: dict = dataclasses.field(default_factory=dict)


def standardize(x: np.ndarray, name: str, warnings: list) -> np.ndarray:
    """Scale every column to zero mean and unit variance, at any scale; warn about constant columns.

    The scaling is exact-in-spirit for any magnitude and offset (see
    :func:`ibscope._validation.scale_free`), so an estimate does not change when a
    side is multiplied by 1e-150 or 1e150 or shifted by a large constant. Constant
    columns (all values equal) carry no information and are left at zero.
    """
    constant = constant_columns(x)
    if np.any(constant):
        warnings.append(
            f"'{name}' has {int(constant.sum())} constant column(s) (indices {np.flatnonzero(constant)[:5].tolist()}); "
            "they carry no information and were set to 0."
        )
    out = scale_free(x)
    out[:, constant] = 0.0
    return out


def jitter_ties(x: np.ndarray, name: str, rng: np.random.Generator, warnings: list, scale: float = 1e-10) -> np.ndarray:
    """Break exact duplicate rows with tiny seeded noise, and say so.

    kNN estimators assume distinct points: a duplicate has a zero neighbour
    distance (log 0 = -inf for entropies, a degenerate ball for KSG). Like
    scikit-learn, we add noise of relative size ``scale`` (1e-10 of each column's
    standard deviation by default), seeded from the estimate's seed, but only
    when duplicates exist, and we record a warning with their count.
    """
    if len(x) < 2:
        return x
    from ibscope.neighbors import count_duplicate_rows

    n_dup = count_duplicate_rows(x)
    if n_dup == 0:
        return x
    warnings.append(
        f"'{name}' has {n_dup} duplicate row(s); ties were broken with seeded noise of relative size {scale:g}. "
        "kNN estimates on data with many ties (quantised or discrete values) are unreliable."
    )
    sd = x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return x + scale * sd * rng.standard_normal(x.shape)


def _half_sample_interval(est, fn, value: float, n: int, level: float, rng):
    """``(std_err, low, high)`` of ``value`` from ``fn(indices)`` on half-samples (:mod:`ibscope.stats`)."""
    from ..stats import subsample_interval

    n_sub = check_int(getattr(est, "n_subsamples", 30), "n_subsamples", est._owner, low=2)
    return subsample_interval(fn, value, n, level, n_sub, rng, min_size=est._min_subsample(n))


def _result_fields(est, value, units, level, se, lo, hi, n: int, call: Call, t0: float) -> dict:
    """The fields an :class:`MIResult` and an :class:`EntropyResult` share, values converted to ``units``
    (``time_s``: since ``t0``)."""
    return dict(value=convert(value, units), units=units, ci_low=convert(lo, units), ci_high=convert(hi, units),
                ci_level=level, std_err=convert(se, units), n_samples=n, estimator=est.name,
                params=est.get_params(), seed=call.seed, time_s=time.perf_counter() - t0, warnings=call.warnings)


class MIEstimator(_Configurable):
    """Base class of mutual-information estimators.

    Common parameters of every estimator (set in the subclass ``__init__``):
    ``units``, ``ci`` (None or a level in (0, 1)), ``n_subsamples`` and
    ``random_state``.

    :meth:`estimate` is the one driver: validate, check parameters, prepare,
    estimate (with an interval), collect warnings, build the :class:`MIResult`.
    Subclasses fill in the hooks below.
    """

    #: whether ``y`` is a vector of discrete labels for this estimator
    y_discrete = False
    #: whether ``x`` is a vector of discrete labels for this estimator
    x_discrete = False
    #: why a negative raw estimate is clipped (the end of the clipping warning)
    _negative_reason = "MI is non-negative; small negative values are estimator bias/variance around independence"
    #: plausibility rules this estimator skips (names of :data:`ibscope.estimators._plausibility.RULES`, "cost")
    _skip_rules: frozenset = frozenset()
    #: growth of the core's cost with n (None: no cost forecast; see :func:`._plausibility.announce_cost`)
    _cost_exponent: float | None = None

    # ----------------------------------------------------------------- hooks
    def _check_params(self, n_samples: int) -> None:  # pragma: no cover - overridden
        pass

    def _prepare(self, x, y, call: Call):
        return x, y

    def _core(self, x, y, call: Call) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _estimate_prepared(self, x, y, level, call: Call):
        """``(raw, std_err, ci_low, ci_high)`` in nats: the core on all rows, and a
        half-sampling interval when ``level`` is set (see :mod:`ibscope.stats`)."""
        raw = float(self._core(x, y, call))
        if level is None:
            return raw, None, None, None
        se, lo, hi = _half_sample_interval(self, lambda idx: self._core(x[idx], y[idx], call), raw, len(x), level,
                                           call.rng)
        return raw, se, lo, hi

    def _post_warnings(self, raw_nats: float, x, y, call: Call) -> None:
        pass

    def _extra(self, call: Call) -> dict:
        return {}

    def _dims(self, x, y) -> tuple[int, int]:
        return (1 if x.ndim == 1 else x.shape[1]), (1 if y.ndim == 1 else y.shape[1])

    def _min_subsample(self, n: int) -> int:
        return max(getattr(self, "k", 1) + 2, 3)

    def _cost_core(self) -> MIEstimator:
        """The estimator whose core the cost forecast times (itself; a combination may name its costly part)."""
        return self

    # ----------------------------------------------------------------- driver
    def check_params(self, n_samples: int) -> MIEstimator:
        """Check the parameters for a sample of ``n_samples`` rows without estimating; returns ``self``.

        Raises the error ``estimate`` would raise for them (a wrong type or range,
        ``k`` too large for ``n_samples``, too few rows for a neural split, ...), so
        a sweep or a run can fail before its first job instead of inside every job.
        """
        check_units(getattr(self, "units", "nats"))
        check_ci(getattr(self, "ci", None), self._owner)
        self._check_params(int(n_samples))
        return self

    def _validate(self, x, y):
        x = as_labels(x, "x") if self.x_discrete else as_samples(x, "x")
        y = as_labels(y, "y") if self.y_discrete else as_samples(y, "y")
        n = check_same_length(x, y)
        if n < 2:
            raise ValueError(f"At least 2 samples are needed to estimate mutual information. Got n_samples={n}.")
        return x, y

    def estimate(self, x, y) -> MIResult:
        """Estimate I(X; Y).

        Parameters
        ----------
        x : array-like of shape (n_samples, dim_x) or (n_samples,)
        y : array-like of shape (n_samples, dim_y) or (n_samples,)
            Labels when the estimator treats Y as discrete.

        Returns
        -------
        MIResult
        """
        t0 = time.perf_counter()
        units = check_units(getattr(self, "units", "nats"))
        level = check_ci(getattr(self, "ci", None), self._owner)
        x, y = self._validate(x, y)
        n = len(x)
        self._check_params(n)
        rng, seed = make_rng(getattr(self, "random_state", None))
        call = Call(rng=rng, seed=seed)
        constant = [side for side, arr, discrete in (("x", x, self.x_discrete), ("y", y, self.y_discrete))
                    if not discrete and bool(np.all(constant_columns(arr.reshape(len(arr), -1))))]
        if constant:
            # a constant variable carries no information: I = 0 exactly, whatever an estimator would say
            call.warnings.append(
                f"{' and '.join(repr(s) for s in constant)} {'is' if len(constant) == 1 else 'are'} constant (every "
                "row is the same), so I(X;Y) = 0 exactly; no estimate was run."
            )
            raw = 0.0
            se = lo = hi = None if level is None else 0.0
            call.notes["constant"] = True
            fired: dict = {}
        else:
            xp, yp = self._prepare(x, y, call)
            _plausibility.announce_cost(self, xp, yp, level, call)
            with collect_memory_notes() as memory_notes:
                raw, se, lo, hi = _out_of_memory_guard(self, lambda: self._estimate_prepared(xp, yp, level, call))
            call.warnings.extend(memory_notes)
            self._post_warnings(raw, xp, yp, call)
            # what the number can and cannot be trusted for: tiny n, identical sides, ties, dimension, far below 0
            fired = _plausibility.check(_plausibility.Facts(self, x, y, xp, yp, raw, se, call))
        dim_x, dim_y = self._dims(x, y)
        value = max(raw, 0.0) if math.isfinite(raw) else raw  # a failed (non-finite) estimate stays visible
        extra = {} if call.notes.get("constant") else self._extra(call)
        if fired:
            extra["plausibility"] = fired
        return MIResult(raw_value=convert(raw, units), dim_x=dim_x, dim_y=dim_y, extra=extra,
                        **_result_fields(self, value, units, level, se, lo, hi, n, call, t0))


def _out_of_memory_guard(est, fn):
    """``fn()``, with torch's out-of-memory error turned into a :class:`MemoryError` that names the estimator,
    its device and what to change (an estimator with its own, more specific message raises that first)."""
    return memory_guarded(fn, est._owner, getattr(est, "device", None) or "cpu", "estimating",
                          "Use fewer samples or a smaller batch_size, or pass device='cpu'.")


def check_entropy_defined(x: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` when the differential entropy of the sample ``x`` is -inf (not a number to estimate).

    A constant column, or columns that are an exact linear combination of others (a singular sample
    covariance), put the sample on a lower-dimensional set, where the differential entropy is -inf; every
    estimator would return -inf or, worse, the finite entropy of the remaining directions. Fewer rows than
    columns + 1 make the covariance singular as well. The check runs on scale-free columns (any magnitude).
    """
    constant = constant_columns(x)
    if np.any(constant):
        shown = np.flatnonzero(constant)[:5].tolist()
        raise ValueError(
            f"The 'x' argument has {int(constant.sum())} constant column(s) (indices {shown}): "
            f"a variable with a constant coordinate has differential entropy -inf, so the {name!r} estimator has no "
            "finite number to give. Drop those columns, or pass discrete=True if the values are categories."
        )
    if x.shape[1] < 2:
        return
    z = scale_free(x)
    evals = np.linalg.eigvalsh(np.cov(z, rowvar=False, bias=True)) if len(z) > 1 else np.zeros(x.shape[1])
    if evals.min() <= 1e-10 * max(evals.max(), 1e-300):
        why = (f"there are only {len(x)} rows for {x.shape[1]} columns" if len(x) <= x.shape[1]
               else "a column is a linear combination of others, e.g. a copied column")
        raise ValueError(
            f"The sample covariance of 'x' is singular ({why}): the sample lies in a lower-dimensional subspace, "
            f"where the differential entropy is -inf, so the {name!r} estimator has no finite number to give. Drop "
            "the redundant columns or use more samples."
        )


class EntropyEstimator(_Configurable):
    """Base class of entropy estimators (``estimate(x) -> EntropyResult``)."""

    discrete = False

    def _check_params(self, n_samples: int, dim: int) -> None:
        pass

    def _prepare(self, x, call: Call):
        return x

    def _core(self, x, call: Call) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _min_subsample(self, n: int) -> int:
        return max(getattr(self, "k", 1) + 2, 3)

    def estimate(self, x) -> EntropyResult:
        """Estimate H(X) of a sample of shape (n_samples, dim) (1-D = one column)."""
        t0 = time.perf_counter()
        units = check_units(getattr(self, "units", "nats"))
        level = check_ci(getattr(self, "ci", None), self._owner)
        x = as_labels(x, "x") if self.discrete else as_samples(x, "x")
        n = len(x)
        if n < 2:
            raise ValueError(f"At least 2 samples are needed to estimate entropy. Got n_samples={n}.")
        dim = 1 if x.ndim == 1 else x.shape[1]
        self._check_params(n, dim)
        if not self.discrete:
            check_entropy_defined(x, self.name)
        rng, seed = make_rng(getattr(self, "random_state", None))
        call = Call(rng=rng, seed=seed)
        xp = self._prepare(x, call)
        with collect_memory_notes() as memory_notes:
            value = float(_out_of_memory_guard(self, lambda: self._core(xp, call)))
        call.warnings.extend(memory_notes)
        if not math.isfinite(value):
            raise ValueError(f"The {self.name!r} entropy estimate of 'x' is not finite ({value}) for this sample of "
                             f"shape {tuple(x.shape)}. Check it for repeated or degenerate rows, or use another "
                             "estimator.")
        se = lo = hi = None
        if level is not None:
            se, lo, hi = _half_sample_interval(self, lambda idx: self._core(xp[idx], call), value, n, level, rng)
        return EntropyResult(dim=dim, **_result_fields(self, value, units, level, se, lo, hi, n, call, t0))
