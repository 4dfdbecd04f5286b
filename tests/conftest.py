"""Shared test configuration: slow tests run only with --run-slow."""

import os

import pytest
from hypothesis import settings

# property-based tests: a quick default profile, a thorough one with --run-slow
settings.register_profile("default", max_examples=25, derandomize=True)
settings.register_profile("slow", max_examples=300, derandomize=True)
settings.load_profile("default")

# keep the suite light on the 2-core CI machine
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session", autouse=True)
def _compiled_neighbour_kernels():
    """Load (or, in a fresh environment, compile) the numba kernels once, before any test runs, so that
    every test sees the compiled backend rather than the first-call route (same values, other code), and
    the durations of the tests that follow mean something (``--durations`` lists this fixture's setup)."""
    from ibscope.neighbors import warm_up

    warm_up()


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config):
    if config.getoption("--run-slow"):
        settings.load_profile("slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
