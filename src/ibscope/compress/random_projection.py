"""Gaussian random projection as a compressor."""

from __future__ import annotations

import numpy as np

from .._random import make_rng
from .._validation import check_int
from ._base import BaseCompressor


class RandomProjectionCompressor(BaseCompressor):
    """Multiply by a seeded Gaussian random matrix.

    The projection matrix ``R`` has i.i.d. entries drawn from N(0, 1/n_components)
    (the Johnson-Lindenstrauss scaling, as in scikit-learn's
    ``GaussianRandomProjection``), and ``transform(x) = x @ R.T``. The data are
    not centred. Fitting only reads the number of features; the matrix depends on
    nothing but ``random_state`` and the shape. ``inverse_transform(z)`` is the
    least-squares reconstruction ``z @ pinv(components_).T`` (exact only in the
    row space of ``R``).

    Parameters
    ----------
    n_components : int
        Code dimension, in ``[1, n_features]`` (``n_features`` gives an
        invertible linear map, almost surely).
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the projection matrix. ``None`` draws a fresh seed, stored in ``seed_``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The projection matrix ``R``.
    seed_ : int
        Seed used to draw ``components_``.
    n_components_, n_features_in_ : int
    input_shape_ : tuple
    reconstruction_error_ : dict
        ``{"train": ..., "val": None}``: mean absolute error of the least-squares
        (pseudo-inverse) reconstruction of the training data.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 20))
    >>> RandomProjectionCompressor(n_components=5, random_state=0).fit_transform(x).shape
    (50, 5)
    """

    _array_attrs = ("components_",)
    _json_attrs = BaseCompressor._json_attrs + ("seed_",)

    def __init__(self, n_components, *, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, x, y=None):
        """Draw the projection matrix for the number of features of ``x``.

        Parameters
        ----------
        x : array-like of shape (n_samples, n_features) or (n_samples, d1, d2, ...)
        y : ignored

        Returns
        -------
        self : RandomProjectionCompressor
        """
        rows, shape = self._flat_input(x, "x", fitting=True)
        d = rows.shape[1]
        k = check_int(self.n_components, "n_components", self._owner, low=1)
        self._check_latent(k, d, shape, "n_components", allow_equal=True)
        rng, seed = make_rng(self.random_state)
        self.seed_ = seed
        self.components_ = rng.normal(0.0, 1.0 / np.sqrt(k), size=(k, d))
        return self._finish_fit(rows, shape, k)

    def _encode(self, rows: np.ndarray) -> np.ndarray:
        return rows @ self.components_.T

    def _decode(self, codes: np.ndarray) -> np.ndarray:
        return codes @ np.linalg.pinv(self.components_).T
