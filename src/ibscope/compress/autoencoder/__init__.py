"""Autoencoders as compressors (torch): :class:`DenseAutoencoder` for vectors and
:class:`ConvAutoencoder` for images.

* :mod:`.networks` - the two networks and :func:`conv_block_sizes`;
* :mod:`.base` - parameters, training loop with early stopping, inference and persistence;
* :mod:`.dense`, :mod:`.conv` - the two compressors.
"""

from .conv import ConvAutoencoder
from .dense import DenseAutoencoder
from .networks import conv_block_sizes

__all__ = ["DenseAutoencoder", "ConvAutoencoder", "conv_block_sizes"]
