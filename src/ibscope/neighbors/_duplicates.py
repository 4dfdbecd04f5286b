"""Duplicate rows of a sample, counted by hashing (ties matter to kNN estimators)."""

from __future__ import annotations

import numpy as np


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
