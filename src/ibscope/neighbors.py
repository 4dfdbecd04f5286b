"""Nearest-neighbour search: the hot path of every kNN estimator.

One interface, several backends, chosen automatically by dimension, size and
device:

* ``"sorted"`` - 1-D data: neighbour counts by binary search in the sorted
  column (O(n log n), any n).
* ``"kdtree"`` - scipy's ``cKDTree`` using all cores (``workers=-1``), for low
  dimensions.
* ``"torch"`` - chunked brute force in torch, on CPU or CUDA. Distances are
  computed block by block (``chunk`` rows against all points), so memory stays
  O(chunk * n) and an n x n matrix is never materialised.

All functions exclude the query point itself from its neighbours and counts.
Distances are ``"chebyshev"`` (max-norm, used by KSG) or ``"euclidean"`` (used
by Kozachenko-Leonenko entropies).
"""

from __future__ import annotations

import os

import numpy as np
from scipy.spatial import cKDTree

from ._validation import check_choice

METRICS = ("chebyshev", "euclidean")
BACKENDS = ("auto", "kdtree", "torch", "sorted")

#: joint dimension above which the brute-force backend beats KD-trees on CPU
BRUTE_FORCE_MIN_DIM = 12
#: target number of distance entries per torch block (memory ~ 4 bytes each)
_BLOCK_ENTRIES = 1 << 22


def _p(metric: str) -> float:
    return np.inf if metric == "chebyshev" else 2.0


def _n_workers() -> int:
    return -1


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
    """Pick a backend for ``n`` points in ``dim`` dimensions."""
    check_choice(backend, "backend", "ibscope.neighbors", BACKENDS)
    if backend != "auto":
        return backend
    dev = resolve_device(device) if device is not None else "cpu"
    if dev != "cpu":
        return "torch"
    if dim >= BRUTE_FORCE_MIN_DIM:
        return "torch"
    return "kdtree"


# --------------------------------------------------------------------------- torch helpers
def _torch_pairwise(a, b, metric: str):
    import torch

    if metric == "euclidean":
        return torch.cdist(a, b, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
    return torch.cdist(a, b, p=float("inf"))


def _chunk_rows(n: int) -> int:
    return max(1, min(n, _BLOCK_ENTRIES // max(n, 1)))


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


def _torch_count(points: np.ndarray, radii: np.ndarray, metric: str, strict: bool, device: str):
    import torch

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
        counts[start:start + chunk] = (inside.sum(dim=1) - 1).cpu().numpy()  # minus self
    return counts


# --------------------------------------------------------------------------- public API
def knn(points: np.ndarray, k: int, *, metric: str = "euclidean", backend: str = "auto", device=None):
    """Distances and indices of the ``k`` nearest neighbours of every point (self excluded).

    Parameters
    ----------
    points : ndarray of shape (n, d)
    k : int
        Number of neighbours (1 <= k <= n - 1).
    metric : {"euclidean", "chebyshev"}
    backend : {"auto", "kdtree", "torch"}
    device : str or None
        Torch device for the brute-force backend.

    Returns
    -------
    dist : ndarray of shape (n, k), sorted ascending
    idx : ndarray of shape (n, k)
    """
    check_choice(metric, "metric", "ibscope.neighbors.knn", METRICS)
    n, d = points.shape
    b = choose_backend(n, d, backend, device)
    if b == "torch":
        return _torch_knn(points, k, metric, device or "cpu")
    tree = cKDTree(points)
    dist, idx = tree.query(points, k + 1, p=_p(metric), workers=_n_workers())
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
    n, d = points.shape
    radii = np.asarray(radii, dtype=np.float64)
    if d == 1 and backend in ("auto", "sorted") and (device is None or resolve_device(device) == "cpu"):
        return _sorted_count(points[:, 0], radii, strict)
    b = choose_backend(n, d, backend, device)
    if b == "torch":
        return _torch_count(points, radii, metric, strict, device or "cpu")
    if b == "sorted":
        raise ValueError(f"backend='sorted' works for 1-D data only; got {d} dimensions.")
    r = np.nextafter(radii, 0) if strict else radii
    tree = cKDTree(points)
    counts = tree.query_ball_point(points, r, p=_p(metric), workers=_n_workers(), return_length=True)
    return np.asarray(counts, dtype=np.int64) - 1


def _sorted_count(values: np.ndarray, radii: np.ndarray, strict: bool) -> np.ndarray:
    # v + r is rounded, so a point at distance exactly r (the k-th neighbour that
    # defined r) could land on the wrong side; shrink/grow r by a relative 1e-9,
    # far below any real gap between continuous samples.
    s = np.sort(values)
    radii = radii * (1.0 - 1e-9) if strict else radii * (1.0 + 1e-9)
    if strict:
        hi = np.searchsorted(s, values + radii, side="left")
        lo = np.searchsorted(s, values - radii, side="right")
    else:
        hi = np.searchsorted(s, values + radii, side="right")
        lo = np.searchsorted(s, values - radii, side="left")
    return (hi - lo - 1).astype(np.int64)


def ksg_counts(x: np.ndarray, y: np.ndarray, k: int, *, variant: int = 1, backend: str = "auto", device=None):
    """Marginal neighbour counts of the KSG estimators (Kraskov et al. 2004).

    With eps_i the max-norm distance from point i to its k-th neighbour in the
    joint space (X, Y):

    * variant 1: n_x(i) = #{j != i : ||x_j - x_i||_inf < eps_i}, same for y;
    * variant 2: eps_x(i), eps_y(i) are the largest X- and Y-distances within
      the k-neighbour set, and n_x(i) = #{j != i : ||x_j - x_i||_inf <= eps_x(i)}.

    Returns
    -------
    nx, ny : ndarray of shape (n,), int64
    """
    xy = np.hstack([x, y])
    n, d = xy.shape
    b = choose_backend(n, d, backend, device)
    if variant == 1:
        eps = kth_distance(xy, k, metric="chebyshev", backend=b, device=device)
        nx = count_within(x, eps, metric="chebyshev", strict=True, backend=backend if x.shape[1] == 1 else b, device=device)
        ny = count_within(y, eps, metric="chebyshev", strict=True, backend=backend if y.shape[1] == 1 else b, device=device)
        return nx, ny
    _, idx = knn(xy, k, metric="chebyshev", backend=b, device=device)
    eps_x = np.abs(x[idx] - x[:, None, :]).max(axis=(1, 2))
    eps_y = np.abs(y[idx] - y[:, None, :]).max(axis=(1, 2))
    nx = count_within(x, eps_x, metric="chebyshev", strict=False, backend=backend if x.shape[1] == 1 else b, device=device)
    ny = count_within(y, eps_y, metric="chebyshev", strict=False, backend=backend if y.shape[1] == 1 else b, device=device)
    return nx, ny


def default_threads() -> int:
    """Number of CPU threads the backends use (all cores)."""
    return os.cpu_count() or 1
