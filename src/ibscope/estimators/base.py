"""Base classes shared by every estimator.

An estimator is a small object configured in ``__init__`` (explicit keyword
parameters, no logic) whose ``estimate(x, y)`` validates the data, runs the
estimator's core on arrays, optionally computes a confidence interval, and
returns an :class:`~ibscope.MIResult`.

Subclasses implement:

* ``_prepare(x, y, rng, warnings)`` -> arrays (validation beyond the basics,
  standardisation, tie-breaking jitter); the result is what CIs resample.
* ``_core(x, y, rng)`` -> float in nats on prepared arrays.
"""

from __future__ import annotations

import time

import numpy as np

from .._params import Configurable
from .._random import make_rng
from .._result import EntropyResult, MIResult, check_units, convert
from .._validation import as_labels, as_samples, check_ci, check_int, check_same_length


class _Configurable(Configurable):
    """Estimator parameters (see :class:`ibscope._params.Configurable`); ``name`` is
    the estimator's registry name."""

    name = ""


def _std(x: np.ndarray) -> np.ndarray:
    return x.std(axis=0)


def standardize(x: np.ndarray, name: str, warnings: list) -> np.ndarray:
    """Scale every column to zero mean and unit variance; warn about near-constant columns.

    Exactly constant columns carry no information and are left at zero (they would
    otherwise divide by zero); near-constant ones are flagged because kNN
    estimators then see almost only ties in that coordinate.
    """
    mean = x.mean(axis=0)
    sd = _std(x)
    scale = np.abs(mean) + 1.0
    tiny = sd <= 1e-12 * scale
    if np.any(tiny):
        warnings.append(
            f"'{name}' has {int(tiny.sum())} (near-)constant column(s) (indices {np.flatnonzero(tiny)[:5].tolist()}); "
            "they carry no information and were set to 0."
        )
        sd = np.where(tiny, 1.0, sd)
    out = (x - mean) / sd
    if np.any(tiny):
        out[:, tiny] = 0.0
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


class MIEstimator(_Configurable):
    """Base class of mutual-information estimators.

    Common parameters of every estimator (set in the subclass ``__init__``):
    ``units``, ``ci`` (None or a level in (0, 1)), ``n_subsamples`` and
    ``random_state``.
    """

    #: whether ``y`` is a vector of discrete labels for this estimator
    y_discrete = False
    #: whether ``x`` is a vector of discrete labels for this estimator
    x_discrete = False

    # ----------------------------------------------------------------- hooks
    def _check_params(self, n_samples: int) -> None:  # pragma: no cover - overridden
        pass

    def _prepare(self, x, y, rng, warnings):
        return x, y

    def _core(self, x, y, rng) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _post_warnings(self, raw_nats: float, n: int, warnings: list) -> None:
        pass

    def _extra(self) -> dict:
        return {}

    # ----------------------------------------------------------------- driver
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
        warnings: list[str] = []
        xp, yp = self._prepare(x, y, rng, warnings)
        raw = float(self._core(xp, yp, rng))
        se = lo = hi = None
        if level is not None:
            from ..stats import subsample_interval

            n_sub = check_int(getattr(self, "n_subsamples", 30), "n_subsamples", self._owner, low=2)
            se, lo, hi = subsample_interval(
                lambda idx: self._core(xp[idx], yp[idx], rng), raw, n, level, n_sub, rng,
                min_size=self._min_subsample(n),
            )
        self._post_warnings(raw, n, warnings)
        if raw < 0:
            warnings.append(
                f"Negative raw estimate {raw:.4g} nats was clipped to 0 (MI is non-negative; small negative "
                "values are estimator bias/variance around independence)."
            )
        dim_x = 1 if x.ndim == 1 else x.shape[1]
        dim_y = 1 if y.ndim == 1 else y.shape[1]
        return MIResult(
            value=convert(max(raw, 0.0), units),
            units=units,
            raw_value=convert(raw, units),
            ci_low=convert(lo, units),
            ci_high=convert(hi, units),
            ci_level=level,
            std_err=convert(se, units),
            n_samples=n,
            dim_x=dim_x,
            dim_y=dim_y,
            estimator=self.name,
            params=self.get_params(),
            seed=seed,
            time_s=time.perf_counter() - t0,
            warnings=warnings,
            extra=self._extra(),
        )

    def _min_subsample(self, n: int) -> int:
        return max(getattr(self, "k", 1) + 2, 3)


class EntropyEstimator(_Configurable):
    """Base class of entropy estimators (``estimate(x) -> EntropyResult``)."""

    discrete = False

    def _check_params(self, n_samples: int, dim: int) -> None:
        pass

    def _prepare(self, x, rng, warnings):
        return x

    def _core(self, x, rng) -> float:  # pragma: no cover - abstract
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
        rng, seed = make_rng(getattr(self, "random_state", None))
        warnings: list[str] = []
        xp = self._prepare(x, rng, warnings)
        value = float(self._core(xp, rng))
        se = lo = hi = None
        if level is not None:
            from ..stats import subsample_interval

            n_sub = check_int(getattr(self, "n_subsamples", 30), "n_subsamples", self._owner, low=2)
            se, lo, hi = subsample_interval(
                lambda idx: self._core(xp[idx], rng), value, n, level, n_sub, rng, min_size=self._min_subsample(n)
            )
        return EntropyResult(
            value=convert(value, units),
            units=units,
            ci_low=convert(lo, units),
            ci_high=convert(hi, units),
            ci_level=level,
            std_err=convert(se, units),
            n_samples=n,
            dim=dim,
            estimator=self.name,
            params=self.get_params(),
            seed=seed,
            time_s=time.perf_counter() - t0,
            warnings=warnings,
        )
