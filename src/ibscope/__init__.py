"""ibscope: mutual information and information-bottleneck analysis of neural networks.

Front doors: :func:`mutual_information` and :func:`entropy`. Estimator classes
live in :mod:`ibscope.estimators`; known-MI data in :mod:`ibscope.synthetic`.
"""

from ._result import EntropyResult, MIResult
from ._version import __version__
from .api import entropy, make_estimator, mutual_information
from .compress import CompressedEstimator, PCACompressor, parse_compressor
from .estimators import (
    KDEMI,
    KLMI,
    KSG,
    ContinuousDiscreteMI,
    DiscreteEntropy,
    GaussianEntropy,
    GaussianMI,
    KDEEntropy,
    KLEntropy,
    KSGReference,
    MixedKSG,
    PluginMI,
    WeightedKLMI,
)

__all__ = [
    "mutual_information", "entropy", "make_estimator", "MIResult", "EntropyResult",
    "KSG", "KSGReference", "KLMI", "WeightedKLMI", "KLEntropy", "KDEMI", "KDEEntropy", "GaussianMI",
    "GaussianEntropy", "PluginMI", "DiscreteEntropy", "ContinuousDiscreteMI", "MixedKSG", "CompressedEstimator",
    "PCACompressor", "parse_compressor", "__version__",
]
