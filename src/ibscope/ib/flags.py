"""Sanity flags of information-plane rows: what an estimate must respect, checked per row.

Sanity flags (recorded with each row, ``;``-separated in the ``flags`` column)
---------------------------------------------------------------------------------
``ly_above_hy``
    I(L;Y) exceeds H(Y), its hard ceiling, beyond its CI (the lower CI bound of
    the raw estimate is above H(Y) of the probe labels).
``below_bound``
    I(L;Y) is below the bound that the network's own prediction implies on the
    probe set (:mod:`ibscope.ib.bounds`), beyond its CI: the upper CI bound of
    the raw estimate is below the row's ``bound``. By the data-processing
    inequality every layer's true I(L;Y) is at least that bound.
``xl_negative`` / ``ly_negative``
    The raw (unclipped) estimate is negative; the reported value is clipped at 0.
``dpi_xl`` / ``dpi_ly``
    Data-processing inequality violated beyond the CIs between this layer and
    the previous one: the noisy network is a Markov chain X -> L1 -> L2 -> ...,
    so I(X;L_{i+1}) <= I(X;L_i) and I(L_{i+1};Y) <= I(L_i;Y). The flag is set
    when this layer's lower CI bound exceeds the previous layer's upper bound.
    Because each layer is compressed separately, the compressed codes need not
    form a Markov chain, so a flag is a warning sign, not a proof of a bug.
``nonfinite``
    An estimate was NaN or infinite.

Raw values are always kept (``i_xl_raw``, ``i_ly_raw``) next to the clipped
values (``i_xl``, ``i_ly``); nothing is hidden.
"""

from __future__ import annotations

import math

from ..runs.ibrun import count_flags
from ..runs.schema import number_or_nan as _num

__all__ = ["FLAG_NAMES", "flag_rows", "count_flags"]

#: Sanity flags that may appear in the ``flags`` column.
FLAG_NAMES = ("ly_above_hy", "below_bound", "xl_negative", "ly_negative", "dpi_xl", "dpi_ly", "nonfinite")


def _bounds(row: dict, key: str) -> tuple[float, float]:
    """(low, high) of the raw estimate's CI, or the raw value twice when there is no CI."""
    raw = _num(row.get(f"{key}_raw", row.get(key)))
    lo, hi = _num(row.get(f"{key}_lo")), _num(row.get(f"{key}_hi"))
    if not math.isfinite(lo) or not math.isfinite(hi):
        return raw, raw
    return lo, hi


def flag_rows(rows: list[dict], h_y: float | None = None) -> list[dict]:
    """Set the ``flags`` field of every row (see the module notes for the flag names).

    Parameters
    ----------
    rows : list of dict
        Rows of one epoch, in layer order (input side first), each with
        ``i_xl_raw``, ``i_xl_lo``, ``i_xl_hi``, ``i_ly_raw``, ``i_ly_lo``,
        ``i_ly_hi`` (CI bounds may be None or NaN) and, unless ``h_y`` is given,
        ``h_y``. All in the same units.
    h_y : float or None
        Entropy of the labels H(Y), the ceiling of I(L;Y), in the rows' units.

    Returns
    -------
    list of dict
        The same rows (modified in place), ``flags`` a ``;``-separated string
        (empty when the row is clean).
    """
    prev = None
    for row in rows:
        flags = []
        hy = _num(row.get("h_y")) if h_y is None else float(h_y)
        xl_raw, ly_raw = _num(row.get("i_xl_raw", row.get("i_xl"))), _num(row.get("i_ly_raw", row.get("i_ly")))
        xl_lo, xl_hi = _bounds(row, "i_xl")
        ly_lo, ly_hi = _bounds(row, "i_ly")
        if math.isfinite(hy) and math.isfinite(ly_lo) and ly_lo > hy:
            flags.append("ly_above_hy")
        bound = _num(row.get("bound"))
        if math.isfinite(bound) and math.isfinite(ly_hi) and ly_hi < bound:
            flags.append("below_bound")
        if xl_raw < 0:
            flags.append("xl_negative")
        if ly_raw < 0:
            flags.append("ly_negative")
        if prev is not None:
            p_xl_lo, p_xl_hi = _bounds(prev, "i_xl")
            p_ly_lo, p_ly_hi = _bounds(prev, "i_ly")
            if math.isfinite(xl_lo) and math.isfinite(p_xl_hi) and xl_lo > p_xl_hi:
                flags.append("dpi_xl")
            if math.isfinite(ly_lo) and math.isfinite(p_ly_hi) and ly_lo > p_ly_hi:
                flags.append("dpi_ly")
        if not (math.isfinite(xl_raw) and math.isfinite(ly_raw)):
            flags.append("nonfinite")
        row["flags"] = ";".join(flags)
        prev = row
    return rows
