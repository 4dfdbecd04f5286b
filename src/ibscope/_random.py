"""Seed handling: every random step gets a local generator from an explicit seed."""

from __future__ import annotations

import numbers
from typing import Any, cast

import numpy as np


def resolve_seed(random_state: Any) -> int:
    """Turn ``random_state`` (int, Generator, RandomState or None) into a recorded int seed.

    ``None`` draws a fresh seed from OS entropy; the drawn seed is returned so it can
    be stored with the result and the run repeated exactly.
    """
    if random_state is None:
        # a SeedSequence made without entropy draws an int from the OS
        return int(cast(int, np.random.SeedSequence().entropy) % (2**32))
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


def make_rng(random_state: Any) -> tuple[np.random.Generator, int]:
    """Return ``(generator, seed)`` for ``random_state``."""
    seed = resolve_seed(random_state)
    return np.random.default_rng(seed), seed


def child_seed(seed: int, *keys: int, bits: int = 32) -> int:
    """A child seed that is a pure function of ``seed`` and the integer ``keys``.

    ``numpy.random.SeedSequence(seed, spawn_key=keys)``: children with different
    keys give statistically independent streams. ``bits=32`` returns a value in
    [0, 2**32) (numpy seeds); ``bits=63`` a value in [0, 2**63) (torch generators).
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in keys))
    if bits == 32:
        return int(ss.generate_state(1, dtype=np.uint32)[0])
    if bits == 63:
        return int(ss.generate_state(1, dtype=np.uint64)[0] & np.uint64(2**63 - 1))
    raise ValueError(f"child_seed supports bits=32 or bits=63. Got {bits}.")


def hashed_seed(*parts: Any) -> int:
    """A 32-bit seed derived from JSON-serialisable ``parts`` (names, parameters, numbers).

    The first 8 hex digits of the SHA-256 of the parts' canonical JSON: stable across
    processes, machines and Python versions, so a job keyed by text gets the same
    seed wherever it runs.
    """
    import hashlib
    import json

    text = json.dumps(list(parts), sort_keys=True, separators=(",", ":"))
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
