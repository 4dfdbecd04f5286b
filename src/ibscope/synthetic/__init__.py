"""Data with known mutual information (ground truth for tests and benchmarks)."""

from .gaussian import CorrelatedGaussian, correlated_gaussian, correlations_for_mi, gaussian_mi

__all__ = ["CorrelatedGaussian", "correlated_gaussian", "correlations_for_mi", "gaussian_mi"]
