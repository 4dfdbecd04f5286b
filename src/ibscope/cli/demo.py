"""``ibscope demo``: KSG on Gaussians of known MI, estimate vs truth, in about a minute.

Examples
--------
.. code-block:: bash

    ibscope demo --out ibscope-demo
    ibscope demo --out /tmp/demo --n 500 --seed 1 --quiet

Writes ``OUT/results.csv`` and ``OUT/estimate_vs_truth.png`` and prints a
table of true MI, estimate and 95% interval (see :func:`ibscope.demo.run_demo`).
"""

from __future__ import annotations

import argparse

from ..demo import run_demo

__all__ = ["register", "run"]


def register(sub) -> None:
    """Add the ``demo`` subcommand to the ``ibscope`` argument parser's subparsers."""
    demo = sub.add_parser("demo", help="estimate MI on known-MI data and plot estimate vs truth")
    demo.add_argument("--out", default="ibscope-demo", help="output folder (default ibscope-demo)")
    demo.add_argument("--n", type=int, default=5000, help="samples per point (default 5000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ibscope demo`` through :func:`ibscope.demo.run_demo`."""
    run_demo(out=args.out, n=args.n, seed=args.seed, progress=not args.quiet)
    return 0
