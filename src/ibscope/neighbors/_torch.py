"""The ``"torch"`` neighbour backend: chunked brute force on CPU or CUDA.

Distances are computed block by block (``chunk`` rows against all points), so
memory stays O(chunk * n) and an n x n matrix is never materialised. The KSG
routine is fused: one block of X- and Y-distances gives the joint radius and
both marginal counts. torch is imported on first use only.

Block size and memory
---------------------
On the CPU a block holds about :data:`_BLOCK_ENTRIES` distances per array. On
CUDA the blocks are sized from the free GPU memory (``torch.cuda.mem_get_info``
plus what torch's caching allocator holds unused), using at most half of it and
at most :data:`_CUDA_MAX_BLOCK_ENTRIES` distances per array;
:data:`_CUDA_BLOCK_ENTRIES` fixes the size instead (a diagnostic). When a block
still runs out of memory (another process, a capped allocator), the cache is
emptied and the block halved, down to one row; every row's result depends on
that row and all points only, so the values do not change with the block size.
A reduction is recorded as a memory note (:func:`ibscope._torch.note_memory`),
which ``estimate`` copies into the result's ``warnings``; when one row against
all points does not fit, a :class:`MemoryError` says so and what to change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._torch import free_cached_memory, is_out_of_memory, memory_error, note_memory
from ._dispatch import resolve_device

#: target number of distance entries per torch block on the CPU (memory ~ 8 bytes each, a few arrays)
_BLOCK_ENTRIES = 1 << 21
#: fixed distance entries per block on CUDA; None sizes the blocks from the free GPU memory
_CUDA_BLOCK_ENTRIES: int | None = None
#: most distance entries per array in one CUDA block (1 GiB of float64)
_CUDA_MAX_BLOCK_ENTRIES = 1 << 27
#: share of the free GPU memory one block may use
_CUDA_FREE_SHARE = 0.5

_ADVICE = ("Use fewer samples, or the compiled CPU search (backend='numba', or device='cpu'), which needs O(n) "
           "memory only.")


def _cdist(a, b, p: float):
    """``torch.cdist`` with the exact (non-matmul) Euclidean mode: the one distance kernel of this backend."""
    import torch

    if p == 2.0:
        return torch.cdist(a, b, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
    return torch.cdist(a, b, p=p)


def _pairwise(a, b, metric: str):
    return _cdist(a, b, 2.0 if metric == "euclidean" else float("inf"))


def _chunk_rows(n: int, arrays: int = 1) -> int:
    return max(1, min(n, _BLOCK_ENTRIES // max(n * arrays, 1)))


def _cuda_free_bytes(dev: str) -> int:
    """Free bytes on the GPU ``dev``: the driver's free memory plus torch's reserved-but-unused cache."""
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(dev))
    cached = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
    return int(free) + max(int(cached), 0)


def _block_rows(n: int, dev: str, arrays: int, gpu_arrays: int) -> int:
    """Rows per block: ``arrays`` float64 arrays of ``rows x n`` on the CPU (the fixed budget), ``gpu_arrays``
    (temporaries included) on CUDA, sized from the free memory."""
    if not dev.startswith("cuda"):
        return _chunk_rows(n, arrays)
    if _CUDA_BLOCK_ENTRIES is not None:
        entries = int(_CUDA_BLOCK_ENTRIES)
        return max(1, min(n, entries // max(n * arrays, 1)))
    try:
        free = _cuda_free_bytes(dev)
    except Exception:  # noqa: BLE001 - no memory query (old torch, odd device): the CPU budget
        return _chunk_rows(n, arrays)
    by_memory = int(free * _CUDA_FREE_SHARE) // (8 * gpu_arrays * max(n, 1))
    by_cap = _CUDA_MAX_BLOCK_ENTRIES // max(n, 1)
    return max(1, min(n, by_memory, by_cap))


def _upload(a: np.ndarray, dev: str, what: str):
    import torch

    oom = None
    try:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).to(dev)
    except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled
        if not is_out_of_memory(exc):
            raise
        oom = str(exc)
    free_cached_memory(dev)
    raise memory_error("ibscope.neighbors (torch backend)", dev,
                       f"copying {what} ({a.shape[0]} x {a.shape[1] if a.ndim > 1 else 1} float64, "
                       f"{a.size * 8 / 2**20:.1f} MiB) to the device", _ADVICE, RuntimeError(oom))


def _as_torch(x: np.ndarray, device: str):
    return _upload(x, device, "the points")


def _blocked(n: int, dev: str, rows: int, run: Callable[[int, int], None], what: str, gpu_arrays: int) -> None:
    """Call ``run(start, stop)`` over row blocks of at most ``rows`` rows; on out-of-memory empty the cache,
    halve the block and retry the same rows, down to one row (then a :class:`MemoryError`)."""
    first, start = rows, 0
    while start < n:
        stop = min(n, start + rows)
        oom = None
        try:
            run(start, stop)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled
            if not is_out_of_memory(exc):
                raise
            oom = str(exc)  # keep the text only: the traceback holds the block's tensors
        if oom is None:
            start = stop
            continue
        free_cached_memory(dev)
        if rows == 1:
            need = gpu_arrays * 8 * n / 2**20
            raise memory_error(
                "ibscope.neighbors (torch backend)", dev,
                f"computing {what} for n={n} points: even one row of distances against all points (about "
                f"{need:.1f} MiB with its temporaries) does not fit", _ADVICE, RuntimeError(oom))
        rows = max(1, rows // 2)
    if rows < first:
        cuda = dev.startswith("cuda")
        where = "GPU memory" if cuda else f"memory on {dev}"
        tip = " Free GPU memory, or use backend='numba' / device='cpu', if it is slow." if cuda else ""
        note_memory(f"The torch neighbour search ran out of {where} for {what} with blocks of {first} rows x "
                    f"{n} points and went on with blocks of {rows} rows (same results, more kernel launches).{tip}")


def _self_in(r, strict: bool):
    # the point itself (distance 0) is within r when 0 < r (strict) or 0 <= r
    return (r > 0) if strict else (r >= 0)


def knn(points: np.ndarray, k: int, metric: str, device: str):
    """Distances (n, k) and indices (n, k) of the ``k`` nearest neighbours, self excluded."""
    import torch

    dev = resolve_device(device)
    pts = _as_torch(points, dev)
    n = len(points)
    dists = np.empty((n, k))
    idxs = np.empty((n, k), dtype=np.int64)

    def run(start: int, stop: int) -> None:
        block = _pairwise(pts[start:stop], pts, metric)
        rows = torch.arange(block.shape[0], device=dev)
        block[rows, rows + start] = float("inf")  # exclude self
        vals, ind = torch.topk(block, k, dim=1, largest=False, sorted=True)
        dists[start:stop] = vals.cpu().numpy()
        idxs[start:stop] = ind.cpu().numpy()

    _blocked(n, dev, _block_rows(n, dev, 1, 3), run, f"the {k} nearest neighbours ({metric})", 3)
    return dists, idxs


def count(points: np.ndarray, radii: np.ndarray, metric: str, strict: bool, device: str) -> np.ndarray:
    """Number of other points within ``radii[i]`` of each point (``<`` when ``strict``, else ``<=``)."""
    dev = resolve_device(device)
    pts = _as_torch(points, dev)
    r = _upload(radii, dev, "the radii")
    n = len(points)
    counts = np.empty(n, dtype=np.int64)

    def run(start: int, stop: int) -> None:
        block = _pairwise(pts[start:stop], pts, metric)
        rr = r[start:stop, None]
        inside = block < rr if strict else block <= rr
        c = inside.sum(dim=1) - _self_in(rr[:, 0], strict).long()
        counts[start:stop] = c.cpu().numpy()

    _blocked(n, dev, _block_rows(n, dev, 1, 3), run, f"range counts ({metric})", 3)
    return counts


def ksg(x: np.ndarray, y: np.ndarray, k: int, variant: int, device: str):
    """Fused brute-force KSG counts: per block of rows, one X- and one Y-distance
    block give the joint k-th radius (max of the two) and both marginal counts."""
    import torch

    dev = resolve_device(device)
    tx = _upload(x, dev, "x")
    ty = _upload(y, dev, "y")
    n = len(x)
    nx = torch.empty(n, dtype=torch.int64, device=dev)
    ny = torch.empty(n, dtype=torch.int64, device=dev)
    inf = float("inf")

    def run(start: int, stop: int) -> None:
        dx = _cdist(tx[start:stop], tx, inf)
        dy = _cdist(ty[start:stop], ty, inf)
        dz = torch.maximum(dx, dy)
        rows = torch.arange(stop - start, device=dev)
        dz[rows, rows + start] = inf  # exclude self from the joint neighbours
        kth = torch.topk(dz, k, dim=1, largest=False, sorted=True).values[:, -1:]
        if variant == 1:
            self_in = (kth[:, 0] > 0).long()
            nx[start:stop] = (dx < kth).sum(dim=1) - self_in
            ny[start:stop] = (dy < kth).sum(dim=1) - self_in
            return
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

    gpu_arrays = 6 if variant == 1 else 10  # dx, dy, dz, comparisons; variant 2 adds masks, cumsum and where
    _blocked(n, dev, _block_rows(n, dev, 3, gpu_arrays), run, f"KSG-{variant} counts", gpu_arrays)
    return nx.cpu().numpy(), ny.cpu().numpy()
