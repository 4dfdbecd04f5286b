"""Slow IB-run tests (run with --run-slow): a real SIGKILL mid-run, and the README's timed digits run."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ibscope.ib import IBConfig, run_ib

pytestmark = pytest.mark.slow


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


_KILL_SCRIPT = """
import os, signal, sys
from ibscope.ib import Callback, IBConfig, run_ib

class Kill(Callback):
    def on_batch_end(self, trainer, epoch, batch, loss):
        if epoch == 3 and batch == 1:
            os.kill(os.getpid(), signal.SIGKILL)

cfg = IBConfig(dataset="digits", model="mlp", hidden=[16, 8], batch_size=128, probe_size=200, n_subsamples=3,
               ci=0.9, plots=False, threads=1, seed=0)
run_ib(cfg, out=sys.argv[1], resume=True, epochs=4, callbacks=[Kill()])
"""


def test_resume_after_sigkill(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(out)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _epochs(out / "metrics.csv") == [1, 2]
    res = run_ib(_tiny(batch_size=128), out=out, resume=True, epochs=4)
    assert res.epochs_run == [3, 4]
    assert _epochs(out / "metrics.csv") == [1, 2, 3, 4]
    assert sorted(set(_epochs(out / "info.csv"))) == [1, 2, 3, 4] and len(_read(out / "info.csv")) == 12


def test_readme_digits_run_within_budget(tmp_path):
    """The README's run: default digits configuration, under 3 minutes on 2 cores."""
    t0 = time.perf_counter()
    res = run_ib(IBConfig(dataset="digits"), out=tmp_path / "digits")
    elapsed = time.perf_counter() - t0
    assert (tmp_path / "digits" / "figures" / "info_plane.png").is_file()
    assert float(res.final_metrics["test_acc"]) > 0.85
    assert elapsed < 180, f"{elapsed:.0f} s"
