"""Reading the data files named on the command line (.npy, .npz, .csv, .tsv, .txt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import CLIError

__all__ = ["read_array"]


def read_array(path: str, key: str | None = None) -> np.ndarray:
    """Read an array from .npy, .npz (``key`` or the only/first array) or .csv/.tsv/.txt.

    Parameters
    ----------
    path : str
        File to read; the format is chosen by its suffix.
    key : str or None, default=None
        Array name inside an ``.npz`` file; None takes its only array.

    Returns
    -------
    numpy.ndarray
        The array as stored (text files: one row per line, a header line is skipped).

    Raises
    ------
    CLIError
        If the file is missing, a directory, of an unsupported type, unreadable, or an
        ``.npz`` holds no array, several arrays and no ``key``, or no array ``key``.
    """
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
                        raise CLIError(
                            f"{path} holds several arrays ({', '.join(names)}); choose one with --x-key/--y-key"
                        )
                    key = names[0]
                if key not in names:
                    raise CLIError(f"{path} has no array {key!r}; it holds {', '.join(names)}")
                return data[key]
        if suffix in (".csv", ".tsv", ".txt"):
            return _read_text(p)
    except CLIError:
        raise
    except Exception as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise CLIError(f"cannot read {path}: {type(exc).__name__}: {first_line}") from None
    raise CLIError(f"unsupported file type {suffix or '(none)'} for {path}; use .npy, .npz or .csv")


def _read_text(p: Path) -> np.ndarray:
    """Read a delimited text file, skipping its first line when it is a header."""
    import pandas as pd

    sep = "\t" if p.suffix.lower() == ".tsv" else None
    with open(p, encoding="utf-8", errors="strict") as fh:
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
