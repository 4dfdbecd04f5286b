"""Training helpers of the estimators' small networks: an Adam step and a CPU thread setting.

Adam without ``torch.optim``: constructing a ``torch.optim`` optimiser imports ``torch._dynamo`` (seconds
of CPU on first use), a cost every short estimator training would pay once per process.

:class:`Adam` is the textbook update (Kingma & Ba, 2015) in the arithmetic of ``torch.optim.Adam``'s
single-tensor path (no weight decay, no AMSGrad); :func:`cpu_threads` runs training on one CPU thread.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator

import torch

__all__ = ["Adam", "cpu_threads"]


class Adam:
    """``p <- p - lr m_hat / (sqrt(v_hat) + eps)`` with bias-corrected moving averages of the gradient
    ``m`` (rate ``beta1``) and of its square ``v`` (rate ``beta2``)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.eps = float(lr), float(eps)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        c1 = 1.0 - self.beta1 ** self.t
        c2 = math.sqrt(1.0 - self.beta2 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad
            m.lerp_(g, 1.0 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
            denom = (v.sqrt() / c2).add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / c1)


@contextlib.contextmanager
def cpu_threads(device: str, n: int = 1) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads when ``device`` is the CPU, then restore the setting.

    The estimators train small networks (batches of a few hundred rows of tens of columns): their
    operations are too small to gain from intra-op threads, while OpenMP threads that spin-wait at every
    operation make training one to two orders of magnitude slower when the cores are shared (measured:
    a held-out InfoNCE fit took 10.7 s with one thread and 202 s with two on a loaded 2-core machine).
    The setting is process-wide while the block runs.
    """
    if not str(device).startswith("cpu"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
