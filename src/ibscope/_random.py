"""Seed handling: every random step gets a local generator from an explicit seed."""

from __future__ import annotations

import numbers

import numpy as np


def resolve_seed(random_state) -> int:
    """Turn ``random_state`` (int, Generator, RandomState or None) into a recorded int seed.

    ``None`` draws a fresh seed from OS entropy; the drawn seed is returned so it can
    be stored with the result and the run repeated exactly.
    """
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**32))
    if isinstance(random_state, bool):
        raise TypeError("random_state must be an int, a numpy Generator or None; got a bool.")
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int. Got {random_state}.")
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**32))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**32 - 1))
    raise TypeError(
        "random_state must be an int, a numpy Generator or None. "
        f"Got {random_state!r} of type {type(random_state).__name__}."
    )


def make_rng(random_state) -> tuple[np.random.Generator, int]:
    """Return ``(generator, seed)`` for ``random_state``."""
    seed = resolve_seed(random_state)
    return np.random.default_rng(seed), seed
