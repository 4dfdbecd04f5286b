"""Peer KSG implementations for the speed benchmark.

These are our own re-implementations, written from the published KSG-I
algorithm (Kraskov, Stoegbauer & Grassberger 2004), of the two ways a user
would compute vector-vector KSG today with off-the-shelf trees:

* :func:`ksg_sklearn_tree` - the "NPEET style": one scikit-learn tree over the
  joint space (``KDTree``, or ``BallTree`` from 20 joint dimensions up) with the
  Chebyshev metric, the joint radius from ``query(k + 1)``, marginal counts from
  ``query_radius(r - 1e-15, count_only=True)`` on per-side trees, then the
  digamma formula. Single-threaded, like scikit-learn's trees.
* :func:`ksg_ckdtree` - the same estimator on scipy's ``cKDTree`` using all
  cores (``workers=-1``): ``query`` for the joint radius and
  ``query_ball_point(..., return_length=True)`` for the marginal counts.
* :func:`sklearn_mi_regression` - scikit-learn's ``mutual_info_regression``
  (1-D feature vs 1-D target only).

All return nats. Inputs are used as given (callers standardise beforehand if
they want; the benchmark passes the same standardised data to every method).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma


def _as2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(-1, 1) if a.ndim == 1 else a


def _ksg1(n: int, k: int, nx_plus_self: np.ndarray, ny_plus_self: np.ndarray) -> float:
    # psi(k) + psi(N) - < psi(n_x + 1) + psi(n_y + 1) >, counts include the point itself
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx_plus_self)) - np.mean(digamma(ny_plus_self)))


def ksg_sklearn_tree(x, y, k: int = 5) -> float:
    """KSG-I with scikit-learn trees (Chebyshev metric), single-threaded."""
    from sklearn.neighbors import BallTree, KDTree

    x, y = _as2d(x), _as2d(y)
    z = np.hstack([x, y])

    def tree(a):
        cls = BallTree if a.shape[1] >= 20 else KDTree
        return cls(a, metric="chebyshev")

    # k + 1 because the query point is its own nearest neighbour
    eps = tree(z).query(z, k=k + 1)[0][:, k]
    r = eps - 1e-15  # "strictly inside" emulated by shrinking the radius
    nx = tree(x).query_radius(x, r, count_only=True)
    ny = tree(y).query_radius(y, r, count_only=True)
    return _ksg1(len(z), k, nx, ny)


def ksg_ckdtree(x, y, k: int = 5) -> float:
    """KSG-I with scipy's cKDTree on all cores (max-norm)."""
    from scipy.spatial import cKDTree

    x, y = _as2d(x), _as2d(y)
    z = np.hstack([x, y])
    eps = cKDTree(z).query(z, k=k + 1, p=np.inf, workers=-1)[0][:, k]
    r = np.nextafter(eps, 0)  # query_ball_point counts <= r; shrink by one ulp for "<"
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, workers=-1, return_length=True)
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, workers=-1, return_length=True)
    return _ksg1(len(z), k, np.asarray(nx), np.asarray(ny))


def sklearn_mi_regression(x, y, k: int = 3, random_state: int = 0) -> float:
    """scikit-learn's ``mutual_info_regression`` for one feature against one target."""
    from sklearn.feature_selection import mutual_info_regression

    x = _as2d(x)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape[1] != 1:
        raise ValueError("sklearn_mi_regression is for a single feature (1-D vs 1-D).")
    return float(mutual_info_regression(x, y, n_neighbors=k, random_state=random_state)[0])


PEERS = {
    "sklearn-tree (NPEET-style)": ksg_sklearn_tree,
    "cKDTree (workers=-1)": ksg_ckdtree,
}
