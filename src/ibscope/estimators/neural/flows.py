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
    In a learned orthonormal basis ``Q`` the coordinates are paired and each pair is turned by an
    angle computed from quantities the turn leaves unchanged (the radii of all pairs and the norm).
    Given the output, those quantities and hence the angles are known, so the map is invertible; in
    polar coordinates of each pair it only shifts the angles, so ``det J = 1``. It undoes dependence
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
    """Turn coordinate pairs of ``Q x`` by angles that depend on the pairs' radii and the norm; ``det J = 1``.

    ``Q = exp(A - A^T)`` is a learned rotation (identity at start). In the basis ``z = Q x`` the pairs
    are ``(z_0, z_1), (z_2, z_3), ...``; an MLP maps the invariants (squared radius of every pair,
    the squared norm, and an unpaired last coordinate) to one angle per pair, and the result is
    rotated back with ``Q^T``. The invariants are standardised for a standard normal input.
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        if dim < 2:
            raise ValueError("RotationCoupling needs at least 2 dimensions.")
        self.dim = dim
        self.pairs = dim // 2
        self.skew = nn.Parameter(torch.zeros(dim, dim))
        self.net = _mlp(self.pairs + 1 + dim % 2, hidden, self.pairs)

    def basis(self) -> torch.Tensor:
        """The current rotation ``Q`` (d, d)."""
        return torch.linalg.matrix_exp(self.skew - self.skew.T)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.basis()
        z = x @ q.T
        m = self.pairs
        p = z[:, : 2 * m].reshape(-1, m, 2)
        r2 = (p * p).sum(-1)
        feats = [(r2 - 2.0) / 2.0, ((z * z).sum(1, keepdim=True) - self.dim) / math.sqrt(2.0 * self.dim)]
        if self.dim % 2:
            feats.append(z[:, -1:])
        angle = self.net(torch.cat(feats, dim=1))
        c, s = torch.cos(angle), torch.sin(angle)
        turned = torch.stack([c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1]], dim=-1)
        out = turned.reshape(-1, 2 * m)
        if self.dim % 2:
            out = torch.cat([out, z[:, -1:]], dim=1)
        return out @ q, torch.zeros(len(x), dtype=x.dtype, device=x.device)


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
                 matrix: np.ndarray, affine: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):  # layer constructors draw from the global RNG; keep it as it was
            for b in range(blocks):
                if dim == 1:
                    layers.append(Monotone(1))
                    continue
                layers.append(RotationCoupling(dim, hidden))
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
