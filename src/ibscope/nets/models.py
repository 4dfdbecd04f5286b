"""Noisy classifiers for information-bottleneck analysis: the paper's conv net and an MLP.

Both models are built from named blocks ``L1, L2, ...`` (each an ``nn.Sequential`` child), so
the output of layer ``Li`` is the output of submodule ``"Li"`` and a forward hook on it captures
exactly the representation the paper tracks. ``model.layer_names`` lists them in order.

Weights are initialised from a private ``torch.Generator`` seeded with ``random_state`` (PyTorch's default
distribution, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases), so building a model
neither reads nor changes the global torch seed, and the same seed gives the same weights.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from .._validation import check_choice, check_float, check_int
from ._base import LayeredNet as _LayeredNet
from ._base import init_parameters_
from ._base import make_noise as _noise
from .noise import NOISE_KINDS, _seed_arg
from .resnet import ResNetSmall

__all__ = ["PaperConvNet", "MLP", "MODELS", "build_model", "available_models", "init_parameters_"]


def _auto_padding(size: int, n_blocks: int, padding) -> int:
    def final(p):
        s = size
        for _ in range(n_blocks):
            s = (s + 2 * p - 2) // 2  # 3x3 conv, then 2x2 max-pool
        return s

    if padding == "auto":
        return 0 if final(0) >= 1 else 1
    return int(padding)


def _spatial_after(size: int, n_blocks: int, padding: int) -> int:
    s = size
    for _ in range(n_blocks):
        s = (s + 2 * padding - 2) // 2
        if s < 1:
            return 0
    return s


class PaperConvNet(_LayeredNet):
    """The paper's noisy LeNet-like MNIST classifier (Butakov et al., ICLR 2024, Sec. 2.2 of our notes).

    ====  =========================================================================  =============
    name  operations                                                                 output, 28x28
    ====  =========================================================================  =============
    L1    Dropout -> noise -> Conv 1->8, 3x3 -> MaxPool 2 -> LeakyReLU               (8, 13, 13)
    L2    Dropout -> noise -> Conv 8->16, 3x3 -> MaxPool 2 -> LeakyReLU              (16, 5, 5)
    L3    Dropout -> noise -> Conv 16->32, 3x3 -> MaxPool 2 -> LeakyReLU -> Flatten  (32,)
    L4    noise -> Linear 32->32 -> LeakyReLU                                        (32,)
    L5    noise -> Linear 32->n_classes -> LogSoftmax                                (10,)
    ====  =========================================================================  =============

    Parameters
    ----------
    noise_sigma : float, default=1e-3
        Scale of the noise at the input of every conv and linear layer (0 disables it).
    noise_kind : {"relative", "additive", "normalized"}, default="relative"
        Noise model; the paper uses relative noise ``x * (1 + sigma * eps)``.
    dropout : float, default=0.1
        Dropout probability before the three conv layers (on in training only).
    in_shape : tuple of int, default=(1, 28, 28)
        Input shape (channels, height, width). The flattened size entering L4 is computed from it.
    n_classes : int, default=10
        Number of output classes.
    random_state : int, default=0
        Seed of the weight initialisation; noise layer i gets ``derive_seed(random_state, i)``.
    seed : int or None
        Deprecated spelling of ``random_state``.
    active_in_eval : bool, default=True
        Keep the noise on in ``eval()`` mode (the paper's setting for probe passes).
    padding : "auto" or int, default="auto"
        Zero padding of each 3x3 conv. "auto" uses the paper's 0 whenever the feature map stays
        at least 1x1 after the three conv/pool blocks (28x28 input: 26->13, 11->5, 3->1), and 1
        otherwise. For 8x8 digits this gives padding 1 (8->4, 4->2, 2->1), so L1 is (8, 4, 4),
        L2 (16, 2, 2) and L3 (32,).
    channels : tuple of 3 int, default=(8, 16, 32)
        Output channels of the conv layers.
    hidden : int, default=32
        Width of L4.
    negative_slope : float, default=0.01
        Slope of LeakyReLU for negative inputs.

    Attributes
    ----------
    layer_names : tuple of str
        ``("L1", "L2", "L3", "L4", "L5")``.
    padding : int
        The padding used.
    flat_dim : int
        Size of the flattened L3 output fed to L4.

    Notes
    -----
    Input: float tensor of shape ``(n, *in_shape)``, normalised as the user chooses (the paper uses
    MNIST mean 0.1307 and std 0.3081). Output: log-probabilities of shape (n, n_classes);
    ``exp`` of a row sums to 1.
    """

    def __init__(
        self,
        noise_sigma: float = 1e-3,
        noise_kind: str = "relative",
        dropout: float = 0.1,
        in_shape=(1, 28, 28),
        n_classes: int = 10,
        random_state: int = 0,
        *,
        seed: int | None = None,
        active_in_eval: bool = True,
        padding="auto",
        channels=(8, 16, 32),
        hidden: int = 32,
        negative_slope: float = 0.01,
    ):
        super().__init__()
        owner = "PaperConvNet"
        self.noise_sigma = check_float(noise_sigma, "noise_sigma", owner, low=0.0)
        self.noise_kind = check_choice(noise_kind, "noise_kind", owner, NOISE_KINDS)
        self.dropout = check_float(dropout, "dropout", owner, low=0.0, high=1.0, high_open=True)
        in_shape = tuple(in_shape)
        if len(in_shape) != 3 or not all(isinstance(s, numbers.Integral) and int(s) >= 1 for s in in_shape):
            raise ValueError(
                f"The 'in_shape' parameter of {owner} must be (channels, height, width) of positive "
                f"ints. Got {in_shape!r}."
            )
        self.in_shape = tuple(int(s) for s in in_shape)
        self.n_classes = check_int(n_classes, "n_classes", owner, low=1)
        self.seed = _seed_arg(random_state, seed, owner)
        self.active_in_eval = bool(active_in_eval)
        channels = tuple(int(c) for c in channels)
        if len(channels) != 3 or min(channels) < 1:
            raise ValueError(f"The 'channels' parameter of {owner} must be 3 positive ints. Got {channels!r}.")
        self.channels = channels
        self.hidden = check_int(hidden, "hidden", owner, low=1)
        if padding != "auto":
            check_int(padding, "padding", owner, low=0)
        c, h, w = self.in_shape
        pad = max(_auto_padding(h, 3, padding), _auto_padding(w, 3, padding))
        sh, sw = _spatial_after(h, 3, pad), _spatial_after(w, 3, pad)
        if sh < 1 or sw < 1:
            raise ValueError(
                f"The 'in_shape' {self.in_shape} is too small for {owner} with padding={pad}: the "
                "feature map shrinks to nothing after the three 3x3 conv + 2x2 max-pool blocks. "
                "Use padding='auto' or a larger input."
            )
        self.padding = pad
        self.flat_dim = channels[2] * sh * sw
        self.layer_names = ("L1", "L2", "L3", "L4", "L5")
        self.log_prob_layer = "L5"

        args = (self.noise_sigma, self.noise_kind, self.active_in_eval, self.seed)
        chans = (c, *channels)
        meta = torch.device("meta")
        for i in range(3):
            block = [
                nn.Dropout(self.dropout),
                _noise(*args, i),
                nn.Conv2d(chans[i], chans[i + 1], kernel_size=3, padding=pad, device=meta),
                nn.MaxPool2d(2),
                nn.LeakyReLU(negative_slope),
            ]
            if i == 2:
                block.append(nn.Flatten())
            setattr(self, f"L{i + 1}", nn.Sequential(*block))
        self.L4 = nn.Sequential(
            _noise(*args, 3), nn.Linear(self.flat_dim, self.hidden, device=meta), nn.LeakyReLU(negative_slope)
        )
        self.L5 = nn.Sequential(
            _noise(*args, 4), nn.Linear(self.hidden, self.n_classes, device=meta), nn.LogSoftmax(dim=1)
        )
        self._finish(self.seed)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(
                f"PaperConvNet expects input of shape (n, {', '.join(map(str, self.in_shape))}) "
                f"(in_shape={self.in_shape}). Got {tuple(x.shape)}."
            )


_ACTIVATIONS = {
    "leaky_relu": lambda slope: nn.LeakyReLU(slope),
    "relu": lambda slope: nn.ReLU(),
    "tanh": lambda slope: nn.Tanh(),
}


class MLP(_LayeredNet):
    """Noisy fully connected classifier with named layers ``L1`` to ``L{len(hidden)+1}``.

    Hidden layer i: ``[Flatten (L1 only)] -> [Dropout] -> noise -> Linear -> activation``;
    output layer: ``noise -> Linear -> LogSoftmax``.

    Parameters
    ----------
    in_dim : int or tuple of int
        Number of input features, or an input shape such as (1, 28, 28) (its product is used).
        Inputs of any shape (n, ...) are flattened in L1.
    hidden : tuple of int, default=(64, 32)
        Hidden widths.
    n_classes : int, default=10
        Number of output classes.
    noise_sigma : float, default=1e-3
        Scale of the noise at the input of every linear layer (0 disables it).
    noise_kind : {"relative", "additive", "normalized"}, default="relative"
        Noise model.
    random_state : int, default=0
        Seed of the weight initialisation; noise layer i gets ``derive_seed(random_state, i)``.
    seed : int or None
        Deprecated spelling of ``random_state``.
    dropout : float, default=0.0
        Dropout probability before each hidden layer's noise (omitted when 0).
    active_in_eval : bool, default=True
        Keep the noise on in ``eval()`` mode.
    activation : {"leaky_relu", "relu", "tanh"}, default="leaky_relu"
        Hidden activation.
    negative_slope : float, default=0.01
        LeakyReLU slope.

    Notes
    -----
    Output: log-probabilities of shape (n, n_classes).
    """

    def __init__(
        self,
        in_dim,
        hidden=(64, 32),
        n_classes: int = 10,
        noise_sigma: float = 1e-3,
        noise_kind: str = "relative",
        random_state: int = 0,
        *,
        seed: int | None = None,
        dropout: float = 0.0,
        active_in_eval: bool = True,
        activation: str = "leaky_relu",
        negative_slope: float = 0.01,
    ):
        super().__init__()
        owner = "MLP"
        if isinstance(in_dim, numbers.Integral) and not isinstance(in_dim, bool):
            dim = int(in_dim)
        else:
            try:
                dim = math.prod(int(s) for s in in_dim)
            except TypeError:
                raise TypeError(
                    f"The 'in_dim' parameter of {owner} must be an int or a shape tuple. Got {in_dim!r}."
                ) from None
        self.in_dim = check_int(dim, "in_dim", owner, low=1)
        if isinstance(hidden, numbers.Integral):
            hidden = (hidden,)
        self.hidden = tuple(check_int(h, "hidden", owner, low=1) for h in hidden)
        self.n_classes = check_int(n_classes, "n_classes", owner, low=1)
        self.noise_sigma = check_float(noise_sigma, "noise_sigma", owner, low=0.0)
        self.noise_kind = check_choice(noise_kind, "noise_kind", owner, NOISE_KINDS)
        self.seed = _seed_arg(random_state, seed, owner)
        self.dropout = check_float(dropout, "dropout", owner, low=0.0, high=1.0, high_open=True)
        self.active_in_eval = bool(active_in_eval)
        self.activation = check_choice(activation, "activation", owner, tuple(_ACTIVATIONS))

        args = (self.noise_sigma, self.noise_kind, self.active_in_eval, self.seed)
        widths = (self.in_dim, *self.hidden)
        meta = torch.device("meta")
        names = []
        for i in range(len(self.hidden)):
            block: list[nn.Module] = [nn.Flatten()] if i == 0 else []
            if self.dropout > 0:
                block.append(nn.Dropout(self.dropout))
            block += [
                _noise(*args, i),
                nn.Linear(widths[i], widths[i + 1], device=meta),
                _ACTIVATIONS[self.activation](negative_slope),
            ]
            names.append(f"L{i + 1}")
            setattr(self, names[-1], nn.Sequential(*block))
        k = len(self.hidden)
        out: list[nn.Module] = [nn.Flatten()] if k == 0 else []
        out += [_noise(*args, k), nn.Linear(widths[-1], self.n_classes, device=meta), nn.LogSoftmax(dim=1)]
        names.append(f"L{k + 1}")
        setattr(self, names[-1], nn.Sequential(*out))
        self.layer_names = tuple(names)
        self.log_prob_layer = names[-1]
        self._finish(self.seed)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim < 2 or x[0].numel() != self.in_dim:
            raise ValueError(
                f"MLP expects input of shape (n, ...) with {self.in_dim} features per sample "
                f"(in_dim={self.in_dim}). Got {tuple(x.shape)}."
            )



#: Model registry used by :func:`build_model`.
MODELS: dict[str, type[nn.Module]] = {"paper-conv": PaperConvNet, "mlp": MLP, "resnet-small": ResNetSmall}


def available_models() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return sorted(MODELS)


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name.

    Parameters
    ----------
    name : {"paper-conv", "mlp", "resnet-small"}
        Model name (case-insensitive; "_" is accepted for "-"). A model of your own is
        built by :func:`ibscope.nets.build_user_model` instead.
    **kwargs
        Passed to the model's constructor (e.g. ``noise_sigma``, ``in_shape``, ``random_state``).

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ValueError
        Unknown name; the message lists the valid ones.
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Valid names are {available_models()}.")
    return MODELS[key](**kwargs)
