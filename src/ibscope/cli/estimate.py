"""``ibscope estimate``: estimate I(X;Y) between the rows of two files.

Examples
--------
.. code-block:: bash

    ibscope estimate x.npy y.npy --estimator ksg --k 5 --units bits --ci 0.95 --seed 0
    ibscope estimate feats.csv labels.csv --y-discrete --json
    ibscope estimate both.npz both.npz --x-key x --y-key y

Files are .npy, .npz (choose the array with ``--x-key``/``--y-key``) or
.csv/.tsv/.txt (a header line is skipped). The result is printed as a short
summary, or in full as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json

from .. import mutual_information
from ._io import read_array

__all__ = ["register", "run"]


def _estimator_help() -> str:
    """The --estimator help, from the registry (so the names and defaults cannot drift from the library's)."""
    from ..estimators import registry

    def part(kind: str, when: str) -> str:
        return f"{when}{', '.join(registry.names(kind))} (default: {registry.DEFAULTS[kind]})"

    return "; ".join([part("continuous", ""), part("labels", "with --y-discrete: "),
                      part("discrete", "with --x-discrete --y-discrete: ")])


def register(sub) -> None:
    """Add the ``estimate`` subcommand to the ``ibscope`` argument parser's subparsers."""
    est = sub.add_parser("estimate", help="estimate I(X;Y) from two files",
                         description="Estimate I(X;Y) between the rows of two files (.npy, .npz, .csv).")
    est.add_argument("x", help="file with X (n rows)")
    est.add_argument("y", help="file with Y (n rows), or labels with --y-discrete")
    est.add_argument("--estimator", default=None, help=_estimator_help())
    est.add_argument("--k", type=int, default=5, help="number of neighbours (default 5)")
    est.add_argument("--units", default="nats", choices=["nats", "bits"])
    est.add_argument("--ci", type=float, default=None, help="confidence level, e.g. 0.95")
    est.add_argument("--seed", type=int, default=None, help="random seed (default: drawn and reported)")
    est.add_argument("--y-discrete", action="store_true", help="Y holds class labels")
    est.add_argument("--x-discrete", action="store_true", help="X holds class labels too (plug-in MI)")
    est.add_argument("--variant", type=int, default=None, help="KSG variant 1 or 2")
    est.add_argument("--preprocess", default=None, choices=["standardize", "rank", "none"])
    est.add_argument("--device", default=None, help="cpu or cuda")
    est.add_argument("--x-key", default=None, help="array name inside an .npz for X")
    est.add_argument("--y-key", default=None, help="array name inside an .npz for Y")
    est.add_argument("--index-col", default="auto", choices=["auto", "none"],
                     help="CSV files: drop an unnamed 0..n-1 first column, as pandas' to_csv writes (auto, default), "
                          "or keep every column (none)")
    est.add_argument("--json", action="store_true", help="print the full result as JSON")
    est.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ibscope estimate``: read both files, call :func:`ibscope.mutual_information`, print the result."""
    x = read_array(args.x, args.x_key, numeric=not args.x_discrete, index_col=args.index_col)
    y = read_array(args.y, args.y_key, numeric=not (args.y_discrete or args.x_discrete), index_col=args.index_col)
    params = {}
    if args.variant is not None:
        params["variant"] = args.variant
    if args.preprocess is not None:
        params["preprocess"] = None if args.preprocess == "none" else args.preprocess
    if y.ndim == 2 and y.shape[1] == 1 and args.y_discrete:
        y = y[:, 0]
    result = mutual_information(
        x, y, estimator=args.estimator, k=args.k, units=args.units, ci=args.ci, random_state=args.seed,
        y_discrete=args.y_discrete, x_discrete=args.x_discrete, device=args.device, **params,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(_human(result))
    return 0


def _human(r) -> str:
    """A few lines for people: value, interval, estimator settings, sizes, warnings."""
    lines = [f"I(X;Y) = {r.value:.4f} {r.units}  (raw {r.raw_value:.4f})"]
    if r.ci_low is not None:
        lines.append(f"{100 * r.ci_level:.0f}% CI: [{r.ci_low:.4f}, {r.ci_high:.4f}]  (std. error {r.std_err:.4f})")
    p = r.params
    detail = ", ".join(f"{k}={p[k]}" for k in ("k", "variant", "preprocess") if k in p)
    lines.append(f"estimator: {r.estimator}" + (f" ({detail})" if detail else ""))
    lines.append(f"samples: {r.n_samples}, dims: {r.dim_x} + {r.dim_y}, seed: {r.seed}, time: {r.time_s:.2f} s")
    for w in r.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)
