"""The run-folder layer (ibscope.runs): atomic writes, CSV logs, the folder lock, config diffs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from ibscope.runs import (
    CSVLog,
    FolderLock,
    FolderLockedError,
    RunFolder,
    atomic_open,
    atomic_write_json,
    config_diff,
    package_versions,
    utc_now,
)


def test_atomic_open_replaces_only_on_success(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(path, "wb") as fh:
            fh.write(b"half")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    with atomic_open(path, "wb") as fh:
        fh.write(b"new")
    assert path.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_atomic_files_get_the_permissions_of_a_plain_open(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    (tmp_path / "b.json").write_text("{}")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == (tmp_path / "b.json").stat().st_mode & 0o777
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}


def test_atomic_open_rejects_other_modes(tmp_path):
    with pytest.raises(ValueError, match="mode 'wb' or 'w'"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_csv_log_skips_and_repairs_a_torn_last_line(tmp_path):
    log = CSVLog(tmp_path / "log.csv", ["epoch", "value"])
    log.create()
    log.append([{"epoch": 1, "value": 0.5}, {"epoch": 2, "value": None}])
    with open(log.path, "a") as fh:
        fh.write("3,0.7")  # a writer killed mid-row
    assert log.read() == [{"epoch": "1", "value": "0.5"}, {"epoch": "2", "value": ""}]
    assert log.header() == ("epoch", "value")
    assert log.repair() is True and log.repair() is False
    assert log.path.read_text() == "epoch,value\n1,0.5\n2,\n"
    log.append([{"epoch": 3, "value": 0.7}])
    assert [r["epoch"] for r in log.read()] == ["1", "2", "3"]


def test_csv_log_keep_rewrites_atomically(tmp_path):
    log = CSVLog(tmp_path / "log.csv", ["epoch"], cell=lambda v: f"e{v}")
    log.create()
    log.append([{"epoch": e} for e in range(1, 6)])
    assert log.keep(lambda r: r["epoch"] <= "e3") == 2
    assert [r["epoch"] for r in log.read()] == ["e1", "e2", "e3"]
    assert log.keep(lambda r: True) == 0
    missing = CSVLog(tmp_path / "new.csv", ["a", "b"])
    assert missing.keep(lambda r: True) == 0 and missing.path.read_text() == "a,b\n"
    empty = CSVLog(tmp_path / "empty.csv", ["a"])
    empty.path.write_text("")
    assert empty.repair() is True and empty.path.read_text() == "a\n"


_HOLDER = """
import sys, time
from ibscope.runs import FolderLock
lock = FolderLock(sys.argv[1], what="IB run").acquire()
print("locked", flush=True)
time.sleep(120)
"""


def _hold(folder):
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_folder_lock_refuses_a_second_writer_and_names_the_holder(tmp_path):
    proc = _hold(tmp_path)
    try:
        with pytest.raises(FolderLockedError, match=rf"Another IB run \(PID {proc.pid}, since .*\) is writing to "
                                                    r".*: its lock file \.ibscope\.lock is held\. Wait"):
            FolderLock(tmp_path, what="IB run").acquire()
    finally:
        proc.kill()
        proc.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    proc = _hold(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / ".ibscope.lock").exists()
    with FolderLock(tmp_path) as lock:
        assert lock.holder()["pid"] == os.getpid()
    with FolderLock(tmp_path):  # released on exit: it can be taken again at once
        pass


def test_run_folder_entries_leave_out_the_lock(tmp_path):
    folder = RunFolder(tmp_path / "run", what="IB run")
    assert folder.is_empty() and folder.entries() == []
    with folder.locked():
        assert folder.is_empty()
        folder.write_json("config.json", {"a": 1})
        assert folder.entries() == ["config.json"] and folder.read_json("config.json") == {"a": 1}


def test_config_diff_names_the_paths():
    old = {"grids": [{"mi": [0, 1], "n": 5}], "name": "a"}
    new = {"grids": [{"mi": [0, 2], "n": 5}], "name": "b", "extra": 1}
    assert config_diff(old, new) == ["extra", "grids[0].mi[1]", "name"]
    assert config_diff([1, 2], [1, 2, 3]) == ["(root)"]


def test_environment_record():
    versions = package_versions()
    assert {"python", "ibscope", "numpy", "torch", "scikit-learn"} <= set(versions)
    assert versions["ibscope"] is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d{6}Z", utc_now())
