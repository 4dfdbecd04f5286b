"""Sanity flags of information-plane rows: what an estimate must respect, checked per row.

Sanity flags (recorded with each row, ``;``-separated in the ``flags`` column)
---------------------------------------------------------------------------------
``xl_outside``
    The estimate of I(X;L) lies outside its own bracket [``xl_lower``, ``xl_upper``].
``code_above_bracket``
    The code MI (``i_xl_code``, the paper's compressed estimate) exceeds the upper bound on I(X;L)
    (``xl_upper``, or ln N without brackets). The true MI of the codes is at most
    I(X;L), so such a value is the estimator's bias on the codes.
``xl_below_ly`` / ``code_below_ly``
    I(X;L) (the estimate, or without one the lower bound) or the code MI is below I(L;Y) beyond
    both CIs. Y is a function of X, so I(X;L) >= I(L;Y); for the code MI the order is the one its
    plane would show.
``ly_above_hy``
    I(L;Y) exceeds H(Y), its hard ceiling, beyond its CI.
``ly_above_bracket``
    I(L;Y) exceeds ``ly_upper`` (= min(H(Y), xl_upper)) beyond its CI.
``below_bound``
    I(L;Y) is below the bound that the network's own prediction implies on the
    probe set (:mod:`ibscope.plane.bounds`), beyond its CI. With ``label_side="decoder"``
    I(L;Y) is the layer's own decoder bound, which can fall below the head's: the flag
    then says that the layer's linear probe reads less than the network does.
``saturated``
    The lower bound on I(X;L) is within 0.1 nats of ln N: every probe is identified from the
    layer, the bracket leaves no room for dynamics, and the plane cannot show any for this layer.
``xl_negative`` / ``ly_negative``
    The raw (unclipped) estimate is negative; the reported value is clipped at 0.
``dpi_xl`` / ``dpi_code`` / ``dpi_ly``
    Data-processing inequality violated beyond the CIs between this layer and the previous one
    (I(X;L) estimate, code MI, I(L;Y)): the noisy network is a Markov chain X -> L1 -> L2 -> ...,
    so I(X;L_{i+1}) <= I(X;L_i) and I(L_{i+1};Y) <= I(L_i;Y). Each layer's code is compressed
    separately and need not form a Markov chain, so ``dpi_code`` is a warning sign, not a proof of
    a bug.
``nonfinite``
    An estimate was NaN or infinite.

Two kinds: ``xl_outside``, ``xl_below_ly``, ``ly_above_hy``, ``ly_above_bracket``, ``dpi_xl`` and
``nonfinite`` (:data:`CONTRADICTIONS`) say that a reported value contradicts what is proven; the others
are notes on values that may legitimately look so (the code MI is not I(X;L); a linear probe may read less
than the network's head, and the usable information of one decoder family need not respect data
processing; a negative raw estimate was clipped; a bracket is pinned at ln N). :func:`flag_summary`
writes a run's flags in that order.

Raw values are always kept (``i_xl_raw``, ``i_xl_code_raw``, ``i_ly_raw``) next to the clipped
values; nothing is hidden.
"""

from __future__ import annotations

import math

from ..runs.ibrun import count_flags
from ..runs.schema import number_or_nan as _num

__all__ = ["FLAG_NAMES", "CONTRADICTIONS", "flag_rows", "count_flags", "flag_summary", "SATURATION_TOL"]

#: Sanity flags that may appear in the ``flags`` column.
FLAG_NAMES = ("xl_outside", "code_above_bracket", "xl_below_ly", "code_below_ly", "ly_above_hy", "ly_above_bracket",
              "below_bound", "saturated", "xl_negative", "ly_negative", "dpi_xl", "dpi_code", "dpi_ly", "nonfinite")

#: Flags that say a reported value contradicts what is proven (a bound, an ordering, finiteness); the other
#: flags are notes on values that may legitimately look so (the code MI is not I(X;L), a linear probe may read
#: less than the head and need not respect data processing, a raw estimate below 0 was clipped, a bracket pinned).
CONTRADICTIONS = ("xl_outside", "xl_below_ly", "ly_above_hy", "ly_above_bracket", "dpi_xl", "nonfinite")

#: A lower bound within this many nats of ln N marks a row ``saturated``.
SATURATION_TOL = 0.1


def _interval(row: dict, key: str) -> tuple[float, float]:
    """(low, high) of the raw estimate's CI, or the raw value twice when there is no CI."""
    raw = _num(row.get(f"{key}_raw", row.get(key)))
    lo, hi = _num(row.get(f"{key}_lo")), _num(row.get(f"{key}_hi"))
    if not math.isfinite(lo) or not math.isfinite(hi):
        return raw, raw
    return lo, hi


def _above(lo: float, ceiling: float) -> bool:
    return math.isfinite(lo) and math.isfinite(ceiling) and lo > ceiling


def flag_rows(rows: list[dict], h_y: float | None = None, *, ln_n: float | None = None) -> list[dict]:
    """Set the ``flags`` field of every row (see the module notes for the flag names).

    Parameters
    ----------
    rows : list of dict
        Rows of one epoch, in layer order (input side first), with the ``info.csv`` columns
        (CI bounds and brackets may be None or NaN). All in the same units.
    h_y : float or None
        Entropy of the labels H(Y), the ceiling of I(L;Y), in the rows' units (None: each row's ``h_y``).
    ln_n : float or None
        ln of the number of probes, in the rows' units: the ceiling of I(X;L) where a row has no
        ``xl_upper``.

    Returns
    -------
    list of dict
        The same rows (modified in place), ``flags`` a ``;``-separated string (empty when clean).
    """
    prev = None
    for row in rows:
        flags = []
        hy = _num(row.get("h_y")) if h_y is None else float(h_y)
        xl_raw, ly_raw = _num(row.get("i_xl_raw")), _num(row.get("i_ly_raw", row.get("i_ly")))
        code_raw = _num(row.get("i_xl_code_raw", row.get("i_xl_code")))
        xl_lo, xl_hi = _interval(row, "i_xl")
        code_lo, code_hi = _interval(row, "i_xl_code")
        ly_lo, ly_hi = _interval(row, "i_ly")
        lower, upper = _num(row.get("xl_lower")), _num(row.get("xl_upper"))
        ceiling = upper if math.isfinite(upper) else (float(ln_n) if ln_n is not None else math.nan)
        if math.isfinite(xl_raw) and ((math.isfinite(lower) and xl_raw < lower - 1e-9)
                                      or (math.isfinite(upper) and xl_raw > upper + 1e-9)):
            flags.append("xl_outside")
        if _above(code_raw, ceiling):  # any value above what X;L can carry, whatever its interval
            flags.append("code_above_bracket")
        x_high = xl_hi if math.isfinite(xl_raw) else upper  # without an estimate, all that is known: the bracket
        if math.isfinite(x_high) and math.isfinite(ly_lo) and x_high < ly_lo:
            flags.append("xl_below_ly")
        if math.isfinite(code_hi) and math.isfinite(ly_lo) and code_hi < ly_lo:
            flags.append("code_below_ly")
        if _above(ly_lo, hy):
            flags.append("ly_above_hy")
        if _above(ly_lo, _num(row.get("ly_upper"))) and "ly_above_hy" not in flags:
            flags.append("ly_above_bracket")
        bound = _num(row.get("bound"))
        if math.isfinite(bound) and math.isfinite(ly_hi) and ly_hi < bound:
            flags.append("below_bound")
        if math.isfinite(lower) and ln_n is not None and lower >= float(ln_n) - SATURATION_TOL:
            flags.append("saturated")
        if xl_raw < 0 or code_raw < 0:
            flags.append("xl_negative")
        if ly_raw < 0:
            flags.append("ly_negative")
        if prev is not None:
            for key, flag in (("i_xl", "dpi_xl"), ("i_xl_code", "dpi_code"), ("i_ly", "dpi_ly")):
                lo, _ = _interval(row, key)
                _, p_hi = _interval(prev, key)
                if math.isfinite(lo) and math.isfinite(p_hi) and lo > p_hi:
                    flags.append(flag)
        if not (math.isfinite(code_raw) or math.isfinite(xl_raw)) or not math.isfinite(ly_raw):
            flags.append("nonfinite")
        row["flags"] = ";".join(flags)
        prev = row
    return rows


def flag_summary(counts: dict) -> str:
    """One line on a run's flags (``{flag: rows}``): the values that contradict a bound first, then the notes."""
    bad = {k: v for k, v in sorted(counts.items()) if k in CONTRADICTIONS}
    notes = {k: v for k, v in sorted(counts.items()) if k not in CONTRADICTIONS}
    line = ("sanity flags: no value contradicts a bound" if not bad else
            "sanity flags: values that contradict a bound: " + ", ".join(f"{k}: {v} rows" for k, v in bad.items()))
    if notes:
        line += "; notes: " + ", ".join(f"{k}: {v}" for k, v in notes.items()) + " (see ibscope.plane.flags)"
    return line
