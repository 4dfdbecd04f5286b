"""Which epochs an IB run analyses: every epoch, or log-spaced ones."""

from __future__ import annotations

__all__ = ["log_schedule", "epoch_schedule", "is_scheduled"]


def log_schedule(max_epoch: int, per_decade: int = 10) -> list[int]:
    """Log-spaced epochs ``round(10 ** (j / per_decade))`` up to ``max_epoch``, without repeats.

    With ``per_decade=10``: 1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, 40, 50, 63, 79, 100, ...
    The list depends only on the epoch numbers, not on the run length, so a run
    extended on resume analyses the same epochs as a longer run would.

    Parameters
    ----------
    max_epoch : int
        Last epoch to consider (1-based).
    per_decade : int, default=10
        Points per factor of 10.

    Returns
    -------
    list of int
    """
    out: list[int] = []
    j = 0
    while True:
        e = int(round(10.0 ** (j / per_decade)))
        if e > max_epoch:
            return out
        if not out or e != out[-1]:
            out.append(e)
        j += 1


def epoch_schedule(kind: str, epochs: int) -> list[int]:
    """Epochs (1-based) analysed by a run of ``epochs`` epochs.

    Parameters
    ----------
    kind : {"every", "log"}
        ``"every"``: 1..epochs. ``"log"``: :func:`log_schedule` plus the final epoch.
    epochs : int
        Number of training epochs.

    Returns
    -------
    list of int
    """
    if kind == "every":
        return list(range(1, epochs + 1))
    if kind == "log":
        sched = log_schedule(epochs)
        if epochs >= 1 and (not sched or sched[-1] != epochs):
            sched.append(epochs)
        return sched
    raise ValueError(f"The 'schedule' parameter must be one of ['every', 'log']. Got {kind!r} instead.")


def is_scheduled(epoch: int, kind: str, epochs: int) -> bool:
    """Whether ``epoch`` is analysed under schedule ``kind`` in a run of ``epochs`` epochs."""
    return epoch in set(epoch_schedule(kind, epochs))
