"""What every ``ibscope`` subcommand shares: the user-facing error and the exit codes.

This module imports nothing from the rest of the package, so every
subcommand module can depend on it without creating import cycles.
"""

from __future__ import annotations

__all__ = ["CLIError", "EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "USER_ERRORS"]

#: The command did what was asked.
EXIT_OK = 0
#: The command ran but part of the work failed (e.g. sweep jobs that did not finish).
EXIT_FAILED = 1
#: Bad input, unreadable files, or no subcommand given (argparse's own usage errors also exit with 2).
EXIT_BAD_INPUT = 2
#: Interrupted with Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """An error shown to the user as one line, without a traceback."""


#: Exceptions that end a command with a one-line ``ibscope: error: ...`` message and
#: :data:`EXIT_BAD_INPUT`; the library raises these with messages meant for the user (an
#: ``ImportError`` is an optional extra that is not installed; its message names the pip command).
USER_ERRORS = (CLIError, ValueError, TypeError, FileNotFoundError, PermissionError, OSError, ImportError)
