"""Critic networks T(x, y) of the neural estimators and their score matrices.

* :class:`SeparableCritic` - ``g(x) . h(y)``; the ``B x B`` score matrix is one matrix product;
* :class:`ConcatCritic` - an MLP on ``[e_x(x), e_y(y)]`` (its first layer split per side);
* convolutional encoders for image sides (:func:`encoder`).

:func:`build_critic` makes one from an estimator's settings, initialised from a
seeded ``torch.Generator`` (:func:`ibscope._torch.init_weights_`).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn

from ..._torch import init_weights_

#: critic names accepted by the estimators (a callable is accepted too)
CRITICS = ("mlp", "separable", "conv")


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _ConvEncoder(nn.Module):
    """[Conv 3x3 'same' -> LeakyReLU(0.2) -> MaxPool 2] blocks, then flatten.

    Pooling is skipped once the feature map is smaller than 2 x 2, so tiny
    images work with any number of blocks. ``out_features`` is the flattened size.
    """

    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...]):
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for f in channels:
            layers += [nn.Conv2d(c, f, kernel_size=3, padding=1), nn.LeakyReLU(0.2)]
            if h >= 2 and w >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = f
        layers.append(nn.Flatten())
        self.net = nn.Sequential(*layers)
        self.out_features = c * h * w

    def forward(self, x):
        return self.net(x)


def encoder(shape: tuple[int, ...], channels: tuple[int, ...]) -> tuple[nn.Module, int]:
    """Conv encoder for an image side, flatten for a vector side."""
    if len(shape) == 3:
        enc = _ConvEncoder(shape, channels)
        return enc, enc.out_features
    return nn.Flatten(), int(np.prod(shape))


class ConcatCritic(nn.Module):
    """Concatenation critic ``T(x, y) = MLP([e_x(x), e_y(y)])``.

    ``e_x``, ``e_y`` are encoders (identity/flatten for vectors, convolutional
    for images). The first linear layer acting on the concatenation is split
    into an x part and a y part, so the ``B x B`` score matrix costs ``2B``
    first-layer evaluations plus the deeper layers on ``B^2`` pairs.

    Parameters
    ----------
    enc_x, enc_y : nn.Module
        Encoders mapping a batch to ``(B, feat_x)`` and ``(B, feat_y)``.
    feat_x, feat_y : int
        Encoder output sizes.
    hidden_sizes : tuple of int
        Hidden layer widths of the head (at least one).
    """

    def __init__(self, enc_x, enc_y, feat_x: int, feat_y: int, hidden_sizes: tuple[int, ...]):
        super().__init__()
        self.enc_x, self.enc_y = enc_x, enc_y
        self.in_x = nn.Linear(feat_x, hidden_sizes[0])
        self.in_y = nn.Linear(feat_y, hidden_sizes[0], bias=False)
        self.head = nn.Sequential(nn.ReLU(), _mlp([*hidden_sizes, 1]))

    def forward(self, x, y):
        """Scores of the aligned pairs (x_i, y_i), shape (B,)."""
        return self.head(self.in_x(self.enc_x(x)) + self.in_y(self.enc_y(y))).squeeze(-1)

    def score_matrix(self, x, y):
        """Scores of every pair, ``S[i, j] = T(x_i, y_j)``, shape (B_x, B_y)."""
        hx = self.in_x(self.enc_x(x))
        hy = self.in_y(self.enc_y(y))
        return self.head(hx[:, None, :] + hy[None, :, :]).squeeze(-1)


class SeparableCritic(nn.Module):
    """Separable critic ``T(x, y) = g(x)^T h(y)`` with MLP embeddings of size ``embed_dim``.

    The score matrix is one matrix product, so large batches are cheap.
    """

    def __init__(self, enc_x, enc_y, feat_x: int, feat_y: int, hidden_sizes: tuple[int, ...], embed_dim: int):
        super().__init__()
        self.g = nn.Sequential(enc_x, _mlp([feat_x, *hidden_sizes, embed_dim]))
        self.h = nn.Sequential(enc_y, _mlp([feat_y, *hidden_sizes, embed_dim]))

    def forward(self, x, y):
        return (self.g(x) * self.h(y)).sum(-1)

    def score_matrix(self, x, y):
        return self.g(x) @ self.h(y).T


def score_matrix(critic: nn.Module, x, y):
    """``S[i, j] = T(x_i, y_j)``; uses ``critic.score_matrix`` when the critic has one."""
    method = getattr(critic, "score_matrix", None)
    if method is not None:
        return method(x, y)
    bx, by = x.shape[0], y.shape[0]
    xr = x.repeat_interleave(by, dim=0)
    yr = y.repeat((bx,) + (1,) * (y.dim() - 1))
    return critic(xr, yr).reshape(bx, by)




def build_critic(spec, x_shape, y_shape, *, hidden_sizes, embed_dim, conv_channels, gen: torch.Generator, seed: int,
                 owner: str) -> nn.Module:
    """The critic for per-sample shapes ``x_shape`` and ``y_shape``.

    ``spec`` is ``"separable"``, ``"mlp"`` or ``"conv"`` (weights drawn from ``gen``), or a
    factory ``spec(x_shape, y_shape) -> nn.Module``, called inside ``torch.random.fork_rng``
    with the CPU generator seeded from ``seed``, so its default initialisation is
    reproducible and the global RNG state is left as it was.
    """
    if callable(spec):
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)  # CPU generator only; restored on exit
            made = spec(tuple(x_shape), tuple(y_shape))
        if not isinstance(made, nn.Module):
            raise TypeError(f"The 'critic' factory of {owner} must return a torch.nn.Module. "
                            f"Got {type(made).__name__}.")
        return made
    hidden = (hidden_sizes,) if isinstance(hidden_sizes, numbers.Integral) else tuple(hidden_sizes)
    channels = tuple(conv_channels)
    # torch layers draw a default initialisation from the global RNG when constructed;
    # fork it so the global state is left as it was, then re-draw from ``gen``.
    with torch.random.fork_rng(devices=[]):
        enc_x, fx = encoder(tuple(x_shape), channels)
        enc_y, fy = encoder(tuple(y_shape), channels)
        if spec == "separable":
            module: nn.Module = SeparableCritic(enc_x, enc_y, fx, fy, hidden, int(embed_dim))
        else:
            module = ConcatCritic(enc_x, enc_y, fx, fy, hidden)
    init_weights_(module, gen)
    return module
