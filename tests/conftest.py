"""Shared test configuration: slow tests run only with --run-slow."""

import os

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
