"""Harder dependence with known mutual information: shells, periodic shears, spirals, diluted dependence.

These families put the dependence where per-coordinate methods (rank copulas) and k-NN
estimators in many dimensions are weak. Each is a sampler with ``sample(n, random_state)``,
``dim_x``, ``dim_y``, ``mutual_information()`` and ``mi_std_err`` (0 for an exact value, the
standard error of the Monte Carlo mean otherwise; the Monte Carlo seed and sample size are fixed and
documented, so the ground truth is one reproducible number).

:class:`Shells`
    Dependence through the **norm** of many coordinates: a hidden shell index ``S`` sets the log-radius
    of ``X = R_X U_X`` (``U_X`` uniform on the sphere) and of ``Y``. ``I(X; Y) = I(log R_X; log R_Y)``,
    a 2-D Gaussian-mixture MI computed by quadrature (error below 1e-6 nats).
:class:`PeriodicShear`
    A Gaussian mixture in ``dim_x + dim_y`` dimensions whose X side is sheared periodically,
    ``X_j <- X_j + a sin(omega X_0 + phase_j)`` (a unit-Jacobian bijection). MI of the mixture by Monte Carlo.
:class:`Spiral`
    Correlated Gaussians (MI split over ``min(dim_x, dim_y)`` pairs, each side rotated by a Haar-random
    matrix), then each side turned in a random plane by an angle proportional to its squared norm,
    ``x -> exp(speed |x|^2 / dim A) x`` with ``A`` the generator of the plane. Norm-preserving and
    invertible, so the MI is the Gaussian's, exactly.
:class:`InlierMixture`
    Gaussian dependence diluted by independent *inliers*: a fraction ``dependent_fraction`` of the rows is
    a correlated Gaussian pair (MI ``mi_dependent``), the rest independent standard normals with the same
    marginals. ``I = E[log(p r(x, y) + 1 - p)]`` with ``r`` the Gaussian density ratio, by Monte Carlo.

All samplers are deterministic functions of their parameters and ``mix_seed`` (the mixing matrices,
planes and mixture components); ``random_state`` seeds only the draw.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import logsumexp
from scipy.stats import special_ortho_group

from .._random import make_rng
from .._validation import check_float, check_int
from .gaussian import CorrelatedGaussian, correlations_for_mi

__all__ = ["InlierMixture", "PeriodicShear", "Shells", "Spiral", "MC_SAMPLES", "MC_SEED"]

#: Monte Carlo sample size and seed of every Monte Carlo ground truth in this module
MC_SAMPLES = 1_000_000
MC_SEED = 20_240_601
_MC_CHUNK = 200_000


def _unit_sphere(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    g = rng.standard_normal((n, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _mc_mean(term, n_total: int = MC_SAMPLES, seed: int = MC_SEED) -> tuple[float, float]:
    """Mean and standard error of ``term(rng, n)`` (per-row values) over ``n_total`` rows, in chunks."""
    rng = np.random.default_rng(seed)
    s = s2 = 0.0
    done = 0
    while done < n_total:
        m = min(_MC_CHUNK, n_total - done)
        v = term(rng, m)
        s += float(v.sum())
        s2 += float((v * v).sum())
        done += m
    mean = s / n_total
    var = max(s2 / n_total - mean * mean, 0.0)
    return mean, math.sqrt(var / n_total)


def _plane(rng: np.random.Generator, d: int) -> tuple[np.ndarray, np.ndarray]:
    """A random orthonormal pair (u, w) in R^d."""
    q = special_ortho_group.rvs(d, random_state=rng) if d > 2 else np.eye(2)
    return q[:, 0].copy(), q[:, 1].copy()


def _rotate_in_plane(x: np.ndarray, u: np.ndarray, w: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate every row of ``x`` by its own ``angle`` in the plane spanned by orthonormal ``u``, ``w``."""
    a, b = x @ u, x @ w
    c, s = np.cos(angle), np.sin(angle)
    return x + np.outer(a * (c - 1.0) - b * s, u) + np.outer(a * s + b * (c - 1.0), w)


# --------------------------------------------------------------------------- shells
@functools.lru_cache(maxsize=64)
def _shells_mi(n_shells: int, spacing: float, spread: float) -> float:
    """I(A; B) of the 2-D mixture (1/K) sum_k N((m_k, m_k), spread^2 I), m_k = k spacing, by quadrature."""
    m = spacing * np.arange(n_shells)
    h = spread / 40.0
    grid = np.arange(m[0] - 9.0 * spread, m[-1] + 9.0 * spread + h, h)
    # log of each component's 1-D density on the grid, (K, G)
    lc = -0.5 * ((grid[None, :] - m[:, None]) / spread) ** 2 - math.log(spread * math.sqrt(2.0 * math.pi))
    log_marg = logsumexp(lc, axis=0) - math.log(n_shells)  # the same for A and B
    log_joint = logsumexp(lc[:, :, None] + lc[:, None, :], axis=0) - math.log(n_shells)  # (G, G)
    pmi = log_joint - log_marg[:, None] - log_marg[None, :]
    return float(np.sum(np.exp(log_joint) * pmi) * h * h)


class Shells:
    """Dependence through the norm: a shared shell index sets the radii of X and Y.

    ``S`` is uniform on ``{0, ..., n_shells - 1}``; ``log R_X = S spacing + spread e_X`` and
    ``log R_Y = S spacing + spread e_Y`` with independent standard normal ``e``. Then
    ``X = R_X U_X`` with ``U_X`` uniform on the unit sphere of ``R^dim_x``, and likewise
    ``Y = R_Y U_Y``; for ``dim_y = 1``, ``Y = log R_Y`` itself (a continuous score of the shell).

    The directions are independent of everything else, so
    ``I(X; Y) = I(log R_X; log R_Y)``: the MI of a 2-D Gaussian mixture with ``n_shells``
    equal components centred on the diagonal, computed by quadrature on a grid of step
    ``spread / 40`` over ``+- 9 spread`` beyond the centres (error below 1e-6 nats). It is at most
    ``log(n_shells)``. Every coordinate of X is uncorrelated with Y, and its rank copula carries no
    linear trace of the dependence; k-NN estimators must resolve the norm in ``dim_x`` dimensions.

    Parameters
    ----------
    dim_x, dim_y : int, default=25, 1
    n_shells : int, default=4
    spacing : float, default=0.5
        Distance between the shells' log-radii.
    spread : float, default=0.15
        Standard deviation of the log-radii around their shell.
    """

    mi_std_err = 0.0

    def __init__(self, dim_x: int = 25, dim_y: int = 1, n_shells: int = 4, spacing: float = 0.5,
                 spread: float = 0.15):
        owner = "Shells"
        self.dim_x = check_int(dim_x, "dim_x", owner, low=1)
        self.dim_y = check_int(dim_y, "dim_y", owner, low=1)
        self.n_shells = check_int(n_shells, "n_shells", owner, low=1)
        self.spacing = check_float(spacing, "spacing", owner, low=0.0)
        self.spread = check_float(spread, "spread", owner, low=0.0, low_open=True)

    def mutual_information(self) -> float:
        """True MI in nats (quadrature)."""
        if self.n_shells == 1 or self.spacing == 0.0:
            return 0.0
        return _shells_mi(self.n_shells, self.spacing, self.spread)

    def sample(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs; returns ``(x, y)`` of shapes (n, dim_x), (n, dim_y)."""
        n = check_int(n, "n", "Shells.sample", low=1)
        rng, _ = make_rng(random_state)
        s = rng.integers(0, self.n_shells, size=n) * self.spacing
        log_rx = s + self.spread * rng.standard_normal(n)
        log_ry = s + self.spread * rng.standard_normal(n)
        x = np.exp(log_rx)[:, None] * _unit_sphere(rng, n, self.dim_x)
        y = log_ry[:, None] if self.dim_y == 1 else np.exp(log_ry)[:, None] * _unit_sphere(rng, n, self.dim_y)
        return x, y


# --------------------------------------------------------------------------- periodic shear of a mixture
class PeriodicShear:
    """A Gaussian mixture whose X side is sheared by a periodic function of its first coordinate.

    The latent ``(Z, Y)`` in ``dim_x + dim_y`` dimensions is a mixture of ``n_components`` equally
    weighted Gaussians with means drawn from ``N(0, separation^2 I)`` and covariances ``L L^T`` with
    ``L = 0.6 (I + 0.4 G)`` (``G`` standard normal), all drawn once from ``mix_seed``. The observed X is
    ``X_0 = Z_0`` and ``X_j = Z_j + amplitude sin(frequency Z_0 + 2 pi j / dim_x)`` for ``j >= 1``: a
    triangular map with unit Jacobian, so ``I(X; Y) = I(Z; Y)``, the mixture's MI. It is estimated by
    Monte Carlo with exact mixture log-densities (:data:`MC_SAMPLES` rows, seed :data:`MC_SEED`;
    ``mi_std_err`` is the standard error, about 1e-3 nats).

    Parameters
    ----------
    dim_x : int, default=2
        At least 2 (the shear needs a second coordinate).
    dim_y : int, default=1
    n_components : int, default=3
    separation : float, default=1.5
    amplitude : float, default=1.5
    frequency : float, default=3.0
    mix_seed : int, default=0
    """

    def __init__(self, dim_x: int = 2, dim_y: int = 1, n_components: int = 3, separation: float = 1.5,
                 amplitude: float = 1.5, frequency: float = 3.0, mix_seed: int = 0):
        owner = "PeriodicShear"
        self.dim_x = check_int(dim_x, "dim_x", owner, low=2, hint="The shear needs a second coordinate.")
        self.dim_y = check_int(dim_y, "dim_y", owner, low=1)
        self.n_components = check_int(n_components, "n_components", owner, low=1)
        self.separation = check_float(separation, "separation", owner, low=0.0)
        self.amplitude = check_float(amplitude, "amplitude", owner, low=0.0)
        self.frequency = check_float(frequency, "frequency", owner, low=0.0)
        self.mix_seed = check_int(mix_seed, "mix_seed", owner, low=0)
        d = self.dim_x + self.dim_y
        rng = np.random.default_rng(self.mix_seed)
        self.means = self.separation * rng.standard_normal((self.n_components, d))
        self.chols = np.stack([np.linalg.cholesky(_spd(rng, d)) for _ in range(self.n_components)])

    @property
    def mi_std_err(self) -> float:
        """Standard error (nats) of the Monte Carlo ground truth."""
        return _mixture_mi(self._key())[1]

    def _key(self):
        return (self.dim_x, self.means.tobytes(), self.chols.tobytes(), self.means.shape)

    def mutual_information(self) -> float:
        """True MI in nats (Monte Carlo; see ``mi_std_err``)."""
        return _mixture_mi(self._key())[0]

    def _latent(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.integers(0, self.n_components, size=n)
        e = rng.standard_normal((n, self.means.shape[1]))
        return self.means[k] + np.einsum("nij,nj->ni", self.chols[k], e)

    def shear(self, z: np.ndarray) -> np.ndarray:
        """The map from the latent X block ``z`` (n, dim_x) to the observed X."""
        x = z.copy()
        j = np.arange(1, self.dim_x)
        x[:, 1:] += self.amplitude * np.sin(self.frequency * z[:, :1] + 2.0 * math.pi * j / self.dim_x)
        return x

    def sample(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs; returns ``(x, y)`` of shapes (n, dim_x), (n, dim_y)."""
        n = check_int(n, "n", "PeriodicShear.sample", low=1)
        rng, _ = make_rng(random_state)
        z = self._latent(n, rng)
        return self.shear(z[:, : self.dim_x]), z[:, self.dim_x:].copy()


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = 0.6 * (np.eye(d) + 0.4 * rng.standard_normal((d, d)))
    return a @ a.T


def _component_densities(means: np.ndarray, chols: np.ndarray, cols: slice) -> list:
    """Per component: (mean, inverse Cholesky factor, log-normaliser) of the block ``cols`` of its Gaussian."""
    out = []
    for mean, chol in zip(means, chols):
        cov = chol @ chol.T
        sub = np.linalg.cholesky(cov[cols, cols])
        k = sub.shape[0]
        out.append((mean[cols], np.linalg.inv(sub), -np.sum(np.log(np.diag(sub))) - 0.5 * k * math.log(2.0 * math.pi)))
    return out


def _mixture_logpdf(z: np.ndarray, comps: list) -> np.ndarray:
    """Log density of an equally weighted Gaussian mixture at the rows of ``z``."""
    z = np.ascontiguousarray(z)
    logs = np.empty((len(comps), len(z)))
    for i, (mean, inv, norm) in enumerate(comps):
        w = np.einsum("nj,ij->ni", z - mean, inv)  # einsum, not BLAS: no threads to spin for 3 x 3 products
        logs[i] = norm - 0.5 * np.einsum("ij,ij->i", w, w)
    top = logs.max(axis=0)
    return top + np.log(np.exp(logs - top).sum(axis=0)) - math.log(len(comps))


@functools.lru_cache(maxsize=32)
def _mixture_mi(key) -> tuple[float, float]:
    dx, means_b, chols_b, shape = key
    k, d = shape
    means = np.frombuffer(means_b).reshape(k, d)
    chols = np.frombuffer(chols_b).reshape(k, d, d)
    full, side_x, side_y = (_component_densities(means, chols, c)
                            for c in (slice(0, d), slice(0, dx), slice(dx, d)))

    def term(rng, n):
        comp = rng.integers(0, k, size=n)
        z = means[comp] + np.einsum("nij,nj->ni", chols[comp], rng.standard_normal((n, d)))
        return (_mixture_logpdf(z, full) - _mixture_logpdf(z[:, :dx], side_x)
                - _mixture_logpdf(z[:, dx:], side_y))

    return _mc_mean(term)


# --------------------------------------------------------------------------- spiral
class Spiral:
    """Correlated Gaussians turned by a norm-dependent rotation on each side (exact MI).

    The latent pair is a :class:`~ibscope.synthetic.gaussian.CorrelatedGaussian` with ``mi`` nats split
    over ``min(dim_x, dim_y)`` pairs and each side rotated by a Haar-random matrix. Each side ``v`` of
    dimension ``d >= 2`` is then turned in a random plane (spanned by orthonormal ``u``, ``w``) by the
    angle ``speed |v|^2 / d``: ``v -> exp(speed |v|^2 / d A) v`` with ``A = w u^T - u w^T``. The map
    keeps the norm, so it is invertible (turn back by the angle of the output's norm), and the MI is
    exactly ``mi``. The angle has mean ``speed`` and standard deviation ``speed sqrt(2 / d)``, so the
    winding is strongest in few dimensions. A 1-D side is left as it is.

    Parameters
    ----------
    dim_x, dim_y : int, default=3
    mi : float, default=1.0
    speed : float, default=1.0
    mix_seed : int, default=0
    """

    mi_std_err = 0.0

    def __init__(self, dim_x: int = 3, dim_y: int = 3, mi: float = 1.0, speed: float = 1.0, mix_seed: int = 0):
        owner = "Spiral"
        self.dim_x = check_int(dim_x, "dim_x", owner, low=1)
        self.dim_y = check_int(dim_y, "dim_y", owner, low=1)
        self.mi = check_float(mi, "mi", owner, low=0.0)
        self.speed = check_float(speed, "speed", owner)
        self.mix_seed = check_int(mix_seed, "mix_seed", owner, low=0)
        self._gaussian = CorrelatedGaussian(self.dim_x, self.dim_y, self.mi, mix=True, mix_seed=self.mix_seed)
        rng = np.random.default_rng([self.mix_seed, 1])
        self._planes = [_plane(rng, d) if d >= 2 else None for d in (self.dim_x, self.dim_y)]

    def mutual_information(self) -> float:
        """True MI in nats (exact)."""
        return self._gaussian.mutual_information()

    def turn(self, v: np.ndarray, side: int) -> np.ndarray:
        """The spiral map of side 0 (X) or 1 (Y) applied to latent rows ``v``."""
        plane = self._planes[side]
        if plane is None:
            return v
        angle = self.speed * np.sum(v * v, axis=1) / v.shape[1]
        return _rotate_in_plane(v, plane[0], plane[1], angle)

    def sample(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs; returns ``(x, y)`` of shapes (n, dim_x), (n, dim_y)."""
        n = check_int(n, "n", "Spiral.sample", low=1)
        rng, _ = make_rng(random_state)
        x, y = self._gaussian.sample(n, rng)
        return self.turn(x, 0), self.turn(y, 1)


# --------------------------------------------------------------------------- diluted dependence
@functools.lru_cache(maxsize=64)
def _inlier_mi(rho: float, m: int, p: float) -> tuple[float, float]:
    """MI of the inlier mixture with ``m`` pairs of correlation ``rho`` and dependent fraction ``p``, by Monte Carlo.

    The Gaussian component's log density ratio depends on a row only through the 2 x 2 matrix of sums
    ``S = sum_i (x_i, y_i)^T (x_i, y_i)``: ``log r = -m/2 log(1 - rho^2) - rho^2 (S_xx + S_yy) / (2 (1 - rho^2))
    + rho S_xy / (1 - rho^2)``. ``S`` is Wishart with ``m`` degrees of freedom and scale ``[[1, rho], [rho, 1]]``
    for a dependent row, the identity for an independent one; it is drawn directly (Bartlett's decomposition),
    so the cost does not grow with the dimension.
    """
    one = 1.0 - rho * rho
    const = -0.5 * m * math.log(one)
    lower = np.linalg.cholesky(np.array([[1.0, rho], [rho, 1.0]]))

    def stats_of(rng, n, dep):
        if m == 1:
            g = rng.standard_normal((n, 2))
            a11, a21, a22 = g[:, 0], g[:, 1], np.zeros(n)
        else:
            a11 = np.sqrt(rng.chisquare(m, size=n))
            a21 = rng.standard_normal(n)
            a22 = np.sqrt(rng.chisquare(m - 1, size=n))
        # rows of L A for a dependent row (L = lower), of A for an independent one; S = (L A)(L A)^T
        l11 = np.where(dep, lower[0, 0], 1.0)
        l21 = np.where(dep, lower[1, 0], 0.0)
        l22 = np.where(dep, lower[1, 1], 1.0)
        b11, b21, b22 = l11 * a11, l21 * a11 + l22 * a21, l22 * a22
        return b11 * b11, b11 * b21, b21 * b21 + b22 * b22  # S_xx, S_xy, S_yy

    def term(rng, n):
        dep = rng.random(n) < p
        sxx, sxy, syy = stats_of(rng, n, dep)
        log_r = const - 0.5 * rho * rho * (sxx + syy) / one + rho * sxy / one
        return np.logaddexp(math.log(p) + log_r, math.log1p(-p)) if p < 1.0 else log_r

    return _mc_mean(term)


class InlierMixture:
    """Gaussian dependence diluted by a fraction of independent rows with the same marginals.

    With probability ``dependent_fraction = p`` a row is drawn from a
    :class:`~ibscope.synthetic.gaussian.CorrelatedGaussian` with MI ``mi_dependent`` (split over
    ``min(dim_x, dim_y)`` pairs, each side rotated by a Haar-random matrix), otherwise X and Y are
    independent standard normals. Both components have standard normal marginals, so the
    independent rows are *inliers*: nothing in either margin tells them apart. The density ratio is
    ``p r(x, y) + 1 - p`` with ``r`` the Gaussian component's, so
    ``I(X; Y) = E[log(p r(X, Y) + 1 - p)]``, estimated by Monte Carlo in the latent (unrotated)
    coordinates through the sufficient statistics of ``r`` (:func:`_inlier_mi`; :data:`MC_SAMPLES` rows,
    seed :data:`MC_SEED`; ``mi_std_err`` is the standard error).
    It lies below ``p mi_dependent`` (concavity) and approaches it when the dependent rows are
    easy to tell apart.

    Parameters
    ----------
    dim_x, dim_y : int, default=25
    mi_dependent : float, default=2.0
    dependent_fraction : float, default=0.3
        In (0, 1].
    mix_seed : int, default=0
    """

    def __init__(self, dim_x: int = 25, dim_y: int = 25, mi_dependent: float = 2.0, dependent_fraction: float = 0.3,
                 mix_seed: int = 0):
        owner = "InlierMixture"
        self.dim_x = check_int(dim_x, "dim_x", owner, low=1)
        self.dim_y = check_int(dim_y, "dim_y", owner, low=1)
        self.mi_dependent = check_float(mi_dependent, "mi_dependent", owner, low=0.0)
        self.dependent_fraction = check_float(dependent_fraction, "dependent_fraction", owner, low=0.0, high=1.0,
                                              low_open=True)
        self.mix_seed = check_int(mix_seed, "mix_seed", owner, low=0)
        self._gaussian = CorrelatedGaussian(self.dim_x, self.dim_y, self.mi_dependent, mix=True,
                                            mix_seed=self.mix_seed)
        self._rho = correlations_for_mi(self.mi_dependent, min(self.dim_x, self.dim_y))

    def mutual_information(self) -> float:
        """True MI in nats (Monte Carlo; see ``mi_std_err``)."""
        return _inlier_mi(float(self._rho[0]), len(self._rho), self.dependent_fraction)[0]

    @property
    def mi_std_err(self) -> float:
        """Standard error (nats) of the Monte Carlo ground truth."""
        return _inlier_mi(float(self._rho[0]), len(self._rho), self.dependent_fraction)[1]

    def sample(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs; returns ``(x, y)`` of shapes (n, dim_x), (n, dim_y)."""
        n = check_int(n, "n", "InlierMixture.sample", low=1)
        rng, _ = make_rng(random_state)
        x, y = self._gaussian.sample(n, rng)
        indep = rng.random(n) >= self.dependent_fraction
        k = int(indep.sum())
        x[indep] = rng.standard_normal((k, self.dim_x))
        y[indep] = rng.standard_normal((k, self.dim_y))
        return x, y
