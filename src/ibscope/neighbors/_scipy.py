"""The ``"kdtree"`` neighbour backend: scipy's ``cKDTree`` and scikit-learn's ``KDTree``, refined to exact values.

scipy finds the candidates; the values are then computed here with the same
IEEE operations as the numba kernels (:mod:`ibscope.neighbors._numba`), so
that this backend returns *bit-identical* results, Euclidean ones included:

* distances are ``max_d |p_d - q_d|`` (max-norm) or the square root of the
  squares summed in coordinate order, ``((0 + x_0^2) + x_1^2) + ...``
  (cKDTree sums them in another order, which can differ in the last bit);
* neighbours are ordered by (distance, index), so ties go to the smaller
  index, as in the kernels (and in a stable sort);
* kNN takes a few more candidates than it needs and keeps a row only when its
  k-th distance lies strictly below every point it did not look at (with a
  margin of :data:`_MARGIN`, relative, for the Euclidean rounding); a row that
  fails (ties at the edge of its candidate list, duplicate points) is
  searched exhaustively;
* Euclidean range counts are taken at two radii, ``r (1 - margin)`` and
  ``r (1 + margin)``; a row whose two counts differ has a point within
  rounding of its radius, and only that row's points in the outer ball are
  tested exactly. Max-norm distances involve no rounding, and tree counts of
  max-norm balls are exact as they are (``nextafter`` turns ``< r`` into
  ``<= r'``); scikit-learn's ``KDTree`` counts them, about three times faster
  than cKDTree.

This makes the backend the one that serves first calls while the numba
kernels compile (see :mod:`ibscope.neighbors._warm`). scipy and
scikit-learn are imported on first use only.
"""

from __future__ import annotations

import numpy as np

#: candidates fetched beyond the k neighbours and the point itself
_EXTRA = 2
#: relative margin between cKDTree's Euclidean distances and the ordered sums
#: (both err by at most about (d + 2) units in the last place; far below this)
_MARGIN = 1e-9
#: rows per block of the exact distance computations (bounds the temporary memory)
_ROWS = 4096


def _p(metric: str) -> float:
    return np.inf if metric == "chebyshev" else 2.0


def _n_workers() -> int:
    return -1


def _keys(points: np.ndarray, rows: np.ndarray, cols: np.ndarray, metric: str) -> np.ndarray:
    """The kernels' comparison keys between points ``rows[i]`` and ``cols[i, j]``: the max-norm
    distance, or the squared Euclidean distance summed in coordinate order."""
    q = points[rows][:, None, :]
    p = points[cols]
    if metric == "chebyshev":
        return np.abs(p - q).max(axis=2)
    out = np.zeros(cols.shape)
    for c in range(points.shape[1]):
        g = p[:, :, c] - q[:, :, c]
        out += g * g
    return out


def _exhaustive(points: np.ndarray, rows: np.ndarray, k: int, metric: str):
    """Keys and indices of the k nearest neighbours of ``rows`` by a full scan (ties: smaller index)."""
    n = len(points)
    keys = np.empty((len(rows), k))
    idx = np.empty((len(rows), k), dtype=np.int64)
    step = max(1, _ROWS * 64 // max(n, 1))
    every = np.arange(n)
    for s in range(0, len(rows), step):
        r = rows[s:s + step]
        key = _keys(points, r, np.broadcast_to(every, (len(r), n)), metric)
        key[np.arange(len(r)), r] = np.inf  # not its own neighbour
        order = np.argsort(key, axis=1, kind="stable")[:, :k]
        keys[s:s + step] = np.take_along_axis(key, order, axis=1)
        idx[s:s + step] = order
    return keys, idx


def knn(points: np.ndarray, k: int, metric: str):
    """Distances (n, k) and indices (n, k) of the ``k`` nearest neighbours, self excluded."""
    from scipy.spatial import cKDTree

    n = len(points)
    n_cand = min(n, k + 1 + _EXTRA)
    s_dist, cand = cKDTree(points).query(points, n_cand, p=_p(metric), workers=_n_workers())
    s_dist = s_dist.reshape(n, n_cand)
    cand = cand.reshape(n, n_cand).astype(np.int64)
    keys = np.empty((n, k))
    idx = np.empty((n, k), dtype=np.int64)
    redo = []
    for s in range(0, n, _ROWS):
        rows = np.arange(s, min(n, s + _ROWS))
        c = cand[rows]
        key = _keys(points, rows, c, metric)
        key[c == rows[:, None]] = np.inf  # the point itself sorts last
        order = np.lexsort((c, key), axis=1)[:, :k]
        kk = np.take_along_axis(key, order, axis=1)
        keys[rows], idx[rows] = kk, np.take_along_axis(c, order, axis=1)
        if n_cand < n:
            # every point outside the candidates is at least s_dist[:, -1] away (cKDTree's own value)
            edge = s_dist[rows, -1]
            if metric == "euclidean":
                edge = edge * (1.0 - _MARGIN)
                edge = edge * edge
            redo.append(rows[~(kk[:, -1] < edge)])
    redo_rows = np.concatenate(redo) if redo else np.empty(0, dtype=np.int64)
    if len(redo_rows):
        keys[redo_rows], idx[redo_rows] = _exhaustive(points, redo_rows, k, metric)
    return (np.sqrt(keys) if metric == "euclidean" else keys), idx


def count(points: np.ndarray, radii: np.ndarray, metric: str, strict: bool) -> np.ndarray:
    """Number of other points within ``radii[i]`` of each point (``<`` when ``strict``, else ``<=``)."""
    from scipy.spatial import cKDTree

    n = len(points)
    counts = np.zeros(n, dtype=np.int64)
    if metric == "chebyshev":
        # no rounding in max-norm distances: one ulp below r gives "< r" exactly
        r = np.nextafter(radii, -np.inf) if strict else radii
        valid = r >= 0
        if valid.any():
            # scikit-learn's KDTree counts max-norm balls exactly too (its box bounds are the same
            # monotone max / abs operations), and about 3x faster than cKDTree's query_ball_point
            from sklearn.neighbors import KDTree

            found = KDTree(points, metric="chebyshev").query_radius(points[valid], r[valid], count_only=True)
            counts[valid] = np.asarray(found, dtype=np.int64) - 1
        return counts
    tree = cKDTree(points)
    ok = radii > 0  # NaN and negative radii count nothing; 0 needs the exact test (duplicates)
    inner = np.zeros(n, dtype=np.int64)
    outer = np.full(n, -1, dtype=np.int64)
    if ok.any():
        found = tree.query_ball_point(points[ok], radii[ok] * (1.0 - _MARGIN), p=2.0, workers=_n_workers(),
                                      return_length=True)
        inner[ok] = np.asarray(found, dtype=np.int64)
        found = tree.query_ball_point(points[ok], radii[ok] * (1.0 + _MARGIN), p=2.0, workers=_n_workers(),
                                      return_length=True)
        outer[ok] = np.asarray(found, dtype=np.int64)
    sure = ok & (inner == outer)
    counts[sure] = inner[sure] - 1
    unsure = np.flatnonzero(~sure & ((radii == 0) | ok))
    if len(unsure):
        r = radii[unsure]
        lists = tree.query_ball_point(points[unsure], r * (1.0 + _MARGIN), p=2.0, workers=_n_workers())
        for i, r_i, members in zip(unsure, r, lists):
            m = np.asarray(members, dtype=np.int64)
            m = m[m != i]
            if len(m) == 0:
                continue
            dist = np.sqrt(_keys(points, np.array([i]), m[None, :], metric)[0])
            counts[i] = int(np.count_nonzero(dist < r_i if strict else dist <= r_i))
    return counts


def ksg(x: np.ndarray, y: np.ndarray, k: int, variant: int):
    """KSG marginal counts from the exact joint max-norm kNN and two marginal range counts."""
    z = np.ascontiguousarray(np.hstack([x, y]))
    dist, idx = knn(z, k, "chebyshev")
    if variant == 1:
        eps = dist[:, -1]
        return count(x, eps, "chebyshev", True), count(y, eps, "chebyshev", True)
    # the largest X- and Y-distances within the k-neighbour set (ties at the k-th distance: smaller index)
    eps_x = np.abs(x[idx] - x[:, None, :]).max(axis=(1, 2))
    eps_y = np.abs(y[idx] - y[:, None, :]).max(axis=(1, 2))
    return count(x, eps_x, "chebyshev", False), count(y, eps_y, "chebyshev", False)
