"""Slow checks of the flow estimator and of the default's held-out candidates (run with --run-slow).

Tolerances: the flow estimate on n_test = 3000 held-out rows has a standard deviation of about 0.025 nats at
I = 1 (the held-out Gaussian-copula MI); after a full training it is within 0.1 of the truth on the spiral
families (``benchmarks/bench_families.py``), so 0.12 is allowed. At independence the default is the largest
of estimates near 0 (KSG's and the copula's noise at n = 5000 is below 0.005); 0.01 is the issue's bound.
"""

from __future__ import annotations

import numpy as np
import pytest

import ibscope
from ibscope.estimators.flow import FlowMI
from ibscope.synthetic.families import Spiral

pytestmark = pytest.mark.slow


def test_flow_undoes_a_spiral():
    """A spiral turn of each side (an invertible, norm-preserving map) leaves the MI unchanged: the rotation
    couplings undo it, so the flow is near the truth while the per-coordinate copula sees about half."""
    spiral = Spiral(3, 3, mi=1.0, speed=1.0, mix_seed=3)
    x, y = spiral.sample(6000, 5)
    r = FlowMI(random_state=0).estimate(x, y)
    copula = ibscope.mutual_information(x, y, estimator="copula").value
    assert abs(r.value - 1.0) < 0.12, r.extra["flow"]
    assert copula < 0.8 and r.value > copula + 0.15
    fl = r.extra["flow"]
    assert fl["bound"] - 2 * fl["bound_se"] <= 1.0  # the held-out bound stays below the truth


def test_default_takes_the_flow_on_a_spiral():
    x, y = Spiral(5, 5, mi=1.0, speed=1.0, mix_seed=1).sample(6000, 0)
    r = ibscope.mutual_information(x, y, random_state=0, ci=0.95)
    info = r.extra["auto"]
    assert info["chosen"] == "flow" and info["flow"]["ran"]
    assert info["candidates"]["flow"] - 2 * info["std_errs"]["flow"] > info["baseline"]
    assert abs(r.value - 1.0) < 0.12
    assert r.ci_low < r.value < r.ci_high
    # the held-out candidates' seeds come from the call's seed, not from the interval's draws
    assert ibscope.mutual_information(x, y, random_state=0).value == r.value


@pytest.mark.parametrize("dims", [1, 5, 25])
def test_default_at_independence(dims):
    values = []
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        x, y = rng.standard_normal((5000, dims)), rng.standard_normal((5000, dims))
        values.append(ibscope.mutual_information(x, y, random_state=seed).value)
    assert float(np.mean(values)) <= 0.01, values
