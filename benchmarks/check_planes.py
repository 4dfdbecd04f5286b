"""Check the rows of IB run folders against what can be proven, independently of the run's own flags.

For every row of ``info.csv`` (X uniform on the N probes, Y its label, a function of X):

* **outside its bracket**: the I(X;L) estimate, or its interval, outside [``xl_lower``, ``xl_upper``];
  the I(L;Y) value, or its interval, above ``ly_upper``;
* **order**: I(X;L) < I(L;Y) beyond the intervals, for the plotted x-axis (the lower bound, or the
  estimate where there is one) and for the code MI;
* **ceilings**: any I(X;L) value (bounds, estimate, code MI) above ln N, any I(L;Y) value above H(Y).

A violation is *unflagged* when the row's ``flags`` column carries none of the flags the run uses
for it (``xl_outside``, ``ly_above_bracket``, ``xl_below_ly``, ``code_below_ly``,
``code_above_bracket``, ``ly_above_hy``). The checks are written here from the definitions, not
imported from :mod:`ibscope.plane.flags`, so that they can find the run's own mistakes. A tolerance of
``--tol`` nats (default 1e-9) absorbs rounding.

Usage::

    python benchmarks/check_planes.py runs/digits runs/mnist10        # run folders
    python benchmarks/check_planes.py runs/digits-study                # a study: every run in it

Exit status 1 when any violation is unflagged.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


def _runs(paths: list[str]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if (p / "info.csv").is_file():
            out.append(p)
        else:
            out.extend(sorted(q.parent for q in p.rglob("info.csv")))
    return out


def _v(row, key) -> float:
    try:
        x = float(row.get(key))
    except (TypeError, ValueError):
        return math.nan
    return x


def _lo_hi(row, key) -> tuple[float, float]:
    raw = _v(row, f"{key}_raw")
    raw = _v(row, key) if math.isnan(raw) else raw
    lo, hi = _v(row, f"{key}_lo"), _v(row, f"{key}_hi")
    return (raw if math.isnan(lo) else lo), (raw if math.isnan(hi) else hi)


def check_row(row, ln_n: float, tol: float) -> dict[str, tuple[bool, bool]]:
    """Per check: (violated, flagged)."""
    flags = set(str(row.get("flags") or "").replace("nan", "").split(";")) - {""}
    out: dict[str, tuple[bool, bool]] = {}
    lower, upper = _v(row, "xl_lower"), _v(row, "xl_upper")
    est, (est_lo, est_hi) = _v(row, "i_xl_raw"), _lo_hi(row, "i_xl")
    outside = False
    if math.isfinite(est):
        if math.isfinite(lower) and max(est, est_hi) < lower - tol:
            outside = True
        if math.isfinite(upper) and min(est, est_lo) > upper + tol:
            outside = True
    out["I(X;L) estimate outside its bracket"] = (outside, "xl_outside" in flags)
    ly_lo, _ = _lo_hi(row, "i_ly")
    ly_up = _v(row, "ly_upper")
    out["I(L;Y) above its bracket"] = (math.isfinite(ly_up) and math.isfinite(ly_lo) and ly_lo > ly_up + tol,
                                       bool({"ly_above_bracket", "ly_above_hy"} & flags))
    x_plot = est if math.isfinite(est) else lower
    x_hi = est_hi if math.isfinite(est) else lower
    out["I(X;L) < I(L;Y) (plotted values)"] = (
        math.isfinite(x_plot) and math.isfinite(ly_lo) and x_hi < ly_lo - tol, "xl_below_ly" in flags)
    code, (code_lo, code_hi) = _v(row, "i_xl_code_raw"), _lo_hi(row, "i_xl_code")
    out["code MI < I(L;Y)"] = (math.isfinite(code) and math.isfinite(ly_lo) and code_hi < ly_lo - tol,
                               "code_below_ly" in flags)
    above_ln_n = [v for v in (lower, est, est_lo, _v(row, "i_xl")) if math.isfinite(v) and v > ln_n + tol]
    out["I(X;L) value above ln N"] = (bool(above_ln_n), "xl_outside" in flags)
    out["code MI above ln N"] = (math.isfinite(code_lo) and code_lo > ln_n + tol,
                                 "code_above_bracket" in flags)
    h_y = _v(row, "h_y")
    out["I(L;Y) above H(Y)"] = (math.isfinite(h_y) and math.isfinite(ly_lo) and ly_lo > h_y + tol,
                                bool({"ly_above_hy", "ly_above_bracket"} & flags))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", help="run folders, or folders holding run folders (studies)")
    ap.add_argument("--tol", type=float, default=1e-9, help="rounding tolerance in the run's units")
    args = ap.parse_args(argv)

    from ibscope.ib import load_run

    runs = _runs(args.folders)
    if not runs:
        print("no run folder (a folder with info.csv) found", file=sys.stderr)
        return 2
    total: dict[str, list[int]] = {}
    n_rows = 0
    for folder in runs:
        data = load_run(folder)
        info = data.info
        factor = 1.0 / math.log(2) if str(info["units"].iloc[0]) == "bits" else 1.0
        ln_n = math.log(float(info["n"].iloc[0])) * factor
        for _, row in info.iterrows():
            n_rows += 1
            for name, (bad, flagged) in check_row(row.to_dict(), ln_n, args.tol).items():
                cell = total.setdefault(name, [0, 0])
                cell[0] += bad
                cell[1] += bad and not flagged
    print(f"{len(runs)} run folder(s), {n_rows} rows")
    print()
    print("| check | violations | unflagged |")
    print("|---|---:|---:|")
    for name, (bad, unflagged) in total.items():
        print(f"| {name} | {bad} | {unflagged} |")
    return 1 if any(u for _, u in total.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
