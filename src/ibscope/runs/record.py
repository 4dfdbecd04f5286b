"""The environment record written with every result: package versions and UTC timestamps."""

from __future__ import annotations

import datetime as _dt
import platform
from importlib import metadata

#: Distributions whose versions shape the numbers, in the order they are recorded.
PACKAGES = ("ibscope", "numpy", "scipy", "scikit-learn", "torch", "matplotlib", "pandas", "numba")


def package_versions() -> dict[str, str | None]:
    """``{"python": ..., "ibscope": ..., "numpy": ..., ...}`` read from package metadata.

    Nothing heavy is imported (torch's version comes from its metadata), and a
    package that is not installed gets ``None``.
    """
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in PACKAGES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def utc_now() -> str:
    """UTC time in ISO 8601 without colons (safe in file names), e.g. ``2026-01-31T120501Z``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
