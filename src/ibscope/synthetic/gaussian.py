"""Correlated Gaussian pairs with a prescribed, exactly known mutual information."""

from __future__ import annotations

import numpy as np
from scipy.stats import special_ortho_group

from .._random import make_rng
from .._validation import check_float, check_int


def correlations_for_mi(mi: float, n_pairs: int) -> np.ndarray:
    """Per-pair correlations that split ``mi`` nats equally over ``n_pairs`` pairs.

    For a pair with correlation rho the MI is -0.5 log(1 - rho^2), so
    rho = sqrt(1 - exp(-2 mi / n_pairs)).
    """
    return np.full(n_pairs, np.sqrt(-np.expm1(-2.0 * mi / n_pairs)))


def gaussian_mi(rho) -> float:
    """Exact MI (nats) of independent pairs with correlations ``rho``."""
    rho = np.asarray(rho, dtype=float)
    return float(-0.5 * np.sum(np.log1p(-rho**2)))


class CorrelatedGaussian:
    """Sampler of (X, Y) jointly Gaussian with known MI.

    The first ``min(dim_x, dim_y)`` coordinates of X and Y are paired with equal
    correlations so that the total MI is ``mi`` nats; the remaining coordinates
    are independent standard normals. With ``mix=True`` each side is then rotated
    by its own Haar-random orthogonal matrix (drawn from ``mix_seed``), which
    leaves the MI unchanged but hides the pairing from per-coordinate methods.

    Parameters
    ----------
    dim_x, dim_y : int
    mi : float
        True mutual information in nats (>= 0).
    mix : bool, default=False
    mix_seed : int, default=0
    """

    def __init__(self, dim_x: int = 1, dim_y: int = 1, mi: float = 1.0, *, mix: bool = False, mix_seed: int = 0):
        self.dim_x = check_int(dim_x, "dim_x", "CorrelatedGaussian", low=1)
        self.dim_y = check_int(dim_y, "dim_y", "CorrelatedGaussian", low=1)
        self.mi = check_float(mi, "mi", "CorrelatedGaussian", low=0.0)
        self.mix = bool(mix)
        self.mix_seed = int(mix_seed)
        m = min(self.dim_x, self.dim_y)
        self.rho = correlations_for_mi(self.mi, m)
        if self.mix:
            rng = np.random.default_rng(self.mix_seed)
            self._qx = special_ortho_group.rvs(self.dim_x, random_state=rng) if self.dim_x > 1 else np.eye(1)
            self._qy = special_ortho_group.rvs(self.dim_y, random_state=rng) if self.dim_y > 1 else np.eye(1)

    def mutual_information(self) -> float:
        """True MI in nats."""
        return gaussian_mi(self.rho)

    def sample(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs; returns ``(x, y)`` of shapes (n, dim_x), (n, dim_y)."""
        n = check_int(n, "n", "CorrelatedGaussian.sample", low=1)
        rng, _ = make_rng(random_state)
        m = len(self.rho)
        x = rng.standard_normal((n, self.dim_x))
        y = rng.standard_normal((n, self.dim_y))
        y[:, :m] = self.rho * x[:, :m] + np.sqrt(1.0 - self.rho**2) * y[:, :m]
        if self.mix:
            x = x @ self._qx.T
            y = y @ self._qy.T
        return x, y


def correlated_gaussian(n: int, dim_x: int = 1, dim_y: int = 1, mi: float = 1.0, *, mix: bool = False,
                        random_state=None):
    """Draw ``n`` samples of a :class:`CorrelatedGaussian`; returns ``(x, y, true_mi)``."""
    sampler = CorrelatedGaussian(dim_x, dim_y, mi, mix=mix, mix_seed=0)
    x, y = sampler.sample(n, random_state)
    return x, y, sampler.mutual_information()
