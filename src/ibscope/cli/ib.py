"""``ibscope ib``: train a noisy network and record its information plane.

Examples
--------
.. code-block:: bash

    # the quick run (8x8 digits, about 2 minutes on 2 CPU cores)
    ibscope ib --dataset digits --out runs/digits-s0

    # MNIST with the paper's net, 4-D PCA codes, log-spaced analysis epochs
    ibscope ib --dataset mnist --epochs 30 --noise 1e-3 --compress pca:4 --estimator kl --k 5 \\
        --schedule log --seed 0 --out runs/mnist-s0 --device cuda

    # the quick run, also logged to TensorBoard (pip install 'ibscope[tensorboard]'; tensorboard --logdir runs/tb)
    ibscope ib --dataset digits --out runs/digits-s1 --seed 1 --tensorboard runs/tb/digits-s1

    # continue after an interruption (same settings; --epochs may grow)
    ibscope ib --out runs/mnist-s0 --resume

    # settings from a TOML file (keys are IBConfig fields); flags win over the file
    ibscope ib --config ib.toml --seed 1 --out runs/mnist-s1

With ``--resume`` and no ``--config``, the run folder's own configuration is
the base, so the flags that created it need not be repeated; a flag that
contradicts it ends with a one-line error and leaves the folder unchanged.

Studies (several seeds and settings)
------------------------------------
.. code-block:: bash

    # five seeds on local processes: STUDY/runs/base/seed0..4, STUDY/summary.csv, STUDY/figures
    ibscope ib --dataset digits --epochs 20 --seeds 0:5 --out runs/digits-study

    # the same on a Ray cluster (or --executor dask --address tcp://scheduler:8786)
    ibscope ib --dataset digits --epochs 20 --seeds 0:5 --executor ray --address auto --out runs/digits-study

    # every combination of two noise levels and two learning rates, three seeds each
    ibscope ib --seeds 0,1,2 --grid noise=1e-3,1e-2 --grid lr=1e-3,3e-3 --out runs/noise-lr

    # continue after an interruption: the same command again, or just
    ibscope ib --out runs/digits-study --resume

``--seeds`` (or ``--grid``) turns ``--out`` into a study folder
(:func:`ibscope.study.run_study`). ``--executor`` then says where the runs go
(``loky``, the default: local processes; ``ray``; ``dask``; ``sequential``:
this process), and ``--knn-backend`` names the neighbour search of the
estimators. ``--backend`` is the deprecated spelling of either: a study
executor's name means ``--executor``, a neighbour-search name ``--knn-backend``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..executors import EXECUTORS as STUDY_BACKEND_NAMES  # where a study's runs go; no overlap with KNN
from ..ib import IBConfig, load_run_config, run_ib
from ..neighbors import BACKENDS as KNN_BACKENDS
from ..study import parse_grid, parse_seeds, run_study
from ..study.folder import STUDY_FILE, read_study_record
from ._common import EXIT_FAILED, CLIError

__all__ = ["register", "run", "build_config"]

#: CLI flag destination -> IBConfig field
_FLAGS = {
    "dataset": "dataset", "model": "model", "epochs": "epochs", "lr": "lr", "batch_size": "batch_size",
    "eval_batch_size": "eval_batch_size", "noise": "noise", "noise_kind": "noise_kind", "dropout": "dropout",
    "compress": "compress", "compress_x": "compress_x", "refit": "refit", "label_side": "label_side",
    "estimator": "estimator",
    "estimator_y": "estimator_y", "k": "k", "ci": "ci", "n_subsamples": "n_subsamples", "units": "units",
    "schedule": "schedule", "probe_split": "probe_split", "probe_size": "probe_size", "seed": "seed",
    "device": "device", "data_dir": "data_dir", "preset": "preset", "threads": "threads",
    "softmax": "softmax", "brackets": "brackets", "bracket_trials": "bracket_trials",
    "xl_estimate": "xl_estimate", "background_analysis": "background_analysis",
}


def register(sub) -> None:
    """Add the ``ib`` subcommand to an argparse sub-parser collection."""
    p = sub.add_parser(
        "ib", help="train a noisy network and record its information plane",
        description="Train a noisy classifier and estimate I(X;L) and I(L;Y) for every layer as it trains. "
                    "Writes config.json, metrics.csv, info.csv, checkpoints and figures to --out. "
                    "Flags override the --config file; unset values take the dataset defaults.",
    )
    p.add_argument("--out", metavar="RUN_DIR",
                   help="run folder (new or empty, or an existing one with --resume); required unless --list-layers")
    p.add_argument("--list-layers", action="store_true",
                   help="print the model's layers (module names, output shapes from one forward pass on probe "
                        "rows; '*' marks the analysed ones) and exit without training or writing anything")
    p.add_argument("--config", metavar="FILE", help="TOML file of IBConfig fields")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    p.add_argument("--preset", help="'default' or 'paper' (lr 1e-5, 300 epochs, conv-AE for X, PCA refit every epoch)")
    p.add_argument("--dataset", help="digits (default), mnist, fashion-mnist, or npz:PATH (a .npz file with x_train, "
                                     "y_train, x_test, y_test; standardised with the train statistics)")
    p.add_argument("--model", help="paper-conv (default), mlp, resnet-small, or a model of your own: "
                                   "path/to/file.py:make_model or package.module:make_model (see ibscope.nets.user)")
    p.add_argument("--epochs", type=int, help="training epochs (default: 40 for digits, 30 for MNIST)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3; the paper used 1e-5)")
    p.add_argument("--batch-size", type=int, help="training batch (default: 128 for digits, 1024 for MNIST)")
    p.add_argument("--eval-batch-size", type=int, help="probe/test batch (default 2048)")
    p.add_argument("--noise", type=float, help="noise sigma at every conv/linear input "
                                               "(default 0.3 normalized; --preset paper: 1e-3 relative)")
    p.add_argument("--noise-kind",
                   help="normalized (default: on the per-sample standardised input), relative or additive")
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
    p.add_argument("--ci", type=float, help="confidence level (default 0.95; 0: no intervals)")
    p.add_argument("--n-subsamples", type=int, help="half-samples per CI (default 10)")
    p.add_argument("--units", help="nats (default) or bits")
    p.add_argument("--schedule", help="every (default) or log (epochs 1,2,3,4,5,6,8,10,13,...)")
    p.add_argument("--probe-split", help="train or test (default test)")
    p.add_argument("--probe-size", type=int, help="probe images (default: the whole split)")
    p.add_argument("--layers", help="comma-separated module names to analyse (default: the model's layers, L1..Ln; "
                                    "see --list-layers)")
    p.add_argument("--seed", type=int, help="base seed (default 0)")
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--backend", metavar="NAME",
                   help="deprecated: --executor for a study executor's name, --knn-backend for a neighbour-search "
                        "name")
    p.add_argument("--knn-backend", metavar="NAME",
                   help=f"neighbour-search backend of the estimators: {', '.join(KNN_BACKENDS)} (default auto: numba "
                        "on CPU, torch on CUDA)")
    p.add_argument("--threads", type=int, help="torch threads during the run (0: leave as is)")
    p.add_argument("--data-dir", help="folder with the MNIST IDX files (default: cache, downloading if needed)")
    p.add_argument("--softmax", action="store_true", default=None,
                   help="also analyse the class probabilities exp(L5) as an extra row (off by default)")
    p.add_argument("--no-brackets", dest="brackets", action="store_false", default=None,
                   help="skip the provable brackets on I(X;L) and I(L;Y) (and the I(X;L) estimate) every epoch")
    p.add_argument("--bracket-trials", type=int,
                   help="noisy identification passes per probe behind the brackets' lower bounds (default 1000)")
    p.add_argument("--no-xl-estimate", dest="xl_estimate", action="store_false", default=None,
                   help="compute the brackets on I(X;L) but not its sample-propagation estimate")
    p.add_argument("--background-analysis", action=argparse.BooleanOptionalAction, default=None,
                   help="analyse each epoch in a background thread while the next one trains (same rows; helps "
                        "with idle CPU cores, e.g. GPU training; an epoch's rows and checkpoint land when its "
                        "analysis ends; off by default, may change on --resume)")
    p.add_argument("--no-plots", action="store_true", help="do not draw figures at the end")
    study = p.add_argument_group("studies (one run per seed and grid point, see ibscope.ib.run_study)")
    study.add_argument("--seeds", metavar="SEEDS",
                       help="run a study into --out: one run per seed, e.g. 0:5 (seeds 0 to 4), 0,3,7 or 3")
    study.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                       help="also vary a setting (an IBConfig field, e.g. noise=1e-3,1e-2); repeat for more keys: "
                            "every combination runs with every seed")
    study.add_argument("--executor", metavar="NAME",
                       help="where the study's runs go: loky (default: local processes), ray, dask or sequential")
    study.add_argument("--address", metavar="ADDR",
                       help="cluster address for --executor ray (ray://head:10001, auto) or dask (tcp://host:8786)")
    study.add_argument("--n-jobs", type=int, metavar="N",
                       help="runs at once (default: every core, or every cluster CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also log every layer's I(X;L), I(L;Y), the metrics and the information plane to the "
                        "TensorBoard folder DIR (needs pip install 'ibscope[tensorboard]'; not part of the run's "
                        "configuration, so a resume may add, change or drop it)")
    p.set_defaults(func=run)


def _is_study_backend(name) -> bool:
    return name is not None and name.strip().lower() in STUDY_BACKEND_NAMES


def _knn_backend(args: argparse.Namespace):
    """The neighbour-search backend from ``--knn-backend``, or from the deprecated ``--backend`` when it names one."""
    knn = getattr(args, "knn_backend", None)
    old = getattr(args, "backend", None)
    if old is not None and not _is_study_backend(old):
        if knn is not None and knn != old:
            raise ValueError(f"--backend {old} and --knn-backend {knn} both set the neighbour-search backend. "
                             "Pass one of them.")
        knn = old
    return knn


def _executor(args: argparse.Namespace) -> str | None:
    """Where a study's runs go: ``--executor``, or the deprecated ``--backend`` when it names an executor."""
    new = getattr(args, "executor", None)
    old = getattr(args, "backend", None)
    if old is not None and _is_study_backend(old):
        if new is not None and new.strip().lower() != old.strip().lower():
            raise ValueError(f"--backend {old} and --executor {new} both say where the runs go. Pass --executor.")
        new = old
    if new is not None and not _is_study_backend(new):
        raise ValueError(f"--executor must be one of {', '.join(e for e in STUDY_BACKEND_NAMES if e != 'threading')}. "
                         f"Got {new!r}.")
    return None if new is None else new.strip().lower()


def build_config(args: argparse.Namespace, *, base: dict | None = None):
    """The :class:`~ibscope.ib.IBConfig` described by parsed arguments (file, then flags).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``ibscope ib`` arguments.
    base : dict or None, default=None
        Settings the flags override, instead of the ``--config`` file (a study's stored configuration).

    Returns
    -------
    IBConfig
        The ``--config`` file's settings (or, with ``--resume`` and no file, the run
        folder's own), overridden by every flag that was given.
    """
    if base is not None:
        base = dict(base)
    elif args.config:
        base = IBConfig.from_toml(args.config).to_dict()
    elif args.resume and args.out and (Path(args.out) / "config.json").is_file():
        base = load_run_config(args.out)["config"]
    else:
        base = {}
    knn = _knn_backend(args)
    if knn is not None:
        base["knn_backend"] = knn
    for dest, field in _FLAGS.items():
        value = getattr(args, dest, None)
        if value is not None:
            base[field] = value
    if args.layers is not None:
        base["layers"] = [s.strip() for s in args.layers.split(",") if s.strip()]
    if args.no_plots:
        base["plots"] = False
    return IBConfig.from_dict(base, source=args.config)


def _run_study(args: argparse.Namespace) -> int:
    """``ibscope ib --seeds ...``: build the study's configuration, seeds and grid, then :func:`run_study`."""
    import warnings

    out = Path(args.out)
    if args.seeds is not None and args.seed is not None:
        raise ValueError("--seed and --seeds cannot be combined: --seeds sets the seed of every run of the study.")
    if getattr(args, "tensorboard", None) is not None:
        raise ValueError("--tensorboard logs a single run; it cannot be combined with --seeds or --grid.")
    stored: dict = read_study_record(out) if (out / STUDY_FILE).is_file() else {}
    # the same command again continues the study; --resume (or no --seeds/--grid) takes what is not given from it
    use_stored = bool(stored) and (args.resume or (args.seeds is None and not args.grid))
    if args.seed is not None and use_stored and args.seeds is None:
        raise ValueError(f"{out} is a study: its seeds are {stored['seeds']}; --seed does not apply (use --seeds).")
    config = build_config(args, base=stored["config"] if use_stored and not args.config else None)
    if args.seeds is not None:
        seeds = parse_seeds(args.seeds, owner="--seeds")
    else:
        seeds = stored["seeds"] if use_stored else [config.seed]
    grid = parse_grid(args.grid) if args.grid else (stored["grid"] if use_stored else {})
    executor = _executor(args) or "loky"
    progress = not args.quiet
    with warnings.catch_warnings():
        if not progress:  # the failures are printed below instead
            warnings.filterwarnings("ignore", message=r"\d+ run\(s\) of the study", category=RuntimeWarning)
        result = run_study(config, out=out, seeds=seeds, grid=grid, executor=executor, n_jobs=args.n_jobs,
                           address=args.address, progress=progress)
    if result.failed:
        if not progress:
            for r in result.failed:
                print(f"ibscope: run {r['point']}/seed{r['seed']} failed: {r['error']}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point of ``ibscope ib``: build the configuration, then :func:`ibscope.ib.run_ib`
    (or, with ``--seeds`` / ``--grid`` or a study folder as ``--out``, :func:`ibscope.ib.run_study`)."""
    if getattr(args, "list_layers", False):
        from ..ib.network import list_layers

        print(list_layers(build_config(args)))
        return 0
    if args.out is None:
        raise CLIError("the following argument is required: --out (the run folder), unless --list-layers is given")
    if (getattr(args, "seeds", None) is not None or getattr(args, "grid", None)
            or (Path(args.out) / STUDY_FILE).is_file()):
        return _run_study(args)
    if _executor(args) is not None:
        raise ValueError(f"--executor {_executor(args)} says where the runs of a study go; it needs --seeds (or "
                         f"--grid). For a single run, --knn-backend names the neighbour search: "
                         f"{', '.join(KNN_BACKENDS)}.")
    for flag, value in (("--address", getattr(args, "address", None)), ("--n-jobs", getattr(args, "n_jobs", None))):
        if value is not None:
            raise ValueError(f"{flag} is for a study (--seeds); a single run does not use it.")
    config = build_config(args)
    callbacks = []
    if getattr(args, "tensorboard", None) is not None:
        from ..integrations._common import check_log_dir
        from ..integrations.tensorboard import TensorBoardCallback  # without the extra: a one-line ImportError

        check_log_dir(args.tensorboard, owner="ibscope ib", param="--tensorboard")
        callbacks.append(TensorBoardCallback(args.tensorboard))
    run_ib(config, out=args.out, resume=args.resume, progress=not args.quiet, callbacks=callbacks)
    return 0
