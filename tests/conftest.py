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
def _compiled_kernels():
    """Compile (or load from the cache) the neighbour-search kernels once, before the first test.

    A cold cache costs the first estimate about a minute on 2 cores; paying it here keeps the
    durations of the tests that follow meaningful (``--durations`` lists this fixture's setup).
    """
    import numpy as np

    from ibscope import neighbors

    if hasattr(neighbors, "warm_up"):
        neighbors.warm_up()
    else:  # the estimators the suite uses most, on tiny data
        import ibscope

        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((2, 200, 2))
        for est in ("ksg", "kl", "wkl"):
            ibscope.mutual_information(x, y, estimator=est, random_state=0)
        ibscope.mutual_information(x, (x[:, 0] > 0).astype(int), y_discrete=True, random_state=0)
    yield


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
