"""Alias of :mod:`ibscope.plane.decoders`, where this module lives (the same module object)."""

import sys

from ..plane import decoders as _home

sys.modules[__name__] = _home
