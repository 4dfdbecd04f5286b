"""A small noisy residual conv net (``"resnet-small"``) for 28x28 and 8x8 images.

The paper's LeNet-like net has 5 layers and a few thousand parameters; this one
is a residual network of the kind used in practice, still small enough to train
on a CPU: a stem conv, four residual blocks and a linear head, about 0.6 M
parameters. Like :class:`~ibscope.nets.PaperConvNet` it injects Gaussian noise
at the input of **every** conv and linear layer, so every captured layer output
is a noisy function of the input and I(X;L) is finite.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from .._validation import check_choice, check_float, check_int
from ._base import LayeredNet as _LayeredNet
from ._base import make_noise as _noise
from .noise import NOISE_KINDS, _seed_arg

__all__ = ["ResNetSmall", "ResidualBlock"]


def _conv_out(size: int, stride: int) -> int:
    """Spatial size after a 3x3 conv with padding 1 and the given stride."""
    return (size - 1) // stride + 1


class ResidualBlock(nn.Module):
    """A basic residual block whose two paths both read the *noisy* block input.

    ``z = noise1(dropout(x))``, ``h = act(conv1(z))``, ``out = act(conv2(noise2(h)) + shortcut(z))``,
    with ``conv1`` a 3x3 conv of stride ``stride``, ``conv2`` a 3x3 conv of stride 1 and
    ``shortcut`` the identity when the shape is kept, else a 1x1 conv of stride ``stride``.
    The skip path carries the noisy ``z``, not the clean ``x``: otherwise the block output
    would hold a noiseless copy of its input and its I(X;L) would be infinite.

    Submodules: ``dropout`` (only when ``dropout > 0``), ``noise1``, ``conv1``, ``act1``,
    ``noise2``, ``conv2``, ``shortcut``, ``act2``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, noise1: nn.Module, noise2: nn.Module, *,
                 dropout: float = 0.0, negative_slope: float = 0.01, device=None) -> None:
        super().__init__()
        if dropout > 0:
            self.dropout = nn.Dropout(dropout)
        self.noise1 = noise1
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, device=device)
        self.act1 = nn.LeakyReLU(negative_slope)
        self.noise2 = noise2
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=3, stride=1, padding=1, device=device)
        self.shortcut: nn.Module = (nn.Identity() if c_in == c_out and stride == 1 else
                                    nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, device=device))
        self.act2 = nn.LeakyReLU(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "dropout"):
            x = self.dropout(x)
        z = self.noise1(x)
        h = self.act1(self.conv1(z))
        return self.act2(self.conv2(self.noise2(h)) + self.shortcut(z))


class ResNetSmall(_LayeredNet):
    """Noisy residual conv net with named layers ``stem``, ``block1`` to ``block4`` and ``head``.

    ======  ==========================================================  ============  ===========
    name    operations                                                  output 28x28  output 8x8
    ======  ==========================================================  ============  ===========
    stem    [Dropout] -> noise -> Conv c->16, 3x3 -> LeakyReLU          (16, 28, 28)  (16, 8, 8)
    block1  residual block 16->32, stride 2 (1x1 conv shortcut)         (32, 14, 14)  (32, 4, 4)
    block2  residual block 32->64, stride 2 (1x1 conv shortcut)         (64, 7, 7)    (64, 2, 2)
    block3  residual block 64->128, stride 2 (1x1 conv shortcut)        (128, 4, 4)   (128, 1, 1)
    block4  residual block 128->128, stride 1 (identity shortcut)       (128, 4, 4)   (128, 1, 1)
    head    global avg pool -> noise -> Linear 128->n -> LogSoftmax     (10,)         (10,)
    ======  ==========================================================  ============  ===========

    Each residual block is :class:`ResidualBlock`: noise before both of its 3x3 convs, and
    its skip path reads the noisy block input. With the default channels the net has
    598 346 parameters for 1x28x28 inputs and 10 classes (the count does not depend on the
    image size: the head pools globally). The flattened layer outputs are 12 544, 6272,
    3136, 2048, 2048 and 10 numbers at 28x28; the default ``pca:4`` layer compressor fits
    them with a randomized SVD (see :class:`~ibscope.compress.PCACompressor`).

    Parameters
    ----------
    noise_sigma : float, default=1e-3
        Noise scale at the input of every conv and linear layer (0 disables it).
    noise_kind : {"relative", "additive", "normalized"}, default="relative"
        Noise model (see :class:`~ibscope.nets.GaussianNoise`).
    dropout : float, default=0.0
        Dropout probability at the input of the stem and of every block (training only;
        omitted when 0).
    in_shape : tuple of int, default=(1, 28, 28)
        Input shape (channels, height, width).
    n_classes : int, default=10
    random_state : int, default=0
        Seed of the weight initialisation; the i-th noise layer (stem 0, block1 1 and 2,
        ..., head 9) gets ``derive_seed(random_state, i)``.
    seed : int or None
        Deprecated spelling of ``random_state``.
    active_in_eval : bool, default=True
        Keep the noise on in ``eval()`` mode (the paper's setting for probe passes).
    channels : tuple of 5 int, default=(16, 32, 64, 128, 128)
        Output channels of the stem and of the four blocks.
    negative_slope : float, default=0.01
        LeakyReLU slope (not ReLU: relative noise leaves exact zeros noiseless).

    Attributes
    ----------
    layer_names : tuple of str
        ``("stem", "block1", "block2", "block3", "block4", "head")``.
    log_prob_layer : str
        ``"head"``.

    Notes
    -----
    Input: float tensor of shape ``(n, *in_shape)``. Output: log-probabilities (n, n_classes).
    No batch normalisation: the output of a layer in the probe pass is then the same
    function of its input as in training (apart from dropout), as in the paper's net.
    """

    #: stride of each residual block
    STRIDES = (2, 2, 2, 1)

    def __init__(
        self,
        noise_sigma: float = 1e-3,
        noise_kind: str = "relative",
        dropout: float = 0.0,
        in_shape=(1, 28, 28),
        n_classes: int = 10,
        random_state: int = 0,
        *,
        seed: int | None = None,
        active_in_eval: bool = True,
        channels=(16, 32, 64, 128, 128),
        negative_slope: float = 0.01,
    ):
        super().__init__()
        owner = "ResNetSmall"
        self.noise_sigma = check_float(noise_sigma, "noise_sigma", owner, low=0.0)
        self.noise_kind = check_choice(noise_kind, "noise_kind", owner, NOISE_KINDS)
        self.dropout = check_float(dropout, "dropout", owner, low=0.0, high=1.0, high_open=True)
        in_shape = tuple(in_shape)
        if len(in_shape) != 3 or not all(isinstance(s, numbers.Integral) and int(s) >= 1 for s in in_shape):
            raise ValueError(f"The 'in_shape' parameter of {owner} must be (channels, height, width) of positive "
                             f"ints. Got {in_shape!r} instead. Pass images, or use --model mlp for vectors.")
        self.in_shape = tuple(int(s) for s in in_shape)
        self.n_classes = check_int(n_classes, "n_classes", owner, low=1)
        self.seed = _seed_arg(random_state, seed, owner)
        self.active_in_eval = bool(active_in_eval)
        chans = tuple(channels)
        if len(chans) != 5 or not all(isinstance(c, numbers.Integral) and int(c) >= 1 for c in chans):
            raise ValueError(f"The 'channels' parameter of {owner} must be 5 positive ints (stem, block1..block4). "
                             f"Got {channels!r} instead.")
        self.channels = tuple(int(c) for c in chans)
        self.negative_slope = check_float(negative_slope, "negative_slope", owner, low=0.0)
        self.layer_names = ("stem", "block1", "block2", "block3", "block4", "head")
        self.log_prob_layer = "head"

        args = (self.noise_sigma, self.noise_kind, self.active_in_eval, self.seed)
        meta = torch.device("meta")
        c = self.in_shape[0]
        stem: list[nn.Module] = [nn.Dropout(self.dropout)] if self.dropout > 0 else []
        stem += [_noise(*args, 0), nn.Conv2d(c, self.channels[0], kernel_size=3, padding=1, device=meta),
                 nn.LeakyReLU(self.negative_slope)]
        self.stem = nn.Sequential(*stem)
        for i in range(4):
            block = ResidualBlock(self.channels[i], self.channels[i + 1], self.STRIDES[i], _noise(*args, 1 + 2 * i),
                                  _noise(*args, 2 + 2 * i), dropout=self.dropout, negative_slope=self.negative_slope,
                                  device=meta)
            setattr(self, f"block{i + 1}", block)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), _noise(*args, 9),
                                  nn.Linear(self.channels[4], self.n_classes, device=meta), nn.LogSoftmax(dim=1))
        self._finish(self.seed)

    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample output shape of every named layer for ``in_shape`` inputs."""
        _, h, w = self.in_shape
        shapes: dict[str, tuple[int, ...]] = {"stem": (self.channels[0], h, w)}
        for i, stride in enumerate(self.STRIDES):
            h, w = _conv_out(h, stride), _conv_out(w, stride)
            shapes[f"block{i + 1}"] = (self.channels[i + 1], h, w)
        shapes["head"] = (self.n_classes,)
        return shapes

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"ResNetSmall expects input of shape (n, {', '.join(map(str, self.in_shape))}) "
                             f"(in_shape={self.in_shape}). Got {tuple(x.shape)}.")
