"""The variational bounds on I(X; Y), computed from a batch's ``B x B`` score matrix.

``S[i, j] = T(x_i, y_j)``: the diagonal holds samples of the joint P, the
``B (B - 1)`` off-diagonal entries samples of the product of marginals Q.
Each bound has a differentiable batch value (the training objective), per-row
terms for held-out evaluation, and a pooled estimate with a standard error.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _offdiag_mask(s: torch.Tensor) -> torch.Tensor:
    return torch.eye(s.shape[0], dtype=torch.bool, device=s.device)


def mean_pooled(terms: np.ndarray) -> tuple[float, float]:
    """Mean of the per-row terms (first column) and its standard error, in nats."""
    r = terms[:, 0]
    se = r.std(ddof=1) / math.sqrt(len(r)) if len(r) > 1 else float("nan")
    return float(r.mean()), float(se)


# ------------------------------------------------------------------ Donsker-Varadhan (MINE)
def log_mean_exp_offdiag(s: torch.Tensor) -> torch.Tensor:
    """``log mean_(i != j) exp S[i, j]``."""
    b = s.shape[0]
    return torch.logsumexp(s.masked_fill(_offdiag_mask(s), -math.inf).reshape(-1), dim=0) - math.log(b * (b - 1))


def dv_value(s: torch.Tensor) -> torch.Tensor:
    """``E_P[T] - log E_Q[exp T]``."""
    return s.diagonal().mean() - log_mean_exp_offdiag(s)


def dv_loss(s: torch.Tensor, state: dict, ema_rate: float) -> torch.Tensor:
    """MINE's training loss: the DV gradient with ``grad E_Q[e^T]`` divided by a moving
    average of ``E_Q[e^T]`` (kept in log space in ``state["log_ema"]``, rate ``ema_rate``)."""
    lme = log_mean_exp_offdiag(s)
    alpha = float(ema_rate)
    cur = lme.detach()
    if "log_ema" not in state or alpha >= 1.0:
        state["log_ema"] = cur
    else:
        state["log_ema"] = torch.logaddexp(state["log_ema"] + math.log1p(-alpha), cur + math.log(alpha))
    # gradient: grad E_P[T] - grad E_Q[e^T] / EMA(E_Q[e^T])
    return -(s.diagonal().mean() - torch.exp(lme - state["log_ema"]))


def dv_terms(s: torch.Tensor) -> torch.Tensor:
    """Per row: ``a_i = T(x_i, y_i)`` and ``log b_i = log mean_(j != i) exp T(x_i, y_j)``, shape (B, 2)."""
    b = s.shape[0]
    log_b = torch.logsumexp(s.masked_fill(_offdiag_mask(s), -math.inf), dim=1) - math.log(b - 1)
    return torch.stack([s.diagonal(), log_b], dim=1)


def dv_pooled(terms: np.ndarray) -> tuple[float, float]:
    """``mean(a) - log mean(b)`` with its delta-method standard error."""
    a, log_b = terms[:, 0], terms[:, 1]
    n = len(a)
    shift = log_b.max()
    c = np.exp(log_b - shift)  # b_i up to a common factor; the delta method is scale-free
    mc = c.mean()
    est = float(a.mean() - (np.log(mc) + shift))
    if n < 2:
        return est, float("nan")
    cov = np.cov(np.stack([a, c]), ddof=1)
    var = (cov[0, 0] + cov[1, 1] / mc**2 - 2.0 * cov[0, 1] / mc) / n
    return est, float(math.sqrt(max(var, 0.0)))


# ------------------------------------------------------------------ NWJ
def nwj_value(s: torch.Tensor) -> torch.Tensor:
    """``E_P[T] - E_Q[exp(T - 1)]``."""
    b = s.shape[0]
    marg = torch.exp(s - 1.0).masked_fill(_offdiag_mask(s), 0.0).sum() / (b * (b - 1))
    return s.diagonal().mean() - marg


def nwj_terms(s: torch.Tensor) -> torch.Tensor:
    """Per row: ``T(x_i, y_i) - mean_(j != i) exp(T(x_i, y_j) - 1)``, shape (B, 1)."""
    b = s.shape[0]
    marg = torch.exp(s - 1.0).masked_fill(_offdiag_mask(s), 0.0).sum(dim=1) / (b - 1)
    return (s.diagonal() - marg)[:, None]


# ------------------------------------------------------------------ InfoNCE
def infonce_terms(s: torch.Tensor) -> torch.Tensor:
    """Per row: ``T(x_i, y_i) - logsumexp_j T(x_i, y_j) + log B``, shape (B, 1)."""
    b = s.shape[0]
    return (s.diagonal() - torch.logsumexp(s, dim=1) + math.log(b))[:, None]


def infonce_value(s: torch.Tensor) -> torch.Tensor:
    """Mean of :func:`infonce_terms` (at most ``log B``)."""
    return infonce_terms(s)[:, 0].mean()
