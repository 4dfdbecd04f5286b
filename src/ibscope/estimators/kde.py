"""Gaussian-kernel density (KDE) entropy by leave-one-out resubstitution.

    H = -(1/n) sum_i log p_{-i}(x_i),
    p_{-i}(x) = 1/(n-1) sum_{j != i} N(x; x_j, h^2 I)

on whitened data (with the 0.5 log det Cov correction). The bandwidth h
maximises the leave-one-out log-likelihood, which is exactly -n times the
resubstitution entropy above, so selection and estimation share one O(n^2)
kernel: a log-grid search between 0.05 and 3 times Silverman's rule, then a
bounded scalar refinement. Pairwise distances are computed in blocks with
torch (CPU or CUDA), never as an n x n matrix.

Cost is O(n^2 * n_bandwidths); use it for n up to a few 10^4.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from .._validation import check_choice
from ._preprocess import PREPROCESS, prepare_pair, whiten
from .base import EntropyEstimator, MIEstimator, jitter_ties

_LOG_2PI = np.log(2.0 * np.pi)


#: distance entries per block of the leave-one-out sums (halved on out-of-memory)
_KDE_BLOCK_ENTRIES = 1 << 21


def _loo_entropies(z: np.ndarray, log_hs: np.ndarray, device=None) -> np.ndarray:
    """Leave-one-out resubstitution entropy (nats) for each log-bandwidth in ``log_hs``.

    Blocks of rows against all points; when a block runs out of (GPU) memory the
    cache is emptied and the block halved, down to one row, and a memory note goes
    to the call's warnings (:func:`ibscope._torch.note_memory`); the sums then run
    in another order (a rounding-level change, within the 1e-8 relative GPU
    tolerance). One row that does not fit raises a :class:`MemoryError`.
    """
    import torch

    from .._torch import free_cached_memory, is_out_of_memory, memory_error, note_memory, resolve_device

    dev = resolve_device(device, "KDE")
    n, d = z.shape
    advice = "Use fewer samples, or pass device='cpu'."
    oom = None
    try:
        pts = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float64)).to(dev)
        hs2 = torch.from_numpy(np.exp(2.0 * np.asarray(log_hs, dtype=np.float64))).to(dev)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        oom = RuntimeError(str(exc))
    if oom is not None:
        free_cached_memory(dev)
        raise memory_error("KDE", dev, f"copying {n} x {d} points to the device", advice, oom)
    chunk = first = max(1, min(n, _KDE_BLOCK_ENTRIES // max(n, 1)))
    total = torch.zeros(len(log_hs), dtype=torch.float64, device=dev)

    def block_sums(start: int, stop: int):
        block = pts[start:stop]
        d2 = torch.cdist(block, pts, compute_mode="donot_use_mm_for_euclid_dist") ** 2  # (c, n)
        rows = torch.arange(block.shape[0], device=dev)
        d2[rows, rows + start] = float("inf")  # leave one out
        return torch.stack([torch.logsumexp(-d2 / (2.0 * h2), dim=1).sum() for h2 in hs2])

    start = 0
    while start < n:
        oom = None
        try:
            total += block_sums(start, start + chunk)  # all bandwidths at once: a retried block never counts twice
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            oom = RuntimeError(str(exc))  # the text only: the traceback holds the block's tensors
        if oom is None:
            start += chunk
            continue
        free_cached_memory(dev)
        if chunk == 1:
            raise memory_error("KDE", dev, f"summing kernels for n={n} points: even one row of distances against "
                               f"all points (about {3 * 8 * n / 2**20:.1f} MiB with temporaries) does not fit",
                               advice, oom)
        chunk = max(1, chunk // 2)
    if chunk < first:
        where = "GPU memory" if str(dev).startswith("cuda") else f"memory on {dev}"
        note_memory(f"KDE ran out of {where} with blocks of {first} rows x {n} points and went on with blocks of "
                    f"{chunk} rows (the sums run in another order: rounding-level changes only).")
    log_norm = np.log(n - 1.0) + 0.5 * d * (_LOG_2PI + 2.0 * np.asarray(log_hs))
    return -(total.cpu().numpy() / n) + log_norm


def kde_entropy(z: np.ndarray, *, bandwidth=None, n_grid: int = 12, device=None):
    """KDE LOO entropy of whitened ``z``; returns ``(entropy_nats, bandwidth)``."""
    n, d = z.shape
    if bandwidth is not None:
        log_h = np.log(float(bandwidth))
        return float(_loo_entropies(z, np.array([log_h]), device)[0]), float(bandwidth)
    silverman = (4.0 / (d + 2.0)) ** (1.0 / (d + 4.0)) * n ** (-1.0 / (d + 4.0))
    grid = np.log(silverman) + np.linspace(np.log(0.05), np.log(3.0), n_grid)
    hs = _loo_entropies(z, grid, device)
    best = int(np.argmin(hs))
    lo = grid[max(best - 1, 0)]
    hi = grid[min(best + 1, len(grid) - 1)]
    res = minimize_scalar(lambda lh: float(_loo_entropies(z, np.array([lh]), device)[0]),
                          bounds=(lo, hi), method="bounded", options={"xatol": 1e-2})
    if res.fun < hs[best]:
        return float(res.fun), float(np.exp(res.x))
    return float(hs[best]), float(np.exp(grid[best]))


class KDEEntropy(EntropyEstimator):
    """Gaussian-kernel leave-one-out entropy (see module docs).

    Parameters
    ----------
    bandwidth : float or None, default=None
        Kernel width on whitened data; None selects it by leave-one-out likelihood.
    n_grid : int, default=12
        Points of the log-grid bandwidth search.
    units, ci, n_subsamples, device, random_state
    """

    name = "kde"

    def __init__(self, *, bandwidth=None, n_grid=12, units="nats", ci=None, n_subsamples=30, device=None,
                 random_state=None):
        self._store_params(locals())

    def _prepare(self, x, call):
        return jitter_ties(x, "x", call.rng, call.warnings)

    def _core(self, x, call):
        z, offset = whiten(x, "x", [])
        return kde_entropy(z, bandwidth=self.bandwidth, n_grid=self.n_grid, device=self.device)[0] + offset


class KDEMI(MIEstimator):
    """MI as H(X) + H(Y) - H(X,Y) with leave-one-out KDE entropies (see module docs).

    Parameters
    ----------
    preprocess : {"standardize", "rank", None}, default="standardize"
    n_grid : int, default=12
    units, ci, n_subsamples, device, random_state
    """

    name = "kde"
    _cost_exponent = 2.0  # all pairs, for every bandwidth (cost forecast)

    def __init__(self, *, preprocess="standardize", n_grid=12, units="nats", ci=None, n_subsamples=30,
                 device=None, random_state=None):
        self._store_params(locals())

    def _check_params(self, n_samples):
        check_choice(self.preprocess, "preprocess", self._owner, PREPROCESS)

    def _prepare(self, x, y, call):
        if len(x) > 20000:
            call.warnings.append(f"KDE costs O(n^2) per bandwidth; n={len(x)} will be slow. Consider KSG.")
        x, y = prepare_pair(x, y, self.preprocess, call.rng, call.warnings)
        return whiten(x, "x", call.warnings)[0], whiten(y, "y", call.warnings)[0]

    def _core(self, zx, zy, call):
        hx = kde_entropy(zx - zx.mean(axis=0), n_grid=self.n_grid, device=self.device)[0]
        hy = kde_entropy(zy - zy.mean(axis=0), n_grid=self.n_grid, device=self.device)[0]
        w, half_logdet = whiten(np.hstack([zx, zy]), "joint (x, y)", [])
        hxy = kde_entropy(w, n_grid=self.n_grid, device=self.device)[0] + half_logdet
        return hx + hy - hxy
