"""Autoencoders as compressors: a dense one for vectors and a convolutional one for images (torch).

Both follow the scheme of the paper (Butakov et al., ICLR 2024, Fig. 1 and the
synthetic-image autoencoders of its reference code): Gaussian noise on the input
and on the code during training only, a bounded code (``tanh`` or ``sigmoid``),
an L1 reconstruction loss and Adam. ibscope adds a validation split with early
stopping (the best weights are restored), a recorded training curve and the
final reconstruction error, which is the practical proxy for how much
information the compression may lose.

Reproducibility: every random step (weight initialisation, the validation
split, batch order and the training noise) draws from a local
``torch.Generator`` seeded from ``random_state``; the global torch seed is never
touched. On the CPU the same seed gives the same weights and codes. On a GPU,
results can differ from the CPU ones and, for some kernels, from run to run.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._random import make_rng
from .._validation import _describe, _to_numpy, as_samples, check_choice, check_float, check_int
from ._base import BaseCompressor

#: Rows per forward pass when encoding or decoding outside training.
_INFERENCE_BATCH = 4096


def _torch():
    import torch

    return torch


def _resolve_device(device, owner: str):
    torch = _torch()
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"The 'device' parameter of {owner} must be 'cpu', 'cuda', 'cuda:<index>', a torch.device or None "
            f"(auto: CUDA when available). Got {device!r}."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"The 'device' parameter of {owner} is {device!r}, but CUDA is not available on this machine. "
            "Pass device='cpu', or device=None to pick automatically."
        )
    return dev


def _check_int_tuple(value, name: str, owner: str, *, allow_empty: bool) -> tuple:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    ok = isinstance(value, (tuple, list)) and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in value
    )
    if not ok or (not allow_empty and len(value) == 0):
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a tuple of positive ints"
            f"{'' if allow_empty else ' (at least one)'}. Got {value!r}."
        )
    return tuple(int(v) for v in value)


def _init_weights(module, generator) -> None:
    """Seeded initialisation, the torch default scheme: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases."""
    torch = _torch()
    nn = torch.nn
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                bound = 1.0 / math.sqrt(m.weight[0].numel())
                m.weight.uniform_(-bound, bound, generator=generator)
                if m.bias is not None:
                    m.bias.uniform_(-bound, bound, generator=generator)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()


def _code_activation(name: str):
    nn = _torch().nn
    return nn.Tanh() if name == "tanh" else nn.Sigmoid()


def _dense_network(n_features: int, hidden: tuple, latent_dim: int, code_activation: str):
    nn = _torch().nn

    class DenseNet(nn.Module):
        def __init__(self):
            super().__init__()
            enc, width = [], n_features
            for h in hidden:
                enc += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
                width = h
            enc += [nn.Linear(width, latent_dim), _code_activation(code_activation)]
            dec, width = [], latent_dim
            for h in reversed(hidden):
                dec += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
                width = h
            dec.append(nn.Linear(width, n_features))
            self.encoder = nn.Sequential(*enc)
            self.decoder = nn.Sequential(*dec)

        def encode(self, x):
            return self.encoder(x)

        def decode(self, z):
            return self.decoder(z)

    return DenseNet()


def conv_block_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Spatial sizes through the encoder: halve (rounding up) until 1x1.

    ``conv_block_sizes(16, 16)`` is ``[(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]``:
    four blocks. A 28x28 image takes five (28, 14, 7, 4, 2, 1), since pooling
    rounds up and so drops no pixel.
    """
    sizes = [(int(height), int(width))]
    while sizes[-1] != (1, 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def _conv_network(image_shape: tuple, latent_dim: int, channels: tuple, code_activation: str):
    nn = _torch().nn
    n_chan, height, width = image_shape
    sizes = conv_block_sizes(height, width)
    n_blocks = len(sizes) - 1
    widths = [channels[min(i, len(channels) - 1)] for i in range(n_blocks)]

    class ConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            enc, c_in = [], n_chan
            for i in range(n_blocks):
                h, w = sizes[i]
                pool = (2 if h > 1 else 1, 2 if w > 1 else 1)
                enc += [
                    nn.Conv2d(c_in, widths[i], 3, padding=1),
                    nn.BatchNorm2d(widths[i]),
                    nn.LeakyReLU(0.2),
                    nn.MaxPool2d(pool, pool, ceil_mode=True),
                ]
                c_in = widths[i]
            self.features = nn.Sequential(*enc)
            self.to_code = nn.Sequential(nn.Linear(c_in, latent_dim), _code_activation(code_activation))
            self.from_code = nn.Linear(latent_dim, c_in)
            self.bottleneck_channels = c_in
            dec, c_cur = [], c_in
            for i in reversed(range(n_blocks)):
                dec += [
                    nn.Upsample(size=sizes[i], mode="nearest"),
                    nn.Conv2d(c_cur, widths[i], 3, padding=1),
                    nn.BatchNorm2d(widths[i]),
                    nn.LeakyReLU(0.2),
                ]
                c_cur = widths[i]
            dec += [nn.Conv2d(c_cur, n_chan, 3, padding=1), nn.Sigmoid()]
            self.decoder = nn.Sequential(*dec)

        def encode(self, x):
            return self.to_code(self.features(x).flatten(1))

        def decode(self, z):
            return self.decoder(self.from_code(z).view(-1, self.bottleneck_channels, 1, 1))

    return ConvNet()


class _AutoencoderBase(BaseCompressor):
    """Training loop, inference, persistence and checks shared by the autoencoders."""

    _json_attrs = BaseCompressor._json_attrs + ("seed_", "history_", "best_epoch_", "n_epochs_", "device_")

    # hooks -----------------------------------------------------------------
    def _build_network(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _to_net(self, rows: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Flat rows in data units -> float32 network input."""
        raise NotImplementedError

    def _from_net(self, out: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Network output -> flat rows in data units."""
        raise NotImplementedError

    # checks -----------------------------------------------------------------
    def _check_training_params(self) -> dict:
        owner = self._owner
        return {
            "code_activation": check_choice(self.code_activation, "code_activation", owner, {"tanh", "sigmoid"}),
            "input_noise": check_float(self.input_noise, "input_noise", owner, low=0.0),
            "code_noise": check_float(self.code_noise, "code_noise", owner, low=0.0),
            "epochs": check_int(self.epochs, "epochs", owner, low=1),
            "batch_size": check_int(self.batch_size, "batch_size", owner, low=1),
            "lr": check_float(self.lr, "lr", owner, low=0.0, low_open=True),
            "loss": check_choice(self.loss, "loss", owner, {"l1", "mse"}),
            "validation_fraction": check_float(
                self.validation_fraction, "validation_fraction", owner, low=0.0, high=1.0, high_open=True
            ),
            "patience": None if self.patience is None else check_int(self.patience, "patience", owner, low=1),
            "progress": bool(self.progress),
        }

    # training ---------------------------------------------------------------
    def _fit_network(self, data: np.ndarray, rows: np.ndarray, cfg: dict, device, seed: int, min_batch: int):
        """Train ``self.model_`` on ``data`` (network space); ``rows`` are the same samples in data units."""
        torch = _torch()
        n = len(data)
        n_val = math.ceil(cfg["validation_fraction"] * n) if cfg["validation_fraction"] > 0 else 0
        if n - n_val < 2:
            raise ValueError(
                f"{self._owner} needs at least 2 training samples after holding out validation_fraction="
                f"{cfg['validation_fraction']} for validation. Got n_samples={n}. Pass more samples or a smaller "
                "validation_fraction."
            )
        gen = torch.Generator().manual_seed(seed)
        with torch.device("meta"):
            net = self._build_network()
        net = net.to_empty(device="cpu")
        _init_weights(net, gen)
        net = net.to(device)
        if device.type == "cpu":
            noise_gen = gen
        else:
            noise_gen = torch.Generator(device=device).manual_seed(seed + 1)

        perm = torch.randperm(n, generator=gen)
        val_idx, train_idx = perm[:n_val], perm[n_val:]
        tensor = torch.from_numpy(data).to(device)
        val_data = tensor[val_idx.to(device)]
        loss_fn = torch.nn.L1Loss() if cfg["loss"] == "l1" else torch.nn.MSELoss()
        opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])

        history = {"train_loss": [], "val_loss": []}
        best, best_state, best_epoch, wait = math.inf, None, 0, 0
        bar = None
        if cfg["progress"]:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg["epochs"], desc=f"{self._owner} fit", unit="epoch", leave=False)
        bs = cfg["batch_size"]
        try:
            for epoch in range(cfg["epochs"]):
                net.train()
                order = train_idx[torch.randperm(len(train_idx), generator=gen)].to(device)
                total, count = 0.0, 0
                for start in range(0, len(order), bs):
                    idx = order[start : start + bs]
                    if len(idx) < min_batch:
                        continue
                    clean = tensor[idx]
                    noisy = clean
                    if cfg["input_noise"] > 0:
                        noisy = clean + cfg["input_noise"] * torch.randn(
                            clean.shape, generator=noise_gen, device=device, dtype=clean.dtype
                        )
                    code = net.encode(noisy)
                    if cfg["code_noise"] > 0:
                        code = code + cfg["code_noise"] * torch.randn(
                            code.shape, generator=noise_gen, device=device, dtype=code.dtype
                        )
                    loss = loss_fn(net.decode(code), clean)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                    count += len(idx)
                train_loss = total / max(count, 1)
                if not math.isfinite(train_loss):
                    raise RuntimeError(
                        f"{self._owner} training diverged: the training loss became {train_loss} at epoch "
                        f"{epoch}. Pass a smaller 'lr' (got {cfg['lr']:g}) or check the scale of the data."
                    )
                history["train_loss"].append(train_loss)
                if n_val:
                    val_loss = self._eval_loss(net, val_data, loss_fn)
                    history["val_loss"].append(val_loss)
                monitor = history["val_loss"][-1] if n_val else train_loss
                if monitor < best:
                    best, best_epoch, wait = monitor, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    wait += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(train=f"{train_loss:.4g}", val=f"{history['val_loss'][-1]:.4g}" if n_val else "-")
                if cfg["patience"] is not None and wait >= cfg["patience"]:
                    break
        finally:
            if bar is not None:
                bar.close()
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        self.model_ = net
        self.device_ = str(device)
        self.history_ = history
        self.best_epoch_ = int(best_epoch)
        self.n_epochs_ = len(history["train_loss"])
        recon = self._from_net(self._run(net.decode, self._run(net.encode, data)))
        err = np.abs(recon - rows).mean(axis=1)
        train_np, val_np = train_idx.numpy(), val_idx.numpy()
        self.reconstruction_error_ = {
            "train": float(err[train_np].mean()),
            "val": float(err[val_np].mean()) if n_val else None,
        }

    def _eval_loss(self, net, data, loss_fn) -> float:
        torch = _torch()
        net.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(data), _INFERENCE_BATCH):
                chunk = data[start : start + _INFERENCE_BATCH]
                total += float(loss_fn(net.decode(net.encode(chunk)), chunk)) * len(chunk)
        return total / len(data)

    def _run(self, fn, arr: np.ndarray) -> np.ndarray:
        """Apply ``fn`` (encode or decode) in eval mode, in chunks, and return float32 numpy."""
        torch = _torch()
        self.model_.eval()
        device = next(self.model_.parameters()).device
        outs = []
        with torch.no_grad():
            for start in range(0, len(arr), _INFERENCE_BATCH):
                chunk = torch.from_numpy(np.ascontiguousarray(arr[start : start + _INFERENCE_BATCH])).to(device)
                outs.append(fn(chunk).cpu().numpy())
        return np.concatenate(outs, axis=0)

    def _net_input(self, rows: np.ndarray, name: str = "x") -> np.ndarray:
        """``_to_net`` with a clear error when scaled values overflow float32."""
        with np.errstate(over="ignore", invalid="ignore"):
            data = self._to_net(rows)
        if not np.all(np.isfinite(data)):
            raise ValueError(
                f"The '{name}' argument of {self._owner} has values too large for the float32 network after "
                f"scaling (largest |{name}| = {np.max(np.abs(rows)):.3g}). Keep the default input scaling "
                "(standardize=True / rescale=True) or rescale the data."
            )
        return data

    # public -----------------------------------------------------------------
    def _encode_rows(self, rows: np.ndarray) -> np.ndarray:
        return self._run(self.model_.encode, self._net_input(rows)).astype(np.float64)

    def inverse_transform(self, z) -> np.ndarray:
        """Decode codes back to the input space, in the units of the training data.

        Parameters
        ----------
        z : array-like of shape (n_samples, n_components_)

        Returns
        -------
        numpy.ndarray of shape (n_samples, *input_shape_)
        """
        return self._inverse(z, lambda codes: self._from_net(self._run(self.model_.decode, codes.astype(np.float32))))

    # persistence ------------------------------------------------------------
    def _state_arrays(self) -> dict:
        arrays = super()._state_arrays()
        for key, value in self.model_.state_dict().items():
            arrays[f"state/{key}"] = value.detach().cpu().numpy()
        return arrays

    def _restore(self, attrs: dict, arrays: dict) -> None:
        torch = _torch()
        super()._restore(attrs, arrays)
        device = _resolve_device(self.device, self._owner)
        with torch.device("meta"):
            net = self._build_network()
        net = net.to_empty(device="cpu")
        state = {k[len("state/") :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("state/")}
        net.load_state_dict(state)
        self.model_ = net.to(device).eval()
        self.device_ = str(device)


class DenseAutoencoder(_AutoencoderBase):
    """Fully connected autoencoder for vectors (e.g. layer activations).

    Encoder: ``Linear -> LeakyReLU(0.2)`` per hidden width, then ``Linear`` to
    ``latent_dim`` and a bounded code activation. The decoder mirrors it with a
    linear output. Inputs are standardised per feature (mean and standard
    deviation of the training data) unless ``standardize=False``, so the noise
    levels are relative to each feature's spread.

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

    def __init__(
        self,
        latent_dim,
        *,
        hidden=(128, 64),
        code_activation="tanh",
        input_noise=0.1,
        code_noise=0.02,
        epochs=200,
        batch_size=256,
        lr=1e-3,
        loss="l1",
        validation_fraction=0.1,
        patience=20,
        standardize=True,
        device=None,
        random_state=None,
        progress=False,
    ):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.code_activation = code_activation
        self.input_noise = input_noise
        self.code_noise = code_noise
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.standardize = standardize
        self.device = device
        self.random_state = random_state
        self.progress = progress

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
        n, d = rows.shape
        latent = check_int(self.latent_dim, "latent_dim", self._owner, low=1)
        self._check_latent(latent, d, shape, "latent_dim", allow_equal=False)
        _check_int_tuple(self.hidden, "hidden", self._owner, allow_empty=True)
        cfg = self._check_training_params()
        device = _resolve_device(self.device, self._owner)
        _, seed = make_rng(self.random_state)
        self.__dict__.pop("n_components_", None)
        self.seed_ = seed
        self.n_features_in_ = d
        self.input_shape_ = shape
        if self.standardize:
            mean, sd = rows.mean(axis=0), rows.std(axis=0)
            sd = np.where(sd > 1e-12 * (np.abs(mean) + 1.0), sd, 1.0)
        else:
            mean, sd = np.zeros(d), np.ones(d)
        self.input_mean_, self.input_scale_ = mean, sd
        self._fit_network(self._net_input(rows), rows, cfg, device, seed, min_batch=1)
        self.n_components_ = latent
        return self

    def transform(self, x) -> np.ndarray:
        """Encode ``x`` (no noise, eval mode).

        Parameters
        ----------
        x : array-like of shape (n_samples, n_features) or (n_samples, *input_shape_)

        Returns
        -------
        numpy.ndarray of shape (n_samples, latent_dim)
            Codes in (-1, 1) for ``tanh``, (0, 1) for ``sigmoid``.
        """
        rows, _ = self._flat_input(x, "x", fitting=False)
        return self._encode_rows(rows)


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
    sigmoid output can reach every value.

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

    def __init__(
        self,
        latent_dim,
        *,
        image_shape=None,
        channels=(4, 8),
        code_activation="tanh",
        input_noise=0.1,
        code_noise=0.02,
        epochs=200,
        batch_size=256,
        lr=1e-3,
        loss="l1",
        validation_fraction=0.1,
        patience=20,
        rescale=True,
        device=None,
        random_state=None,
        progress=False,
    ):
        self.latent_dim = latent_dim
        self.image_shape = image_shape
        self.channels = channels
        self.code_activation = code_activation
        self.input_noise = input_noise
        self.code_noise = code_noise
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.rescale = rescale
        self.device = device
        self.random_state = random_state
        self.progress = progress

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
        arr = _to_numpy(x, name)
        if arr.ndim == 3:
            arr = arr[:, None]
        elif arr.ndim != 4:
            raise ValueError(
                f"The '{name}' argument of {self._owner} must hold images of shape (n_samples, channels, height, "
                f"width) or (n_samples, height, width). Got {_describe(x)} with {arr.ndim} dimension(s). "
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
                f"{tuple(expected)}, as in {origin}. Got images of shape {tuple(arr.shape[1:])} ({_describe(x)})."
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
        latent = check_int(self.latent_dim, "latent_dim", self._owner, low=1)
        self._check_latent(latent, d, shape, "latent_dim", allow_equal=False)
        _check_int_tuple(self.channels, "channels", self._owner, allow_empty=False)
        cfg = self._check_training_params()
        device = _resolve_device(self.device, self._owner)
        _, seed = make_rng(self.random_state)
        self.__dict__.pop("n_components_", None)
        self.seed_ = seed
        self.n_features_in_ = d
        self.input_shape_ = shape
        rows = images.reshape(len(images), -1)
        lo, hi = (float(rows.min()), float(rows.max())) if self.rescale else (0.0, 1.0)
        if hi - lo <= 1e-12 * (abs(lo) + 1.0):
            hi = lo + 1.0
        self.data_min_, self.data_max_ = lo, hi
        self._fit_network(self._net_input(rows), rows, cfg, device, seed, min_batch=2)
        self.n_components_ = latent
        return self

    def transform(self, x) -> np.ndarray:
        """Encode images (no noise, eval mode).

        Parameters
        ----------
        x : array-like of shape (n_samples, *input_shape_), or (n_samples, height, width) for one channel

        Returns
        -------
        numpy.ndarray of shape (n_samples, latent_dim)
        """
        images = self._images(x, "x", fitting=False)
        return self._encode_rows(images.reshape(len(images), -1))
