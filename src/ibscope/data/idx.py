"""IDX files (the MNIST format): parsing, reading (raw or gzip) and MD5 checksums."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

# IDX type codes -> big-endian numpy dtypes.
_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


class ChecksumError(ValueError):
    """A file's MD5 checksum differs from the published one."""


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
    buf = memoryview(data).cast("B")
    if len(buf) < 4:
        raise ValueError(
            f"IDX file {source} is too short to hold a header: {len(buf)} bytes, need at least 4. "
            "The file is truncated or not an IDX file; delete it and download it again."
        )
    if buf[0] != 0 or buf[1] != 0:
        hint = " It looks gzip-compressed but could not be read as gzip." if bytes(buf[:2]) == _GZIP_MAGIC else ""
        raise ValueError(
            f"IDX file {source} has a wrong magic number 0x{bytes(buf[:4]).hex()}: the first two "
            f"bytes must be zero (0x0000TTDD).{hint} This is not an IDX file."
        )
    code, ndim = buf[2], buf[3]
    if code not in _IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(
            f"IDX file {source} has an unknown data type code 0x{code:02X} in its magic number "
            f"0x{bytes(buf[:4]).hex()}; valid codes are {valid}."
        )
    if ndim == 0:
        raise ValueError(f"IDX file {source} declares 0 dimensions; at least 1 is needed.")
    header_len = 4 + 4 * ndim
    if len(buf) < header_len:
        raise ValueError(
            f"IDX file {source} is truncated inside its header: it declares {ndim} dimensions "
            f"({header_len} header bytes) but has only {len(buf)} bytes."
        )
    shape = tuple(int(s) for s in np.frombuffer(buf[4:header_len], dtype=">u4"))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(buf) - header_len
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise ValueError(
            f"IDX file {source} is {what}: the header declares shape {shape} of {dtype.name} "
            f"({expected} payload bytes) but the payload has {got} bytes. "
            "Delete the file and download it again."
        )
    arr = np.frombuffer(buf[header_len:], dtype=dtype).reshape(shape)
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


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
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


def file_md5(path: str | os.PathLike[str]) -> str:
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
