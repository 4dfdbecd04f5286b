"""Dense autoencoder for vectors (e.g. layer activations)."""

from __future__ import annotations

import numpy as np

from ..._validation import column_moments, constant_columns
from .base import _AutoencoderBase
from .networks import _check_int_tuple, _dense_network


class DenseAutoencoder(_AutoencoderBase):
    """Fully connected autoencoder for vectors (e.g. layer activations).

    Encoder: ``Linear -> LeakyReLU(0.2)`` per hidden width, then ``Linear`` to
    ``latent_dim`` and a bounded code activation. The decoder mirrors it with a
    linear output. Inputs are standardised per feature (mean and standard
    deviation of the training data) unless ``standardize=False``, so the noise
    levels are relative to each feature's spread. ``transform`` encodes without
    noise, in eval mode: codes in (-1, 1) for ``tanh``, (0, 1) for ``sigmoid``;
    ``inverse_transform`` decodes them back to the units of the training data.

    Parameters
    ----------
    latent_dim : int
        Code dimension; must be smaller than the number of input features.
    hidden : tuple of int, default=(128, 64)
        Widths of the encoder's hidden layers (the decoder uses them reversed).
    code_activation : {"tanh", "sigmoid"}, default="tanh"
    input_noise : float, default=0.1
        Standard deviation of the Gaussian noise added to the (standardised)
        input during training only.
    code_noise : float, default=0.02
        Standard deviation of the Gaussian noise added to the code during training only.
    epochs : int, default=200
        Maximum number of passes over the training split.
    batch_size : int, default=256
    lr : float, default=1e-3
        Adam learning rate.
    loss : {"l1", "mse"}, default="l1"
    validation_fraction : float, default=0.1
        Fraction of the samples held out (seeded split) to pick the best epoch
        and stop early. ``0`` monitors the training loss instead.
    patience : int or None, default=20
        Stop after this many epochs without improvement; ``None`` runs every epoch.
        The best weights are restored in either case.
    standardize : bool, default=True
        Standardise each input feature before training and encoding.
    device : str, torch.device or None, default=None
        ``"cpu"``, ``"cuda"``, ... ``None`` picks CUDA when available.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds initialisation, the validation split, batch order and training noise.
        ``None`` draws a fresh seed, stored in ``seed_``.
    progress : bool, default=False
        Show a tqdm bar over epochs.

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network (in eval mode) with ``encode`` and ``decode`` methods.
    n_components_, n_features_in_ : int
    input_shape_ : tuple
        Shape of one input sample; inputs with more than 2 axes are flattened.
    input_mean_, input_scale_ : ndarray of shape (n_features,)
        Standardisation applied before the network (zeros and ones when ``standardize=False``).
    history_ : dict
        ``{"train_loss": [...], "val_loss": [...]}``, one value per epoch, in the
        standardised units the network sees (``val_loss`` is empty without a split).
    best_epoch_ : int
        Index in ``history_`` of the epoch whose weights were kept.
    n_epochs_ : int
        Number of epochs run (fewer than ``epochs`` after early stopping).
    reconstruction_error_ : dict
        ``{"train": float, "val": float or None}``: mean absolute reconstruction
        error per input element, in the units of the data, without noise.
    seed_ : int
    device_ : str

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(200, 8))
    >>> ae = DenseAutoencoder(latent_dim=2, hidden=(16,), epochs=2, random_state=0).fit(x)
    >>> ae.transform(x).shape
    (200, 2)
    """

    _array_attrs = ("input_mean_", "input_scale_")

    def __init__(self, latent_dim, *, hidden=(128, 64), standardize=True, **params):
        super().__init__(latent_dim, **params)
        self.hidden = hidden
        self.standardize = standardize
    def _build_network(self):
        hidden = _check_int_tuple(self.hidden, "hidden", self._owner, allow_empty=True)
        return _dense_network(self.n_features_in_, hidden, int(self.latent_dim), self.code_activation)

    def _to_net(self, rows: np.ndarray) -> np.ndarray:
        return ((rows - self.input_mean_) / self.input_scale_).astype(np.float32)

    def _from_net(self, out: np.ndarray) -> np.ndarray:
        return out.astype(np.float64) * self.input_scale_ + self.input_mean_

    def fit(self, x, y=None):
        """Train the autoencoder on ``x``.

        Parameters
        ----------
        x : array-like of shape (n_samples, n_features) or (n_samples, d1, d2, ...)
            Training data; trailing axes are flattened.
        y : ignored

        Returns
        -------
        self : DenseAutoencoder
        """
        rows, shape = self._flat_input(x, "x", fitting=True)
        d = rows.shape[1]
        latent, cfg, device, seed = self._begin_fit(
            d, shape, lambda: _check_int_tuple(self.hidden, "hidden", self._owner, allow_empty=True))
        if self.standardize:
            mean, sd = column_moments(rows)  # any scale; constant columns keep scale 1
            sd = np.where(constant_columns(rows) | (sd == 0), 1.0, sd)
        else:
            mean, sd = np.zeros(d), np.ones(d)
        self.input_mean_, self.input_scale_ = mean, sd
        self._fit_network(self._net_input(rows), rows, cfg, device, seed, min_batch=1)
        self.n_components_ = latent
        return self
