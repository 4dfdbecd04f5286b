"""Alias of :mod:`ibscope.plane.bounds`, where this module lives (the same module object)."""

import sys

from ..plane import bounds as _home

sys.modules[__name__] = _home
