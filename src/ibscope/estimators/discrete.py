"""MI with discrete variables: discrete-discrete plug-in and continuous-discrete.

* :class:`PluginMI` - both variables discrete: plug-in MI of the empirical joint
  distribution (contingency table), optionally with the Miller-Madow bias
  correction. Multi-column discrete data are coded by whole rows.
* :class:`ContinuousDiscreteMI` - X continuous, Y labels:
  I(X;Y) = H(X) - sum_y p(y) H(X | Y=y), with empirical p(y) and one entropy
  estimator (KL, weighted KL or KDE) per class, each with its own whitening.
* :class:`MixedKSG` - X continuous, Y labels: the KSG-style estimator of Ross
  (2014): for point i, d_i is the max-norm distance to its k-th neighbour of the
  same class and m_i the number of points of any class within d_i;
  I = psi(n) - <psi(n_{y_i})> + psi(k) - <psi(m_i)>.

The ceiling I(X;Y) <= H(Y) <= log(n_classes) applies to all of them; estimates
above H(Y) are flagged.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from .. import neighbors
from .._validation import as_labels, as_samples, check_choice, check_k, check_same_length, label_codes, to_numpy
from ._preprocess import PREPROCESS, prepare_continuous, whiten
from .base import EntropyEstimator, MIEstimator


def _codes(v: np.ndarray) -> np.ndarray:
    if v.ndim == 1:
        return v
    return np.unique(v, axis=0, return_inverse=True)[1].ravel()


def _discrete_rows(v, name: str) -> np.ndarray:
    """Labels of shape (n,) or (n, m): multi-column rows become one code each."""
    arr = to_numpy(v, name)
    if arr.ndim == 2 and arr.shape[1] > 1:
        cols = [as_labels(arr[:, j], f"{name}[:, {j}]") for j in range(arr.shape[1])]
        return _codes(np.stack(cols, axis=1))
    return as_labels(arr, name)


def plugin_entropy(codes: np.ndarray) -> float:
    """Plug-in (maximum-likelihood) entropy of integer codes, nats."""
    p = np.bincount(codes) / len(codes)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def label_entropy(labels) -> float:
    """Empirical entropy H(Y) of labels in nats (the ceiling of I(X; Y))."""
    return plugin_entropy(as_labels(labels, "labels"))


class PluginMI(MIEstimator):
    """Plug-in MI between two discrete variables.

    Parameters
    ----------
    correction : {None, "miller-madow"}, default=None
        "miller-madow" adds (m - 1) / (2n) to each plug-in entropy, m being its
        number of occupied cells, which removes the leading O(1/n) bias.
    units, ci, n_subsamples, random_state
    """

    name = "plugin"
    x_discrete = True
    y_discrete = True

    def __init__(self, *, correction=None, units="nats", ci=None, n_subsamples=30, random_state=None):
        self._store_params(locals())

    def _validate(self, x, y):
        x = _discrete_rows(x, "x")
        y = _discrete_rows(y, "y")
        n = check_same_length(x, y)
        if n < 2:
            raise ValueError(f"At least 2 samples are needed to estimate mutual information. Got n_samples={n}.")
        return x, y

    def _check_params(self, n_samples):
        check_choice(self.correction, "correction", self._owner, (None, "miller-madow"))

    def _core(self, x, y, call):
        n = len(x)
        joint = x.astype(np.int64) * (int(y.max()) + 1) + y
        hx, hy, hxy = plugin_entropy(_codes(x)), plugin_entropy(_codes(y)), plugin_entropy(_codes(joint))
        if self.correction == "miller-madow":
            mx, my, mxy = len(np.unique(x)), len(np.unique(y)), len(np.unique(joint))
            hx += (mx - 1) / (2.0 * n)
            hy += (my - 1) / (2.0 * n)
            hxy += (mxy - 1) / (2.0 * n)
        return hx + hy - hxy

    def _min_subsample(self, n):
        return 2


class DiscreteEntropy(EntropyEstimator):
    """Plug-in entropy of discrete labels (optionally Miller-Madow corrected)."""

    name = "plugin"
    discrete = True

    def __init__(self, *, correction=None, units="nats", ci=None, n_subsamples=30, random_state=None):
        self._store_params(locals())

    def _check_params(self, n_samples, dim):
        check_choice(self.correction, "correction", self._owner, (None, "miller-madow"))

    def _core(self, x, call):
        h = plugin_entropy(_codes(x))
        if self.correction == "miller-madow":
            h += (len(np.unique(x)) - 1) / (2.0 * len(x))
        return h

    def _min_subsample(self, n):
        return 2


def _check_classes(y: np.ndarray, min_per_class: int, owner: str, k: int, classes=None) -> None:
    """Every class of the codes ``y`` has ``min_per_class`` rows; messages name the user's labels ``classes``."""
    counts = np.bincount(y)
    if len(counts) < 2:
        raise ValueError(
            f"The 'y' argument of {owner} has a single class; mutual information with a constant is 0 and "
            "class-conditional estimates are undefined. Pass labels with at least 2 classes."
        )
    small = np.flatnonzero(counts < min_per_class)
    if len(small):
        names = [classes[i].item() if hasattr(classes[i], "item") else classes[i] for i in small[:5]] \
            if classes is not None else small[:5].tolist()
        raise ValueError(
            f"Every class needs at least {min_per_class} samples for k={k} in {owner}; class(es) "
            f"{names} have {counts[small][:5].tolist()} sample(s). Pass a smaller k, merge rare classes or "
            "use more samples."
        )


class _LabelMixin:
    y_discrete = True
    #: rows each class needs (the per-class k-NN search): set by each estimator
    def _min_per_class(self) -> int:  # pragma: no cover - overridden
        return 2

    def _validate(self, x, y):
        x = as_samples(x, "x")
        y, classes = label_codes(y, "y")
        check_same_length(x, y)
        self._check_params(len(x))  # a bad k is named before the classes are counted against it
        _check_classes(y, self._min_per_class(), self._owner, self.k, classes)
        return x, y

    def _post_warnings(self, raw, x, y, call):
        hy = plugin_entropy(y)
        if raw > hy + 1e-9:
            call.warnings.append(
                f"Estimate {raw:.4f} nats exceeds H(Y) = {hy:.4f} nats, the largest possible I(X;Y) for these "
                "labels; this is estimator bias or variance, not information."
            )


class ContinuousDiscreteMI(_LabelMixin, MIEstimator):
    """I(X;Y) = H(X) - sum_y p(y) H(X|Y=y) for continuous X and labels Y.

    Parameters
    ----------
    entropy : {"kl", "wkl", "kde"}, default="kl"
        Entropy estimator used for H(X) and every H(X | Y=y).
    k : int, default=5
    preprocess : {"standardize", "rank", None}, default="standardize"
    units, ci, n_subsamples, backend, device, random_state
    """

    _cost_exponent = 2.0  # k-NN searches, one per class and one on all rows, at worst scans (cost forecast)

    def __init__(self, *, entropy="kl", k=5, preprocess="standardize", units="nats", ci=None, n_subsamples=30,
                 backend="auto", device=None, random_state=None):
        self._store_params(locals())

    def _check_params(self, n_samples):
        check_choice(self.entropy, "entropy", self._owner, ("kl", "wkl", "kde"))
        check_choice(self.preprocess, "preprocess", self._owner, PREPROCESS)
        check_k(self.k, n_samples, self._owner)

    @property
    def name(self) -> str:
        """Registry name (for labels): the entropy estimator, "kl", "wkl" or "kde"."""
        return self.entropy

    def _min_per_class(self) -> int:
        return int(self.k) + 1

    def _prepare(self, x, y, call):
        x = prepare_continuous(x, "x", self.preprocess, call.rng, call.warnings)
        return x, y

    def _entropy(self, x: np.ndarray) -> float:
        from .kde import kde_entropy
        from .kl import _entropy_core

        z, offset = whiten(x, "x", [])
        if self.entropy == "kde":
            return kde_entropy(z, device=self.device)[0] + offset
        return _entropy_core(z, min(self.k, len(z) - 1), self.entropy == "wkl", 4.0, self.backend, self.device) + offset

    def _core(self, x, y, call):
        h = self._entropy(x)
        cond = 0.0
        for c in np.unique(y):
            mask = y == c
            if mask.sum() < 2:
                continue  # a class seen once in a subsample contributes no conditional entropy estimate
            cond += mask.mean() * self._entropy(x[mask])
        return h - cond

    def _min_subsample(self, n):
        return max(n // 2, 3)


class MixedKSG(_LabelMixin, MIEstimator):
    """Ross (2014) KSG-type MI between continuous X and discrete labels Y.

    Parameters
    ----------
    k : int, default=5
        Neighbours within the same class (reduced to n_c - 1 for small classes).
    preprocess : {"rank", "standardize", None}, default="rank"
    units, ci, n_subsamples, backend, device, random_state

    References
    ----------
    Ross. Mutual information between discrete and continuous data sets. PLoS ONE 9 (2014).
    """

    name = "mixed-ksg"
    _cost_exponent = 2.0  # k-NN searches, at worst scans (cost forecast)

    def __init__(self, *, k=5, preprocess="rank", units="nats", ci=None, n_subsamples=30, backend="auto",
                 device=None, random_state=None):
        self._store_params(locals())

    def _check_params(self, n_samples):
        check_k(self.k, n_samples, self._owner)
        check_choice(self.preprocess, "preprocess", self._owner, PREPROCESS)

    def _min_per_class(self) -> int:
        return 2

    def _prepare(self, x, y, call):
        return prepare_continuous(x, "x", self.preprocess, call.rng, call.warnings), y

    def _core(self, x, y, call):
        n = len(y)
        radius = np.empty(n)
        k_used = np.empty(n)
        n_class = np.empty(n)
        keep = np.ones(n, dtype=bool)
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            nc = len(idx)
            if nc < 2:
                keep[idx] = False  # singletons carry no neighbour information (as in Ross 2014)
                continue
            kc = min(self.k, nc - 1)
            radius[idx] = neighbors.kth_distance(x[idx], kc, metric="chebyshev", backend=self.backend,
                                                 device=self.device)
            k_used[idx] = kc
            n_class[idx] = nc
        # m_i: points of any class strictly closer than the k-th same-class neighbour, self
        # included (the convention of scikit-learn's mutual_info_classif)
        m = neighbors.count_within(x[keep], radius[keep], metric="chebyshev", strict=True,
                                   backend=self.backend, device=self.device) + 1
        n_kept = int(keep.sum())
        return float(digamma(n_kept) + np.mean(digamma(k_used[keep])) - np.mean(digamma(n_class[keep]))
                     - np.mean(digamma(m)))
