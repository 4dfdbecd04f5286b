"""The ``ibscope`` argument parser and entry point: every subcommand, one-line errors, exit codes.

Examples
--------
.. code-block:: bash

    ibscope --help
    ibscope estimate x.npy y.npy --ci 0.95 --seed 0
    IBSCOPE_DEBUG=1 ibscope estimate x.npy short.npy     # full traceback instead of one line

Every subcommand module is imported here explicitly and registers itself with
``register(sub)``; an import error in any of them is an error of ``ibscope``
itself, never a missing subcommand.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from . import bench, demo, estimate, ib, plot
from ._common import EXIT_BAD_INPUT, EXIT_INTERRUPTED, USER_ERRORS

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: The subcommand modules, in the order ``ibscope --help`` lists them.
SUBCOMMANDS = (estimate, demo, bench, ib, plot)


def build_parser() -> argparse.ArgumentParser:
    """The ``ibscope`` argument parser with every subcommand registered.

    Returns
    -------
    argparse.ArgumentParser
        Each subcommand's parser sets ``func``, the subcommand's ``run(args)``.
    """
    from .._version import __version__

    parser = argparse.ArgumentParser(prog="ibscope",
                                     description="Mutual information and information-bottleneck analysis.")
    parser.add_argument("--version", action="version", version=f"ibscope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv=None) -> int:
    """Run ``ibscope`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Parameters
    ----------
    argv : list of str or None, default=None
        Command-line arguments without the program name.

    Returns
    -------
    int
        The subcommand's exit code (0 on success); 2 with a one-line ``ibscope: error: ...``
        on standard error for bad input or unreadable files, and when no subcommand is given
        (after printing the help); 130 when interrupted. Set the environment variable
        ``IBSCOPE_DEBUG`` to see the full traceback of an error instead.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        if os.environ.get("IBSCOPE_DEBUG"):
            raise
        message = str(exc).replace("\n", " ")
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            message = f"the disk is full ({message}). {_continue_hint(args)}"
        print(f"ibscope: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"ibscope: interrupted. {_continue_hint(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _continue_hint(args: argparse.Namespace) -> str:
    """How to continue what was stopped: the same command with ``--resume`` for a run or a study, the same
    command again for a sweep (finished jobs are kept)."""
    out = getattr(args, "out", None)
    if args.command == "ib" and out:
        return (f"Everything up to the last finished epoch is in {out}; run the same command with --resume to "
                "continue from there.")
    if args.command == "bench" and out:
        return f"The finished jobs are in {out}; run the same command again to run the rest."
    return "Nothing was lost that a new run cannot redo."
