"""Reading the data files named on the command line (.npy, .npz, .csv, .tsv, .txt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import CLIError

__all__ = ["read_array"]


def read_array(path: str, key: str | None = None, *, numeric: bool = False, index_col: str = "auto") -> np.ndarray:
    """Read an array from .npy, .npz (``key`` or the only/first array) or .csv/.tsv/.txt.

    Parameters
    ----------
    path : str
        File to read; the format is chosen by its suffix.
    key : str or None, default=None
        Array name inside an ``.npz`` file; None takes its only array.
    numeric : bool, default=False
        Text files must hold numbers only; a cell that is not one (an empty cell, a
        word, a number with another separator) is an error naming its row and column.
    index_col : {"auto", "none"}, default="auto"
        Text files: ``"auto"`` drops a first column with an empty header whose values
        are 0, 1, ..., n-1 (the index that ``pandas.DataFrame.to_csv`` writes), with a
        note on stderr; ``"none"`` keeps every column.

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
            return _read_text(p, numeric=numeric, index_col=index_col)
    except CLIError:
        raise
    except Exception as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise CLIError(f"cannot read {path}: {type(exc).__name__}: {first_line}") from None
    raise CLIError(f"unsupported file type {suffix or '(none)'} for {path}; use .npy, .npz or .csv")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _read_text(p: Path, *, numeric: bool = False, index_col: str = "auto") -> np.ndarray:
    """Read a delimited text file: the separator is sniffed, a header line is detected and skipped,
    an unnamed 0..n-1 index column is dropped, and non-numeric cells are named."""
    import csv
    import sys

    import pandas as pd

    with open(p, encoding="utf-8", errors="strict") as fh:
        head = [fh.readline() for _ in range(20)]
    first = head[0]
    if not first.strip():
        raise CLIError(f"{p} is empty")
    sample = "".join(head)
    if p.suffix.lower() == ".tsv":
        delim = "\t"
    else:
        try:
            delim = csv.Sniffer().sniff(sample, delimiters=",;\t ").delimiter
        except csv.Error:
            delim = "," if "," in first else ("\t" if "\t" in first else " ")
    cells = next(csv.reader([first], delimiter=delim))
    named = [c for c in cells if c.strip()]
    header = 0 if named and not all(_is_number(c) for c in named) else None
    _check_row_lengths(p, delim, cells if header is not None else None)
    frame = pd.read_csv(p, sep=r"\s+" if delim == " " else delim, header=header, engine="python", dtype=str,
                        keep_default_na=False)
    if header is not None and index_col == "auto" and len(frame.columns) > 1 and not cells[0].strip():
        first_col = frame.iloc[:, 0]
        if first_col.str.fullmatch(r"\d+").all() and (first_col.astype(np.int64).to_numpy()
                                                      == np.arange(len(frame))).all():
            frame = frame.iloc[:, 1:]
            print(f"ibscope: note: {p}: dropped the first column, an unnamed index 0..{len(frame) - 1} (as "
                  "pandas' to_csv writes it); pass --index-col none to keep it", file=sys.stderr)
    if numeric:
        _check_numeric(p, frame, header is not None, delim)
        return frame.astype(np.float64).to_numpy()
    values = frame.to_numpy()
    try:
        return values.astype(np.float64)
    except ValueError:
        return values  # labels as text (y with --y-discrete)


def _check_row_lengths(p: Path, delim: str, header: list | None) -> None:
    """Raise a CLIError naming the first line whose number of fields differs from the header's (or, without
    a header, from the first line's): a missing field would otherwise be read as a missing value."""
    import csv

    want, names, where = None, header, "the header has"
    with open(p, encoding="utf-8", errors="strict", newline="") as fh:
        rows = (line.split() for line in fh) if delim == " " else csv.reader(fh, delimiter=delim)
        for number, fields in enumerate(rows, start=1):
            if not fields or not "".join(fields).strip():
                continue  # blank lines are skipped by the reader
            if want is None:
                want = len(fields)
                if header is None:
                    where = "line 1 has"
                continue
            if len(fields) == want:
                continue
            if len(fields) < want:
                missing = [f"{names[j]!r}" if names and names[j].strip() else str(j + 1)
                           for j in range(len(fields), want)]
                what = (f"column{'s' if len(missing) > 1 else ''} {', '.join(missing[:3])} "
                        f"{'are' if len(missing) > 1 else 'is'} missing")
            else:
                what = f"{len(fields) - want} field(s) too many (a separator inside a value?)"
            raise CLIError(f"{p}: line {number} has {len(fields)} field(s) but {where} {want}: {what}; complete or "
                           "remove that row")


def _check_numeric(p: Path, frame, has_header: bool, delim: str) -> None:
    """Raise a CLIError naming the first cell of ``frame`` that is not a number, with the likely cause."""
    for j, column in enumerate(frame.columns):
        for i, cell in enumerate(frame[column].tolist()):
            if _is_number(cell):
                continue
            line = i + 1 + int(has_header)  # 1-based line of the file
            col = f"column {column!r}" if has_header else f"column {j + 1}"
            if not str(cell).strip():
                why = "is empty (a missing value); remove or impute that row"
            elif any(sep in str(cell) for sep in (";", ",", "\t") if sep != delim):
                why = (f"holds {cell!r}: the file seems to use another separator than {delim!r}; "
                       "write it with commas, or as .tsv for tabs")
            elif _is_number(str(cell).replace(",", ".")):
                why = f"holds {cell!r}, a decimal comma; write numbers with a decimal point"
            else:
                why = f"holds {cell!r}, which is not a number"
            raise CLIError(f"{p}: line {line}, {col} {why}")
