"""Noisy neural networks for information-bottleneck analysis.

Noise layers (:class:`GaussianNoise`, relative or additive), :func:`insert_noise` to add them to any
model, the paper's MNIST conv net (:class:`PaperConvNet`), an :class:`MLP`, and :func:`build_model`.
"""

from .models import MLP, MODELS, PaperConvNet, available_models, build_model, init_parameters_
from .noise import (
    NOISE_KINDS,
    AdditiveGaussianNoise,
    GaussianNoise,
    RelativeGaussianNoise,
    derive_seed,
    get_noise_rng_state,
    insert_noise,
    noise_layers,
    reseed_noise,
    set_noise,
    set_noise_rng_state,
)

__all__ = [
    "NOISE_KINDS",
    "GaussianNoise",
    "RelativeGaussianNoise",
    "AdditiveGaussianNoise",
    "derive_seed",
    "insert_noise",
    "noise_layers",
    "set_noise",
    "reseed_noise",
    "get_noise_rng_state",
    "set_noise_rng_state",
    "PaperConvNet",
    "MLP",
    "MODELS",
    "build_model",
    "available_models",
    "init_parameters_",
]
