"""Command-line interface: ``ibscope estimate | demo | bench | ib | plot``.

Examples
--------
.. code-block:: bash

    ibscope estimate x.npy y.npy --estimator ksg --k 5 --units bits --ci 0.95 --seed 0
    ibscope estimate feats.csv labels.csv --y-discrete --json
    ibscope demo --out ibscope-demo
    ibscope bench smoke --out runs/smoke
    ibscope ib --dataset digits --out runs/digits-s0
    ibscope plot runs/digits-s0

Every subcommand is a thin layer over the public API, one module each
(:mod:`.estimate`, :mod:`.demo`, :mod:`.bench`, :mod:`.ib`, :mod:`.plot`),
assembled by :func:`build_parser` in :mod:`.app`. Bad input or unreadable files end with a
one-line ``ibscope: error: ...`` message and exit code 2 (set
``IBSCOPE_DEBUG=1`` to see the full traceback instead).
"""

from ._common import EXIT_BAD_INPUT, CLIError
from ._io import read_array
from .app import build_parser, main

__all__ = ["main", "build_parser", "CLIError", "read_array", "EXIT_BAD_INPUT"]
