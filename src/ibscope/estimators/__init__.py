"""Estimator classes: each is configured in ``__init__`` and has ``estimate(...)``.

Neural estimators (``MINE``, ``NWJ``, ``InfoNCE``) live in
:mod:`ibscope.estimators.neural` and are imported lazily (they need torch
training loops that most users of the kNN estimators never touch).
"""

from .base import EntropyEstimator, MIEstimator
from .discrete import ContinuousDiscreteMI, DiscreteEntropy, MixedKSG, PluginMI
from .gaussian import GaussianEntropy, GaussianMI
from .kde import KDEMI, KDEEntropy
from .kl import KLMI, KLEntropy, WeightedKLMI
from .ksg import KSG, KSGReference

__all__ = [
    "EntropyEstimator", "MIEstimator", "KSG", "KSGReference", "KLMI", "WeightedKLMI", "KLEntropy",
    "KDEMI", "KDEEntropy", "GaussianMI", "GaussianEntropy", "PluginMI", "DiscreteEntropy",
    "ContinuousDiscreteMI", "MixedKSG",
]


def __getattr__(name):
    if name in ("MINE", "NWJ", "InfoNCE"):
        from . import neural

        return getattr(neural, name)
    raise AttributeError(f"module 'ibscope.estimators' has no attribute {name!r}")
