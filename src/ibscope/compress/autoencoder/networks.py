"""The autoencoder networks: a dense one for vectors and a convolutional one for images."""

from __future__ import annotations

import numbers


def _check_int_tuple(value, name: str, owner: str, *, allow_empty: bool) -> tuple:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    ok = isinstance(value, (tuple, list)) and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) >= 1 for v in value
    )
    if not ok or (not allow_empty and len(value) == 0):
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a tuple of positive ints"
            f"{'' if allow_empty else ' (at least one)'}. Got {value!r}."
        )
    return tuple(int(v) for v in value)


def _code_activation(name: str):
    from torch import nn  # torch is imported when a network is built, not with the package

    return nn.Tanh() if name == "tanh" else nn.Sigmoid()


def _dense_network(n_features: int, hidden: tuple, latent_dim: int, code_activation: str):
    from torch import nn

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
    from torch import nn

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
