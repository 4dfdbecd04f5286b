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
* **a small MLP probe** (:class:`MLPProbes`: one hidden ReLU layer, Adam with
  weight decay, early stopping and temperature scaling on a calibration part of
  the training fold), cross-fitted in the same way; a nonlinear decoder family
  helps only when calibrated, because the bound charges every overconfident
  mistake in full;
* **the network's own head**: its log-probabilities on the probe pass (the
  Barber-Agakov bound of :mod:`ibscope.plane.bounds`).

Each of these bounds is *usable information* for its decoder family V (the
V-information of Xu et al., ICLR 2020): what that family can extract from the
layer, a lower bound of I(L;Y). The rows it is evaluated on must be rows the
network never trained on, or the head's bound is an in-sample number.

In a noisy network X -> L1 -> ... -> Ln a decoder of a later layer L_j,
composed with the network's own (noisy) path from L_i to L_j, is a decoder of
L_i, so each layer's bound is the best over its own probe, the probes of every
later layer and the head. That best bound (``i_ly_best`` in ``info.csv``) is
therefore a lower bound of the true value, and it respects the data-processing
order by construction; the plotted ``i_ly`` is the layer's own probe alone, the
usable information of one named decoder family.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["LinearProbes", "MLPProbes", "decoder_bounds"]


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


def _fit_mlp(x, y, n_classes: int, *, hidden: int, epochs: int, lr: float, weight_decay: float, calib, gen):
    """An MLP fitted on ``x[~calib]`` with early stopping and a temperature fitted on ``x[calib]``.

    Returns ``(model, temperature)``; full-batch Adam, float64, seeded by ``gen``.
    """
    import torch

    from .._torch import init_weights_

    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, n_classes)).to(torch.float64)
    init_weights_(net, gen)
    fit, cal = ~calib, calib
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_state = math.inf, None
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x[fit]), y[fit])
        loss.backward()
        opt.step()
        with torch.no_grad():
            val = float(torch.nn.functional.cross_entropy(net(x[cal]), y[cal]))
        if val < best:
            best, best_state = val, [p.detach().clone() for p in net.parameters()]
    if best_state is not None:
        with torch.no_grad():
            for p, b in zip(net.parameters(), best_state):
                p.copy_(b)
    with torch.no_grad():
        logits = net(x[cal])
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    t_opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=50, line_search_fn="strong_wolfe")

    def closure():
        t_opt.zero_grad()
        val = torch.nn.functional.cross_entropy(logits / log_t.exp(), y[cal])
        val.backward()
        return val

    t_opt.step(closure)
    return net, float(log_t.detach().exp())


class MLPProbes(LinearProbes):
    """Cross-fitted, calibrated one-hidden-layer MLP probes of the layers (see the module notes).

    Each fold's decoder is fitted on the other folds: a ``calib_fraction`` of those rows is held
    back, the MLP (``hidden`` ReLU units, full-batch Adam, ``weight_decay``) is trained for at most
    ``epochs`` steps on the rest, keeping the step with the lowest cross-entropy on the held-back
    rows, and a temperature ``T`` (logits / T) is fitted on them (temperature scaling, Guo et al.
    2017). The held-out fold's cross-entropies come from that calibrated decoder. The features are
    those of :class:`LinearProbes` (standardised, or ``max_dim`` whitened principal components).

    Parameters
    ----------
    hidden : int, default=64
        Hidden units.
    max_dim : int, default=128
    n_folds : int, default=2
    calib_fraction : float, default=0.25
        Share of each training fold used for early stopping and the temperature.
    epochs : int, default=300
        Maximum full-batch Adam steps.
    lr : float, default=1e-2
    weight_decay : float, default=1e-3
    random_state : int, default=0
        Seed of the folds, the calibration split, the PCA bases and the weights.

    Attributes
    ----------
    bases_ : dict
        As in :class:`LinearProbes`.
    temperatures_ : dict of str to list of float
        The fitted temperature of each fold's decoder, per layer (last call).
    """

    def __init__(self, *, hidden: int = 64, max_dim: int = 128, n_folds: int = 2, calib_fraction: float = 0.25,
                 epochs: int = 300, lr: float = 1e-2, weight_decay: float = 1e-3, random_state: int = 0) -> None:
        super().__init__(max_dim=max_dim, n_folds=n_folds, l2=0.0, max_iter=0, random_state=random_state)
        self.hidden = hidden
        self.calib_fraction = calib_fraction
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.temperatures_: dict[str, list[float]] = {}

    def cross_entropies(self, name: str, acts: np.ndarray, labels: np.ndarray, *, refit: bool = False) -> np.ndarray:
        """Held-out cross-entropy (nats) of every probe row under the layer's calibrated MLP probe."""
        import torch

        from .._random import child_seed

        y = np.asarray(labels, dtype=np.int64)
        z = torch.as_tensor(self.features(name, acts, refit=refit), dtype=torch.float64)
        yt = torch.as_tensor(y)
        folds = self._folds(len(y))
        n_classes = int(y.max()) + 1
        out = torch.empty(len(y), dtype=torch.float64)
        temps = []
        for f in np.unique(folds):
            test = folds == f
            train_idx = np.flatnonzero(~test)
            rng = np.random.default_rng(child_seed(self.random_state, int(f), 1))
            calib = np.zeros(len(train_idx), dtype=bool)
            calib[rng.permutation(len(train_idx))[:max(1, int(round(self.calib_fraction * len(train_idx))))]] = True
            gen = torch.Generator().manual_seed(child_seed(self.random_state, int(f), 2))
            net, temp = _fit_mlp(z[train_idx], yt[train_idx], n_classes, hidden=int(self.hidden),
                                 epochs=int(self.epochs), lr=float(self.lr), weight_decay=float(self.weight_decay),
                                 calib=torch.as_tensor(calib), gen=gen)
            temps.append(temp)
            with torch.no_grad():
                logits = net(z[torch.as_tensor(test)]) / temp
            out[torch.as_tensor(test)] = torch.nn.functional.cross_entropy(logits, yt[torch.as_tensor(test)],
                                                                          reduction="none")
        self.temperatures_[name] = temps
        return out.numpy()


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
        Per layer: ``value`` (the best bound), ``se``, ``ci_low``, ``ci_high`` (None without ``level``),
        ``decoder`` (``"linear(L3)"`` or ``"head"``), and the layer's own probe's ``own``, ``own_se``,
        ``own_ci_low``, ``own_ci_high``.
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
        out[name] = {"value": value, "own": own_value, "se": se, "own_se": own_se, "decoder": decoder,
                     "ci_low": None if z is None else value - z * se, "ci_high": None if z is None else value + z * se,
                     "own_ci_low": None if z is None else own_value - z * own_se,
                     "own_ci_high": None if z is None else own_value + z * own_se}
    return out
