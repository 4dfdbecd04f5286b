"""Ground truths of the harder families (shells, periodic shear, spiral, inlier mixture) against independent checks.

Tolerances: Monte Carlo means are compared within 4 standard errors (plus 1e-3 for a quadrature's own error);
closed forms within 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ibscope.synthetic import get_task
from ibscope.synthetic.families import InlierMixture, PeriodicShear, Shells, Spiral, _mc_mean
from ibscope.synthetic.gaussian import gaussian_mi


def test_shells_quadrature_matches_monte_carlo():
    """I(log R_X; log R_Y) of the 2-D mixture: quadrature against a Monte Carlo mean of the exact log ratio."""
    s = Shells(n_shells=4, spacing=0.5, spread=0.15)
    m = 0.5 * np.arange(4)

    def term(rng, n):
        k = rng.integers(0, 4, size=n)
        a = m[k] + 0.15 * rng.standard_normal(n)
        b = m[k] + 0.15 * rng.standard_normal(n)
        pa = stats.norm.pdf(a[:, None], m, 0.15)
        pb = stats.norm.pdf(b[:, None], m, 0.15)
        return np.log((pa * pb).mean(1)) - np.log(pa.mean(1)) - np.log(pb.mean(1))

    mean, se = _mc_mean(term, n_total=200_000, seed=1)
    assert abs(s.mutual_information() - mean) < 4 * se + 1e-3
    assert 0 < s.mutual_information() < math.log(4)
    assert Shells(n_shells=1).mutual_information() == 0.0


def test_shells_depend_only_through_the_norm():
    x, y = Shells(dim_x=10, dim_y=1).sample(20_000, 0)
    # no coordinate of X is correlated with Y; the norm is
    corr = [abs(np.corrcoef(x[:, j], y[:, 0])[0, 1]) for j in range(10)]
    assert max(corr) < 0.05
    assert np.corrcoef(np.log(np.linalg.norm(x, axis=1)), y[:, 0])[0, 1] > 0.8


def test_spiral_keeps_norms_and_its_mi_is_exact():
    sp = Spiral(4, 3, mi=1.3, speed=2.0, mix_seed=2)
    assert sp.mutual_information() == pytest.approx(1.3, abs=1e-9)
    rng = np.random.default_rng(0)
    v = rng.standard_normal((500, 4))
    turned = sp.turn(v, 0)
    np.testing.assert_allclose(np.linalg.norm(turned, axis=1), np.linalg.norm(v, axis=1), rtol=1e-12)
    assert not np.allclose(turned, v)
    # the turn is undone by turning back with the angle of the output's norm
    u, w = sp._planes[0]
    back = turned.copy()
    angle = -2.0 * np.sum(turned * turned, axis=1) / 4
    a, b = back @ u, back @ w
    c, s = np.cos(angle), np.sin(angle)
    back = back + np.outer(a * (c - 1) - b * s, u) + np.outer(a * s + b * (c - 1), w)
    np.testing.assert_allclose(back, v, atol=1e-12)
    assert Spiral(3, 1).sample(10, 0)[1].shape == (10, 1)  # a 1-D side is not turned


def test_inlier_mixture_limits():
    """p = 1 is the Gaussian's exact MI; p < 1 lies below p times it (concavity of the log)."""
    full = InlierMixture(6, 4, mi_dependent=1.5, dependent_fraction=1.0)
    assert abs(full.mutual_information() - 1.5) < 4 * full.mi_std_err
    part = InlierMixture(6, 4, mi_dependent=1.5, dependent_fraction=0.4)
    assert 0 < part.mutual_information() < 0.4 * 1.5
    x, y = part.sample(1000, 0)
    assert x.shape == (1000, 6) and y.shape == (1000, 4)
    assert abs(x.std() - 1) < 0.05 and abs(y.std() - 1) < 0.05  # inliers: standard normal margins


def test_periodic_shear_with_one_component_is_gaussian():
    """A single component with the shear is a Gaussian under a unit-Jacobian bijection: its MI in closed form."""
    ps = PeriodicShear(2, 1, n_components=1, mix_seed=3)
    cov = ps.chols[0] @ ps.chols[0].T
    exact = 0.5 * (np.linalg.slogdet(cov[:2, :2])[1] + np.log(cov[2, 2]) - np.linalg.slogdet(cov)[1])
    assert abs(ps.mutual_information() - exact) < 4 * ps.mi_std_err
    z = ps._latent(100, np.random.default_rng(0))[:, :2]
    x = ps.shear(z)
    np.testing.assert_array_equal(x[:, 0], z[:, 0])
    assert not np.allclose(x[:, 1], z[:, 1])


def test_registered_family_tasks():
    task = get_task("spiral", dim_x=5, dim_y=5, mi=2.0, speed=0.5)
    assert task.mutual_information() == pytest.approx(2.0) and task.metadata["mi_method"] == "exact"
    x, y = task.sample(50, 1)
    assert x.shape == (50, 5) and np.all(np.isfinite(y))
    assert get_task("shells", dim_x=8).metadata["mi_method"].startswith("quadrature")
    assert get_task("inlier-mixture", dim_x=3, dim_y=3).metadata["mi_method"].startswith("Monte Carlo")
    with pytest.raises(ValueError, match=r"'dim_x' parameter of PeriodicShear must be an int in the range \[2, inf\)"):
        get_task("periodic-shear", dim_x=1)
    with pytest.raises(ValueError, match=r"'dependent_fraction' parameter of InlierMixture must be a float in "
                                         r"the range \(0.0, 1.0\]"):
        get_task("inlier-mixture", dependent_fraction=0.0)
    assert gaussian_mi([0.0]) == 0.0
