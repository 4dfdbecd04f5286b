"""``ibscope bench``: known-MI benchmark sweeps (presets or a custom grid), resumable and parallel.

Examples
--------
.. code-block:: bash

    # the paper's synthetic-image benchmark, reduced to ~20 minutes on 2 cores
    ibscope bench paper-reduced --out runs/paper-reduced
    # the same command again resumes: finished jobs are skipped
    ibscope bench paper-reduced --out runs/paper-reduced
    # the full paper grid on a Ray cluster, or on a Dask scheduler
    ibscope bench paper --out runs/paper --executor ray --address auto
    ibscope bench paper --out runs/paper --executor dask --address tcp://scheduler:8786
    # a custom grid
    ibscope bench custom --task bump-16 --mi 0:5:11 --estimator ksg --compress conv-ae:2 \\
        --n 5000 --seeds 0,1 --out runs/bump-ksg
    # list the presets
    ibscope bench list

Results go to ``OUT/results.csv`` (one row per job), the configuration to
``OUT/sweep.json``, fitted compressors to ``OUT/models/`` and figures
(estimate vs true MI) to ``OUT/figures/``.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..plots import plot_sweep
from ..sweep import PRESETS, accuracy_table, check_run_dir, custom_config, get_preset, list_presets, run_sweep
from ._common import EXIT_FAILED

__all__ = ["register", "run"]

_PRESET_HELP = "paper, paper-reduced, smoke, custom (with --task/--mi/--estimator ...) or list"


def _int_list(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{name} must be an integer or a comma-separated list of integers (e.g. 0,1,2). "
                         f"Got {text!r}.") from None
    if not values:
        raise ValueError(f"--{name} is empty. Got {text!r}.")
    return values


def _value(text: str):
    """Parse a --param value: JSON when possible (numbers, lists, true/false), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _params(items) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param must look like NAME=VALUE (e.g. k=3). Got {item!r}.")
        out[key.strip()] = _value(value.strip())
    return out


def _config_from_args(args):
    """The sweep configuration that ``args`` describe: a preset, or a custom grid from the options."""
    if args.preset == "custom":
        missing = [flag for flag, v in (("--task", args.task), ("--mi", args.mi), ("--estimator", args.estimator))
                   if not v]
        if missing:
            raise ValueError(f"'ibscope bench custom' needs {', '.join(missing)} "
                             "(e.g. --task bump-16 --mi 0:5:11 --estimator ksg).")
        compress = [c for c in (args.compress or "none").split(",") if c.strip()]
        comp_opts = {}
        if args.n_train is not None:
            comp_opts["n_train"] = args.n_train
        ae = {}
        if args.ae_epochs is not None:
            ae["epochs"] = args.ae_epochs
        if ae:
            comp_opts["params"] = {"conv-ae": dict(ae), "ae": dict(ae)}
        return custom_config(
            args.task, args.mi, args.estimator, compress=compress,
            n=_int_list(args.n or "5000", "n"), seeds=_int_list(args.seeds or "0", "seeds"),
            estimator_params=_params(args.param), compressor_options=comp_opts or None,
        )
    custom_only = [flag for flag, v in (("--task", args.task), ("--mi", args.mi), ("--estimator", args.estimator),
                                        ("--compress", args.compress), ("--n", args.n), ("--seeds", args.seeds),
                                        ("--param", args.param), ("--n-train", args.n_train),
                                        ("--ae-epochs", args.ae_epochs)) if v]
    config = get_preset(args.preset)
    if custom_only:
        raise ValueError(f"{', '.join(custom_only)} only apply to 'ibscope bench custom'; the preset "
                         f"{args.preset!r} has a fixed grid.")
    return config


def _print_presets() -> None:
    for name in sorted(PRESETS):
        print(f"{name:14s} {PRESETS[name][1]}")
    print(f"{'custom':14s} your own grid: --task, --mi, --estimator, --compress, --n, --seeds, --param")


def run(args) -> int:
    """Run the ``bench`` subcommand (see the module docstring)."""
    if args.preset == "list":
        _print_presets()
        return 0
    if args.preset != "custom" and args.preset not in list_presets():
        raise ValueError(f"Unknown preset {args.preset!r}. Valid presets: {', '.join(list_presets())}, custom "
                         "(or 'list' to describe them).")
    if not args.out:
        raise ValueError("ibscope bench needs --out RUN_DIR (the results folder).")
    config = _config_from_args(args)
    config.validate()
    n_total = len(config.jobs())
    n_done = check_run_dir(config, args.out)
    if not args.quiet:
        state = f"resuming, {n_done} done" if n_done else "new"
        print(f"sweep {config.name!r}: {n_total} jobs ({state}) -> {args.out} (executor {args.executor})",
              file=sys.stderr)
    results = run_sweep(config, args.out, executor=args.executor, n_jobs=args.n_jobs, address=args.address,
                        progress=not args.quiet, threads_per_job=args.threads_per_job)
    n_failed = n_total - len(results)
    if len(results):
        table = accuracy_table(results, mi_max=args.mae_max)
        cols = ["task", "method", "n", "mae", "max_abs_err", "monotone_up_to", "max_estimate", "n_points", "seeds"]
        print(f"estimate vs true MI (nats); mae over true MI in [0, {args.mae_max:g}]:")
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if not args.no_plot and len(results):
        paths = plot_sweep(args.out)
        if not args.quiet:
            print(f"figures: {', '.join(str(p) for p in paths)}", file=sys.stderr)
    if n_failed:
        print(f"ibscope: {n_failed} of {n_total} jobs did not finish (see the 'error' column of "
              f"{args.out}/results.csv); run the same command again to retry them.", file=sys.stderr)
        return EXIT_FAILED
    return 0


def register(sub) -> None:
    """Add the ``bench`` subcommand to the ``ibscope`` argument parser's subparsers."""
    p = sub.add_parser(
        "bench", help="known-MI benchmark sweeps (resumable; joblib, Ray or Dask)",
        description="Run a known-MI benchmark sweep into a results folder. Re-running the same command resumes "
                    "it. Presets: paper (the paper's full grid; hours), paper-reduced (~20 min on 2 cores), "
                    "smoke (seconds); 'custom' builds a grid from the options; 'list' describes the presets.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: ibscope bench custom --task bump-16 --mi 0:5:11 --estimator ksg --compress conv-ae:2 "
               "--n 5000 --seeds 0,1 --out runs/bump",
    )
    p.add_argument("preset", metavar="PRESET", help=_PRESET_HELP)
    p.add_argument("--out", metavar="RUN_DIR", help="results folder (created; an existing one of the same sweep "
                                                    "is resumed)")
    p.add_argument("--executor", "--backend", dest="executor", default="loky",
                   choices=["loky", "ray", "dask", "sequential"],
                   help="where jobs run: local processes (loky, default), a Ray or a Dask cluster (--backend is the "
                        "deprecated spelling)")
    p.add_argument("--n-jobs", type=int, default=None, help="parallel jobs (default: all cores / cluster CPUs)")
    p.add_argument("--address", default=None, help="Ray or Dask cluster address (default: start a local one)")
    p.add_argument("--threads-per-job", type=int, default=None, help="threads per job (default: cores / n-jobs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    p.add_argument("--no-plot", action="store_true", help="do not write figures")
    p.add_argument("--mae-max", type=float, default=5.0,
                   help="upper true MI (nats) of the error summary printed at the end (default 5)")
    g = p.add_argument_group("custom grid (PRESET = custom)")
    g.add_argument("--task", help="task name(s), comma-separated (see ibscope.synthetic.list_tasks)")
    g.add_argument("--mi", help="true MI in nats: start:stop:count (like numpy.linspace) or a list 0,1,2")
    g.add_argument("--estimator", help="estimator name(s), comma-separated: ksg, kl, wkl, mine, ...")
    g.add_argument("--compress", help="compressor spec(s), comma-separated: none, pca:2, ae:2, conv-ae:2, latent "
                                      "(default none)")
    g.add_argument("--n", help="sample size(s), comma-separated (default 5000)")
    g.add_argument("--seeds", help="seeds, comma-separated (default 0)")
    g.add_argument("--param", action="append", metavar="NAME=VALUE", help="estimator parameter, repeatable "
                                                                         "(e.g. --param k=3)")
    g.add_argument("--n-train", type=int, default=None, help="training images per compressor (default 6000)")
    g.add_argument("--ae-epochs", type=int, default=None, help="autoencoder epochs (default: the compressor's)")
    p.set_defaults(func=run)
