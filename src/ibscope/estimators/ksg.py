"""Kraskov-Stoegbauer-Grassberger (KSG) estimators of mutual information."""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from .. import neighbors
from .._validation import check_choice, check_k
from ._preprocess import PREPROCESS, prepare_pair
from .base import MIEstimator


def ksg_ceiling(n: int, k: int) -> float:
    """Largest value KSG-I can return for ``n`` samples: psi(n) - psi(k) (nats)."""
    return float(digamma(n) - digamma(k))


def ksg_from_counts(nx: np.ndarray, ny: np.ndarray, n: int, k: int, variant: int) -> float:
    """KSG estimate (nats) from the marginal neighbour counts."""
    if variant == 1:
        return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1)))
    return float(digamma(k) - 1.0 / k + digamma(n) - np.mean(digamma(nx) + digamma(ny)))


class KSG(MIEstimator):
    """KSG mutual-information estimator (Kraskov, Stoegbauer & Grassberger 2004).

    Uses the max-norm in the joint space. Variant 1 counts marginal neighbours
    strictly inside the joint k-NN radius; variant 2 uses the per-side extents of
    the k-neighbour set (a little less bias, a little more variance).

    Parameters
    ----------
    k : int, default=5
        Number of neighbours; larger k lowers variance and raises bias.
    variant : {1, 2}, default=1
    preprocess : {"rank", "standardize", None}, default="rank"
        MI-preserving per-column map applied to each side first. "rank" (normal
        scores) won the accuracy benchmark: it removes the effect of monotone
        distortions and heavy tails of the marginals at no cost on Gaussian data
        (``benchmarks/bench_accuracy.py``; docs/results/accuracy.md).
    units : {"nats", "bits"}, default="nats"
    ci : float or None, default=None
        Confidence level of a subsampling interval (see :mod:`ibscope.stats`).
    n_subsamples : int, default=30
        Number of half-samples for the interval.
    backend : {"auto", "kdtree", "torch"}, default="auto"
        Neighbour-search backend (see :mod:`ibscope.neighbors`).
    device : str or None
        Torch device for the brute-force backend ("cuda" uses a GPU).
    random_state : int, Generator or None
        Seeds tie-breaking jitter and subsampling.

    Notes
    -----
    KSG never exceeds psi(n) - psi(k) (its value for Y = X); estimates close to
    that ceiling are flagged in ``warnings``.

    References
    ----------
    Kraskov, Stoegbauer, Grassberger. Estimating mutual information. PRE 69, 066138 (2004).
    """

    #: worst-case growth of the k-NN search with n (a scan of all leaves in many dimensions): cost forecast
    _cost_exponent = 2.0

    def __init__(self, *, k=5, variant=1, preprocess="rank", units="nats", ci=None, n_subsamples=30,
                 backend="auto", device=None, random_state=None):
        self._store_params(locals())

    def _check_params(self, n_samples):
        check_k(self.k, n_samples, self._owner)
        check_choice(self.variant, "variant", self._owner, (1, 2))
        check_choice(self.preprocess, "preprocess", self._owner, PREPROCESS)
        check_choice(self.backend, "backend", self._owner, neighbors.BACKENDS)
        if self.device is not None:
            neighbors.resolve_device(self.device)

    @property
    def name(self) -> str:
        """Registry name: "ksg" (variant 1) or "ksg2"."""
        return "ksg2" if self.variant == 2 else "ksg"

    def _prepare(self, x, y, call):
        return prepare_pair(x, y, self.preprocess, call.rng, call.warnings)

    def _core(self, x, y, call):
        n = len(x)
        k = min(self.k, n - 1)
        nx, ny = neighbors.ksg_counts(x, y, k, variant=self.variant, backend=self.backend, device=self.device)
        return ksg_from_counts(nx, ny, n, k, self.variant)

    def _post_warnings(self, raw, x, y, call):
        n = len(x)
        ceiling = ksg_ceiling(n, self.k)
        if raw > ceiling - 2.0:
            call.warnings.append(
                f"Estimate {raw:.3f} nats is near the KSG ceiling psi(n)-psi(k) = {ceiling:.3f} nats "
                f"(n={n}, k={self.k}); the true MI may be much higher. Use more samples, a smaller k, "
                "or compress the data first."
            )


class KSGReference(KSG):
    """Slow O(n^2) reference KSG in plain numpy, for testing the fast path.

    Same parameters and results as :class:`KSG`, computed from full pairwise
    distance matrices. Use only for small n (memory grows as n^2).
    """

    @property
    def name(self) -> str:
        return "ksg-reference"

    def _core(self, x, y, call):
        n = len(x)
        k = min(self.k, n - 1)
        dx = np.abs(x[:, None, :] - x[None, :, :]).max(axis=2)
        dy = np.abs(y[:, None, :] - y[None, :, :]).max(axis=2)
        dz = np.maximum(dx, dy)
        np.fill_diagonal(dz, np.inf)
        order = np.argsort(dz, axis=1, kind="stable")[:, :k]
        if self.variant == 1:
            eps = np.take_along_axis(dz, order[:, -1:], axis=1)
            nx = (dx < eps).sum(axis=1) - 1
            ny = (dy < eps).sum(axis=1) - 1
        else:
            ex = np.take_along_axis(dx, order, axis=1).max(axis=1, keepdims=True)
            ey = np.take_along_axis(dy, order, axis=1).max(axis=1, keepdims=True)
            nx = (dx <= ex).sum(axis=1) - 1
            ny = (dy <= ey).sum(axis=1) - 1
        return ksg_from_counts(nx, ny, n, k, self.variant)
