"""The first-call route: while the numba kernels compile, neighbour searches run on the "kdtree" backend,
which must return the compiled backend's values bit for bit (Euclidean ones included), and the switch
between the two routes must follow the compilation's state."""

from __future__ import annotations

import os

import numpy as np
import pytest

import ibscope
from ibscope import neighbors
from ibscope.neighbors import _numba, _scipy, _tree, _warm


def _sample(kind: str, n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "ties":  # many duplicate points and equal distances
        return rng.integers(0, 3, size=(n, d)).astype(float)
    if kind == "grid":  # equal coordinate gaps
        return np.round(rng.standard_normal((n, d)), 1)
    if kind == "scales":  # columns from 1e-3 to 1e3
        return rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-3, 3, d)
    return rng.standard_normal((n, d))


KINDS = ["gauss", "ties", "grid", "scales"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("d", [1, 2, 4, 5, 8, 13, 20])
def test_knn_and_counts_bit_identical_to_compiled(kind, d):
    x = _sample(kind, 300, d, seed=d)
    rng = np.random.default_rng(d)
    for metric in ("chebyshev", "euclidean"):
        for k in (1, 4):
            got = neighbors.knn(x, k, metric=metric, backend="kdtree")
            ref = neighbors.knn(x, k, metric=metric, backend="numba")
            np.testing.assert_array_equal(got[0], ref[0])  # distances, bit for bit
            np.testing.assert_array_equal(got[1], ref[1])  # indices: ties go to the smaller index on both
        kth = ref[0][:, -1]
        # radii exactly at a neighbour's distance (a point on the sphere), random radii, zero radii
        for radii in (kth, rng.uniform(0.0, 2.0, len(x)) * np.median(kth), np.zeros(len(x))):
            for strict in (True, False):
                np.testing.assert_array_equal(
                    neighbors.count_within(x, radii, metric=metric, strict=strict, backend="kdtree"),
                    neighbors.count_within(x, radii, metric=metric, strict=strict, backend="numba"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dims", [(1, 1), (2, 3), (4, 4), (1, 12), (8, 8)])
@pytest.mark.parametrize("variant", [1, 2])
def test_ksg_counts_bit_identical_to_compiled(kind, dims, variant):
    x = _sample(kind, 400, dims[0], seed=sum(dims))
    y = _sample(kind, 400, dims[1], seed=sum(dims) + 1)
    y[:, 0] += x[:, 0]
    got = neighbors.ksg_counts(x, y, 5, variant=variant, backend="kdtree")
    ref = neighbors.ksg_counts(x, y, 5, variant=variant, backend="numba")
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


@pytest.mark.parametrize("name,labels", [("ksg", False), ("ksg2", False), ("kl", False), ("wkl", False),
                                         ("ksg", True), ("kl", True)])
def test_estimates_and_intervals_identical_on_both_routes(name, labels):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((600, 4))
    y = (x[:, :1] > 0).astype(int).ravel() + (x[:, 1] > 0.5) if labels else x[:, :3] + rng.standard_normal((600, 3))
    res = {b: ibscope.mutual_information(x, y, estimator=name, y_discrete=labels, ci=0.9, n_subsamples=4,
                                         random_state=1, backend=b) for b in ("kdtree", "numba")}
    for field in ("value", "raw_value", "ci_low", "ci_high", "std_err"):
        assert getattr(res["kdtree"], field) == getattr(res["numba"], field), field


class _FakeChild:
    def __init__(self):
        self.code = None

    def poll(self):
        return self.code


@pytest.fixture
def fresh_state(monkeypatch, tmp_path):
    """A process that has not used the kernels, a cache folder without the marker, no real child process."""
    state = {"loaded": False, "warm": False, "failed": False, "child": None,
             "paths": (tmp_path / "kernels.ok", tmp_path / "kernels.lock")}
    monkeypatch.setattr(_warm, "_STATE", state)
    monkeypatch.delenv(_warm.ENV_BACKGROUND, raising=False)
    started = []

    def start(folder):
        started.append(folder)
        state["child"] = (os.getpid(), _FakeChild())

    monkeypatch.setattr(_warm, "_start_child", start)
    calls = {"kdtree": 0, "numba": 0}
    for module, key in ((_scipy, "kdtree"), (_tree, "numba")):
        real = module.knn

        def spy(*args, _real=real, _key=key):
            calls[_key] += 1
            return _real(*args)

        monkeypatch.setattr(module, "knn", spy)
    return state, started, calls, tmp_path


def test_first_calls_use_exact_route_until_the_kernels_are_cached(fresh_state):
    state, started, calls, folder = fresh_state
    x = _sample("gauss", 200, 3, seed=0)
    first = neighbors.knn(x, 3)  # "auto": the compiled backend is not ready, so the exact route serves it
    assert calls == {"kdtree": 1, "numba": 0}
    assert started == [folder]  # one background compilation was started ...
    neighbors.knn(x, 3, backend="numba")  # ... and an explicit "numba" is served the same way meanwhile
    assert calls == {"kdtree": 2, "numba": 0} and len(started) == 1  # not started twice
    (folder / "kernels.ok").write_text("done")  # the background process finished
    again = neighbors.knn(x, 3)
    assert calls == {"kdtree": 2, "numba": 1}
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    neighbors.knn(x, 3, backend="kdtree")  # an explicit "kdtree" stays on scipy
    assert calls["kdtree"] == 3


def test_failed_background_compile_falls_back_to_compiling_here(fresh_state):
    state, started, calls, _ = fresh_state
    x = _sample("gauss", 200, 3, seed=0)
    neighbors.knn(x, 3)
    state["child"][1].code = 1  # exited without writing the marker
    neighbors.knn(x, 3)
    assert calls == {"kdtree": 1, "numba": 1} and state["failed"]


def test_another_process_compiling_is_not_duplicated(fresh_state):
    fcntl = pytest.importorskip("fcntl")
    state, started, calls, folder = fresh_state
    fd = os.open(folder / "kernels.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process compiles (a separate open file holds the lock)
        assert _warm.use_compiled() is False
        assert started == []
    finally:
        os.close(fd)


def test_background_route_can_be_turned_off(fresh_state, monkeypatch):
    state, started, calls, _ = fresh_state
    monkeypatch.setenv(_warm.ENV_BACKGROUND, "0")
    neighbors.knn(_sample("gauss", 200, 3, seed=0), 3)
    assert calls == {"kdtree": 0, "numba": 1} and started == []


def _kernel_versions() -> dict:
    return {name: len(obj.signatures) for name, obj in vars(_numba).items() if hasattr(obj, "signatures")}


def test_warm_up_compiles_every_kernel_version_the_calls_use():
    """After warm_up, no neighbour call compiles anything new: the background compilation (which runs the
    same code) therefore leaves a cache that serves every call, whatever the input's dtype or layout."""
    assert neighbors.warm_up() >= 0.0
    before = _kernel_versions()
    rng = np.random.default_rng(0)
    frozen = rng.standard_normal((500, 3))
    frozen.setflags(write=False)
    inputs = [frozen, rng.standard_normal((500, 6)).astype(np.float32), rng.standard_normal((500, 14))[:, ::2],
              rng.standard_normal(500)]
    for x in inputs:
        for metric in ("chebyshev", "euclidean"):
            dist, _ = neighbors.knn(x, 3, metric=metric)
            for strict in (True, False):
                neighbors.count_within(x, dist[:, -1], metric=metric, strict=strict)
        for variant in (1, 2):
            neighbors.ksg_counts(x, inputs[1], 3, variant=variant)
    assert _kernel_versions() == before
