"""``ibscope plot``: draw the figures of one or more result folders.

Examples
--------
.. code-block:: bash

    ibscope plot runs/digits-s0                       # -> runs/digits-s0/figures/*.png|pdf
    ibscope plot runs/mnist-s0 runs/mnist-s1 runs/mnist-s2 --out runs/mnist-seeds
    ibscope plot runs/digits-s0 --smooth savgol --format png
    ibscope plot runs/digits-study                    # a study: -> runs/digits-study/figures/<point>/

A folder's kind is recognised by a marker file: ``info.csv`` marks an
information-bottleneck run (:func:`ibscope.plots.plot_ib_run`). Other kinds
(sweep folders, marked by ``sweep.json``; studies, marked by ``study.json``) are registered with
:func:`register_folder_plotter`; an unknown folder gives a one-line error.
With several IB folders, each gets its own figures and mean +- std figures
over all of them go to ``--out`` (default: ``ib-aggregate`` in the folders'
common parent).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..plots import plot_ib_run, plot_ib_runs, plot_sweep
from ._common import CLIError

__all__ = ["register", "run", "register_folder_plotter", "folder_kind", "FOLDER_PLOTTERS"]

#: (marker file, plotting function, kind name); the first marker found in a folder wins.
FOLDER_PLOTTERS: list = []


def register_folder_plotter(marker: str, plot_folder, kind: str) -> None:
    """Teach ``ibscope plot`` a new kind of result folder.

    Parameters
    ----------
    marker : str
        File name whose presence identifies the kind, e.g. ``"results.csv"``.
    plot_folder : callable
        ``plot_folder(folder: Path, options: dict) -> list[Path]`` draws the
        figures and returns the files written. ``options`` holds ``formats``,
        ``smooth`` and ``values``.
    kind : str
        Human-readable name used in messages, e.g. "sweep".
    """
    FOLDER_PLOTTERS.append((marker, plot_folder, kind))


def _plot_ib_folder(folder: Path, options: dict) -> list:
    """Figures of one IB run folder (:func:`ibscope.plots.plot_ib_run`)."""
    return plot_ib_run(folder, formats=options["formats"], smooth=options["smooth"], values=options["values"])


register_folder_plotter("info.csv", _plot_ib_folder, "ib")


def _plot_sweep_folder(folder, options):
    """Estimate-vs-true figures of one sweep folder (:func:`ibscope.plots.plot_sweep`)."""
    return plot_sweep(folder, formats=tuple(options.get("formats") or ("png", "pdf")))


register_folder_plotter("sweep.json", _plot_sweep_folder, "sweep")


def _plot_study_folder(folder, options):
    """Mean +- std figures per grid point of a study folder (:func:`ibscope.ib.plot_study`)."""
    from ..study import plot_study

    return plot_study(folder, formats=tuple(options.get("formats") or ("png", "pdf")))


register_folder_plotter("study.json", _plot_study_folder, "study")


def folder_kind(folder: Path):
    """``(kind, plot_function)`` for a result folder; raises :class:`CLIError` for unknown folders."""
    if not folder.exists():
        raise CLIError(f"run folder not found: {folder}")
    if not folder.is_dir():
        raise CLIError(f"expected a run folder, got a file: {folder}")
    for marker, fn, kind in FOLDER_PLOTTERS:
        if (folder / marker).is_file():
            return kind, fn
    markers = ", ".join(m for m, _, _ in FOLDER_PLOTTERS)
    raise CLIError(f"{folder} is not a result folder that 'ibscope plot' knows: it has none of {markers}")


def register(sub) -> None:
    """Add the ``plot`` subcommand to an argparse sub-parser collection."""
    p = sub.add_parser("plot", help="draw the figures of result folders",
                       description="Draw figures for result folders (IB runs: information planes, MI and loss vs "
                                   "epoch). Several IB folders also get mean +- std figures in --out.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="result folder(s)")
    p.add_argument("--out", help="folder for figures over several runs (default: <common parent>/ib-aggregate)")
    p.add_argument("--smooth", default=None, help="savgol or paper (default: off, raw estimates only)")
    p.add_argument("--format", default="png,pdf", help="comma-separated figure formats (default png,pdf)")
    p.add_argument("--values", default="clipped", help="clipped (default: at 0, where MI lies) or raw (the CI centre)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``ibscope plot``: draw each folder's figures and print the files written."""
    if args.smooth not in (None, "savgol", "paper"):
        raise CLIError(f"--smooth must be savgol or paper, got {args.smooth!r}")
    if args.values not in ("raw", "clipped"):
        raise CLIError(f"--values must be raw or clipped, got {args.values!r}")
    formats = tuple(f.strip().lower() for f in args.format.split(",") if f.strip())
    if not formats:
        raise CLIError("--format needs at least one format, e.g. png")
    options = {"formats": formats, "smooth": args.smooth, "values": args.values}
    folders = [Path(d) for d in args.run_dirs]
    kinds = [folder_kind(f) for f in folders]
    written = []
    for folder, (_kind, fn) in zip(folders, kinds):
        written += fn(folder, options)
    ib_folders = [f for f, (kind, _) in zip(folders, kinds) if kind == "ib"]
    if len(ib_folders) > 1:
        parent = Path(os.path.commonpath([p.resolve() for p in ib_folders]))
        out = Path(args.out) if args.out else parent / "ib-aggregate"
        written += plot_ib_runs(ib_folders, out=out, formats=formats, values=args.values)
    for path in written:
        print(path)
    return 0
