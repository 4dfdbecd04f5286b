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
them with full header checks (:mod:`ibscope.data.idx`); :func:`download_dataset` fetches them from
the official mirrors and checks each file against its published MD5 checksum
(:mod:`ibscope.data.download`; names, mirrors and checksums in :mod:`ibscope.data.catalog`);
:func:`load_dataset` returns float images in [0, 1] and int64 labels, downloading into a cache
folder when needed (:mod:`ibscope.data.datasets`, with :func:`normalize`, :func:`make_dataloader`
and :func:`probe_set`).

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

from .catalog import DATASETS, available_datasets, dataset_name
from .datasets import (
    DIGITS_SPLIT_SEED,
    DIGITS_TEST_FRACTION,
    MNIST_MEAN,
    MNIST_STD,
    NORMALIZATION,
    ProbeSet,
    load_dataset,
    make_dataloader,
    normalize,
    probe_set,
)
from .download import DownloadError, download_dataset, download_file, get_cache_dir
from .idx import ChecksumError, file_md5, parse_idx, read_idx

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
    "dataset_name",
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

