"""The flow estimator (``"flow"``): Gaussians, invariance to invertible maps, the held-out bound, seeds, bad input.

Tolerances: the estimate is a Gaussian-copula MI of ``n_test`` held-out rows (half the sample), whose standard
deviation is about sqrt(2 I / n_test) for moderate I (the delta method on the log-determinants): 0.025 nats at
I = 1 and n_test = 1500. Tests allow 0.1 (four SDs, plus the small loss of a flow that stops early) unless they
compare two runs of the same deterministic computation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import special_ortho_group

import ibscope
from ibscope.estimators.flow import FlowMI, canonical_start, dv_bound
from ibscope.estimators.neural.flows import CanonicalGaussian, Monotone, RotationCoupling, SideFlow
from ibscope.synthetic.gaussian import CorrelatedGaussian

#: a short training: enough to move off the linear start, cheap enough for the unit suite
QUICK = {"max_steps": 60, "eval_every": 10, "patience": 3}


def gaussian(n, dims, mi, seed=0):
    x, y = CorrelatedGaussian(dims, dims, mi, mix=True, mix_seed=seed).sample(n, seed)
    return x, y


# ------------------------------------------------------------------ layers
def test_layers_are_bijections_with_the_right_log_determinant():
    """Each layer's log|det J| equals the autograd Jacobian's, and distinct inputs stay distinct."""
    import torch

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, dtype=torch.float64)
    rot = RotationCoupling(4, 8).double()
    with torch.no_grad():  # move the layer off the identity
        for p in rot.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    mono = Monotone(4).double()
    with torch.no_grad():
        mono.raw_a.fill_(0.5)
    for layer in (rot, mono):
        out, logdet = layer(x)
        for i in range(len(x)):
            jac = torch.autograd.functional.jacobian(lambda r, f=layer: f(r[None])[0][0], x[i])
            assert float(torch.linalg.slogdet(jac)[1]) == pytest.approx(float(logdet[i].detach()), abs=1e-9)
        assert torch.cdist(out, out).fill_diagonal_(1.0).min() > 1e-6
    # the rotation coupling keeps the norm (it only turns coordinate pairs)
    out, _ = rot(x)
    assert torch.allclose(out.norm(dim=1), x.norm(dim=1), atol=1e-12)


def test_side_flow_starts_as_its_linear_map_and_head_mi_is_closed_form():
    import torch

    gen = torch.Generator().manual_seed(1)
    mean, matrix = np.array([0.5, -1.0, 2.0]), np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))[0]
    flow = SideFlow(3, 2, 16, gen, mean, matrix)
    x = torch.randn(5, 3)
    out, logdet = flow(x)
    assert torch.allclose(out, (x - torch.as_tensor(mean, dtype=torch.float32)) @ torch.as_tensor(matrix,
                                                                                                 dtype=torch.float32),
                          atol=1e-5)
    assert torch.all(logdet == 0)
    head = CanonicalGaussian(np.array([0.6, 0.3]), 2, 3)
    assert head.mutual_information() == pytest.approx(-0.5 * (math.log(1 - 0.36) + math.log(1 - 0.09)), rel=1e-6)


def test_canonical_start_makes_the_pair_canonical():
    x, y = gaussian(4000, 3, 1.2, seed=2)
    mx, ax, my, ay, rho = canonical_start(x, y)
    u, v = (x - mx) @ ax, (y - my) @ ay
    c = np.cov(np.hstack([u, v]), rowvar=False)
    assert np.allclose(c[:3, :3], np.eye(3), atol=1e-8) and np.allclose(c[3:, 3:], np.eye(3), atol=1e-8)
    assert np.allclose(c[:3, 3:], np.diag(rho), atol=1e-8)
    assert np.all(np.diff(rho) <= 0)


# ------------------------------------------------------------------ accuracy and invariance
def test_gaussian_estimate_and_held_out_split():
    x, y = gaussian(3000, 3, 1.0, seed=3)
    r = FlowMI(random_state=0, ci=0.95, **QUICK).estimate(x, y)
    fl = r.extra["flow"]
    assert abs(r.value - 1.0) < 0.1
    assert r.ci_low < r.value < r.ci_high and r.std_err > 0
    assert (fl["n_train"], fl["n_val"], fl["n_test"]) == (1200, 300, 1500)
    assert r.estimator == "flow" and fl["stop_reason"] in ("early_stopping", "max_steps")


def test_invariance_to_monotone_maps():
    """Monotone maps of coordinates change nothing: the flow sees normal scores of the ranks. (Invariance to
    a spiral turn of each side, which the rotation couplings undo, is tests/integration/test_flow_slow.py.)"""
    x, y = gaussian(3000, 3, 1.0, seed=4)
    a = FlowMI(random_state=1, **QUICK).estimate(x, y)
    b = FlowMI(random_state=1, **QUICK).estimate(np.exp(x), y ** 3 - 2.0)
    assert b.value == pytest.approx(a.value, abs=1e-12)


def test_held_out_bound_is_not_above_the_truth():
    """The Donsker-Varadhan bound with the model's density ratio as critic is a lower bound in expectation: on
    a Gaussian it is not above the truth beyond two of its standard errors, and near 0 at independence."""
    x, y = gaussian(4000, 2, 0.8, seed=6)
    fl = FlowMI(random_state=0, **QUICK).estimate(x, y).extra["flow"]
    assert fl["bound"] - 2 * fl["bound_se"] <= 0.8
    assert fl["bound"] > 0.6
    rng = np.random.default_rng(7)
    fl0 = FlowMI(random_state=0, **QUICK).estimate(rng.standard_normal((3000, 2)),
                                                   rng.standard_normal((3000, 2))).extra["flow"]
    assert fl0["bound"] - 2 * fl0["bound_se"] <= 0.0


def test_dv_bound_of_the_true_model_is_the_mi():
    """With the true canonical model as critic, the bound's value is the MI within its standard errors."""
    rho = np.array([0.8, 0.5])
    head = CanonicalGaussian(rho, 2, 2)
    rng = np.random.default_rng(8)
    u = rng.standard_normal((6000, 2))
    v = rho * u + np.sqrt(1 - rho ** 2) * rng.standard_normal((6000, 2))
    value, se = dv_bound(head, u, v, rng)
    truth = -0.5 * np.sum(np.log(1 - rho ** 2))
    assert abs(value - truth) < 4 * se + 0.01


def test_independence_is_near_zero():
    """At independence the held-out estimate is 0 up to its noise (sd about 0.005 at n_test = 1000 in 3 + 3)."""
    rng = np.random.default_rng(9)
    values = [FlowMI(random_state=s, **QUICK).estimate(rng.standard_normal((2000, 3)),
                                                       rng.standard_normal((2000, 3))).raw_value for s in range(2)]
    assert abs(float(np.mean(values))) < 0.02


# ------------------------------------------------------------------ seeds
def test_seeded_reproducibility():
    x, y = gaussian(2000, 2, 0.7, seed=10)
    a = FlowMI(random_state=5, ci=0.9, **QUICK).estimate(x, y)
    b = FlowMI(random_state=5, ci=0.9, **QUICK).estimate(x, y)
    assert (a.value, a.ci_low, a.ci_high, a.seed) == (b.value, b.ci_low, b.ci_high, b.seed)
    assert a.extra["flow"]["training_curve"] == b.extra["flow"]["training_curve"]
    c = FlowMI(random_state=6, **QUICK).estimate(x, y)
    assert c.value != a.value  # another split and initialisation


# ------------------------------------------------------------------ bad input
def test_too_few_rows_is_a_clear_error():
    x, y = gaussian(200, 2, 0.5)
    with pytest.raises(ValueError, match=r"Too few samples for FlowMI: n_samples=200 splits into n_train=80, "
                                         r"n_val=20, n_test=100 .* Pass at least 250 samples"):
        FlowMI().estimate(x, y)
    x, y = gaussian(400, 40, 0.5)
    with pytest.raises(ValueError, match=r"Too few samples for FlowMI in 40 \+ 40 dimensions: n_train=160"):
        FlowMI().estimate(x, y)


def test_nan_and_bad_parameters():
    x, y = gaussian(500, 2, 0.5)
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"'x'.*NaN|'x'.*non-finite"):
        FlowMI().estimate(x, y)
    x, y = gaussian(500, 2, 0.5)
    with pytest.raises(ValueError, match=r"'blocks' parameter of FlowMI must be an int in the range \[1, inf\)"):
        FlowMI(blocks=0).estimate(x, y)
    with pytest.raises(TypeError, match=r"'affine' parameter of FlowMI must be a bool"):
        FlowMI(affine="yes").estimate(x, y)
    with pytest.raises(ValueError, match=r"Unknown parameter\(s\) 'variant' for estimator 'flow'"):
        ibscope.mutual_information(x, y, estimator="flow", variant=2)


def test_constant_and_copied_columns():
    x, y = gaussian(1500, 2, 0.8, seed=11)
    base = FlowMI(random_state=0, **QUICK).estimate(x, y)
    xc = np.hstack([x, np.full((1500, 1), 3.0), np.exp(x[:, :1])])  # a constant column and a monotone copy
    r = FlowMI(random_state=0, **QUICK).estimate(xc, y)
    assert any("constant column" in w for w in r.warnings)
    assert any("ranks repeat an earlier column" in w for w in r.warnings)
    assert r.extra["flow"]["dim_latent"] == (2, 2)
    assert abs(r.value - base.value) < 0.05
    const = FlowMI().estimate(np.ones((1500, 2)), y)
    assert const.value == 0.0 and any("constant" in w for w in const.warnings)


def test_divergence_is_detected_and_never_reported():
    """An absurd step size blows the training up: it is caught, retried at a quarter of the step, and the
    estimate falls back to the linear start (a valid map), with warnings saying so."""
    x, y = gaussian(1500, 2, 0.8, seed=12)
    r = FlowMI(random_state=0, lr=1e6, max_steps=40, eval_every=5).estimate(x, y)
    fl = r.extra["flow"]
    assert fl["retried"] and fl["stop_reason"] == "linear_start"
    assert any("diverged" in w for w in r.warnings)
    assert math.isfinite(r.value) and r.value == pytest.approx(fl["start"], abs=1e-12)


def test_rotated_sides_give_the_same_value_within_noise():
    """An orthogonal rotation of each side is invertible: the estimate moves only by estimation noise."""
    x, y = gaussian(3000, 3, 0.9, seed=13)
    q = special_ortho_group.rvs(3, random_state=0)
    a = FlowMI(random_state=0, **QUICK).estimate(x, y).value
    b = FlowMI(random_state=0, **QUICK).estimate(x @ q, y).value
    assert abs(a - b) < 0.1
