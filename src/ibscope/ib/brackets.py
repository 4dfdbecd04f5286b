"""Alias of :mod:`ibscope.plane.brackets`, where this module lives: every name resolves there."""

from typing import Any

from ..plane import brackets as _home

__all__ = list(getattr(_home, "__all__", []))


def __getattr__(name: str) -> Any:
    return getattr(_home, name)
