"""The datasets known by name: their official mirrors, file names and published checksums."""

from __future__ import annotations

from dataclasses import dataclass

from .._validation import check_choice
from .npz import is_npz_name, npz_name

_SPLITS = ("train", "test")


@dataclass(frozen=True)
class _IdxFile:
    name: str  # file name without ".gz"
    md5_gz: str  # MD5 of the official .gz file
    md5_raw: str  # MD5 of the decompressed IDX file


@dataclass(frozen=True)
class _RemoteDataset:
    mirrors: tuple[str, ...]
    files: dict[str, tuple[_IdxFile, _IdxFile]]  # split -> (images, labels)


# Checksums: the published MD5s of the official files (see shared/data/README.md).
DATASETS: dict[str, _RemoteDataset] = {
    "mnist": _RemoteDataset(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        files={
            "train": (
                _IdxFile("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                         "6bbc9ace898e44ae57da46a324031adb"),
                _IdxFile("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432",
                         "a25bea736e30d166cdddb491f175f624"),
            ),
            "test": (
                _IdxFile("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3",
                         "2646ac647ad5339dbf082846283269ea"),
                _IdxFile("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c",
                         "27ae3e4e09519cfbb04c329615203637"),
            ),
        },
    ),
    "fashion-mnist": _RemoteDataset(
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        files={
            "train": (
                _IdxFile("train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                         "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
                _IdxFile("train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe",
                         "9018921c3c673c538a1fc5bad174d6f9"),
            ),
            "test": (
                _IdxFile("t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79",
                         "8181f5470baa50b63fa0f6fddb340f0a"),
                _IdxFile("t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310",
                         "15d484375f8d13e6eb1aabb0c3f46965"),
            ),
        },
    ),
}

_ALL_NAMES = ("mnist", "fashion-mnist", "digits")


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset` and :func:`probe_set`."""
    return list(_ALL_NAMES)


def dataset_name(name) -> str:
    """Canonical name of a dataset: ``"mnist"``, ``"fashion-mnist"`` or ``"digits"``.

    Parameters
    ----------
    name : str
        A dataset name, case-insensitive, with "_" accepted for "-" (and
        "fashionmnist" for "fashion-mnist"); surrounding spaces are ignored.

    Returns
    -------
    str
        The canonical name, one of :func:`available_datasets`, or ``"npz:/absolute/path.npz"``
        for an ``"npz:PATH"`` name (see :mod:`ibscope.data.npz`).

    Raises
    ------
    TypeError
        ``name`` is not a string.
    ValueError
        ``name`` is not a known dataset.
    """
    if not isinstance(name, str):
        raise TypeError(
            f"The 'name' argument must be a dataset name (str), one of {list(_ALL_NAMES)}. "
            f"Got {name!r} of type {type(name).__name__}."
        )
    if is_npz_name(name):
        return npz_name(name)  # a dataset of your own (see ibscope.data.npz)
    key = name.strip().lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key not in _ALL_NAMES:
        raise ValueError(
            f"Unknown dataset {name!r}. Valid names are {list(_ALL_NAMES)}, or 'npz:PATH' for arrays of your own."
        )
    return key


def _check_split(split) -> str:
    return check_choice(split, "split", "load_dataset", _SPLITS)
