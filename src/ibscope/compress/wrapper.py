"""Algorithm 1 of the paper, in one place: compress each side, then estimate I(E_X(X); E_Y(Y)).

Every compress-then-estimate computation in ibscope goes through
:class:`CompressedEstimator`: the one-call front door (``compress=`` of
:func:`ibscope.mutual_information`), sweeps (with compressors fitted once on
independent training images) and IB runs (with layer compressors fitted on the
first analysed epoch, or every epoch). The helpers next to it
(:func:`code_dim`, :func:`clone_compressor`, :func:`reconstruction_error`) are the
only implementations of those steps.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
import time
from typing import Any

import numpy as np

from ._base import is_fitted
from .spec import parse_compressor

#: Accepted values of ``refit`` (``True`` means "every", ``False`` means "first").
REFIT_MODES = ("every", "first", "never")

#: Note appended to the warnings of every compressed estimate. The data-processing inequality bounds the
#: codes' *true* MI, not the estimate of it: an estimator's bias on the codes can point either way.
DPI_NOTE = (
    "Compressed estimate: the true MI of the codes is at most I(X;Y) (data-processing inequality), but this "
    "value is an estimate of the codes' MI and can err either way; it is a lower bound of I(X;Y) only where the "
    "estimator's own error is smaller than what the compression lost. See extra['compression'] for each side's "
    "reconstruction error."
)
#: The same note in a few words, for results files whose columns already hold the reconstruction errors.
DPI_NOTE_SHORT = ("compressed estimate: estimates the codes' MI (whose true value is at most I(X;Y)); it can err "
                  "either way")


def _n_rows(data, name: str) -> int:
    shape = getattr(data, "shape", None)
    if shape is None:
        try:
            shape = np.shape(data)
        except Exception:
            raise TypeError(f"The '{name}' argument must be array-like. Got {type(data).__name__}.") from None
    if len(shape) == 0:
        raise ValueError(f"The '{name}' argument must be an array of samples, not a scalar.")
    return int(shape[0])


def _sample_shape(data) -> tuple:
    shape = tuple(getattr(data, "shape", None) or np.shape(data))
    return shape[1:] if len(shape) > 1 else (1,)


def code_dim(compressor) -> int | None:
    """Target code dimension of a compressor object (``n_components`` or ``latent_dim``), or None."""
    for attr in ("n_components", "latent_dim", "n_components_"):
        val = getattr(compressor, attr, None)
        if isinstance(val, (int, np.integer)) and not isinstance(val, bool):
            return int(val)
    return None


def clone_compressor(compressor):
    """A fresh, unfitted copy with the same parameters (:func:`sklearn.base.clone`).

    Objects without ``get_params`` are deep-copied.
    """
    if hasattr(compressor, "get_params"):
        from sklearn.base import clone

        return clone(compressor)
    return copy.deepcopy(compressor)


def reconstruction_error(compressor, data, codes) -> float:
    """Mean absolute error per input element of ``inverse_transform(codes)`` against ``data``.

    NaN when the compressor cannot reconstruct (no usable ``inverse_transform``).
    """
    inv = getattr(compressor, "inverse_transform", None)
    if not callable(inv):
        return float("nan")
    try:
        rec = np.asarray(inv(codes), dtype=np.float64).reshape(len(data), -1)
        diff = np.subtract(rec, np.asarray(data, dtype=np.float64).reshape(len(data), -1))
        return float(np.mean(np.abs(diff, out=diff)))  # in place: one temporary fewer on wide layers
    except Exception:  # a compressor without a usable inverse: report nothing rather than fail
        return float("nan")


def refit_mode(refit, owner: str = "CompressedEstimator") -> str:
    """Normalise ``refit`` (a mode name or a bool) to one of :data:`REFIT_MODES`."""
    if isinstance(refit, (bool, np.bool_)):
        return "every" if refit else "first"
    if isinstance(refit, str) and refit in REFIT_MODES:
        return refit
    raise TypeError(f"The 'refit' parameter of {owner} must be a bool or one of {list(REFIT_MODES)}. "
                    f"Got {refit!r}.")


@dataclasses.dataclass
class Coded:
    """One side after compression: its codes and what the compression did.

    Attributes
    ----------
    codes : numpy.ndarray or array-like
        The codes (n_samples, latent_dim), or the data unchanged when ``info`` is None.
    info : dict or None
        See :meth:`CompressedEstimator.estimate`; None when the side was not compressed.
    """

    codes: Any  # array-like: numpy array, or the input unchanged (e.g. a torch tensor)
    info: dict | None = None


class CompressedEstimator:
    """Estimate I(X; Y) on compressed codes: fit the compressors, transform, then estimate.

    This is Algorithm 1 of the paper: (1) fit an encoder per side, (2) map the
    samples to low-dimensional codes, (3) estimate the MI of the codes with any
    ibscope estimator. By the data-processing inequality the codes' true MI is at
    most I(X; Y); the estimate of it can still err either way (the estimator's bias on
    the codes). A note saying so is appended to the result's ``warnings`` (with a
    second one when the default estimator's candidates disagree on the codes), and
    ``extra["compression"]`` records each side's compressor, input and code
    dimensions and reconstruction error (the practical proxy for how much the
    compression may lose).

    Parameters
    ----------
    estimator : object
        Any object with ``estimate(x, y) -> MIResult``, e.g. an estimator from
        :mod:`ibscope.estimators` (None is allowed for :meth:`encode` alone).
    compressor_x, compressor_y : compressor, str or None, default=None
        Compressor for each side: an object with ``fit`` and ``transform`` (an
        ibscope compressor or a scikit-learn transformer), a spec such as
        ``"pca:4"`` (see :func:`parse_compressor`; built with the estimator's
        ``random_state`` when it is an int), or ``None`` to pass that side unchanged.
    refit : {"every", "first", "never"} or bool, default=True
        When each compressor is fitted. ``"every"`` (or ``True``): on the data of
        every ``estimate`` call. ``"first"`` (or ``False``): reuse an already
        fitted compressor as it is and fit an unfitted one on the first call (fit
        once, e.g. on a fixed probe set, and keep it across epochs). ``"never"``:
        the compressors must come fitted (e.g. on independent training data, as
        sweeps do); an unfitted one is an error.

    Attributes
    ----------
    compressor_x_, compressor_y_ : compressor or None
        The compressor objects used by the last ``estimate`` (those built from a
        spec string are kept here and reused unless ``refit="every"``).

    Examples
    --------
    >>> from ibscope.compress import CompressedEstimator, PCACompressor
    >>> est = CompressedEstimator(KSG(k=5), compressor_x=PCACompressor(4))  # doctest: +SKIP
    >>> res = est.estimate(images, labels_embedding)                        # doctest: +SKIP
    >>> res.extra["compression"]["x"]["latent_dim"]                          # doctest: +SKIP
    4
    """

    def __init__(self, estimator, compressor_x=None, compressor_y=None, *, refit=True):
        self.estimator = estimator
        self.compressor_x = compressor_x
        self.compressor_y = compressor_y
        self.refit = refit

    # -------------------------------------------------------------- params
    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters as a dictionary."""
        return {
            "estimator": self.estimator,
            "compressor_x": self.compressor_x,
            "compressor_y": self.compressor_y,
            "refit": self.refit,
        }

    def __repr__(self) -> str:
        parts = [repr(self.estimator)]
        for key in ("compressor_x", "compressor_y"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key}={value!r}")
        if self.refit is not True:
            parts.append(f"refit={self.refit!r}")
        return f"CompressedEstimator({', '.join(parts)})"

    @property
    def name(self) -> str:
        """Name of the wrapped estimator (the result's ``estimator`` field keeps it too)."""
        return getattr(self.estimator, "name", type(self.estimator).__name__)

    # -------------------------------------------------------------- helpers
    def _resolve(self, side: str):
        spec = getattr(self, f"compressor_{side}")
        cached = getattr(self, f"compressor_{side}_", None)
        if isinstance(spec, str):
            # keep the object built from the same spec, so refit="first" can reuse it
            if cached is not None and getattr(self, f"_spec_{side}", None) == spec:
                return cached
            rs = getattr(self.estimator, "random_state", None)
            seed = rs if isinstance(rs, numbers.Integral) and not isinstance(rs, bool) else None
            comp = parse_compressor(spec, random_state=seed)
            setattr(self, f"_spec_{side}", spec)
            return comp
        try:
            return parse_compressor(spec)
        except TypeError:
            raise TypeError(
                f"The 'compressor_{side}' parameter of CompressedEstimator must be a compressor (an object with "
                f"'fit' and 'transform'), a spec string such as 'pca:4', or None. Got {spec!r} of type "
                f"{type(spec).__name__}."
            ) from None

    def _check(self) -> str:
        if not callable(getattr(self.estimator, "estimate", None)):
            raise TypeError(
                "The 'estimator' parameter of CompressedEstimator must have an 'estimate(x, y)' method. "
                f"Got {self.estimator!r} of type {type(self.estimator).__name__}."
            )
        return refit_mode(self.refit)

    def _compressor(self, side: str):
        comp = self._resolve(side)
        if comp is not None and getattr(self.estimator, f"{side}_discrete", False):
            raise ValueError(
                f"The 'compressor_{side}' parameter of CompressedEstimator must be None when the estimator "
                f"({self.name}) treats {side} as discrete labels; labels cannot be compressed. "
                f"Pass compressor_{side}=None."
            )
        setattr(self, f"compressor_{side}_", comp)
        return comp

    # -------------------------------------------------------------- the two steps
    def encode(self, side: str, data) -> Coded:
        """Compress one side as configured (step 1 and 2 of Algorithm 1).

        Parameters
        ----------
        side : {"x", "y"}
        data : array-like of shape (n_samples, ...)

        Returns
        -------
        Coded
            The codes and their ``info`` (None for a side without compressor, whose
            data pass through unchanged).
        """
        mode = refit_mode(self.refit)
        comp = self._compressor(side)
        if comp is None:
            return Coded(data, None)
        t0 = time.perf_counter()
        fitted = is_fitted(comp)
        if mode == "never" and not fitted:
            raise ValueError(
                f"The 'compressor_{side}' of CompressedEstimator is not fitted, but refit='never' uses compressors "
                f"as they come. Fit it first, or pass refit='first'. Got {comp!r}."
            )
        fit_now = mode == "every" or not fitted
        if fit_now and callable(getattr(comp, "fit_transform", None)):
            codes = comp.fit_transform(data)
        else:
            if fit_now:
                comp.fit(data)
            codes = comp.transform(data)
        codes = np.asarray(codes)
        if codes.ndim == 1:
            codes = codes[:, None]
        err = getattr(comp, "reconstruction_error_", None)
        info = {
            "compressor": repr(comp),
            "class": type(comp).__name__,
            "input_shape": list(_sample_shape(data)),
            "input_dim": int(np.prod(_sample_shape(data))),
            "latent_dim": int(codes.shape[1]),
            "reconstruction_error": dict(err) if isinstance(err, dict) else err,
            "sample_reconstruction_error": reconstruction_error(comp, data, codes),
            "fitted_here": fit_now,
            "seed": getattr(comp, "seed_", None),
            "time_s": time.perf_counter() - t0,
        }
        return Coded(codes, info)

    def estimate_coded(self, cx: Coded, cy: Coded):
        """Estimate the MI of two coded sides (step 3) and record the compression in the result.

        Parameters
        ----------
        cx, cy : Coded
            Results of :meth:`encode` for ``"x"`` and ``"y"``.

        Returns
        -------
        MIResult
            See :meth:`estimate`; ``time_s`` covers the estimate only.
        """
        self._check()
        nx, ny = _n_rows(cx.codes, "x"), _n_rows(cy.codes, "y")
        if nx != ny:
            raise ValueError(
                f"The 'x' and 'y' arguments must have the same number of rows (samples). Got {nx} and {ny}."
            )
        res = self.estimator.estimate(cx.codes, cy.codes)
        extra = dict(res.extra)
        extra["compression"] = {"x": cx.info, "y": cy.info, "refit": self.refit}
        warnings = list(res.warnings)
        params = dict(res.params)
        if cx.info is not None or cy.info is not None:
            from ..estimators._plausibility import candidates_disagree

            disagree = candidates_disagree(res)
            if disagree:
                warnings.append(disagree)
            warnings.append(DPI_NOTE)
            params["compressor_x"] = cx.info["compressor"] if cx.info is not None else None
            params["compressor_y"] = cy.info["compressor"] if cy.info is not None else None
        return dataclasses.replace(res, extra=extra, warnings=warnings, params=params)

    # -------------------------------------------------------------- estimate
    def estimate(self, x, y):
        """Compress each side as configured, then estimate the MI of the codes.

        Parameters
        ----------
        x : array-like of shape (n_samples, ...)
            First variable; any shape the x compressor accepts (images for a
            convolutional autoencoder), or what the estimator accepts when
            ``compressor_x`` is None.
        y : array-like of shape (n_samples, ...)
            Second variable, likewise.

        Returns
        -------
        MIResult
            The estimator's result on the codes, with ``extra["compression"] =
            {"x": info or None, "y": info or None, "refit": refit}``, where each
            ``info`` holds ``compressor`` (repr), ``class``, ``input_shape``,
            ``input_dim``, ``latent_dim``, ``reconstruction_error`` (the
            compressor's own ``{"train", "val"}`` or None),
            ``sample_reconstruction_error`` (mean absolute error per input
            element on the data given; NaN without an inverse), ``fitted_here``,
            ``seed`` and ``time_s``; the compressor reprs are added to ``params``
            and a data-processing inequality note to ``warnings``. ``time_s``
            includes the compression.

        Raises
        ------
        ValueError
            If x and y have different numbers of rows, a compressor is given
            for a side the estimator treats as discrete labels, or
            ``refit="never"`` meets an unfitted compressor.
        """
        t0 = time.perf_counter()
        self._check()
        for side in ("x", "y"):
            self._compressor(side)  # bad specs and label sides fail before any fitting
        nx, ny = _n_rows(x, "x"), _n_rows(y, "y")
        if nx != ny:
            raise ValueError(
                f"The 'x' and 'y' arguments must have the same number of rows (samples). Got {nx} and {ny}."
            )
        res = self.estimate_coded(self.encode("x", x), self.encode("y", y))
        return dataclasses.replace(res, time_s=time.perf_counter() - t0)
