"""Compose a compressor with an MI estimator: I(E_X(X); E_Y(Y)) as in Algorithm 1 of the paper."""

from __future__ import annotations

import dataclasses
import numbers
import time

import numpy as np

from ._base import is_fitted
from .spec import parse_compressor

#: Note appended to the warnings of every compressed estimate.
DPI_NOTE = (
    "Compressed estimate: by the data-processing inequality I(E_X(X); E_Y(Y)) <= I(X; Y), so this value "
    "targets a lower bound of the MI of the uncompressed data (the estimator's own bias can still point "
    "either way). See extra['compression'] for each side's reconstruction error."
)


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


class CompressedEstimator:
    """Estimate I(X; Y) on compressed codes: fit the compressors, transform, then estimate.

    This is Algorithm 1 of the paper: (1) fit an encoder per side, (2) map the
    samples to low-dimensional codes, (3) estimate the MI of the codes with any
    ibscope estimator. By the data-processing inequality the result targets a
    **lower bound** of I(X; Y); a note saying so is appended to the result's
    ``warnings``, and ``extra["compression"]`` records each side's compressor,
    input and code dimensions and reconstruction error (the practical proxy for
    how much the compression may lose).

    Parameters
    ----------
    estimator : object
        Any object with ``estimate(x, y) -> MIResult``, e.g. an estimator from
        :mod:`ibscope.estimators`.
    compressor_x, compressor_y : compressor, str or None, default=None
        Compressor for each side: an object with ``fit`` and ``transform`` (an
        ibscope compressor or a scikit-learn transformer), a spec such as
        ``"pca:4"`` (see :func:`parse_compressor`; built with the estimator's
        ``random_state`` when it is an int), or ``None`` to pass that side unchanged.
    refit : bool, default=True
        Fit each compressor on the data given to every ``estimate`` call. With
        ``False``, an already fitted compressor is reused as is (fit once, e.g. on
        a fixed probe set, and keep it across epochs); an unfitted one is still fitted.

    Attributes
    ----------
    compressor_x_, compressor_y_ : compressor or None
        The compressor objects used by the last ``estimate`` (those built from a
        spec string are kept here and reused when ``refit=False``).

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
            # keep the object built from the same spec, so refit=False can reuse it
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

    def _apply(self, comp, data, side: str):
        if comp is None:
            return data, None
        t0 = time.perf_counter()
        fitted_now = bool(self.refit) or not is_fitted(comp)
        if fitted_now and callable(getattr(comp, "fit_transform", None)):
            codes = comp.fit_transform(data)
        else:
            if fitted_now:
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
            "fitted_here": fitted_now,
            "seed": getattr(comp, "seed_", None),
            "time_s": time.perf_counter() - t0,
        }
        return codes, info

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
            {"x": info or None, "y": info or None, "refit": bool}``, where each
            ``info`` holds ``compressor`` (repr), ``class``, ``input_shape``,
            ``input_dim``, ``latent_dim``, ``reconstruction_error`` (``{"train",
            "val"}`` or None), ``fitted_here``, ``seed`` and ``time_s``; the
            compressor reprs are added to ``params`` and a data-processing
            inequality note to ``warnings``. ``time_s`` includes the compression.

        Raises
        ------
        ValueError
            If x and y have different numbers of rows, or a compressor is given
            for a side the estimator treats as discrete labels.
        """
        t0 = time.perf_counter()
        if not callable(getattr(self.estimator, "estimate", None)):
            raise TypeError(
                "The 'estimator' parameter of CompressedEstimator must have an 'estimate(x, y)' method. "
                f"Got {self.estimator!r} of type {type(self.estimator).__name__}."
            )
        if not isinstance(self.refit, (bool, np.bool_)):
            raise TypeError(f"The 'refit' parameter of CompressedEstimator must be a bool. Got {self.refit!r}.")
        cx, cy = self._resolve("x"), self._resolve("y")
        for side, comp in (("x", cx), ("y", cy)):
            if comp is not None and getattr(self.estimator, f"{side}_discrete", False):
                raise ValueError(
                    f"The 'compressor_{side}' parameter of CompressedEstimator must be None when the estimator "
                    f"({self.name}) treats {side} as discrete labels; labels cannot be compressed. "
                    f"Pass compressor_{side}=None."
                )
        nx, ny = _n_rows(x, "x"), _n_rows(y, "y")
        if nx != ny:
            raise ValueError(
                f"The 'x' and 'y' arguments must have the same number of rows (samples). Got {nx} and {ny}."
            )
        zx, info_x = self._apply(cx, x, "x")
        zy, info_y = self._apply(cy, y, "y")
        self.compressor_x_, self.compressor_y_ = cx, cy
        res = self.estimator.estimate(zx, zy)
        extra = dict(res.extra)
        extra["compression"] = {"x": info_x, "y": info_y, "refit": bool(self.refit)}
        warnings = list(res.warnings)
        params = dict(res.params)
        if cx is not None or cy is not None:
            warnings.append(DPI_NOTE)
            params["compressor_x"] = repr(cx) if cx is not None else None
            params["compressor_y"] = repr(cy) if cy is not None else None
        return dataclasses.replace(
            res, extra=extra, warnings=warnings, params=params, time_s=time.perf_counter() - t0
        )
