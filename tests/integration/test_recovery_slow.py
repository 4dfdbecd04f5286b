"""A study driver killed with kill -9 leaves no orphan workers, and running the study again continues it."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ibscope.ib import IBConfig


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


_DRIVER = textwrap.dedent("""
    import sys
    from ibscope.ib import IBConfig
    from ibscope.study import run_study
    cfg = IBConfig(dataset="digits", model="mlp", hidden=[16, 8], epochs=40, batch_size=256, probe_size=200,
                   n_subsamples=3, ci=0.9, plots=False, threads=1)
    run_study(cfg, seeds=[0, 1], out=sys.argv[1], executor=sys.argv[2], n_jobs=2)
""")


def _holders(study: Path) -> set[int]:
    pids = set()
    for lock in study.glob("runs/*/seed*/.ibscope.lock"):
        try:
            pids.add(int(json.loads(lock.read_text() or "{}").get("pid")))
        except (OSError, ValueError, TypeError):
            pass
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["loky"])
def test_kill_9_of_a_study_driver_leaves_no_orphans_and_the_study_continues(tmp_path, executor):
    study = tmp_path / "study"
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, str(study), executor], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not any(
                len(_rows(m)) > 1 for m in study.glob("runs/*/seed*/metrics.csv")):
            time.sleep(0.5)
        workers = _holders(study) - {driver.pid}
        assert workers, "no worker holds a run folder"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.time() + 30
        while time.time() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.5)
        assert not any(_alive(p) for p in workers), "workers outlived their driver"
    finally:
        if driver.poll() is None:
            driver.kill()
    from ibscope.study import load_study, run_study

    cfg = IBConfig(dataset="digits", model="mlp", hidden=[16, 8], epochs=40, batch_size=256, probe_size=200,
                   n_subsamples=3, ci=0.9, plots=False, threads=1)
    res = run_study(cfg, seeds=[0, 1], out=study, executor="sequential")
    assert not res.failed and set(load_study(study).runs["status"]) == {"finished"}
