"""Lossy compressors applied before MI estimation (Algorithm 1 of Butakov et al., ICLR 2024).

High-dimensional variables (images, wide layers) are first mapped to
low-dimensional codes, then a non-parametric estimator runs on the codes. By the
data-processing inequality the true MI of the codes is at most the original one;
the estimate of it can still err either way (the estimator's bias on the codes).
Report each compressor's reconstruction error next to the estimate.

Compressors follow the scikit-learn transformer protocol (``fit`` returns
``self``, ``transform``, ``fit_transform``, fitted attributes end in ``_``) and
save to a single pickle-free file:

* :class:`PCACompressor` -- principal components (deterministic exact SVD);
* :class:`RandomProjectionCompressor` -- seeded Gaussian random projection;
* :class:`DenseAutoencoder` -- noisy fully connected autoencoder (torch);
* :class:`ConvAutoencoder` -- noisy convolutional autoencoder for images (torch).

:func:`parse_compressor` builds one from a spec such as ``"pca:4"``, and
:class:`CompressedEstimator` composes compressors with any MI estimator.
The torch-based classes are imported on first use, so ``import
ibscope.compress`` stays light.
"""

from __future__ import annotations

from ._base import BaseCompressor, NotFittedError, compressor_from_bytes, is_fitted, load_compressor
from .pca import PCACompressor
from .random_projection import RandomProjectionCompressor
from .spec import compressor_names, parse_compressor
from .wrapper import CompressedEstimator

__all__ = [
    "BaseCompressor",
    "CompressedEstimator",
    "ConvAutoencoder",
    "DenseAutoencoder",
    "NotFittedError",
    "PCACompressor",
    "RandomProjectionCompressor",
    "compressor_names",
    "is_fitted",
    "load_compressor",
    "compressor_from_bytes",
    "parse_compressor",
]

_LAZY = {"DenseAutoencoder", "ConvAutoencoder"}


def __getattr__(name):
    if name in _LAZY:
        from . import autoencoder

        return getattr(autoencoder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY)
