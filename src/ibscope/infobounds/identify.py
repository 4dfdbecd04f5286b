"""Identification: lower bounds on I(X;T) and I(T;Y) from decoding the probe index."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._common import _FLOOR, _TAU_EXPONENTS, _as64, _sqdist, _torch
from .scalar import bernstein_mean_upper, clopper_pearson_upper, fano_lower_bound


# ---------------------------------------------------------------------------------------------------------------
# Array-level bounds and estimator
# ---------------------------------------------------------------------------------------------------------------
def _ba_lower(q_true, entropy: float, n_values: int, delta: float) -> tuple[float, float]:
    """(bound, mean log-loss) of Barber-Agakov with the floor-mixed posterior; ``q_true``: q of the true values."""
    torch = _torch()
    mixed = (1.0 - _FLOOR) * q_true.clamp(0.0, 1.0) + _FLOOR / n_values
    loss = (-torch.log(mixed)).clamp_min(0.0).cpu().numpy()
    top = math.log(n_values / _FLOOR)
    return max(0.0, entropy - bernstein_mean_upper(loss, top, delta)), float(loss.mean())


def whitener(residuals, *, max_full: int = 512):
    """A whitening map for the spread of draws around their decoding centres.

    Parameters
    ----------
    residuals : array-like of shape (n, d)
        Draws minus their centres (from passes independent of the trials it will decode).
    max_full : int, default=512
        Up to this dimension a full covariance is used, shrunk towards its diagonal with weight
        ``d / (n + d)`` (more samples per dimension, less shrinkage); beyond it only the
        per-coordinate variances.

    Returns
    -------
    torch.Tensor of shape (d, d) or (d,), float64
        ``W`` with ``z = x @ W`` (full) or ``z = x * W`` (diagonal) whitening the spread.
    """
    torch = _torch()
    r = _as64(residuals)
    d = r.shape[1]
    if d <= max_full and r.shape[0] >= 2:
        x = r.cpu().numpy()
        cov = x.T @ x / x.shape[0]
        shrink = d / (x.shape[0] + d)
        cov = (1.0 - shrink) * cov + shrink * np.diag(np.diag(cov))
        lam, vec = np.linalg.eigh(cov)
        lam = np.clip(lam, max(float(lam.max()) * 1e-12, 1e-300), None)
        return torch.as_tensor((vec / np.sqrt(lam)) @ vec.T, device=r.device)
    var = (r * r).mean(dim=0)
    floor = max(float(var.mean()) * 1e-12, 1e-300)
    return 1.0 / var.clamp_min(floor).sqrt()


def _whiten(x, w):
    return x @ w if w.ndim == 2 else x * w


def _nearest_errors(samples, references, labels, metric) -> int:
    """Nearest-reference decoding errors of ``samples`` (true probe indices ``labels``) in a metric."""
    if metric is not None:
        samples, references = _whiten(samples, metric), _whiten(references, metric)
    cpu = samples.device.type == "cpu"
    d2 = _sqdist(samples.float() if cpu else samples, references.float() if cpu else references)
    return int((d2.argmin(dim=1) != labels).sum())


def identification_bounds(samples, labels, references, y, *, level: float = 0.95, n_bounds: int = 1,
                          top_k: int = 256, metric=None, device=None) -> dict[str, Any]:
    """Lower bounds on I(X;T) and I(T;Y) by decoding X from draws of T (see the module notes).

    Parameters
    ----------
    samples : array-like of shape (M, d)
        Draws of T, one per trial.
    labels : array-like of shape (M,), int
        The value of X (a probe index in [0, N)) of each trial, drawn iid uniform.
    references : array-like of shape (N, d)
        One decoding centre per probe (e.g. the read-out mean of its noise-free activation);
        they must not depend on the trials' noise.
    y : array-like of shape (N,), int
        Label of every probe.
    level : float, default=0.95
        Confidence level shared by the ``n_bounds`` bounds of a union (each gets
        ``(1 - level) / n_bounds``).
    n_bounds : int, default=1
        Number of bounds the level is shared by (6 in :func:`xl_brackets`).
    top_k : int, default=256
        References kept per trial for the kernel posterior.
    metric : torch.Tensor of shape (d, d) or (d,), or None
        A whitening map (:func:`whitener`) fixed independently of the trials: decoding and the
        kernel then use the Mahalanobis distance it defines (None: Euclidean).
    device : str or None

    Returns
    -------
    dict
        ``fano_x``, ``fano_y``, ``ba_x``, ``ba_y`` (nats), ``errors_x``, ``errors_y``, ``n_trials``,
        ``pe_x_upper``, ``pe_y_upper``, ``tau2_x``, ``tau2_y``, ``h_y``, ``n_classes``.

    Notes
    -----
    The decoder of X is the nearest reference in the chosen distance; the decoder of Y is that
    reference's label. The kernel posterior is ``q(i | t) ~ exp(-d(t, r_i)^2 / (2 tau^2))`` over the
    ``top_k`` nearest references, for every ``tau`` of a fixed grid (the union bound covers the
    choice of the best).
    """
    torch = _torch()
    t = _as64(samples, device)
    r = _as64(references, t.device)
    lab = np.asarray(labels, dtype=np.int64)
    yy = np.asarray(y, dtype=np.int64)
    n, m = r.shape[0], t.shape[0]
    if t.ndim != 2 or r.ndim != 2 or t.shape[1] != r.shape[1]:
        raise ValueError(f"identification_bounds needs samples (M, d) and references (N, d) of the same d. Got "
                         f"{tuple(t.shape)} and {tuple(r.shape)}.")
    if lab.shape != (m,) or yy.shape != (n,) or m < 2:
        raise ValueError(f"identification_bounds needs M >= 2 labels for M samples and N labels y. Got {lab.shape} "
                         f"labels for {m} samples, and {yy.shape} y for {n} references.")
    if lab.min() < 0 or lab.max() >= n:
        raise ValueError(f"The 'labels' of identification_bounds must be probe indices in [0, {n}).")
    classes, y_codes = np.unique(yy, return_inverse=True)
    n_classes = len(classes)
    counts = np.bincount(y_codes, minlength=n_classes)
    h_y = float(-(counts / n * np.log(counts / n)).sum())
    delta = (1.0 - level) / n_bounds
    cp_level = 1.0 - delta  # the Clopper-Pearson limits take the same share

    if metric is not None:
        w = _as64(metric, t.device)
        t, r = _whiten(t, w), _whiten(r, w)
    d2 = _sqdist(t.float() if t.device.type == "cpu" else t, r.float() if t.device.type == "cpu" else r)
    d2 = d2.to(torch.float64)
    k = min(int(top_k), n)
    dk, ik = torch.topk(d2, k, dim=1, largest=False)
    lab_t = torch.as_tensor(lab, device=t.device)
    yc = torch.as_tensor(y_codes, device=t.device)
    decoded = ik[:, 0]
    err_x = int((decoded != lab_t).sum())
    err_y = int((yc[decoded] != yc[lab_t]).sum())
    ln_n = math.log(n)
    out: dict[str, Any] = {
        "errors_x": err_x, "errors_y": err_y, "n_trials": m, "h_y": h_y, "n_classes": n_classes,
        "pe_x_upper": clopper_pearson_upper(err_x, m, cp_level),
        "pe_y_upper": clopper_pearson_upper(err_y, m, cp_level),
        "fano_x": fano_lower_bound(ln_n, err_x, m, n, level=cp_level),
        "fano_y": fano_lower_bound(h_y, err_y, m, n_classes, level=cp_level),
    }
    own_d2 = d2[torch.arange(m, device=t.device), lab_t]
    base = float(own_d2.median()) / max(1, t.shape[1])
    if not base > 0:
        nz = dk[dk > 0]
        base = float(nz.min()) / max(1, t.shape[1]) if nz.numel() else 1.0
    in_top = (ik == lab_t.unsqueeze(1)).to(torch.float64)
    same_y = (yc[ik] == yc[lab_t].unsqueeze(1)).to(torch.float64)
    grid_delta = delta / len(_TAU_EXPONENTS)  # a union over the bandwidth grid
    best_x, best_y = (-math.inf, math.nan), (-math.inf, math.nan)
    for e in _TAU_EXPONENTS:
        tau2 = base * 2.0 ** e
        q = torch.softmax(-dk / (2.0 * tau2), dim=1)
        bx, _ = _ba_lower((q * in_top).sum(dim=1), ln_n, n, grid_delta)
        by, _ = _ba_lower((q * same_y).sum(dim=1), h_y, n_classes, grid_delta)
        if bx > best_x[0]:
            best_x = (bx, tau2)
        if by > best_y[0]:
            best_y = (by, tau2)
    out.update(ba_x=best_x[0], tau2_x=best_x[1], ba_y=best_y[0], tau2_y=best_y[1])
    return out


