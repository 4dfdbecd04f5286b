"""Convolutional autoencoder for images (the paper's synthetic-image design)."""

from __future__ import annotations

import numpy as np

from ..._validation import as_samples, describe, to_numpy
from .base import _AutoencoderBase
from .networks import _check_int_tuple, _conv_network


class ConvAutoencoder(_AutoencoderBase):
    """Convolutional autoencoder for images (the paper's synthetic-image design).

    Encoder: blocks of ``Conv 3x3 'same' -> BatchNorm -> LeakyReLU(0.2) ->
    MaxPool 2`` until the feature map is 1x1 (pooling rounds up: 16x16 takes 4
    blocks, 28x28 takes 5, 32x32 takes 5; see :func:`conv_block_sizes`), then
    ``Linear`` to ``latent_dim`` with a ``tanh`` or ``sigmoid`` code. The decoder
    mirrors it: ``Linear`` back to the bottleneck channels, blocks of
    ``Upsample -> Conv -> BatchNorm -> LeakyReLU`` to the original size, and a
    final ``Conv 3x3`` with a sigmoid output. With ``rescale=True`` the data are
    mapped affinely to [0, 1] (global min and max of the training images) so the
    sigmoid output can reach every value. ``transform`` takes images of shape
    (n_samples, ``*input_shape_``), or (n_samples, height, width) for one channel,
    and encodes them without noise, in eval mode.

    Parameters
    ----------
    latent_dim : int
        Code dimension; must be smaller than ``channels * height * width``.
    image_shape : tuple of int or None, default=None
        ``(channels, height, width)`` or ``(height, width)``. ``None`` takes the
        shape of the images passed to ``fit``; otherwise they must match it.
    channels : tuple of int, default=(4, 8)
        Filters per encoder block; the last value repeats for the remaining blocks.
    code_activation : {"tanh", "sigmoid"}, default="tanh"
    input_noise : float, default=0.1
        Std of the Gaussian noise added to the (rescaled) images during training only.
    code_noise : float, default=0.02
        Std of the Gaussian noise added to the code during training only.
    epochs : int, default=200
    batch_size : int, default=256
    lr : float, default=1e-3
    loss : {"l1", "mse"}, default="l1"
    validation_fraction : float, default=0.1
    patience : int or None, default=20
    rescale : bool, default=True
        Map the data to [0, 1] with the training min and max before the network.
    device : str, torch.device or None, default=None
    random_state : int, numpy.random.Generator or None, default=None
    progress : bool, default=False

    Attributes
    ----------
    model_ : torch.nn.Module
    input_shape_ : tuple
        ``(channels, height, width)``.
    data_min_, data_max_ : float
        The affine rescaling used (0 and 1 when ``rescale=False``).
    n_components_, n_features_in_, history_, best_epoch_, n_epochs_, reconstruction_error_, seed_, device_
        As in :class:`DenseAutoencoder`; ``reconstruction_error_`` is the mean
        absolute error per pixel in the units of the data.

    Examples
    --------
    >>> import numpy as np
    >>> imgs = np.random.default_rng(0).random((64, 8, 8))
    >>> ae = ConvAutoencoder(latent_dim=2, epochs=1, random_state=0).fit(imgs)
    >>> ae.transform(imgs).shape
    (64, 2)
    """

    _json_attrs = _AutoencoderBase._json_attrs + ("data_min_", "data_max_")

    def __init__(self, latent_dim, *, image_shape=None, channels=(4, 8), rescale=True, **params):
        super().__init__(latent_dim, **params)
        self.image_shape = image_shape
        self.channels = channels
        self.rescale = rescale
    def _configured_shape(self):
        if self.image_shape is None:
            return None
        shape = _check_int_tuple(self.image_shape, "image_shape", self._owner, allow_empty=False)
        if len(shape) == 2:
            shape = (1,) + shape
        if len(shape) != 3:
            raise ValueError(
                f"The 'image_shape' parameter of {self._owner} must be (channels, height, width) or "
                f"(height, width). Got {self.image_shape!r}."
            )
        return shape

    def _images(self, x, name: str, *, fitting: bool) -> np.ndarray:
        """Validate images and return them as float64 of shape (n, C, H, W)."""
        if not fitting:
            self._check_fitted("transform")
        arr = to_numpy(x, name)
        if arr.ndim == 3:
            arr = arr[:, None]
        elif arr.ndim != 4:
            raise ValueError(
                f"The '{name}' argument of {self._owner} must hold images of shape (n_samples, channels, height, "
                f"width) or (n_samples, height, width). Got {describe(x)} with {arr.ndim} dimension(s). "
                f"Reshape flat images first, e.g. {name}.reshape(-1, 1, height, width), or use DenseAutoencoder "
                "for vectors."
            )
        if fitting:
            expected, origin = self._configured_shape(), "the configured image_shape"
        else:
            expected, origin = tuple(self.input_shape_), "the images passed to 'fit'"
        if expected is not None and tuple(arr.shape[1:]) != tuple(expected):
            raise ValueError(
                f"The '{name}' argument of {self._owner} must hold images of shape (channels, height, width) = "
                f"{tuple(expected)}, as in {origin}. Got images of shape {tuple(arr.shape[1:])} ({describe(x)})."
            )
        if arr.shape[0] == 0:
            raise ValueError(f"The '{name}' argument has 0 images (shape {arr.shape}); at least 2 are needed.")
        flat = as_samples(arr.reshape(arr.shape[0], -1), name)
        return flat.reshape(arr.shape)

    def _build_network(self):
        channels = _check_int_tuple(self.channels, "channels", self._owner, allow_empty=False)
        return _conv_network(tuple(self.input_shape_), int(self.latent_dim), channels, self.code_activation)

    def _to_net(self, rows: np.ndarray) -> np.ndarray:
        span = self.data_max_ - self.data_min_
        out = (rows - self.data_min_) / span
        return out.reshape((len(rows),) + tuple(self.input_shape_)).astype(np.float32)

    def _from_net(self, out: np.ndarray) -> np.ndarray:
        span = self.data_max_ - self.data_min_
        return out.reshape(len(out), -1).astype(np.float64) * span + self.data_min_

    def fit(self, x, y=None):
        """Train the autoencoder on images ``x``.

        Parameters
        ----------
        x : array-like of shape (n_samples, channels, height, width) or (n_samples, height, width)
        y : ignored

        Returns
        -------
        self : ConvAutoencoder
        """
        images = self._images(x, "x", fitting=True)
        shape = tuple(images.shape[1:])
        d = int(np.prod(shape))
        latent, cfg, device, seed = self._begin_fit(
            d, shape, lambda: _check_int_tuple(self.channels, "channels", self._owner, allow_empty=False))
        rows = images.reshape(len(images), -1)
        lo, hi = (float(rows.min()), float(rows.max())) if self.rescale else (0.0, 1.0)
        if hi - lo <= 1e-12 * (abs(lo) + 1.0):
            hi = lo + 1.0
        self.data_min_, self.data_max_ = lo, hi
        self._fit_network(self._net_input(rows), rows, cfg, device, seed, min_batch=2)
        self.n_components_ = latent
        return self

    def _transform_rows(self, x) -> np.ndarray:
        images = self._images(x, "x", fitting=False)
        return images.reshape(len(images), -1)
