"""Dataset downloads: the cache folder, and files fetched from mirrors with checked MD5s."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from ..runs import atomic_open
from .catalog import DATASETS, _check_split, dataset_name
from .idx import ChecksumError, file_md5

_CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror delivered a file with the expected checksum."""


def get_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
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


def _open_url(url: str, timeout: float):
    """Open ``url`` for reading (single seam that tests replace to avoid the network)."""
    request = urllib.request.Request(url, headers={"User-Agent": "ibscope"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (fixed https/http URLs)


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download one URL to ``dest`` atomically, checking its MD5.

    The bytes go to a temporary file in ``dest``'s folder (:func:`ibscope.runs.atomic_open`);
    only when the download is complete and the checksum matches is it renamed onto ``dest``
    (``os.replace``), so an interrupted or corrupted download never leaves a half-written file
    under the final name.

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
    h = hashlib.md5(usedforsecurity=False)
    with atomic_open(dest, "wb", suffix=".part") as out:
        with _open_url(url, timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
        if md5 is not None and h.hexdigest() != md5:  # raising here removes the temporary file
            raise ChecksumError(
                f"Checksum mismatch for {url}: MD5 of the downloaded bytes is {h.hexdigest()}, "
                f"expected {md5}. The mirror served a corrupt or different file."
            )
    return dest


def download_dataset(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
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
    key = dataset_name(name)
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
