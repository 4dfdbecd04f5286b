"""The one-call front doors: :func:`mutual_information` and :func:`entropy`."""

from __future__ import annotations

import inspect

from ._result import EntropyResult, MIResult
from .estimators.discrete import ContinuousDiscreteMI, DiscreteEntropy, MixedKSG, PluginMI
from .estimators.gaussian import GaussianEntropy, GaussianMI
from .estimators.kde import KDEEntropy, KDEMI
from .estimators.kl import KLEntropy, KLMI, WeightedKLMI
from .estimators.ksg import KSG


def _neural(name):
    def factory(**params):
        from .estimators import neural

        cls = {"mine": neural.MINE, "nwj": neural.NWJ, "infonce": neural.InfoNCE}[name]
        return cls(**params)

    factory.__name__ = name
    return factory


#: name -> (class or factory, fixed parameters) for continuous X and Y
CONTINUOUS = {
    "ksg": (KSG, {"variant": 1}),
    "ksg1": (KSG, {"variant": 1}),
    "ksg2": (KSG, {"variant": 2}),
    "kl": (KLMI, {}),
    "wkl": (WeightedKLMI, {}),
    "kde": (KDEMI, {}),
    "gaussian": (GaussianMI, {}),
    "mine": (_neural("mine"), {}),
    "nwj": (_neural("nwj"), {}),
    "infonce": (_neural("infonce"), {}),
}
#: name -> (class, fixed parameters) for continuous X and discrete labels Y
LABELS = {
    "ksg": (MixedKSG, {}),
    "mixed-ksg": (MixedKSG, {}),
    "kl": (ContinuousDiscreteMI, {"entropy": "kl"}),
    "wkl": (ContinuousDiscreteMI, {"entropy": "wkl"}),
    "kde": (ContinuousDiscreteMI, {"entropy": "kde"}),
}
#: both discrete
DISCRETE = {"plugin": (PluginMI, {})}

ENTROPY = {
    "kl": (KLEntropy, {"weighted": False}),
    "wkl": (KLEntropy, {"weighted": True}),
    "kde": (KDEEntropy, {}),
    "gaussian": (GaussianEntropy, {}),
}
DISCRETE_ENTROPY = {"plugin": (DiscreteEntropy, {})}


def _accepted(factory) -> list[str]:
    if isinstance(factory, type):
        sig = inspect.signature(factory.__init__)
    else:  # neural factories: read the class lazily
        from .estimators import neural

        cls = {"mine": neural.MINE, "nwj": neural.NWJ, "infonce": neural.InfoNCE}[factory.__name__]
        sig = inspect.signature(cls.__init__)
    return [p for p in sig.parameters if p != "self"]


def _build(table: dict, kind: str, name, common: dict, extra: dict):
    if not isinstance(name, str):
        # an estimator object was passed: use it as configured
        if hasattr(name, "estimate"):
            return name
        raise TypeError(f"The 'estimator' argument must be a name or an estimator object. Got {type(name).__name__}.")
    if name not in table:
        raise ValueError(
            f"Unknown estimator {name!r} for {kind}. Valid names: {', '.join(sorted(table))}."
        )
    factory, fixed = table[name]
    accepted = _accepted(factory)
    unknown = [key for key in extra if key not in accepted or key in fixed]
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {', '.join(map(repr, unknown))} for estimator {name!r}. "
            f"Valid parameters: {', '.join(p for p in accepted if p not in fixed)}."
        )
    params = {key: value for key, value in common.items() if key in accepted}
    params.update(fixed)
    params.update(extra)
    return factory(**params)


#: defaults chosen by benchmarks/bench_accuracy.py (README "Choosing defaults")
DEFAULT_ESTIMATOR = {"continuous": "ksg", "labels": "wkl", "discrete": "plugin"}


def make_estimator(estimator=None, *, y_discrete=False, x_discrete=False, **params):
    """Build an MI estimator object from its name (see :func:`mutual_information`)."""
    if x_discrete and y_discrete:
        table, kind = DISCRETE, "two discrete variables"
        estimator = DEFAULT_ESTIMATOR["discrete"] if estimator is None else estimator
    elif y_discrete:
        table, kind = LABELS, "continuous x and discrete y"
    elif x_discrete:
        raise ValueError("x_discrete=True with continuous y: swap the arguments and pass y_discrete=True.")
    else:
        table, kind = CONTINUOUS, "continuous x and y"
    if estimator is None:
        estimator = DEFAULT_ESTIMATOR["labels" if y_discrete else "continuous"]
    common_keys = ("k", "units", "ci", "random_state", "device")
    common = {key: params.pop(key) for key in common_keys if key in params}
    return _build(table, kind, estimator, common, params)


def mutual_information(x, y, *, estimator=None, k=5, units="nats", ci=None, random_state=None,
                       y_discrete=False, x_discrete=False, device=None, compress=None, compress_x=None,
                       compress_y=None, **estimator_params) -> MIResult:
    """Estimate mutual information I(X; Y) between two samples.

    Parameters
    ----------
    x, y : array-like of shape (n_samples, dim_x) and (n_samples, dim_y)
        Numpy arrays, torch tensors or anything array-like; 1-D means one column.
        With ``y_discrete=True``, ``y`` holds class labels.
    estimator : str, estimator object or None, default=None
        Continuous X and Y: "ksg" (KSG-I), "ksg2", "kl", "wkl", "kde", "gaussian",
        "mine", "nwj", "infonce". Discrete labels Y: "ksg" (Ross's mixed KSG),
        "kl", "wkl", "kde" (class-conditional entropies). Both discrete: "plugin".
        None picks the default chosen by the accuracy benchmark: "ksg" (with
        rank preprocessing) for continuous pairs, "wkl" (class-conditional
        weighted KL) for labels, "plugin" when both are discrete.
    k : int, default=5
        Number of neighbours for kNN estimators; larger k lowers variance and
        raises bias.
    units : {"nats", "bits"}, default="nats"
    ci : float or None, default=None
        Confidence level, e.g. 0.95, for an interval by subsampling without
        replacement (see :mod:`ibscope.stats`).
    random_state : int, numpy.random.Generator or None
        Seeds tie-breaking jitter, subsampling and training; the seed used is
        stored in the result.
    y_discrete, x_discrete : bool, default=False
    device : str or None
        "cuda" runs neighbour search / training on a GPU; None picks CPU for kNN.
    compress : str, compressor or None, default=None
        Lossy compression applied to both sides before estimation (Algorithm 1 of
        Butakov et al.): a spec such as ``"pca:4"``, ``"ae:4"``, ``"conv-ae:2"``
        or a compressor object. With labels (``y_discrete=True``) only X is
        compressed. Compressors are fitted on the data given unless a fitted one
        is passed. The result targets a lower bound of I(X;Y) (data-processing
        inequality) and records each side's reconstruction error in
        ``extra["compression"]``.
    compress_x, compress_y : str, compressor or None, default=None
        Per-side compression (overrides ``compress`` for that side).
    **estimator_params
        Passed to the estimator class (e.g. ``variant=2``, ``preprocess="rank"``).

    Returns
    -------
    MIResult
        ``value`` (clipped at 0) and ``raw_value`` in ``units``, CI, standard
        error, diagnostics and warnings.

    Raises
    ------
    ValueError, TypeError
        For bad shapes, NaN/inf, mismatched lengths, k >= n, unknown estimator
        names or parameters, with a message naming the argument.
    """
    est = make_estimator(estimator, y_discrete=y_discrete, x_discrete=x_discrete, k=k, units=units, ci=ci,
                         random_state=random_state, device=device, **estimator_params)
    cx = compress_x if compress_x is not None else (None if x_discrete else compress)
    cy = compress_y if compress_y is not None else (None if y_discrete else compress)
    if cx is not None or cy is not None:
        from .compress import CompressedEstimator

        est = CompressedEstimator(est, compressor_x=cx, compressor_y=cy)
    return est.estimate(x, y)


def entropy(x, *, estimator="kl", k=5, units="nats", ci=None, random_state=None, discrete=False, device=None,
            **estimator_params) -> EntropyResult:
    """Estimate the (differential) entropy H(X) of a sample.

    Parameters
    ----------
    x : array-like of shape (n_samples, dim)
    estimator : {"kl", "wkl", "kde", "gaussian"} or "plugin" with ``discrete=True``
    k, units, ci, random_state, device
        As in :func:`mutual_information`.
    discrete : bool, default=False
        Treat ``x`` as labels and return the plug-in entropy.

    Returns
    -------
    EntropyResult
    """
    table, kind = (DISCRETE_ENTROPY, "discrete x") if discrete else (ENTROPY, "continuous x")
    if discrete and estimator == "kl":
        estimator = "plugin"
    common = {"k": k, "units": units, "ci": ci, "random_state": random_state, "device": device}
    est = _build(table, kind, estimator, common, estimator_params)
    return est.estimate(x)
