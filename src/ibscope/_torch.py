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

Out of memory
-------------
:func:`is_out_of_memory` recognises torch's allocator failure (``torch.cuda.OutOfMemoryError``,
or a ``RuntimeError`` saying "out of memory" on older torch); :func:`memory_error` turns it
into a :class:`MemoryError` naming GPU memory, the sizes and what to change.
Code that recovers (smaller blocks) says so with :func:`note_memory`; an
estimator's ``estimate`` collects those notes (:func:`collect_memory_notes`)
into the result's ``warnings``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["resolve_device", "init_weights_", "cuda_available", "is_out_of_memory", "memory_error",
           "free_cached_memory", "memory_guarded", "note_memory", "collect_memory_notes"]

#: notes of the current ``estimate`` call about memory (None: nobody collects them)
_MEMORY_NOTES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("ibscope_memory_notes", default=None)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is torch running out of device memory.

    ``torch.cuda.OutOfMemoryError`` (torch >= 1.13; also ``torch.OutOfMemoryError``),
    or, for older torch and other backends, a ``RuntimeError`` whose message says
    "out of memory" (CUDA, MPS).
    """
    try:
        import torch

        oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    except ImportError:  # pragma: no cover - torch is a core dependency
        oom_type = None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_cached_memory(device: Any) -> None:
    """Give the CUDA caching allocator's unused blocks back (nothing on other devices)."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def memory_error(owner: str, device: Any, what: str, advice: str, exc: BaseException | None = None) -> MemoryError:
    """A :class:`MemoryError` saying ``owner`` ran out of memory on ``device`` doing ``what``; ``advice``
    ends it. torch's own message (its first line) is quoted for the numbers it gives."""
    where = "GPU memory" if str(device).startswith("cuda") else f"memory on device {str(device)!r}"
    cause = ""
    if exc is not None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        cause = f" (torch: {first[:300]})"
    return MemoryError(f"{owner}: out of {where} while {what}{cause}. {advice}")


def memory_guarded(fn: Callable[[], Any], owner: str, device: Any, what: str, advice: str) -> Any:
    """``fn()``; torch running out of device memory becomes :func:`memory_error` (``owner`` doing ``what`` on
    ``device``, then ``advice``), after the allocator's cache is given back. Other errors pass unchanged."""
    oom = None
    try:
        return fn()
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        oom = RuntimeError(str(exc))  # the text only: the traceback holds the device's tensors
    free_cached_memory(device)
    raise memory_error(owner, device, what, advice, oom)


def note_memory(text: str) -> None:
    """Record ``text`` for the warnings of the ``estimate`` call in progress (if any collects them)."""
    notes = _MEMORY_NOTES.get()
    if notes is not None and text not in notes:
        notes.append(text)


@contextlib.contextmanager
def collect_memory_notes() -> Iterator[list[str]]:
    """Collect the :func:`note_memory` notes made inside the block into the list it yields."""
    notes: list[str] = []
    token = _MEMORY_NOTES.set(notes)
    try:
        yield notes
    finally:
        _MEMORY_NOTES.reset(token)


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
