"""Named benchmark tasks: samplers of ``(X, Y)`` with exactly known mutual information.

A :class:`Task` is a named sampler with metadata: ``sample(n, random_state)``,
``mutual_information()``, shapes and a ``y_discrete`` flag. Tasks come from a
registry: :func:`list_tasks` names them and :func:`get_task` builds one, with
parameters such as the true MI::

    >>> from ibscope.synthetic import get_task
    >>> task = get_task("bump-16", mi=3.0)
    >>> x, y = task.sample(100, random_state=0)
    >>> x.shape, task.mutual_information()
    ((100, 1, 16, 16), 3.0)

Every task is built from a latent pair with closed-form MI (correlated
Gaussians, a multivariate t, or a uniform with a label) followed by maps that
are injective on each side separately, so the MI of the observed pair equals the
latent MI (Butakov et al., ICLR 2024, Statement 1). :meth:`Task.sample_latents`
returns that latent pair, drawn exactly as inside :meth:`Task.sample` with the
same seed, for "uncompressed" reference estimates.

Registered families
-------------------
``gaussian``, ``gaussian-10x4``
    Correlated Gaussians, MI split equally over ``min(dim_x, dim_y)`` pairs, each
    side rotated by its own Haar-random orthogonal matrix.
``gaussian-cube``, ``gaussian-uniform``
    The same with non-Gaussian marginals: each observed coordinate goes through
    ``t -> t^3`` or through the normal CDF (uniform marginals). Both are strictly
    increasing, so the MI is unchanged.
``student-t``
    Heavy tails: multivariate Student-t with closed-form MI
    (:mod:`ibscope.synthetic.student`).
``uniform-label``
    Continuous-discrete: ``X ~ U[0, 1]^d`` and ``Y = floor(X_0 L)``, MI ``ln L``.
``anti-pca``
    A 32-D vector whose high-variance directions carry only an independent
    nuisance, so PCA to 2-D loses the informative coordinate (Statement 2).
``shells``, ``periodic-shear``, ``spiral``, ``inlier-mixture``
    Harder dependence (:mod:`ibscope.synthetic.families`): through the norm of many coordinates,
    periodic shears of a Gaussian mixture, norm-dependent rotations, and Gaussian dependence diluted
    by independent inliers. The shells' MI comes from quadrature, the spiral's is exact, the other
    two are Monte Carlo values (``metadata["mi_method"]``; the samplers' ``mi_std_err`` is their
    standard error), computed on first use.
``bump-16``, ``bump-32``, ``rectangle-16``, ``rectangle-32``, ``elliptic-bump-16``, ``elliptic-bump-32``
    Image pairs rendered from the two sides of a correlated Gaussian latent pair
    (Butakov et al., ICLR 2024; :mod:`ibscope.synthetic.images`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr

from .._random import make_rng
from .._result import check_units, convert
from .._validation import check_float, check_int
from .families import MC_SAMPLES, MC_SEED, InlierMixture, PeriodicShear, Shells, Spiral
from .gaussian import CorrelatedGaussian
from .images import RENDERERS, render
from .student import MultivariateStudentT

__all__ = ["Task", "get_task", "list_tasks"]

LatentFn = Callable[[int, np.random.Generator], "tuple[np.ndarray, np.ndarray]"]
MapFn = Callable[[np.ndarray], np.ndarray]


def _identity(a: np.ndarray) -> np.ndarray:
    return a


class Task:
    """A named sampler of ``(X, Y)`` with known mutual information.

    Tasks are normally built by :func:`get_task`. A task draws a latent pair with
    ``latent_fn`` and maps each side with ``map_x`` / ``map_y``; the maps must be
    injective so that ``mi`` (the latent MI) is the true MI of the output.

    Where a task is built for a prescribed MI, :meth:`mutual_information` returns
    that value. The float64 correlations that realise it reproduce it to about
    1e-8 nats even at 10 nats in one pair (``1 - rho^2 ~ 2e-9`` there), far
    below the resolution of any estimator.

    Parameters
    ----------
    name : str
        Registry name.
    mi : float or callable
        True mutual information in nats, or a function of no arguments that returns it (evaluated on
        first use and kept; for Monte Carlo ground truths).
    latent_fn : callable
        ``latent_fn(n, rng) -> (latent_x, latent_y)`` with ``rng`` a
        ``numpy.random.Generator``.
    shape_x, shape_y : tuple of int
        Shape of one sample of X and of Y (``()`` for a scalar label).
    map_x, map_y : callable or None, default=None
        Injective maps from the latent side to the observed side (identity if None).
    y_discrete : bool, default=False
        Whether Y is a class label (int64 array of shape (n,)).
    params : dict or None
        The parameters the task was built with (for results files).
    metadata : dict or None
        Free-form description: latent dimensions, renderer, formula, references.

    Attributes
    ----------
    dim_x, dim_y : int
        Number of scalar features per sample of X and of Y (product of the shape;
        1 for a label).
    """

    def __init__(self, name: str, *, mi: float | Callable[[], float], latent_fn: LatentFn, shape_x: tuple[int, ...],
                 shape_y: tuple[int, ...], map_x: MapFn | None = None, map_y: MapFn | None = None,
                 y_discrete: bool = False, params: dict | None = None, metadata: dict | None = None):
        self.name = name
        self.shape_x = tuple(int(s) for s in shape_x)
        self.shape_y = tuple(int(s) for s in shape_y)
        self.y_discrete = bool(y_discrete)
        self.params = dict(params or {})
        self.metadata = dict(metadata or {})
        self._mi_value: float | None = None if callable(mi) else float(mi)
        self._mi_fn = mi if callable(mi) else None
        self._latent_fn = latent_fn
        self._map_x = map_x or _identity
        self._map_y = map_y or _identity

    @property
    def dim_x(self) -> int:
        return int(math.prod(self.shape_x))

    @property
    def dim_y(self) -> int:
        return int(math.prod(self.shape_y))

    def mutual_information(self, units: str = "nats") -> float:
        """True mutual information I(X; Y).

        Parameters
        ----------
        units : {"nats", "bits"}, default="nats"

        Returns
        -------
        float
            Exact MI in ``units``.
        """
        return convert(self._mi, check_units(units))

    @property
    def _mi(self) -> float:
        if self._mi_value is None:
            assert self._mi_fn is not None
            self._mi_value = float(self._mi_fn())
        return self._mi_value

    def sample_latents(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw the latent pair behind :meth:`sample`.

        With the same ``random_state``, ``sample(n, random_state)`` is exactly the
        image of these latents under the task's maps, so estimates on the latents
        give the "uncompressed" reference of the paper. Their MI is the task's MI.

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        random_state : int, numpy.random.Generator or None, default=None

        Returns
        -------
        latent_x, latent_y : ndarray
            2-D arrays (rows are samples), except a discrete label, which is 1-D.
        """
        return self._draw(n, random_state, "sample_latents")

    def _draw(self, n, random_state, method: str) -> tuple[np.ndarray, np.ndarray]:
        n = check_int(n, "n", f"Task('{self.name}').{method}", low=1)
        rng, _ = make_rng(random_state)
        return self._latent_fn(n, rng)

    def sample(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` samples of ``(X, Y)``.

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        random_state : int, numpy.random.Generator or None, default=None
            Seed of the draw; the same seed gives the same samples.

        Returns
        -------
        x : ndarray of shape ``(n, *shape_x)``
            float64 vectors, or float32 images of shape (n, 1, H, W) in [0, 1].
        y : ndarray of shape ``(n, *shape_y)``
            Like ``x``; int64 labels of shape (n,) when ``y_discrete``.
        """
        lx, ly = self._draw(n, random_state, "sample")
        return self._map_x(lx), self._map_y(ly)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description: name, parameters, true MI (nats), shapes, metadata."""
        return {
            "name": self.name,
            "params": dict(self.params),
            "mutual_information": self._mi,
            "units": "nats",
            "shape_x": list(self.shape_x),
            "shape_y": list(self.shape_y),
            "y_discrete": self.y_discrete,
            "metadata": dict(self.metadata),
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return (f"Task({self.name!r}, {args}; true MI={self._mi:.6g} nats, shape_x={self.shape_x}, "
                f"shape_y={self.shape_y})")


# ---------------------------------------------------------------------------
# task families (factories); the registry below binds names to them
# ---------------------------------------------------------------------------
def _owner(name: str) -> str:
    return f"get_task('{name}')"


def _gaussian_latents(sampler) -> LatentFn:
    return lambda n, rng: sampler.sample(n, rng)


_MARGINALS: dict[str, tuple[MapFn, str]] = {
    "identity": (_identity, "Gaussian marginals"),
    "cube": (lambda a: a**3, "each coordinate cubed (t -> t^3): heavy-ish, non-Gaussian marginals"),
    "uniform": (ndtr, "each coordinate through the normal CDF: U(0, 1) marginals"),
}


def _gaussian(name: str, *, dim_x: int = 1, dim_y: int = 1, mi: float = 1.0, mix: bool = True,
              mix_seed: int = 0, marginal: str = "identity") -> Task:
    owner = _owner(name)
    sampler = CorrelatedGaussian(dim_x, dim_y, _check_mi(mi, owner), mix=mix, mix_seed=_check_seed(mix_seed, owner))
    fn, desc = _MARGINALS[marginal]
    return Task(
        name, mi=sampler.mi, latent_fn=_gaussian_latents(sampler),
        shape_x=(sampler.dim_x,), shape_y=(sampler.dim_y,), map_x=fn, map_y=fn,
        params={"dim_x": sampler.dim_x, "dim_y": sampler.dim_y, "mi": sampler.mi, "mix": sampler.mix,
                "mix_seed": sampler.mix_seed},
        metadata={
            "family": "gaussian",
            "description": f"correlated Gaussians, MI split equally over min(dim_x, dim_y) pairs; {desc}",
            "marginal": marginal,
            "rho": sampler.rho.tolist(),
            "latent": "CorrelatedGaussian (mixed by per-side orthogonal matrices)" if sampler.mix
            else "CorrelatedGaussian",
        },
    )


def _student_t(name: str, *, dim_x: int = 1, dim_y: int = 1, dof: float = 5.0, mi: float | None = None,
               mix: bool = True, mix_seed: int = 0) -> Task:
    owner = _owner(name)
    if mi is not None:
        mi = _check_mi(mi, owner)
    sampler = MultivariateStudentT(dim_x, dim_y, dof, mi, mix=mix, mix_seed=_check_seed(mix_seed, owner))
    return Task(
        name, mi=sampler.shape_mi if mi is None else mi, latent_fn=_gaussian_latents(sampler),
        shape_x=(sampler.dim_x,), shape_y=(sampler.dim_y,),
        params={"dim_x": sampler.dim_x, "dim_y": sampler.dim_y, "dof": sampler.dof, "mi": mi,
                "mix": sampler.mix, "mix_seed": sampler.mix_seed},
        metadata={
            "family": "student-t",
            "description": "multivariate Student-t (heavy tails); MI = Gaussian MI of the dispersion "
                           "+ shared-scale term g(dx) + g(dy) - g(dx + dy)",
            "shape_mi": sampler.shape_mi,
            "rho": sampler.rho.tolist(),
            "references": ["Arellano-Valle et al. 2013, Scand. J. Stat.", "Czyz et al. 2023, NeurIPS"],
        },
    )


def _uniform_label(name: str, *, dim_x: int = 10, n_classes: int = 10) -> Task:
    owner = _owner(name)
    d = check_int(dim_x, "dim_x", owner, low=1)
    n_classes = check_int(n_classes, "n_classes", owner, low=1)

    def latent_fn(n: int, rng: np.random.Generator):
        x = rng.random((n, d))  # in [0, 1), so the label is in 0..n_classes-1
        y = np.minimum(np.floor(x[:, 0] * n_classes), n_classes - 1).astype(np.int64)
        return x, y

    return Task(
        name, mi=math.log(n_classes), latent_fn=latent_fn, shape_x=(d,), shape_y=(), y_discrete=True,
        params={"dim_x": d, "n_classes": n_classes},
        metadata={
            "family": "continuous-discrete",
            "description": "X ~ U[0, 1]^dim_x, Y = floor(X_0 * n_classes); I = H(Y) = ln(n_classes) "
                           "since Y is a function of X with uniform classes",
            "n_classes": n_classes,
        },
    )


def _leaky(a: np.ndarray, slope: float) -> np.ndarray:
    return np.where(a >= 0.0, a, slope * a)


def _anti_pca_side(u: np.ndarray, dim: int, slope: float) -> np.ndarray:
    """``(s, z)`` -> ``(s, z, leaky(2 z), leaky(-3 z), ..., leaky((-1)^j j z))`` for j < dim; ``s`` if dim == 1.

    Since ``leaky(t) = (1 + slope)/2 t + (1 - slope)/2 |t|``, the nuisance block is
    ``z * (+-j)_j`` plus ``|z| * (j)_j``: two near-orthogonal directions of large
    variance, both functions of ``z`` alone.
    """
    if dim == 1:
        return u[:, :1].copy()
    j = np.arange(2, dim, dtype=float)
    rest = _leaky(u[:, 1:2] * (j * (-1.0) ** j)[None, :], slope)
    return np.concatenate([u[:, :2], rest], axis=1)


def _anti_pca(name: str, *, mi: float = 1.0, dim_x: int = 32, dim_y: int = 1, slope: float = 0.2) -> Task:
    owner = _owner(name)
    mi = _check_mi(mi, owner)
    dim_x = check_int(dim_x, "dim_x", owner, low=2, hint="The informative and nuisance coordinates need 2.")
    dim_y = check_int(dim_y, "dim_y", owner, low=1)
    slope = check_float(slope, "slope", owner, low=0.0, high=1.0, low_open=True)
    pair = CorrelatedGaussian(1, 1, mi)

    def latent_fn(n: int, rng: np.random.Generator):
        xi, eta = pair.sample(n, rng)
        zx = rng.uniform(-1.0, 1.0, size=(n, 1))
        zy = rng.uniform(-1.0, 1.0, size=(n, 1))
        return (np.hstack([2.0 * ndtr(xi) - 1.0, zx]),
                np.hstack([2.0 * ndtr(eta) - 1.0, zy])[:, : min(dim_y, 2)])

    return Task(
        name, mi=mi, latent_fn=latent_fn, shape_x=(dim_x,), shape_y=(dim_y,),
        map_x=lambda u: _anti_pca_side(u, dim_x, slope), map_y=lambda u: _anti_pca_side(u, dim_y, slope),
        params={"mi": mi, "dim_x": dim_x, "dim_y": dim_y, "slope": slope},
        metadata={
            "family": "anti-pca",
            "description": "X = (s, z, leaky((-1)^j j z) for j = 2..dim_x-1) with informative "
                           "s = 2 Phi(xi) - 1 and independent nuisance z ~ U[-1, 1]; Y built alike from eta "
                           "(only its informative coordinate when dim_y = 1); (xi, eta) Gaussian with MI mi. "
                           "The nuisance block spans two directions (z and |z|) of variance ~ dim_x^3 / 25 and "
                           "~ dim_x^3 / 225 against 1/3 for s, so for dim_x >= 8 PCA to the intrinsic "
                           "dimension 2 keeps functions of z only and loses s: the PCA codes "
                           "carry ~0 nats while I(X; Y) = mi exactly (X_0, X_1 give (s, z), so the map "
                           "is injective). A nonlinear 2-D encoder can keep (s, z).",
            "latent_x": "(s, z)",
            "informative_coordinate": 0,
            "reference": "the Anti-PCA example of Butakov et al. (ICLR 2024) reference code (our exact-MI version)",
        },
    )


def _image(name: str, *, kind: str, size: int, mi: float = 1.0, mix: bool = True, mix_seed: int = 0) -> Task:
    owner = _owner(name)
    d = RENDERERS[kind].latent_dim
    sampler = CorrelatedGaussian(d, d, _check_mi(mi, owner), mix=mix, mix_seed=_check_seed(mix_seed, owner))
    return Task(
        name, mi=sampler.mi, latent_fn=_gaussian_latents(sampler),
        shape_x=(1, size, size), shape_y=(1, size, size),
        map_x=lambda lat: render(lat, kind, size), map_y=lambda lat: render(lat, kind, size),
        params={"mi": sampler.mi, "mix": sampler.mix, "mix_seed": sampler.mix_seed},
        metadata={
            "family": "image",
            "description": f"{size}x{size} '{kind}' images rendered from each side of a {d}+{d}-D correlated "
                           "Gaussian latent pair (rotated per side, then normal CDF, then rasterised)",
            "renderer": kind,
            "size": size,
            "latent_dim": d,
            "rho": sampler.rho.tolist(),
            "reference": "Butakov et al., ICLR 2024, Sec. 5",
        },
    )


_MC = (f"Monte Carlo with {MC_SAMPLES} rows, seed {MC_SEED} (the sampler's mi_std_err is its standard error, "
       "about 1e-3 nats)")


def _family(name: str, sampler, family: str, description: str, params: dict, mi_method: str) -> Task:
    return Task(
        name, mi=sampler.mutual_information, latent_fn=lambda n, rng: sampler.sample(n, rng),
        shape_x=(sampler.dim_x,), shape_y=(sampler.dim_y,), params=params,
        metadata={"family": family, "description": description, "mi_method": mi_method,
                  "sampler": type(sampler).__name__, "reference": "ibscope.synthetic.families"},
    )


def _shells(name: str, *, dim_x: int = 25, dim_y: int = 1, n_shells: int = 4, spacing: float = 0.5,
            spread: float = 0.15) -> Task:
    sampler = Shells(dim_x, dim_y, n_shells, spacing, spread)
    return _family(name, sampler, "shells", "dependence through the norm: a shared shell index sets the radii of X "
                   "and Y (directions uniform); MI by quadrature",
                   {"dim_x": dim_x, "dim_y": dim_y, "n_shells": n_shells, "spacing": spacing, "spread": spread},
                   "quadrature (error below 1e-6 nats)")


def _periodic_shear(name: str, *, dim_x: int = 2, dim_y: int = 1, n_components: int = 3, separation: float = 1.5,
                    amplitude: float = 1.5, frequency: float = 3.0, mix_seed: int = 0) -> Task:
    sampler = PeriodicShear(dim_x, dim_y, n_components, separation, amplitude, frequency, mix_seed)
    return _family(name, sampler, "periodic-shear", "Gaussian mixture with X sheared by sin(frequency X_0); MI by "
                   "Monte Carlo",
                   {"dim_x": dim_x, "dim_y": dim_y, "n_components": n_components, "separation": separation,
                    "amplitude": amplitude, "frequency": frequency, "mix_seed": mix_seed}, _MC)


def _spiral(name: str, *, dim_x: int = 3, dim_y: int = 3, mi: float = 1.0, speed: float = 1.0,
            mix_seed: int = 0) -> Task:
    sampler = Spiral(dim_x, dim_y, _check_mi(mi, _owner(name)), speed, mix_seed)
    return _family(name, sampler, "spiral", "correlated Gaussians, each side turned in a random plane by an angle "
                   "speed |v|^2 / dim; exact MI",
                   {"dim_x": dim_x, "dim_y": dim_y, "mi": mi, "speed": speed, "mix_seed": mix_seed}, "exact")


def _inlier_mixture(name: str, *, dim_x: int = 25, dim_y: int = 25, mi_dependent: float = 2.0,
                    dependent_fraction: float = 0.3, mix_seed: int = 0) -> Task:
    sampler = InlierMixture(dim_x, dim_y, mi_dependent, dependent_fraction, mix_seed)
    return _family(name, sampler, "inlier-mixture", "Gaussian dependence on a fraction of the rows, independent "
                   "standard normal inliers elsewhere; MI by Monte Carlo",
                   {"dim_x": dim_x, "dim_y": dim_y, "mi_dependent": mi_dependent,
                    "dependent_fraction": dependent_fraction, "mix_seed": mix_seed}, _MC)


def _check_mi(mi, owner: str) -> float:
    return check_float(mi, "mi", owner, low=0.0)


def _check_seed(seed, owner: str) -> int:
    return check_int(seed, "mix_seed", owner, low=0)


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Task]
    fixed: dict = field(default_factory=dict)  # bound by the name, not user-settable

    def free_params(self) -> list[str]:
        sig = inspect.signature(self.factory)
        return [p for p in sig.parameters if p != "name" and p not in self.fixed]


_REGISTRY: dict[str, _Entry] = {
    "gaussian": _Entry(_gaussian, {"marginal": "identity"}),
    "gaussian-10x4": _Entry(_gaussian, {"marginal": "identity", "dim_x": 10, "dim_y": 4}),
    "gaussian-cube": _Entry(_gaussian, {"marginal": "cube"}),
    "gaussian-uniform": _Entry(_gaussian, {"marginal": "uniform"}),
    "student-t": _Entry(_student_t),
    "uniform-label": _Entry(_uniform_label),
    "anti-pca": _Entry(_anti_pca),
    "shells": _Entry(_shells),
    "periodic-shear": _Entry(_periodic_shear),
    "spiral": _Entry(_spiral),
    "inlier-mixture": _Entry(_inlier_mixture),
}
for _kind, _prefix in [("bump", "bump"), ("rectangle", "rectangle"), ("elliptic_bump", "elliptic-bump")]:
    for _size in (16, 32):
        _REGISTRY[f"{_prefix}-{_size}"] = _Entry(_image, {"kind": _kind, "size": _size})


def list_tasks() -> list[str]:
    """Names of all registered tasks, sorted.

    Returns
    -------
    list of str
        Valid ``name`` arguments of :func:`get_task`.
    """
    return sorted(_REGISTRY)


def get_task(name: str, **params) -> Task:
    """Build a registered task.

    Parameters
    ----------
    name : str
        Task name; see :func:`list_tasks`.
    **params
        Task parameters, e.g. ``mi`` (true MI in nats, >= 0), ``dim_x``, ``dim_y``,
        ``mix_seed``; unknown parameters raise an error listing the valid ones.

    Returns
    -------
    Task

    Raises
    ------
    ValueError
        If ``name`` is not registered, a parameter is unknown, or a value is out of range.

    Examples
    --------
    >>> get_task("gaussian", dim_x=3, dim_y=2, mi=1.5).mutual_information()
    1.5
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(
            f"Unknown task {name!r}. Valid task names: {', '.join(list_tasks())}."
        )
    entry = _REGISTRY[name]
    allowed = entry.free_params()
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"The task {name!r} has no parameter(s) {', '.join(repr(u) for u in unknown)}. "
            f"Valid parameters: {', '.join(allowed) if allowed else '(none)'}."
        )
    return entry.factory(name, **entry.fixed, **params)
