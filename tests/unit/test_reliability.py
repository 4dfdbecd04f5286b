"""The reproductions of the reliability issue, each pinned: scale, constants, CSV files, run folders, CLI.

Every test here failed (wrong number, raw traceback or silent data loss) on the code before the fix.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import ibscope
from ibscope.cli import main
from ibscope.ib import IBConfig, RunFolderError, run_ib


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 1))
    return x, x + rng.standard_normal((2000, 1))  # true MI = 0.5 ln 2 = 0.347


# --------------------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("estimator", ["ksg", "ksg2", "kl", "wkl", "gaussian"])
@pytest.mark.parametrize("scale", [1e-15, 1e-150, 1e150, 1e153, 1e300])
def test_estimates_do_not_depend_on_the_scale(pair, estimator, scale):
    x, y = pair
    ref = ibscope.mutual_information(x, y, estimator=estimator, random_state=0)
    res = ibscope.mutual_information(x * scale, y * scale, estimator=estimator, random_state=0)
    assert res.value == pytest.approx(ref.value, rel=1e-9, abs=1e-12)
    assert not any("constant" in w or "duplicate" in w for w in res.warnings)


@pytest.mark.parametrize("estimator", ["ksg", "kl", "gaussian"])
def test_a_large_offset_costs_only_the_inputs_own_rounding(pair, estimator):
    """x + 1e12 keeps 40 of float64's 53 bits of x; the estimate moves by far less than its spread."""
    x, y = pair
    ref = ibscope.mutual_information(x, y, estimator=estimator, random_state=0).value
    assert ibscope.mutual_information(x + 1e6, y - 1e6, estimator=estimator, random_state=0).value == \
        pytest.approx(ref, abs=1e-6)
    assert ibscope.mutual_information(x + 1e12, y + 1e12, estimator=estimator, random_state=0).value == \
        pytest.approx(ref, abs=2e-3)


@pytest.mark.parametrize("estimator", ["ksg", "kl", "gaussian", "kde"])
def test_a_constant_side_gives_exactly_zero_with_a_warning(estimator, tmp_path):
    c = np.ones((500, 2))
    res = ibscope.mutual_information(c, c * 7.0, estimator=estimator, ci=0.9, random_state=0)
    assert res.value == 0.0 and res.raw_value == 0.0 and res.ci_low == 0.0 and res.ci_high == 0.0
    assert res.warnings == ["'x' and 'y' are constant (every row is the same), so I(X;Y) = 0 exactly; "
                            "no estimate was run."]
    np.save(tmp_path / "c.npy", c)
    assert main(["estimate", str(tmp_path / "c.npy"), str(tmp_path / "c.npy"), "--json"]) == 0


def test_a_constant_column_is_any_column_of_equal_values(pair):
    x, y = pair
    tiny = np.hstack([x * 1e-15, np.full_like(x, 3e-20)])
    res = ibscope.mutual_information(tiny, y, random_state=0)
    assert res.warnings[0].startswith("'x' has 1 constant column(s) (indices [1])")
    assert res.value == pytest.approx(ibscope.mutual_information(x, y, random_state=0).value, rel=1e-9)


def test_torch_bfloat16_and_preprocess_none_and_variant_2(pair):
    x, y = pair
    res = ibscope.mutual_information(torch.tensor(x, dtype=torch.bfloat16), y, random_state=0)
    assert 0.25 < res.value < 0.45
    assert ibscope.mutual_information(x, y, preprocess="none", random_state=0).value == \
        ibscope.mutual_information(x, y, preprocess=None, random_state=0).value
    res2 = ibscope.mutual_information(x, y, variant=2, random_state=0)  # the default's KSG candidate
    assert res2.estimator == "auto" and res2.params["variant"] == 2 and "ksg2" in res2.extra["auto"]["candidates"]
    assert ibscope.mutual_information(x, y, estimator="ksg", variant=2, random_state=0).estimator == "ksg2"
    with pytest.raises(ValueError, match=r"'preprocess' parameter of KSG must be one of \['none', 'rank', "
                                         r"'standardize', None\]\. Got 'nope'"):
        ibscope.mutual_information(x, y, preprocess="nope")


# --------------------------------------------------------------------------------------------- CLI
def _frames(tmp_path, pair):
    x, y = pair
    pd.DataFrame(np.hstack([x, x ** 3]), columns=["a", "b"]).to_csv(tmp_path / "x.csv")  # with the index column
    pd.DataFrame(np.hstack([y, -y]), columns=["c", "d"]).to_csv(tmp_path / "y.csv")
    pd.DataFrame(np.hstack([y, -y]), columns=["c", "d"]).to_csv(tmp_path / "y_noindex.csv", index=False)
    return x, y


def test_csv_index_columns_are_dropped_and_said(tmp_path, pair, capsys):
    x, y = _frames(tmp_path, pair)
    truth = ibscope.mutual_information(np.hstack([x, x ** 3]), np.hstack([y, -y]), random_state=0).value
    assert main(["estimate", str(tmp_path / "x.csv"), str(tmp_path / "y.csv"), "--seed", "0", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["value"] == pytest.approx(truth) and json.loads(out.out)["dim_x"] == 2
    assert "dropped the first column, an unnamed index 0..1999" in out.err
    assert main(["estimate", str(tmp_path / "x.csv"), str(tmp_path / "y_noindex.csv"), "--seed", "0", "--json",
                 "--index-col", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["dim_x"] == 3


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.iloc.__setitem__((7, 1), np.nan), r"x\.csv: line 9, column 'b' is empty \(a missing value\)"),
    (lambda d: d.iloc.__setitem__((3, 0), "oops"), r"x\.csv: line 5, column 'a' holds 'oops', which is not a number"),
])
def test_csv_cells_that_are_not_numbers_are_named(tmp_path, pair, capsys, edit, message):
    x, y = pair
    frame = pd.DataFrame(np.hstack([x, x]), columns=["a", "b"]).astype(object)
    edit(frame)
    frame.to_csv(tmp_path / "x.csv", index=False)
    np.save(tmp_path / "y.npy", y)
    assert main(["estimate", str(tmp_path / "x.csv"), str(tmp_path / "y.npy")]) == 2
    assert __import__("re").search(message, capsys.readouterr().err)


def test_csv_with_semicolons_is_read(tmp_path, pair, capsys):
    x, y = pair
    pd.DataFrame(np.hstack([x, x]), columns=["a", "b"]).to_csv(tmp_path / "x.csv", index=False, sep=";")
    np.save(tmp_path / "y.npy", y)
    assert main(["estimate", str(tmp_path / "x.csv"), str(tmp_path / "y.npy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dim_x"] == 2


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"ibscope {ibscope.__version__}"


def test_bench_checks_parameters_before_any_job(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "custom", "--task", "gaussian", "--mi", "0,1", "--estimator", "ksg", "--param", "k=abc",
                 "--n", "300", "--out", str(out), "--quiet"]) == 2
    assert "ibscope: error: Sweep method 'ksg(k=abc) | raw' at n=300: The 'k' parameter of KSG must be an int" \
        in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("where, message", [
    ("file/sub", r"cannot be created: .*file is a file, not a folder"),
    ("/proc/ibscope-test-run", r"The output folder '/proc/ibscope-test-run' cannot be created \("),
])
def test_output_folders_that_cannot_exist_say_why(tmp_path, capsys, where, message):
    (tmp_path / "file").write_text("x")
    out = where if where.startswith("/") else str(tmp_path / where)
    assert main(["ib", "--dataset", "digits", "--epochs", "1", "--out", out, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert __import__("re").search(message, err) and "Errno" not in err


# --------------------------------------------------------------------------------------------- run folders
def _tiny(**kw) -> IBConfig:
    params = dict(dataset="digits", model="mlp", hidden=[16, 8], epochs=2, batch_size=256, probe_size=300,
                  n_subsamples=3, ci=0.9, plots=False, threads=1, seed=0)
    params.update(kw)
    return IBConfig(**params)


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


_SAME = ("epoch", "layer", "i_xl_raw", "i_ly_raw", "bound")


def _key(rows):
    return [tuple(r[c] for c in _SAME) for r in rows]


def test_resume_of_nothing_says_it_starts_fresh(tmp_path, capsys):
    with pytest.warns(RuntimeWarning, match=r"nothing to resume in .*missing \(no run there yet\): starting a fresh"):
        run_ib(_tiny(epochs=1), out=tmp_path / "missing", resume=True)
    assert main(["ib", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--probe-size", "300",
                 "--no-plots", "--out", str(tmp_path / "empty"), "--resume"]) == 0
    assert "ibscope: note: nothing to resume in" in capsys.readouterr().err


def test_logged_epochs_without_a_checkpoint_are_refused(tmp_path):
    out = tmp_path / "run"
    run_ib(_tiny(), out=out)
    (out / "checkpoints" / "last.pt").unlink()
    (out / "checkpoints" / "start.pt").unlink()
    with pytest.raises(RunFolderError, match=r"it has 2 logged epoch\(s\) \(up to epoch 2\) but no "
                                             r"checkpoints/last\.pt"):
        run_ib(_tiny(epochs=3), out=out, resume=True)
    assert len(_rows(out / "metrics.csv")) == 2  # nothing was touched


@pytest.mark.slow
def test_without_its_last_checkpoint_a_run_resumes_from_its_start_state_with_the_same_numbers(tmp_path):
    ref = tmp_path / "ref"
    run_ib(_tiny(epochs=3), out=ref)
    out = tmp_path / "run"
    run_ib(_tiny(), out=out)
    (out / "checkpoints" / "last.pt").unlink()
    with pytest.warns(RuntimeWarning, match=r"has no checkpoints/last\.pt: the run continues from its start state"):
        res = run_ib(_tiny(epochs=3), out=out, resume=True)
    assert res.epochs_run == [1, 2, 3] and _key(_rows(out / "info.csv")) == _key(_rows(ref / "info.csv"))


@pytest.mark.slow
def test_a_row_lost_after_its_checkpoint_is_redone_and_the_run_continues_unchanged(tmp_path):
    ref = tmp_path / "ref"
    run_ib(_tiny(epochs=3), out=ref)
    out = tmp_path / "cut"
    run_ib(_tiny(epochs=2), out=out)
    data = (out / "info.csv").read_bytes()
    (out / "info.csv").write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 20])  # cut the last row mid-line
    res = run_ib(_tiny(epochs=3), out=out, resume=True)
    rows, want = _rows(out / "info.csv"), _rows(ref / "info.csv")
    assert [(r["epoch"], r["layer"]) for r in rows] == [(r["epoch"], r["layer"]) for r in want]
    assert _key(rows[:3]) == _key(want[:3]) and _key(rows[6:]) == _key(want[6:])  # epochs 1 and 3: identical
    assert all("re-analysed on resume" in r["warnings"] for r in rows[3:6])
    assert res.epochs_run == [3] and json.loads((out / "summary.json").read_text())["n_info_rows"] == 9
    assert json.loads((out / "config.json").read_text())["repairs"][0]["redone"] == ["info.csv rows of epoch 2"]


def test_an_abandoned_start_does_not_block_a_fresh_run(tmp_path):
    out = tmp_path / "run"
    (out / "figures").mkdir(parents=True)
    (out / "config.json").write_text(json.dumps({"format": "ibscope-ib-run", "config": {"epochs": 9}}))
    (out / "metrics.csv").write_text("epoch\n")
    with pytest.warns(RuntimeWarning, match="set up but finished no epoch"):
        res = run_ib(_tiny(epochs=1), out=out)
    assert res.epochs_run == [1] and json.loads((out / "config.json").read_text())["config"]["epochs"] == 1


def test_a_probe_set_too_small_fails_before_anything_is_written(tmp_path):
    out = tmp_path / "p20"
    with pytest.raises(ValueError, match=r"The probe set \(20 rows, 10 classes with 2 to 2 rows each\) cannot be "
                                         r"analysed with these settings: the I\(L;Y\) estimate fails with: Every "
                                         r"class needs at least 6 samples"):
        run_ib(_tiny(probe_size=20, label_side="codes"), out=out)
    assert not out.exists()
    res = run_ib(_tiny(epochs=1, probe_size=20), out=out)  # the decoder label side copes with 2 rows per class
    assert res.epochs_run == [1] and all(math.isfinite(float(r["i_ly_raw"])) for r in _rows(out / "info.csv"))


# --------------------------------------------------------------------------------------------- fault injection
def _crash_on(monkeypatch, target, attr, *, call: int, where: str = "before"):
    """Make ``target.attr`` raise KeyboardInterrupt on its ``call``-th call, before or after doing its work."""
    real = getattr(target, attr)
    count = {"n": 0}

    def wrapped(*args, **kwargs):
        count["n"] += 1
        if count["n"] == call and where == "before":
            raise KeyboardInterrupt(f"simulated kill before {attr}")
        out = real(*args, **kwargs)
        if count["n"] == call and where == "after":
            raise KeyboardInterrupt(f"simulated kill after {attr}")
        return out

    monkeypatch.setattr(target, attr, wrapped)


# Kills at every write point, for every writer: tests/unit/test_run_folders.py (all of them with --run-slow).


def test_a_metrics_row_lost_after_its_checkpoint_is_redone(tmp_path):
    out = tmp_path / "run"
    run_ib(_tiny(epochs=2), out=out)
    data = (out / "metrics.csv").read_bytes()
    (out / "metrics.csv").write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 5])
    run_ib(_tiny(epochs=2), out=out, resume=True)
    rows = _rows(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"] and rows[1]["train_loss"] == "nan" and rows[1]["test_loss"]


def test_cli_variant_2_and_bench_out_below_a_file(tmp_path, pair, capsys):
    x, y = pair
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--variant", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"]["variant"] == 2
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--estimator", "ksg", "--variant", "2",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["estimator"] == "ksg2"
    (tmp_path / "file").write_text("x")
    assert main(["bench", "smoke", "--out", str(tmp_path / "file" / "sub"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "The sweep folder" in err and "is a file, not a folder. Pass another output folder." in err


def test_plot_of_a_demo_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "300", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "demo")]) == 2
    assert "is not a result folder that 'ibscope plot' knows: it has none of info.csv, sweep.json" in \
        capsys.readouterr().err
