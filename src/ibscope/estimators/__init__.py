"""Estimator classes: each is configured in ``__init__`` and has ``estimate(...)``."""

from .base import EntropyEstimator, MIEstimator
from .ksg import KSG, KSGReference

__all__ = ["EntropyEstimator", "MIEstimator", "KSG", "KSGReference"]
