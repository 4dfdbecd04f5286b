"""Slow neural-estimator tests (run with --run-slow): the defaults on data of known MI."""

import pytest

from ibscope.estimators.neural import MINE, NWJ, InfoNCE
from ibscope.synthetic import correlated_gaussian

pytestmark = pytest.mark.slow

ESTIMATORS = [MINE, NWJ, InfoNCE]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.name)
def test_default_settings_on_mixed_2d_gaussians(cls):
    x, y, mi = correlated_gaussian(8000, 2, 2, 1.0, mix=True, random_state=5)
    res = cls(ci=0.95, random_state=0).estimate(x, y)
    assert abs(res.raw_value - mi) < 0.15, res
