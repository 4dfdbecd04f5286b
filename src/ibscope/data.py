"""Image datasets for information-bottleneck runs: MNIST, Fashion-MNIST and scikit-learn digits.

Three datasets are known by name:

``"mnist"``
    LeCun & Cortes' handwritten digits, 60 000 train and 10 000 test images of 28x28 pixels.
``"fashion-mnist"``
    Zalando's clothing images, same format and split sizes as MNIST.
``"digits"``
    scikit-learn's bundled 8x8 handwritten digits (1797 images, no download). Used as the
    embedded default because it needs neither network nor disk.

MNIST and Fashion-MNIST come as IDX files (optionally gzip-compressed). :func:`read_idx` parses
them with full header checks; :func:`download_dataset` fetches them from the official mirrors and
checks each file against its published MD5 checksum; :func:`load_dataset` returns float images in
[0, 1] and int64 labels, downloading into a cache folder when needed.

Where files are cached
----------------------
``cache_dir`` argument, else the ``IBSCOPE_DATA`` environment variable, else
``~/.cache/ibscope/data``. Each dataset sits in a sub-folder named after it
(``<cache>/mnist/train-images-idx3-ubyte.gz`` ...). A read-only folder with that layout whose files
pass the checksum works as a cache as well, so ``IBSCOPE_DATA=/path/to/shared/data`` avoids any
download. ``data_dir`` points at one dataset's folder directly and never downloads.

Examples
--------
>>> from ibscope.data import load_dataset, make_dataloader, probe_set
>>> x, y = load_dataset("digits", "train")           # (1437, 1, 8, 8) float32, (1437,) int64
>>> loader = make_dataloader(x, y, batch_size=256, shuffle=True, random_state=0,
...                          normalize="digits")
>>> probe = probe_set("digits")                       # all 360 test images, file order
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._random import make_rng, resolve_seed
from ._validation import check_choice, check_int

__all__ = [
    "DATASETS",
    "NORMALIZATION",
    "MNIST_MEAN",
    "MNIST_STD",
    "DIGITS_TEST_FRACTION",
    "DIGITS_SPLIT_SEED",
    "ChecksumError",
    "DownloadError",
    "ProbeSet",
    "available_datasets",
    "get_cache_dir",
    "read_idx",
    "parse_idx",
    "file_md5",
    "download_file",
    "download_dataset",
    "load_dataset",
    "normalize",
    "make_dataloader",
    "probe_set",
]

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

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

# IDX type codes -> big-endian numpy dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16


class ChecksumError(ValueError):
    """A file's MD5 checksum differs from the published one."""


class DownloadError(OSError):
    """No mirror delivered a file with the expected checksum."""


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset` and :func:`probe_set`."""
    return list(_ALL_NAMES)


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(
            f"The 'name' argument must be a dataset name (str), one of {list(_ALL_NAMES)}. "
            f"Got {name!r} of type {type(name).__name__}."
        )
    key = name.strip().lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key not in _ALL_NAMES:
        raise ValueError(
            f"Unknown dataset {name!r}. Valid names are {list(_ALL_NAMES)}."
        )
    return key


def _check_split(split) -> str:
    return check_choice(split, "split", "load_dataset", _SPLITS)


# --------------------------------------------------------------------------------------------
# Cache folder
# --------------------------------------------------------------------------------------------


def get_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the folder where datasets are cached (it is not created here).

    Parameters
    ----------
    cache_dir : str, path-like or None, default=None
        Explicit folder. When None, the ``IBSCOPE_DATA`` environment variable is used if set
        and non-empty, else ``~/.cache/ibscope/data``.

    Returns
    -------
    pathlib.Path
        The expanded, absolute cache folder.
    """
    if cache_dir is None:
        env = os.environ.get("IBSCOPE_DATA", "").strip()
        cache_dir = env if env else Path("~") / ".cache" / "ibscope" / "data"
    return Path(cache_dir).expanduser().resolve()


# --------------------------------------------------------------------------------------------
# IDX parsing
# --------------------------------------------------------------------------------------------


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file.

    Parameters
    ----------
    data : bytes
        Whole file content: 4-byte magic ``00 00 <type> <ndim>``, ``ndim`` big-endian uint32
        sizes, then the payload in row-major order.
    source : str, default="<bytes>"
        Name used in error messages (usually the file path).

    Returns
    -------
    numpy.ndarray
        Array of shape given by the header, in the native byte order of its type
        (uint8 for MNIST images and labels).

    Raises
    ------
    ValueError
        Wrong magic number, unknown type code, header shorter than announced, or payload length
        different from the product of the sizes.
    """
    data = memoryview(data).cast("B")
    if len(data) < 4:
        raise ValueError(
            f"IDX file {source} is too short to hold a header: {len(data)} bytes, need at least 4. "
            "The file is truncated or not an IDX file; delete it and download it again."
        )
    if data[0] != 0 or data[1] != 0:
        hint = " It looks gzip-compressed but could not be read as gzip." if bytes(data[:2]) == _GZIP_MAGIC else ""
        raise ValueError(
            f"IDX file {source} has a wrong magic number 0x{bytes(data[:4]).hex()}: the first two "
            f"bytes must be zero (0x0000TTDD).{hint} This is not an IDX file."
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(
            f"IDX file {source} has an unknown data type code 0x{code:02X} in its magic number "
            f"0x{bytes(data[:4]).hex()}; valid codes are {valid}."
        )
    if ndim == 0:
        raise ValueError(f"IDX file {source} declares 0 dimensions; at least 1 is needed.")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"IDX file {source} is truncated inside its header: it declares {ndim} dimensions "
            f"({header_len} header bytes) but has only {len(data)} bytes."
        )
    shape = tuple(int(s) for s in np.frombuffer(data[4:header_len], dtype=">u4"))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header_len
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise ValueError(
            f"IDX file {source} is {what}: the header declares shape {shape} of {dtype.name} "
            f"({expected} payload bytes) but the payload has {got} bytes. "
            "Delete the file and download it again."
        )
    arr = np.frombuffer(data[header_len:], dtype=dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _read_bytes(path: Path) -> bytes:
    """Read a file, transparently decompressing gzip (detected by magic bytes)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
            fh.seek(0)
            if head == _GZIP_MAGIC:
                try:
                    with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                        return gz.read()
                except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                    raise ValueError(
                        f"Gzip file {path} is corrupt or truncated ({type(exc).__name__}: {exc}). "
                        "Delete it and download it again."
                    ) from exc
            if path.name.endswith(".gz"):
                raise ValueError(
                    f"File {path} ends in .gz but is not gzip-compressed (first bytes "
                    f"0x{head.hex()}, expected 0x1f8b). It is corrupt or mislabelled."
                )
            return fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"IDX file {path} does not exist.") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST format), gzip-compressed or raw.

    Parameters
    ----------
    path : str or path-like
        File to read. Gzip compression is detected from the file's first two bytes.

    Returns
    -------
    numpy.ndarray
        The stored array, e.g. uint8 of shape (60000, 28, 28) for MNIST train images and
        (60000,) for its labels.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Corrupt or truncated gzip stream, wrong magic number, unknown type code, or payload
        length that does not match the header. The message names the file.
    """
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


# --------------------------------------------------------------------------------------------
# Checksums and download
# --------------------------------------------------------------------------------------------


def file_md5(path: str | os.PathLike) -> str:
    """Hex MD5 digest of a file, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_md5(path: Path, expected: str) -> None:
    got = file_md5(path)
    if got != expected:
        raise ChecksumError(
            f"Checksum mismatch for {path}: MD5 is {got}, expected {expected}. The file is corrupt "
            "or not the official one; delete it to download it again, or pass verify=False to "
            "skip the check."
        )


def _open_url(url: str, timeout: float):
    """Open ``url`` for reading (single seam that tests replace to avoid the network)."""
    request = urllib.request.Request(url, headers={"User-Agent": "ibscope"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (fixed https/http URLs)


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    md5: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download one URL to ``dest`` atomically, checking its MD5.

    The bytes go to a temporary file in ``dest``'s folder; only when the download is complete
    and the checksum matches is it renamed onto ``dest`` (``os.replace``), so an interrupted or
    corrupted download never leaves a half-written file under the final name.

    Parameters
    ----------
    url : str
        Address to fetch.
    dest : str or path-like
        Final file path; its folder is created if missing.
    md5 : str or None, default=None
        Expected hex MD5 digest; None skips the check.
    timeout : float, default=60.0
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    ChecksumError
        The downloaded bytes have a different MD5 (the temporary file is removed).
    OSError
        Network or file-system failure (``urllib.error.URLError`` is an ``OSError``).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, _open_url(url, timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if md5 is not None and h.hexdigest() != md5:
            raise ChecksumError(
                f"Checksum mismatch for {url}: MD5 of the downloaded bytes is {h.hexdigest()}, "
                f"expected {md5}. The mirror served a corrupt or different file."
            )
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def download_dataset(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    splits=("train", "test"),
    mirrors=None,
    force: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download MNIST or Fashion-MNIST into the cache folder, checking every MD5.

    Mirrors are tried in order for each file; a file already present with the right checksum
    is not fetched again.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
        Dataset to fetch.
    cache_dir : str, path-like or None, default=None
        Cache root (see :func:`get_cache_dir`); files go to ``<cache_dir>/<name>/``.
    splits : iterable of {"train", "test"}, default=("train", "test")
        Which splits to fetch.
    mirrors : sequence of str or None, default=None
        Base URLs (ending in "/") to try in order; None uses the official ones in
        ``DATASETS[name].mirrors``.
    force : bool, default=False
        Download even when a verified file is already present.
    timeout : float, default=60.0
        Socket timeout in seconds for each attempt.

    Returns
    -------
    pathlib.Path
        The dataset folder ``<cache_dir>/<name>``.

    Raises
    ------
    ValueError
        ``name`` is not a downloadable dataset.
    DownloadError
        Every mirror failed for some file; the message lists each mirror's error.
    """
    key = _check_name(name)
    if key not in DATASETS:
        raise ValueError(
            f"Dataset {name!r} is not downloadable; downloadable datasets are {sorted(DATASETS)} "
            "('digits' ships with scikit-learn)."
        )
    spec = DATASETS[key]
    mirrors = tuple(spec.mirrors if mirrors is None else mirrors)
    if not mirrors:
        raise ValueError("The 'mirrors' argument of download_dataset is empty; pass at least one base URL.")
    folder = get_cache_dir(cache_dir) / key
    for split in splits:
        _check_split(split)
        for f in spec.files[split]:
            dest = folder / f"{f.name}.gz"
            if not force and dest.exists() and file_md5(dest) == f.md5_gz:
                continue
            errors = []
            for base in mirrors:
                url = base + f"{f.name}.gz"
                try:
                    download_file(url, dest, md5=f.md5_gz, timeout=timeout)
                    break
                except (OSError, ChecksumError) as exc:
                    errors.append(f"  {url}: {type(exc).__name__}: {exc}")
            else:
                raise DownloadError(
                    f"Could not download {f.name}.gz of {key} from any of {len(mirrors)} mirror(s):\n"
                    + "\n".join(errors)
                    + f"\nDownload the files by hand into {folder}, or pass data_dir= pointing at "
                    "a folder that holds them."
                )
    return folder


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


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
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of a dataset as float images in [0, 1] and integer labels.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "digits"}
        Dataset name (case-insensitive; "_" is accepted for "-").
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
    key = _check_name(name)
    split = _check_split(split)
    if key == "digits":
        return _load_digits(split)

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
    return _images_labels_from_idx(*files)


# --------------------------------------------------------------------------------------------
# Normalisation and loaders
# --------------------------------------------------------------------------------------------


def _mean_std(normalize, owner: str) -> tuple[float, float] | None:
    if normalize is None or normalize is False:
        return None
    if isinstance(normalize, str):
        key = _check_name(normalize)
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


# --------------------------------------------------------------------------------------------
# Probe set
# --------------------------------------------------------------------------------------------


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
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
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
