"""Datasets of your own: a ``.npz`` file named as ``"npz:PATH"``.

The file holds four arrays (``numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)``):

==========  ==================================================================================
array       contents
==========  ==================================================================================
x_train     inputs: images ``(n, H, W)`` or ``(n, C, H, W)``, or vectors ``(n, D)``; finite reals
y_train     integer class labels ``0 .. C-1`` of shape ``(n,)`` (whole-valued floats are accepted)
x_test      inputs of the test split, of the same per-sample shape as ``x_train``
y_test      labels of the test split
==========  ==================================================================================

Every check runs when the file is first loaded, before any training, and a failed
one is a one-line ``ValueError`` naming the array (a missing file is a
``FileNotFoundError``).

Standardisation: inputs come back **already standardised with the train split's
statistics**: per channel for images (mean and std over the train images' pixels of
that channel), per feature for vectors; a constant channel or feature is only
centred. The test split uses the train statistics. ``(n, H, W)`` images get a
channel axis: ``(n, 1, H, W)``. So :func:`ibscope.data.normalize` with an
``"npz:..."`` name is the identity.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = ["NPZ_PREFIX", "NPZ_ARRAYS", "is_npz_name", "npz_path", "npz_name", "load_npz_split", "npz_source"]

#: Prefix of a dataset name that points at a .npz file.
NPZ_PREFIX = "npz:"
#: The arrays an npz dataset must hold.
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def is_npz_name(name) -> bool:
    """Whether ``name`` is an ``"npz:PATH"`` dataset name."""
    return isinstance(name, str) and name.strip().lower().startswith(NPZ_PREFIX)


def npz_path(name) -> Path:
    """The absolute path of an ``"npz:PATH"`` name (relative paths against the working directory)."""
    text = name.strip()[len(NPZ_PREFIX):].strip()
    if not text:
        raise ValueError(f"The dataset name {name!r} names no file: pass 'npz:PATH' with the path of a .npz file "
                         f"holding {', '.join(NPZ_ARRAYS)}.")
    return Path(text).expanduser().resolve()


def npz_name(name) -> str:
    """The canonical ``"npz:/absolute/path.npz"`` form of an npz dataset name."""
    return f"{NPZ_PREFIX}{npz_path(name)}"


def _check_x(x: np.ndarray, key: str, path: Path) -> None:
    if x.dtype.kind not in "biuf":
        raise ValueError(f"The array {key!r} of {path} must hold real numbers. Got dtype {x.dtype} instead.")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"The array {key!r} of {path} must be vectors (n, D) or images (n, H, W) or (n, C, H, W). "
                         f"Got shape {x.shape} instead.")
    if x.shape[0] == 0 or x[0].size == 0:
        raise ValueError(f"The array {key!r} of {path} is empty (shape {x.shape}).")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ValueError(f"The array {key!r} of {path} holds non-finite values (NaN or inf) in {len(rows)} "
                             f"row(s), the first at row {rows[0]}. Remove or impute them.")


def _check_y(y: np.ndarray, key: str, path: Path) -> np.ndarray:
    if y.ndim != 1:
        raise ValueError(f"The array {key!r} of {path} must be 1-D class labels (n,). Got shape {y.shape} instead.")
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"The array {key!r} of {path} must hold integer class labels 0..C-1. Got dtype {y.dtype} "
                             f"with non-integer values (e.g. {y[i]!r} at row {i}).")
    elif y.dtype.kind not in "iu":
        raise ValueError(f"The array {key!r} of {path} must hold integer class labels 0..C-1. Got dtype {y.dtype} "
                         "instead.")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        i = int(np.argmin(y))
        raise ValueError(f"The array {key!r} of {path} must hold class labels 0..C-1. Got a negative label ({y[i]} "
                         f"at row {i}).")
    return y


@functools.lru_cache(maxsize=2)
def _load(path_text: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    """The file's arrays, checked and standardised (cached by path, modification time and size)."""
    path = Path(path_text)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable .npz file ({type(exc).__name__}: {exc}). Save the arrays with "
                         f"numpy.savez(path, {'=..., '.join(NPZ_ARRAYS)}=...).") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array, not a .npz archive of {', '.join(NPZ_ARRAYS)}. Save them "
                         f"with numpy.savez(path, {'=..., '.join(NPZ_ARRAYS)}=...).")
    with archive:
        present = list(archive.files)
        missing = [k for k in NPZ_ARRAYS if k not in present]
        if missing:
            raise ValueError(f"The npz dataset {path} lacks the array(s) {missing}; it holds {sorted(present)}. It "
                             f"needs {', '.join(NPZ_ARRAYS)}.")
        try:
            arrays = {k: np.asarray(archive[k]) for k in NPZ_ARRAYS}
        except ValueError as exc:  # object arrays need pickle
            raise ValueError(f"The npz dataset {path} cannot be read without pickle ({exc}). Store numeric "
                             "arrays.") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        _check_x(x, f"x_{split}", path)
        arrays[f"y_{split}"] = _check_y(y, f"y_{split}", path)
        if len(x) != len(y):
            raise ValueError(f"The arrays 'x_{split}' and 'y_{split}' of {path} must have the same number of rows. "
                             f"Got {len(x)} and {len(y)}.")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise ValueError(f"The arrays 'x_train' and 'x_test' of {path} must have the same per-sample shape. Got "
                         f"{arrays['x_train'].shape[1:]} and {arrays['x_test'].shape[1:]}.")
    n_classes = len(np.unique(arrays["y_train"]))
    if n_classes < 2:
        raise ValueError(f"The array 'y_train' of {path} holds a single class; a classifier needs at least 2.")
    out = {}
    x_train = arrays["x_train"].astype(np.float64)
    if x_train.ndim == 3:
        x_train = x_train[:, None]
    axes = (0,) if x_train.ndim == 2 else (0, 2, 3)
    mean = x_train.mean(axis=axes, keepdims=True)
    std = x_train.std(axis=axes, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    for split in ("train", "test"):
        x = arrays[f"x_{split}"].astype(np.float64)
        if x.ndim == 3:
            x = x[:, None]
        out[f"x_{split}"] = np.ascontiguousarray(((x - mean) / std).astype(np.float32))
        out[f"y_{split}"] = arrays[f"y_{split}"]
    for arr in out.values():
        arr.setflags(write=False)
    return out


def load_npz_split(name, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of an ``"npz:PATH"`` dataset: standardised float32 inputs and int64 labels (copies).

    Parameters
    ----------
    name : str
        ``"npz:PATH"``.
    split : {"train", "test"}

    Returns
    -------
    x : numpy.ndarray of shape (n, C, H, W) or (n, D), float32
        Standardised with the train split's per-channel (images) or per-feature (vectors)
        mean and std.
    y : numpy.ndarray of shape (n,), int64

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Any check of the module notes fails (one line, naming the array).
    """
    path = npz_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"The npz dataset file {path} does not exist.")
    st = os.stat(path)
    arrays = _load(str(path), st.st_mtime_ns, st.st_size)
    return np.array(arrays[f"x_{split}"]), np.array(arrays[f"y_{split}"])


def npz_source(name) -> dict:
    """What a run records about an npz dataset: ``{"path", "sha256", "bytes"}``."""
    path = npz_path(name)
    if not path.is_file():
        return {"path": str(path), "sha256": None, "bytes": None}
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return {"path": str(path), "sha256": h.hexdigest(), "bytes": path.stat().st_size}
