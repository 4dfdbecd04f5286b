"""The background analysis (``background_analysis=True``, :mod:`ibscope.ib.worker`): the same rows, the same
training and checkpoints as the synchronous mode; a kill while an analysis is pending, a kill at a write point
and a failing analysis all leave a folder that resumes to the uninterrupted rows."""

from __future__ import annotations

import csv
import threading
import warnings
from pathlib import Path

import pytest

from ibscope.ib import Callback, IBConfig, IBRecorder, run_ib
from ibscope.ib.config import MUTABLE_ON_RESUME
from ibscope.ib.worker import AnalysisError

#: timing columns, the only ones that may differ between the modes
_TIMES = {"time_s", "train_s", "eval_s", "analysis_s", "analysis_wait_s"}


def _tiny(**kw) -> IBConfig:
    # dropout: the training loop draws from the global torch generator while the worker runs
    params = dict(dataset="digits", model="mlp", hidden=[16, 8], dropout=0.2, epochs=3, batch_size=256,
                  probe_size=200, n_subsamples=3, ci=0.9, bracket_trials=100, plots=False, threads=1, seed=0)
    params.update(kw)
    return IBConfig(**params)


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _rows(folder: Path) -> tuple[list, list]:
    """Every cell of info.csv and metrics.csv but the timings (and the note of a re-analysed row)."""
    def strip(rows):
        return [{k: v for k, v in r.items() if k not in _TIMES} for r in rows]

    return strip(_read(folder / "info.csv")), strip(_read(folder / "metrics.csv"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The synchronous run's folder."""
    out = tmp_path_factory.mktemp("sync") / "run"
    run_ib(_tiny(), out=out)
    return out


def _weights(folder: Path) -> dict:
    import torch

    return torch.load(folder / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)


def test_the_background_mode_gives_the_synchronous_rows_training_and_checkpoint(tmp_path, reference):
    import torch

    out = tmp_path / "bg"
    run_ib(_tiny(background_analysis=True), out=out)
    assert _rows(out) == _rows(reference)
    info = _read(out / "info.csv")
    assert {r["epoch"] for r in info} == {"1", "2", "3"} and any(r["xl_lower"] for r in info)  # brackets ran
    a, b = _weights(out), _weights(reference)
    assert a["epoch"] == b["epoch"] == 3
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
    assert torch.equal(a["torch_rng"], b["torch_rng"]) and torch.equal(a["loader_rng"], b["loader_rng"])
    assert a["noise_rng"].keys() == b["noise_rng"].keys()
    for k in b["noise_rng"]:
        sa, sb = a["noise_rng"][k]["states"], b["noise_rng"][k]["states"]
        assert all(torch.equal(sa[d], sb[d]) for d in sb)
    assert a["callbacks"]["IBRecorder"]["noise_before_analysis"][0] == 3
    for r in _read(out / "metrics.csv"):
        wait, own = float(r["analysis_wait_s"]), float(r["analysis_s"])
        assert 0 < wait <= own + 0.05  # the loop waited for the probe pass at least, never for more than all
    for r in _read(reference / "metrics.csv"):
        assert r["analysis_wait_s"] == r["analysis_s"]  # synchronous: the loop waits for all of it


class _Kill(BaseException):
    """A kill: not an Exception, nothing handles it."""


class _KillIn(Callback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_batch_end(self, trainer, epoch, batch, loss):
        if epoch == self.epoch:
            raise _Kill(f"killed in epoch {epoch}")


def _resume(out: Path, **kw) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run_ib(_tiny(**kw), out=out, resume=True)


def test_a_kill_while_an_analysis_is_pending_resumes_to_the_same_rows(tmp_path, reference, monkeypatch):
    out = tmp_path / "run"
    gate = threading.Event()
    finish = IBRecorder._finish_job

    def held(self, *args):  # epoch 2's analysis cannot end before the kill in epoch 3
        if args[0]["epoch"] == 2:
            gate.wait(30)
        return finish(self, *args)

    monkeypatch.setattr(IBRecorder, "_finish_job", held)
    try:
        with pytest.raises(_Kill):
            run_ib(_tiny(background_analysis=True), out=out, callbacks=[_KillIn(3)])
        # epoch 2 was trained and probed, its analysis pending: neither its rows nor its checkpoint landed
        assert [r["epoch"] for r in _read(out / "metrics.csv")] == ["1"]
        assert _weights(out)["epoch"] == 1
    finally:
        gate.set()
    monkeypatch.undo()
    _resume(out, background_analysis=True)
    assert _rows(out) == _rows(reference)


def _count_and_kill(m, point: str, call: int | None, counts: dict) -> None:
    """Count the calls of a write point (an append to a CSV log, the rename of an atomic write); raise _Kill
    before the ``call``-th one."""
    from ibscope.runs import atomic, csvlog

    real_append, real_replace = csvlog.CSVLog.append, atomic.os.replace

    def check(kind):
        counts[kind] = counts.get(kind, 0) + 1
        if kind == point and counts[kind] == call:
            raise _Kill(f"killed before {kind} #{call}")

    def append(self, rows):
        check("append")
        return real_append(self, rows)

    def replace(a, b):
        check("replace")
        return real_replace(a, b)

    m.setattr(csvlog.CSVLog, "append", append)
    m.setattr(atomic.os, "replace", replace)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["append", "replace"])
def test_a_kill_at_a_write_point_of_a_background_run_resumes_to_the_same_rows(tmp_path, reference, point, request):
    counts: dict = {}
    with pytest.MonkeyPatch.context() as m:
        _count_and_kill(m, point, None, counts)
        run_ib(_tiny(background_analysis=True), out=tmp_path / "count")
    # the default suite: the write before the middle one and the middle one; --run-slow: every one
    n = counts[point]
    calls = range(1, n + 1) if request.config.getoption("--run-slow") else sorted({max(1, n // 2 - 1), n // 2})
    for call in calls:
        out = tmp_path / f"{point}{call}"
        with pytest.MonkeyPatch.context() as m:
            _count_and_kill(m, point, call, {})
            with pytest.raises(_Kill):
                run_ib(_tiny(background_analysis=True), out=out)
        _resume(out, background_analysis=call % 2 == 0)  # either mode continues the folder
        assert _rows(out) == _rows(reference), (point, call)


def test_an_error_in_the_worker_is_raised_in_the_loop_and_the_folder_resumes(tmp_path, reference, monkeypatch):
    out = tmp_path / "run"
    finish = IBRecorder._finish

    def broken(self, probe, *args, **kwargs):
        if probe["epoch"] == 2:
            raise ValueError("a broken estimate")
        return finish(self, probe, *args, **kwargs)

    monkeypatch.setattr(IBRecorder, "_finish", broken)
    with pytest.raises(AnalysisError, match="background analysis of epoch 2 failed .*a broken estimate.*resume") as info:
        run_ib(_tiny(background_analysis=True), out=out)
    assert isinstance(info.value.__cause__, ValueError)
    assert [r["epoch"] for r in _read(out / "metrics.csv")] == ["1"] and _weights(out)["epoch"] == 1
    monkeypatch.undo()
    _resume(out)
    assert _rows(out) == _rows(reference)


def test_the_config_field_round_trips_and_the_cli_flag_sets_it(tmp_path):
    from ibscope.cli.app import build_parser
    from ibscope.cli.ib import build_config

    cfg = _tiny(background_analysis=True)
    assert IBConfig.from_dict(cfg.to_dict()) == cfg and cfg.to_dict()["background_analysis"] is True
    assert IBConfig().background_analysis is False
    assert "background_analysis" in MUTABLE_ON_RESUME and not cfg.differences(_tiny())
    with pytest.raises(TypeError, match="background_analysis"):
        IBConfig(background_analysis="yes")
    parser = build_parser()
    for flags, want in (([], False), (["--background-analysis"], True), (["--no-background-analysis"], False)):
        args = parser.parse_args(["ib", "--out", str(tmp_path / "x"), *flags])
        assert build_config(args).background_analysis is want


def test_a_model_that_draws_from_the_global_generator_is_detected_and_nothing_is_changed():
    import torch

    from ibscope.ib.worker import draws_global_rng, frozen_copy
    from ibscope.nets import MLP, get_noise_rng_state

    class Jitter(torch.nn.Module):  # random outside the noise layers, even in eval mode
        def forward(self, x):
            return x + 1e-3 * torch.rand_like(x)

    plain = MLP(in_dim=(8, 8), hidden=(16, 8), noise_sigma=0.1, random_state=0)
    x = torch.zeros(4, 8, 8)
    with torch.no_grad():
        plain(x)  # the noise streams exist
    cpu, noise = torch.get_rng_state(), get_noise_rng_state(plain)
    copy = frozen_copy(plain)
    assert not copy.training and not any(p.requires_grad for p in copy.parameters())
    assert plain.training and all(p.requires_grad for p in plain.parameters())
    assert draws_global_rng(copy, x) is False
    assert draws_global_rng(torch.nn.Sequential(Jitter(), torch.nn.Flatten(), copy), x) is True
    assert torch.equal(cpu, torch.get_rng_state())
    after = get_noise_rng_state(copy)
    assert all(noise[k]["states"] for k in noise)
    assert all(torch.equal(after[k]["states"][d], noise[k]["states"][d]) for k in noise for d in noise[k]["states"])
