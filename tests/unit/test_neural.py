"""Tests of the neural MI estimators (MINE-DV, NWJ, InfoNCE).

Ground truth comes from correlated Gaussians with closed-form MI. Runs are kept
small (a 2-layer, 32-unit critic, batch 128, a few hundred steps) so the file
runs in well under a minute on 2 CPU cores.

Tolerances. With n = 4000 and test_fraction = 0.5 the held-out standard error at
I = 1 nat is about 0.02 nats (measured: std_err 0.019-0.022). After 300 steps
the three bounds land within 0.02 nats of the truth on seeds 0-2 (measured:
MINE 0.993/1.013/1.016, NWJ 0.995/1.009/1.016, InfoNCE 0.982/1.005/1.002).
We allow |estimate - 1| < 0.25: over 10 standard errors, leaving room for the
gap between a variational bound and I (always >= 0) and for training-run
variation across seeds and platforms, while still catching a wrong formula
(the torchfd InfoNCE axis bug gives 0.47 at I = 1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from ibscope.estimators.neural import MINE, NWJ, ConcatCritic, InfoNCE, score_matrix
from ibscope.synthetic import correlated_gaussian

ESTIMATORS = [MINE, NWJ, InfoNCE]
FAST = dict(hidden_sizes=(32, 32), batch_size=64, lr=3e-3, eval_every=25)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny networks run faster on one thread, and a shared 2-core machine stays responsive."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def gauss_1nat():
    x, y, mi = correlated_gaussian(4000, 1, 1, 1.0, random_state=0)
    return x, y, mi


@pytest.fixture(scope="module")
def independent():
    rng = np.random.default_rng(1)
    return rng.standard_normal((4000, 2)), rng.standard_normal((4000, 2))


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize(
    "cls, critic",
    [(MINE, "mlp"), (NWJ, "mlp"), (InfoNCE, "mlp"), (InfoNCE, "separable")],
    ids=["mine-mlp", "nwj-mlp", "infonce-mlp", "infonce-separable"],
)
def test_recovers_one_nat(cls, critic, gauss_1nat):
    x, y, mi = gauss_1nat
    assert mi == pytest.approx(1.0)
    res = cls(critic=critic, max_steps=200, patience=None, ci=0.95, random_state=0, **FAST).estimate(x, y)
    assert abs(res.raw_value - mi) < 0.25, res
    assert res.units == "nats" and res.estimator == cls.name
    assert res.n_samples == 4000 and res.dim_x == 1 and res.dim_y == 1
    # held-out interval from the standard error
    assert 0 < res.std_err < 0.1
    assert res.ci_low < res.raw_value < res.ci_high
    z = norm.ppf(0.975)
    assert res.ci_high - res.ci_low == pytest.approx(2 * z * res.std_err, rel=1e-6)
    assert res.extra["n_test"] == 2000 and res.extra["n_val"] == 400 and res.extra["n_train"] == 1600


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.name)
def test_independence_gives_about_zero(cls, independent):
    x, y = independent
    res = cls(max_steps=100, random_state=0, **FAST).estimate(x, y)
    assert abs(res.raw_value) < 0.1, res
    assert res.value == max(res.raw_value, 0.0)
    assert res.clipped == (res.raw_value < 0)
    if res.raw_value < 0:  # the negative bound is kept, and said
        assert any("clipped" in w for w in res.warnings)


# ----------------------------------------------------------------------------- InfoNCE ceiling
def test_infonce_never_exceeds_log_batch_and_warns():
    # 20 nats spread over 8 pairs: trivially separable pairs, so InfoNCE saturates at log 16 = 2.77
    x, y, _ = correlated_gaussian(2000, 8, 8, 20.0, random_state=0)
    res = InfoNCE(critic="separable", hidden_sizes=(32,), batch_size=16, max_steps=200, eval_every=25,
                  lr=3e-3, ci=0.95, random_state=0).estimate(x, y)
    ceiling = math.log(16)
    assert res.extra["ceiling"] == pytest.approx(ceiling)
    assert res.raw_value <= ceiling + 1e-9
    assert res.ci_high <= ceiling + 1e-9
    assert all(c["heldout_estimate"] <= ceiling + 1e-9 for c in res.extra["training_curve"])
    assert res.raw_value > ceiling - 0.3
    assert any("ceiling" in w and "log(16)" in w for w in res.warnings)


def test_infonce_formula_on_known_scores():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(6, 6)) * 3
    terms = InfoNCE()._row_terms(torch.tensor(s)).numpy()[:, 0]
    expected = np.diag(s) - logsumexp(s, axis=1) + math.log(6)
    np.testing.assert_allclose(terms, expected, rtol=1e-12)
    assert np.all(terms <= math.log(6))
    # the true-critic value for a perfectly matched batch approaches log B
    big = np.full((6, 6), -50.0) + np.eye(6) * 100
    assert InfoNCE()._batch_value(torch.tensor(big)).item() == pytest.approx(math.log(6), abs=1e-9)


def test_dv_and_nwj_formulas_on_known_scores():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(5, 5))
    off = ~np.eye(5, dtype=bool)
    dv = np.mean(np.diag(s)) - math.log(np.mean(np.exp(s[off])))
    nwj = np.mean(np.diag(s)) - np.mean(np.exp(s[off] - 1))
    st = torch.tensor(s)
    assert MINE()._batch_value(st).item() == pytest.approx(dv, rel=1e-12)
    assert NWJ()._batch_value(st).item() == pytest.approx(nwj, rel=1e-12)
    # pooled held-out DV over row terms equals the batch bound, whatever the score offset
    est, se = MINE()._pooled(MINE()._row_terms(st + 700.0).numpy())
    assert est == pytest.approx(dv, rel=1e-9) and se > 0


def test_mine_ema_loss_gradient_matches_corrected_formula():
    s = torch.tensor(np.random.default_rng(2).normal(size=(4, 4)), requires_grad=True)
    est = MINE(ema_rate=0.01)
    state = {"log_ema": torch.tensor(math.log(3.0), dtype=torch.float64)}
    est._loss(s, state).backward()
    off = ~torch.eye(4, dtype=torch.bool)
    ema = (1 - 0.01) * 3.0 + 0.01 * torch.exp(s.detach())[off].mean().item()
    expected = torch.zeros(4, 4, dtype=torch.float64)
    expected[off] = torch.exp(s.detach())[off] / (12 * ema)
    expected -= torch.eye(4, dtype=torch.float64) / 4
    torch.testing.assert_close(s.grad, expected)
    assert math.exp(state["log_ema"].item()) == pytest.approx(ema)


# ----------------------------------------------------------------------------- reproducibility, curve
def test_deterministic_for_a_seed_and_global_rng_untouched(gauss_1nat):
    x, y, _ = gauss_1nat
    state = torch.get_rng_state()
    kw = dict(max_steps=40, eval_every=10, **{k: v for k, v in FAST.items() if k != "eval_every"})
    a = MINE(random_state=3, **kw).estimate(x, y)
    b = MINE(random_state=3, **kw).estimate(x, y)
    c = MINE(random_state=4, **kw).estimate(x, y)
    assert torch.equal(state, torch.get_rng_state())
    assert a.raw_value == b.raw_value and a.std_err == b.std_err
    assert a.extra["training_curve"] == b.extra["training_curve"]
    assert a.seed == 3 and c.raw_value != a.raw_value


def test_training_curve_and_stop_reason(gauss_1nat):
    x, y, _ = gauss_1nat
    res = NWJ(max_steps=60, eval_every=20, random_state=0, **{k: v for k, v in FAST.items() if k != "eval_every"}
              ).estimate(x, y)
    curve = res.extra["training_curve"]
    assert [c["step"] for c in curve] == [20, 40, 60]
    for row in curve:
        assert set(row) == {"step", "train_estimate", "val_estimate", "heldout_estimate"}
        assert all(math.isfinite(v) for v in row.values())
    assert res.extra["n_steps"] == 60 and res.extra["stop_reason"] == "max_steps"
    assert res.extra["kept_step"] in (20, 40, 60)
    res.to_json()  # the extra dict is serialisable


def test_without_validation_keeps_last_critic(gauss_1nat, capsys):
    x, y, _ = gauss_1nat
    res = InfoNCE(val_fraction=0.0, max_steps=30, eval_every=10, progress=True, random_state=0,
                  **{k: v for k, v in FAST.items() if k != "eval_every"}).estimate(x, y)
    assert res.extra["n_val"] == 0 and res.extra["n_train"] == 2000
    assert res.extra["kept_step"] == 30 and res.extra["best_val_estimate"] is None
    assert all(math.isnan(c["val_estimate"]) for c in res.extra["training_curve"])
    assert res.extra["training_curve"][-1]["heldout_estimate"] == pytest.approx(res.raw_value)


def test_early_stopping_on_validation(independent):
    x, y = independent
    res = InfoNCE(max_steps=2000, eval_every=10, patience=3, random_state=0, **{k: v for k, v in FAST.items()
                                                                              if k != "eval_every"}).estimate(x, y)
    assert res.extra["stop_reason"] == "early_stopping"
    assert res.extra["n_steps"] < 2000
    assert len(res.extra["training_curve"]) >= 4


def test_not_converged_warning():
    x, y, _ = correlated_gaussian(4000, 1, 1, 2.0, random_state=0)
    res = MINE(hidden_sizes=(32, 32), batch_size=64, lr=1e-4, max_steps=100, eval_every=10,
               random_state=0).estimate(x, y)
    assert any("did not converge" in w for w in res.warnings)


def test_units_bits_and_no_ci(gauss_1nat):
    x, y, _ = gauss_1nat
    kw = dict(max_steps=30, eval_every=10, random_state=0, **{k: v for k, v in FAST.items() if k != "eval_every"})
    nats = InfoNCE(**kw).estimate(x, y)
    bits = InfoNCE(units="bits", **kw).estimate(x, y)
    assert bits.units == "bits"
    assert bits.raw_value == pytest.approx(nats.raw_value / math.log(2))
    assert nats.ci_low is None and nats.ci_high is None and nats.ci_level is None
    assert nats.std_err is not None


# ----------------------------------------------------------------------------- critics and inputs
def _bump_images(latent: np.ndarray, size: int = 8) -> np.ndarray:
    g = np.linspace(0, 1, size)
    mu = norm.cdf(latent)  # (n, 2) in [0, 1]^2
    d2 = (g[None, :, None] - mu[:, 0, None, None]) ** 2 + (g[None, None, :] - mu[:, 1, None, None]) ** 2
    return np.exp(-10 * d2)


def test_conv_critic_on_tiny_images():
    xi, eta, _ = correlated_gaussian(800, 2, 2, 2.0, random_state=0)
    ix = _bump_images(xi)[:, None]          # (n, 1, 8, 8)
    iy = _bump_images(eta)                  # (n, 8, 8) is accepted as one channel
    res = MINE(critic="conv", conv_channels=(4, 8), hidden_sizes=(16,), batch_size=64, max_steps=30,
               eval_every=10, random_state=0).estimate(ix, iy)
    assert math.isfinite(res.raw_value)
    assert res.extra["input_shape_x"] == (1, 8, 8) and res.extra["input_shape_y"] == (1, 8, 8)
    assert res.dim_x == 64 and res.extra["critic_module"] == "ConcatCritic"
    # mixed input: image x, vector y; torch tensors accepted
    res2 = InfoNCE(critic="conv", conv_channels=(4,), hidden_sizes=(16,), batch_size=64, max_steps=20,
                   eval_every=10, random_state=0).estimate(torch.tensor(ix), torch.tensor(eta))
    assert math.isfinite(res2.raw_value) and res2.dim_y == 2


def test_mlp_critic_flattens_images():
    xi, eta, _ = correlated_gaussian(600, 2, 2, 1.0, random_state=0)
    res = NWJ(critic="mlp", hidden_sizes=(16,), batch_size=64, max_steps=20, eval_every=10,
              random_state=0).estimate(_bump_images(xi), eta)
    assert math.isfinite(res.raw_value) and res.dim_x == 64


def test_separable_and_factory_critics(gauss_1nat):
    x, y, _ = gauss_1nat
    kw = dict(batch_size=64, max_steps=20, eval_every=10, random_state=0)
    assert math.isfinite(InfoNCE(critic="separable", hidden_sizes=(16,), **kw).estimate(x, y).raw_value)

    class PairCritic(torch.nn.Module):  # forward only: the estimator builds the score matrix itself
        def __init__(self, dx, dy):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(dx + dy, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))

        def forward(self, a, b):
            return self.net(torch.cat([a, b], dim=1)).squeeze(-1)

    def factory(x_shape, y_shape):
        return PairCritic(x_shape[0], y_shape[0])

    state = torch.get_rng_state()
    r1 = MINE(critic=factory, **kw).estimate(x, y)
    r2 = MINE(critic=factory, **kw).estimate(x, y)
    assert torch.equal(state, torch.get_rng_state())
    assert math.isfinite(r1.raw_value) and r1.raw_value == r2.raw_value


def test_score_matrix_fallback_matches_fast_path():
    gen = torch.Generator().manual_seed(0)
    crit = ConcatCritic(torch.nn.Flatten(), torch.nn.Flatten(), 3, 2, (8, 8))
    x, y = torch.randn(5, 3, generator=gen), torch.randn(7, 2, generator=gen)
    fast = crit.score_matrix(x, y)

    class NoMatrix(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, a, b):
            return self.inner(a, b)

    torch.testing.assert_close(score_matrix(NoMatrix(crit), x, y), fast)
    torch.testing.assert_close(torch.diagonal(crit.score_matrix(x[:5], y[:5])), crit(x[:5], y[:5]))


# ----------------------------------------------------------------------------- bad input
def test_mismatched_lengths():
    with pytest.raises(ValueError, match="same number of rows.*Got 100 and 99"):
        MINE().estimate(np.zeros((100, 1)), np.zeros((99, 1)))


def test_too_few_samples_names_batch_size():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 1)), rng.normal(size=(300, 1))
    with pytest.raises(ValueError, match=r"batch_size=256.*n_samples=300.*Pass a smaller batch_size"):
        InfoNCE(batch_size=256).estimate(x, y)


@pytest.mark.parametrize("critic", ["transformer", 3])
def test_unknown_critic(critic):
    x = np.random.default_rng(0).normal(size=(600, 1))
    with pytest.raises((ValueError, TypeError), match="'critic' parameter of NWJ"):
        NWJ(critic=critic).estimate(x, x)


def test_conv_critic_needs_images():
    x = np.random.default_rng(0).normal(size=(600, 2))
    with pytest.raises(ValueError, match="'conv' critic of MINE needs image input"):
        MINE(critic="conv", batch_size=64).estimate(x, x)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"ema_rate": 0.0}, "'ema_rate' parameter of MINE"),
        ({"lr": -1.0}, "'lr' parameter of MINE"),
        ({"batch_size": 1}, "'batch_size' parameter of MINE"),
        ({"test_fraction": 1.0}, "'test_fraction' parameter of MINE"),
        ({"hidden_sizes": ()}, "'hidden_sizes' parameter of MINE"),
        ({"patience": 0}, "'patience' parameter of MINE"),
        ({"device": "nonsense"}, "'device' parameter of MINE"),
        ({"ci": 1.5}, "'ci' parameter of MINE"),
    ],
)
def test_bad_parameters(params, match):
    x = np.random.default_rng(0).normal(size=(600, 1))
    with pytest.raises((ValueError, TypeError), match=match):
        MINE(**params).estimate(x, x)


def test_bad_image_input():
    bad = np.zeros((10, 1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"'x' argument must be vectors .* or\s+images .* Got 5 dimensions"):
        MINE().estimate(bad, np.zeros((10, 1)))
    imgs = np.zeros((600, 1, 4, 4))
    imgs[3, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="'x' argument contains non-finite values"):
        MINE(critic="conv").estimate(imgs, np.zeros((600, 1)))


def test_params_are_stored_verbatim():
    est = MINE(lr=0.5, ema_rate=0.2, critic="separable")
    p = est.get_params()
    assert p["lr"] == 0.5 and p["ema_rate"] == 0.2 and p["critic"] == "separable"
    assert "ema_rate" not in NWJ().get_params()
    assert {"critic", "hidden_sizes", "batch_size", "max_steps", "test_fraction", "patience", "eval_every",
            "standardize", "device", "units", "ci", "random_state", "progress"} <= set(p)


