"""I(L;Y) by decoding: a variational lower bound from cross-fitted linear probes of the layers.

For any decoder q(y | l) that did not see a probe row's label,

    I(L;Y) >= H(Y) - E[-log q(Y | L)]                                   (Barber & Agakov)

and the sample mean of the held-out cross-entropies estimates the expectation
without bias, with standard error sd / sqrt(n). The decoders here:

* **a linear probe of the layer** (multinomial logistic regression, L2
  penalty ``l2``) on the layer's standardised activations, reduced to at most
  ``max_dim`` whitened principal components (a basis fitted without labels on
  the probe activations of the fit epoch and kept, like the layer compressors);
  each row's cross-entropy comes from the probe fitted on the other fold
  (``n_folds``-fold cross-fitting with a fixed, seeded fold assignment);
* **the network's own head**: its log-probabilities on the probe pass (the
  Barber-Agakov bound of :mod:`ibscope.ib.bounds`).

In a noisy network X -> L1 -> ... -> Ln a decoder of a later layer L_j,
composed with the network's own (noisy) path from L_i to L_j, is a decoder of
L_i, so each layer's bound is the best over its own probe, the probes of every
later layer and the head. The reported I(L_i;Y) is therefore a lower bound of
the true value, and it respects the data-processing order by construction; the
layer's own probe alone is reported beside it (``i_ly_own``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["LinearProbes", "decoder_bounds"]


def _fit_softmax(x, y, n_classes: int, l2: float, max_iter: int):
    """Weights and bias of an L2-penalised softmax regression, fitted by L-BFGS from zero."""
    import torch

    w = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-6, tolerance_change=1e-9,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the enclosed torch operations on one intra-op thread (the previous count is restored).

    The probes' tensors are small (a few thousand rows by at most ``max_dim``
    features and a handful of classes), so torch's intra-op parallelism only adds
    synchronisation: on a loaded 2-core machine a fit spent most of its time
    waiting for the second thread (``benchmarks/bench_ib.py``). One thread also
    makes the fitted probes independent of the machine's core count (parallel
    reductions sum in a different order). Under torch's OpenMP backend the
    setting is per thread for threads that already ran torch code, so a training
    loop in another thread keeps its own thread count.
    """
    import torch

    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cross_entropies(z: np.ndarray, y: np.ndarray, folds: np.ndarray, n_classes: int, l2: float,
                     max_iter: int) -> np.ndarray:
    """Held-out cross-entropy (nats) of every row, from a softmax regression fitted on the other folds."""
    import torch

    with one_torch_thread():
        zt = torch.as_tensor(z, dtype=torch.float64)
        yt = torch.as_tensor(y, dtype=torch.int64)
        out = torch.empty(len(y), dtype=torch.float64)
        for f in np.unique(folds):
            test = torch.as_tensor(folds == f)
            w, b = _fit_softmax(zt[~test], yt[~test], n_classes, l2, max_iter)
            out[test] = torch.nn.functional.cross_entropy(zt[test] @ w + b, yt[test], reduction="none")
        return out.numpy()


class LinearProbes:
    """Cross-fitted linear probes of the layers (see the module notes).

    Parameters
    ----------
    max_dim : int, default=128
        Layers wider than this are reduced to their ``max_dim`` leading whitened
        principal components before the probe.
    n_folds : int, default=2
        Folds of the cross-fitting.
    l2 : float, default=1e-4
        L2 penalty on the probe's weights (standardised inputs).
    max_iter : int, default=30
        L-BFGS iterations per probe (on the MNIST layers, 30 gave the bounds of 100 to 0.0005 nats,
        in a quarter of the time).
    random_state : int, default=0
        Seed of the fold assignment and the PCA bases.

    Attributes
    ----------
    bases_ : dict of str to PCACompressor or None
        Per layer, the reduction used (None: the layer is standardised as it is).
    """

    def __init__(self, *, max_dim: int = 128, n_folds: int = 2, l2: float = 1e-4, max_iter: int = 30,
                 random_state: int = 0) -> None:
        self.max_dim = max_dim
        self.n_folds = n_folds
        self.l2 = l2
        self.max_iter = max_iter
        self.random_state = random_state
        self.bases_: dict[str, Any] = {}

    def _folds(self, n: int) -> np.ndarray:
        return np.random.default_rng(self.random_state).permutation(n) % self.n_folds

    def features(self, name: str, acts: np.ndarray, *, refit: bool = False) -> np.ndarray:
        """Standardised (or whitened PCA) features of one layer; the basis is fitted on first use."""
        from ..compress import PCACompressor

        a = np.asarray(acts, dtype=np.float64)
        if refit or name not in self.bases_:
            self.bases_[name] = (PCACompressor(self.max_dim, whiten=True, random_state=self.random_state).fit(a)
                                 if a.shape[1] > self.max_dim else None)
        basis = self.bases_[name]
        if basis is not None:
            return np.asarray(basis.transform(a), dtype=np.float64)
        sd = a.std(axis=0)
        return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)

    def cross_entropies(self, name: str, acts: np.ndarray, labels: np.ndarray, *, refit: bool = False) -> np.ndarray:
        """Held-out cross-entropy (nats) of every probe row under the layer's linear probe.

        ``labels`` are codes 0..C-1 (every class needs a row in every training fold).
        """
        y = np.asarray(labels, dtype=np.int64)
        z = self.features(name, acts, refit=refit)
        return _cross_entropies(z, y, self._folds(len(y)), int(y.max()) + 1, float(self.l2), int(self.max_iter))


def decoder_bounds(h_y: float, own: dict[str, np.ndarray], head: np.ndarray | None, order: list[str],
                   level: float | None) -> dict[str, dict[str, Any]]:
    """Per layer, the best lower bound on I(L;Y) over its own probe, later layers' probes and the head.

    Parameters
    ----------
    h_y : float
        Plug-in entropy of the probe labels (nats).
    own : dict of str to ndarray
        Per layer, the held-out cross-entropy of every probe row under its own probe.
    head : ndarray or None
        The network's per-row negative log-likelihood of the true label (None: no head).
    order : list of str
        Layers from the input side to the output side.
    level : float or None
        Confidence level of the intervals (normal, from the standard error of the mean).

    Returns
    -------
    dict
        Per layer: ``value``, ``own`` (its own probe's bound), ``se``, ``ci_low``,
        ``ci_high`` (None without ``level``) and ``decoder`` (``"linear(L3)"`` or ``"head"``).
    """
    from scipy.stats import norm

    def bound(ce: np.ndarray) -> tuple[float, float]:
        return h_y - float(ce.mean()), float(ce.std(ddof=1) / math.sqrt(len(ce))) if len(ce) > 1 else math.nan

    candidates: list[tuple[str, float, float]] = []
    if head is not None:
        candidates.append(("head", *bound(head)))
    z = float(norm.ppf(0.5 + level / 2.0)) if level is not None else None
    out: dict[str, dict[str, Any]] = {}
    for name in reversed(order):
        own_value, own_se = bound(own[name])
        candidates.append((f"linear({name})", own_value, own_se))
        decoder, value, se = max(candidates, key=lambda c: c[1])
        out[name] = {"value": value, "own": own_value, "se": se, "decoder": decoder,
                     "ci_low": None if z is None else value - z * se, "ci_high": None if z is None else value + z * se}
    return out
