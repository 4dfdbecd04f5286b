"""Neural (variational) MI estimators: :class:`MINE`, :class:`NWJ` and :class:`InfoNCE`.

* :mod:`.critics` - critic networks T(x, y) (separable, concatenation, convolutional);
* :mod:`.bounds` - the DV, NWJ and InfoNCE bounds on a batch's score matrix;
* :mod:`.training` - split, train with early stopping, evaluate on held-out rows;
* :mod:`.estimators` - the estimator classes (the base class's driver plus these parts).
"""

from .critics import ConcatCritic, SeparableCritic, score_matrix
from .estimators import MINE, NWJ, InfoNCE

__all__ = ["MINE", "NWJ", "InfoNCE", "ConcatCritic", "SeparableCritic", "score_matrix"]
