"""Backend and device choice of the neighbour search.

Devices follow the package-wide rules of :func:`ibscope._torch.resolve_device`:
``None`` is the CPU (the compiled CPU backends), ``"auto"`` a GPU when there is
one, ``"cuda"`` / ``"cuda:<index>"`` that GPU (checked).
"""

from __future__ import annotations

from .._torch import resolve_device as _resolve
from .._validation import check_choice

METRICS = ("chebyshev", "euclidean")
BACKENDS = ("auto", "numba", "kdtree", "torch", "sorted")


def resolve_device(device=None) -> str:
    """The torch device string of ``device`` (:func:`ibscope._torch.resolve_device`; None is the CPU)."""
    return _resolve(device, "ibscope.neighbors")


def choose_backend(n: int, dim: int, backend: str = "auto", device=None) -> str:
    """Pick a backend for ``n`` points in ``dim`` dimensions.

    "auto" gives "torch" when ``device`` names a GPU, else "numba" (all cores).
    """
    check_choice(backend, "backend", "ibscope.neighbors", BACKENDS)
    if backend != "auto":
        return backend
    if resolve_device(device) != "cpu":
        return "torch"
    return "numba"


def _device_for(backend: str, device) -> str:
    """Torch device of ``backend``: "cpu" unless the torch backend is given a device."""
    if backend == "torch":
        return resolve_device(device)
    return "cpu"
