"""Alias of :mod:`ibscope.plane.flags`, where this module lives (the same module object)."""

import sys

from ..plane import flags as _home

sys.modules[__name__] = _home
