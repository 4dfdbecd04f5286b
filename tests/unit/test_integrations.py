"""Lightning and TensorBoard bridges: a real ``lightning.Trainer`` on CPU, TensorBoard event files read back.

Every fit trains the tiny noisy MLP 64-16-8-10 on the bundled 8x8 digits and analyses a
200-image probe set, so each analysed epoch costs about a second on 2 CPU cores. The
tests skip when Lightning or TensorBoard is not installed (``pip install -e '.[lightning,tensorboard]'``).
"""

from __future__ import annotations

import csv
import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ibscope.cli import main
from ibscope.data import load_dataset, make_dataloader, normalize, probe_set
from ibscope.ib import INFO_COLUMNS, IBConfig, run_ib
from ibscope.nets import MLP

_LAYERS = ("L1", "L2", "L3")
_QUANTITIES = {"i_xl_code": "i_xl_code", "i_xl_code_lo": "i_xl_code_low", "i_xl_code_hi": "i_xl_code_high",
               "xl_lower": "xl_lower", "xl_upper": "xl_upper",
               "i_ly": "i_ly", "i_ly_lo": "i_ly_low", "i_ly_hi": "i_ly_high"}


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _events(folder: Path):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0, ea.IMAGES: 0})
    acc.Reload()
    return acc


def _without_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time_s"} for r in rows]


# ------------------------------------------------------------------------------------------------ TensorBoard
def _tiny(**kw) -> IBConfig:
    params = dict(dataset="digits", model="mlp", hidden=[16, 8], epochs=2, batch_size=256, probe_size=200,
                  n_subsamples=3, ci=0.9, plots=False, threads=1, seed=0)
    params.update(kw)
    return IBConfig(**params)


def _check_events_match_info(tb: Path, run: Path) -> None:
    acc = _events(tb)
    tags = acc.Tags()
    info = _read(run / "info.csv")
    assert {int(r["epoch"]) for r in info} == {1, 2}
    for row in info:
        for column, name in _QUANTITIES.items():
            events = {e.step: e.value for e in acc.Scalars(f"ib/{row['layer']}/{name}")}
            # TensorBoard stores float32: equal to the file's float64 up to its rounding
            assert events[int(row["epoch"])] == pytest.approx(float(row[column]), rel=1e-6, abs=1e-7)
    metrics = _read(run / "metrics.csv")
    for m in metrics:
        test_loss = {e.step: e.value for e in acc.Scalars("test/loss")}
        train_acc = {e.step: e.value for e in acc.Scalars("train/acc")}
        assert test_loss[int(m["epoch"])] == pytest.approx(float(m["test_loss"]), rel=1e-6)
        assert train_acc[int(m["epoch"])] == pytest.approx(float(m["train_acc"]), rel=1e-6)
    assert "ib/information_plane" in tags["images"]
    images = acc.Images("ib/information_plane")
    assert [im.step for im in images] == [1, 2]
    assert images[-1].width > 100 and images[-1].height > 100
    assert images[-1].encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensorboard_callback_logs_the_info_csv_values(tmp_path):
    pytest.importorskip("tensorboard")
    from ibscope.integrations.tensorboard import TensorBoardCallback

    tb = tmp_path / "tb"
    run_ib(_tiny(), out=tmp_path / "run", callbacks=[TensorBoardCallback(tb)])
    _check_events_match_info(tb, tmp_path / "run")


def test_cli_tensorboard_flag(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    run, tb = tmp_path / "run", tmp_path / "logs" / "tb"
    args = ["ib", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--batch-size", "256", "--probe-size",
            "200", "--n-subsamples", "3", "--ci", "0.9", "--threads", "1", "--no-plots", "--quiet", "--out",
            str(run), "--tensorboard", str(tb)]
    assert main(args) == 0
    info = _read(run / "info.csv")
    acc = _events(tb)
    for row in info:
        events = {e.step: e.value for e in acc.Scalars(f"ib/{row['layer']}/i_ly")}
        assert events[int(row["epoch"])] == pytest.approx(float(row["i_ly"]), rel=1e-6, abs=1e-7)
    assert "ib/information_plane" in acc.Tags()["images"]
    # --tensorboard is no IBConfig field: a resume with another TensorBoard folder is accepted
    assert "tensorboard" not in json.loads((run / "config.json").read_text())["config"]
    tb2 = tmp_path / "tb2"
    assert main([*args[:-2], "--resume", "--epochs", "3", "--tensorboard", str(tb2)]) == 0
    acc2 = _events(tb2)
    assert [e.step for e in acc2.Scalars("ib/L3/i_xl_code")] == [3]
    assert [int(r["epoch"]) for r in _read(run / "info.csv")] == [e for e in (1, 2, 3) for _ in _LAYERS]


def test_cli_tensorboard_folder_that_cannot_be_created(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = tmp_path / "run"
    code = main(["ib", "--dataset", "digits", "--epochs", "1", "--out", str(run), "--tensorboard",
                 str(blocker / "tb"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("ibscope: error: The '--tensorboard' folder") and "is a file, not a folder" in err[0]
    assert not run.exists()  # refused before anything was trained or written


def test_tensorboard_callback_bad_input(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from ibscope.integrations.tensorboard import TensorBoardCallback

    (tmp_path / "f").write_text("x")
    with pytest.raises(OSError, match=r"The 'log_dir' folder .* is a file, not a folder"):
        TensorBoardCallback(tmp_path / "f")
    with pytest.raises(OSError, match=r"cannot be created: .* is a file, not a folder"):
        TensorBoardCallback(tmp_path / "f" / "sub")
    with pytest.raises(TypeError, match=r"The 'log_dir' parameter of TensorBoardCallback must be a str or path"):
        TensorBoardCallback(3)
    with pytest.raises(ValueError, match=r"The 'figure_every' parameter of TensorBoardCallback must be"):
        TensorBoardCallback(tmp_path / "ok", figure_every=-1)
    assert not (tmp_path / "ok").exists()  # checked, not created, until training begins
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match=r"TensorBoardCallback needs TensorBoard: pip install 'ibscope\[tensorboard\]'"):
        TensorBoardCallback(tmp_path / "ok")


def test_cli_tensorboard_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    code = main(["ib", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "run"), "--tensorboard",
                 str(tmp_path / "tb"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "pip install 'ibscope[tensorboard]'" in err[0]
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------------ Lightning
def _lightning():
    return pytest.importorskip("lightning")


@pytest.fixture(scope="module")
def digits():
    x, y = load_dataset("digits", "train")
    probe = probe_set("digits", "test", n=200, random_state=0, stratify=True)
    return x, y, normalize(probe.images, "digits"), probe.labels


def _module(L):
    import torch.nn.functional as F

    class LitMLP(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = MLP(in_dim=(8, 8), hidden=(16, 8), noise_sigma=1e-3, random_state=0)
            self.steps = 0

        def forward(self, x):
            return self.model(x)

        def training_step(self, batch, batch_idx):
            self.steps += 1
            x, y = batch
            loss = F.nll_loss(self(x), y)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    return LitMLP()


def _fit(L, digits, *, logger, epochs=2, ckpt_path=None, callbacks=(), **kw):
    from ibscope.integrations.lightning import InformationPlane

    x, y, px, py = digits
    params = dict(module="model", ci=0.9, n_subsamples=3, random_state=0)
    params.update(kw)
    cb = InformationPlane(px, py, **params)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=bool(callbacks), logger=logger,
                        callbacks=[cb, *callbacks], log_every_n_steps=1)
    module = _module(L)
    loader = make_dataloader(x, y, batch_size=256, shuffle=True, random_state=0, normalize="digits")
    trainer.fit(module, loader, ckpt_path=ckpt_path)
    return cb, module


@pytest.fixture(scope="module")
def lightning_fits(tmp_path_factory, digits):
    """The same seeded fit twice: once with a CSVLogger, once with a TensorBoardLogger."""
    L = _lightning()
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    root = tmp_path_factory.mktemp("lit")
    a, _ = _fit(L, digits, logger=CSVLogger(root, name="csv"), out=root / "a")
    b = None
    if importlib.util.find_spec("tensorboard") is not None:
        b, _ = _fit(L, digits, logger=TensorBoardLogger(root, name="tb"), out=root / "b")
    return root, a, b


def test_lightning_run_folder_rows(lightning_fits):
    root, cb, _ = lightning_fits
    out = root / "a"
    rows = _read(out / "info.csv")
    assert list(rows[0]) == list(INFO_COLUMNS)
    assert [(int(r["epoch"]), r["layer"]) for r in rows] == [(e, n) for e in (1, 2) for n in _LAYERS]
    h_y = math.log(10)
    for r in rows:
        for col in ("i_xl_code", "i_ly", "i_xl_code_raw", "i_ly_raw", "h_y", "xl_lower", "xl_upper"):
            assert math.isfinite(float(r[col])), (col, r)
        assert float(r["i_xl_code"]) >= 0 and float(r["i_ly"]) >= 0 and float(r["xl_lower"]) <= float(r["xl_upper"])
        assert float(r["i_ly"]) <= h_y + 0.05 and float(r["h_y"]) <= h_y + 1e-9
        assert float(r["i_xl_code_lo"]) <= float(r["i_xl_code_raw"]) <= float(r["i_xl_code_hi"])
        assert int(r["n"]) == 200 and r["fit_epoch"] == "1" and r["ci_level"] == "0.9"
    # the callback's rows are the recorder's, written as they came
    assert [r["layer"] for r in cb.rows_] == [r["layer"] for r in rows]
    assert float(rows[-1]["i_ly"]) == cb.rows_[-1]["i_ly"]
    metrics = _read(out / "metrics.csv")
    assert [int(m["epoch"]) for m in metrics] == [1, 2] and all(m["analysed"] == "1" for m in metrics)
    assert all(math.isfinite(float(m["train_loss"])) for m in metrics)  # what the module logged as train_loss
    record = json.loads((out / "config.json").read_text())
    assert record["format"] == "ibscope-ib-run" and record["writer"] == "lightning"
    assert record["analysis"]["layers"] == list(_LAYERS) and record["analysis"]["probe"]["n"] == 200
    summary = json.loads((out / "summary.json").read_text())
    assert summary["analysed_epochs"] == [1, 2] and summary["n_info_rows"] == 6
    # the run folder is the one every IB run writes: load_run reads it
    from ibscope.ib import load_run

    run = load_run(out)
    assert run.writer == "lightning" and run.config is None and run.finished and len(run.info) == 6
    assert run.analysis["k"] == 5 and list(run.metrics["epoch"]) == [1, 2]
    from ibscope.plots.ib import read_info

    assert len(read_info(out)) == 6  # the plotting functions read the folder like an ibscope ib one
    from ibscope.plots import plot_ib_run

    figures = plot_ib_run(out, formats=("png",))
    assert {f.name for f in figures} == {"info_plane.png", "code_plane.png", "mi_vs_epoch.png", "loss.png"}


def test_lightning_logs_every_layer_to_the_csv_logger(lightning_fits):
    root, _, _ = lightning_fits
    logged = _read(next((root / "csv").rglob("metrics.csv")))
    rows = _read(root / "a" / "info.csv")
    for r in rows:
        for column, name in _QUANTITIES.items():
            key = f"ib/{r['layer']}/{name}"
            values = [float(m[key]) for m in logged if m.get(key) not in (None, "")]
            assert float(r[column]) in values, key
    ib_rows = [m for m in logged if m.get("ib/L1/i_xl_code")]
    assert [int(m["step"]) for m in ib_rows] == [1, 2]  # step = the 1-based epoch, as TensorBoardCallback logs


def test_lightning_fits_reproduce_and_reach_tensorboard(lightning_fits):
    root, _, b = lightning_fits
    if b is None:
        pytest.skip("tensorboard is not installed")
    assert _without_time(_read(root / "a" / "info.csv")) == _without_time(_read(root / "b" / "info.csv"))
    acc = _events(next((root / "tb").rglob("events.out.tfevents.*")).parent)
    rows = _read(root / "b" / "info.csv")
    for r in rows:
        values = [e.value for e in acc.Scalars(f"ib/{r['layer']}/i_xl_code_high")]
        assert any(v == pytest.approx(float(r["i_xl_code_hi"]), rel=1e-6) for v in values)
    assert len(acc.Images("ib/information_plane")) == 2


def test_lightning_layer_names_relative_to_the_lightning_module(digits):
    L = _lightning()
    cb, _ = _fit(L, digits, logger=False, epochs=1, module=None, layers=["model.L2"], ci=None)
    assert [r["layer"] for r in cb.rows_] == ["model.L2"]
    assert cb.rows_[0]["i_xl_code_lo"] is None and math.isfinite(cb.rows_[0]["i_xl_code_raw"])


def test_lightning_unknown_layers_fail_before_training(tmp_path, digits):
    L = _lightning()
    from ibscope.integrations.lightning import InformationPlane

    x, y, px, py = digits
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", enable_progress_bar=False, logger=False,
                        enable_checkpointing=False, enable_model_summary=False,
                        callbacks=[InformationPlane(px, py, layers=["L9"], out=tmp_path / "run")])
    module = _module(L)
    loader = make_dataloader(x, y, batch_size=256, normalize="digits")
    with pytest.raises(ValueError, match=r"Unknown layer name\(s\) \['L9'\] for InformationPlane on LitMLP\. "
                                         r"Valid names: model, model\.L1"):
        trainer.fit(module, loader)
    assert module.steps == 0 and not (tmp_path / "run").exists()
    # names of the inner net without module=: the message says where they are valid
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", enable_progress_bar=False, logger=False,
                        enable_checkpointing=False, enable_model_summary=False,
                        callbacks=[InformationPlane(px, py, layers=["L1", "L2"])])
    with pytest.raises(ValueError, match=r"Or pass module='model' to name layers relative to LitMLP\.model"):
        trainer.fit(module, loader)
    # a probe set the net cannot take
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", enable_progress_bar=False, logger=False,
                        enable_checkpointing=False, enable_model_summary=False,
                        callbacks=[InformationPlane(np.zeros((len(py), 1, 4, 4), np.float32), py, module="model",
                                                    ci=None)])
    with pytest.raises(ValueError, match=r"The probe inputs of InformationPlane \(per-row shape \(1, 4, 4\)\) "
                                         r"cannot be analysed on MLP"):
        trainer.fit(module, loader)
    assert module.steps == 0


def test_lightning_bad_input_at_construction(tmp_path, digits, monkeypatch):
    _lightning()
    from ibscope.integrations.lightning import InformationPlane

    _, _, px, py = digits
    with pytest.raises(ValueError, match=r"The 'probe_x' and 'probe_y' arguments of IBRecorder must have the same "
                                         r"number of rows\. Got 200 and 199"):
        InformationPlane(px, py[:-1])
    with pytest.raises(ValueError, match=r"The 'schedule' parameter of InformationPlane must be 'every', 'log' or"):
        InformationPlane(px, py, schedule="often")
    with pytest.raises(ValueError, match=r"The 'schedule' parameter of InformationPlane"):
        InformationPlane(px, py, schedule=[0, 2])
    with pytest.raises(TypeError, match=r"The 'module' parameter of InformationPlane must be a dotted attribute"):
        InformationPlane(px, py, module=3)
    (tmp_path / "f").write_text("x")
    with pytest.raises(OSError, match=r"The 'out' folder .* of InformationPlane cannot be created: .* is a file"):
        InformationPlane(px, py, out=tmp_path / "f" / "run")
    with pytest.raises(ValueError, match=r"The 'refit' parameter of IBRecorder must be one of"):
        InformationPlane(px, py, refit="sometimes")
    monkeypatch.setitem(sys.modules, "lightning", None)
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.delitem(sys.modules, "ibscope.integrations.lightning", raising=False)
    with pytest.raises(ImportError, match=r"needs Lightning: pip install 'ibscope\[lightning\]'"):
        importlib.import_module("ibscope.integrations.lightning")


@pytest.mark.slow
def test_lightning_resume_from_checkpoint(tmp_path, digits, lightning_fits):
    L = _lightning()
    from lightning.pytorch.callbacks import ModelCheckpoint

    from ibscope.ib import RunFolderError

    out, ckpts = tmp_path / "run", tmp_path / "ckpt"
    _fit(L, digits, logger=False, epochs=1, out=out, callbacks=[ModelCheckpoint(dirpath=ckpts, save_last=True)])
    with pytest.raises(RunFolderError, match=r"already holds a run\. Pass ckpt_path= to trainer\.fit to resume it"):
        _fit(L, digits, logger=False, epochs=2, out=out)
    with pytest.raises(RunFolderError, match=r"written with other InformationPlane settings \(k differ\)"):
        _fit(L, digits, logger=False, epochs=2, out=out, k=3, ckpt_path=ckpts / "last.ckpt",
             callbacks=[ModelCheckpoint(dirpath=ckpts, save_last=True)])
    _fit(L, digits, logger=False, epochs=2, out=out, ckpt_path=ckpts / "last.ckpt",
         callbacks=[ModelCheckpoint(dirpath=ckpts, save_last=True)])
    rows = _read(out / "info.csv")
    assert [(int(r["epoch"]), r["layer"]) for r in rows] == [(e, n) for e in (1, 2) for n in _LAYERS]
    # epoch 1 is the uninterrupted fit's; epoch 2 kept the compressors fitted on epoch 1 (Lightning's checkpoint)
    root = lightning_fits[0]
    assert _without_time(rows[:3]) == _without_time(_read(root / "a" / "info.csv")[:3])
    assert {r["fit_epoch"] for r in rows} == {"1"}
    record = json.loads((out / "config.json").read_text())
    assert [r["epoch"] for r in record["resumes"]] == [1]
