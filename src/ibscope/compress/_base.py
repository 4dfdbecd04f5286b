"""Shared machinery of the compressors: parameters, fitted checks, input checks, saving and loading.

A compressor follows the scikit-learn transformer protocol: ``__init__`` only
stores explicit keyword parameters, ``fit(x)`` learns and returns ``self``,
fitted attributes end in ``_``, and ``transform`` before ``fit`` raises
:class:`NotFittedError`.

Every fitted compressor sets at least

* ``n_features_in_`` -- number of input features per sample (image pixels x channels);
* ``input_shape_`` -- shape of one input sample, e.g. ``(10,)`` or ``(1, 16, 16)``;
* ``n_components_`` -- dimension of the code returned by ``transform``;
* ``reconstruction_error_`` -- ``{"train": float, "val": float or None}``, the mean
  absolute (L1) reconstruction error per input element, in the units of the input,
  or ``None`` where the compressor cannot reconstruct.

Files written by :meth:`BaseCompressor.save` are plain ``.npz`` archives (no
pickle): one JSON string holding the class name, the parameters and the scalar
fitted attributes, plus one array per fitted array or ``torch`` state-dict entry.
Loading therefore never executes code from the file, and restores every array
bit for bit.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import numbers
import os
from typing import Any

import numpy as np

from .._params import Configurable
from .._validation import as_samples, describe, to_numpy
from ..runs import atomic_open, jsonable

#: Name of the file format written by :meth:`BaseCompressor.save`, and its version.
FORMAT_NAME = "ibscope.compress"
FORMAT_VERSION = 1

#: Where each compressor class lives; ``load_compressor`` imports lazily from here.
_CLASS_MODULES = {
    "PCACompressor": "ibscope.compress.pca",
    "RandomProjectionCompressor": "ibscope.compress.random_projection",
    "DenseAutoencoder": "ibscope.compress.autoencoder",
    "ConvAutoencoder": "ibscope.compress.autoencoder",
}


class NotFittedError(ValueError, AttributeError):
    """Raised when a compressor is used (``transform``, ``save``, ...) before ``fit``.

    Subclasses both ``ValueError`` and ``AttributeError``, like scikit-learn's
    exception of the same name.
    """


def is_fitted(compressor) -> bool:
    """Whether ``compressor`` has been fitted.

    Works for ibscope compressors and for any scikit-learn-style transformer: it
    uses ``__sklearn_is_fitted__`` when present, otherwise looks for a public
    attribute ending in ``_`` (scikit-learn's convention).
    """
    check = getattr(compressor, "__sklearn_is_fitted__", None)
    if callable(check):
        return bool(check())
    try:
        names = vars(compressor)
    except TypeError:
        return False
    return any(k.endswith("_") and not k.startswith("_") for k in names)


def _untuple(value):
    """Inverse of the tuple -> list conversion JSON performs (lists become tuples)."""
    if isinstance(value, list):
        return tuple(_untuple(v) for v in value)
    return value


class BaseCompressor(Configurable):
    """Base class of ibscope compressors (scikit-learn-style ``fit`` / ``transform``).

    Subclasses implement ``fit`` and the maps ``_encode`` (rows -> codes) and
    ``_decode`` (codes -> rows) that ``transform`` and ``inverse_transform`` apply,
    and list which fitted attributes are saved: ``_array_attrs`` (numpy arrays) and
    ``_json_attrs`` (JSON-serialisable values). Torch-based compressors also override
    ``_state_arrays`` and ``_restore``.
    """

    #: fitted numpy arrays written by ``save``
    _array_attrs: tuple = ()
    #: fitted JSON-serialisable attributes written by ``save``
    _json_attrs: tuple = ("n_features_in_", "input_shape_", "n_components_", "reconstruction_error_")

    # fitted state, set by ``fit`` (or ``load``); declared only, so an unfitted object has none of them
    n_features_in_: int
    input_shape_: tuple[int, ...]
    n_components_: int
    reconstruction_error_: dict[str, float | None]

    def __repr__(self) -> str:
        parts = []
        for name, default in self._param_defaults().items():
            value = getattr(self, name)
            if default is inspect.Parameter.empty or not _same(value, default):
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ------------------------------------------------------------ fitted state
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_components_")

    def _check_fitted(self, method: str = "transform") -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. "
                f"Call 'fit' with appropriate data before using '{method}'."
            )

    # ------------------------------------------------------------ protocol
    def fit(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _encode(self, rows: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Flat rows (n_samples, ``n_features_in_``) -> codes (n_samples, ``n_components_``)."""
        raise NotImplementedError

    def _decode(self, codes: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Codes (n_samples, ``n_components_``) -> flat rows (n_samples, ``n_features_in_``)."""
        raise NotImplementedError

    def _transform_rows(self, x) -> np.ndarray:
        """The input of ``transform`` checked against the fit, as flat rows (images override it)."""
        rows, _ = self._flat_input(x, "x", fitting=False)
        return rows

    def transform(self, x) -> np.ndarray:
        """Encode ``x`` with the fitted compressor (see the class notes for its map).

        Parameters
        ----------
        x : array-like of shape (n_samples, n_features) or (n_samples, ``*input_shape_``)
            Samples of the shape passed to ``fit``, or flattened (images: see the class notes).

        Returns
        -------
        numpy.ndarray of shape (n_samples, ``n_components_``)
        """
        return self._encode(self._transform_rows(x))

    def inverse_transform(self, z) -> np.ndarray:
        """Map codes back to the input space, in the units of the training data (see the class notes).

        Parameters
        ----------
        z : array-like of shape (n_samples, ``n_components_``)

        Returns
        -------
        numpy.ndarray of shape (n_samples, ``*input_shape_``)
        """
        return self._inverse(z, self._decode)

    def fit_transform(self, x) -> np.ndarray:
        """Fit on ``x`` and return its codes, ``transform(x)`` after ``fit(x)``.

        Parameters
        ----------
        x : array-like
            Training data, in the shape ``fit`` accepts.

        Returns
        -------
        numpy.ndarray of shape (n_samples, ``n_components_``)
        """
        return self.fit(x).transform(x)

    # ------------------------------------------------------------ input checks
    def _flat_input(self, x, name: str = "x", *, fitting: bool) -> tuple[np.ndarray, tuple]:
        """Validate ``x`` and return ``(rows, sample_shape)``, trailing axes flattened.

        Inputs of shape (n, d1, d2, ...) are accepted and flattened to (n, d1*d2*...),
        so images can be passed to linear compressors directly. When not fitting,
        the sample shape must match the one seen by ``fit``.
        """
        if not fitting:
            self._check_fitted("transform")
        arr = to_numpy(x, name)
        shape = tuple(arr.shape[1:]) if arr.ndim >= 2 else ((1,) if arr.ndim == 1 else ())
        if arr.ndim > 2 and arr.shape[0] > 0:
            arr = arr.reshape(arr.shape[0], -1)
        elif arr.ndim > 2:
            arr = arr.reshape(0, int(np.prod(arr.shape[1:])))
        rows = as_samples(arr, name)
        if not fitting:
            if rows.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"The '{name}' argument of {self._owner}.transform must have {self.n_features_in_} features "
                    f"per sample (sample shape {tuple(self.input_shape_)}), as in the data passed to 'fit'. "
                    f"Got {describe(x)}."
                )
        return rows, shape

    def _inverse(self, z, decode) -> np.ndarray:
        """``inverse_transform`` of every compressor: check the codes ``z``, map them
        with ``decode`` (codes -> rows) and give the rows the training sample shape."""
        self._check_fitted("inverse_transform")
        codes = as_samples(z, "z")
        if codes.shape[1] != self.n_components_:
            raise ValueError(
                f"The 'z' argument of {self._owner}.inverse_transform must have {self.n_components_} columns "
                f"(n_components_). Got {describe(z)}."
            )
        return decode(codes).reshape((len(codes),) + tuple(self.input_shape_))

    def _finish_fit(self, rows: np.ndarray, shape: tuple, n_components: int):
        """Record the fitted shapes and the training reconstruction error of a fit on ``rows``; returns ``self``."""
        self.n_features_in_ = rows.shape[1]
        self.input_shape_ = shape
        self.n_components_ = n_components
        recon = self._decode(self._encode(rows))
        self.reconstruction_error_ = {"train": float(np.mean(np.abs(recon - rows))), "val": None}
        return self

    def _check_latent(self, n_latent: int, n_features: int, shape: tuple, name: str, *, allow_equal: bool) -> None:
        """Reject a code dimension that is not smaller than the input dimension."""
        too_big = n_latent > n_features or (n_latent == n_features and not allow_equal)
        if too_big:
            bound = "<=" if allow_equal else "<"
            raise ValueError(
                f"The '{name}' parameter of {self._owner} must be {bound} the input dimension. "
                f"Got {name}={n_latent} for inputs with {n_features} features "
                f"(sample shape {shape}). Pass a smaller {name}, or estimate on the data uncompressed."
            )

    # ------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {f"attr/{name}": np.asarray(getattr(self, name)) for name in self._array_attrs}

    def _json_state(self) -> dict:
        return {name: jsonable(getattr(self, name)) for name in self._json_attrs if hasattr(self, name)}

    def _saved_params(self) -> dict:
        params = self.get_params()
        rs = params.get("random_state")
        if rs is not None and not isinstance(rs, numbers.Integral):
            # a Generator cannot be stored; the seed it produced can
            params["random_state"] = getattr(self, "seed_", None)
        if "device" in params and params["device"] is not None:
            params["device"] = str(params["device"])
        return jsonable(params)

    def _restore(self, attrs: dict, arrays: dict) -> None:
        for name, value in attrs.items():
            setattr(self, name, tuple(value) if name == "input_shape_" else value)
        for name in self._array_attrs:
            setattr(self, name, arrays[f"attr/{name}"])

    def save(self, path) -> None:
        """Write the fitted compressor to ``path`` (a single ``.npz`` file, no pickle).

        The file holds the class name, the parameters, the fitted attributes and,
        for autoencoders, the network weights. :meth:`load` (or
        :func:`load_compressor`) restores a compressor whose ``transform`` gives
        identical output.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file; written atomically (temporary file, then rename).
            No suffix is added.

        Raises
        ------
        NotFittedError
            If the compressor has not been fitted.
        """
        self._check_fitted("save")
        with atomic_open(os.path.abspath(os.fspath(path)), "wb") as fh:
            self._write(fh)

    def to_bytes(self) -> bytes:
        """The bytes :meth:`save` would write (for a checkpoint or a worker); read back with
        :func:`compressor_from_bytes`."""
        self._check_fitted("to_bytes")
        buf = io.BytesIO()
        self._write(buf)
        return buf.getvalue()

    def _write(self, fh) -> None:
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "class": type(self).__name__,
            "params": self._saved_params(),
            "attrs": self._json_state(),
        }
        payload: dict[str, Any] = {"__meta__": np.array(json.dumps(meta))}
        payload.update(self._state_arrays())
        np.savez(fh, **payload)

    @classmethod
    def load(cls, path, **params):
        """Load a compressor written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            File written by ``save``.
        **params
            Constructor parameters to override after loading, e.g.
            ``device="cpu"`` for an autoencoder trained on a GPU.

        Returns
        -------
        BaseCompressor
            A fitted compressor of the class stored in the file.

        Raises
        ------
        ValueError
            If the file is not an ibscope compressor file.
        TypeError
            If called on a class other than the one stored (use
            :func:`load_compressor` to load any compressor).
        """
        return _load(path, expected=cls, overrides=params)


def _same(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


def _compressor_class(name: str):
    module = _CLASS_MODULES.get(name)
    if module is None:
        raise ValueError(
            f"The file holds an unknown compressor class {name!r}. Known classes: {', '.join(sorted(_CLASS_MODULES))}."
        )
    return getattr(importlib.import_module(module), name)


def _load(path, *, expected=None, overrides=None):
    source = io.BytesIO(path) if isinstance(path, (bytes, bytearray)) else os.fspath(path)
    path = "<bytes>" if isinstance(path, (bytes, bytearray)) else os.fspath(path)
    try:
        with np.load(source, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"Could not read a compressor file from {path!r}: {exc}") from None
    if "__meta__" not in arrays:
        raise ValueError(f"{path!r} is not an ibscope compressor file (no '__meta__' entry).")
    meta = json.loads(str(arrays.pop("__meta__")))
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r} is not an ibscope compressor file (format {meta.get('format')!r}).")
    if meta.get("version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written by a newer ibscope (format version {meta['version']}; this one reads "
            f"up to {FORMAT_VERSION}). Upgrade ibscope to load it."
        )
    target = _compressor_class(meta["class"])
    if expected is not None and expected is not BaseCompressor and not issubclass(target, expected):
        raise TypeError(
            f"{path!r} holds a {meta['class']}, not a {expected.__name__}. "
            f"Use {meta['class']}.load or ibscope.compress.load_compressor."
        )
    params = {k: _untuple(v) for k, v in meta["params"].items()}
    params.update(overrides or {})
    obj = target(**params)
    obj._restore(meta["attrs"], arrays)
    return obj


def load_compressor(path, **params) -> BaseCompressor:
    """Load any compressor written by ``save``, whatever its class.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :meth:`BaseCompressor.save`.
    **params
        Constructor parameters to override, e.g. ``device="cpu"``.

    Returns
    -------
    BaseCompressor
        The fitted compressor.
    """
    return _load(path, expected=None, overrides=params)


def compressor_from_bytes(blob: bytes, **params) -> BaseCompressor:
    """Load a compressor from the bytes of :meth:`BaseCompressor.to_bytes` (keywords as :func:`load_compressor`)."""
    return _load(bytes(blob), expected=None, overrides=params)
