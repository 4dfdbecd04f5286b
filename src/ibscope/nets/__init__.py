"""Noisy neural networks for information-bottleneck analysis.

Noise layers (:class:`GaussianNoise`, relative or additive), :func:`insert_noise` to add them to any
model, the paper's MNIST conv net (:class:`PaperConvNet`), an :class:`MLP`, a small residual net
(:class:`ResNetSmall`, ``"resnet-small"``), :func:`build_model`, and models of your own
(:func:`build_user_model`, from ``"path/to/file.py:make_model"`` specs; see :mod:`ibscope.nets.user`).
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
    noise_channel,
    noise_layers,
    reseed_noise,
    set_noise,
    set_noise_rng_state,
    standardize_rows,
)
from .resnet import ResidualBlock, ResNetSmall
from .user import (
    MODEL_ARGS,
    ModelSpec,
    add_log_softmax,
    build_user_model,
    default_layers,
    is_model_spec,
    load_model_factory,
    model_source,
    parse_model_spec,
)

__all__ = [
    "NOISE_KINDS",
    "GaussianNoise",
    "RelativeGaussianNoise",
    "AdditiveGaussianNoise",
    "derive_seed",
    "insert_noise",
    "noise_layers",
    "noise_channel",
    "standardize_rows",
    "set_noise",
    "reseed_noise",
    "get_noise_rng_state",
    "set_noise_rng_state",
    "PaperConvNet",
    "MLP",
    "ResNetSmall",
    "ResidualBlock",
    "MODELS",
    "build_model",
    "available_models",
    "init_parameters_",
    "MODEL_ARGS",
    "ModelSpec",
    "add_log_softmax",
    "build_user_model",
    "default_layers",
    "is_model_spec",
    "load_model_factory",
    "model_source",
    "parse_model_spec",
]
