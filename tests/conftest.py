"""Shared test configuration: slow tests run only with --run-slow."""

import os
from pathlib import Path

import numpy as np
import pytest

# keep the suite light on the 2-core CI machine
os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def shared_data_dir():
    """``../shared/data`` beside the repository (present for developers and CI), else skip."""
    here = Path(__file__).resolve().parents[1]
    for cand in (here.parent / "shared" / "data", here / "shared" / "data"):
        if cand.is_dir():
            return cand
    pytest.skip("shared/data not found beside the repository")
