"""Torch devices and seeded weight initialisation: the one place for both.

Devices
-------
Every ``device=`` parameter in ibscope means the same thing:

* ``None`` or ``"cpu"`` - the CPU (torch's own default; kNN search then uses the
  compiled CPU backends);
* ``"auto"`` - CUDA when a GPU is present, else the CPU;
* ``"cuda"``, ``"cuda:<index>"`` or a :class:`torch.device` - that GPU; a clear
  ``ValueError`` when CUDA is missing or the index does not exist;
* ``"mps"`` - Apple's GPU where torch supports it.

Initialisation
--------------
:func:`init_weights_` draws every Linear/Conv weight and bias from
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the distribution of PyTorch's default
initialisation) from a caller's :class:`torch.Generator`, in module order, so the
same seed gives the same weights and the global torch RNG is never touched.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["resolve_device", "init_weights_", "cuda_available"]


def cuda_available() -> bool:
    """Whether torch can use a CUDA device here (False when torch is missing)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    return bool(torch.cuda.is_available())


def resolve_device(device: Any = None, owner: str = "ibscope") -> str:
    """Turn a ``device`` argument into a torch device string ("cpu", "cuda:0", ...).

    Parameters
    ----------
    device : None, str or torch.device
        See the module notes.
    owner : str
        Who asks, for the error message (e.g. "KSG").

    Returns
    -------
    str
        ``"cpu"``, ``"cuda"`` / ``"cuda:<index>"`` (as given) or ``"mps"``.

    Raises
    ------
    ValueError
        An unknown device name, CUDA requested on a machine without it, or a GPU
        index beyond the devices present.
    """
    if device is None:
        return "cpu"
    text = str(device).strip().lower()
    if text == "cpu":
        return "cpu"
    if text == "auto":
        return "cuda" if cuda_available() else "cpu"
    if text == "mps":
        import torch

        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(f"{owner}: device='mps' was requested but MPS is not available on this machine. "
                             "Pass device='cpu'.")
        return "mps"
    if text == "cuda" or text.startswith("cuda:"):
        index = text.partition(":")[2]
        if index and not index.isdigit():
            raise ValueError(f"{owner}: the 'device' {device!r} is not a valid CUDA device; write 'cuda' or "
                             "'cuda:<index>', e.g. 'cuda:0'.")
        if not cuda_available():
            raise ValueError(f"{owner}: device={str(device)!r} was requested but CUDA is not available on this "
                             "machine. Pass device='cpu', or device='auto' to use a GPU only when one is present.")
        import torch

        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise ValueError(f"{owner}: device={str(device)!r} was requested but this machine has {count} CUDA "
                             f"device(s) (cuda:0 to cuda:{count - 1}). Pass an index below {count}.")
        return text
    raise ValueError(f"The 'device' parameter of {owner} must be 'cpu', 'cuda', 'cuda:<index>', 'auto', 'mps', "
                     f"a torch.device or None (the CPU). Got {device!r} instead.")


def init_weights_(module: Any, generator: Any) -> Any:
    """Re-initialise ``module``'s Linear and Conv layers in place from ``generator``; returns ``module``.

    Weights, then biases, of every ``nn.Linear`` and ``nn.Conv*d`` (in
    ``module.modules()`` order) are drawn from U(-b, b), ``b = 1/sqrt(fan_in)``
    (0 for an empty fan-in); batch-norm layers are reset to their defaults. The
    draws happen on the CPU and are copied to the parameters' device, so CPU and
    GPU models get the same weights.
    """
    import torch
    from torch import nn

    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
                fan_in = m.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                w = torch.empty(m.weight.shape, dtype=m.weight.dtype).uniform_(-bound, bound, generator=generator)
                m.weight.copy_(w)
                if m.bias is not None:
                    b = torch.empty(m.bias.shape, dtype=m.bias.dtype).uniform_(-bound, bound, generator=generator)
                    m.bias.copy_(b)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()
    return module
