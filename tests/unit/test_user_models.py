"""Users' models and data: ``--model FILE.py:CALLABLE`` / ``module:callable``, ``--layers``, ``--list-layers``,
``--dataset npz:PATH``, the no-noise warning, and the residual net ``resnet-small``."""

from __future__ import annotations

import csv
import json
import math
import textwrap
import warnings

import numpy as np
import pytest
import torch

from ibscope.cli import main
from ibscope.data import load_dataset
from ibscope.ib import IBConfig, run_ib
from ibscope.nets import GaussianNoise, ResNetSmall, build_model, build_user_model, default_layers, noise_layers

#: a user's model file: a noisy MLP built with insert_noise. Its modules, noise inserted: 0 Flatten, 1 noise,
#: 2 Linear, 3 LeakyReLU, 4 noise, 5 Linear, 6 LeakyReLU, 7 noise, 8 Linear; the default layers are the ends
#: of the three Linear blocks: "3", "6", "8"
MODEL_PY = """
import math
from torch import nn
from ibscope.nets import insert_noise

def make_model(in_shape, n_classes, random_state=0, noise_sigma=1e-3):
    net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), 16), nn.LeakyReLU(0.01),
                        nn.Linear(16, 8), nn.LeakyReLU(0.01), nn.Linear(8, n_classes))
    return insert_noise(net, sigma=noise_sigma, random_state=random_state)

def deterministic(in_shape, n_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), 8), nn.ReLU(), nn.Linear(8, n_classes))

def not_a_module(in_shape, n_classes):
    return [1, 2, 3]

def needs_more(in_shape, n_classes, width):
    return nn.Linear(1, 1)

def wrong_output(in_shape, n_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), n_classes + 1))

NOT_CALLABLE = 3
"""

TINY = ["--dataset", "digits", "--epochs", "1", "--batch-size", "256", "--probe-size", "200", "--n-subsamples", "3",
        "--ci", "0.9", "--threads", "1", "--no-plots", "--quiet", "--seed", "0"]


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "my_model.py"
    path.write_text(textwrap.dedent(MODEL_PY))
    return path


def _info(out):
    with open(out / "info.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("ibscope: error: ") and "\n" not in err, err
    return err


# ------------------------------------------------------------------------------------------ model files
def test_user_model_file_runs_and_its_layers_obey_the_bounds(tmp_path, model_file, capsys):
    out = tmp_path / "run"
    assert main(["ib", "--model", f"{model_file}:make_model", *TINY, "--out", str(out)]) == 0
    rows = _info(out)
    # default layers of a user model: the end of each block with parameters (its activation), in forward order
    assert sorted({r["layer"] for r in rows}) == ["3", "6", "8"]
    h_y = math.log(10)
    for r in rows:
        i_xl, i_ly = float(r["i_xl_code"]), float(r["i_ly"])
        assert i_xl >= -0.05 and -0.05 <= i_ly <= h_y + 0.05
    record = json.loads((out / "config.json").read_text())
    src = record["sources"]["model"]
    assert src["path"] == str(model_file.resolve()) and len(src["sha256"]) == 64
    # same command, same numbers (seeded init, seeded noise)
    out2 = tmp_path / "run2"
    assert main(["ib", "--model", f"{model_file}:make_model", *TINY, "--out", str(out2)]) == 0
    assert [(r["i_xl"], r["i_ly"]) for r in _info(out2)] == [(r["i_xl"], r["i_ly"]) for r in rows]


def test_user_model_chosen_layers_and_list_layers(tmp_path, model_file, capsys):
    spec = f"{model_file}:make_model"
    assert main(["ib", "--model", spec, "--dataset", "digits", "--list-layers"]) == 0
    text = capsys.readouterr().out
    marked = [line.split()[1] for line in text.splitlines() if line.startswith("* ") and "analysed" not in line]
    assert marked == ["3", "6", "8"]
    assert "(64,)" in text and "(16,)" in text  # output shapes from the dry pass
    assert main(["ib", "--model", spec, "--dataset", "digits", "--list-layers", "--layers", "6"]) == 0
    text = capsys.readouterr().out
    assert [line.split()[1] for line in text.splitlines() if line.startswith("* ") and "analysed" not in line] == ["6"]
    assert not list(tmp_path.glob("run*"))  # --list-layers writes nothing

    out = tmp_path / "run"
    assert main(["ib", "--model", spec, *TINY, "--layers", "2,8", "--out", str(out)]) == 0
    assert sorted({r["layer"] for r in _info(out)}) == ["2", "8"]


def test_user_model_resume_refuses_a_changed_file(tmp_path, model_file, capsys):
    out = tmp_path / "run"
    assert main(["ib", "--model", f"{model_file}:make_model", *TINY, "--out", str(out)]) == 0
    model_file.write_text(model_file.read_text() + "\n# edited\n")
    assert main(["ib", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 2
    err = _error(capsys)
    assert "model file" in err and "has changed" in err
    assert len({r["epoch"] for r in _info(out)}) == 1  # nothing was added


def test_module_callable_spec(tmp_path, model_file, monkeypatch):
    monkeypatch.syspath_prepend(str(model_file.parent))
    model = build_user_model("my_model:make_model", in_shape=(1, 8, 8), n_classes=10, random_state=3)
    assert isinstance(model, torch.nn.Module)
    again = build_user_model(f"{model_file}:make_model", in_shape=(1, 8, 8), n_classes=10, random_state=3)
    # the torch generator is seeded with the run's seed while the callable runs: same weights both ways
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
    assert len(noise_layers(model)) == 3  # insert_noise: one before every Linear
    assert default_layers(model) == ["3", "6", "8"]


@pytest.mark.parametrize("callable_name, message", [
    ("missing_one", "has no 'missing_one'"),
    ("NOT_CALLABLE", "must be a callable"),
    ("not_a_module", "must return a torch.nn.Module. Got list instead."),
    ("needs_more", "requires parameter(s) ['width']"),
    ("wrong_output", "must return a float tensor of logits or log-probabilities of shape (batch, n_classes)"),
])
def test_bad_model_callables_fail_before_training(tmp_path, model_file, capsys, callable_name, message):
    out = tmp_path / "run"
    assert main(["ib", "--model", f"{model_file}:{callable_name}", *TINY, "--out", str(out)]) == 2
    assert message in _error(capsys)
    assert not (out / "info.csv").exists() and not (out / "metrics.csv").exists()


def test_missing_model_file_and_bad_spec(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["ib", "--model", f"{tmp_path}/nope.py:make_model", *TINY, "--out", str(out)]) == 2
    assert "nope.py" in _error(capsys) and not out.exists()
    assert main(["ib", "--model", "no_such_module_xyz:make", *TINY, "--out", str(out)]) == 2
    assert "no_such_module_xyz" in _error(capsys)


def test_unknown_layer_names_list_the_valid_ones(tmp_path, model_file, capsys):
    out = tmp_path / "run"
    assert main(["ib", "--model", f"{model_file}:make_model", *TINY, "--layers", "3,fc9", "--out", str(out)]) == 2
    err = _error(capsys)
    assert "fc9" in err and "8" in err  # the valid names are listed
    assert not (out / "info.csv").exists()
    assert main(["ib", "--model", "mlp", *TINY, "--layers", "L7", "--out", str(out)]) == 2
    err = _error(capsys)
    assert "L7" in err and "L1" in err


def test_no_noise_warning(tmp_path, model_file):
    cfg = IBConfig(dataset="digits", model=f"{model_file}:deterministic", epochs=1, batch_size=256, probe_size=200,
                   n_subsamples=3, ci=0.9, plots=False, threads=1, seed=0)
    with pytest.warns(RuntimeWarning, match="has no noise layer.*I\\(X;L\\) is degenerate.*insert_noise"):
        run_ib(cfg, out=tmp_path / "det")
    # a built-in model with --noise 0 is deterministic too; with noise on there is no warning
    with pytest.warns(RuntimeWarning, match="all with sigma=0"):
        run_ib(IBConfig(**{**cfg.to_dict(), "model": "mlp", "hidden": [16, 8], "noise": 0.0}), out=tmp_path / "z")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run_ib(IBConfig(**{**cfg.to_dict(), "model": f"{model_file}:make_model"}), out=tmp_path / "noisy")


# ------------------------------------------------------------------------------------------------ npz data
def _digits_npz(path, **changes):
    x_tr, y_tr = load_dataset("digits", "train")
    x_te, y_te = load_dataset("digits", "test")
    arrays = {"x_train": x_tr.reshape(len(x_tr), -1), "y_train": y_tr, "x_test": x_te.reshape(len(x_te), -1),
              "y_test": y_te}
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_npz_dataset_runs(tmp_path, model_file):
    data = _digits_npz(tmp_path / "digits.npz")
    out = tmp_path / "run"
    assert main(["ib", *TINY[2:], "--dataset", f"npz:{data}", "--model", "mlp",
                 "--out", str(out)]) == 0
    rows = _info(out)
    assert sorted({r["layer"] for r in rows}) == ["L1", "L2", "L3"]
    assert all(-0.05 <= float(r["i_ly"]) <= math.log(10) + 0.05 for r in rows)
    record = json.loads((out / "config.json").read_text())
    assert record["config"]["dataset"] == f"npz:{data.resolve()}"
    assert len(record["sources"]["dataset"]["sha256"]) == 64


@pytest.mark.parametrize("changes, message", [
    ({"y_test": None}, "lacks the array(s) ['y_test']"),
    ({"y_train": np.zeros(5, dtype=int)}, "must have the same number of rows"),
    ({"y_train": np.linspace(0, 1, 1437)}, "integer class labels"),
])
def test_bad_npz_fails_before_training(tmp_path, capsys, changes, message):
    data = _digits_npz(tmp_path / "bad.npz", **changes)
    out = tmp_path / "run"
    assert main(["ib", *TINY[2:], "--dataset", f"npz:{data}", "--model", "mlp", "--out", str(out)]) == 2
    assert message in _error(capsys)
    assert not (out / "info.csv").exists()
    assert main(["ib", *TINY[2:], "--dataset", f"npz:{tmp_path}/none.npz", "--out", str(out)]) == 2
    assert "does not exist" in _error(capsys)


# ------------------------------------------------------------------------------------------------ resnet
def test_resnet_small_shape_parameters_and_noise_before_every_conv():
    net = build_model("resnet-small", in_shape=(1, 28, 28), random_state=0)
    assert isinstance(net, ResNetSmall)
    n_params = sum(p.numel() for p in net.parameters())
    assert 300_000 <= n_params <= 1_000_000
    assert net.layer_names == ("stem", "block1", "block2", "block3", "block4", "head")
    # every conv / linear reads a noisy input: count the noise layers in front of each weight layer
    weights = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    noises = [m for m in net.modules() if isinstance(m, GaussianNoise)]
    assert len(noises) == 10 and all(n.sigma > 0 for n in noises)
    assert len(weights) >= 10  # 1 stem + 2 per block + shortcut convs + head
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    net.eval()
    with torch.no_grad():
        a, b = net(x), net(x)
    assert a.shape == (4, 10) and torch.allclose(a.exp().sum(1), torch.ones(4), atol=1e-5)
    assert not torch.equal(a, b)  # noise stays on in eval mode
    quiet = build_model("resnet-small", in_shape=(1, 28, 28), random_state=0, noise_sigma=0.0).eval()
    with torch.no_grad():
        assert torch.equal(quiet(x), quiet(x))
    shapes = net.output_shapes()
    assert shapes["stem"] == (16, 28, 28) and math.prod(shapes["stem"]) == 12_544 and shapes["head"] == (10,)


def test_resnet_small_on_digits_runs(tmp_path):
    out = tmp_path / "run"
    assert main(["ib", *TINY, "--model", "resnet-small", "--layers", "block3,head", "--out", str(out)]) == 0
    rows = _info(out)
    assert sorted({r["layer"] for r in rows}) == ["block3", "head"]
    assert all(-0.05 <= float(r["i_ly"]) <= math.log(10) + 0.05 for r in rows)
