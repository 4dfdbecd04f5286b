"""Information bounds on arrays: the numerical core of the information plane's brackets.

Nothing here knows about networks: the functions take samples, means, variances and labels
(numpy arrays or torch tensors) and return nats. :func:`ibscope.plane.brackets.xl_brackets` runs the
noisy passes of a network and calls them.

* :mod:`~ibscope.infobounds.scalar` - binary entropy, Clopper-Pearson limits, Fano's bound, the
  empirical-Bernstein bound of a mean;
* :mod:`~ibscope.infobounds.identify` - lower bounds by identification (Fano, Barber-Agakov);
* :mod:`~ibscope.infobounds.mixtures` - Kolchinsky-Tracey pairwise bounds of Gaussian mixtures, the
  Gaussian-channel bound, the sample-propagation estimate;
* :mod:`~ibscope.infobounds.gate` - the trend gate of phase claims.
"""

from .gate import trend_gate
from .identify import identification_bounds, whitener
from .mixtures import gaussian_channel_bound, kt_bounds, sample_propagation
from .scalar import bernstein_mean_upper, binary_entropy, clopper_pearson_upper, fano_lower_bound

__all__ = ["binary_entropy", "clopper_pearson_upper", "fano_lower_bound", "bernstein_mean_upper", "kt_bounds",
           "gaussian_channel_bound", "identification_bounds", "whitener", "sample_propagation", "trend_gate"]
