"""Scalar bounds: binary entropy, Clopper-Pearson, Fano, empirical Bernstein."""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_float, check_int


# ---------------------------------------------------------------------------------------------------------------
# Scalar bounds
# ---------------------------------------------------------------------------------------------------------------
def binary_entropy(p: float) -> float:
    """Binary entropy ``h(p) = -p ln p - (1 - p) ln(1 - p)`` in nats (0 at p = 0 and p = 1)."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"binary_entropy needs a probability in [0, 1]. Got {p!r}.")
    if p in (0.0, 1.0):
        return 0.0
    return -(p * math.log(p) + (1.0 - p) * math.log1p(-p))


def clopper_pearson_upper(n_errors: int, n_trials: int, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper confidence limit of a binomial error rate.

    Parameters
    ----------
    n_errors, n_trials : int
        Errors observed in ``n_trials`` independent trials (0 <= n_errors <= n_trials, n_trials >= 1).
    level : float, default=0.95
        Confidence level in (0, 1): ``P(rate <= limit) >= level`` for every true rate.

    Returns
    -------
    float
        The limit in [0, 1]: the ``level`` quantile of Beta(k + 1, n - k), 1 when k = n.
    """
    from scipy.stats import beta

    n = check_int(n_trials, "n_trials", "clopper_pearson_upper", low=1)
    k = check_int(n_errors, "n_errors", "clopper_pearson_upper", low=0, high=n)
    level = check_float(level, "level", "clopper_pearson_upper", low=0.0, high=1.0, low_open=True, high_open=True)
    if k == n:
        return 1.0
    return float(beta.ppf(level, k + 1, n - k))


def fano_lower_bound(entropy: float, n_errors: int, n_trials: int, n_values: int, *,
                     level: float | None = 0.95) -> float:
    """Fano's lower bound on I(V; L) from the error count of a decoder of V, in nats.

    Fano's inequality ``H(V | L) <= h(Pe) + Pe ln(K - 1)`` for any decoder of a variable V with K
    values gives ``I(V;L) >= H(V) - h(Pe) - Pe ln(K - 1)``. The error rate Pe is replaced by its
    Clopper-Pearson upper limit, capped at ``(K - 1) / K`` where ``h(p) + p ln(K - 1)`` (increasing
    below it) reaches its maximum ``ln K``, so the bound holds with probability >= ``level``.

    Parameters
    ----------
    entropy : float
        H(V) in nats (``ln N`` for V uniform on N values).
    n_errors, n_trials : int
        Decoding errors in ``n_trials`` iid trials (V drawn from its law each time).
    n_values : int
        K, the number of values V can take (>= 1).
    level : float or None, default=0.95
        Confidence level of the limit on Pe; None uses the observed rate (a point value, no guarantee).

    Returns
    -------
    float
        ``max(0, H - h(p) - p ln(K - 1))`` with ``p = min(limit, (K - 1) / K)``; 0 is itself a
        valid bound (mutual information is never negative).
    """
    k_values = check_int(n_values, "n_values", "fano_lower_bound", low=1)
    n = check_int(n_trials, "n_trials", "fano_lower_bound", low=1)
    k = check_int(n_errors, "n_errors", "fano_lower_bound", low=0, high=n)
    if k_values == 1:
        return max(0.0, float(entropy))
    p = clopper_pearson_upper(k, n, level) if level is not None else k / n
    p = min(p, (k_values - 1) / k_values)
    return max(0.0, float(entropy) - binary_entropy(p) - p * math.log(k_values - 1))


def bernstein_mean_upper(values, upper: float, delta: float) -> float:
    """Empirical-Bernstein upper confidence bound on the mean of iid variables in [0, upper].

    Maurer & Pontil (2009, Theorem 4): with probability >= 1 - delta,
    ``E V <= mean + sqrt(2 var ln(2/delta) / n) + 7 upper ln(2/delta) / (3 (n - 1))``,
    with ``var`` the unbiased sample variance.

    Parameters
    ----------
    values : array-like of shape (n,), n >= 2
    upper : float
        The known range's upper end (> 0); values are clipped to [0, upper] first.
    delta : float
        Error probability in (0, 1).

    Returns
    -------
    float
    """
    v = np.clip(np.asarray(values, dtype=np.float64).ravel(), 0.0, float(upper))
    n = v.size
    if n < 2:
        raise ValueError(f"bernstein_mean_upper needs at least 2 values. Got {n}.")
    delta = check_float(delta, "delta", "bernstein_mean_upper", low=0.0, high=1.0, low_open=True, high_open=True)
    log_term = math.log(2.0 / delta)
    return float(v.mean() + math.sqrt(2.0 * v.var(ddof=1) * log_term / n) + 7.0 * upper * log_term / (3.0 * (n - 1)))


