"""Backend and device choice of the neighbour search.

Device strings here follow the neighbour search's own rules, which differ from
:func:`ibscope._torch.resolve_device` in two ways kept for compatibility:
:func:`resolve_device` maps ``None`` (like ``"auto"``) to CUDA when a GPU is
present, while :func:`choose_backend` and :func:`_device_for` read
``device=None`` as the CPU; and only ``"cpu"``, ``"cuda"`` and ``"cuda..."``
names are accepted, with this module's messages.
"""

from __future__ import annotations

from .._torch import cuda_available
from .._validation import check_choice

METRICS = ("chebyshev", "euclidean")
BACKENDS = ("auto", "numba", "kdtree", "torch", "sorted")


def resolve_device(device=None) -> str:
    """Return "cuda" when requested or auto-detected, else "cpu"."""
    if device is None or device == "auto":
        return "cuda" if cuda_available() else "cpu"
    device = str(device)
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available on this machine. Pass device='cpu'.")
    elif device != "cpu":
        raise ValueError(f"The 'device' parameter must be 'cpu', 'cuda', 'cuda:N' or None. Got {device!r} instead.")
    return device


def choose_backend(n: int, dim: int, backend: str = "auto", device=None) -> str:
    """Pick a backend for ``n`` points in ``dim`` dimensions.

    "auto" gives "torch" when ``device`` names a GPU, else "numba" (all cores).
    """
    check_choice(backend, "backend", "ibscope.neighbors", BACKENDS)
    if backend != "auto":
        return backend
    dev = resolve_device(device) if device is not None else "cpu"
    if dev != "cpu":
        return "torch"
    return "numba"


def _device_for(backend: str, device) -> str:
    """Torch device of ``backend``: "cpu" unless the torch backend is given a device."""
    if backend == "torch":
        return resolve_device(device) if device is not None else "cpu"
    return "cpu"
