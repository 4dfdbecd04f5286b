"""ibscope: mutual information and information-bottleneck analysis of neural networks."""

from ._result import EntropyResult, MIResult
from .estimators import KSG, KSGReference

__version__ = "0.1.0"

__all__ = ["EntropyResult", "MIResult", "KSG", "KSGReference", "__version__"]
