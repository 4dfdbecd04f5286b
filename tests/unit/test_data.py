"""Tests for ibscope.data: IDX parsing, checksums, download (no network), loaders, probe sets."""

from __future__ import annotations

import gzip
import hashlib
import re
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from ibscope import data as D
from ibscope.data import catalog, datasets, download

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ------------------------------------------------------------------------------------------ helpers


def idx_bytes(arr: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}
    arr = np.asarray(arr)
    head = bytes([0, 0, codes[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def small_split(n: int, seed: int, side: int = 28):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def fake_dataset(tmp_path: Path, name: str = "mnist", n_train: int = 12, n_test: int = 7):
    """IDX .gz bytes for a tiny fake dataset plus a matching _RemoteDataset spec."""
    blobs, files, arrays = {}, {}, {}
    for split, n, stems in (("train", n_train, ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")),
                            ("test", n_test, ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))):
        images, labels = small_split(n, seed=n)
        arrays[split] = (images, labels)
        entries = []
        for stem, arr in zip(stems, (images, labels)):
            raw = idx_bytes(arr)
            gz = gzip.compress(raw, mtime=0)
            blobs[f"{stem}.gz"] = gz
            entries.append(catalog._IdxFile(stem, md5(gz), md5(raw)))
        files[split] = tuple(entries)
    spec = catalog._RemoteDataset(mirrors=("https://mirror-a.test/", "https://mirror-b.test/"), files=files)
    return spec, blobs, arrays


class FakeResponse:
    def __init__(self, payload: bytes):
        self._payload, self._pos = payload, 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self._payload) - self._pos
        out = self._payload[self._pos:self._pos + size]
        self._pos += len(out)
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def make_opener(routes: dict, calls: list):
    """Opener serving bytes by exact URL; a route mapped to an exception raises it."""

    def opener(url, timeout):
        calls.append(url)
        served = routes.get(url)
        if served is None:
            raise urllib.error.URLError(f"no route to {url}")
        if isinstance(served, Exception):
            raise served
        return FakeResponse(served)

    return opener


# ------------------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    arr = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(arr)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    out = D.read_idx(path)
    assert out.shape == arr.shape and out.dtype == arr.dtype
    np.testing.assert_array_equal(out, arr)


def test_idx_1d_labels(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(D.read_idx(path), labels)


def test_idx_truncated_payload(tmp_path):
    raw = idx_bytes(np.zeros((4, 5, 5), dtype=np.uint8))
    path = tmp_path / "trunc-idx3-ubyte"
    path.write_bytes(raw[:-7])
    with pytest.raises(ValueError, match=r"trunc-idx3-ubyte is truncated.*shape \(4, 5, 5\).*93 bytes"):
        D.read_idx(path)


def test_idx_trailing_bytes(tmp_path):
    path = tmp_path / "long.idx"
    path.write_bytes(idx_bytes(np.zeros(3, dtype=np.uint8)) + b"xx")
    with pytest.raises(ValueError, match="longer than its header says"):
        D.read_idx(path)


def test_idx_wrong_magic(tmp_path):
    path = tmp_path / "wrong.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 2) + b"\x00\x01")
    with pytest.raises(ValueError, match=r"wrong\.idx has a wrong magic number 0x12340801"):
        D.read_idx(path)


def test_idx_unknown_type_code(tmp_path):
    path = tmp_path / "code.idx"
    path.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="unknown data type code 0x07"):
        D.read_idx(path)


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "head.idx"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 5))
    with pytest.raises(ValueError, match="truncated inside its header"):
        D.read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="too short to hold a header"):
        D.read_idx(path)


def test_gzip_truncated(tmp_path):
    gz = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "cut-idx1-ubyte.gz"
    path.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(ValueError, match=r"Gzip file .*cut-idx1-ubyte\.gz is corrupt or truncated"):
        D.read_idx(path)


def test_gzip_corrupted(tmp_path):
    gz = bytearray(gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32))))
    for i in range(20, 40):  # clobber the deflate stream (and thereby the CRC)
        gz[i] ^= 0xFF
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(gz))
    with pytest.raises(ValueError, match=r"bad\.gz is corrupt or truncated"):
        D.read_idx(path)


def test_gz_name_not_gzip(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(idx_bytes(np.zeros(2, dtype=np.uint8)))
    with pytest.raises(ValueError, match=r"plain\.gz ends in \.gz but is not gzip-compressed"):
        D.read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.read_idx(tmp_path / "nope.gz")


# ------------------------------------------------------------------------------------------ names, cache dir


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match=re.escape("Valid names are ['mnist', 'fashion-mnist', 'digits']")):
        D.load_dataset("cifar10")
    with pytest.raises(ValueError, match="'split' parameter of load_dataset must be one of"):
        D.load_dataset("digits", "validation")
    assert D.available_datasets() == ["mnist", "fashion-mnist", "digits"]


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("IBSCOPE_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.get_cache_dir() == (tmp_path / "home" / ".cache" / "ibscope" / "data").resolve()
    monkeypatch.setenv("IBSCOPE_DATA", str(tmp_path / "env"))
    assert D.get_cache_dir() == (tmp_path / "env").resolve()
    assert D.get_cache_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()


def test_official_mirrors_and_checksums():
    assert D.DATASETS["mnist"].mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert D.DATASETS["mnist"].mirrors[1] == "http://yann.lecun.com/exdb/mnist/"
    assert D.DATASETS["fashion-mnist"].mirrors == ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    assert D.DATASETS["mnist"].files["train"][0].md5_gz == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert D.DATASETS["fashion-mnist"].files["test"][1].md5_gz == "bb300cfdad3c16e7a12a480ee83cd310"


# ------------------------------------------------------------------------------------------ local folders and checksums


def write_folder(folder: Path, blobs: dict, *, raw: bool = False):
    folder.mkdir(parents=True, exist_ok=True)
    for fname, gz in blobs.items():
        if raw:
            (folder / fname[:-3]).write_bytes(gzip.decompress(gz))
        else:
            (folder / fname).write_bytes(gz)


@pytest.mark.parametrize("raw", [False, True])
def test_data_dir_reads_and_verifies(tmp_path, monkeypatch, raw):
    spec, blobs, arrays = fake_dataset(tmp_path)
    monkeypatch.setitem(D.DATASETS, "mnist", spec)
    write_folder(tmp_path / "mnist", blobs, raw=raw)
    for data_dir in (tmp_path / "mnist", tmp_path):  # the dataset folder or its parent
        x, y = D.load_dataset("mnist", "test", data_dir=data_dir)
        images, labels = arrays["test"]
        assert x.shape == (7, 1, 28, 28) and x.dtype == np.float32
        assert y.dtype == np.int64
        np.testing.assert_allclose(x[:, 0], images / 255.0, rtol=0, atol=1e-7)
        np.testing.assert_array_equal(y, labels)
        assert x.min() >= 0.0 and x.max() <= 1.0


def test_checksum_mismatch(tmp_path, monkeypatch):
    spec, blobs, _ = fake_dataset(tmp_path)
    # A different but valid file under the right name: only the checksum can tell.
    images, _ = small_split(7, seed=99)
    blobs["t10k-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images))
    monkeypatch.setitem(D.DATASETS, "mnist", spec)
    write_folder(tmp_path / "m", blobs)
    with pytest.raises(D.ChecksumError, match=r"Checksum mismatch for .*t10k-images-idx3-ubyte\.gz: MD5 is"):
        D.load_dataset("mnist", "test", data_dir=tmp_path / "m")
    assert issubclass(D.ChecksumError, ValueError)
    x, _ = D.load_dataset("mnist", "test", data_dir=tmp_path / "m", verify=False)
    assert x.shape == (7, 1, 28, 28)


def test_data_dir_missing_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="does not hold the mnist train files"):
        D.load_dataset("mnist", data_dir=tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.load_dataset("mnist", data_dir=tmp_path / "nowhere")


def test_mismatched_image_and_label_counts(tmp_path):
    img, lab = tmp_path / "i.idx", tmp_path / "l.idx"
    img.write_bytes(idx_bytes(np.zeros((3, 2, 2), dtype=np.uint8)))
    lab.write_bytes(idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(ValueError, match="disagree on the number of samples"):
        datasets._images_labels_from_idx(img, lab)


# ------------------------------------------------------------------------------------------ download (no network)


def test_download_file_atomic_and_checked(tmp_path, monkeypatch):
    payload = b"hello world" * 10000
    calls = []
    monkeypatch.setattr(download, "_open_url", make_opener({"https://x.test/f": payload}, calls))
    dest = tmp_path / "c" / "f.bin"
    D.download_file("https://x.test/f", dest, md5=md5(payload))
    assert dest.read_bytes() == payload
    with pytest.raises(D.ChecksumError, match=r"Checksum mismatch for https://x\.test/f"):
        D.download_file("https://x.test/f", tmp_path / "c" / "g.bin", md5="0" * 32)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["f.bin"]  # no partial files


def test_download_dataset_falls_back_to_next_mirror(tmp_path, monkeypatch):
    spec, blobs, arrays = fake_dataset(tmp_path)
    monkeypatch.setitem(D.DATASETS, "mnist", spec)
    routes = {"https://mirror-a.test/" + k: urllib.error.HTTPError("u", 503, "down", None, None) for k in blobs}
    routes.update({"https://mirror-b.test/" + k: v for k, v in blobs.items()})
    calls = []
    monkeypatch.setattr(download, "_open_url", make_opener(routes, calls))
    x, y = D.load_dataset("mnist", "train", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(y, arrays["train"][1])
    assert x.shape == (12, 1, 28, 28)
    folder = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert calls[0].startswith("https://mirror-a.test/") and calls[1].startswith("https://mirror-b.test/")

    # Verified files are not fetched again.
    n_calls = len(calls)
    D.load_dataset("mnist", "train", cache_dir=tmp_path / "cache")
    D.download_dataset("mnist", cache_dir=tmp_path / "cache", splits=("train",))
    assert len(calls) == n_calls


def test_download_all_mirrors_fail(tmp_path, monkeypatch):
    spec, blobs, _ = fake_dataset(tmp_path)
    monkeypatch.setitem(D.DATASETS, "mnist", spec)
    routes = {"https://mirror-b.test/" + k: b"garbage" for k in blobs}  # mirror-a: no route
    monkeypatch.setattr(download, "_open_url", make_opener(routes, []))
    with pytest.raises(D.DownloadError, match=r"(?s)Could not download train-images-idx3-ubyte\.gz of mnist "
                       r"from any of 2 mirror.*URLError.*Checksum mismatch"):
        D.load_dataset("mnist", cache_dir=tmp_path / "cache")
    leftovers = list((tmp_path / "cache" / "mnist").iterdir())
    assert leftovers == []  # neither final nor temporary files


def test_no_download_when_disabled(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_open_url", make_opener({}, []))
    with pytest.raises(FileNotFoundError, match="download=False"):
        D.load_dataset("fashion-mnist", "test", cache_dir=tmp_path, download=False)


def test_download_digits_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not downloadable"):
        D.download_dataset("digits", cache_dir=tmp_path)


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="shared/data/mnist not present")
def test_download_real_files_from_official_url(tmp_path, monkeypatch):
    """Serve the official .gz bytes under the official URLs: real checksums, no network."""
    base = D.DATASETS["mnist"].mirrors[0]
    routes = {base + p.name: p.read_bytes() for p in (SHARED_DATA / "mnist").glob("t10k-*.gz")}
    calls = []
    monkeypatch.setattr(download, "_open_url", make_opener(routes, calls))
    x, y = D.load_dataset("mnist", "test", cache_dir=tmp_path)
    assert sorted(calls) == sorted(routes)
    assert x.shape == (10000, 1, 28, 28)
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS


# ------------------------------------------------------------------------------------------ digits


def test_digits_shapes_ranges_and_determinism():
    xtr, ytr = D.load_dataset("digits", "train")
    xte, yte = D.load_dataset("digits", "test")
    assert xtr.shape == (1437, 1, 8, 8) and xte.shape == (360, 1, 8, 8)
    assert xtr.dtype == np.float32 and ytr.dtype == np.int64
    assert 0.0 == min(xtr.min(), xte.min()) and max(xtr.max(), xte.max()) == 1.0
    # Stratified: each class is ~20 % in test.
    frac = np.bincount(yte, minlength=10) / (np.bincount(yte, minlength=10) + np.bincount(ytr, minlength=10))
    assert np.all(np.abs(frac - 0.2) < 0.01)
    x2, y2 = D.load_dataset("DIGITS", "train")
    np.testing.assert_array_equal(x2, xtr)
    np.testing.assert_array_equal(y2, ytr)
    # The splits partition the 1797 images and keep scikit-learn's order.
    from sklearn.datasets import load_digits

    idx = datasets._digits_split_indices(load_digits().target)
    assert np.array_equal(np.sort(np.concatenate([idx["train"], idx["test"]])), np.arange(1797))
    assert np.all(np.diff(idx["test"]) > 0)


def test_normalisation_constants():
    assert D.MNIST_MEAN == 0.1307 and D.MNIST_STD == 0.3081
    x, _ = D.load_dataset("digits", "train")
    mean, std = D.NORMALIZATION["digits"]
    assert abs(x.mean() - mean) < 1e-3 and abs(x.std() - std) < 1e-3
    z = D.normalize(x, "digits")
    assert abs(z.mean()) < 1e-2 and abs(z.std() - 1) < 1e-2
    zt = D.normalize(torch.from_numpy(x), (0.5, 2.0))
    torch.testing.assert_close(zt, (torch.from_numpy(x) - 0.5) / 2.0)
    with pytest.raises(ValueError, match="positive std"):
        D.normalize(x, (0.0, 0.0))


# ------------------------------------------------------------------------------------------ loaders and probe set


def _order(loader):
    return torch.cat([yb for _, yb in loader])


def test_make_dataloader_seeded_shuffle():
    x = np.random.default_rng(0).random((100, 1, 8, 8), dtype=np.float32)
    y = np.arange(100)
    state = torch.get_rng_state()
    a = D.make_dataloader(x, y, batch_size=16, shuffle=True, random_state=3)
    b = D.make_dataloader(x, y, batch_size=16, shuffle=True, random_state=3)
    c = D.make_dataloader(x, y, batch_size=16, shuffle=True, random_state=4)
    ea1, ea2 = _order(a), _order(a)
    assert torch.equal(ea1, _order(b)) and torch.equal(ea2, _order(b))  # epoch by epoch
    assert not torch.equal(ea1, ea2) and not torch.equal(ea1, _order(c))
    assert torch.equal(torch.sort(ea1).values, torch.arange(100))
    assert torch.equal(state, torch.get_rng_state())  # global RNG untouched
    assert a.seed == 3

    plain = D.make_dataloader(x, y, batch_size=30, normalize=(0.5, 0.25))
    assert torch.equal(_order(plain), torch.arange(100))
    xb, yb = next(iter(plain))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64 and xb.shape == (30, 1, 8, 8)
    torch.testing.assert_close(xb, (torch.from_numpy(x[:30]) - 0.5) / 0.25)


def test_make_dataloader_validation():
    with pytest.raises(ValueError, match="same number of rows. Got 3 and 4"):
        D.make_dataloader(np.zeros((3, 1, 2, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="'batch_size' parameter of make_dataloader"):
        D.make_dataloader(np.zeros((3, 1, 2, 2)), np.zeros(3), batch_size=0)


def test_probe_set_digits():
    full = D.probe_set("digits")
    xte, yte = D.load_dataset("digits", "test")
    np.testing.assert_array_equal(full.images, xte)
    np.testing.assert_array_equal(full.indices, np.arange(360))
    images, labels, idx = D.probe_set("digits", n=50, random_state=1)
    assert images.shape == (50, 1, 8, 8) and labels.shape == (50,)
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(images, xte[idx])
    np.testing.assert_array_equal(D.probe_set("digits", n=50, random_state=1).indices, idx)
    assert not np.array_equal(D.probe_set("digits", n=50, random_state=2).indices, idx)
    strat = D.probe_set("digits", n=100, stratify=True)
    assert np.all(np.abs(np.bincount(strat.labels, minlength=10) - 10) <= 1)
    with pytest.raises(ValueError, match=r"'n' parameter of probe_set must be an int in the range \[1, 360\]"):
        D.probe_set("digits", n=361)


# ------------------------------------------------------------------------------------------ shared real data


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="shared/data/mnist not present")
def test_real_mnist_test_split():
    x, y = D.load_dataset("mnist", "test", data_dir=SHARED_DATA / "mnist")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    assert x.min() == 0.0 and x.max() == 1.0
    assert abs(x.mean() - 0.1325) < 1e-3  # MNIST test-set pixel mean
    # The shared folder also works as a read-only cache (same <root>/<name>/ layout).
    probe = D.probe_set("mnist", cache_dir=SHARED_DATA, download=False)
    np.testing.assert_array_equal(probe.labels, y)


@pytest.mark.skipif(not (SHARED_DATA / "fashion-mnist").is_dir(), reason="shared/data/fashion-mnist not present")
def test_real_fashion_mnist_test_split():
    x, y = D.load_dataset("fashion-mnist", "test", data_dir=SHARED_DATA)
    assert x.shape == (10000, 1, 28, 28)
    assert np.bincount(y).tolist() == [1000] * 10
