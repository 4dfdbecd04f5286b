"""Constants and tensor helpers shared by the bounds."""

from __future__ import annotations

import math

import numpy as np

#: ``info.csv`` columns the brackets fill (nats before unit conversion).
BRACKET_COLUMNS = ("xl_lower", "xl_upper", "ly_lower", "ly_upper")

#: Number of statistical lower-bound candidates sharing ``1 - level`` (fano/ba/sp/mm, for X and Y).
_N_LOWER = 8
#: Weight of the uniform law mixed into every Barber-Agakov posterior (bounds the log-loss).
_FLOOR = 0.01
#: Bandwidth grid of the kernel posterior: tau^2 = base * 2**k (base: median own distance / dim).
_TAU_EXPONENTS = tuple(range(-4, 15, 2))
#: Variance floor of the relative channel at exact zeros (a point mass, numerically).
_VAR_FLOOR = 1e-200
#: ``input_bounds="auto"`` computes the first noisy variable's pairwise bounds up to this many N^2 d terms on CPU.
_INPUT_AUTO_MAX = 2e10
#: A lower bound within this many nats of ln N marks a layer as saturated.
SATURATION_TOL = 0.1



# ---------------------------------------------------------------------------------------------------------------
# Gaussian mixtures: pairwise bounds, channel bound, densities
# ---------------------------------------------------------------------------------------------------------------
def _torch():
    import torch

    return torch


def _as64(a, device=None):
    torch = _torch()
    t = a if torch.is_tensor(a) else torch.as_tensor(np.asarray(a))
    return t.to(device=device if device is not None else t.device, dtype=torch.float64)


def _sqdist(a, b, chunk: int = 4096):
    """Squared Euclidean distances (n_a, n_b) of float tensors, centred first (fewer cancellation errors)."""
    torch = _torch()
    centre = b.mean(dim=0, keepdim=True)
    a = a - centre
    b = b - centre
    bb = (b * b).sum(dim=1)
    out = torch.empty((a.shape[0], b.shape[0]), dtype=a.dtype, device=a.device)
    for s in range(0, a.shape[0], chunk):
        aa = a[s:s + chunk]
        out[s:s + chunk] = ((aa * aa).sum(dim=1, keepdim=True) - 2.0 * aa @ b.T + bb).clamp_min_(0.0)
    return out


def _check_var(means, var, owner: str):
    """``var`` as a positive float (isotropic) or a float64 tensor like ``means`` (diagonal)."""
    torch = _torch()
    if isinstance(var, (int, float, np.floating)) and not isinstance(var, bool):
        v = float(var)
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"The 'var' argument of {owner} must be positive and finite. Got {var!r}.")
        return v
    vt = _as64(var, means.device)
    if tuple(vt.shape) != tuple(means.shape):
        raise ValueError(f"The 'var' argument of {owner} must be a float or an array of the means' shape "
                         f"{tuple(means.shape)}. Got shape {tuple(vt.shape)}.")
    if bool((vt < 0).any()) or not bool(torch.isfinite(vt).all()):
        raise ValueError(f"The 'var' argument of {owner} must be finite and >= 0.")
    return vt.clamp_min(_VAR_FLOOR)


def _kl_matrix(mu, var, rows):
    """KL(p_i || p_j) for i in ``rows`` (a slice) and all j, Gaussians N(mu_i, diag var_i)."""
    torch = _torch()
    d = mu.shape[1]
    if isinstance(var, float):
        return _sqdist(mu[rows], mu) / (2.0 * var)
    inv = 1.0 / var
    logdet = torch.log(var).sum(dim=1)
    mi, vi = mu[rows], var[rows]
    quad = (vi + mi * mi) @ inv.T - 2.0 * mi @ (mu * inv).T + (mu * mu * inv).sum(dim=1)
    return 0.5 * (quad - d - logdet[rows].unsqueeze(1) + logdet.unsqueeze(0))


def _bc_matrix(mu, var, rows):
    """Bhattacharyya distances D_B(p_i, p_j) for i in ``rows`` and all j."""
    torch = _torch()
    if isinstance(var, float):
        return _sqdist(mu[rows], mu) / (8.0 * var)
    mi, vi = mu[rows].unsqueeze(1), var[rows].unsqueeze(1)
    vbar = 0.5 * (vi + var.unsqueeze(0))
    quad = ((mi - mu.unsqueeze(0)) ** 2 / vbar).sum(dim=2)
    logs = (torch.log(vbar) - 0.5 * (torch.log(vi) + torch.log(var.unsqueeze(0)))).sum(dim=2)
    return quad / 8.0 + 0.5 * logs


def _h_counts(counts) -> float:
    """Plug-in entropy (nats) of counts."""
    c = np.asarray(counts, dtype=np.float64)
    p = c[c > 0] / c.sum()
    return float(-(p * np.log(p)).sum())
