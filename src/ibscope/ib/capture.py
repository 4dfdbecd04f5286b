"""Alias of :mod:`ibscope.plane.capture`, where this module lives (the same module object)."""

import sys

from ..plane import capture as _home

sys.modules[__name__] = _home
