"""The ``"torch"`` neighbour backend: chunked brute force on CPU or CUDA.

Distances are computed block by block (``chunk`` rows against all points), so
memory stays O(chunk * n) and an n x n matrix is never materialised. The KSG
routine is fused: one block of X- and Y-distances gives the joint radius and
both marginal counts. torch is imported on first use only.
"""

from __future__ import annotations

import numpy as np

from ._dispatch import resolve_device

#: target number of distance entries per torch block (memory ~ 8 bytes each, a few arrays)
_BLOCK_ENTRIES = 1 << 21


def _pairwise(a, b, metric: str):
    import torch

    if metric == "euclidean":
        return torch.cdist(a, b, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
    return torch.cdist(a, b, p=float("inf"))


def _chunk_rows(n: int, arrays: int = 1) -> int:
    return max(1, min(n, _BLOCK_ENTRIES // max(n * arrays, 1)))


def _as_torch(x: np.ndarray, device: str):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).to(device)


def _self_in(r, strict: bool):
    # the point itself (distance 0) is within r when 0 < r (strict) or 0 <= r
    return (r > 0) if strict else (r >= 0)


def knn(points: np.ndarray, k: int, metric: str, device: str):
    """Distances (n, k) and indices (n, k) of the ``k`` nearest neighbours, self excluded."""
    import torch

    dev = resolve_device(device)
    pts = _as_torch(points, dev)
    n = len(points)
    chunk = _chunk_rows(n)
    dists = np.empty((n, k))
    idxs = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, chunk):
        block = _pairwise(pts[start:start + chunk], pts, metric)
        rows = torch.arange(block.shape[0], device=dev)
        block[rows, rows + start] = float("inf")  # exclude self
        vals, ind = torch.topk(block, k, dim=1, largest=False, sorted=True)
        dists[start:start + chunk] = vals.cpu().numpy()
        idxs[start:start + chunk] = ind.cpu().numpy()
    return dists, idxs


def count(points: np.ndarray, radii: np.ndarray, metric: str, strict: bool, device: str) -> np.ndarray:
    """Number of other points within ``radii[i]`` of each point (``<`` when ``strict``, else ``<=``)."""
    dev = resolve_device(device)
    pts = _as_torch(points, dev)
    r = _as_torch(radii, dev)
    n = len(points)
    chunk = _chunk_rows(n)
    counts = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk):
        block = _pairwise(pts[start:start + chunk], pts, metric)
        rr = r[start:start + chunk, None]
        inside = block < rr if strict else block <= rr
        c = inside.sum(dim=1) - _self_in(rr[:, 0], strict).long()
        counts[start:start + chunk] = c.cpu().numpy()
    return counts


def ksg(x: np.ndarray, y: np.ndarray, k: int, variant: int, device: str):
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
