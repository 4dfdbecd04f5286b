"""Heavy-tailed pairs: the multivariate Student-t distribution with closed-form MI.

Let ``(X, Y)`` be ``d = d_x + d_y``-variate Student-t with ``nu`` degrees of
freedom, location 0 and dispersion (scale) matrix ``Sigma``. Every marginal of a
multivariate t is a t with the same ``nu`` and the matching block of ``Sigma``, and
the differential entropy of a ``k``-variate t is

    H_k = 1/2 log det Sigma_k + k/2 log(nu pi) + g(k),
    g(k) = log Gamma(nu/2) - log Gamma((nu + k)/2)
           + (nu + k)/2 [psi((nu + k)/2) - psi(nu/2)],

with ``psi`` the digamma function. In ``I = H_X + H_Y - H_XY`` the ``log(nu pi)``
terms cancel, so

    I(X; Y) = 1/2 log(det Sigma_X det Sigma_Y / det Sigma) + g(d_x) + g(d_y) - g(d_x + d_y).

The first term is the Gaussian MI of the dispersion matrix; the second, ``c(nu)``,
is positive and comes from the shared random scale: even with ``Sigma = I`` the
two sides are dependent. ``c(nu) -> 0`` as ``nu -> inf``.

References
----------
Arellano-Valle, Contreras-Reyes and Genton (2013), "Shannon entropy and mutual
information for multivariate skew-elliptical distributions", Scand. J. Stat.
Czyż, Grabowski, Vogt, Beerenwinkel and Marx (2023), "Beyond Normal: On the
Evaluation of Mutual Information Estimators", NeurIPS.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from .._random import make_rng
from .._validation import check_float, check_int
from .gaussian import CorrelatedGaussian

__all__ = ["MultivariateStudentT", "student_t_mi", "student_t_shape_mi"]


def _g(nu: float, k: int) -> float:
    half = 0.5 * (nu + k)
    return float(gammaln(0.5 * nu) - gammaln(half) + half * (digamma(half) - digamma(0.5 * nu)))


def student_t_shape_mi(dof: float, dim_x: int, dim_y: int) -> float:
    """MI (nats) of a multivariate t with identity dispersion: the shared-scale term ``c(nu)``.

    Parameters
    ----------
    dof : float
        Degrees of freedom ``nu > 0``.
    dim_x, dim_y : int
        Dimensions of the two sides (>= 1).

    Returns
    -------
    float
        ``g(d_x) + g(d_y) - g(d_x + d_y)`` in nats; positive, decreasing to 0 as
        ``dof`` grows.
    """
    owner = "student_t_shape_mi"
    nu = check_float(dof, "dof", owner, low=0.0, low_open=True)
    dx = check_int(dim_x, "dim_x", owner, low=1)
    dy = check_int(dim_y, "dim_y", owner, low=1)
    return _g(nu, dx) + _g(nu, dy) - _g(nu, dx + dy)


def student_t_mi(dof: float, dim_x: int, dim_y: int, rho=None) -> float:
    """Exact MI (nats) of a multivariate t whose dispersion pairs coordinates with correlations ``rho``.

    Parameters
    ----------
    dof : float
        Degrees of freedom ``nu > 0``.
    dim_x, dim_y : int
        Dimensions of the two sides.
    rho : array-like of length <= min(dim_x, dim_y) or None, default=None
        Dispersion correlations of the pairs ``(X_i, Y_i)``; all other entries of
        the dispersion are those of the identity. ``None`` means no pairing.

    Returns
    -------
    float
        ``-1/2 sum log(1 - rho^2) + student_t_shape_mi(dof, dim_x, dim_y)``.
    """
    shape = student_t_shape_mi(dof, dim_x, dim_y)
    if rho is None:
        return shape
    rho = np.asarray(rho, dtype=float).ravel()
    if len(rho) > min(dim_x, dim_y) or np.any(np.abs(rho) >= 1):
        raise ValueError(
            f"The 'rho' argument of student_t_mi must hold at most min(dim_x, dim_y) = {min(dim_x, dim_y)} "
            f"correlations in (-1, 1). Got {rho.tolist()}."
        )
    return float(-0.5 * np.sum(np.log1p(-(rho**2)))) + shape


class MultivariateStudentT:
    """Sampler of ``(X, Y)`` jointly Student-t with known MI.

    ``(X, Y) = (G_X, G_Y) / sqrt(W / nu)`` with ``(G_X, G_Y)`` from a
    :class:`~ibscope.synthetic.gaussian.CorrelatedGaussian` (unit-variance pairs)
    and an independent ``W ~ chi^2(nu)`` shared by both sides. The dispersion is
    the Gaussian's covariance, so the MI is the Gaussian MI plus the shared-scale
    term :func:`student_t_shape_mi`. Mixing (``mix=True``) rotates each side by
    its own orthogonal matrix, which leaves the MI unchanged.

    Parameters
    ----------
    dim_x, dim_y : int, default=1
        Dimensions of X and Y.
    dof : float, default=5.0
        Degrees of freedom ``nu > 0``; small values give heavy tails (no variance
        for ``nu <= 2``).
    mi : float or None, default=None
        Target MI in nats. ``None`` uses the identity dispersion, whose MI is the
        smallest possible for this ``dof`` and dimensions (``student_t_shape_mi``).
        A given ``mi`` must be at least that value; the rest is put into equal
        dispersion correlations of ``min(dim_x, dim_y)`` pairs.
    mix : bool, default=False
        Rotate each side by a Haar-random orthogonal matrix drawn from ``mix_seed``.
    mix_seed : int, default=0
        Seed of the mixing matrices (fixed per sampler, documented, not per draw).
    """

    def __init__(self, dim_x: int = 1, dim_y: int = 1, dof: float = 5.0, mi: float | None = None, *,
                 mix: bool = False, mix_seed: int = 0):
        owner = "MultivariateStudentT"
        self.dim_x = check_int(dim_x, "dim_x", owner, low=1)
        self.dim_y = check_int(dim_y, "dim_y", owner, low=1)
        self.dof = check_float(dof, "dof", owner, low=0.0, low_open=True)
        self.shape_mi = student_t_shape_mi(self.dof, self.dim_x, self.dim_y)
        if mi is None:
            gauss_mi = 0.0
        else:
            mi = check_float(mi, "mi", owner, low=0.0)
            if mi < self.shape_mi - 1e-12:
                raise ValueError(
                    f"The 'mi' parameter of {owner} must be at least {self.shape_mi:.6g} nats for dof={self.dof:g}, "
                    f"dim_x={self.dim_x}, dim_y={self.dim_y}: the shared random scale alone carries that much. "
                    f"Got {mi} instead. Pass mi=None for the minimum, a larger mi, or a larger dof."
                )
            gauss_mi = max(mi - self.shape_mi, 0.0)
        self.mi = mi
        self.mix = bool(mix)
        self.mix_seed = check_int(mix_seed, "mix_seed", owner, low=0)
        self._gaussian = CorrelatedGaussian(self.dim_x, self.dim_y, gauss_mi, mix=self.mix, mix_seed=self.mix_seed)
        self.rho = self._gaussian.rho

    def mutual_information(self) -> float:
        """True MI in nats."""
        return student_t_mi(self.dof, self.dim_x, self.dim_y, self.rho)

    def sample(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs.

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        random_state : int, numpy.random.Generator or None, default=None
            Seed of the draw.

        Returns
        -------
        x, y : ndarray of shapes (n, dim_x) and (n, dim_y), float64
        """
        n = check_int(n, "n", "MultivariateStudentT.sample", low=1)
        rng, _ = make_rng(random_state)
        gx, gy = self._gaussian.sample(n, rng)
        scale = np.sqrt(self.dof / rng.chisquare(self.dof, size=(n, 1)))
        return gx * scale, gy * scale
