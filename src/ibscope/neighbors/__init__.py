"""Nearest-neighbour search: the hot path of every kNN estimator.

One interface, several backends, chosen automatically by device:

* ``"numba"`` (CPU default) - compiled KD-tree search on all cores
  (:mod:`ibscope.neighbors._numba`, driven by :mod:`ibscope.neighbors._tree`):
  a balanced median-split tree whose leaves are contiguous, vectorised blocks
  of 32-256 points with tight bounding boxes; nearest-child-first kNN with
  split-plane and box pruning; range counts that add whole nodes lying inside
  the query ball. From ``_FLAT_MIN_DIM`` (12) dimensions, where KD-tree pruning
  fails, a "flat" mode scans all leaves (box-pruned) for a whole block of
  queries at a time. For KSG, :func:`ksg_counts` fuses the joint k-th-neighbour
  radius with the marginal counts, and 1-D marginals are counted by galloping
  search in the sorted column. The kernels release the GIL and run in chunks
  on a small thread pool (:func:`thread_pool`; ``IBSCOPE_NUM_THREADS``
  overrides the thread count, see :func:`default_threads`). They are compiled
  once per environment and cached on disk by numba (``cache=True``); later
  processes load them in about a second. In a fresh environment the compiler
  does not hold up the first calls: they run on the exact ``"kdtree"`` route
  below (the same values, bit for bit) while a background process compiles
  the kernels into the cache (:mod:`ibscope.neighbors._warm`;
  ``IBSCOPE_BACKGROUND_COMPILE=0`` compiles in the calling process instead).
  :func:`warm_up` waits for, or does, that compilation and loads the kernels.
* ``"sorted"`` - 1-D data: counts by exact search in the sorted column (kNN
  queries fall back to the numba tree).
* ``"kdtree"`` - scipy's ``cKDTree`` using all cores (``workers=-1``;
  :mod:`ibscope.neighbors._scipy`) to find candidates, whose distances are then
  computed with the compiled kernels' own operations, so the values equal
  the ``"numba"`` backend's bit for bit (Euclidean ones included).
* ``"torch"`` - chunked brute force in torch, on CPU or CUDA (the default when
  ``device`` names a GPU; :mod:`ibscope.neighbors._torch`). Distances are
  computed block by block (``chunk`` rows against all points), so memory stays
  O(chunk * n) and an n x n matrix is never materialised. Its KSG routine is
  fused: one block of X- and Y-distances gives the joint radius and both
  marginal counts.

All functions exclude the query point itself from its neighbours and counts.
Distances are ``"chebyshev"`` (max-norm, used by KSG) or ``"euclidean"`` (used
by Kozachenko-Leonenko entropies). Results are exact: max-norm k-th distances
and counts equal a brute-force computation bit for bit on every backend,
including points exactly at the radius (KSG uses only the max-norm); Euclidean
distances are the square roots of the squares summed in coordinate order on
the ``"numba"`` and ``"kdtree"`` backends (bit-identical to each other), and
agree with the torch backend's to rounding. Neighbours at equal distances are
ordered by index on the CPU backends. Inputs must be finite.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice
from . import _scipy, _torch, _tree, _warm
from ._dispatch import BACKENDS, METRICS, _device_for, choose_backend, resolve_device
from ._duplicates import count_duplicate_rows
from ._threads import default_threads, thread_pool
from ._warm import warm_up

__all__ = [
    "BACKENDS",
    "METRICS",
    "choose_backend",
    "count_duplicate_rows",
    "count_within",
    "default_threads",
    "knn",
    "ksg_counts",
    "kth_distance",
    "resolve_device",
    "thread_pool",
    "warm_up",
]


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


def _compiled_or_exact(backend: str) -> str:
    """The compiled backend, or "kdtree" (same values) while the kernels compile in the background."""
    if backend in ("numba", "sorted") and not _warm.use_compiled():
        return "kdtree"
    return backend


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
    b = _compiled_or_exact(choose_backend(n, d, backend, device))
    if b == "torch":
        return _torch.knn(points, k, metric, _device_for(b, device))
    if b in ("numba", "sorted"):  # "sorted" only affects counts; kNN uses the tree
        return _tree.knn(points, k, metric)
    return _scipy.knn(points, k, metric)


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
    b = _compiled_or_exact(b)
    if b == "torch":
        return _torch.count(points, radii, metric, strict, _device_for(b, device))
    if b in ("numba", "sorted"):
        return _tree.count(points, radii, metric, strict)
    return _scipy.count(points, radii, metric, strict)


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
    b = _compiled_or_exact(choose_backend(n, x.shape[1] + y.shape[1], backend, device))
    if b in ("numba", "sorted"):
        return _tree.ksg(x, y, k, variant)
    if b == "torch":
        return _torch.ksg(x, y, k, variant, _device_for(b, device))
    return _scipy.ksg(x, y, k, variant)  # "kdtree": joint kNN and marginal counts on cKDTree
