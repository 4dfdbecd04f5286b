"""Tests for ibscope.nets: noise layers, insert_noise, the paper's conv net, MLP, registry."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ibscope.nets import (
    MLP,
    AdditiveGaussianNoise,
    GaussianNoise,
    PaperConvNet,
    RelativeGaussianNoise,
    available_models,
    build_model,
    derive_seed,
    get_noise_rng_state,
    insert_noise,
    noise_layers,
    reseed_noise,
    set_noise,
    set_noise_rng_state,
)


def capture(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    outs, handles = {}, []
    for name in model.layer_names:
        handles.append(model.get_submodule(name).register_forward_hook(
            lambda _m, _i, o, name=name: outs.__setitem__(name, o)))
    model(x)
    for h in handles:
        h.remove()
    return outs


# ------------------------------------------------------------------------------------------ noise layers


def test_relative_noise_std_is_sigma_times_abs_x():
    sigma = 0.05
    x = torch.tensor([-3.0, 0.5, 2.0], dtype=torch.float64).repeat(20_000, 1)
    y = RelativeGaussianNoise(sigma, random_state=1)(x)
    rel = (y - x) / x  # = sigma * eps
    torch.testing.assert_close(rel.std(0), torch.full((3,), sigma, dtype=torch.float64), rtol=0.03, atol=0)
    assert rel.mean().abs() < 5 * sigma / rel.numel() ** 0.5
    torch.testing.assert_close((y - x).std(0), sigma * x[0].abs(), rtol=0.03, atol=0)
    assert torch.all(GaussianNoise(sigma, kind="relative")(torch.zeros(10)) == 0)  # 0 stays 0


def test_additive_noise_std_is_sigma():
    sigma = 0.3
    x = torch.tensor([-3.0, 0.0, 2.0], dtype=torch.float64).repeat(20_000, 1)
    noise = AdditiveGaussianNoise(sigma, random_state=2)(x) - x
    torch.testing.assert_close(noise.std(0), torch.full((3,), sigma, dtype=torch.float64), rtol=0.03, atol=0)
    assert noise.mean().abs() < 5 * sigma / noise.numel() ** 0.5


@pytest.mark.parametrize("kind", ["relative", "additive"])
def test_noise_off_when_sigma_zero(kind):
    layer = GaussianNoise(0.0, kind=kind)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    assert layer(x) is x
    assert not layer.is_active


@pytest.mark.parametrize("kind", ["relative", "additive"])
def test_active_in_eval(kind):
    x = torch.ones(50, 3)
    on = GaussianNoise(0.1, kind=kind, active_in_eval=True).eval()
    assert not torch.equal(on(x), x)
    off = GaussianNoise(0.1, kind=kind, active_in_eval=False).eval()
    assert off(x) is x
    off.train()
    assert not torch.equal(off(x), x)


def test_seeded_noise_is_reproducible_and_private():
    x = torch.ones(1000)
    state = torch.get_rng_state()
    a, b, c = GaussianNoise(0.1, random_state=7), GaussianNoise(0.1, random_state=7), GaussianNoise(0.1, random_state=8)
    ya1, ya2 = a(x), a(x)
    assert torch.equal(ya1, b(x)) and torch.equal(ya2, b(x))  # same stream, call by call
    assert not torch.equal(ya1, ya2)  # fresh noise each pass
    assert not torch.equal(ya1, c(x))
    a.reseed(7)
    assert torch.equal(a(x), ya1)
    assert torch.equal(state, torch.get_rng_state())  # global RNG neither used nor changed


def test_rng_state_round_trip_and_deepcopy():
    layer = GaussianNoise(0.1, random_state=3)
    x = torch.ones(100)
    layer(x)
    saved = layer.get_rng_state()
    twin = copy.deepcopy(layer)
    expected = layer(x)
    assert torch.equal(twin(x), expected)
    fresh = GaussianNoise(0.1, random_state=99)
    fresh.set_rng_state(saved)
    assert fresh.seed == 3 and torch.equal(fresh(x), expected)


def test_noise_keeps_dtype_and_shape():
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    y = GaussianNoise(0.1)(x)
    assert y.shape == x.shape and y.dtype == torch.float64


def test_noise_validation():
    with pytest.raises(ValueError,
                       match=r"'sigma' parameter of GaussianNoise must be a float in the range \[0.0, inf\]"):
        GaussianNoise(-0.1)
    with pytest.raises(ValueError,
                       match=r"'kind' parameter of GaussianNoise must be one of \['additive', 'normalized', 'relative'\]"):
        GaussianNoise(0.1, kind="uniform")
    with pytest.raises(TypeError, match="'seed' parameter of GaussianNoise must be a non-negative int"):
        GaussianNoise(0.1, seed=1.5)
    with pytest.raises(TypeError, match="needs a floating-point input; got dtype torch.int64"):
        GaussianNoise(0.1)(torch.arange(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_noise_on_cuda():
    layer = GaussianNoise(0.1, random_state=5)
    x = torch.ones(1000, device="cuda")
    y1 = layer(x)
    assert y1.device.type == "cuda"
    layer.reseed(5)
    assert torch.equal(layer(x), y1)
    assert "cuda:0" in layer.get_rng_state()["states"]


# ------------------------------------------------------------------------------------------ insert_noise


def toy_sequential():
    return nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.ReLU(),
        nn.Sequential(nn.Flatten(), nn.Linear(2 * 6 * 6, 8), nn.ReLU(), nn.Linear(8, 3)),
    )


def test_insert_noise_counts_and_order():
    model = toy_sequential()
    x = torch.rand(4, 1, 8, 8)
    out_before = model(x)
    assert insert_noise(model, 0.01, random_state=1) is model
    assert [type(m).__name__ for m in model] == ["GaussianNoise", "Conv2d", "ReLU", "Sequential"]
    assert [type(m).__name__ for m in model[3]] == ["Flatten", "GaussianNoise", "Linear", "ReLU",
                                                     "GaussianNoise", "Linear"]
    names = [n for n, _ in noise_layers(model)]
    assert names == ["0", "3.1", "3.4"]
    seeds = [m.seed for _, m in noise_layers(model)]
    assert seeds == [derive_seed(1, i) for i in range(3)] and len(set(seeds)) == 3
    assert all(m.sigma == 0.01 and m.kind == "relative" and m.active_in_eval for _, m in noise_layers(model))
    # Tiny noise barely moves the output; zero noise reproduces it exactly.
    set_noise(model, sigma=0.0)
    torch.testing.assert_close(model(x), out_before)
    # Idempotent: a second call does not stack noise.
    insert_noise(model, 0.01)
    assert len(noise_layers(model)) == 3


def test_insert_noise_by_type_and_name():
    model = toy_sequential()
    insert_noise(model, 0.1, kind="additive", before=nn.Linear)
    assert [n for n, _ in noise_layers(model)] == ["2.1", "2.4"]
    assert all(m.kind == "additive" for _, m in noise_layers(model))

    model = toy_sequential()
    insert_noise(model, 0.1, before=["2.3"])
    assert [n for n, _ in noise_layers(model)] == ["2.3"]
    assert isinstance(model[2][4], nn.Linear) and model[2][4].in_features == 8


def test_insert_noise_wraps_non_sequential_children():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 5)
            self.fc2 = nn.Linear(5, 2)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    net = insert_noise(Net(), 0.1, before=["fc2"])
    assert isinstance(net.fc2, nn.Sequential) and isinstance(net.fc2[0], GaussianNoise)
    assert net(torch.ones(3, 4)).shape == (3, 2)
    assert [n for n, _ in noise_layers(net)] == ["fc2.0"]


def test_insert_noise_errors():
    model = toy_sequential()
    with pytest.raises(ValueError, match=r"names module\(s\) \['conv9'\] that do not exist in Sequential\. "
                                         r"Valid names are \['0', '1', '2', '2.0', '2.1'"):
        insert_noise(model, 0.1, before=["0", "conv9"])
    with pytest.raises(TypeError, match="must be nn.Module subclasses or module names"):
        insert_noise(model, 0.1, before=[nn.Linear, "0"])
    with pytest.raises(ValueError, match="'before' argument of insert_noise is empty"):
        insert_noise(model, 0.1, before=[])
    with pytest.warns(UserWarning, match="found no layer matching"):
        insert_noise(model, 0.1, before=nn.Conv1d)
    assert noise_layers(model) == []


def test_reseed_and_rng_state_of_a_model():
    model = PaperConvNet(noise_sigma=0.1, dropout=0.0)
    x = torch.rand(2, 1, 28, 28)
    state = get_noise_rng_state(model)
    y1 = model(x)
    set_noise_rng_state(model, state)
    assert torch.equal(model(x), y1)
    reseed_noise(model, 0)
    assert torch.equal(model(x), y1)  # reseed_noise(seed) matches construction with that seed
    with pytest.raises(ValueError, match="lacks"):
        set_noise_rng_state(model, {"nope": state["L1.1"]})


# ------------------------------------------------------------------------------------------ models


@pytest.mark.parametrize(
    ("in_shape", "expected"),
    [
        ((1, 28, 28), {"L1": (8, 13, 13), "L2": (16, 5, 5), "L3": (32,), "L4": (32,), "L5": (10,)}),
        ((1, 8, 8), {"L1": (8, 4, 4), "L2": (16, 2, 2), "L3": (32,), "L4": (32,), "L5": (10,)}),
    ],
)
def test_paper_conv_layer_shapes(in_shape, expected):
    model = PaperConvNet(in_shape=in_shape).eval()
    assert model.layer_names == ("L1", "L2", "L3", "L4", "L5")
    assert model.padding == (0 if in_shape[1] == 28 else 1)
    outs = capture(model, torch.rand(3, *in_shape))
    assert {k: tuple(v.shape[1:]) for k, v in outs.items()} == expected


def test_paper_conv_structure_matches_table():
    model = PaperConvNet()
    kinds = {name: [type(m).__name__ for m in model.get_submodule(name)] for name in model.layer_names}
    conv = ["Dropout", "GaussianNoise", "Conv2d", "MaxPool2d", "LeakyReLU"]
    assert kinds["L1"] == conv and kinds["L2"] == conv and kinds["L3"] == conv + ["Flatten"]
    assert kinds["L4"] == ["GaussianNoise", "Linear", "LeakyReLU"]
    assert kinds["L5"] == ["GaussianNoise", "Linear", "LogSoftmax"]
    noise = [m for _, m in model.noise_layers()]
    assert len(noise) == 5 and all(m.sigma == 1e-3 and m.kind == "relative" and m.active_in_eval for m in noise)
    assert model.L1[0].p == 0.1
    assert [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)] == [8, 16, 32]
    assert sum(p.numel() for p in model.parameters()) == 80 + 1168 + 4640 + 1056 + 330


def test_log_softmax_rows_sum_to_one():
    for model, x in ((PaperConvNet(), torch.rand(6, 1, 28, 28)),
                     (PaperConvNet(in_shape=(1, 8, 8), n_classes=4), torch.rand(6, 1, 8, 8)),
                     (MLP(64, hidden=(16, 8), n_classes=5), torch.rand(6, 1, 8, 8))):
        out = model.eval()(x)
        torch.testing.assert_close(out.exp().sum(1), torch.ones(6))


def test_deterministic_init():
    state = torch.get_rng_state()
    a, b, c = PaperConvNet(random_state=3), PaperConvNet(random_state=3), PaperConvNet(random_state=4)
    assert torch.equal(state, torch.get_rng_state())
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(va, vb), k
        assert not torch.equal(va, vc), k
    torch.manual_seed(123)  # the global seed plays no part
    d = PaperConvNet(random_state=3)
    assert all(torch.equal(v, d.state_dict()[k]) for k, v in a.state_dict().items())
    # Weights follow PyTorch's default range U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    w = a.L2[2].weight
    bound = 1 / (8 * 9) ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    a.reset_parameters(4)
    assert torch.equal(a.L2[2].weight, c.L2[2].weight)


def test_model_noise_reproducible_and_switchable():
    x = torch.rand(4, 1, 28, 28)
    a, b = PaperConvNet(noise_sigma=0.05, dropout=0.0, random_state=1), PaperConvNet(noise_sigma=0.05, dropout=0.0, random_state=1)
    assert torch.equal(a.eval()(x), b.eval()(x))
    assert not torch.equal(a(x), a(x))  # noise on in eval, fresh per pass
    quiet = PaperConvNet(noise_sigma=0.05, random_state=1, active_in_eval=False).eval()
    assert torch.equal(quiet(x), quiet(x))
    silent = PaperConvNet(noise_sigma=0.0, random_state=1, dropout=0.5).eval()
    assert torch.equal(silent(x), silent(x))


def test_mlp_layers():
    model = MLP((1, 28, 28), hidden=(32, 16, 8), n_classes=10, noise_sigma=0.01, noise_kind="additive", random_state=0)
    assert model.in_dim == 784 and model.layer_names == ("L1", "L2", "L3", "L4")
    outs = capture(model, torch.rand(5, 1, 28, 28))
    assert [tuple(v.shape) for v in outs.values()] == [(5, 32), (5, 16), (5, 8), (5, 10)]
    assert all(m.kind == "additive" for _, m in model.noise_layers()) and len(model.noise_layers()) == 4
    m2 = MLP(784, hidden=(32, 16, 8), noise_sigma=0.01, noise_kind="additive", random_state=0)
    assert all(torch.equal(v, m2.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match=r"MLP expects input of shape \(n, \.\.\.\) with 784 features"):
        model(torch.rand(5, 10))


def test_model_validation():
    with pytest.raises(ValueError, match=r"PaperConvNet expects input of shape \(n, 1, 28, 28\)"):
        PaperConvNet()(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="too small for PaperConvNet with padding=0"):
        PaperConvNet(in_shape=(1, 8, 8), padding=0)
    with pytest.raises(ValueError, match="'in_shape' parameter of PaperConvNet must be"):
        PaperConvNet(in_shape=(28, 28))
    with pytest.raises(ValueError, match="'noise_kind' parameter of PaperConvNet must be one of"):
        PaperConvNet(noise_kind="laplace")


def test_build_model_registry():
    assert available_models() == ["mlp", "paper-conv", "resnet-small"]
    assert isinstance(build_model("paper-conv", in_shape=(1, 8, 8)), PaperConvNet)
    assert isinstance(build_model("Paper_Conv"), PaperConvNet)
    m = build_model("mlp", in_dim=64, hidden=(8,), n_classes=3)
    assert isinstance(m, MLP) and m.layer_names == ("L1", "L2")
    with pytest.raises(ValueError, match=r"Unknown model 'resnet'. Valid names are \['mlp', 'paper-conv', 'resnet-small'\]"):
        build_model("resnet")
