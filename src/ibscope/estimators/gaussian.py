"""Gaussian closed-form MI and entropy from sample covariances.

Exact for jointly Gaussian data and blind to non-linear dependence: for any
other distribution it measures only the linear (second-order) part, and it is
a lower bound on the MI of any distribution with the same covariance.

    I(X; Y) = 0.5 * (log det S_X + log det S_Y - log det S_XY)
    H(X)    = 0.5 * log det (2 pi e S_X)
"""

from __future__ import annotations

import numpy as np

from .._validation import scale_free
from .base import EntropyEstimator, MIEstimator


def _logdet_cov(x: np.ndarray) -> float:
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    sign, logdet = np.linalg.slogdet(cov)
    return logdet if sign > 0 else -np.inf


def gaussian_mi_from_samples(x: np.ndarray, y: np.ndarray) -> float:
    """Closed-form Gaussian MI (nats) of two samples from their covariances."""
    xs, ys = scale_free(x), scale_free(y)  # any magnitude and offset, without overflow
    lx, ly, lxy = _logdet_cov(xs), _logdet_cov(ys), _logdet_cov(np.hstack([xs, ys]))
    for name, value in (("x", lx), ("y", ly)):
        if not np.isfinite(value):
            raise ValueError(
                f"The sample covariance of '{name}' is singular (some combination of its columns is constant, "
                "e.g. a duplicated or constant column, or fewer rows than columns), so the Gaussian MI is not "
                "defined. Drop the redundant columns or use more samples."
            )
    if not np.isfinite(lxy):
        raise ValueError(
            "The joint sample covariance of 'x' and 'y' is singular: a combination of x's columns equals one of "
            "y's exactly, so the Gaussian MI is infinite. Check for columns copied from one side to the other, "
            "or use more samples than dim_x + dim_y."
        )
    return float(0.5 * (lx + ly - lxy))


class GaussianMI(MIEstimator):
    """Closed-form MI of a Gaussian with the sample covariance (see module docs).

    Parameters
    ----------
    units, ci, n_subsamples, random_state
    """

    name = "gaussian"
    #: exact for Gaussian data at any correlation (an exactly singular covariance raises): no identity rule
    _skip_rules = frozenset({"identical"})

    def __init__(self, *, units="nats", ci=None, n_subsamples=30, random_state=None):
        self._store_params(locals())

    def _check_params(self, n_samples):
        pass

    def _prepare(self, x, y, call):
        if len(x) <= x.shape[1] + y.shape[1]:
            call.warnings.append(
                f"n_samples={len(x)} does not exceed dim_x + dim_y = {x.shape[1] + y.shape[1]}: the sample "
                "covariance is singular and the Gaussian MI is not identifiable."
            )
        return x, y

    def _core(self, x, y, call):
        return gaussian_mi_from_samples(x, y)

    def _min_subsample(self, n):
        return 3


class GaussianEntropy(EntropyEstimator):
    """Closed-form differential entropy 0.5 log det(2 pi e S) of a Gaussian fit."""

    name = "gaussian"

    def __init__(self, *, units="nats", ci=None, n_subsamples=30, random_state=None):
        self._store_params(locals())

    def _core(self, x, call):
        d = x.shape[1]
        return float(0.5 * (d * np.log(2 * np.pi * np.e) + _logdet_cov(x)))

    def _min_subsample(self, n):
        return 3
