"""Brackets on I(X;L) and I(L;Y), the sample-propagation estimate and the phase gate (ibscope.plane.brackets)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ibscope.nets import GaussianNoise, PaperConvNet, get_noise_rng_state, noise_channel, standardize_rows
from ibscope.plane.brackets import (
    bernstein_mean_upper,
    binary_entropy,
    clopper_pearson_upper,
    fano_lower_bound,
    gaussian_channel_bound,
    identification_bounds,
    kt_bounds,
    trend_gate,
    xl_brackets,
)


# ---------------------------------------------------------------------------------------------------------------
# scalar bounds
# ---------------------------------------------------------------------------------------------------------------
def test_binary_entropy_and_clopper_pearson():
    assert binary_entropy(0.0) == 0.0 == binary_entropy(1.0)
    assert binary_entropy(0.5) == pytest.approx(math.log(2))
    # zero errors: the one-sided limit solves (1 - p)^n = 1 - level
    assert clopper_pearson_upper(0, 1000, 0.95) == pytest.approx(1 - 0.05 ** (1 / 1000), rel=1e-9)
    assert clopper_pearson_upper(5, 5, 0.95) == 1.0
    # the limit covers the observed rate
    assert clopper_pearson_upper(30, 100, 0.95) > 0.3
    with pytest.raises(ValueError, match="'n_errors' parameter of clopper_pearson_upper"):
        clopper_pearson_upper(11, 10)


def test_fano_hand_computed():
    n = 1437
    # no errors, no confidence: the bound is H(X) itself
    assert fano_lower_bound(math.log(n), 0, 100, n, level=None) == pytest.approx(math.log(n))
    # the number: 0 errors in 14 370 trials, 95 % Clopper-Pearson, gives 7.266 of ln N = 7.2703
    p = 1 - 0.05 ** (1 / 14370)
    want = math.log(n) - binary_entropy(p) - p * math.log(n - 1)
    assert fano_lower_bound(math.log(n), 0, 14370, n, level=0.95) == pytest.approx(want, rel=1e-9)
    assert 7.26 < want < 7.27
    # beyond (K-1)/K the expression would rise again: it is capped, and the bound floors at 0
    assert fano_lower_bound(math.log(10), 95, 100, 10) == 0.0
    # K = 2, half the labels wrong: nothing is known
    assert fano_lower_bound(math.log(2), 50, 100, 2, level=None) == pytest.approx(0.0, abs=1e-12)


def test_bernstein_bound_covers_the_mean():
    rng = np.random.default_rng(0)
    misses = 0
    for _ in range(200):  # Bernoulli(0.2) means: the bound must hold in >= 95 % of repeats (it is conservative)
        v = (rng.random(200) < 0.2).astype(float)
        misses += bernstein_mean_upper(v, 1.0, 0.05) < 0.2
    assert misses <= 10
    assert bernstein_mean_upper(np.zeros(100), 1.0, 0.05) > 0  # the range term is always paid
    with pytest.raises(ValueError, match="at least 2 values"):
        bernstein_mean_upper([0.5], 1.0, 0.05)


# ---------------------------------------------------------------------------------------------------------------
# Gaussian mixtures
# ---------------------------------------------------------------------------------------------------------------
def _mi_1d_two_points(a: float, var: float) -> float:
    """I(X;T), X uniform on {-a, a}, T | x ~ N(x, var): by quadrature on a fine grid (error < 1e-8)."""
    t = np.linspace(-a - 12 * math.sqrt(var), a + 12 * math.sqrt(var), 200001)
    p1 = np.exp(-(t + a) ** 2 / (2 * var))
    p2 = np.exp(-(t - a) ** 2 / (2 * var))
    mix = 0.5 * (p1 + p2)
    dt = t[1] - t[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(p1 > 0, p1 * np.log(p1 / mix), 0.0)
    return float(term.sum() * dt / math.sqrt(2 * math.pi * var))


@pytest.mark.parametrize("n", [2, 3])
def test_kt_separated_points_give_ln_n_and_identical_points_zero(n):
    means = 100.0 * np.eye(n)
    lo, up = kt_bounds(means, 1.0)
    assert lo == pytest.approx(math.log(n), abs=1e-12) and up == pytest.approx(math.log(n), abs=1e-12)
    lo, up = kt_bounds(np.ones((n, 3)), 1.0)
    assert lo == pytest.approx(0.0, abs=1e-12) and up == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("a", [0.2, 0.7, 1.5])
def test_kt_brackets_the_exact_two_point_mi(a):
    truth = _mi_1d_two_points(a, 1.0)
    lo, up = kt_bounds(np.array([[-a], [a]]), 1.0)
    assert lo <= truth + 1e-6 <= up + 2e-6
    # the upper bound in closed form: ln 2 - ln(1 + exp(-(2a)^2 / 2))
    assert up == pytest.approx(math.log(2) - math.log1p(math.exp(-(2 * a) ** 2 / 2)), rel=1e-10)
    # the Gaussian-channel bound with the two points' variance a^2
    assert gaussian_channel_bound(np.array([[-a], [a]]), 1.0) == pytest.approx(0.5 * math.log1p(a * a))
    assert truth <= gaussian_channel_bound(np.array([[-a], [a]]), 1.0)


def test_kt_diagonal_equals_isotropic_and_handles_point_masses():
    rng = np.random.default_rng(1)
    means = rng.normal(size=(30, 4))
    iso = kt_bounds(means, 0.5)
    diag = kt_bounds(means, np.full_like(means, 0.5))
    assert diag == pytest.approx(iso, rel=1e-9)
    # relative noise: a coordinate exactly 0 in one mean only is a point mass there: those two separate fully
    means = np.array([[0.0, 1.0], [1e-3, 1.0]])
    lo, up = kt_bounds(means, (0.3 * means) ** 2)
    assert up == pytest.approx(math.log(2), abs=1e-9)
    with pytest.raises(ValueError, match="'var' argument of kt_bounds must be a float or an array"):
        kt_bounds(means, np.ones(3))


def test_identification_bounds_separated_and_confused():
    rng = np.random.default_rng(0)
    n, m = 50, 400
    refs = 10.0 * rng.normal(size=(n, 5))
    y = np.arange(n) % 5
    lab = rng.integers(0, n, m)
    out = identification_bounds(refs[lab] + 0.01 * rng.normal(size=(m, 5)), lab, refs, y)
    assert out["errors_x"] == 0 and out["errors_y"] == 0
    assert math.log(n) - 0.1 < out["fano_x"] <= math.log(n)
    assert out["fano_y"] <= out["h_y"] == pytest.approx(math.log(5))
    # every probe identical: nothing can be decoded beyond chance, and every bound is (near) 0
    same = np.zeros((n, 5))
    out = identification_bounds(rng.normal(size=(m, 5)), lab, same, y)
    assert out["fano_x"] == 0.0 and out["ba_x"] < 0.05 and out["ba_y"] < 0.05


def test_mahalanobis_decoder_on_anisotropic_noise():
    """References r_i, draws r_i + A eps with a very anisotropic A: the whitened kernel posterior is the exact
    posterior (up to the fitted covariance), so its bound is within the empirical-Bernstein penalty (~0.3 nats at
    1000 trials, delta = 0.05/8) of the truth and beats the Euclidean kernel; both stay below the truth."""
    from ibscope.plane.brackets import whitener

    rng = np.random.default_rng(2)
    n, d, m = 100, 6, 1000
    refs = rng.normal(size=(n, d)) * np.array([3.0, 3.0, 0.3, 0.3, 0.3, 0.3])
    a = np.diag([3.0, 3.0, 0.1, 0.1, 0.1, 0.1])
    y = np.arange(n) % 4
    lab = rng.integers(0, n, m)
    t = refs[lab] + rng.standard_normal((m, d)) @ a
    cal = rng.integers(0, n, 300)
    w = whitener(refs[cal] + rng.standard_normal((300, d)) @ a - refs[cal])
    truth, se = _mixture_mi(refs, a @ a, 40000)
    euclid = identification_bounds(t, lab, refs, y, n_bounds=8)
    maha = identification_bounds(t, lab, refs, y, n_bounds=8, metric=w)
    assert euclid["ba_x"] < maha["ba_x"] <= truth + 3 * se
    assert maha["ba_x"] >= truth - 0.45
    assert maha["errors_x"] <= euclid["errors_x"]


# ---------------------------------------------------------------------------------------------------------------
# the model-level entry point
# ---------------------------------------------------------------------------------------------------------------
def _chain(sigma: float, seed: int = 0):
    """X (4-D) -> noise -> Linear 4->6 -> noise -> Linear 6->3, additive noise sigma everywhere."""
    g = torch.Generator().manual_seed(seed)
    a, b = nn.Linear(4, 6), nn.Linear(6, 3)
    with torch.no_grad():
        for lin in (a, b):
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) / math.sqrt(lin.in_features))
            lin.bias.zero_()
    return nn.Sequential(GaussianNoise(sigma, kind="additive", random_state=1), a,
                         GaussianNoise(sigma, kind="additive", random_state=2), b)


def _mixture_mi(means: np.ndarray, cov: np.ndarray, n_mc: int, seed: int = 0) -> tuple[float, float]:
    """I(X;T) for X uniform on the rows of ``means`` and T | i ~ N(mean_i, cov): Monte Carlo, exact densities."""
    rng = np.random.default_rng(seed)
    w = means @ np.linalg.inv(np.linalg.cholesky(cov)).T  # whitened: identity covariance
    i = rng.integers(0, len(w), n_mc)
    t = w[i] + rng.standard_normal((n_mc, w.shape[1]))
    d2 = ((t[:, None, :] - w[None]) ** 2).sum(-1)
    terms = -0.5 * d2[np.arange(n_mc), i] - (np.logaddexp.reduce(-0.5 * d2, axis=1) - math.log(len(w)))
    return float(terms.mean()), float(terms.std() / math.sqrt(n_mc))


def test_estimate_and_bracket_on_a_linear_gaussian_chain():
    """Ground truth: L~ of both layers is Gaussian given X, so I(X;L~) = h(mixture) - h(Gaussian) (Monte Carlo).

    Tolerance: with 16 replicas the fresh-draw estimate is biased low and the plug-in one high
    (benchmarks/bench_brackets.py measures both biases shrinking with the replicas; 0.1-0.3 nats here);
    their midpoint was within 0.05 nats of the truth in the benchmark. We allow 0.15 nats (3x that, plus
    the Monte-Carlo error of 600 trials, se ~0.03) and require the interval and the bracket to contain it.
    """
    n, sigma = 60, 0.4
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = np.arange(n) % 3
    net = _chain(sigma)
    aw, bw = net[1].weight.detach().double().numpy(), net[3].weight.detach().double().numpy()
    s2 = sigma ** 2
    covs = {"1": s2 * aw @ aw.T + s2 * np.eye(6), "3": s2 * bw @ aw @ aw.T @ bw.T + s2 * bw @ bw.T + s2 * np.eye(3)}
    means = {"1": x @ aw.T, "3": x @ aw.T @ bw.T}
    res = xl_brackets(net, torch.as_tensor(x), y, layers=["1", "3"], n_trials=600, n_estimate=600, n_replicas=16)
    for name, r in res.items():
        truth, se = _mixture_mi(means[name], covs[name], 20000)
        assert r["i_xl_method"] == "sample-propagation"
        assert r["xl_lower"] <= truth <= r["xl_upper"]
        # the low side is biased low and the plug-in high (in expectation): each within its Monte-Carlo error
        e = r["estimate"]
        assert e["low_side"] - 3 * r["i_xl_se"] * 2 <= truth + 3 * se
        assert e["high_side"] + 3 * e["plugin_se"] >= truth - 3 * se
        assert r["i_xl_lo"] <= truth <= r["i_xl_hi"]
        assert abs(r["i_xl"] - truth) < 0.15
        assert r["ly_lower_ident"] <= r["ly_upper"] <= r["h_y"]
        assert r["xl_lower"] >= r["ly_lower_ident"]


def test_one_replica_cannot_resolve_the_earlier_noise_and_gives_no_number():
    """With one replica the mixture cannot represent the spread of the earlier noise (the benchmark's fresh side
    is 3 nats below the bound on this chain): the estimate is refused, the bracket stays."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 4)).astype(np.float32)
    res = xl_brackets(_chain(0.3), torch.as_tensor(x), np.arange(60) % 3, layers=["1"], n_trials=400, n_estimate=200,
                      n_replicas=1)
    r = res["1"]
    assert r["i_xl_method"] == "unresolved" and math.isnan(r["i_xl"])
    assert (r["i_xl_lo"], r["i_xl_hi"]) == (r["xl_lower"], r["xl_upper"])
    assert "do not resolve" in r["notes"][-1]


def _digits_like(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.normal(size=(n, 1, 8, 8)).astype(np.float32)), rng.integers(0, 10, n)


def test_saturated_network_is_pinned_and_state_is_restored():
    x, y = _digits_like()
    model = PaperConvNet(noise_sigma=1e-3, in_shape=(1, 8, 8), random_state=0)
    model.train()
    state = get_noise_rng_state(model)
    torch.manual_seed(123)
    global_state = torch.get_rng_state()
    res = xl_brackets(model, x, y, n_trials=1000, random_state=0)
    # every noise stream, the global generator, the mode and the settings are as before
    assert model.training
    assert torch.equal(torch.get_rng_state(), global_state)
    after = get_noise_rng_state(model)
    assert after.keys() == state.keys()
    for k in state:
        assert after[k]["seed"] == state[k]["seed"]
        assert after[k]["states"].keys() == state[k]["states"].keys()
    assert all(layer.sigma == 1e-3 and layer.active_in_eval for _, layer in model.noise_layers())
    ln_n = math.log(len(y))
    for r in res.values():
        assert 0 <= r["xl_lower"] <= r["xl_upper"] <= ln_n + 1e-12
        assert r["upper_bounds"]["ln_n"] == pytest.approx(ln_n)
    assert res["L1"]["saturated"] and res["L1"]["i_xl_method"] == "pinned"
    assert res["L1"]["errors_x"] == 0
    # same call, same numbers; brackets only skip the estimate
    again = xl_brackets(model, x, y, n_trials=1000, random_state=0, estimate=False)
    assert [r["xl_lower"] for r in again.values()] == [r["xl_lower"] for r in res.values()]
    assert all(r["i_xl_method"] in ("pinned", "none") for r in again.values())


def test_training_after_the_analysis_is_unchanged():
    x, y = _digits_like(32)

    def train_steps(analyse: bool):
        torch.manual_seed(0)
        model = PaperConvNet(noise_sigma=0.1, in_shape=(1, 8, 8), random_state=0)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        model.train()
        for step in range(3):
            opt.zero_grad()
            loss = nn.functional.nll_loss(model(x), torch.as_tensor(y))
            loss.backward()
            opt.step()
            if analyse and step == 1:
                xl_brackets(model, x, y, n_trials=40, n_estimate=16, n_replicas=2, n_calibration=16, random_state=5)
        return [p.detach().clone() for p in model.parameters()]

    for a, b in zip(train_steps(False), train_steps(True)):
        assert torch.equal(a, b)


def test_bad_input_gets_notes_not_numbers():
    x, y = _digits_like(40)
    # no noise layers at all
    plain = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    res = xl_brackets(plain, x, y, layers=["1"], n_trials=20)
    assert math.isnan(res["1"]["xl_lower"]) and "no noise layer" in " ".join(res["1"]["notes"])
    # noise only in training
    model = PaperConvNet(noise_sigma=0.1, in_shape=(1, 8, 8), active_in_eval=False)
    res = xl_brackets(model, x, y, n_trials=20)
    assert all(math.isnan(r["xl_upper"]) for r in res.values())
    assert "noise is off in the probe passes" in " ".join(res["L3"]["notes"])
    forced = xl_brackets(model, x, y, n_trials=50, n_estimate=20, n_replicas=2, force_noise=True)
    assert math.isfinite(forced["L3"]["xl_upper"]) and "force_noise" in " ".join(forced["L3"]["notes"])
    assert not any(layer.active_in_eval for _, layer in model.noise_layers())  # restored
    # duplicate probe images: the upper bound is the entropy of the distinct images
    xd = torch.cat([x[:20], x[:20]])
    res = xl_brackets(PaperConvNet(noise_sigma=1e-3, in_shape=(1, 8, 8)), xd, np.r_[y[:20], y[:20]], n_trials=100)
    assert res["L1"]["xl_upper"] == pytest.approx(math.log(20)) and "repeats images" in " ".join(res["L1"]["notes"])
    # arguments
    with pytest.raises(ValueError, match="'probe_y' argument of xl_brackets"):
        xl_brackets(model, x, y[:-1])
    with pytest.raises(ValueError, match="Unknown layer name"):
        xl_brackets(model, x, y, layers=["nope"])
    with pytest.raises(ValueError, match="'readout' argument of xl_brackets"):
        xl_brackets(PaperConvNet(noise_sigma=0.1, in_shape=(1, 8, 8)), x, y, readout="loud")


class _Jitter(nn.Module):
    """Uniform noise from the global generator: not a GaussianNoise layer."""

    def forward(self, x):
        return x + 0.01 * (torch.rand_like(x) - 0.5)


def test_non_gaussian_noise_is_noted_and_the_gaussian_input_bound_dropped():
    x, y = _digits_like(40)
    model = nn.Sequential(_Jitter(), GaussianNoise(0.5, kind="additive"), nn.Flatten(), nn.Linear(64, 10))
    res = xl_brackets(model, x, y, layers=["3"], n_trials=100, n_estimate=30, n_replicas=2)
    notes = " ".join(res["3"]["notes"])
    assert "random outside its GaussianNoise layers" in notes
    assert "kt_input" not in res["3"]["upper_bounds"]
    assert math.isfinite(res["3"]["xl_lower"])


def test_layers_before_the_first_noise_have_no_number_and_cut_is_checked():
    x, y = _digits_like(40)

    class Skip(nn.Module):  # the input bypasses the noise: T1 is not a cut for the output
        def __init__(self):
            super().__init__()
            self.pre = nn.Flatten()
            self.noise = GaussianNoise(0.3, kind="additive")
            self.out = nn.Linear(64, 10)

        def forward(self, inp):
            h = self.pre(inp)
            return self.out(self.noise(h) + h)

    res = xl_brackets(Skip(), x, y, layers=["pre", "out"], n_trials=60, n_estimate=20, n_replicas=2)
    assert math.isnan(res["pre"]["xl_lower"]) and "before the first active noise layer" in res["pre"]["notes"][-1]
    assert "kt_input" not in res["out"]["upper_bounds"]
    assert "does not separate" in " ".join(res["out"]["notes"])


# ---------------------------------------------------------------------------------------------------------------
# the normalized noise kind
# ---------------------------------------------------------------------------------------------------------------
def test_normalized_noise_standardises_then_adds_noise_and_matches_its_channel():
    x = torch.randn(4, 3, 5, 5) * 7 + 2
    layer = GaussianNoise(0.5, kind="normalized", random_state=0)
    draws = torch.stack([layer(x) for _ in range(4000)])
    mean, std = layer.channel(x)
    assert torch.allclose(mean, standardize_rows(x))
    assert torch.allclose(draws.mean(0), mean, atol=0.05)  # se 0.5/sqrt(4000) = 0.008
    assert torch.allclose(draws.std(0), std, atol=0.03)
    off = GaussianNoise(0.0, kind="normalized")
    assert torch.allclose(off(x), standardize_rows(x))
    s = standardize_rows(x).reshape(4, -1)
    assert torch.allclose(s.mean(1), torch.zeros(4), atol=1e-5)
    # the existing kinds keep their exact draws
    rel = GaussianNoise(0.1, kind="relative", random_state=3)
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    assert torch.equal(rel(x), x + (0.1 * eps) * x)
    m, sd = noise_channel(x, "relative", 0.1)
    assert torch.equal(m, x) and torch.allclose(sd, 0.1 * x.abs())


def test_normalized_noise_is_the_run_default_and_the_paper_preset_keeps_its_own():
    from ibscope.ib import IBConfig

    assert IBConfig().resolved().noise_kind == "normalized" and IBConfig().resolved().noise == 0.3
    assert IBConfig.paper().resolved().noise_kind == "relative" and IBConfig.paper().resolved().noise == 1e-3
    assert IBConfig(noise_kind="normalized").noise_kind == "normalized"
    with pytest.raises(ValueError, match="'relative', 'additive' or 'normalized'"):
        IBConfig(noise_kind="laplace")
    net = PaperConvNet(noise_sigma=0.3, noise_kind="normalized", in_shape=(1, 8, 8))
    assert {layer.kind for _, layer in net.noise_layers()} == {"normalized"}
    assert {layer.kind for _, layer in PaperConvNet().noise_layers()} == {"relative"}


# ---------------------------------------------------------------------------------------------------------------
# the phase gate
# ---------------------------------------------------------------------------------------------------------------
def _trend(slope: float, noise: float, n_seeds: int = 5, n_epochs: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ep = np.arange(1, n_epochs + 1)
    return 3.0 + slope * ep / n_epochs + noise * rng.standard_normal((n_seeds, n_epochs))


@pytest.mark.parametrize("seed", range(5))
def test_gate_finds_known_trends(seed):
    up = _trend(1.0, 0.1, seed=seed)
    g = trend_gate(up, second_estimator=up + 0.05, second_dim=up * 1.1)
    assert g["verdict"] == "increase" and g["phase"] == "fitting"
    assert g["change"] == pytest.approx(2 / 3, abs=0.1)  # late-third mean minus early-third mean of a unit ramp
    down = _trend(-1.0, 0.1, seed=seed)
    g = trend_gate(down, second_estimator=down, second_dim=down)
    assert g["verdict"] == "decrease" and g["phase"] == "compression"
    assert trend_gate(down, second_estimator=down, second_dim=down, quantity="ly")["phase"] is None


def test_gate_refuses_noise_sign_flips_and_single_seeds():
    flat = _trend(0.0, 0.3, seed=1)
    g = trend_gate(flat, second_estimator=flat, second_dim=flat, factor=2.0)
    assert g["verdict"] == "no claim"
    # a change that flips sign under the second estimator
    up = _trend(1.0, 0.05)
    g = trend_gate(up, second_estimator=-up, second_dim=up)
    assert g["verdict"] == "no claim" and not g["sign_agrees"]
    # the seeds disagree: spread larger than the change
    mixed = np.vstack([_trend(1.0, 0.01)[:2], _trend(-1.2, 0.01)[:2]])
    assert trend_gate(mixed, second_estimator=mixed, second_dim=mixed)["verdict"] == "no claim"
    g = trend_gate(up[:1], second_estimator=up[:1], second_dim=up[:1])
    assert g["verdict"] == "no claim" and "seed" in g["reasons"][0]
    assert trend_gate(up)["verdict"] == "no claim"  # no second estimator / code dimension
    with pytest.raises(ValueError, match="'values' argument of trend_gate"):
        trend_gate(np.ones(5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    """The distance computations on the GPU give the bounds of the CPU (same trials: the passes run on the model's
    device, CPU here; only the arithmetic moves). Tolerance: float32 distances for decoding, float64 elsewhere."""
    x, y = _digits_like(80)
    model = PaperConvNet(noise_sigma=0.2, noise_kind="additive", in_shape=(1, 8, 8))
    cpu = xl_brackets(model, x, y, n_trials=300, n_estimate=100, n_replicas=4)
    gpu = xl_brackets(model, x, y, n_trials=300, n_estimate=100, n_replicas=4, device="cuda")
    for k in cpu:
        assert gpu[k]["xl_lower"] == pytest.approx(cpu[k]["xl_lower"], abs=1e-3)
        assert gpu[k]["xl_upper"] == pytest.approx(cpu[k]["xl_upper"], abs=1e-6)
        assert gpu[k]["errors_x"] == cpu[k]["errors_x"]


def test_a_decoder_bound_above_the_identification_bound_raises_the_lower_bound_on_i_xl():
    """I(X;L) >= I(L;Y) >= ly_lower (Y is a function of X): the row's xl_lower is the larger of the two,
    and says which; a smaller decoder bound leaves the identification bound alone."""
    from types import SimpleNamespace

    from ibscope.ib.analysis import _AnalysisSteps

    b = {"i_xl": float("nan"), "i_xl_lo": float("nan"), "i_xl_hi": float("nan"), "i_xl_method": "unresolved",
         "xl_lower": 1.5, "xl_upper": 9.21, "xl_lower_by": "fano_x", "xl_upper_by": "ln N",
         "ly_lower_ident": 0.4, "ly_upper": 2.3, "notes": []}
    rec = SimpleNamespace(h_y_=2.3)
    cells, _ = _AnalysisSteps._bracket_cells(rec, {"L5": b}, "L5", 1.9, 1.0)
    assert cells["xl_lower"] == 1.9 and cells["ly_lower"] == 1.9
    assert cells["xl_bounds_by"] == "I(L;Y) lower bound / ln N"
    cells, _ = _AnalysisSteps._bracket_cells(rec, {"L5": b}, "L5", 1.2, 1.0 / math.log(2))  # bits
    assert cells["xl_lower"] == pytest.approx(1.5 / math.log(2)) and cells["xl_bounds_by"] == "fano_x / ln N"
    assert cells["ly_lower"] == pytest.approx(1.2 / math.log(2))


def test_a_runs_flag_line_puts_contradictions_of_a_bound_before_notes():
    from ibscope.plane.flags import CONTRADICTIONS, FLAG_NAMES, flag_summary

    assert set(CONTRADICTIONS) <= set(FLAG_NAMES)
    assert flag_summary({}) == "sanity flags: no value contradicts a bound"
    line = flag_summary({"code_below_ly": 83, "xl_outside": 2, "below_bound": 74})
    assert line.startswith("sanity flags: values that contradict a bound: xl_outside: 2 rows; notes: ")
    assert "below_bound: 74, code_below_ly: 83" in line
    assert flag_summary({"saturated": 8}).startswith("sanity flags: no value contradicts a bound; notes: saturated: 8")
