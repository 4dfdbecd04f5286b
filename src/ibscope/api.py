"""The one-call front doors: :func:`mutual_information` and :func:`entropy`."""

from __future__ import annotations

from ._result import EntropyResult, MIResult
from .estimators import registry

#: the keys offered to every estimator by the front doors (each passed only where accepted)
COMMON_KEYS = ("k", "units", "ci", "random_state", "device")


def make_estimator(estimator=None, *, y_discrete=False, x_discrete=False, **params):
    """Build an MI estimator object from its name (see :func:`mutual_information`).

    Names and the classes behind them are in :mod:`ibscope.estimators.registry`.
    """
    if x_discrete and y_discrete:
        kind = "discrete"
    elif y_discrete:
        kind = "labels"
    elif x_discrete:
        raise ValueError("x_discrete=True with continuous y: swap the arguments and pass y_discrete=True.")
    else:
        kind = "continuous"
    if estimator is None:
        estimator = registry.DEFAULTS[kind]
    common = {key: params.pop(key) for key in COMMON_KEYS if key in params}
    return registry.build(kind, estimator, common, **params)


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
        Continuous X and Y: "auto", "ksg" (KSG-I), "ksg2", "kl", "wkl", "kde",
        "gaussian", "copula", "mine", "nwj", "infonce". Discrete labels Y: "ksg"
        (Ross's mixed KSG), "kl", "wkl", "kde" (class-conditional entropies). Both
        discrete: "plugin". None picks the default chosen by the accuracy
        benchmark: "auto" (:class:`~ibscope.estimators.AutoMI`, the largest of
        KSG and a copula estimate) for continuous pairs, "wkl"
        (class-conditional weighted KL) for labels, "plugin" when both are
        discrete.
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
        is passed. The codes' true MI is at most I(X;Y) (data-processing
        inequality), but the estimate of it can err either way; the result says
        so in ``warnings`` and records each side's reconstruction error in
        ``extra["compression"]``.
    compress_x, compress_y : str, compressor or None, default=None
        Per-side compression (overrides ``compress`` for that side).
    **estimator_params
        Passed to the estimator class (e.g. ``variant=2``, ``preprocess="rank"``).

    Returns
    -------
    MIResult
        ``value`` (clipped at 0) and ``raw_value`` in ``units``, CI, standard
        error, diagnostics and warnings. The warnings include those of the
        plausibility rules (tiny n, identical sides, tied rows, dimension large
        against n, a raw value far below 0; see
        :mod:`ibscope.estimators._plausibility`), which say what the number can
        and cannot be trusted for; ``extra["plausibility"]`` lists the rules that
        fired.

    Warns
    -----
    RuntimeWarning
        Before a long estimate on a large input (a cost forecast from a timed
        pilot on a subsample).

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
    kind = "discrete-entropy" if discrete else "entropy"
    if discrete and estimator == "kl":
        estimator = "plugin"
    common = {"k": k, "units": units, "ci": ci, "random_state": random_state, "device": device}
    est = registry.build(kind, estimator, common, **estimator_params)
    return est.estimate(x)
