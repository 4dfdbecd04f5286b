"""Alias of :mod:`ibscope.plane.brackets`, where this module lives (the same module object)."""

import sys

from ..plane import brackets as _home

sys.modules[__name__] = _home
