"""Command-line interface: ``ibscope estimate | demo | ...``.

Examples
--------
.. code-block:: bash

    ibscope estimate x.npy y.npy --estimator ksg --k 5 --units bits --ci 0.95 --seed 0
    ibscope estimate feats.csv labels.csv --y-discrete --json
    ibscope demo --out ibscope-demo

Every subcommand is a thin layer over the public API. Bad input or unreadable
files end with a one-line ``ibscope: error: ...`` message and exit code 2
(set ``IBSCOPE_DEBUG=1`` to see the full traceback instead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

EXIT_BAD_INPUT = 2


class CLIError(Exception):
    """An error shown to the user as one line, without a traceback."""


# --------------------------------------------------------------------------- file reading
def read_array(path: str, key: str | None = None) -> np.ndarray:
    """Read an array from .npy, .npz (``key`` or the only/first array) or .csv/.tsv/.txt."""
    p = Path(path)
    if not p.exists():
        raise CLIError(f"file not found: {path}")
    if p.is_dir():
        raise CLIError(f"expected a file, got a directory: {path}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as data:
                names = list(data.keys())
                if not names:
                    raise CLIError(f"{path} holds no arrays")
                if key is None:
                    if len(names) > 1:
                        raise CLIError(f"{path} holds several arrays ({', '.join(names)}); choose one with --x-key/--y-key")
                    key = names[0]
                if key not in names:
                    raise CLIError(f"{path} has no array {key!r}; it holds {', '.join(names)}")
                return data[key]
        if suffix in (".csv", ".tsv", ".txt"):
            return _read_text(p)
    except CLIError:
        raise
    except Exception as exc:
        raise CLIError(f"cannot read {path}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    raise CLIError(f"unsupported file type {suffix or '(none)'} for {path}; use .npy, .npz or .csv")


def _read_text(p: Path) -> np.ndarray:
    import pandas as pd

    sep = "\t" if p.suffix.lower() == ".tsv" else None
    with open(p, "r", encoding="utf-8", errors="strict") as fh:
        first = fh.readline()
    if not first.strip():
        raise CLIError(f"{p} is empty")
    delim = sep or ("," if "," in first else ("\t" if "\t" in first else r"\s+"))
    tokens = [t for t in (first.split(delim) if delim != r"\s+" else first.split()) if t.strip()]

    def numeric(tok):
        try:
            float(tok)
            return True
        except ValueError:
            return False

    header = 0 if tokens and not all(numeric(t) for t in tokens) else None
    frame = pd.read_csv(p, sep=delim, header=header, engine="python")
    return frame.to_numpy()


# --------------------------------------------------------------------------- subcommands
def _cmd_estimate(args) -> int:
    from . import mutual_information

    x = read_array(args.x, args.x_key)
    y = read_array(args.y, args.y_key)
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


def _cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(out=args.out, n=args.n, seed=args.seed, progress=not args.quiet)
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ibscope", description="Mutual information and information-bottleneck analysis.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    est = sub.add_parser("estimate", help="estimate I(X;Y) from two files",
                         description="Estimate I(X;Y) between the rows of two files (.npy, .npz, .csv).")
    est.add_argument("x", help="file with X (n rows)")
    est.add_argument("y", help="file with Y (n rows), or labels with --y-discrete")
    est.add_argument("--estimator", default=None,
                     help="ksg, ksg2, kl, wkl, kde, gaussian, mine, nwj, infonce (default: ksg; wkl with --y-discrete)")
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
    est.add_argument("--json", action="store_true", help="print the full result as JSON")
    est.set_defaults(func=_cmd_estimate)

    demo = sub.add_parser("demo", help="estimate MI on known-MI data and plot estimate vs truth")
    demo.add_argument("--out", default="ibscope-demo", help="output folder (default ibscope-demo)")
    demo.add_argument("--n", type=int, default=5000, help="samples per point (default 5000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=_cmd_demo)

    _register_optional(sub)
    return parser


def _register_optional(sub) -> None:
    """Subcommands defined in other modules register themselves here when present."""
    for module_name in ("ibscope.cli_bench", "ibscope.cli_ib", "ibscope.cli_plot"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ImportError:
            continue
        module.register(sub)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, TypeError, FileNotFoundError, PermissionError, OSError) as exc:
        if os.environ.get("IBSCOPE_DEBUG"):
            raise
        message = str(exc).replace("\n", " ")
        print(f"ibscope: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("ibscope: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
