"""Nearest-neighbour search: the hot path of every kNN estimator.

One interface, several backends, chosen automatically by device:

* ``"numba"`` (CPU default) - compiled KD-tree search on all cores
  (:mod:`ibscope._neighbors_numba`): a balanced median-split tree whose leaves
  are contiguous, vectorised blocks of 32-256 points with tight bounding boxes;
  nearest-child-first kNN with split-plane and box pruning; range counts that
  add whole nodes lying inside the query ball. From ``_FLAT_MIN_DIM`` (12)
  dimensions, where KD-tree pruning fails, a "flat" mode scans all leaves
  (box-pruned) for a whole block of queries at a time. For KSG,
  :func:`ksg_counts` fuses the joint k-th-neighbour radius with the marginal
  counts, and 1-D marginals are counted by galloping search in the sorted
  column. The kernels release the GIL and run in chunks on a small thread pool
  (``IBSCOPE_NUM_THREADS`` overrides the thread count). They are compiled on
  first use and cached on disk (``cache=True``): a fresh environment pays the
  compile time once (about 20-30 s), later processes load in under a second.
* ``"sorted"`` - 1-D data: counts by exact search in the sorted column (kNN
  queries fall back to the numba tree).
* ``"kdtree"`` - scipy's ``cKDTree`` using all cores (``workers=-1``).
* ``"torch"`` - chunked brute force in torch, on CPU or CUDA (the default when
  ``device`` names a GPU). Distances are computed block by block (``chunk`` rows
  against all points), so memory stays O(chunk * n) and an n x n matrix is
  never materialised. Its KSG routine is fused: one block of X- and
  Y-distances gives the joint radius and both marginal counts.

All functions exclude the query point itself from its neighbours and counts.
Distances are ``"chebyshev"`` (max-norm, used by KSG) or ``"euclidean"`` (used
by Kozachenko-Leonenko entropies). Results are exact: max-norm k-th distances
and counts equal a brute-force computation bit for bit on every backend,
including points exactly at the radius (KSG uses only the max-norm); Euclidean
distances agree to rounding (the order in which ``d`` squares are summed may
differ between backends). Inputs must be finite.
"""

from __future__ import annotations

import os

import numpy as np

from ._validation import check_choice

METRICS = ("chebyshev", "euclidean")
BACKENDS = ("auto", "numba", "kdtree", "torch", "sorted")

#: target number of distance entries per torch block (memory ~ 8 bytes each, a few arrays)
_BLOCK_ENTRIES = 1 << 21
#: leaf sizes (multiples of 8) of the numba KD-trees. kNN search: (largest dimension, width) pairs, the
#: first that fits; range counting; both in "flat" mode. Measured on 2 cores, n = 1e5 (rank-transformed
#: Gaussians, k = 5): kNN best at 32 for d <= 3, 64 for d = 4-5, 96-128 for d = 6-8; counts at 128-256
#: for d = 2-8 (benchmarks/bench_speed.py, README).
_LEAF_KNN = ((3, 32), (5, 64), (11, 128))
_LEAF_COUNT = 192
_LEAF_FLAT_KNN = 128
_LEAF_FLAT_COUNT = 256
#: dimension from which the numba backend scans all leaves (box-pruned) instead of descending the tree
_FLAT_MIN_DIM = 12

_METRIC_CODE = {"chebyshev": 0, "euclidean": 1}


def _p(metric: str) -> float:
    return np.inf if metric == "chebyshev" else 2.0


def _n_workers() -> int:
    return -1


def _nb():
    from . import _neighbors_numba

    return _neighbors_numba


def resolve_device(device=None) -> str:
    """Return "cuda" when requested or auto-detected, else "cpu"."""
    if device is None or device == "auto":
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:  # pragma: no cover
            return "cpu"
    device = str(device)
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available on this machine. Pass device='cpu'.")
    elif device != "cpu":
        raise ValueError(f"The 'device' parameter must be 'cpu', 'cuda', 'cuda:N' or None. Got {device!r} instead.")
    return device


def choose_backend(n: int, dim: int, backend: str = "auto", device=None) -> str:
    """Pick a backend for ``n`` points in ``dim`` dimensions.

    "auto" gives "torch" when ``device`` names a GPU, else "numba" (all cores).
    """
    check_choice(backend, "backend", "ibscope.neighbors", BACKENDS)
    if backend != "auto":
        return backend
    dev = resolve_device(device) if device is not None else "cpu"
    if dev != "cpu":
        return "torch"
    return "numba"


def _device_for(backend: str, device) -> str:
    if backend == "torch":
        return resolve_device(device) if device is not None else "cpu"
    return "cpu"


def _check_points(points, owner: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1:
        points = points[:, None]
    if points.ndim != 2:
        raise ValueError(f"{owner}: points must be a 2-D array of shape (n_samples, dim); got shape {points.shape}.")
    if not np.isfinite(points).all():
        raise ValueError(f"{owner}: points contain non-finite values (NaN or inf); remove or impute them first.")
    return np.ascontiguousarray(points)


def _check_knn_k(k, n: int, owner: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{owner}: k must be an integer; got {k!r}.")
    k = int(k)
    if k < 1:
        raise ValueError(f"{owner}: k must be >= 1; got k={k}.")
    if k > n - 1:
        raise ValueError(f"{owner}: k={k} neighbours need at least k + 1 = {k + 1} points; got n_samples={n}.")
    return k


# --------------------------------------------------------------------------- torch helpers
def _torch_pairwise(a, b, metric: str):
    import torch

    if metric == "euclidean":
        return torch.cdist(a, b, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
    return torch.cdist(a, b, p=float("inf"))


def _chunk_rows(n: int, arrays: int = 1) -> int:
    return max(1, min(n, _BLOCK_ENTRIES // max(n * arrays, 1)))


def _as_torch(x: np.ndarray, device: str):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).to(device)


def _torch_knn(points: np.ndarray, k: int, metric: str, device: str):
    import torch

    dev = resolve_device(device)
    pts = _as_torch(points, dev)
    n = len(points)
    chunk = _chunk_rows(n)
    dists = np.empty((n, k))
    idxs = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, chunk):
        block = _torch_pairwise(pts[start:start + chunk], pts, metric)
        rows = torch.arange(block.shape[0], device=dev)
        block[rows, rows + start] = float("inf")  # exclude self
        vals, ind = torch.topk(block, k, dim=1, largest=False, sorted=True)
        dists[start:start + chunk] = vals.cpu().numpy()
        idxs[start:start + chunk] = ind.cpu().numpy()
    return dists, idxs


def _self_in(r, strict: bool):
    # the point itself (distance 0) is within r when 0 < r (strict) or 0 <= r
    return (r > 0) if strict else (r >= 0)


def _torch_count(points: np.ndarray, radii: np.ndarray, metric: str, strict: bool, device: str):
    dev = resolve_device(device)
    pts = _as_torch(points, dev)
    r = _as_torch(radii, dev)
    n = len(points)
    chunk = _chunk_rows(n)
    counts = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk):
        block = _torch_pairwise(pts[start:start + chunk], pts, metric)
        rr = r[start:start + chunk, None]
        inside = block < rr if strict else block <= rr
        c = inside.sum(dim=1) - _self_in(rr[:, 0], strict).long()
        counts[start:start + chunk] = c.cpu().numpy()
    return counts


def _torch_ksg(x: np.ndarray, y: np.ndarray, k: int, variant: int, device: str):
    """Fused brute-force KSG counts: per block of rows, one X- and one Y-distance
    block give the joint k-th radius (max of the two) and both marginal counts."""
    import torch

    dev = resolve_device(device)
    tx = _as_torch(x, dev)
    ty = _as_torch(y, dev)
    n = len(x)
    chunk = _chunk_rows(n, arrays=3)
    nx = torch.empty(n, dtype=torch.int64, device=dev)
    ny = torch.empty(n, dtype=torch.int64, device=dev)
    inf = float("inf")
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        dx = torch.cdist(tx[start:stop], tx, p=inf)
        dy = torch.cdist(ty[start:stop], ty, p=inf)
        dz = torch.maximum(dx, dy)
        rows = torch.arange(stop - start, device=dev)
        dz[rows, rows + start] = inf  # exclude self from the joint neighbours
        kth = torch.topk(dz, k, dim=1, largest=False, sorted=True).values[:, -1:]
        if variant == 1:
            self_in = (kth[:, 0] > 0).long()
            nx[start:stop] = (dx < kth).sum(dim=1) - self_in
            ny[start:stop] = (dy < kth).sum(dim=1) - self_in
            continue
        # the k-neighbour set: everything closer than the k-th distance, plus the
        # lowest-index points at exactly that distance (a stable sort's choice)
        below = dz < kth
        tied = dz == kth
        need = k - below.sum(dim=1, keepdim=True)
        sel = below | (tied & (torch.cumsum(tied, dim=1) <= need))
        zero = torch.zeros((), dtype=dx.dtype, device=dev)
        ex = torch.where(sel, dx, zero).amax(dim=1, keepdim=True)
        ey = torch.where(sel, dy, zero).amax(dim=1, keepdim=True)
        nx[start:stop] = (dx <= ex).sum(dim=1) - 1
        ny[start:stop] = (dy <= ey).sum(dim=1) - 1
    return nx.cpu().numpy(), ny.cpu().numpy()


# --------------------------------------------------------------------------- numba helpers
# The numba kernels are serial and release the GIL (``nogil=True``); parallelism
# comes from a small pool of Python threads, each running a kernel on a chunk of
# leaf blocks. Unlike OpenMP-style ``prange`` there is no spin-waiting, so a busy
# machine (or a caller running several estimates at once) is not slowed down, and
# chunks are handed out dynamically, which balances uneven work.
_POOL = None
_POOL_KEY = None
#: below this many items a kernel runs in the calling thread
_MIN_PARALLEL = 2048


def _pool(threads: int):
    global _POOL, _POOL_KEY
    key = (os.getpid(), threads)
    if _POOL is None or _POOL_KEY != key:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ibscope-nn")
        _POOL_KEY = key
    return _POOL


def _parallel(kernel, n_items: int, *args, weight: int = 1) -> None:
    """Run ``kernel(*args, lo, hi)`` over [0, n_items) in chunks on all threads.

    ``weight`` is the number of points per item (for the inline threshold)."""
    threads = default_threads()
    if threads <= 1 or n_items < 2 or n_items * weight < _MIN_PARALLEL:
        kernel(*args, 0, n_items)
        return
    chunks = min(n_items, 8 * threads)
    bounds = np.linspace(0, n_items, chunks + 1).astype(np.int64)
    futures = [_pool(threads).submit(kernel, *args, int(lo), int(hi))
               for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    for f in futures:
        f.result()


def _build(points: np.ndarray, width: int, flat32: bool = False):
    """Numba KD-tree over ``points`` (see :mod:`ibscope._neighbors_numba`); with
    ``flat32`` it also keeps a float32 copy of the leaves for flat-mode screening."""
    nb = _nb()
    tree = nb.build_init(points, width, bool(flat32))
    blk, blk32, oid, nstart, nend, box, sdim, sval, slot, depth, amax = tree
    points = np.array(points, dtype=np.float64, order="C")  # working copy, permuted into tree order
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


def _numba_knn(points: np.ndarray, k: int, metric: str):
    nb = _nb()
    n, d = points.shape
    tree = _build(points, _width(n, d, False), _flat(n, d) and metric == "chebyshev")
    dist = np.empty((n, k))
    idx = np.empty((n, k), dtype=np.int64)
    _parallel(nb.knn_range, len(tree[0]), *tree, k, _METRIC_CODE[metric], _flat(n, d), dist, idx,
              weight=tree[0].shape[2])
    return dist, idx


def _numba_count(points: np.ndarray, radii: np.ndarray, metric: str, strict: bool) -> np.ndarray:
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


def _numba_ksg(x: np.ndarray, y: np.ndarray, k: int, variant: int):
    nb = _nb()
    z = np.ascontiguousarray(np.hstack([x, y]))
    n, d = z.shape
    tree = _build(z, _width(n, d, False), _flat(n, d))
    ex = np.empty(n)
    ey = np.empty(n) if variant == 2 else ex
    _parallel(nb.ksg_joint_range, len(tree[0]), *tree, k, x.shape[1], variant, _flat(n, d), ex, ey,
              weight=tree[0].shape[2])
    strict = variant == 1
    return _numba_count(x, ex, "chebyshev", strict), _numba_count(y, ey, "chebyshev", strict)


# --------------------------------------------------------------------------- public API
def knn(points: np.ndarray, k: int, *, metric: str = "euclidean", backend: str = "auto", device=None):
    """Distances and indices of the ``k`` nearest neighbours of every point (self excluded).

    Parameters
    ----------
    points : ndarray of shape (n, d)
    k : int
        Number of neighbours (1 <= k <= n - 1).
    metric : {"euclidean", "chebyshev"}
    backend : {"auto", "numba", "kdtree", "torch"}
    device : str or None
        Torch device for the brute-force backend.

    Returns
    -------
    dist : ndarray of shape (n, k), sorted ascending
    idx : ndarray of shape (n, k)
    """
    check_choice(metric, "metric", "ibscope.neighbors.knn", METRICS)
    points = _check_points(points, "ibscope.neighbors.knn")
    n, d = points.shape
    k = _check_knn_k(k, n, "ibscope.neighbors.knn")
    b = choose_backend(n, d, backend, device)
    if b == "torch":
        return _torch_knn(points, k, metric, _device_for(b, device))
    if b in ("numba", "sorted"):  # "sorted" only affects counts; kNN uses the tree
        return _numba_knn(points, k, metric)
    from scipy.spatial import cKDTree

    tree = cKDTree(points)
    dist, idx = tree.query(points, k + 1, p=_p(metric), workers=_n_workers())
    dist = dist.reshape(n, k + 1)
    idx = idx.reshape(n, k + 1)
    # column 0 is the point itself unless duplicates exist; drop self robustly
    self_col = idx == np.arange(n)[:, None]
    has_self = self_col.any(axis=1)
    keep = ~self_col
    keep[~has_self, -1] = False  # self not found among k+1 (duplicates): drop the farthest
    dist = dist[keep].reshape(n, k)
    idx = idx[keep].reshape(n, k)
    return dist, idx


def kth_distance(points: np.ndarray, k: int, *, metric: str = "euclidean", backend: str = "auto", device=None):
    """Distance from each point to its k-th nearest neighbour (self excluded), shape (n,)."""
    return knn(points, k, metric=metric, backend=backend, device=device)[0][:, -1]


def count_within(points: np.ndarray, radii: np.ndarray, *, metric: str = "chebyshev", strict: bool = True,
                 backend: str = "auto", device=None) -> np.ndarray:
    """Number of other points within ``radii[i]`` of each point ``i``.

    Parameters
    ----------
    points : ndarray of shape (n, d)
    radii : ndarray of shape (n,)
    strict : bool
        Count distances ``< r`` (True) or ``<= r`` (False).

    Returns
    -------
    counts : ndarray of shape (n,), int64, self excluded
    """
    check_choice(metric, "metric", "ibscope.neighbors.count_within", METRICS)
    points = _check_points(points, "ibscope.neighbors.count_within")
    n, d = points.shape
    radii = np.array(np.broadcast_to(np.asarray(radii, dtype=np.float64), (n,)))  # own writable copy
    b = choose_backend(n, d, backend, device)
    if b == "sorted" and d != 1:
        raise ValueError(f"backend='sorted' works for 1-D data only; got {d} dimensions.")
    if b == "torch":
        return _torch_count(points, radii, metric, strict, _device_for(b, device))
    if b in ("numba", "sorted"):
        return _numba_count(points, radii, metric, strict)
    from scipy.spatial import cKDTree

    # cKDTree counts distances <= r; one ulp below r gives "< r" exactly
    r = np.nextafter(radii, -np.inf) if strict else radii
    valid = r >= 0
    counts = np.zeros(n, dtype=np.int64)
    if valid.any():
        tree = cKDTree(points)
        found = tree.query_ball_point(points[valid], r[valid], p=_p(metric), workers=_n_workers(),
                                      return_length=True)
        counts[valid] = np.asarray(found, dtype=np.int64) - 1
    return counts


def ksg_counts(x: np.ndarray, y: np.ndarray, k: int, *, variant: int = 1, backend: str = "auto", device=None):
    """Marginal neighbour counts of the KSG estimators (Kraskov et al. 2004).

    With eps_i the max-norm distance from point i to its k-th neighbour in the
    joint space (X, Y):

    * variant 1: n_x(i) = #{j != i : ||x_j - x_i||_inf < eps_i}, same for y;
    * variant 2: eps_x(i), eps_y(i) are the largest X- and Y-distances within
      the k-neighbour set (ties at the k-th distance go to the smaller index),
      and n_x(i) = #{j != i : ||x_j - x_i||_inf <= eps_x(i)}.

    Returns
    -------
    nx, ny : ndarray of shape (n,), int64
    """
    check_choice(variant, "variant", "ibscope.neighbors.ksg_counts", (1, 2))
    x = _check_points(x, "ibscope.neighbors.ksg_counts")
    y = _check_points(y, "ibscope.neighbors.ksg_counts")
    if len(x) != len(y):
        raise ValueError(f"ibscope.neighbors.ksg_counts: x and y have different lengths ({len(x)} != {len(y)}).")
    n = len(x)
    k = _check_knn_k(k, n, "ibscope.neighbors.ksg_counts")
    b = choose_backend(n, x.shape[1] + y.shape[1], backend, device)
    if b in ("numba", "sorted"):
        return _numba_ksg(x, y, k, variant)
    if b == "torch":
        return _torch_ksg(x, y, k, variant, _device_for(b, device))
    # "kdtree": scipy cKDTree for the joint kNN and the marginal counts
    xy = np.hstack([x, y])
    if variant == 1:
        eps = kth_distance(xy, k, metric="chebyshev", backend=b)
        return (count_within(x, eps, metric="chebyshev", strict=True, backend=b),
                count_within(y, eps, metric="chebyshev", strict=True, backend=b))
    _, idx = knn(xy, k, metric="chebyshev", backend=b)
    eps_x = np.abs(x[idx] - x[:, None, :]).max(axis=(1, 2))
    eps_y = np.abs(y[idx] - y[:, None, :]).max(axis=(1, 2))
    return (count_within(x, eps_x, metric="chebyshev", strict=False, backend=b),
            count_within(y, eps_y, metric="chebyshev", strict=False, backend=b))


def count_duplicate_rows(points: np.ndarray) -> int:
    """Number of rows equal to an earlier row (exact equality; -0.0 == 0.0).

    Same result as ``(np.unique(points, axis=0, return_counts=True)[1] - 1).sum()``
    but about 10x faster: rows are hashed (their float64 bit patterns mixed with
    splitmix64), only rows with colliding hashes are compared exactly.
    """
    x = np.asarray(points, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n = len(x)
    if n < 2:
        return 0
    if x.shape[1] == 1:
        v = np.sort(x[:, 0])
        return int(np.count_nonzero(v[1:] == v[:-1]))
    bits = np.ascontiguousarray(x + 0.0).view(np.uint64)  # + 0.0 maps -0.0 to 0.0
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in range(bits.shape[1]):
            z = h ^ bits[:, c]
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = z ^ (z >> np.uint64(31))
    order = np.argsort(h)
    hs = h[order]
    eq = hs[1:] == hs[:-1]
    if not eq.any():
        return 0
    cand = np.zeros(n, dtype=bool)
    cand[1:] |= eq
    cand[:-1] |= eq
    _, counts = np.unique(x[order[cand]] + 0.0, axis=0, return_counts=True)
    return int((counts - 1).sum())


def default_threads() -> int:
    """Number of CPU threads the backends use: all cores available to this process,
    or the ``IBSCOPE_NUM_THREADS`` environment variable when set."""
    env = os.environ.get("IBSCOPE_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1
