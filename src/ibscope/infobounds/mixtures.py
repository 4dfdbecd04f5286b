"""Gaussian mixtures: Kolchinsky-Tracey pairwise bounds, the Gaussian-channel bound, sample propagation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import check_float
from ._common import _VAR_FLOOR, _as64, _bc_matrix, _check_var, _h_counts, _kl_matrix, _sqdist, _torch
from .identify import _ba_lower


def kt_bounds(means, var, *, lower: bool = True, chunk: int | None = None, device=None) -> tuple[float, float]:
    """Kolchinsky-Tracey pairwise bounds on I(X;T) for X uniform on N points and T | X=i ~ N(mu_i, Sigma_i).

    ``I(X;T) <= -(1/N) sum_i ln[(1/N) sum_j exp(-KL(p_i || p_j))]`` and
    ``I(X;T) >= -(1/N) sum_i ln[(1/N) sum_j exp(-D_B(p_i, p_j))]`` with D_B the Bhattacharyya
    distance (Kolchinsky & Tracey, 2017). Both lie in [0, ln N]; identical means give 0 and
    well-separated means ln N.

    Parameters
    ----------
    means : array-like of shape (N, d)
        Component means.
    var : float or array-like of shape (N, d)
        A common isotropic variance sigma^2, or each component's diagonal covariance (exact zeros
        are treated as point masses).
    lower : bool, default=True
        Also compute the lower bound (for diagonal covariances it costs O(N^2 d) memory traffic
        without a matrix product; pass False to skip it, it is then NaN).
    chunk : int or None
        Rows per block (None: sized to about 2e7 matrix entries).
    device : str or None
        Torch device of the computation (None: the CPU or the tensor's device).

    Returns
    -------
    (lower, upper) : tuple of float
        In nats, float64 arithmetic.
    """
    torch = _torch()
    mu = _as64(means, device)
    if mu.ndim != 2 or mu.shape[0] < 1:
        raise ValueError(f"The 'means' argument of kt_bounds must have shape (N, d) with N >= 1. "
                         f"Got {tuple(mu.shape)}.")
    v = _check_var(mu, var, "kt_bounds")
    n, d = mu.shape
    log_n = math.log(n)
    up, lo = 0.0, 0.0
    step = chunk or max(1, int(2e7 // n))
    for s in range(0, n, step):
        rows = slice(s, min(s + step, n))
        kl = _kl_matrix(mu, v, rows)
        idx = torch.arange(rows.start, rows.stop, device=mu.device)
        kl[idx - rows.start, idx] = 0.0
        up += float((log_n - torch.logsumexp(-kl, dim=1)).sum())
    # the Bhattacharyya matrix of diagonal covariances has no matrix-product form: (rows, N, d) blocks
    step = chunk or max(1, int(2e7 // (n * (1 if isinstance(v, float) else d))))
    for s in range(0, n, step) if lower else ():
        rows = slice(s, min(s + step, n))
        idx = torch.arange(rows.start, rows.stop, device=mu.device)
        bc = _bc_matrix(mu, v, rows)
        bc[idx - rows.start, idx] = 0.0
        lo += float((log_n - torch.logsumexp(-bc, dim=1)).sum())
    upper = min(max(up / n, 0.0), log_n)
    low = min(max(lo / n, 0.0), upper) if lower else math.nan
    return low, upper


def gaussian_channel_bound(signal, var: float) -> float:
    """Gaussian-channel bound ``1/2 log det(I + Sigma / sigma^2)`` on I(S; S + Z), in nats.

    For any S with covariance Sigma and independent Z ~ N(0, sigma^2 I), I(S; S + Z) is at most the
    capacity of that channel under Sigma, which a Gaussian S attains.

    Parameters
    ----------
    signal : array-like of shape (N, d)
        Rows of S, each of weight 1/N (Sigma is their covariance with divisor N: exact for S
        uniform on the rows).
    var : float
        Noise variance sigma^2 > 0.

    Returns
    -------
    float
    """
    s = np.asarray(signal.detach().cpu() if hasattr(signal, "detach") else signal, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 1:
        raise ValueError(f"The 'signal' argument of gaussian_channel_bound must have shape (N, d). Got {s.shape}.")
    var = check_float(var, "var", "gaussian_channel_bound", low=0.0, low_open=True)
    c = s - s.mean(axis=0)
    if s.shape[1] <= s.shape[0]:
        lam = np.linalg.eigvalsh(c.T @ c / s.shape[0])
    else:  # the same non-zero eigenvalues from the smaller Gram matrix
        lam = np.linalg.eigvalsh(c @ c.T / s.shape[0])
    return float(0.5 * np.log1p(np.clip(lam, 0.0, None) / var).sum())


def _log_gauss(t, means, var, chunk: int = 8192):
    """``log N(t; mean_c, diag var_c)`` up to ``-(d/2) log 2 pi``, shape (n_t, n_c), float64."""
    torch = _torch()
    d = t.shape[1]
    if isinstance(var, float):
        return -0.5 * (_sqdist(t, means) / var + d * math.log(var))
    out = torch.empty((t.shape[0], means.shape[0]), dtype=torch.float64, device=t.device)
    tt = t * t
    for s in range(0, means.shape[0], chunk):
        m, v = means[s:s + chunk], var[s:s + chunk]
        inv = 1.0 / v
        quad = tt @ inv.T - 2.0 * t @ (m * inv).T + (m * m * inv).sum(dim=1)
        out[:, s:s + chunk] = -0.5 * (quad.clamp_min_(0.0) + torch.log(v).sum(dim=1))
    return torch.nan_to_num(out, nan=-math.inf)


def _read_out(values, kind: str | None, sigma: float, device):
    """``(mean, var)`` of the read-out channel at ``values`` (float64); var a float when isotropic."""
    from ..nets.noise import noise_channel

    x = _as64(values, device)
    if kind is None:
        return x, None
    mean, std = noise_channel(x, kind, sigma)
    if kind == "relative":
        return mean, (std * std).clamp_min(_VAR_FLOOR)
    return mean, float(sigma) ** 2



def _mixture_logdens(t, means, var):
    """``log (1/R) sum_r N(t; mean_rc, diag var_rc)`` for every trial and probe c: (M, P), float64."""
    torch = _torch()
    r_rep, n_p, d = means.shape
    flat_v = var if isinstance(var, float) else var.reshape(-1, d)
    lg = _log_gauss(t, means.reshape(-1, d), flat_v).reshape(t.shape[0], r_rep, n_p)
    return torch.logsumexp(lg, dim=1) - math.log(r_rep)


def _local_gaussian_logdens(t, means, var, chunk: int = 256):
    """``log N(t; mean_c, D_c + U_c U_c^T)`` per trial and probe c: (M, P), float64.

    One Gaussian per probe: the replicas' mean, their covariance ``U_c U_c^T`` (rank <= R - 1) plus
    ``D_c``, the replicas' mean read-out variance (diagonal); Woodbury identity, O(M P d R).
    """
    torch = _torch()
    r_rep, n_p, d = means.shape
    mu = means.mean(dim=0)  # (P, d)
    u = (means - mu.unsqueeze(0)).permute(1, 2, 0) / math.sqrt(r_rep)  # (P, d, R)
    dv = (torch.full_like(mu, var) if isinstance(var, float) else var.mean(dim=0)).clamp_min(_VAR_FLOOR)
    inv = 1.0 / dv
    ud = u * inv.unsqueeze(2)  # D^-1 U: (P, d, R)
    a = torch.eye(r_rep, dtype=torch.float64, device=t.device) + u.transpose(1, 2) @ ud  # (P, R, R)
    chol = torch.linalg.cholesky(a)
    logdet = torch.log(dv).sum(dim=1) + 2.0 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(dim=1)
    quad_d = -2.0 * _log_gauss(t, mu, dv) - torch.log(dv).sum(dim=1)  # (t - mu)^T D^-1 (t - mu): (M, P)
    out = torch.empty((t.shape[0], n_p), dtype=torch.float64, device=t.device)
    bt = ud.transpose(1, 2)  # U^T D^-1: (P, R, d)
    off = (bt @ mu.unsqueeze(2)).squeeze(2)  # (P, R)
    for s in range(0, t.shape[0], chunk):
        tc = t[s:s + chunk]
        w = torch.einsum("prd,md->prm", bt, tc) - off.unsqueeze(2)  # (P, R, m)
        z = torch.linalg.solve_triangular(chol, w, upper=False)
        corr = (z * z).sum(dim=1).T  # (m, P)
        out[s:s + chunk] = -0.5 * (quad_d[s:s + chunk] - corr + logdet.unsqueeze(0))
    return out


def sample_propagation(samples, labels, means, var, probe_index, *, n_total: int, inner=None,
                       posterior: str = "mixture", y=None, level: float = 0.95, n_bounds: int = 1,
                       device=None) -> dict[str, Any]:
    """Sample-propagation estimate of I(X;T), T | X=j ~ Gaussian read-out around noisy replicas of probe j.

    With X uniform on ``n_total`` = N inputs, each trial's ``log p(t | i) - log p(t)`` is averaged,
    ``p(t) = (1/N) [p(t | i) + w sum_{j in S, j != i} p(t | j)]``, ``w = (N - 1) / |S - {i}|``
    (S: the inner probes, all N or a uniform subset), and ``p(t | j)`` from the replicas of j:

    * ``posterior="mixture"``: ``(1/R) sum_r N(t; mu_jr, diag v_jr)`` (Goldfeld et al., 2019);
    * ``posterior="gaussian"``: one Gaussian with the replicas' mean and covariance plus their mean
      read-out variance (moment matching).

    For trials independent of the replicas, the expectation is at most I(X;T) (with all N probes
    inner it is the Barber-Agakov bound of that posterior); for trials drawn from the replicas'
    own mixture it is at least I(X;T) (the mixture then *is* the law, given the replicas).

    Parameters
    ----------
    samples : array-like of shape (M, d)
        Trial draws of T.
    labels : array-like of shape (M,), int
        X of each trial, a probe index in [0, N); every one must be in ``probe_index``.
    means : array-like of shape (R, P, d)
        Read-out means of R noisy replicas of each of the P probes in ``probe_index``.
    var : float or array-like of shape (R, P, d)
        Read-out variance: isotropic, or diagonal per replica.
    probe_index : array-like of shape (P,), int
        Distinct probe indices of the columns of ``means``.
    n_total : int
        N.
    inner : array-like of shape (P,), bool, or None
        Which of the P probes form S (None: all).
    posterior : {"mixture", "gaussian"}, default="mixture"
    y : array-like of shape (N,) or None
        Probe labels; with all N probes inner the result also holds the Barber-Agakov bounds
        ``bound_x`` and ``bound_y`` (nats) of the posterior, at level ``1 - (1 - level) / n_bounds``.
    level : float, default=0.95
        Level of the (normal) interval of the value and of the bounds.
    n_bounds : int, default=1
    device : str or None

    Returns
    -------
    dict
        ``value``, ``se``, ``ci_low``, ``ci_high`` (nats), ``n_trials``, ``n_replicas``, ``n_inner``,
        ``exact_mixture``, and with ``y`` and an exact mixture ``bound_x``, ``bound_y``.
    """
    from scipy.stats import norm

    torch = _torch()
    t = _as64(samples, device)
    mu = _as64(means, t.device)
    lab = np.asarray(labels, dtype=np.int64)
    idx = np.asarray(probe_index, dtype=np.int64)
    if mu.ndim != 3 or t.ndim != 2 or mu.shape[2] != t.shape[1] or mu.shape[1] != len(idx) or lab.shape != (len(t),):
        raise ValueError(f"sample_propagation needs samples (M, d), labels (M,), means (R, P, d) and probe_index (P,). "
                         f"Got {tuple(t.shape)}, {lab.shape}, {tuple(mu.shape)} and {idx.shape}.")
    if posterior not in ("mixture", "gaussian"):
        raise ValueError(f"The 'posterior' argument of sample_propagation must be 'mixture' or 'gaussian'. "
                         f"Got {posterior!r}.")
    r_rep, n_p, d = mu.shape
    m = len(lab)
    n = int(n_total)
    pos = {int(j): c for c, j in enumerate(idx)}
    if len(pos) != n_p or any(int(i) not in pos for i in lab):
        raise ValueError("sample_propagation needs distinct probe_index values that include every trial's label.")
    v = _check_var(mu.reshape(-1, d), var if isinstance(var, float) else _as64(var, t.device).reshape(-1, d),
                   "sample_propagation")
    v3 = v if isinstance(v, float) else v.reshape(r_rep, n_p, d)
    inner_mask = torch.ones(n_p, dtype=torch.bool, device=t.device) if inner is None else \
        torch.as_tensor(np.asarray(inner, dtype=bool), device=t.device)
    if posterior == "mixture":
        logd = _mixture_logdens(t, mu, v3)
    else:
        logd = _local_gaussian_logdens(t, mu, v3)
    own_col = torch.as_tensor([pos[int(i)] for i in lab], device=t.device)
    rows = torch.arange(m, device=t.device)
    own = logd[rows, own_col]
    mask = inner_mask.unsqueeze(0).expand(m, n_p).clone()
    mask[rows, own_col] = False
    others = torch.where(mask, logd, torch.full_like(logd, -math.inf)).logsumexp(dim=1)
    n_others = mask.sum(dim=1).to(torch.float64)
    w = (n - 1) / n_others.clamp_min(1.0)
    log_p = torch.logaddexp(own, others + torch.log(w)) - math.log(n)
    terms = (own - log_p).cpu().numpy()
    value = float(terms.mean())
    se = float(terms.std(ddof=1) / math.sqrt(m)) if m > 1 else math.nan
    z = float(norm.ppf(0.5 + level / 2.0))
    exact = n_p == n and bool(inner_mask.all())
    out: dict[str, Any] = {"value": value, "se": se, "ci_low": value - z * se, "ci_high": value + z * se,
                           "n_trials": m, "n_replicas": r_rep, "n_inner": int(inner_mask.sum()),
                           "exact_mixture": exact}
    if exact and y is not None:
        delta = (1.0 - level) / n_bounds
        post = torch.softmax(logd, dim=1)  # q(j | t) over all N probes
        out["bound_x"], _ = _ba_lower(post[rows, own_col], math.log(n), n, delta)
        yy = np.asarray(y, dtype=np.int64)
        classes, codes = np.unique(yy, return_inverse=True)
        h_y = _h_counts(np.bincount(codes))
        col_y = torch.as_tensor(codes[idx], device=t.device)
        true_y = torch.as_tensor(codes[lab], device=t.device).unsqueeze(1)
        q_y = (post * (col_y.unsqueeze(0) == true_y).to(post.dtype)).sum(dim=1)
        out["bound_y"], _ = _ba_lower(q_y, h_y, len(classes), delta)
    return out


