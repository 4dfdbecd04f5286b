"""``ibscope ib``: train a noisy network and record its information plane.

Examples
--------
.. code-block:: bash

    # the quick run (8x8 digits, about 2 minutes on 2 CPU cores)
    ibscope ib --dataset digits --out runs/digits-s0

    # MNIST with the paper's net, 4-D PCA codes, log-spaced analysis epochs
    ibscope ib --dataset mnist --epochs 30 --noise 1e-3 --compress pca:4 --estimator kl --k 5 \\
        --schedule log --seed 0 --out runs/mnist-s0 --device cuda

    # continue after an interruption (same settings; --epochs may grow)
    ibscope ib --out runs/mnist-s0 --resume

    # settings from a TOML file (keys are IBConfig fields); flags win over the file
    ibscope ib --config ib.toml --seed 1 --out runs/mnist-s1

With ``--resume`` and no ``--config``, the run folder's own configuration is
the base, so the flags that created it need not be repeated; a flag that
contradicts it ends with a one-line error and leaves the folder unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..ib import IBConfig, load_run_config, run_ib

__all__ = ["register", "run", "build_config"]

#: CLI flag destination -> IBConfig field
_FLAGS = {
    "dataset": "dataset", "model": "model", "epochs": "epochs", "lr": "lr", "batch_size": "batch_size",
    "eval_batch_size": "eval_batch_size", "noise": "noise", "noise_kind": "noise_kind", "dropout": "dropout",
    "compress": "compress", "compress_x": "compress_x", "refit": "refit", "label_side": "label_side",
    "estimator": "estimator",
    "estimator_y": "estimator_y", "k": "k", "ci": "ci", "n_subsamples": "n_subsamples", "units": "units",
    "schedule": "schedule", "probe_split": "probe_split", "probe_size": "probe_size", "seed": "seed",
    "device": "device", "backend": "backend", "data_dir": "data_dir", "preset": "preset", "threads": "threads",
    "softmax": "softmax",
}


def register(sub) -> None:
    """Add the ``ib`` subcommand to an argparse sub-parser collection."""
    p = sub.add_parser(
        "ib", help="train a noisy network and record its information plane",
        description="Train a noisy classifier and estimate I(X;L) and I(L;Y) for every layer as it trains. "
                    "Writes config.json, metrics.csv, info.csv, checkpoints and figures to --out. "
                    "Flags override the --config file; unset values take the dataset defaults.",
    )
    p.add_argument("--out", required=True, metavar="RUN_DIR",
                   help="run folder (new or empty, or an existing one with --resume)")
    p.add_argument("--config", metavar="FILE", help="TOML file of IBConfig fields")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    p.add_argument("--preset", help="'default' or 'paper' (lr 1e-5, 300 epochs, conv-AE for X, PCA refit every epoch)")
    p.add_argument("--dataset", help="digits (default), mnist or fashion-mnist")
    p.add_argument("--model", help="paper-conv (default) or mlp")
    p.add_argument("--epochs", type=int, help="training epochs (default: 40 for digits, 30 for MNIST)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3; the paper used 1e-5)")
    p.add_argument("--batch-size", type=int, help="training batch (default: 128 for digits, 1024 for MNIST)")
    p.add_argument("--eval-batch-size", type=int, help="probe/test batch (default 2048)")
    p.add_argument("--noise", type=float, help="noise sigma at every conv/linear input (default 1e-3)")
    p.add_argument("--noise-kind", help="relative (default) or additive")
    p.add_argument("--dropout", type=float, help="dropout before the conv layers (default: model's)")
    p.add_argument("--compress", help="layer compressor, e.g. pca:4 (default), ae:4, none")
    p.add_argument("--compress-x", help="X compressor, e.g. pca:4 (default), conv-ae:4, none")
    p.add_argument("--refit", help="first (fit layer compressors once, default) or every (refit each epoch)")
    p.add_argument("--label-side", help="I(L;Y) by decoder (cross-fitted probes and the net's head, a lower bound; "
                                        "default) or codes (the paper's estimator on each layer's code)")
    p.add_argument("--estimator", help="I(X;L) estimator: kl (default), wkl, ksg, kde, ...")
    p.add_argument("--estimator-y", help="I(L;Y) estimator with --label-side codes (default: same family as "
                                         "--estimator)")
    p.add_argument("--k", type=int, help="neighbours of kNN estimators (default 5)")
    p.add_argument("--ci", type=float, help="confidence level (default 0.95; 0 disables)")
    p.add_argument("--n-subsamples", type=int, help="half-samples per CI (default 10)")
    p.add_argument("--units", help="nats (default) or bits")
    p.add_argument("--schedule", help="every (default) or log (epochs 1,2,3,4,5,6,8,10,13,...)")
    p.add_argument("--probe-split", help="train or test (default: train for digits, test for MNIST)")
    p.add_argument("--probe-size", type=int, help="probe images (default: the whole split)")
    p.add_argument("--layers", help="comma-separated layer names (default: all, L1..Ln)")
    p.add_argument("--seed", type=int, help="base seed (default 0)")
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--backend", help="neighbour-search backend (default auto: numba on CPU, torch on CUDA)")
    p.add_argument("--threads", type=int, help="torch threads during the run (0: leave as is)")
    p.add_argument("--data-dir", help="folder with the MNIST IDX files (default: cache, downloading if needed)")
    p.add_argument("--softmax", action="store_true", default=None,
                   help="also analyse the class probabilities exp(L5) as an extra row (off by default)")
    p.add_argument("--no-plots", action="store_true", help="do not draw figures at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """The :class:`~ibscope.ib.IBConfig` described by parsed arguments (file, then flags).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``ibscope ib`` arguments.

    Returns
    -------
    IBConfig
        The ``--config`` file's settings (or, with ``--resume`` and no file, the run
        folder's own), overridden by every flag that was given.
    """
    if args.config:
        base = IBConfig.from_toml(args.config).to_dict()
    elif args.resume and (Path(args.out) / "config.json").is_file():
        base = load_run_config(args.out)["config"]
    else:
        base = {}
    for dest, field in _FLAGS.items():
        value = getattr(args, dest, None)
        if value is not None:
            base[field] = value
    if args.layers is not None:
        base["layers"] = [s.strip() for s in args.layers.split(",") if s.strip()]
    if args.no_plots:
        base["plots"] = False
    return IBConfig.from_dict(base, source=args.config)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``ibscope ib``: build the configuration, then :func:`ibscope.ib.run_ib`."""
    config = build_config(args)
    run_ib(config, out=args.out, resume=args.resume, progress=not args.quiet)
    return 0
