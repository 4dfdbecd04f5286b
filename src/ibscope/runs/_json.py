"""JSON helpers shared by every file ibscope writes."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """Convert tuples, numpy scalars and arrays (also inside dicts and lists) to plain JSON types."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text of ``obj`` (sorted keys, no spaces): for hashing and CSV cells."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
