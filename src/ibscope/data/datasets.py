"""Loading datasets as arrays, normalising them, torch loaders and fixed probe sets."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._random import make_rng, resolve_seed
from .._validation import check_int
from .catalog import DATASETS, _check_split, _IdxFile, dataset_name
from .download import download_dataset, get_cache_dir
from .idx import _check_md5, read_idx
from .npz import is_npz_name, load_npz_split

#: Mean and standard deviation of MNIST train pixels scaled to [0, 1] (the paper's constants).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

#: Per-dataset ``(mean, std)`` of train-split pixels in [0, 1], for input standardisation.
#: MNIST uses the paper's rounded values; the others were computed on their train split.
NORMALIZATION: dict[str, tuple[float, float]] = {
    "mnist": (MNIST_MEAN, MNIST_STD),
    "fashion-mnist": (0.2860, 0.3530),
    "digits": (0.3054, 0.3761),
}

#: Fraction of scikit-learn digits held out as the test split (stratified by class).
DIGITS_TEST_FRACTION = 0.2
#: Fixed seed of the digits train/test split, so every run sees the same split.
DIGITS_SPLIT_SEED = 0


def _locate(folder: Path, f: _IdxFile) -> tuple[Path, bool] | None:
    """Find ``f`` in ``folder`` as .gz or raw file; return (path, is_gz)."""
    dotted = f.name.replace("-idx", ".idx", 1)  # "train-images.idx3-ubyte" spelling
    for stem in (f.name, dotted):
        gz = folder / f"{stem}.gz"
        if gz.is_file():
            return gz, True
        raw = folder / stem
        if raw.is_file():
            return raw, False
    return None


def _load_split_files(folder: Path, key: str, split: str, *, verify: bool) -> tuple[Path, Path] | None:
    found = []
    for f in DATASETS[key].files[split]:
        loc = _locate(folder, f)
        if loc is None:
            return None
        path, is_gz = loc
        if verify:
            _check_md5(path, f.md5_gz if is_gz else f.md5_raw)
        found.append(path)
    return found[0], found[1]


def _images_labels_from_idx(img_path: Path, lab_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(img_path)
    labels = read_idx(lab_path)
    if images.ndim != 3:
        raise ValueError(
            f"IDX image file {img_path} must hold a 3-D array (n, rows, cols); got shape {images.shape}."
        )
    if labels.ndim != 1:
        raise ValueError(f"IDX label file {lab_path} must hold a 1-D array (n,); got shape {labels.shape}.")
    if len(images) != len(labels):
        raise ValueError(
            f"Image and label files disagree on the number of samples: {img_path} has {len(images)}, "
            f"{lab_path} has {len(labels)}."
        )
    x = images.astype(np.float32)
    x /= np.float32(255.0) if images.dtype == np.uint8 else np.float32(1.0)
    return x[:, None, :, :], labels.astype(np.int64)


def _digits_split_indices(y: np.ndarray) -> dict[str, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    train, test = train_test_split(
        idx, test_size=DIGITS_TEST_FRACTION, stratify=y, random_state=DIGITS_SPLIT_SEED
    )
    return {"train": np.sort(train), "test": np.sort(test)}


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0)
    labels = np.asarray(bunch.target, dtype=np.int64)
    return images, labels, _digits_split_indices(labels)


def _load_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels, splits = _digits_arrays()
    idx = splits[split]
    # Fancy indexing copies, so callers never share (or mutate) the cached arrays.
    return np.ascontiguousarray(images[idx][:, None, :, :]), labels[idx]


def load_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of a dataset as float images in [0, 1] and integer labels.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "digits"} or "npz:PATH"
        Dataset name (case-insensitive; "_" is accepted for "-"), or ``"npz:PATH"``: a .npz
        file of your own with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``, checked
        and returned **standardised** with the train split's statistics (see
        :mod:`ibscope.data.npz`; ``data_dir``, ``cache_dir``, ``download`` and ``verify`` are
        ignored for it).
    split : {"train", "test"}, default="train"
        Which split. For "digits", which has no official split, a fixed stratified split holds
        out ``DIGITS_TEST_FRACTION`` (20 %) of each class as "test", drawn with seed
        ``DIGITS_SPLIT_SEED`` (0); both parts keep scikit-learn's original order.
    data_dir : str, path-like or None, default=None
        Existing folder holding the four IDX files (``.gz`` or raw; a sub-folder named after
        the dataset is also searched). Nothing is downloaded. Ignored for "digits".
    cache_dir : str, path-like or None, default=None
        Cache root, see :func:`get_cache_dir`; used when ``data_dir`` is None.
    download : bool, default=True
        Download missing files into the cache. When False and files are missing, raise.
    verify : bool, default=True
        Check every file's MD5 against the published checksum before reading (the ``.gz``
        checksum for compressed files, the decompressed one for raw files).

    Returns
    -------
    images : numpy.ndarray of shape (n, 1, H, W), float32
        Pixel intensities in [0, 1]; H = W = 28 for MNIST / Fashion-MNIST (n = 60000 train,
        10000 test), H = W = 8 for digits (n = 1437 train, 360 test).
    labels : numpy.ndarray of shape (n,), int64
        Class labels 0..9.

    Raises
    ------
    ValueError
        Unknown dataset name or split, corrupt file, or checksum mismatch (:class:`ChecksumError`).
    FileNotFoundError
        Files are missing and ``download=False`` or ``data_dir`` lacks them.
    DownloadError
        Downloading failed from every mirror.
    """
    key = dataset_name(name)
    split = _check_split(split)
    if key == "digits":
        return _load_digits(split)
    if is_npz_name(key):
        return load_npz_split(key, split)

    if data_dir is not None:
        base = Path(data_dir).expanduser()
        if not base.is_dir():
            raise FileNotFoundError(f"The 'data_dir' folder {base} does not exist.")
        for folder in (base, base / key):
            files = _load_split_files(folder, key, split, verify=verify)
            if files is not None:
                return _images_labels_from_idx(*files)
        wanted = [f.name + "[.gz]" for f in DATASETS[key].files[split]]
        raise FileNotFoundError(
            f"The 'data_dir' folder {base} (or {base / key}) does not hold the {key} {split} files "
            f"{wanted}. Point data_dir at the folder that holds them, or leave it None to use the cache."
        )

    folder = get_cache_dir(cache_dir) / key
    files = _load_split_files(folder, key, split, verify=verify) if folder.is_dir() else None
    if files is None:
        if not download:
            raise FileNotFoundError(
                f"The {key} {split} files are not in the cache folder {folder} and download=False. "
                "Pass download=True, set cache_dir or IBSCOPE_DATA, or pass data_dir."
            )
        download_dataset(key, cache_dir=cache_dir, splits=(split,))
        files = _load_split_files(folder, key, split, verify=verify)
        if files is None:  # pragma: no cover - download_dataset raises when it cannot fetch a file
            raise FileNotFoundError(f"The {key} {split} files are still not in the cache folder {folder} after "
                                    "downloading them.")
    return _images_labels_from_idx(*files)


def _mean_std(normalize, owner: str) -> tuple[float, float] | None:
    if normalize is None or normalize is False:
        return None
    if isinstance(normalize, str):
        key = dataset_name(normalize)
        if is_npz_name(key):
            return 0.0, 1.0  # npz datasets are standardised when loaded (see ibscope.data.npz)
        return NORMALIZATION[key]
    try:
        mean, std = (float(v) for v in normalize)
    except (TypeError, ValueError):
        raise TypeError(
            f"The 'normalize' argument of {owner} must be None, a dataset name or a (mean, std) pair. "
            f"Got {normalize!r}."
        ) from None
    if not np.isfinite(mean) or not np.isfinite(std) or std <= 0:
        raise ValueError(
            f"The 'normalize' argument of {owner} needs a finite mean and a positive std. Got ({mean}, {std})."
        )
    return mean, std


def normalize(images, stats="mnist"):
    """Standardise images: ``(images - mean) / std``.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor of shape (n, 1, H, W)
        Pixels in [0, 1].
    stats : str or (float, float), default="mnist"
        A dataset name (its ``NORMALIZATION`` entry) or an explicit ``(mean, std)`` pair.
        For an ``"npz:PATH"`` name the mean is 0 and the std 1 (its arrays are standardised
        when they are loaded).

    Returns
    -------
    Same type as ``images``
        A new float array or tensor (the input is not modified).
    """
    mean, std = _mean_std(stats, "normalize")
    if hasattr(images, "detach"):
        return (images - mean) / std
    arr = np.asarray(images, dtype=np.float32)
    return (arr - np.float32(mean)) / np.float32(std)


def make_dataloader(
    images,
    labels,
    *,
    batch_size: int = 1024,
    shuffle: bool = False,
    random_state=0,
    normalize=None,
    drop_last: bool = False,
    num_workers: int = 0,
    device=None,
):
    """Wrap images and labels in a torch ``DataLoader`` with seeded shuffling.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor of shape (n, C, H, W)
        Inputs (converted to float32).
    labels : numpy.ndarray or torch.Tensor of shape (n,)
        Integer class labels (converted to int64).
    batch_size : int, default=1024
        Samples per batch (the paper uses 1024 for training and 2048 for evaluation).
    shuffle : bool, default=False
        Reshuffle each epoch. The order comes from a private ``torch.Generator`` seeded with
        ``random_state``, so the sequence of epochs is reproducible and the global torch seed is
        neither used nor changed. Keep False for probe passes, so that rows stay aligned.
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the shuffling generator (None draws one from OS entropy).
    normalize : None, str or (float, float), default=None
        Standardise inputs once up front: a dataset name (e.g. "mnist" for mean 0.1307,
        std 0.3081) or an explicit ``(mean, std)``. None leaves the inputs as they are.
    drop_last : bool, default=False
        Drop the last incomplete batch.
    num_workers : int, default=0
        Worker processes (0 loads in the main process, best for in-memory tensors).
    device : str, torch.device or None, default=None
        Move the whole dataset to this device once (e.g. "cuda"), so batches need no copy.

    Returns
    -------
    torch.utils.data.DataLoader
        Yields ``(x, y)`` batches of shapes (b, C, H, W) float32 and (b,) int64. The seed used is
        stored as ``loader.seed``.
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    check_int(batch_size, "batch_size", "make_dataloader", low=1)
    check_int(num_workers, "num_workers", "make_dataloader", low=0)
    x = torch.as_tensor(np.asarray(images) if not hasattr(images, "detach") else images).float()
    y = torch.as_tensor(np.asarray(labels) if not hasattr(labels, "detach") else labels).long()
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            "The 'images' and 'labels' arguments of make_dataloader must have the same number of "
            f"rows. Got {x.shape[0]} and {y.shape[0]}."
        )
    if y.ndim != 1:
        raise ValueError(f"The 'labels' argument of make_dataloader must be 1-D. Got shape {tuple(y.shape)}.")
    stats = _mean_std(normalize, "make_dataloader")
    if stats is not None:
        x = (x - stats[0]) / stats[1]
    if device is not None:
        x, y = x.to(device), y.to(device)
    seed = resolve_seed(random_state)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        TensorDataset(x, y),
        batch_size=batch_size,
        shuffle=bool(shuffle),
        generator=generator,
        drop_last=drop_last,
        num_workers=num_workers,
    )
    loader.seed = seed
    return loader


class ProbeSet(NamedTuple):
    """A fixed probe set: ``images, labels, indices = probe_set(...)``.

    Attributes
    ----------
    images : numpy.ndarray of shape (n, 1, H, W), float32 in [0, 1]
    labels : numpy.ndarray of shape (n,), int64
    indices : numpy.ndarray of shape (n,), int64
        Positions of the rows in the full split, increasing.
    """

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray


def probe_set(
    name: str,
    split: str = "test",
    n: int | None = None,
    random_state=0,
    *,
    stratify: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
) -> ProbeSet:
    """Fixed, unshuffled probe set on which layer activations are captured each epoch.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "digits"}
        Dataset name.
    split : {"train", "test"}, default="test"
        Split to draw from (the paper probes the 10 000 MNIST test images).
    n : int or None, default=None
        Number of images. None takes the whole split in file order.
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the subset draw when ``n`` is smaller than the split; the same seed always gives
        the same rows.
    stratify : bool, default=False
        Draw the subset with (as nearly as possible) the split's class proportions.
    data_dir, cache_dir, download, verify
        As in :func:`load_dataset`.

    Returns
    -------
    ProbeSet
        ``(images, labels, indices)``; rows are in increasing ``indices`` order, never shuffled,
        so X, every layer L and Y stay aligned when passed through an unshuffled loader.
    """
    images, labels = load_dataset(
        name, split, data_dir=data_dir, cache_dir=cache_dir, download=download, verify=verify
    )
    total = len(labels)
    if n is None or n == total:
        idx = np.arange(total, dtype=np.int64)
    else:
        n = check_int(n, "n", "probe_set", low=1, high=total,
                      hint=f"The {name} {split} split has {total} images.")
        rng, seed = make_rng(random_state)
        if stratify:
            from sklearn.model_selection import train_test_split

            n_classes = len(np.unique(labels))
            if n < n_classes:
                raise ValueError(
                    f"The 'n' parameter of probe_set must be at least the number of classes "
                    f"({n_classes}) when stratify=True. Got {n} instead."
                )

            idx, _ = train_test_split(
                np.arange(total), train_size=n, stratify=labels, random_state=seed
            )
        else:
            idx = rng.choice(total, size=n, replace=False)
        idx = np.sort(np.asarray(idx, dtype=np.int64))
    return ProbeSet(np.ascontiguousarray(images[idx]), labels[idx], idx)
