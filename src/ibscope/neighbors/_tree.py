"""The ``"numba"`` and ``"sorted"`` neighbour backends: driver of the compiled KD-tree.

Builds the tree of :mod:`ibscope.neighbors._numba` (top levels in the calling
thread, then whole subtrees in parallel), picks its leaf width, and runs the
serial, GIL-free kernels over chunks of leaf blocks on the shared thread pool
(:func:`ibscope.neighbors.thread_pool`); chunks are handed out dynamically,
which balances uneven work. 1-D range counts use galloping search in the
sorted column instead of a tree. The kernels are imported (and compiled, or
loaded from the on-disk cache) on first use.
"""

from __future__ import annotations

import numpy as np

from ._threads import default_threads, thread_pool

#: leaf sizes (multiples of 8) of the numba KD-trees. kNN search: (largest dimension, width) pairs, the
#: first that fits; range counting; both in "flat" mode. Measured on 2 cores, n = 1e5 (rank-transformed
#: Gaussians, k = 5): kNN best at 32 for d <= 3, 64 for d = 4-5, 96-128 for d = 6-8; counts at 128-256
#: for d = 2-8 (benchmarks/bench_speed.py; docs/results/speed.md).
_LEAF_KNN = ((3, 32), (5, 64), (11, 128))
_LEAF_COUNT = 192
_LEAF_FLAT_KNN = 128
_LEAF_FLAT_COUNT = 256
#: dimension from which the numba backend scans all leaves (box-pruned) instead of descending the tree
_FLAT_MIN_DIM = 12
#: below this many items a kernel runs in the calling thread
_MIN_PARALLEL = 2048

_METRIC_CODE = {"chebyshev": 0, "euclidean": 1}


def _nb():
    from . import _numba

    return _numba


def _parallel(kernel, n_items: int, *args, weight: int = 1) -> None:
    """Run ``kernel(*args, lo, hi)`` over [0, n_items) in chunks on all threads.

    ``weight`` is the number of points per item (for the inline threshold)."""
    threads = default_threads()
    if threads <= 1 or n_items < 2 or n_items * weight < _MIN_PARALLEL:
        kernel(*args, 0, n_items)
        return
    chunks = min(n_items, 8 * threads)
    bounds = np.linspace(0, n_items, chunks + 1).astype(np.int64)
    futures = [thread_pool(threads).submit(kernel, *args, int(lo), int(hi))
               for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    for f in futures:
        f.result()


def _build(points: np.ndarray, width: int, flat32: bool = False):
    """Numba KD-tree over ``points`` (see :mod:`ibscope.neighbors._numba`); with
    ``flat32`` it also keeps a float32 copy of the leaves for flat-mode screening."""
    nb = _nb()
    points = np.array(points, dtype=np.float64, order="C")  # working copy, permuted into tree order
    # (a fresh, writable C array: the kernels always see the same array types, so the ones compiled
    # once by warm_up serve every call; a read-only input would otherwise compile a second version)
    tree = nb.build_init(points, width, bool(flat32))
    blk, blk32, oid, nstart, nend, box, sdim, sval, slot, depth, amax = tree
    # split the top levels in this thread, then whole subtrees in parallel
    threads = default_threads()
    root_level = 0
    while root_level < depth and (1 << root_level) < 4 * threads:
        root_level += 1
    if len(points) < _MIN_PARALLEL:
        root_level = 0
    nb.build_split(points, oid, nstart, nend, box, sdim, sval, 0, root_level, 0, 0, 1)

    def sub(lo, hi):
        nb.build_split(points, oid, nstart, nend, box, sdim, sval, root_level, depth, root_level, lo, hi)
        nb.build_leaves(points, blk, blk32, oid, nstart, nend, box, slot, depth, root_level, lo, hi)

    _parallel(sub, 1 << root_level, weight=max(1, len(points) >> root_level))
    nb.build_boxes(box, root_level, 0, 0, 1)
    return tree


def _flat(n: int, d: int) -> bool:
    return d >= _FLAT_MIN_DIM


def _width(n: int, d: int, count: bool) -> int:
    if _flat(n, d):
        return _LEAF_FLAT_COUNT if count else _LEAF_FLAT_KNN
    if count:
        return _LEAF_COUNT
    return next((w for dim, w in _LEAF_KNN if d <= dim), _LEAF_KNN[-1][1])


def knn(points: np.ndarray, k: int, metric: str):
    """Distances (n, k) and indices (n, k) of the ``k`` nearest neighbours, self excluded."""
    nb = _nb()
    n, d = points.shape
    tree = _build(points, _width(n, d, False), _flat(n, d) and metric == "chebyshev")
    dist = np.empty((n, k))
    idx = np.empty((n, k), dtype=np.int64)
    _parallel(nb.knn_range, len(tree[0]), *tree, k, _METRIC_CODE[metric], _flat(n, d), dist, idx,
              weight=tree[0].shape[2])
    return dist, idx


def count(points: np.ndarray, radii: np.ndarray, metric: str, strict: bool) -> np.ndarray:
    """Number of other points within ``radii[i]`` of each point (``<`` when ``strict``, else ``<=``);
    1-D data are counted in the sorted column."""
    nb = _nb()
    n, d = points.shape
    counts = np.empty(n, dtype=np.int64)
    if d == 1:
        v = points[:, 0]
        order = np.argsort(v)
        _parallel(nb.count_sorted_range, n, v[order], order, radii, bool(strict), counts)
        return counts
    tree = _build(points, _width(n, d, True), _flat(n, d) and metric == "chebyshev")
    _parallel(nb.count_range, len(tree[0]), *tree, radii, bool(strict), _METRIC_CODE[metric], _flat(n, d), counts,
              weight=tree[0].shape[2])
    return counts


def ksg(x: np.ndarray, y: np.ndarray, k: int, variant: int):
    """KSG marginal counts: the joint k-th-neighbour radii (fused with the variant's
    marginal radii) from one tree over (X, Y), then two marginal range counts."""
    nb = _nb()
    z = np.ascontiguousarray(np.hstack([x, y]))
    n, d = z.shape
    tree = _build(z, _width(n, d, False), _flat(n, d))
    ex = np.empty(n)
    ey = np.empty(n) if variant == 2 else ex
    _parallel(nb.ksg_joint_range, len(tree[0]), *tree, k, x.shape[1], variant, _flat(n, d), ex, ey,
              weight=tree[0].shape[2])
    strict = variant == 1
    return count(x, ex, "chebyshev", strict), count(y, ey, "chebyshev", strict)
