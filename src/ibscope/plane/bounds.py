"""Lower bounds on I(L;Y) implied by the network's own prediction on the probe set.

The prediction is computed from every layer L, so the data-processing inequality
gives I(L;Y) >= I(L_out;Y) for each of them, where L_out is the output layer.
On the probe pass (noise as configured, dropout off) three lower bounds of
I(L_out;Y) follow from numbers the run already has:

* **Barber-Agakov** with the network's own log-probabilities as the decoder:
  ``I(L_out;Y) >= H(Y) - NLL``, where ``NLL = -mean_i log p(y_i | x_i)``;
* **plug-in I(Y_hat;Y)** from the confusion matrix of the arg-max predictions,
  an estimate of I(Y_hat;Y) <= I(L_out;Y) (its small-sample bias is of order
  (K - 1)^2 / (2n), 0.004 nats for 10 classes and 10 000 probes);
* **Fano**: ``I(Y_hat;Y) >= H(Y) - h(P_e) - P_e ln(K - 1)``, with the error rate
  ``P_e`` and the binary entropy ``h``.

:func:`head_bounds` computes all three; the largest is *the* bound that every
layer's I(L;Y) should reach (``below_bound`` flag in :mod:`ibscope.plane.flags`).
All values are in nats and refer to the probe distribution (H(Y) is the
probe labels' plug-in entropy).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["HeadBounds", "head_bounds", "plugin_mi", "fano_bound", "BOUND_COLUMNS"]

#: Columns of ``info.csv`` that hold the bounds (in the run's units), after ``h_y``.
BOUND_COLUMNS = ("bound", "bound_ba", "bound_plugin", "bound_fano")

#: |log sum exp| of an output row below this is read as a log-probability row
_LOGPROB_TOL = 1e-3


@dataclasses.dataclass
class HeadBounds:
    """The bounds of one probe pass (nats); NaN where a bound could not be computed.

    Attributes
    ----------
    h_y : float
        Plug-in entropy of the probe labels.
    ba, plugin, fano : float
        Barber-Agakov, plug-in I(Y_hat;Y) and Fano bounds (see the module notes).
    accuracy, nll : float
        Arg-max accuracy and mean negative log-likelihood on the probe set.
    n_classes : int
        Number of classes of the model's output.
    note : str
        Why the bounds are missing, or "" when they were computed.
    """

    h_y: float
    ba: float = math.nan
    plugin: float = math.nan
    fano: float = math.nan
    accuracy: float = math.nan
    nll: float = math.nan
    n_classes: int = 0
    note: str = ""

    @property
    def bound(self) -> float:
        """The largest of the three bounds (NaN when none could be computed)."""
        values = [v for v in (self.ba, self.plugin, self.fano) if math.isfinite(v)]
        return max(values) if values else math.nan

    def in_units(self, factor: float) -> dict[str, float]:
        """The four ``info.csv`` bound cells, multiplied by ``factor`` (nats -> the run's units)."""
        return {"bound": self.bound * factor, "bound_ba": self.ba * factor, "bound_plugin": self.plugin * factor,
                "bound_fano": self.fano * factor}

    def to_dict(self) -> dict:
        """JSON-ready record (nats), with the bound itself."""
        d = dataclasses.asdict(self)
        d["bound"] = self.bound
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def plugin_mi(confusion: np.ndarray) -> float:
    """Plug-in mutual information (nats) of a contingency table ``confusion[true, predicted]``."""
    c = np.asarray(confusion, dtype=np.float64)
    if c.ndim != 2 or c.sum() <= 0:
        raise ValueError(f"A confusion matrix must be a non-empty 2-D table of counts. Got shape {c.shape}.")
    return _entropy(c.sum(axis=1)) + _entropy(c.sum(axis=0)) - _entropy(c.ravel())


def fano_bound(h_y: float, error_rate: float, n_classes: int) -> float:
    """Fano's lower bound ``H(Y) - h(P_e) - P_e ln(K - 1)`` on I(Y_hat;Y), in nats (K >= 2)."""
    if n_classes < 2:
        raise ValueError(f"Fano's bound needs at least 2 classes. Got n_classes={n_classes}.")
    pe = float(error_rate)
    if not 0.0 <= pe <= 1.0:
        raise ValueError(f"The error rate must be in [0, 1]. Got {error_rate!r}.")
    h = 0.0 if pe in (0.0, 1.0) else -(pe * math.log(pe) + (1.0 - pe) * math.log(1.0 - pe))
    return h_y - h - pe * math.log(n_classes - 1)


def head_bounds(outputs, labels) -> HeadBounds:
    """The bounds from a model's outputs on the probe set.

    Parameters
    ----------
    outputs : array-like of shape (n, K)
        The model's output rows (log-probabilities, e.g. a ``LogSoftmax`` layer).
    labels : array-like of shape (n,)
        The probe labels, as class indices 0..K-1 of the output.

    Returns
    -------
    HeadBounds
        With ``note`` saying why the bounds are missing when the outputs are not
        log-probabilities or the labels are not indices of the output.
    """
    y = np.asarray(labels)
    h_y = _entropy(np.unique(y, return_counts=True)[1].astype(np.float64)) if y.size else math.nan
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim != 2 or len(out) != len(y) or out.shape[1] < 2:
        return HeadBounds(h_y, note=f"the model's output has shape {out.shape}, not (n_probe={len(y)}, n_classes >= 2)")
    k = out.shape[1]
    if not np.all(np.isfinite(out)):
        return HeadBounds(h_y, n_classes=k, note="the model's output has non-finite values on the probe set")
    lse = np.logaddexp.reduce(out, axis=1)
    if np.max(np.abs(lse)) > _LOGPROB_TOL:
        return HeadBounds(h_y, n_classes=k, note="the model's output rows are not log-probabilities (log-sum-exp "
                                                 f"up to {np.max(np.abs(lse)):.3g}, not 0); add a LogSoftmax head")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= k:
        return HeadBounds(h_y, n_classes=k, note=f"the probe labels are not class indices 0..{k - 1} of the model's "
                                                 f"output (they range over {np.unique(y)[:5].tolist()}...)")
    y = y.astype(np.int64)
    nll = float(-np.mean(out[np.arange(len(y)), y]))
    pred = np.argmax(out, axis=1)
    confusion = np.zeros((k, k))
    np.add.at(confusion, (y, pred), 1.0)
    accuracy = float(np.mean(pred == y))
    return HeadBounds(h_y=h_y, ba=h_y - nll, plugin=plugin_mi(confusion), fano=fano_bound(h_y, 1.0 - accuracy, k),
                      accuracy=accuracy, nll=nll, n_classes=k)
