"""The ``"kdtree"`` neighbour backend: scipy's ``cKDTree`` on all cores (``workers=-1``).

scipy is imported on first use only.
"""

from __future__ import annotations

import numpy as np


def _p(metric: str) -> float:
    return np.inf if metric == "chebyshev" else 2.0


def _n_workers() -> int:
    return -1


def knn(points: np.ndarray, k: int, metric: str):
    """Distances (n, k) and indices (n, k) of the ``k`` nearest neighbours, self excluded."""
    from scipy.spatial import cKDTree

    n = len(points)
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


def count(points: np.ndarray, radii: np.ndarray, metric: str, strict: bool) -> np.ndarray:
    """Number of other points within ``radii[i]`` of each point (``<`` when ``strict``, else ``<=``)."""
    from scipy.spatial import cKDTree

    n = len(points)
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


def ksg(x: np.ndarray, y: np.ndarray, k: int, variant: int):
    """KSG marginal counts from a joint cKDTree kNN search and two marginal range counts."""
    xy = np.hstack([x, y])
    if variant == 1:
        eps = knn(xy, k, "chebyshev")[0][:, -1]
        return count(x, eps, "chebyshev", True), count(y, eps, "chebyshev", True)
    _, idx = knn(xy, k, "chebyshev")
    eps_x = np.abs(x[idx] - x[:, None, :]).max(axis=(1, 2))
    eps_y = np.abs(y[idx] - y[:, None, :]).max(axis=(1, 2))
    return count(x, eps_x, "chebyshev", False), count(y, eps_y, "chebyshev", False)
