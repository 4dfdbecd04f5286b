"""What the built-in noisy nets share: ordered named layers, seeded initialisation, noise layers."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from .._torch import init_weights_
from .noise import GaussianNoise, _check_seed, derive_seed, noise_layers

__all__ = ["init_parameters_", "LayeredNet", "make_noise"]


def init_parameters_(module: nn.Module, random_state: int) -> nn.Module:
    """Re-initialise every Conv/Linear layer of ``module`` in place from ``random_state``.

    Each weight and bias is drawn from U(-b, b) with ``b = 1 / sqrt(fan_in)`` (the distribution
    of PyTorch's default initialisation, i.e. Kaiming-uniform with ``a = sqrt(5)``), in module
    order, from one ``torch.Generator`` seeded with ``random_state``
    (:func:`ibscope._torch.init_weights_`). Returns ``module``.
    """
    gen = torch.Generator().manual_seed(_check_seed(random_state, "init_parameters_"))
    return init_weights_(module, gen)


def make_noise(sigma, kind, active_in_eval, seed, index) -> GaussianNoise:
    """The ``index``-th noise layer of a net seeded with ``seed``."""
    return GaussianNoise(sigma, kind=kind, active_in_eval=active_in_eval, random_state=derive_seed(seed, index))


class LayeredNet(nn.Module):
    """Shared behaviour: ordered named layers L1..Lk, seeded init, noise helpers."""

    layer_names: tuple[str, ...]
    seed: int

    def _finish(self, seed: int) -> None:
        # Layers were built on the meta device (no global-RNG use); materialise and seed-init.
        self.to_empty(device="cpu")
        self.reset_parameters(seed)

    def reset_parameters(self, random_state: int | None = None) -> None:
        """Re-initialise all weights from ``random_state`` (default: the constructor's)."""
        init_parameters_(self, self.seed if random_state is None else random_state)

    def noise_layers(self) -> list[tuple[str, GaussianNoise]]:
        """``(name, layer)`` for every noise layer, in order."""
        return noise_layers(self)

    def _check_input(self, x: torch.Tensor) -> None:  # pragma: no cover - every model defines it
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of shape (n, n_classes) for a batch ``x``."""
        self._check_input(x)
        for name in self.layer_names:
            x = cast(nn.Module, self._modules[name])(x)  # the named layers are registered children
        return x
