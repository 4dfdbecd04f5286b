"""Provable brackets on both axes of the information plane, and an estimate of I(X;L) inside them.

Definitions
-----------
**Population.** X is uniform on the N rows of the probe set (row indices; two identical images
are two values of X), Y = label(X), and the network runs as in a probe pass: evaluation mode
(dropout off) with its own noise layers acting as they do in ``eval()``. Every number here is a
property of that joint law; none treats the probes as a sample of a continuous data law.

**The analysed variable of a layer.** For an analysed module with output L (flattened), the
variable is ``Lt = c(L)``: L observed once more through the network's Gaussian noise channel ``c``
(the *read-out*, :func:`ibscope.nets.noise_channel`): ``L + sigma eps`` (additive),
``L (1 + sigma eps)`` (relative) or ``standardize_rows(L) + sigma eps`` (normalized), with fresh
``eps ~ N(0, I)``. In the paper's conv net (and the MLP) the noise of layer k + 1 sits at its
input, so for every layer but the last ``Lt`` *is* the noisy input of the next layer (the T_k of
Goldfeld et al., 2019); for the output layer the read-out is a virtual channel of the same law.
By data processing, ``I(X;Lt) <= I(X;L)`` and ``I(Lt;Y) <= I(L;Y)``. With ``readout=None`` the
variable is L itself (then only the identification bounds and the upper bounds apply).

**The bracket.** ``xl_lower <= I(X;Lt) <= I(X;L) <= xl_upper`` and
``ly_lower_ident <= I(Lt;Y) <= I(L;Y) <= ly_upper``:

* *Lower bounds* come from decoding X (and Y) from draws of Lt (``n_trials`` iid trials: a
  probe index drawn uniformly with replacement, one noisy pass with the network's own noise, one
  read-out draw). Each is a statistical bound; the largest of the six candidates below holds with
  probability >= ``level`` (each is computed at ``delta = (1 - level) / 8``, a union bound):

  - ``fano_x``: nearest noise-free reference (the distance between the draw and the read-out
    mean of every probe's noise-free activation, Mahalanobis for the pooled spread of
    ``n_calibration`` separate draws around their references: a covariance shrunk towards its
    diagonal up to 512 dimensions, per-coordinate variances beyond; Euclidean where that decodes
    the separate draws better), Fano's inequality
    ``I >= ln N - h(Pe) - Pe ln(N - 1)`` with the one-sided Clopper-Pearson upper limit of Pe;
  - ``fano_y``: the label of that decoded probe, Fano with K classes and H(Y);
  - ``ba_x`` / ``ba_y``: Barber-Agakov ``I >= H - E[-log q]`` with a Gaussian-kernel posterior over
    the ``top_k`` nearest references (bandwidth chosen from a fixed grid; a union bound covers
    the choice), mixed with the uniform law (weight 0.01) so that the log-loss is bounded, and
    the empirical-Bernstein bound of Maurer & Pontil (2009) on its mean;
  - ``sp_x`` / ``sp_y``: the same with the sample-propagation posterior (below), when its
    mixture covers all N probes;
  - ``mm_x`` / ``mm_y``: the same with a moment-matched posterior (each probe's replicas replaced
    by one Gaussian with their mean and their spread added to the read-out variance).

  Every Barber-Agakov posterior is built from passes whose noise is independent of the trials,
  so it is a fixed decoder for them. A lower bound on I(Lt;Y) is one on I(X;Lt) too (Y is a
  function of X), so ``xl_lower`` is at least ``ly_lower_ident``.
* *Upper bounds* are exact: ``ln N``; the entropy of the distinct probe images when some repeat;
  and, on the first noisy variable T1 (the output of the first active noise layer, exactly a
  uniform mixture of N Gaussians given the probe), the Kolchinsky-Tracey pairwise bound
  ``I(X;T1) <= -(1/N) sum_i ln[(1/N) sum_j exp(-KL(p_i || p_j))]`` and, for additive or normalized
  noise, the Gaussian-channel bound ``1/2 log det(I + Sigma/sigma^2)`` with Sigma the (exact)
  covariance of T1's mean over the probes. Both carry to every analysed layer that T1 separates
  from the input (data processing), which is checked on a probe batch. ``ly_upper`` is
  ``min(H(Y), xl_upper)``.

**The estimate** (``i_xl``) of ``I(X;Lt)`` is the sample-propagation estimator of Goldfeld et al.
(2019), in two variants that err in opposite directions. Given X = j, ``p(t | j)`` is approximated by
the mixture of the read-out Gaussians centred on ``n_replicas`` independent noisy passes of probe j,
and ``p(t) = (1/N) sum_j p(t | j)`` (the other probes' terms from a uniform subset of ``n_inner`` of
them when N is larger, weighted to stay unbiased). Both average ``log p(t | i) - log p(t)`` over
trials:

* *fresh*: t is a new noisy pass (the identification trials), independent of the replicas. Its
  expectation is at most I(X;Lt): with all N probes in the mixture it is the Barber-Agakov bound of
  that posterior. A moment-matched posterior (one Gaussian per probe with the replicas' mean and
  covariance plus the read-out variance) gives a second value of this kind; the larger is used;
* *plug-in*: t is drawn from the replicas' own mixture (Goldfeld et al.'s estimator of the mixture's
  entropies). Its expectation is at least I(X;Lt): conditioning on the replicas (independent of X)
  can only add information.

Both converge to I(X;Lt) as the replicas grow. Each side is clipped to the bracket: the low side
``a = max(xl_lower, fresh or moment-matched)``, the high side ``b = min(xl_upper, plug-in)``. When
``b - a <= RESOLVE_TOL`` (1 nat) and the two sides narrow the bracket by at least ``pin_tol``, the
estimate is ``i_xl = (a + b) / 2``, with the interval from the low side's lower to the plug-in's upper
normal confidence limit (Monte-Carlo error only), clipped to the bracket. Otherwise the replicas do
not resolve the earlier noise (typical of wide layers under large noise): ``i_xl`` is NaN,
``i_xl_method`` is "unresolved", and the bracket is all that is known. Where the bracket itself is
narrower than ``pin_tol`` the estimate is not computed: it is *pinned* to the bracket (``i_xl`` its
midpoint, ``i_xl_lo`` / ``i_xl_hi`` its ends).

All values are in nats.

References
----------
Kolchinsky & Tracey (2017), Estimating mixture entropy with pairwise distances, Entropy 19, 361.
Goldfeld et al. (2019), Estimating information flow in deep neural networks, ICML.
Fano (1961); Clopper & Pearson (1934); Barber & Agakov (2003); Maurer & Pontil (2009),
Empirical Bernstein bounds and sample variance penalization, COLT.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

import numpy as np

from .._random import child_seed
from .._validation import check_float, check_int

__all__ = [
    "BRACKET_COLUMNS",
    "binary_entropy",
    "clopper_pearson_upper",
    "fano_lower_bound",
    "bernstein_mean_upper",
    "kt_bounds",
    "gaussian_channel_bound",
    "identification_bounds",
    "whitener",
    "sample_propagation",
    "xl_brackets",
    "trend_gate",
]

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
# Scalar bounds
# ---------------------------------------------------------------------------------------------------------------
def binary_entropy(p: float) -> float:
    """Binary entropy ``h(p) = -p ln p - (1 - p) ln(1 - p)`` in nats (0 at p = 0 and p = 1)."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"binary_entropy needs a probability in [0, 1]. Got {p!r}.")
    if p in (0.0, 1.0):
        return 0.0
    return -(p * math.log(p) + (1.0 - p) * math.log1p(-p))


def clopper_pearson_upper(n_errors: int, n_trials: int, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper confidence limit of a binomial error rate.

    Parameters
    ----------
    n_errors, n_trials : int
        Errors observed in ``n_trials`` independent trials (0 <= n_errors <= n_trials, n_trials >= 1).
    level : float, default=0.95
        Confidence level in (0, 1): ``P(rate <= limit) >= level`` for every true rate.

    Returns
    -------
    float
        The limit in [0, 1]: the ``level`` quantile of Beta(k + 1, n - k), 1 when k = n.
    """
    from scipy.stats import beta

    n = check_int(n_trials, "n_trials", "clopper_pearson_upper", low=1)
    k = check_int(n_errors, "n_errors", "clopper_pearson_upper", low=0, high=n)
    level = check_float(level, "level", "clopper_pearson_upper", low=0.0, high=1.0, low_open=True, high_open=True)
    if k == n:
        return 1.0
    return float(beta.ppf(level, k + 1, n - k))


def fano_lower_bound(entropy: float, n_errors: int, n_trials: int, n_values: int, *,
                     level: float | None = 0.95) -> float:
    """Fano's lower bound on I(V; L) from the error count of a decoder of V, in nats.

    Fano's inequality ``H(V | L) <= h(Pe) + Pe ln(K - 1)`` for any decoder of a variable V with K
    values gives ``I(V;L) >= H(V) - h(Pe) - Pe ln(K - 1)``. The error rate Pe is replaced by its
    Clopper-Pearson upper limit, capped at ``(K - 1) / K`` where ``h(p) + p ln(K - 1)`` (increasing
    below it) reaches its maximum ``ln K``, so the bound holds with probability >= ``level``.

    Parameters
    ----------
    entropy : float
        H(V) in nats (``ln N`` for V uniform on N values).
    n_errors, n_trials : int
        Decoding errors in ``n_trials`` iid trials (V drawn from its law each time).
    n_values : int
        K, the number of values V can take (>= 1).
    level : float or None, default=0.95
        Confidence level of the limit on Pe; None uses the observed rate (a point value, no guarantee).

    Returns
    -------
    float
        ``max(0, H - h(p) - p ln(K - 1))`` with ``p = min(limit, (K - 1) / K)``; 0 is itself a
        valid bound (mutual information is never negative).
    """
    k_values = check_int(n_values, "n_values", "fano_lower_bound", low=1)
    n = check_int(n_trials, "n_trials", "fano_lower_bound", low=1)
    k = check_int(n_errors, "n_errors", "fano_lower_bound", low=0, high=n)
    if k_values == 1:
        return max(0.0, float(entropy))
    p = clopper_pearson_upper(k, n, level) if level is not None else k / n
    p = min(p, (k_values - 1) / k_values)
    return max(0.0, float(entropy) - binary_entropy(p) - p * math.log(k_values - 1))


def bernstein_mean_upper(values, upper: float, delta: float) -> float:
    """Empirical-Bernstein upper confidence bound on the mean of iid variables in [0, upper].

    Maurer & Pontil (2009, Theorem 4): with probability >= 1 - delta,
    ``E V <= mean + sqrt(2 var ln(2/delta) / n) + 7 upper ln(2/delta) / (3 (n - 1))``,
    with ``var`` the unbiased sample variance.

    Parameters
    ----------
    values : array-like of shape (n,), n >= 2
    upper : float
        The known range's upper end (> 0); values are clipped to [0, upper] first.
    delta : float
        Error probability in (0, 1).

    Returns
    -------
    float
    """
    v = np.clip(np.asarray(values, dtype=np.float64).ravel(), 0.0, float(upper))
    n = v.size
    if n < 2:
        raise ValueError(f"bernstein_mean_upper needs at least 2 values. Got {n}.")
    delta = check_float(delta, "delta", "bernstein_mean_upper", low=0.0, high=1.0, low_open=True, high_open=True)
    log_term = math.log(2.0 / delta)
    return float(v.mean() + math.sqrt(2.0 * v.var(ddof=1) * log_term / n) + 7.0 * upper * log_term / (3.0 * (n - 1)))


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


# ---------------------------------------------------------------------------------------------------------------
# The model-level entry point
# ---------------------------------------------------------------------------------------------------------------
def _model_device(model):
    try:
        return next(model.parameters()).device
    except StopIteration:
        return _torch().device("cpu")


def _gaussian_law_known(layer) -> bool:
    """Whether a noise layer draws exactly the law of :func:`ibscope.nets.noise_channel` (not a subclass's own)."""
    from ..nets.noise import NOISE_KINDS, GaussianNoise

    return type(layer).forward is GaussianNoise.forward and layer.kind in NOISE_KINDS


def _forward_layers(model, x, layers, *, batch_size, hooks=()):
    """Analysed layers' outputs (float32 arrays (n, d)) of one unshuffled eval pass; ``hooks`` are (module, fn)
    forward pre-hooks or (module, fn, "out") forward hooks attached for the pass."""
    from .capture import ActivationRecorder

    handles = []
    try:
        for h in hooks:
            if len(h) == 3:
                handles.append(h[0].register_forward_hook(h[1]))
            else:
                handles.append(h[0].register_forward_pre_hook(h[1]))
        rec = ActivationRecorder(model, list(layers))
        acts = rec.capture(x, None, batch_size=batch_size)
    finally:
        for h in handles:
            h.remove()
    return acts.layers


def _set_sigma(layers, value):
    for _, layer in layers:
        layer.sigma = value


def _h_counts(counts) -> float:
    c = np.asarray(counts, dtype=np.float64)
    p = c[c > 0] / c.sum()
    return float(-(p * np.log(p)).sum())


def _readout_channel(active, readout, notes) -> tuple[str | None, float]:
    """The read-out channel ``(kind, sigma)``, or ``(None, 0)`` for the layer itself."""
    from ..nets.noise import NOISE_KINDS

    if readout is None:
        return None, 0.0
    if readout == "auto":
        laws = {(layer.kind, float(layer.sigma)) for _, layer in active if _gaussian_law_known(layer)}
        if len(laws) == 1 and all(_gaussian_law_known(layer) for _, layer in active):
            kind, sigma = laws.pop()
            return kind, sigma
        notes.append("no read-out channel: the network's noise layers do not share one Gaussian law "
                     f"({sorted(laws) or 'none of ibscope.nets.GaussianNoise'}); the variable is the layer output "
                     "itself, and the estimate is not computed. Pass readout=(kind, sigma) to choose one.")
        return None, 0.0
    try:
        kind, sigma = readout
    except (TypeError, ValueError):
        raise ValueError(f"The 'readout' argument of xl_brackets must be 'auto', None or (kind, sigma). "
                         f"Got {readout!r}.") from None
    if kind not in NOISE_KINDS:
        raise ValueError(f"The read-out kind of xl_brackets must be one of {list(NOISE_KINDS)}. Got {kind!r}.")
    return kind, check_float(sigma, "readout sigma", "xl_brackets", low=0.0, low_open=True)


def _empty_row(name, n, ln_n, h_y, n_classes, level, notes, variable, population, pin_tol=0.1) -> dict[str, Any]:
    nan = math.nan
    return {
        "layer": name, "n_probes": n, "ln_n": ln_n, "h_y": h_y, "n_classes": n_classes, "level": level,
        "pin_tol": pin_tol,
        "xl_lower": nan, "xl_upper": nan, "ly_lower_ident": nan, "ly_upper": nan,
        "i_xl": nan, "i_xl_lo": nan, "i_xl_hi": nan, "i_xl_se": nan, "i_xl_method": "none",
        "saturated": False, "in_bracket": None, "xl_lower_by": "", "xl_upper_by": "", "ly_lower_by": "",
        "lower_bounds": {}, "upper_bounds": {}, "errors_x": None, "errors_y": None, "n_trials": 0,
        "pe_x_upper": nan, "pe_y_upper": nan, "variable": variable, "population": population,
        "time_s": 0.0, "time_shared_s": 0.0, "notes": list(notes),
    }


def xl_brackets(model, probe_x, probe_y, layers=None, *, n_trials: int = 1000, n_replicas: int = 8,
                n_inner: int = 2000, n_estimate: int = 256, references: dict | None = None, readout="auto",
                force_noise: bool = False, level: float = 0.95, pin_tol: float = 0.1, top_k: int = 256,
                n_calibration: int = 256, estimate: bool = True, input_bounds="auto", cache: dict | None = None,
                random_state: int = 0, batch_size: int = 2048, device=None) -> dict[str, dict[str, Any]]:
    """Brackets on I(X;L) and I(L;Y), and an estimate of I(X;L), for every analysed layer (module notes).

    Call it once per analysed epoch. The model's train/eval mode, its noise layers' settings and
    random streams and the global torch generator are restored afterwards, so training continues
    exactly as if the analysis had not run.

    Parameters
    ----------
    model : torch.nn.Module
        The network, with :class:`ibscope.nets.GaussianNoise` layers.
    probe_x : torch.Tensor or numpy.ndarray of shape (N, ...)
        Probe inputs, normalised as the model expects, in probe order.
    probe_y : array-like of shape (N,), int
        Probe labels.
    layers : sequence of str or None
        Modules to analyse (None: ``model.layer_names``).
    n_trials : int, default=1000
        Identification trials (probe drawn uniformly with replacement, one noisy pass, one read-out).
    n_replicas : int, default=8
        Noisy passes per probe in the mixtures of the estimate.
    n_inner : int, default=2000
        Probes in those mixtures: all N when N <= n_inner, else a uniform subset (then the estimate's
        mixture is subsampled and ``sp_x`` / ``sp_y`` are not bounds).
    n_estimate : int, default=256
        Trials of the estimate (the first ones of the identification trials).
    references : dict of str to array of shape (N, d) or None
        Decoding centres per layer from a pass whose noise is independent of these trials (e.g. the
        recorder's probe pass); None runs a noise-free pass. A layer missing here uses that pass.
    readout : "auto", None or (kind, sigma), default="auto"
        The read-out channel (module notes); "auto" takes the network's noise law when all its active
        noise layers share one.
    force_noise : bool, default=False
        Turn the noise on in evaluation mode for the analysis when the model has it only in training
        (recorded in the notes); otherwise such a model gets no numbers.
    level : float, default=0.95
        Confidence of the lower bounds (jointly) and of the estimate's interval.
    pin_tol : float, default=0.1
        Brackets narrower than this (nats) pin the estimate instead of computing it.
    top_k : int, default=256
        Nearest references of the kernel posterior.
    n_calibration : int, default=256
        Extra noisy draws (probes drawn uniformly) whose spread around the references fixes the
        decoders' Mahalanobis metric (:func:`whitener`); 0 decodes in the Euclidean distance.
    estimate : bool, default=True
        Compute the estimate for layers whose bracket is wider than ``pin_tol`` (False: brackets
        only, ``i_xl_method`` "none" there; the replica passes are the costliest part).
    input_bounds : bool or "auto", default="auto"
        Compute the bounds on the first noisy variable (O(N^2 d) for an input of d values; "auto":
        when N^2 d <= 2e10 or on CUDA).
    cache : dict or None
        A dict kept by the caller between calls: the first-noisy-variable bounds (which depend only
        on the probe set and the first noise layer) are stored there and reused.
    random_state : int, default=0
        Seed of the trials, the noise streams used here and the read-out draws.
    batch_size : int, default=2048
        Rows per forward pass.
    device : str or None
        Where the distance computations run (None: the model's device). Passes run on the model's device.

    Returns
    -------
    dict of str to dict
        Per layer (in order): ``xl_lower``, ``xl_upper``, ``ly_lower_ident``, ``ly_upper`` (nats),
        ``i_xl``, ``i_xl_lo``, ``i_xl_hi``, ``i_xl_se`` (nats), ``i_xl_method``
        ("sample-propagation", "pinned" or "none"), ``saturated`` (``xl_lower >= ln N - 0.1``),
        ``in_bracket`` (the estimate inside [xl_lower, xl_upper]; None without an estimate),
        ``xl_lower_by`` / ``xl_upper_by`` / ``ly_lower_by`` (which bound attains each side),
        ``lower_bounds`` and ``upper_bounds`` (every candidate, nats), ``errors_x``, ``errors_y``,
        ``n_trials``, ``pe_x_upper``, ``pe_y_upper``, ``decoder_metric`` ("euclidean" or
        "mahalanobis"), ``n_probes``, ``ln_n``, ``h_y``,
        ``n_classes``, ``level``, ``pin_tol``, ``variable`` and ``population`` (text), ``time_s``
        (this layer's own computations, s) and ``time_shared_s`` (the passes shared by all layers,
        s), ``notes`` (list of str); where the estimate ran, ``estimate`` (its sides ``fresh``,
        ``moment_matched``, ``plugin`` with ``fresh_se``, ``plugin_se``, the clipped ``low_side`` and
        ``high_side``, ``resolved``, ``n_trials``, ``n_replicas``, ``n_inner``, ``exact_mixture``);
        where the first noisy variable's bounds ran, ``kt_input_lower`` (its Kolchinsky-Tracey lower
        bound, nats). Without active noise every number is NaN and the notes say why.

    Raises
    ------
    ValueError
        Bad sizes or settings (the message names the argument), unknown layer names.
    """
    torch = _torch()
    from ..nets.noise import get_noise_rng_state, noise_channel, noise_layers, reseed_noise, set_noise_rng_state
    from .capture import ActivationRecorder

    owner = "xl_brackets"
    n_trials = check_int(n_trials, "n_trials", owner, low=2)
    n_replicas = check_int(n_replicas, "n_replicas", owner, low=1)
    n_inner = check_int(n_inner, "n_inner", owner, low=2)
    n_estimate = check_int(n_estimate, "n_estimate", owner, low=2)
    level = check_float(level, "level", owner, low=0.0, high=1.0, low_open=True, high_open=True)
    pin_tol = check_float(pin_tol, "pin_tol", owner, low=0.0)
    top_k = check_int(top_k, "top_k", owner, low=1)
    n_calibration = check_int(n_calibration, "n_calibration", owner, low=0)
    seed = check_int(random_state, "random_state", owner, low=0)
    batch_size = check_int(batch_size, "batch_size", owner, low=1)
    if input_bounds not in (True, False, "auto"):
        raise ValueError(f"The 'input_bounds' argument of {owner} must be True, False or 'auto'. Got {input_bounds!r}.")
    names = list(ActivationRecorder(model, layers).layers)  # unknown names: the message lists valid ones
    mdev = _model_device(model)
    xs = probe_x if torch.is_tensor(probe_x) else torch.as_tensor(np.asarray(probe_x, dtype=np.float32))
    xs = xs.to(mdev)
    y = np.asarray(probe_y.detach().cpu() if hasattr(probe_y, "detach") else probe_y).astype(np.int64).reshape(-1)
    n = int(xs.shape[0])
    if y.shape != (n,):
        raise ValueError(f"The 'probe_y' argument of {owner} must have one label per probe row: {n}. "
                         f"Got shape {y.shape}.")
    if n < 2:
        raise ValueError(f"{owner} needs at least 2 probe rows. Got {n}.")
    cdev = torch.device(device) if device is not None else mdev
    ln_n = math.log(n)
    classes, y_codes = np.unique(y, return_inverse=True)
    n_classes = len(classes)
    h_y = _h_counts(np.bincount(y_codes))
    notes: list[str] = []
    population = f"X uniform on the {n} probe rows, Y its label, the network in eval mode with its own noise"

    # duplicates: X is the row index, so ln N is attainable only by distinct images
    flat = xs.detach().reshape(n, -1).cpu().numpy()
    _, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
    h_distinct = _h_counts(counts)
    if len(counts) < n:
        notes.append(f"the probe set repeats images: {n - len(counts)} of its {n} rows duplicate another, so "
                     f"I(X;L) <= H(distinct images) = {h_distinct:.4f} < ln N = {ln_n:.4f} nats")

    all_noise = noise_layers(model)
    saved_rng = get_noise_rng_state(model)
    saved = [(layer, layer.sigma, layer.active_in_eval) for _, layer in all_noise]
    was_training = model.training
    devices = [mdev.index if mdev.index is not None else torch.cuda.current_device()] if mdev.type == "cuda" else []
    rows: dict[str, dict[str, Any]] = {}
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(child_seed(seed, 9, bits=63))
            if force_noise:
                for _, layer in all_noise:
                    if layer.sigma > 0 and not layer.active_in_eval:
                        layer.active_in_eval = True
                        notes.append("the noise was off in evaluation mode; it was turned on for this analysis "
                                     "(force_noise=True)")
            active = [(nm, layer) for nm, layer in all_noise if layer.sigma > 0 and layer.active_in_eval]
            kind, sigma = _readout_channel(active, readout, notes) if active else (None, 0.0)
            if kind is None:
                variable = "L, the layer output"
            else:
                variable = f"L~ = L read out through {kind} Gaussian noise, sigma={sigma:g}"
            if not active:
                if not all_noise:
                    why = ("the model has no noise layer (ibscope.nets.noise_layers is empty): it is deterministic, "
                           "and I(X;L) of a deterministic network is not defined here (infinite for continuous "
                           "inputs); no number is given. Add noise, e.g. ibscope.nets.insert_noise")
                elif not any(layer.sigma > 0 for _, layer in all_noise):
                    why = "every noise layer has sigma=0: the network is deterministic; no number is given"
                else:
                    why = ("the noise is off in the probe passes (active_in_eval=False / noise_in_eval off): the "
                           "analysed network is deterministic and I(X;L) is not defined; no number is given. "
                           "Pass force_noise=True to analyse it with its training noise on")
                return {nm: _empty_row(nm, n, ln_n, h_y, n_classes, level, [*notes, why], variable, population)
                        for nm in names}
            unknown = [nm for nm, layer in active if not _gaussian_law_known(layer)]
            if unknown:
                notes.append(f"noise layer(s) {unknown} subclass GaussianNoise with their own forward(): their law is "
                             "unknown, so the Gaussian bounds on the first noisy variable are not used")

            # -- structure: call order, first noisy variable, the cut check, other randomness (small batch)
            t0 = time.perf_counter()
            watch = {nm: mod for nm, mod in model.named_modules() if nm in names}
            watch.update({nm: layer for nm, layer in all_noise})
            order: list[str] = []

            def order_hook(nm):
                def hook(module, inputs, output):
                    if nm not in order:
                        order.append(nm)
                return hook

            xb = xs[:min(n, 16)]
            active_names = {nm for nm, _ in active}
            _set_sigma(all_noise, 0.0)
            hooks = [(mod, order_hook(nm), "out") for nm, mod in watch.items()]
            base = _forward_layers(model, xb, names, batch_size=batch_size, hooks=hooks)
            first = next((nm for nm in order if nm in active_names), None)
            if first is None:  # pragma: no cover - an active layer that never runs
                return {nm: _empty_row(nm, n, ln_n, h_y, n_classes, level,
                                       [*notes, "no active noise layer runs in the forward pass"], variable,
                                       population) for nm in names}
            first_layer = dict(all_noise)[first]
            first_sigma = next(s0 for layer, s0, _a in saved if layer is first_layer)
            before = {nm for nm in names if order.index(nm) < order.index(first)}
            captured: dict[str, Any] = {}

            def keep_out(module, inputs, output):
                captured["out"] = output.detach().clone()

            _forward_layers(model, xb, names, batch_size=batch_size, hooks=[(first_layer, keep_out, "out")])
            gen = torch.Generator(device=mdev).manual_seed(child_seed(seed, 8, bits=63))
            x_alt = torch.randn(xb.shape, generator=gen, device=mdev, dtype=xb.dtype)
            alt = _forward_layers(model, x_alt, names, batch_size=batch_size,
                                  hooks=[(first_layer, lambda m, i, o: captured["out"], "out")])
            cut = {nm: nm not in before and np.allclose(alt[nm], base[nm], rtol=1e-5, atol=1e-6) for nm in names}
            torch.manual_seed(child_seed(seed, 10, bits=63))
            again = _forward_layers(model, xb, names, batch_size=batch_size)
            other_random = any(not np.array_equal(again[nm], base[nm]) for nm in names)
            if other_random:
                notes.append("the model is random outside its GaussianNoise layers (non-Gaussian or unknown noise): "
                             "the bounds that assume the Gaussian law of the first noisy variable are not used; the "
                             "identification bounds and the estimate stay valid")
            input_law_known = not other_random and _gaussian_law_known(first_layer)

            # -- reference pass (noise off) and the first noisy variable's bounds
            need_refs = [nm for nm in names if references is None or nm not in references]
            key = None
            d_in = int(np.prod(flat.shape[1:]))
            if input_bounds == "auto":
                want_input = n * n * d_in <= _INPUT_AUTO_MAX or cdev.type == "cuda"
                if not want_input:
                    notes.append(f"the Kolchinsky-Tracey bound on the first noisy variable was skipped (N^2 d = "
                                 f"{n * n * d_in:.2g} pairwise terms on the CPU); pass input_bounds=True (with a"
                                 " cache, it is computed once) to tighten the upper bound where the input noise is big")
            else:
                want_input = bool(input_bounds)
            if input_law_known and want_input:
                key = ("xl_brackets.input", first, first_layer.kind, float(first_sigma), n,
                       hashlib.sha1(np.ascontiguousarray(flat).tobytes()).hexdigest())
            need_input = key is not None and (cache is None or key not in cache)
            u_parts: list[Any] = []
            refs: dict[str, Any] = {}
            if need_refs or need_input:
                pre = [(first_layer, lambda m, i: u_parts.append(i[0].detach()))] if need_input else []
                got = _forward_layers(model, xs, need_refs or names[:1], batch_size=batch_size, hooks=pre)
                refs.update({nm: got[nm] for nm in need_refs})
            for nm in names:
                if nm not in refs:
                    arr = np.asarray(references[nm], dtype=np.float32)  # type: ignore[index]
                    if arr.ndim != 2 or arr.shape[0] != n:
                        raise ValueError(f"The 'references' of {owner} for layer {nm!r} must have shape (N={n}, d). "
                                         f"Got {arr.shape}.")
                    refs[nm] = arr
            t1_bounds: dict[str, float] = {}
            if key is not None:
                if need_input:
                    u = torch.cat(u_parts).reshape(n, -1)
                    mean, std = noise_channel(u.to(torch.float64), first_layer.kind, first_sigma)
                    mean = mean.to(cdev)
                    iso = first_layer.kind != "relative"
                    iso_var = float(first_sigma) ** 2
                    lo_kt, up_kt = kt_bounds(mean, iso_var if iso else std.to(cdev) ** 2, lower=iso, device=cdev)
                    t1_bounds = {"kt_input": up_kt, "kt_input_lower": lo_kt}
                    if iso:
                        t1_bounds["gaussian_channel_input"] = gaussian_channel_bound(mean, iso_var)
                    if cache is not None:
                        cache[key] = dict(t1_bounds)
                else:
                    t1_bounds = dict(cache[key])  # type: ignore[index]
            _set_sigma(all_noise, 0.0)
            for layer, s0, _a in saved:
                layer.sigma = s0
            t_structure = time.perf_counter() - t0

            # -- identification trials: probe drawn uniformly with replacement, one noisy pass, one read-out
            t0 = time.perf_counter()
            rng = np.random.default_rng(child_seed(seed, 1))
            idx = rng.integers(0, n, size=n_trials)
            reseed_noise(model, child_seed(seed, 2, bits=63))
            trial = _forward_layers(model, xs[torch.as_tensor(idx, device=mdev)], names, batch_size=batch_size)
            # calibration draws (independent of the trials) fix the decoders' metric
            cal_idx = np.random.default_rng(child_seed(seed, 6)).integers(0, n, size=n_calibration)
            if n_calibration:
                reseed_noise(model, child_seed(seed, 7, bits=63))
                cal = _forward_layers(model, xs[torch.as_tensor(cal_idx, device=mdev)], names, batch_size=batch_size)
            t_trials = time.perf_counter() - t0

            results: dict[str, dict[str, Any]] = {}
            samples: dict[str, Any] = {}
            li_of = {nm: li for li, nm in enumerate(names)}
            for li, nm in enumerate(names):
                t0 = time.perf_counter()
                row = _empty_row(nm, n, ln_n, h_y, n_classes, level, notes, variable, population, pin_tol)
                if nm in before:
                    row["notes"].append(f"layer {nm} runs before the first active noise layer ({first}): it is a "
                                        "deterministic function of the input, so I(X;L) is not defined; no number "
                                        "is given")
                    results[nm] = row
                    continue
                ref_mean, _ = _read_out(refs[nm], kind, sigma, cdev)
                lt = _as64(trial[nm], cdev)
                if kind is not None:
                    mean, var = _read_out(lt, kind, sigma, cdev)
                    g = torch.Generator(device=cdev).manual_seed(child_seed(seed, 3, li, bits=63))
                    noise = torch.randn(mean.shape, generator=g, device=cdev, dtype=torch.float64)
                    lt = mean + (math.sqrt(var) * noise if isinstance(var, float) else var.sqrt() * noise)
                samples[nm] = lt
                metric = None
                if n_calibration >= 2:
                    lc = _as64(cal[nm], cdev)
                    if kind is not None:
                        mean, var = _read_out(lc, kind, sigma, cdev)
                        g = torch.Generator(device=cdev).manual_seed(child_seed(seed, 8, li, bits=63))
                        noise = torch.randn(mean.shape, generator=g, device=cdev, dtype=torch.float64)
                        lc = mean + (math.sqrt(var) * noise if isinstance(var, float) else var.sqrt() * noise)
                    cal_t = torch.as_tensor(cal_idx, device=cdev)
                    metric = whitener(lc - ref_mean[cal_t])
                    # keep the Mahalanobis metric only where it decodes the calibration draws at least as well
                    if _nearest_errors(lc, ref_mean, cal_t, metric) > _nearest_errors(lc, ref_mean, cal_t, None):
                        metric = None
                row["decoder_metric"] = "euclidean" if metric is None else "mahalanobis"
                ident = identification_bounds(lt, idx, ref_mean, y, level=level, n_bounds=_N_LOWER, top_k=top_k,
                                              metric=metric, device=cdev)
                lower = {"fano_x": ident["fano_x"], "ba_x": ident["ba_x"], "fano_y": ident["fano_y"],
                         "ba_y": ident["ba_y"]}
                upper = {"ln_n": ln_n}
                if len(counts) < n:
                    upper["distinct_images"] = h_distinct
                if t1_bounds:
                    if cut[nm]:
                        upper.update({k: v for k, v in t1_bounds.items() if k != "kt_input_lower"})
                    else:
                        row["notes"].append(f"the first noisy variable ({first}) does not separate layer {nm} from the "
                                            "input (checked on a probe batch), so its bounds are not carried here")
                row.update(lower_bounds=lower, upper_bounds=upper, errors_x=ident["errors_x"],
                           errors_y=ident["errors_y"], n_trials=n_trials, pe_x_upper=ident["pe_x_upper"],
                           pe_y_upper=ident["pe_y_upper"])
                if t1_bounds and "kt_input_lower" in t1_bounds:
                    row["kt_input_lower"] = t1_bounds["kt_input_lower"]
                row["time_s"] = time.perf_counter() - t0
                _finish_bracket(row, pin_tol)
                results[nm] = row

            # -- the estimate, for layers whose bracket is wide
            t0 = time.perf_counter()
            wide = [nm for nm in names if estimate and nm in samples and kind is not None
                    and results[nm]["xl_upper"] - results[nm]["xl_lower"] > pin_tol]
            t_replicas = 0.0
            if wide:
                m_est = min(n_estimate, n_trials)
                est_idx = idx[:m_est]
                inner = np.arange(n) if n <= n_inner else np.sort(rng.choice(n, size=n_inner, replace=False))
                probes = np.union1d(inner, est_idx)
                reps: dict[str, list[Any]] = {nm: [] for nm in wide}
                xp = xs[torch.as_tensor(probes, device=mdev)]
                for r in range(n_replicas):
                    reseed_noise(model, child_seed(seed, 4, r, bits=63))
                    got = _forward_layers(model, xp, wide, batch_size=batch_size)
                    for nm in wide:
                        reps[nm].append(got[nm])
                t_replicas = time.perf_counter() - t0
                inner_mask = np.isin(probes, inner)
                for nm in wide:
                    t1 = time.perf_counter()
                    stack = _as64(np.stack(reps[nm]), cdev)  # (R, |P|, d)
                    mean, var = _read_out(stack.reshape(-1, stack.shape[2]), kind, sigma, cdev)
                    mean = mean.reshape(stack.shape)
                    var3 = var if isinstance(var, float) else var.reshape(stack.shape)
                    row = results[nm]
                    est = _estimate(samples[nm][:m_est], est_idx, mean, var3, probes, inner_mask, n=n, y=y,
                                    level=level, lower=row["xl_lower"], upper=row["xl_upper"],
                                    gen=torch.Generator(device=cdev).manual_seed(child_seed(seed, 5, li_of[nm],
                                                                                             bits=63)), device=cdev)
                    if est["exact"]:
                        row["lower_bounds"].update(est["bounds"])
                    else:
                        row["notes"].append(f"the estimate's mixture uses {len(inner)} of the {n} probes (a uniform "
                                            "subset, reweighted): it is an estimate, not a bound")
                    _finish_bracket(row, pin_tol)
                    _place_estimate(row, est)
                    row["time_s"] += time.perf_counter() - t1
            t_shared = t_structure + t_trials + t_replicas
            for nm in names:
                results[nm]["time_shared_s"] = t_shared
                rows[nm] = results[nm]
    finally:
        for layer, s0, a0 in saved:
            layer.sigma = s0
            layer.active_in_eval = a0
        set_noise_rng_state(model, saved_rng)
        model.train(was_training)
    return rows


#: The estimate is given only when its two sides, clipped to the bracket, are within this many nats.
RESOLVE_TOL = 1.0


def _estimate(samples, labels, means, var, probes, inner_mask, *, n, y, level, lower, upper, gen, device) -> dict:
    """The sides of the estimate of one layer (module notes): moment-matched, plug-in, then fresh draws.

    The fresh-draw mixture is skipped when the moment-matched side already brings the two sides within
    ``RESOLVE_TOL`` (it could only narrow them further).
    """
    torch = _torch()
    r_rep = means.shape[0]
    m = len(labels)
    common = dict(n_total=n, inner=inner_mask, level=level, device=device)
    out: dict[str, Any] = {"exact": bool(np.all(inner_mask)) and len(probes) == n, "bounds": {}, "fresh": None,
                           "plugin": None, "mm": None}
    if r_rep > 1:
        mm = sample_propagation(samples, labels, means, var, probes, posterior="gaussian", y=y, n_bounds=_N_LOWER,
                                **common)
        out["mm"] = mm
        if "bound_x" in mm:
            out["bounds"].update(mm_x=mm["bound_x"], mm_y=mm["bound_y"])
    # draws from the replicas' own mixture (Goldfeld et al.'s plug-in): E[value] >= I(X;Lt)
    pos = {int(j): c for c, j in enumerate(probes)}
    cols = torch.as_tensor([pos[int(i)] for i in labels], device=means.device)
    pick = torch.randint(0, r_rep, (m,), generator=gen, device=means.device)
    centre = means[pick, cols]
    sd = math.sqrt(var) if isinstance(var, float) else var[pick, cols].sqrt()
    draw = centre + sd * torch.randn(centre.shape, generator=gen, device=means.device, dtype=torch.float64)
    out["plugin"] = plug = sample_propagation(draw, labels, means, var, probes, **common)
    top = min(upper, plug["value"])
    if out["mm"] is None or top - max(lower, out["mm"]["value"]) > RESOLVE_TOL:
        # fresh draws (the identification trials): E[value] <= I(X;Lt)
        fresh = sample_propagation(samples, labels, means, var, probes, y=y, n_bounds=_N_LOWER, **common)
        out["fresh"] = fresh
        if "bound_x" in fresh:
            out["bounds"].update(sp_x=fresh["bound_x"], sp_y=fresh["bound_y"])
    out["low"] = max([v for v in (out["fresh"], out["mm"]) if v is not None], key=lambda r: r["value"])
    return out


def _place_estimate(row: dict[str, Any], est: dict) -> None:
    """Combine the estimate's sides with the bracket (module notes) and record it in ``row``."""
    def val(key):
        return math.nan if est.get(key) is None else est[key]["value"]

    lo_b, up_b = row["xl_lower"], row["xl_upper"]
    low, plug = est["low"], est["plugin"]
    a = max(lo_b, low["value"])
    b = min(up_b, plug["value"])
    # the estimate must narrow the bracket (by at least pin_tol), or it only restates it
    resolved = b - a <= RESOLVE_TOL and b - a <= (up_b - lo_b) - row["pin_tol"]
    row["estimate"] = {"fresh": val("fresh"), "plugin": val("plugin"), "moment_matched": val("mm"),
                       "fresh_se": math.nan if est["fresh"] is None else est["fresh"]["se"],
                       "plugin_se": plug["se"], "low_side": a, "high_side": b, "resolved": bool(resolved),
                       **{k: plug[k] for k in ("n_trials", "n_replicas", "n_inner", "exact_mixture")}}
    if not resolved:
        row.update(i_xl=math.nan, i_xl_lo=lo_b, i_xl_hi=up_b, i_xl_se=math.nan, i_xl_method="unresolved",
                   in_bracket=None)
        row["notes"].append(f"no estimate: its two sides, {a:.4g} (fresh draws or moment-matched, at least the lower "
                            f"bound) and {b:.4g} nats (plug-in, at most the upper bound), are more than {RESOLVE_TOL} "
                            "apart or do not narrow the bracket: the replicas do not resolve the earlier noise; the "
                            "bracket is all that is known (more n_replicas may help)")
        return
    row.update(i_xl=0.5 * (a + b), i_xl_lo=min(max(lo_b, low["ci_low"]), up_b),
               i_xl_hi=max(min(up_b, plug["ci_high"]), lo_b), i_xl_se=0.5 * math.hypot(low["se"], plug["se"]),
               i_xl_method="sample-propagation")
    row["in_bracket"] = bool(lo_b - 1e-9 <= row["i_xl"] <= up_b + 1e-9)
    if low["value"] < lo_b:
        row["notes"].append(f"the low side of the estimate ({low['value']:.4g} nats) is below the lower bound "
                            f"{lo_b:.4g}; the bound is used in its place")
    if plug["value"] > up_b:
        row["notes"].append(f"the plug-in side of the estimate ({plug['value']:.4g} nats) is above the upper bound "
                            f"{up_b:.4g}; the bound is used in its place")
    if a > b:
        row["notes"].append(f"the estimate's two sides cross ({a:.4g} > {b:.4g} nats): Monte-Carlo error; i_xl is "
                            "their midpoint")


def _finish_bracket(row: dict[str, Any], pin_tol: float) -> None:
    """Fill the bracket, the winners and the pinned estimate of one layer's row from its candidates."""
    lower, upper = row["lower_bounds"], row["upper_bounds"]
    ly = {k: v for k, v in lower.items() if k.endswith("_y") and math.isfinite(v)}
    xl = {k: v for k, v in lower.items() if math.isfinite(v)}  # a bound on I(L;Y) bounds I(X;L) too
    row["ly_lower_by"], row["ly_lower_ident"] = max(ly.items(), key=lambda kv: kv[1]) if ly else ("", math.nan)
    row["xl_lower_by"], row["xl_lower"] = max(xl.items(), key=lambda kv: kv[1]) if xl else ("", math.nan)
    row["xl_upper_by"], row["xl_upper"] = min(upper.items(), key=lambda kv: kv[1])
    row["ly_upper"] = min(row["h_y"], row["xl_upper"])
    row["saturated"] = bool(row["xl_lower"] >= row["ln_n"] - SATURATION_TOL)
    if row["xl_lower"] > row["xl_upper"] + 1e-9:
        row["notes"].append(f"the lower bound {row['xl_lower']:.4f} exceeds the upper bound {row['xl_upper']:.4f} "
                            "nats: one of the statistical lower bounds failed (probability <= 1 - level), or a bug")
    if row["xl_upper"] - row["xl_lower"] <= pin_tol:
        mid = 0.5 * (row["xl_lower"] + row["xl_upper"])
        row.update(i_xl=mid, i_xl_lo=row["xl_lower"], i_xl_hi=row["xl_upper"], i_xl_se=math.nan,
                   i_xl_method="pinned", in_bracket=True)


# ---------------------------------------------------------------------------------------------------------------
# The phase gate
# ---------------------------------------------------------------------------------------------------------------
def _window_change(values: np.ndarray, early: np.ndarray, late: np.ndarray) -> np.ndarray:
    """Per seed: mean over the late window minus mean over the early window (NaNs ignored)."""
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(values[:, late], axis=1) - np.nanmean(values[:, early], axis=1)


def trend_gate(values, *, epochs=None, early=None, late=None, second_estimator=None, second_dim=None,
               factor: float = 1.0, quantity: str = "xl") -> dict[str, Any]:
    """Whether a plotted quantity's change between an early and a late window supports a phase claim.

    A change is claimed only when (1) there are at least two seeds, (2) the mean over seeds of the
    per-seed change (late-window mean minus early-window mean) exceeds ``factor`` times the seed
    spread (the standard deviation of the per-seed changes), and (3) the same change computed
    under a second estimator and under a second code dimension has the same, non-zero sign.

    Parameters
    ----------
    values : array-like of shape (n_seeds, n_epochs)
        The quantity per seed and epoch (NaN where missing), one layer.
    epochs : array-like of shape (n_epochs,) or None
        Epoch numbers of the columns (None: 1..n_epochs).
    early, late : (int, int) or None
        Inclusive epoch ranges of the windows (None: the first and the last third of the epochs).
    second_estimator, second_dim : array-like of shape (n_seeds, n_epochs) or None
        The same quantity under a second estimator and a second code dimension (None: no claim).
    factor : float, default=1.0
        How many seed spreads the change must exceed.
    quantity : {"xl", "ly"}, default="xl"
        I(X;L) ("fitting" when it rises, "compression" when it falls) or I(L;Y) ("fitting" when
        it rises; a fall has no phase name).

    Returns
    -------
    dict
        ``change`` (mean per-seed change), ``changes`` (per seed), ``spread``, ``n_seeds``,
        ``exceeds_spread``, ``signs`` ({"primary", "second_estimator", "second_dim"}: +1, -1, 0 or
        None), ``sign_agrees``, ``verdict`` ("increase", "decrease" or "no claim"), ``phase``
        ("fitting", "compression" or None), ``reasons`` (why no claim), ``early``, ``late``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] < 2:
        raise ValueError(f"The 'values' argument of trend_gate must have shape (n_seeds, n_epochs) with at least 2 "
                         f"epochs. Got shape {v.shape}.")
    if quantity not in ("xl", "ly"):
        raise ValueError(f"The 'quantity' argument of trend_gate must be 'xl' or 'ly'. Got {quantity!r}.")
    factor = check_float(factor, "factor", "trend_gate", low=0.0)
    ep = np.arange(1, v.shape[1] + 1) if epochs is None else np.asarray(epochs)
    if ep.shape != (v.shape[1],):
        raise ValueError(f"The 'epochs' argument of trend_gate must have {v.shape[1]} entries. Got {ep.shape}.")
    third = max(1, v.shape[1] // 3)
    early = (ep[0], ep[third - 1]) if early is None else tuple(early)
    late = (ep[-third], ep[-1]) if late is None else tuple(late)
    e_mask = (ep >= early[0]) & (ep <= early[1])
    l_mask = (ep >= late[0]) & (ep <= late[1])
    if not e_mask.any() or not l_mask.any():
        raise ValueError(f"The windows of trend_gate select no epoch: early={early}, late={late}, epochs "
                         f"{ep.min()}..{ep.max()}.")
    changes = _window_change(v, e_mask, l_mask)
    ok = np.isfinite(changes)
    reasons = []
    n_seeds = int(ok.sum())
    change = float(changes[ok].mean()) if n_seeds else math.nan
    spread = float(changes[ok].std(ddof=1)) if n_seeds >= 2 else math.nan
    if n_seeds < 2:
        reasons.append(f"{n_seeds} seed(s) with values in both windows: the seed spread needs at least 2")
    exceeds = bool(n_seeds >= 2 and abs(change) > factor * spread)
    if n_seeds >= 2 and not exceeds:
        reasons.append(f"the change {change:+.4g} does not exceed {factor:g} x the seed spread {spread:.4g}")

    def sign_of(arr) -> int | None:
        if arr is None:
            return None
        a = np.asarray(arr, dtype=np.float64)
        if a.shape != v.shape:
            raise ValueError(f"trend_gate needs the second tables in the shape of 'values' {v.shape}. Got {a.shape}.")
        c = _window_change(a, e_mask, l_mask)
        c = c[np.isfinite(c)]
        return int(np.sign(c.mean())) if c.size else 0

    primary = int(np.sign(change)) if math.isfinite(change) else 0
    signs = {"primary": primary, "second_estimator": sign_of(second_estimator), "second_dim": sign_of(second_dim)}
    for name in ("second_estimator", "second_dim"):
        if signs[name] is None:
            reasons.append(f"no {name.replace('_', ' ')} to check the sign against")
        elif signs[name] != primary or primary == 0:
            reasons.append(f"the sign under the {name.replace('_', ' ')} ({signs[name]:+d}) differs from the "
                           f"primary one ({primary:+d})")
    agrees = primary != 0 and all(signs[k] == primary for k in ("second_estimator", "second_dim"))
    claim = exceeds and agrees
    verdict = ("increase" if change > 0 else "decrease") if claim else "no claim"
    phase = None
    if verdict == "increase":
        phase = "fitting"
    elif verdict == "decrease" and quantity == "xl":
        phase = "compression"
    return {"change": change, "changes": [float(c) for c in changes], "spread": spread, "n_seeds": n_seeds,
            "exceeds_spread": exceeds, "signs": signs, "sign_agrees": bool(agrees), "verdict": verdict,
            "phase": phase, "reasons": reasons, "early": tuple(float(e) for e in early),
            "late": tuple(float(e) for e in late)}
