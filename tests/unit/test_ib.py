"""Information-bottleneck runs: capture, analysis, run folder, resume, config, CLI and plots.

Everything runs on the bundled 8x8 digits with tiny models and a few epochs, so
the module takes well under a minute on 2 CPU cores. The kill-with-SIGKILL
test and the timed README run are marked slow.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ibscope.cli import main
from ibscope.data import load_dataset, normalize
from ibscope.ib import (
    INFO_COLUMNS,
    METRICS_COLUMNS,
    ActivationRecorder,
    Callback,
    IBConfig,
    IBRecorder,
    RunFolderError,
    epoch_schedule,
    flag_rows,
    log_schedule,
    run_ib,
)
from ibscope.nets import MLP, PaperConvNet

# ----------------------------------------------------------------------------------------------- helpers
#: rows per analysed epoch of the tiny MLP run
_LAYERS = ("L1", "L2", "L3")


def _tiny(**kw) -> IBConfig:
    """A run that takes about a second per epoch: MLP 64-16-8-10 on digits, 200 probe images."""
    params = dict(dataset="digits", model="mlp", hidden=[16, 8], epochs=2, batch_size=256, probe_size=200,
                  n_subsamples=3, ci=0.9, plots=False, threads=1, seed=0)
    params.update(kw)
    return IBConfig(**params)


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _epochs(path: Path) -> list[int]:
    return [int(r["epoch"]) for r in _read(path)]


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def probe():
    x, y = load_dataset("digits", "test")
    return torch.as_tensor(normalize(x[:120], "digits")), y[:120]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A completed 3-epoch run (shared by the file and plot tests)."""
    out = tmp_path_factory.mktemp("ib") / "run"
    # the paper's noise: the MLP learns in 3 epochs (under the default normalized noise it needs more)
    res = run_ib(_tiny(epochs=3, noise=1e-3, noise_kind="relative"), out=out)
    return out, res


# ----------------------------------------------------------------------------------------------- capture
def test_capture_shapes_alignment_and_dtype(probe):
    x, y = probe
    model = PaperConvNet(in_shape=(1, 8, 8), random_state=0)
    rec = ActivationRecorder(model)
    acts = rec.capture(x, y, batch_size=32)
    assert rec.layers == ("L1", "L2", "L3", "L4", "L5")
    expected = {"L1": 8 * 4 * 4, "L2": 16 * 2 * 2, "L3": 32, "L4": 32, "L5": 10}
    for name, dim in expected.items():
        assert acts.layers[name].shape == (120, dim)
        assert acts.layers[name].dtype == np.float32
    assert acts.shapes["L1"] == (8, 4, 4)
    np.testing.assert_array_equal(acts.index, np.arange(120))
    np.testing.assert_array_equal(acts.y, y)
    # the batches were streamed into preallocated arrays in order: L5 of row i is the log-softmax of image i
    assert np.allclose(np.exp(acts.layers["L5"]).sum(axis=1), 1.0, atol=1e-5)
    assert model.training  # mode restored


def test_capture_rows_match_the_models_own_output():
    """Without noise, the captured last layer equals model(x) row by row (no shuffling, no mix-up)."""
    x, y = load_dataset("digits", "test")
    x = torch.as_tensor(normalize(x[:50], "digits"))
    model = MLP((1, 8, 8), hidden=(12,), noise_sigma=0.0, random_state=3)
    acts = ActivationRecorder(model, ["L1", "L2"], capture_input=True).capture(x, y[:50], batch_size=7)
    model.eval()
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(acts.layers["L2"], ref, rtol=1e-6)
    np.testing.assert_array_equal(acts.x, x.reshape(50, -1).numpy())


def test_recorder_update_compute_reset(probe):
    x, y = probe
    model = MLP((1, 8, 8), hidden=(8,), random_state=0)
    rec = ActivationRecorder(model, ["L1"], n_samples=120)
    with pytest.warns(UserWarning, match="before any update"):
        rec.compute()
    rec.update(x[:70], y[:70])
    with pytest.raises(ValueError, match="recorded 70 rows but was sized for n_samples=120"):
        rec.compute()
    rec.update(x[70:], y[70:])
    acts = rec.compute()
    assert acts.layers["L1"].shape == (120, 8) and rec.n_seen == 120
    with pytest.raises(ValueError, match="sized for n_samples=120"):
        rec.update(x[:1], y[:1])
    rec.reset()
    assert rec.n_seen == 0
    rec.update(x[:5], y[:5])
    with pytest.raises(ValueError, match="for every batch or for none"):
        rec.update(x[5:10])


def test_unknown_layer_name_lists_valid_names():
    model = PaperConvNet(in_shape=(1, 8, 8), random_state=0)
    with pytest.raises(ValueError, match=r"Unknown layer name\(s\) \['L9'\] for ActivationRecorder on "
                                         r"PaperConvNet\. Valid names: L1, L2, L3, L4, L5, "):
        ActivationRecorder(model, ["L1", "L9"])


def test_misaligned_rows_are_detected(probe):
    x, y = probe
    acts = ActivationRecorder(MLP((1, 8, 8), hidden=(8,), random_state=0)).capture(x, y)
    acts.check_aligned(index=np.arange(120), labels=y)
    with pytest.raises(AssertionError, match="not the probe rows in probe order"):
        acts.check_aligned(index=np.random.default_rng(0).permutation(120))
    with pytest.raises(AssertionError, match="misaligned"):
        acts.check_aligned(labels=np.roll(y, 1))


# ----------------------------------------------------------------------------------------------- analysis
def test_log_schedule():
    assert log_schedule(40) == [1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, 40]
    assert epoch_schedule("log", 7) == [1, 2, 3, 4, 5, 6, 7]
    assert epoch_schedule("every", 3) == [1, 2, 3]


def test_sanity_flags():
    h_y = math.log(10)
    rows = [
        # I(L;Y) = 2.5 nats > ln 10 beyond its CI, like the early MNIST run of the reference code
        dict(i_xl_raw=3.0, i_xl_lo=2.9, i_xl_hi=3.1, i_ly_raw=2.5, i_ly_lo=2.4, i_ly_hi=2.6),
        # negative I(X;L); I(L;Y) above H(Y) but within its CI: not flagged
        dict(i_xl_raw=-0.2, i_xl_lo=-0.4, i_xl_hi=0.0, i_ly_raw=2.32, i_ly_lo=2.2, i_ly_hi=2.45),
        # deeper layer above the previous one beyond both CIs: data-processing inequality
        dict(i_xl_raw=1.0, i_xl_lo=0.9, i_xl_hi=1.1, i_ly_raw=2.0, i_ly_lo=1.9, i_ly_hi=2.1),
        dict(i_xl_raw=1.05, i_xl_lo=0.8, i_xl_hi=1.3, i_ly_raw=-0.01, i_ly_lo=None, i_ly_hi=None),
    ]
    flag_rows(rows, h_y)
    assert rows[0]["flags"] == "ly_above_hy"
    assert rows[1]["flags"] == "xl_below_ly;xl_negative"  # I(X;L) <= 0 below I(L;Y) ~ 2.3: impossible
    assert rows[2]["flags"] == "xl_below_ly;dpi_xl"
    assert rows[3]["flags"] == "ly_negative"  # overlapping CIs: no DPI flag


def test_bracket_flags():
    """Every row that contradicts its own bracket, the layer order or ln N is flagged; a saturated one too."""
    ln_n = math.log(360)
    common = dict(xl_upper=ln_n, ly_lower=0.5, ly_upper=math.log(10), h_y=math.log(10))
    rows = [
        # an estimate outside its bracket; the code MI above what any X;L can carry (ln N)
        dict(common, xl_lower=3.0, i_xl_raw=2.5, i_xl_lo=2.4, i_xl_hi=2.6, i_xl_code_raw=6.5, i_xl_code_lo=6.2,
             i_xl_code_hi=6.8, i_ly_raw=1.0, i_ly_lo=0.9, i_ly_hi=1.1),
        # no estimate (unresolved): nothing wrong with a lower bound below I(L;Y); a saturated layer
        dict(common, xl_lower=ln_n - 0.05, i_xl_raw=None, i_xl_code_raw=1.0, i_xl_code_lo=0.9, i_xl_code_hi=1.1,
             i_ly_raw=1.0, i_ly_lo=0.9, i_ly_hi=1.1),
        # the code MI below I(L;Y) beyond both intervals, I(L;Y) above its bracket
        dict(common, xl_lower=1.0, xl_upper=1.5, ly_upper=1.5, i_xl_raw=None, i_xl_code_raw=0.5, i_xl_code_lo=0.4,
             i_xl_code_hi=0.6, i_ly_raw=1.8, i_ly_lo=1.7, i_ly_hi=1.9),
    ]
    flag_rows(rows, ln_n=ln_n)
    assert rows[0]["flags"] == "xl_outside;code_above_bracket"
    assert rows[1]["flags"] == "saturated;dpi_code" or rows[1]["flags"] == "saturated"
    assert set(rows[2]["flags"].split(";")) >= {"code_below_ly", "ly_above_bracket", "xl_below_ly"}


def test_ib_recorder_in_a_users_loop(probe):
    """IBRecorder works from a hand-written loop; layer PCA is fitted once and kept."""
    x, y = probe
    model = MLP((1, 8, 8), hidden=(16, 8), random_state=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rec = IBRecorder(x, y, compress="pca:3", compress_x="pca:3", ci=None, random_state=0)
    comps = None
    for epoch in (1, 2):
        model.train()
        opt.zero_grad()
        torch.nn.functional.nll_loss(model(x), torch.as_tensor(y)).backward()
        opt.step()
        rows = rec.on_epoch_end(model, epoch)
        assert [r["layer"] for r in rows] == ["L1", "L2", "L3"]
        assert set(rows[0]) == set(INFO_COLUMNS)
        assert all(r["fit_epoch"] == 1 and r["refit"] == "first" and r["dim_code"] == 3 for r in rows)
        if comps is None:
            comps = dict(rec.layer_compressors_)
        else:
            assert all(rec.layer_compressors_[k] is comps[k] for k in comps)
        for r in rows:
            assert math.isfinite(r["i_xl_code_raw"]) and math.isfinite(r["i_ly_raw"])
            assert r["h_y"] == pytest.approx(rec.h_y_)
    every = IBRecorder(x, y, compress="pca:3", ci=None, refit="every", layers=["L2"], random_state=0)
    every.on_epoch_end(model, 1)
    first = every.layer_compressors_["L2"]
    assert every.on_epoch_end(model, 2)[0]["fit_epoch"] == 2 and every.layer_compressors_["L2"] is not first


def test_softmax_row_and_roc_auc(probe):
    """exp of the log-softmax layer is analysed after it; the ROC-AUC helper matches scikit-learn's definition."""
    from sklearn.metrics import roc_auc_score

    from ibscope.ib.trainer import roc_auc_ovo

    x, y = probe
    model = MLP((1, 8, 8), hidden=(8,), random_state=0)
    rows = IBRecorder(x, y, softmax=True, compress="pca:4", ci=None, random_state=0).on_epoch_end(model, 1)
    assert [r["layer"] for r in rows] == ["L1", "L2", "exp(L2)"]
    assert rows[2]["dim_layer"] == 10 and rows[2]["layer_index"] == 2
    # I(L;Y) of the probabilities cannot exceed H(Y)
    assert rows[2]["i_ly"] <= rows[2]["h_y"] + 0.1
    fresh = MLP((1, 8, 8), hidden=(8,), random_state=0)  # same weights and noise streams as ``model`` had
    off = IBRecorder(x, y, ci=None, random_state=0).on_epoch_end(fresh, 1)
    assert [r["layer"] for r in off] == ["L1", "L2"]
    assert [r["i_xl"] for r in off] == [r["i_xl"] for r in rows[:2]]  # the extra row changes nothing else
    with pytest.raises(TypeError, match="'softmax' argument of IBRecorder must be a bool"):
        IBRecorder(x, y, softmax="yes")

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    logits = rng.standard_normal((120, 3)) + 1.5 * np.eye(3)[labels]
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expect = roc_auc_score(labels, np.exp(logp), multi_class="ovo")
    assert roc_auc_ovo(logp, labels) == pytest.approx(expect)
    assert 0.7 < expect < 1.0
    perfect = np.log(np.clip(np.eye(3)[labels], 1e-9, None))
    assert roc_auc_ovo(perfect, labels) == pytest.approx(1.0)
    assert math.isnan(roc_auc_ovo(logp[:40], labels[:40]))  # one class: undefined, not an error


def test_small_layers_are_used_as_is(probe):
    x, y = probe
    model = MLP((1, 8, 8), hidden=(3,), random_state=0)
    rows = IBRecorder(x, y, compress="pca:4", ci=None, random_state=0).on_epoch_end(model, 1)
    assert rows[0]["dim_layer"] == 3 and rows[0]["dim_code"] == 3 and rows[0]["compressor"] == "none"
    assert rows[1]["dim_layer"] == 10 and rows[1]["dim_code"] == 4 and rows[1]["compressor"] == "pca:4"


# ----------------------------------------------------------------------------------------------- run folder
def test_run_folder_files_and_columns(finished_run):
    out, res = finished_run
    for name in ("config.json", "metrics.csv", "info.csv", "checkpoints/last.pt", "checkpoints/start.pt",
                 "summary.json"):
        assert (out / name).is_file(), name
    assert not (out / "compressors").exists()  # the fitted compressors travel in the checkpoint
    with open(out / "metrics.csv", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == list(METRICS_COLUMNS)
    with open(out / "info.csv", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == list(INFO_COLUMNS)
    assert _epochs(out / "metrics.csv") == [1, 2, 3]
    for m in _read(out / "metrics.csv"):
        assert 0.5 < float(m["test_auc"]) <= 1.0 and 0.0 < float(m["train_auc"]) <= 1.0
        parts = float(m["train_s"]) + float(m["eval_s"]) + float(m["analysis_s"])
        # analysis_s is what the recorder measured; time_s adds only the callbacks' bookkeeping before the writer
        assert parts <= float(m["time_s"]) < parts + 0.05 and float(m["analysis_s"]) > 0
    info = _read(out / "info.csv")
    assert [(int(r["epoch"]), r["layer"]) for r in info] == [(e, n) for e in (1, 2, 3) for n in _LAYERS]
    r = info[-1]
    assert r["units"] == "nats" and int(r["n"]) == 200 and int(r["k"]) == 5 and r["refit"] == "first"
    assert float(r["i_xl_code_lo"]) <= float(r["i_xl_code_raw"]) <= float(r["i_xl_code_hi"])
    assert float(r["xl_lower"]) <= float(r["xl_upper"]) == pytest.approx(math.log(200))
    record = json.loads((out / "config.json").read_text())
    assert record["config"]["seed"] == 0 and record["config"]["lr"] == 1e-3 and record["device"] == "cpu"
    assert record["versions"]["torch"] and record["versions"]["numpy"]
    assert record["probe"] == {"split": "test", "n": 200}
    assert res.epochs_run == [1, 2, 3] and "test accuracy" in res.summary()


def test_rows_are_on_disk_when_each_epoch_ends(tmp_path):
    seen = []

    class Peek(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append((epoch, _epochs(trainer.out / "metrics.csv"), sorted(set(_epochs(trainer.out / "info.csv")))))

    run_ib(_tiny(epochs=2, schedule="every"), out=tmp_path / "run", callbacks=[Peek()])
    assert seen == [(1, [1], [1]), (2, [1, 2], [1, 2])]


class _Crash(Callback):
    """Raise in epoch ``epoch``: mid-epoch (after a batch) or after its rows were written."""

    def __init__(self, epoch, where):
        self.epoch, self.where = epoch, where

    def on_batch_end(self, trainer, epoch, batch, loss):
        if self.where == "batch" and epoch == self.epoch and batch == 1:
            raise KeyboardInterrupt("simulated kill mid-epoch")

    def on_epoch_end(self, trainer, epoch, logs):
        if self.where == "rows" and epoch == self.epoch:
            raise KeyboardInterrupt("simulated kill after the rows, before the checkpoint")


@pytest.mark.parametrize("where", ["batch", "rows"])
def test_resume_after_a_crash_gives_each_epoch_once_and_the_same_numbers(tmp_path, where):
    cfg = _tiny(epochs=2, batch_size=128)
    out = tmp_path / "run"
    run_ib(cfg, out=out)
    with pytest.raises(KeyboardInterrupt):
        run_ib(cfg, out=out, resume=True, epochs=4, callbacks=[_Crash(3, where)])
    if where == "rows":  # the crash left rows of epoch 3 without a checkpoint
        assert 3 in _epochs(out / "metrics.csv")
    res = run_ib(cfg, out=out, resume=True, epochs=4)
    assert res.resumed_from == 2 and res.epochs_run == [3, 4]
    assert _epochs(out / "metrics.csv") == [1, 2, 3, 4]
    info = _read(out / "info.csv")
    assert [(int(r["epoch"]), r["layer"]) for r in info] == [(e, n) for e in (1, 2, 3, 4) for n in _LAYERS]
    if where == "rows":
        return
    # an uninterrupted run gives the same numbers: model, optimiser, noise, dropout and loader RNGs were restored
    ref = tmp_path / "ref"
    run_ib(cfg, out=ref, epochs=4)
    for name, cols in (("metrics.csv", ("train_loss", "test_loss", "test_acc")), ("info.csv", ("i_xl", "i_ly"))):
        a, b = _read(out / name), _read(ref / name)
        for ra, rb in zip(a, b):
            assert all(ra[c] == rb[c] for c in cols), (name, ra["epoch"])


def test_resume_with_a_different_config_fails_and_leaves_files_unchanged(tmp_path):
    out = tmp_path / "run"
    run_ib(_tiny(epochs=1), out=out)
    before = _digest(out)
    with pytest.raises(RunFolderError, match=r"Cannot resume .*different configuration \(lr: 0\.001 in the "
                                             r"folder, 0\.01 now\)"):
        run_ib(_tiny(epochs=2, lr=1e-2), out=out, resume=True)
    assert _digest(out) == before
    # and through the CLI: one line, exit code 2
    assert main(["ib", "--out", str(out), "--resume", "--k", "3", "--quiet"]) == 2
    assert _digest(out) == before


def test_fresh_run_in_a_non_empty_folder_fails(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(RunFolderError, match="is not empty .*Pass resume=True"):
        run_ib(_tiny(), out=tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me" and len(list(tmp_path.iterdir())) == 1


def test_unknown_layer_in_config_fails_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown layer name\(s\) \['L9'\] .* Valid names: L1, L2, L3"):
        run_ib(_tiny(layers=["L2", "L9"]), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------------------------- config
def test_config_from_toml(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[ib]\ndataset = "digits"\nepochs = 3\nlr = 0.01\nlayers = ["L1", "L3"]\nci = 0.9\n')
    cfg = IBConfig.from_toml(good)
    assert (cfg.epochs, cfg.lr, cfg.layers, cfg.ci) == (3, 0.01, ["L1", "L3"], 0.9)
    assert cfg.resolved().batch_size == 128


def test_preset_fills_unset_fields_and_explicit_values_win():
    plain = IBConfig(preset="paper", dataset="mnist").resolved()
    assert (plain.lr, plain.epochs, plain.compress_x, plain.refit) == (1e-5, 300, "conv-ae:4", "every")
    # an explicit value equal to the default is still explicit (the CLI's --compress-x pca:4 --preset paper)
    cli = IBConfig.from_dict({"preset": "paper", "dataset": "mnist", "compress_x": "pca:4", "epochs": 30}).resolved()
    assert (cli.lr, cli.epochs, cli.compress_x, cli.refit) == (1e-5, 30, "pca:4", "every")
    assert IBConfig.paper(compress_x="pca:4").resolved().compress_x == "pca:4"
    assert IBConfig.paper().replace(refit="first").resolved().refit == "first"
    assert cli.resolved() == cli  # resolving is idempotent


def test_config_toml_unknown_key_and_wrong_type(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('epochs = 3\nlearning_rate = 0.1\n')
    with pytest.raises(ValueError, match=r"Unknown key 'learning_rate' in IBConfig file .*bad\.toml\. Valid keys: "
                                         r"dataset, model, epochs, lr,"):
        IBConfig.from_toml(bad)
    bad.write_text('epochs = "3"\n')
    with pytest.raises(TypeError, match=r"The 'epochs' key of IBConfig in .*bad\.toml must be an int\. "
                                        r"Got '3' of type str\."):
        IBConfig.from_toml(bad)
    bad.write_text('noise_in_eval = 1\n')
    with pytest.raises(TypeError, match=r"'noise_in_eval' key .* must be a bool"):
        IBConfig.from_toml(bad)
    bad.write_text('epochs = \n')
    with pytest.raises(ValueError, match="is not valid TOML"):
        IBConfig.from_toml(bad)


def test_config_value_errors():
    with pytest.raises(ValueError, match=r"Unknown dataset 'cifar'\. Valid names are"):
        IBConfig(dataset="cifar")
    with pytest.raises(ValueError, match="'refit' field of IBConfig must be 'first'"):
        IBConfig(refit="sometimes")
    with pytest.raises(TypeError, match="'k' field of IBConfig must be an int"):
        IBConfig(k=2.5)
    paper = IBConfig.paper().resolved()
    assert (paper.lr, paper.epochs, paper.compress_x, paper.refit, paper.probe_split) == (
        1e-5, 300, "conv-ae:4", "every", "test")


# ----------------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("flag, value, message", [
    ("--dataset", "cifar", "Unknown dataset 'cifar'. Valid names are ['mnist', 'fashion-mnist', 'digits'], or "
                            "'npz:PATH' for arrays of your own."),
    ("--model", "resnet", "Unknown model 'resnet'. Valid names are ['paper-conv', 'mlp', 'resnet-small'], or a "
                          "model of your own: 'path/to/file.py:make_model' or 'package.module:make_model'."),
    ("--estimator", "magic", "Unknown estimator 'magic' for I(X;L) (continuous X and L). Valid names:"),
])
def test_cli_one_line_errors(tmp_path, capsys, flag, value, message):
    assert main(["ib", flag, value, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ibscope: error: " + message) and "\n" not in err
    assert not (tmp_path / "r").exists()


def test_cli_config_file_and_flags(tmp_path, capsys):
    cfg = tmp_path / "ib.toml"
    cfg.write_text('model = "mlp"\nhidden = [8]\nepochs = 5\nprobe_size = 150\nci = 0\nplots = false\n')
    out = tmp_path / "run"
    assert main(["ib", "--config", str(cfg), "--epochs", "1", "--seed", "2", "--out", str(out), "--quiet"]) == 0
    record = json.loads((out / "config.json").read_text())["config"]
    assert (record["epochs"], record["seed"], record["model"], record["hidden"]) == (1, 2, "mlp", [8])
    # resuming from the folder's own configuration, extending the run
    assert main(["ib", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 0
    assert _epochs(out / "metrics.csv") == [1, 2]


# ----------------------------------------------------------------------------------------------- plots
def test_plot_functions_return_axes_with_units(finished_run):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ibscope import plots

    out, _ = finished_run
    ax = plots.plot_information_plane(out, "L2", smooth="savgol")
    assert ax.get_xlabel().startswith("I(X;L) [nats]") and ax.get_ylabel().startswith("I(L;Y) [nats]")
    ax = plots.plot_information_plane(out, "L2", x="code")
    assert ax.get_xlabel() == "code MI [nats] (not I(X;L))"
    ax = plots.plot_mi_vs_epoch(out, "i_ly")
    assert ax.get_ylabel() == "I(L;Y) [nats]" and ax.get_xlabel() == "epoch"
    assert "nats" in plots.plot_loss_change(out).get_ylabel()
    plt.close("all")
    y = np.sin(np.linspace(0, 3, 40)) + np.random.default_rng(0).normal(0, 0.1, 40)
    assert plots.smooth_series(y).shape == (40,) and plots.smooth_series(y, "paper").std() < y.std()


def test_run_draws_figures(tmp_path):
    out = tmp_path / "run"
    res = run_ib(_tiny(epochs=2, plots=True), out=out)
    for stem in ("info_plane", "code_plane", "mi_vs_epoch", "loss"):
        for fmt in ("png", "pdf"):
            assert (out / "figures" / f"{stem}.{fmt}").stat().st_size > 1000
    assert len(res.figures) == 8


def test_cli_plot_and_aggregation_over_runs(finished_run, tmp_path, capsys):
    import shutil

    from ibscope.plots import aggregate_runs, plot_ib_runs

    out, _ = finished_run
    assert main(["plot", str(out), "--format", "png", "--smooth", "savgol"]) == 0
    assert (out / "figures" / "info_plane.png").is_file() and not (out / "figures" / "info_plane.pdf").exists()
    # a second "seed": the same run with the lower bound on I(X;L) shifted by 1 nat -> mean + 0.5, std sqrt(0.5)
    other = tmp_path / "s1"
    shutil.copytree(out, other)
    rows = _read(other / "info.csv")
    for r in rows:
        r["xl_lower"] = repr(float(r["xl_lower"]) + 1.0)
    with open(other / "info.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(INFO_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    agg, magg = aggregate_runs([out, other])
    base = _read(out / "info.csv")
    assert agg["i_xl_mean"].to_numpy() == pytest.approx([float(r["xl_lower"]) + 0.5 for r in base])
    assert agg["i_xl_std"].to_numpy() == pytest.approx(np.full(len(base), math.sqrt(0.5)))
    assert (agg["n_runs"] == 2).all() and (magg["train_loss_std"] == 0).all()
    files = plot_ib_runs([out, other], out=tmp_path / "agg", formats=("png",))
    assert sorted(p.name for p in files) == ["seeds_info_plane.png", "seeds_loss.png", "seeds_mi_vs_epoch.png"]
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "agg")]) == 2
    assert "is not a result folder that 'ibscope plot' knows" in capsys.readouterr().err




# ----------------------------------------------------------------------------------------------- folder lock
_HOLD_SCRIPT = """
import sys, time
from pathlib import Path
from ibscope.ib import Callback, IBConfig, run_ib

class Hold(Callback):
    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == 1:
            Path(sys.argv[2]).write_text("holding")
            deadline = time.time() + 120
            while not Path(sys.argv[3]).exists() and time.time() < deadline:
                time.sleep(0.05)

cfg = IBConfig(dataset="digits", model="mlp", hidden=[16, 8], epochs=2, batch_size=256, probe_size=200,
               n_subsamples=3, ci=0.9, plots=False, threads=1, seed=0)
run_ib(cfg, out=sys.argv[1], resume=True, callbacks=[Hold()])
"""


@pytest.mark.slow
def test_two_resume_processes_on_one_folder_the_second_is_refused(tmp_path):
    """Two ``--resume`` runs into one folder: the second stops at once, naming the first; no row is doubled."""
    out, holding, release = tmp_path / "run", tmp_path / "holding", tmp_path / "release"
    first = subprocess.Popen([sys.executable, "-c", _HOLD_SCRIPT, str(out), str(holding), str(release)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not holding.exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert holding.exists(), first.communicate()[1]
        second = subprocess.run([sys.executable, "-m", "ibscope.cli", "ib", "--out", str(out), "--resume", "--quiet"],
                                capture_output=True, text=True, timeout=180)
        assert second.returncode == 2, second.stderr
        message = second.stderr.strip()
        assert message.startswith("ibscope: error: Another IB run (PID ") and f"PID {first.pid}" in message
        assert "is writing to" in message and "lock file .ibscope.lock is held" in message
        assert "Traceback" not in second.stderr
    finally:
        release.write_text("go")
        _, err = first.communicate(timeout=180)
    assert first.returncode == 0, err
    assert _epochs(out / "metrics.csv") == [1, 2]
    rows = _read(out / "info.csv")
    assert len(rows) == 2 * len(_LAYERS) and len({(r["epoch"], r["layer"]) for r in rows}) == len(rows)
    # once the first run has ended, its lock is free again: a resume finds the run complete
    res = run_ib(_tiny(), out=out, resume=True)
    assert res.epochs_run == [] and res.resumed_from == 2


def test_recorder_state_in_the_format_1_folder_layout_round_trips(probe, tmp_path):
    """``save_state`` writes the compressors in the layout of format-1 run folders; ``load_state`` restores them
    (codes identical), and ignores layer compressors fitted after ``max_fit_epoch``."""
    x, y = probe
    model = MLP((1, 8, 8), hidden=(16, 8), random_state=0)
    rec = IBRecorder(x, y, compress="pca:3", compress_x="pca:3", ci=None, random_state=0)
    rec.on_epoch_end(model, 1)
    rec.save_state(tmp_path / "compressors")
    assert (tmp_path / "compressors" / "state.json").is_file()
    again = IBRecorder(x, y, compress="pca:3", compress_x="pca:3", ci=None, random_state=0)
    assert again.load_state(tmp_path / "compressors")
    assert again.fit_epoch_ == 1 and set(again.layer_compressors_) == set(rec.layer_compressors_)
    acts = rec.capture(model)[1]
    for name, comp in rec.layer_compressors_.items():
        layer = np.asarray(acts.layers[name], dtype=np.float64)
        assert np.array_equal(again.layer_compressors_[name].transform(layer), comp.transform(layer))
    assert not IBRecorder(x, y, compress="pca:3", ci=None, random_state=0).load_state(tmp_path / "compressors",
                                                                                     max_fit_epoch=0)
