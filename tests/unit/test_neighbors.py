"""Neighbour search: every backend equals brute force, exactly.

Brute force here is plain numpy on full distance matrices (small n). Max-norm
results must match bit for bit (k-th distances and counts, including points
exactly at the radius); Euclidean distances may differ in the last bits (the
order of summing squares), so they are compared with a tight tolerance and
counted with radii that do not sit on a pairwise distance.
"""

from __future__ import annotations

import numpy as np
import pytest

from ibscope import KSG, KSGReference, neighbors
from ibscope.neighbors import _torch, _tree

BACKENDS = ["numba", "kdtree", "torch"]


def _bf(points, metric):
    diff = points[:, None, :] - points[None, :, :]
    if metric == "chebyshev":
        return np.abs(diff).max(axis=2)
    return np.sqrt((diff**2).sum(axis=2))


def _bf_knn(points, k, metric):
    dist = _bf(points, metric)
    np.fill_diagonal(dist, np.inf)
    idx = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, idx, axis=1), idx


def _bf_count(points, radii, metric, strict):
    dist = _bf(points, metric)
    np.fill_diagonal(dist, np.inf)
    r = radii[:, None]
    return ((dist < r) if strict else (dist <= r)).sum(axis=1)


def _data(n, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x[:, 0] *= 3.0  # unequal scales
    return x


# dims 1..20 cover the 1-D sorted path, the KD-tree and the flat (high-dimension) scan
DIMS = [1, 2, 3, 5, 8, 13, 20]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["chebyshev", "euclidean"])
@pytest.mark.parametrize("d", DIMS)
def test_knn_equals_brute_force(backend, metric, d):
    x = _data(257, d, seed=d)
    k = 4
    dist, idx = neighbors.knn(x, k, metric=metric, backend=backend)
    ref_d, ref_i = _bf_knn(x, k, metric)
    assert dist.shape == (257, k) and idx.shape == (257, k)
    if metric == "chebyshev":
        np.testing.assert_array_equal(dist, ref_d)
    else:
        np.testing.assert_allclose(dist, ref_d, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(idx, ref_i)  # no ties in continuous data
    np.testing.assert_array_equal(neighbors.kth_distance(x, k, metric=metric, backend=backend), dist[:, -1])


@pytest.mark.parametrize("backend,d", [(b, d) for b in BACKENDS for d in DIMS] + [("sorted", 1)])
@pytest.mark.parametrize("metric", ["chebyshev", "euclidean"])
@pytest.mark.parametrize("strict", [True, False])
def test_count_within_equals_brute_force(backend, metric, strict, d):
    x = _data(301, d, seed=10 + d)
    rng = np.random.default_rng(d)
    ref_dist = _bf(x, metric)
    # random radii spanning empty to almost-full balls
    radii = rng.uniform(0.0, 1.2, len(x)) * np.quantile(ref_dist, 0.5)
    counts = neighbors.count_within(x, radii, metric=metric, strict=strict, backend=backend)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, _bf_count(x, radii, metric, strict))
    if metric == "chebyshev":
        # radii exactly at a neighbour distance: strict and non-strict differ by the tie
        kth = _bf_knn(x, 3, metric)[0][:, -1]
        for s in (True, False):
            got = neighbors.count_within(x, kth, metric=metric, strict=s, backend=backend)
            np.testing.assert_array_equal(got, _bf_count(x, kth, metric, s))
            np.testing.assert_array_equal(got, np.full(len(x), 2 if s else 3))


@pytest.mark.parametrize("backend", ["numba", "torch", "kdtree"])
def test_chebyshev_with_ties_matches_brute_force(backend):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(200, 3)).astype(float)  # many duplicates and equal distances
    kth = neighbors.kth_distance(x, 5, metric="chebyshev", backend=backend)
    np.testing.assert_array_equal(kth, _bf_knn(x, 5, "chebyshev")[0][:, -1])
    for strict in (True, False):
        got = neighbors.count_within(x, kth, metric="chebyshev", strict=strict, backend=backend)
        np.testing.assert_array_equal(got, _bf_count(x, kth, "chebyshev", strict))
    zero = np.zeros(len(x))
    np.testing.assert_array_equal(neighbors.count_within(x, zero, strict=True, backend=backend), 0)
    np.testing.assert_array_equal(neighbors.count_within(x, zero, strict=False, backend=backend),
                                  _bf_count(x, zero, "chebyshev", False))


def _bf_ksg_counts(x, y, k, variant):
    dx, dy = _bf(x, "chebyshev"), _bf(y, "chebyshev")
    dz = np.maximum(dx, dy)
    np.fill_diagonal(dz, np.inf)
    order = np.argsort(dz, axis=1, kind="stable")[:, :k]
    if variant == 1:
        eps = np.take_along_axis(dz, order[:, -1:], axis=1)
        return (dx < eps).sum(1) - 1, (dy < eps).sum(1) - 1
    ex = np.take_along_axis(dx, order, axis=1).max(1, keepdims=True)
    ey = np.take_along_axis(dy, order, axis=1).max(1, keepdims=True)
    return (dx <= ex).sum(1) - 1, (dy <= ey).sum(1) - 1


@pytest.mark.parametrize("backend", BACKENDS + ["auto"])
@pytest.mark.parametrize("variant", [1, 2])
@pytest.mark.parametrize("dims", [(1, 1), (1, 3), (3, 2), (6, 7)])
def test_ksg_counts_equal_brute_force(backend, variant, dims):
    rng = np.random.default_rng(sum(dims))
    x = rng.standard_normal((400, dims[0]))
    y = rng.standard_normal((400, dims[1]))
    y[:, 0] += x[:, 0]
    nx, ny = neighbors.ksg_counts(x, y, 5, variant=variant, backend=backend)
    rx, ry = _bf_ksg_counts(x, y, 5, variant)
    np.testing.assert_array_equal(nx, rx)
    np.testing.assert_array_equal(ny, ry)


@pytest.mark.parametrize("variant", [1, 2])
@pytest.mark.parametrize("dims", [(1, 1), (2, 3), (4, 4), (10, 10)])
def test_ksg_equals_reference(variant, dims):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((500, dims[0]))
    y = rng.standard_normal((500, dims[1]))
    y[:, 0] = 0.8 * x[:, 0] + 0.6 * y[:, 0]
    for prep in ("standardize", "rank"):
        fast = KSG(k=5, variant=variant, preprocess=prep, random_state=0).estimate(x, y)
        ref = KSGReference(k=5, variant=variant, preprocess=prep, random_state=0).estimate(x, y)
        assert abs(fast.raw_value - ref.raw_value) < 1e-12


def test_parallel_chunks_and_tiny_leaves(monkeypatch):
    """Threaded chunking with many chunks and the smallest leaves gives identical results."""
    x = _data(700, 3, seed=1)
    y = _data(700, 14, seed=2)  # 17-D joint and 14-D marginal: the flat scan
    ref = {v: _bf_ksg_counts(x, y, 3, v) for v in (1, 2)}
    monkeypatch.setattr(_tree, "_MIN_PARALLEL", 1)
    monkeypatch.setattr(_tree, "_LEAF_KNN", ((99, 8),))
    monkeypatch.setattr(_tree, "_LEAF_COUNT", 8)
    monkeypatch.setattr(_tree, "_LEAF_FLAT_KNN", 8)
    monkeypatch.setattr(_tree, "_LEAF_FLAT_COUNT", 16)
    monkeypatch.setenv("IBSCOPE_NUM_THREADS", "3")
    for v in (1, 2):
        nx, ny = neighbors.ksg_counts(x, y, 3, variant=v, backend="numba")
        np.testing.assert_array_equal(nx, ref[v][0])
        np.testing.assert_array_equal(ny, ref[v][1])
    dist, idx = neighbors.knn(x, 5, metric="euclidean", backend="numba")
    np.testing.assert_allclose(dist, _bf_knn(x, 5, "euclidean")[0], rtol=1e-13)


def test_torch_chunking_with_tiny_blocks(monkeypatch):
    """The brute-force backend keeps O(chunk * n) memory; tiny blocks (1-2 rows) still agree."""
    x = _data(150, 3, seed=4)
    y = _data(150, 2, seed=5)
    monkeypatch.setattr(_torch, "_BLOCK_ENTRIES", 7)
    assert _torch._chunk_rows(150) == 1
    assert _torch._chunk_rows(10**6) == 1  # never an n x n block
    for v in (1, 2):
        nx, ny = neighbors.ksg_counts(x, y, 4, variant=v, backend="torch")
        rx, ry = _bf_ksg_counts(x, y, 4, v)
        np.testing.assert_array_equal(nx, rx)
        np.testing.assert_array_equal(ny, ry)
    d, i = neighbors.knn(x, 3, metric="chebyshev", backend="torch")
    np.testing.assert_array_equal(d, _bf_knn(x, 3, "chebyshev")[0])
    r = np.full(150, 0.5)
    np.testing.assert_array_equal(neighbors.count_within(x, r, backend="torch"), _bf_count(x, r, "chebyshev", True))


@pytest.mark.parametrize("scale", [1e25, 1e-25, 1.0])
def test_flat_mode_any_scale(scale):
    """High-dimension scans screen in float32 only where that is safe; results stay exact."""
    x = _data(300, 12, seed=8) * scale  # 12-D marginals and 25-D joint: all flat scans
    y = _data(300, 13, seed=9) * scale
    for v in (1, 2):
        nx, ny = neighbors.ksg_counts(x, y, 4, variant=v, backend="numba")
        rx, ry = _bf_ksg_counts(x, y, 4, v)
        np.testing.assert_array_equal(nx, rx)
        np.testing.assert_array_equal(ny, ry)
    kth = neighbors.kth_distance(y, 3, metric="chebyshev", backend="numba")
    np.testing.assert_array_equal(kth, _bf_knn(y, 3, "chebyshev")[0][:, -1])


def test_block_size_bounds_memory():
    n = 10**6
    rows = _torch._chunk_rows(n, arrays=3)
    assert rows * n * 3 <= max(_torch._BLOCK_ENTRIES, 3 * n)


@pytest.mark.parametrize("backend", BACKENDS)
def test_too_few_points_raise_clean_errors(backend):
    x = _data(5, 2, seed=0)
    with pytest.raises(ValueError, match="k=5"):
        neighbors.knn(x, 5, backend=backend)
    with pytest.raises(ValueError, match="k \\+ 1"):
        neighbors.ksg_counts(x, x, 5, backend=backend)
    with pytest.raises(ValueError, match="k must be >= 1"):
        neighbors.knn(x, 0, backend=backend)
    dist, _ = neighbors.knn(x, 4, metric="chebyshev", backend=backend)  # n = k + 1 works
    assert dist.shape == (5, 4)


def test_bad_inputs():
    x = _data(20, 2, seed=0)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        neighbors.knn(bad, 2)
    with pytest.raises(ValueError, match="1-D data only"):
        neighbors.count_within(x, np.ones(20), backend="sorted")
    with pytest.raises(ValueError, match="different lengths"):
        neighbors.ksg_counts(x, x[:10], 3)
    with pytest.raises(ValueError):
        neighbors.knn(x, 2, backend="nope")
    for metric in ("chebyshev", "euclidean"):  # negative radii contain nothing
        np.testing.assert_array_equal(neighbors.count_within(x, -np.ones(20), metric=metric, strict=False), 0)


@pytest.mark.parametrize("d", [2, 14])
def test_k_larger_than_a_leaf(d):
    x = _data(300, d, seed=d)
    for metric in ("chebyshev", "euclidean"):
        dist, idx = neighbors.knn(x, 70, metric=metric, backend="numba")
        ref_d, ref_i = _bf_knn(x, 70, metric)
        np.testing.assert_allclose(dist, ref_d, rtol=1e-13, atol=0)
        np.testing.assert_array_equal(idx, ref_i)


def test_auto_backend_choice():
    assert neighbors.choose_backend(10**5, 8) == "numba"
    assert neighbors.choose_backend(10**4, 32) == "numba"
    assert neighbors.choose_backend(10, 2, backend="torch") == "torch"
    assert set(neighbors.BACKENDS) >= {"auto", "numba", "kdtree", "torch", "sorted"}


@pytest.mark.parametrize("d", [1, 3, 16])
def test_count_duplicate_rows_matches_unique(d):
    rng = np.random.default_rng(d)
    x = rng.integers(0, 3, size=(500, d)).astype(float)  # many duplicates
    _, counts = np.unique(x, axis=0, return_counts=True)
    assert neighbors.count_duplicate_rows(x) == int((counts - 1).sum())
    y = rng.standard_normal((400, d))
    assert neighbors.count_duplicate_rows(y) == 0
    y[7] = y[300]
    y[8] = y[300]
    assert neighbors.count_duplicate_rows(y) == 2
    assert neighbors.count_duplicate_rows(np.array([[0.0, 1.0], [-0.0, 1.0]])) == 1
