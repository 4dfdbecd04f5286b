"""Recovery that a user can follow: the advice in every message works when followed, the record stays true.

Each test reproduces one case of the reliability review: a corrupted checkpoint, a hand-edited
config.json, an interrupted or disk-full command, and a study driver killed with kill -9 (its
workers must not keep training as orphans, and running the study again must continue it).
"""

from __future__ import annotations

import csv
import errno
import json
from pathlib import Path

import pytest

from ibscope.cli import main
from ibscope.ib import IBConfig, run_ib
from ibscope.runs import ConfigMismatchError, DamagedFolderError


def _tiny(**kw) -> IBConfig:
    params = dict(dataset="digits", model="mlp", hidden=[16, 8], epochs=2, batch_size=256, probe_size=200,
                  n_subsamples=3, ci=0.9, plots=False, threads=1, seed=0)
    params.update(kw)
    return IBConfig(**params)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


_KEYS = ("epoch", "layer", "i_xl_raw", "i_ly_raw", "flags")


def _key(rows):
    return [tuple(r[k] for k in _KEYS) for r in rows]


def test_a_corrupted_checkpoint_says_what_to_do_and_doing_it_works(tmp_path):
    ref = tmp_path / "ref"
    run_ib(_tiny(epochs=3), out=ref)
    out = tmp_path / "run"
    run_ib(_tiny(), out=out)
    last = out / "checkpoints" / "last.pt"
    last.write_bytes(b"not a checkpoint")
    with pytest.raises(DamagedFolderError, match=r"Cannot read the checkpoint .*last\.pt .*Move it away \(e\.g\. "
                                                 r"rename it to last\.pt\.bad\) and resume again"):
        run_ib(_tiny(epochs=3), out=out, resume=True)
    last.rename(last.with_name("last.pt.bad"))  # the advice, followed
    with pytest.warns(RuntimeWarning, match="continues from its start state"):
        res = run_ib(_tiny(epochs=3), out=out, resume=True)
    assert res.epochs_run == [1, 2, 3] and _key(_rows(out / "info.csv")) == _key(_rows(ref / "info.csv"))


@pytest.mark.parametrize("key, value", [("lr", 0.01), ("k", 3)])
def test_a_hand_edited_config_is_refused_on_resume_with_the_keys_named(tmp_path, key, value):
    out = tmp_path / "run"
    run_ib(_tiny(), out=out)
    record = json.loads((out / "config.json").read_text())
    record["config"][key] = value
    (out / "config.json").write_text(json.dumps(record))
    before = (out / "info.csv").read_bytes()
    with pytest.raises(ConfigMismatchError, match=rf"its config\.json no longer matches the configuration the run "
                                                  rf"was trained with \({key}: "):
        run_ib(IBConfig.from_dict(record["config"]).replace(epochs=3), out=out, resume=True)
    assert (out / "info.csv").read_bytes() == before
    # and from the command line, which takes the configuration from the folder
    assert main(["ib", "--out", str(out), "--resume", "--epochs", "3", "--quiet"]) == 2
    assert (out / "info.csv").read_bytes() == before


@pytest.mark.parametrize("error, words", [
    (KeyboardInterrupt(), "ibscope: interrupted. Everything up to the last finished epoch is in"),
    (OSError(errno.ENOSPC, "No space left on device"), "ibscope: error: the disk is full"),
])
def test_an_interrupted_or_disk_full_run_says_that_resume_continues_it(tmp_path, monkeypatch, capsys, error, words):
    import ibscope.cli.ib as cli_ib

    def stop(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli_ib, "run_ib", stop)
    code = main(["ib", "--dataset", "digits", "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code in (2, 130) and words in err and "run the same command with --resume" in err, err
