"""The calibrated MLP decoder family of ibscope.plane.decoders, measured against the linear probe."""

from __future__ import annotations

import math

import numpy as np

from ibscope.plane.decoders import LinearProbes, MLPProbes


def _radial(n: int, seed: int, flip: float = 0.1):
    """2-D standard normal x; y = [|x| > r] with r^2 = 2 ln 2 (P = 1/2), each label flipped with probability ``flip``.

    I(x;y) = H(y) - h(flip) = ln 2 - h(0.1) = 0.3681 nats exactly; no linear decoder can use it (the classes
    are nested discs)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    y = (np.sum(x * x, axis=1) > 2 * math.log(2)).astype(np.int64)
    y = np.where(rng.random(n) < flip, 1 - y, y)
    return x, y


def _bound(ce: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    p = np.bincount(y) / len(y)
    h_y = float(-(p * np.log(p)).sum())
    return h_y - float(ce.mean()), float(ce.std(ddof=1) / math.sqrt(len(ce)))


def test_mlp_reaches_nonlinear_information_the_linear_probe_misses():
    """Tolerance: the MLP's held-out bound falls short of the truth by its fitting and calibration loss; with
    750 training rows per fold and 64 hidden units we allow 0.08 nats, plus 3 standard errors (~0.015 each)."""
    truth = math.log(2) - (-(0.1 * math.log(0.1) + 0.9 * math.log(0.9)))
    x, y = _radial(1500, 0)
    lin, lin_se = _bound(LinearProbes(random_state=0).cross_entropies("L", x, y), y)
    mlp_probe = MLPProbes(random_state=0, epochs=150)
    mlp, mlp_se = _bound(mlp_probe.cross_entropies("L", x, y), y)
    assert lin < 0.03
    assert truth - 0.08 - 3 * mlp_se <= mlp <= truth + 3 * mlp_se
    assert len(mlp_probe.temperatures_["L"]) == 2 and all(t > 0 for t in mlp_probe.temperatures_["L"])


def test_calibrated_mlp_is_not_overconfident_on_random_labels():
    """Labels independent of the features: I = 0. An uncalibrated MLP that memorises its folds pays a large
    held-out log-loss (a strongly negative bound); early stopping and temperature scaling keep it within a few
    hundredths of 0. Tolerance: 0.05 nats, 3 standard errors."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((600, 16))
    y = rng.integers(0, 3, 600)
    value, se = _bound(MLPProbes(random_state=1, epochs=200).cross_entropies("L", x, y), y)
    assert -0.05 - 3 * se <= value <= 3 * se
    # same call, same numbers
    again, _ = _bound(MLPProbes(random_state=1, epochs=200).cross_entropies("L", x, y), y)
    assert again == value
