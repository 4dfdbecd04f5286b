"""Invertible maps (normalizing-flow layers) and the Gaussian head of the flow MI estimator.

Every layer maps a batch ``(B, d)`` to ``(B, d)`` and returns ``(output, log|det J|)`` per row. Only
the forward direction is ever evaluated: the estimator needs the maps to be *bijections* (so that
``I(f(X); g(Y)) = I(X; Y)``) and their log-determinants (for the likelihood), not their inverses.
Each layer is a bijection of R^d by construction:

:class:`Monotone`
    Per coordinate ``t -> e^s t + sum_k a_k tanh(b_k t + c_k)`` with ``a_k, b_k > 0``: strictly
    increasing with slope at least ``e^s``, hence a bijection of R.
:class:`AffineCoupling`
    RealNVP coupling (Dinh et al., 2017): ``x_B -> x_B exp(s(x_A)) + t(x_A)``, ``x_A`` unchanged.
:class:`RotationCoupling`
    A few learned planes (orthonormal pairs of directions) are each turned by an angle computed from
    quantities the turn leaves unchanged (the radii in all the planes and the norm). Given the
    output, those quantities and hence the angles are known, so the map is invertible; in polar
    coordinates of each plane it only shifts the angles, so ``det J = 1``. It undoes dependence
    that winds with the radius (spirals), which per-coordinate and coupling maps reach only slowly.

Every layer starts as the identity (zero-initialised last layers), so a flow starts from its
linear initialisation. :class:`CanonicalGaussian` is the joint model of the latent pair
``(u, v) = (f(x), g(y))``: standard normal sides whose ``i``-th coordinates are correlated with
learned ``rho_i`` (the canonical form of a joint Gaussian).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..._torch import init_weights_

__all__ = ["Monotone", "AffineCoupling", "RotationCoupling", "SideFlow", "CanonicalGaussian", "LAYERS"]

#: layer kinds a side flow is built from (a 1-D side gets ``Monotone`` layers only)
LAYERS = ("rotation", "affine", "monotone")
#: most planes a rotation coupling turns (all d // 2 up to 32 dimensions; 16 beyond keeps the cost per row O(d))
MAX_PLANES = 16
#: bound of the log-scale of an affine coupling (|s| <= _SCALE_BOUND), for stable training
_SCALE_BOUND = 2.0


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    """``n_in -> hidden -> hidden -> n_out`` with tanh; the last layer starts at zero (identity layer)."""
    net = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                        nn.Linear(hidden, n_out))
    return net


def _zero_last(net: nn.Module) -> None:
    last = list(net.modules())[-1]
    assert isinstance(last, nn.Linear)
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()


class Monotone(nn.Module):
    """Per-coordinate increasing map ``t -> e^s t + sum_k a_k tanh(b_k t + c_k)`` (``a_k, b_k > 0``).

    Starts near the identity (``s = 0``, ``a_k = softplus(-6) ~ 0.0025``); ``n_terms`` tanh steps per
    coordinate, centred on an even grid over [-2, 2].
    """

    def __init__(self, dim: int, n_terms: int = 6):
        super().__init__()
        self.log_slope = nn.Parameter(torch.zeros(dim))
        self.raw_a = nn.Parameter(torch.full((dim, n_terms), -6.0))
        self.raw_b = nn.Parameter(torch.zeros(dim, n_terms))
        self.c = nn.Parameter(torch.linspace(-2.0, 2.0, n_terms).repeat(dim, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = nn.functional.softplus(self.raw_a)
        b = nn.functional.softplus(self.raw_b) + 0.05
        th = torch.tanh(x[..., None] * b + self.c)
        slope = torch.exp(self.log_slope)
        y = x * slope + (a * th).sum(-1)
        dy = slope + (a * b * (1.0 - th * th)).sum(-1)
        return y, torch.log(dy).sum(-1)


class AffineCoupling(nn.Module):
    """``x_B -> x_B exp(s(x_A)) + t(x_A)`` with ``|s| <= 2`` (RealNVP); ``x_A`` passes unchanged."""

    def __init__(self, dim: int, cond: np.ndarray, hidden: int):
        super().__init__()
        cond = np.asarray(cond, dtype=bool)
        self.ia: torch.Tensor
        self.ib: torch.Tensor
        self.register_buffer("ia", torch.as_tensor(np.flatnonzero(cond), dtype=torch.long))
        self.register_buffer("ib", torch.as_tensor(np.flatnonzero(~cond), dtype=torch.long))
        self.net = _mlp(int(cond.sum()), hidden, 2 * int((~cond).sum()))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x[:, self.ia]).chunk(2, dim=1)
        s = _SCALE_BOUND * torch.tanh(s / _SCALE_BOUND)
        y = x.clone()
        y[:, self.ib] = x[:, self.ib] * torch.exp(s) + t
        return y, s.sum(1)


class RotationCoupling(nn.Module):
    """Turn ``planes`` learned planes by angles that depend on the planes' radii and the norm; ``det J = 1``.

    ``planes`` defaults to ``min(d // 2, MAX_PLANES)``.

    ``U`` (d, 2 planes) has orthonormal columns (Gram-Schmidt, through a Cholesky factor, of a learned
    matrix that starts as the first ``2 planes`` coordinate axes: the leading canonical pairs). The pairs of
    coordinates ``z = x U``, ``(z_0, z_1), (z_2, z_3), ...``, are turned by angles that an MLP computes
    from the invariants (squared radius of every pair, squared norm of ``x``, standardised for a
    standard normal input), and ``x -> x + (turned(z) - z) U^T``: the component of ``x`` outside the
    planes is unchanged. The cost per row is O(d planes), so it scales to many dimensions.
    """

    def __init__(self, dim: int, hidden: int, planes: int | None = None):
        super().__init__()
        if dim < 2:
            raise ValueError("RotationCoupling needs at least 2 dimensions.")
        self.dim = dim
        self.planes = min(dim // 2, MAX_PLANES) if planes is None else max(1, min(int(planes), dim // 2))
        self.frame = nn.Parameter(torch.eye(dim)[:, : 2 * self.planes].clone())
        self.net = _mlp(self.planes + 1, hidden, self.planes)

    def basis(self) -> torch.Tensor:
        """The orthonormal frame ``U`` (d, 2 planes)."""
        w = self.frame
        chol = torch.linalg.cholesky(w.T @ w)
        return torch.linalg.solve_triangular(chol, w.T, upper=False).T

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.basis()
        z = x @ u
        p = z.reshape(-1, self.planes, 2)
        r2 = (p * p).sum(-1)
        norm2 = (x * x).sum(1, keepdim=True)
        angle = self.net(torch.cat([(r2 - 2.0) / 2.0, (norm2 - self.dim) / math.sqrt(2.0 * self.dim)], dim=1))
        c, s = torch.cos(angle), torch.sin(angle)
        turned = torch.stack([c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1]], dim=-1)
        out = x + (turned.reshape(-1, 2 * self.planes) - z) @ u.T
        return out, torch.zeros(len(x), dtype=x.dtype, device=x.device)


class SideFlow(nn.Module):
    """The flow of one side of dimension ``d``: a fixed linear map (``(x - mean) @ matrix``, the
    canonical start), then ``blocks`` rotation couplings, each followed by an affine coupling when
    ``affine`` (they alternate which half of the coordinates conditions the other). A 1-D side gets
    ``blocks`` monotone layers instead.

    Parameters
    ----------
    dim : int
    blocks : int
    hidden : int
        Hidden width of every conditioner MLP.
    gen : torch.Generator
        Draws the initial weights (then every last layer is set to zero: the flow starts as the
        linear map).
    mean, matrix : ndarray of shape (d,) and (d, d)
        The fixed linear start.
    affine : bool, default=False
    """

    def __init__(self, dim: int, blocks: int, hidden: int, gen: torch.Generator, mean: np.ndarray,
                 matrix: np.ndarray, affine: bool = False, planes: int | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):  # layer constructors draw from the global RNG; keep it as it was
            for b in range(blocks):
                if dim == 1:
                    layers.append(Monotone(1))
                    continue
                layers.append(RotationCoupling(dim, hidden, planes))
                if affine:
                    cond = np.zeros(dim, dtype=bool)
                    cond[dim // 2:] = b % 2 == 0  # the leading (most correlated) coordinates move first
                    cond[: dim // 2] = b % 2 == 1
                    layers.append(AffineCoupling(dim, cond, hidden))
        self.layers = nn.ModuleList(layers)
        init_weights_(self, gen)
        for layer in layers:
            if isinstance(layer, (AffineCoupling, RotationCoupling)):
                _zero_last(layer.net)
        self.mean: torch.Tensor
        self.matrix: torch.Tensor
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean), dtype=torch.float32))
        self.register_buffer("matrix", torch.as_tensor(np.asarray(matrix), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (x - self.mean) @ self.matrix
        logdet = torch.zeros(len(x), dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet


class CanonicalGaussian(nn.Module):
    """Joint Gaussian of ``(u, v)``: ``u ~ N(0, I_dx)``, ``v ~ N(0, I_dy)``, ``corr(u_i, v_i) = rho_i``
    for ``i < min(dx, dy)`` and 0 otherwise; ``rho = tanh(a)`` with ``a`` learned.

    Its MI is ``-1/2 sum log(1 - rho_i^2)`` and its pointwise log density ratio is
    ``sum_i [-1/2 log(1 - rho_i^2) - (rho_i^2 (u_i^2 + v_i^2) - 2 rho_i u_i v_i) / (2 (1 - rho_i^2))]``.
    """

    def __init__(self, rho0: np.ndarray, dim_x: int, dim_y: int):
        super().__init__()
        self.dim_x, self.dim_y = dim_x, dim_y
        self.m = min(dim_x, dim_y)
        rho0 = np.clip(np.asarray(rho0, dtype=np.float64)[: self.m], -0.999, 0.999)
        self.a = nn.Parameter(torch.as_tensor(np.arctanh(rho0), dtype=torch.float32))

    def rho(self) -> torch.Tensor:
        return torch.tanh(self.a)

    def nll(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Negative log density of every row of ``(u, v)``, shape (B,)."""
        rho = self.rho()
        um, vm = u[:, : self.m], v[:, : self.m]
        one = 1.0 - rho * rho
        q = ((um * um + vm * vm - 2.0 * rho * um * vm) / one).sum(1)
        rest = (u[:, self.m:] ** 2).sum(1) + (v[:, self.m:] ** 2).sum(1)
        return 0.5 * (q + rest + torch.log(one).sum() + (self.dim_x + self.dim_y) * math.log(2.0 * math.pi))

    def pmi_parts(self) -> tuple[float, np.ndarray, np.ndarray]:
        """``(c, alpha, beta)`` with ``pmi(u, v) = c + sum_i [alpha_i u_i v_i - beta_i (u_i^2 + v_i^2)]``."""
        rho = self.rho().detach().double().cpu().numpy()
        one = 1.0 - rho * rho
        return float(-0.5 * np.sum(np.log(one))), rho / one, 0.5 * rho * rho / one

    def mutual_information(self) -> float:
        """The head's MI, nats."""
        rho = self.rho().detach().double().cpu().numpy()
        return float(-0.5 * np.sum(np.log1p(-rho * rho)))

