"""The estimate of I(X;T) from sample propagation, placed in its bracket (two sides that err in opposite
directions; a number only where they agree and narrow the bracket)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._common import _N_LOWER, SATURATION_TOL, _torch
from .mixtures import sample_propagation

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
    # crossing sides (Monte-Carlo error) can put the midpoint outside the sides' limits: the interval keeps it
    row["i_xl_lo"], row["i_xl_hi"] = min(row["i_xl_lo"], row["i_xl"]), max(row["i_xl_hi"], row["i_xl"])
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
