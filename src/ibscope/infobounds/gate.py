"""The trend gate: when a change of a plotted quantity supports a phase claim."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import check_float


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

