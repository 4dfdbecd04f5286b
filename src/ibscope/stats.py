"""Confidence intervals for kNN-type estimators by subsampling.

Why not the ordinary bootstrap: resampling *with* replacement duplicates points,
a duplicate is its own nearest neighbour at distance 0, and kNN estimates of MI
jump upwards (Holmes & Nemenman 2019). We therefore draw ``B`` subsamples of
size ``m`` *without* replacement (default ``m = n/2``, "half-sampling") and
re-run the estimator on each.

For an asymptotically linear estimator, the variance of a size-``m`` subsample
estimate around the full-sample one is ``sigma^2 (1/m - 1/n)``, so the standard
error of the full-sample estimate is

    se = sd(theta*_m) * sqrt((m / n) / (1 - m / n)),

which equals the subsample spread when ``m = n/2``. The interval is
``theta_n -/+ t_{B-1, (1+level)/2} * se`` (Student t, because ``sd`` is itself
estimated from ``B`` draws). The interval quantifies sampling variability only;
it does not include the estimator's bias, which for kNN estimators grows with
dimension and with the true MI. The mean shift between subsample and full
estimates is reported by :func:`subsample_interval` callers as a bias hint.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st


def subsample_indices(n: int, m: int, n_subsamples: int, rng: np.random.Generator):
    """Yield ``n_subsamples`` sorted index arrays of size ``m`` drawn without replacement."""
    for _ in range(n_subsamples):
        yield np.sort(rng.choice(n, size=m, replace=False))


def subsample_interval(fn, estimate: float, n: int, level: float, n_subsamples: int, rng, *,
                       min_size: int = 3, fraction: float = 0.5):
    """Standard error and two-sided interval of ``estimate`` by half-sampling.

    Parameters
    ----------
    fn : callable
        ``fn(indices) -> float`` re-runs the estimator on the rows ``indices``.
    estimate : float
        Full-sample estimate (the interval's centre).
    n : int
        Full sample size.
    level : float
        Nominal coverage in (0, 1).
    n_subsamples : int
        Number of subsamples ``B`` (>= 2).
    rng : numpy.random.Generator
    min_size : int
        Smallest subsample the estimator accepts (e.g. k + 2).
    fraction : float
        Subsample size as a fraction of ``n``.

    Returns
    -------
    (se, low, high) : tuple of float
    """
    m = int(round(fraction * n))
    if m < min_size or m >= n:
        raise ValueError(
            f"Too few samples for a subsampling confidence interval: n_samples={n} gives subsamples of {m} rows, "
            f"but the estimator needs at least {min_size}. Pass ci=None or more samples."
        )
    values = np.array([fn(idx) for idx in subsample_indices(n, m, n_subsamples, rng)], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float("nan"), float("nan"), float("nan")
    sd = values.std(ddof=1)
    se = float(sd * np.sqrt((m / n) / (1.0 - m / n)))
    q = float(_st.t.ppf(0.5 + level / 2.0, df=len(values) - 1))
    return se, float(estimate - q * se), float(estimate + q * se)
