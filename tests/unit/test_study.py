"""IB studies (several seeds and grid points as independent jobs), and run/study folders as data frames.

Every study here is the digits run with 2 epochs, 300 probe images and no intervals (under a second
per run once the kNN code is compiled); the Ray test starts a local 2-CPU Ray instance (about 25 s).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ibscope.cli import main
from ibscope.ib import IBConfig, RunFolderError, load_run, load_study, run_ib, run_study
from ibscope.runs import FolderLock, FolderLockedError
from ibscope.study import SUMMARY_METRICS, SUMMARY_VALUES, parse_grid, parse_seeds


def _cfg(**kw) -> IBConfig:
    params = dict(dataset="digits", epochs=2, probe_size=300, ci=0, plots=False, threads=1)
    params.update(kw)
    return IBConfig(**params)


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".ibscope.lock"}


def _numbers(path: Path) -> pd.DataFrame:
    """info.csv or metrics.csv without the timing columns (the only ones that may differ between two runs)."""
    df = pd.read_csv(path)
    return df.drop(columns=[c for c in df.columns if c == "time_s" or c.endswith("_s")])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A finished two-seed study (sequential backend) and the same two seeds as individual runs."""
    root = tmp_path_factory.mktemp("study")
    res = run_study(_cfg(), seeds="0:2", out=root / "study", executor="sequential")
    single = {s: run_ib(_cfg(seed=s), out=root / f"single-{s}").out for s in (0, 1)}
    return root / "study", res, single


# ----------------------------------------------------------------------------------------------- layout, numbers
def test_study_layout_and_each_run_equals_a_single_run(study):
    out, res, single = study
    assert sorted(p.name for p in out.iterdir() if p.name != ".ibscope.lock") == ["phases.csv", "runs", "study.json", "summary.csv"]
    record = json.loads((out / "study.json").read_text())
    assert record["format"] == "ibscope-ib-study" and record["seeds"] == [0, 1] and record["grid"] == {}
    assert record["config"]["epochs"] == 2 and record["config_resolved"]["batch_size"] == 128
    assert record["versions"]["torch"] and record["created"] and record["drivers"][0]["executor"] == "sequential"
    assert [(r["point"], r["seed"], r["status"]) for r in res.runs] == [("base", 0, "ok"), ("base", 1, "ok")]
    assert not res.failed and res.figures == [] and "2 ran, 0 already finished, 0 failed" in res.summary()
    for s in (0, 1):
        run = out / "runs" / "base" / f"seed{s}"
        assert json.loads((run / "config.json").read_text())["config"]["seed"] == s
        assert json.loads((run / "summary.json").read_text())["completed_epochs"] == 2
        for name in ("info.csv", "metrics.csv"):
            pd.testing.assert_frame_equal(_numbers(run / name), _numbers(single[s] / name))
    # the seeds really differ
    assert not _numbers(out / "runs/base/seed0/info.csv").equals(_numbers(out / "runs/base/seed1/info.csv"))


def test_summary_is_the_mean_and_std_over_seeds(study):
    out, res, _ = study
    info = pd.concat([pd.read_csv(out / f"runs/base/seed{s}/info.csv") for s in (0, 1)])
    metrics = pd.concat([pd.read_csv(out / f"runs/base/seed{s}/metrics.csv") for s in (0, 1)])
    expected = info.groupby(["epoch", "layer"])[list(SUMMARY_VALUES)].agg(["mean", "std"])
    expected_m = metrics.groupby("epoch")[list(SUMMARY_METRICS)].agg(["mean", "std"])
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == len(expected) == 2 * 5 and (table["n_seeds"] == 2).all() and (table["point"] == "base").all()
    assert list(table.columns[:6]) == ["point", "epoch", "layer", "layer_index", "n_seeds", "i_xl_mean"]
    for _, row in table.iterrows():
        for col in SUMMARY_VALUES:
            for stat in ("mean", "std"):
                want = expected.loc[(row["epoch"], row["layer"]), (col, stat)]
                assert row[f"{col}_{stat}"] == pytest.approx(want, nan_ok=True), (col, stat)
        for col in SUMMARY_METRICS:
            assert row[f"{col}_mean"] == pytest.approx(expected_m.loc[row["epoch"], (col, "mean")])
            assert row[f"{col}_std"] == pytest.approx(expected_m.loc[row["epoch"], (col, "std")])
    assert np.isnan(table["i_xl_code_lo_mean"]).all()  # ci=0: no intervals
    pd.testing.assert_frame_equal(res.table, table, check_dtype=False)


# ----------------------------------------------------------------------------------------------- resume
def test_rerun_skips_finished_runs_and_redoes_only_what_is_missing(study, tmp_path):
    src, _, _ = study
    out = tmp_path / "study"
    shutil.copytree(src, out)
    before = _digest(out / "runs/base/seed0")
    again = run_study(_cfg(), seeds=[0, 1], out=out, executor="sequential")
    assert [r["status"] for r in again.runs] == ["finished", "finished"] and again.failed == []
    # a run whose summary.json is gone (killed while finishing) is resumed; the finished one is not touched
    (out / "runs/base/seed1/summary.json").unlink()
    res = run_study(_cfg(), seeds=[0, 1], out=out, executor="sequential")
    assert [(r["status"], r["resumed"], r["epochs_run"]) for r in res.runs] == [
        ("finished", False, []), ("ok", True, [])]
    assert (out / "runs/base/seed1/summary.json").is_file() and _digest(out / "runs/base/seed0") == before
    # a missing run starts afresh and gives the same numbers
    shutil.rmtree(out / "runs/base/seed1")
    res = run_study(_cfg(), seeds=[0, 1], out=out, executor="sequential")
    assert [(r["status"], r["resumed"], r["epochs_run"]) for r in res.runs] == [
        ("finished", False, []), ("ok", False, [1, 2])]
    pd.testing.assert_frame_equal(_numbers(out / "runs/base/seed1/info.csv"), _numbers(src / "runs/base/seed1/info.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), pd.read_csv(src / "summary.csv"))
    assert _digest(out / "runs/base/seed0") == before


def test_a_run_stopped_mid_way_continues_from_its_checkpoint(study, tmp_path):
    """Simulate a study killed during seed 1: seed 1 has one of its two epochs (checkpoint, no summary)."""
    src, _, _ = study
    out = tmp_path / "study"
    shutil.copytree(src, out)
    run = out / "runs/base/seed1"
    shutil.rmtree(run)
    run_ib(_cfg(seed=1, epochs=1), out=run)
    (run / "summary.json").unlink()
    res = run_study(_cfg(), seeds="0:2", out=out, executor="sequential")
    assert [(r["status"], r["resumed"], r["epochs_run"]) for r in res.runs] == [
        ("finished", False, []), ("ok", True, [2])]
    for name in ("info.csv", "metrics.csv"):  # as if it had never stopped
        pd.testing.assert_frame_equal(_numbers(run / name), _numbers(src / "runs/base/seed1" / name))


def test_another_configuration_is_refused_and_the_folder_left_alone(study, tmp_path):
    src, _, _ = study
    out = tmp_path / "study"
    shutil.copytree(src, out)
    before = _digest(out)
    with pytest.raises(RunFolderError, match=r"holds another study \(it differs in: config\.noise\)"):
        run_study(_cfg(noise=1e-2), seeds="0:2", out=out, executor="sequential")
    with pytest.raises(RunFolderError, match=r"it differs in: grid\.noise, seeds\)"):
        run_study(_cfg(), seeds="0:3", grid={"noise": [1e-3]}, out=out, executor="sequential")
    # settings that do not change the numbers may differ
    assert [r["status"] for r in run_study(_cfg(device="cpu", threads=0), seeds="0:2", out=out,
                                           executor="sequential").runs] == ["finished", "finished"]
    assert {k: v for k, v in _digest(out).items() if k != "study.json"} == \
        {k: v for k, v in before.items() if k != "study.json"}
    # a folder that holds something else
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match=r"is not empty and has no study\.json: it holds notes\.txt"):
        run_study(_cfg(), seeds="0", out=other, executor="sequential")
    with pytest.raises(RunFolderError, match=r"has no study\.json: it is an ibscope IB run folder"):
        run_study(_cfg(), seeds="0", out=out / "runs/base/seed0", executor="sequential")
    # a second driver on the same study is refused
    with FolderLock(out, what="IB study"):
        with pytest.raises(FolderLockedError, match=r"Another IB study \(PID \d+"):
            run_study(_cfg(), seeds="0:2", out=out, executor="sequential")


# ----------------------------------------------------------------------------------------------- syntax
def test_seeds_syntax():
    assert parse_seeds("0:5") == [0, 1, 2, 3, 4] and parse_seeds("0,3,7") == [0, 3, 7] and parse_seeds("3") == [3]
    assert parse_seeds(4) == [4] and parse_seeds(range(2)) == [0, 1] and parse_seeds(" 2:4 ") == [2, 3]
    for bad, why in (("5:2", r"the range 5:2 is empty"), ("a", ""), ("1:2:3", ""), ("", ""), ("0,,1", ""),
                     ("-1", r"seed -1 is negative"), ("0,1,0", r"seed 0 is repeated"), ([], r"no seeds"),
                     ([1.5], ""), (True, "")):
        with pytest.raises(ValueError, match=r"The 'seeds' argument of .* must be START:STOP \(0:5 = seeds 0 to 4\)"
                                             + (f".*{why}" if why else "")):
            parse_seeds(bad)
    with pytest.raises(ValueError, match=r"^The '--seeds' option of ibscope ib must be START:STOP"):
        parse_seeds("x", owner="--seeds")


def test_grid_syntax_and_every_point_checked_before_anything_runs(tmp_path):
    assert parse_grid(["noise=1e-3,1e-2", "compress=pca:4,pca:2", "noise-in-eval=false", "probe_size=none,300"]) == {
        "noise": [1e-3, 1e-2], "compress": ["pca:4", "pca:2"], "noise_in_eval": [False], "probe_size": [None, 300]}
    cases = [(["nois=1"], r"Unknown grid key 'nois' in --grid 'nois=1'\. Valid keys: dataset, model"),
             (["noise"], r"must be KEY=V1,V2"),
             (["noise="], r"The --grid values of 'noise' must be a comma-separated list"),
             (["noise=1,"], r"The --grid values of 'noise' must be a comma-separated list"),
             (["noise=abc"], r"The --grid values of 'noise' must be numbers\. Got 'abc' in 'noise=abc'"),
             (["k=2.5"], r"The --grid values of 'k' must be ints\. Got '2\.5'"),
             (["seed=1,2"], r"The 'seed' field cannot be a grid key .*pass seeds=\.\.\. \(--seeds\)"),
             (["device=cpu"], r"The 'device' field cannot be a grid key .*does not change the results"),
             (["noise=1", "noise=2"], r"The grid key 'noise' is given twice"),
             (["hidden=8"], r"The 'hidden' field cannot be a --grid key on the command line")]
    for specs, message in cases:
        with pytest.raises(ValueError, match=message):
            parse_grid(specs)
    out = tmp_path / "s"
    with pytest.raises(ValueError, match=r"Grid point noise=0\.001, estimator='nope': Unknown estimator 'nope'"):
        run_study(_cfg(), seeds=[0], grid={"noise": [1e-3, 1e-2], "estimator": ["kl", "nope"]}, out=out)
    with pytest.raises(ValueError, match=r"Grid point noise=-1\.0: The 'noise' field of IBConfig must be a float >= 0"):
        run_study(_cfg(), seeds=[0], grid=["noise=1e-3,-1"], out=out)
    with pytest.raises(ValueError, match=r"The grid has the same point twice"):
        run_study(_cfg(), seeds=[0], grid={"dataset": ["digits", "DIGITS"]}, out=out)
    with pytest.raises(ValueError, match=r"The 'executor' argument of run_study must be one of loky, ray, dask, "
                                         r"sequential\. Got 'threading'"):
        run_study(_cfg(), seeds=[0], out=out, executor="threading")
    with pytest.raises(ValueError, match=r"'address' argument of run_study is for executor='ray' or 'dask'"):
        run_study(_cfg(), seeds=[0], out=out, address="auto")
    with pytest.raises(ValueError, match=r"The 'seeds' argument of run_study is needed for a new study"):
        run_study(_cfg(), out=out)
    assert not out.exists()  # nothing was written


# ----------------------------------------------------------------------------------------------- grid, failures, CLI
def test_grid_study_and_a_failing_run_from_the_command_line(tmp_path, capsys):
    """Two grid points, one of which fails in its job: the other is kept, the failure reported, exit 1."""
    out = tmp_path / "grid"
    args = ["ib", "--dataset", "digits", "--epochs", "1", "--ci", "0", "--no-plots", "--seeds", "0",
            "--grid", "probe_size=300,99999", "--executor", "sequential", "--knn-backend", "kdtree", "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "[1/2] probe_size=300/seed0: done in" in err
    assert "[2/2] probe_size=99999/seed0: FAILED" in err and "The 'n' parameter of probe_set" in err
    assert "2 run(s): 1 ran, 0 already finished, 1 failed; wall time" in err
    assert "run probe_size=99999/seed0 failed: ValueError: The 'n' parameter of probe_set" in err
    ok = out / "runs/probe_size=300/seed0"
    assert json.loads((ok / "config.json").read_text())["config"]["knn_backend"] == "kdtree"
    table = pd.read_csv(out / "summary.csv")
    assert set(table["point"]) == {"probe_size=300"} and (table["probe_size"] == 300).all()
    before = _digest(ok)
    # again: the finished run is skipped, the failed one retried (and failing again); --resume needs no flags
    assert main(["ib", "--out", str(out), "--resume", "--backend", "sequential", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ibscope: run probe_size=99999/seed0 failed: ValueError" in err
    assert _digest(ok) == before
    with pytest.warns(RuntimeWarning, match=r"1 run\(s\) of the study .* failed: probe_size=99999/seed0"):
        res = run_study(out=out, executor="sequential")
    assert [(r["point"], r["status"]) for r in res.runs] == [("probe_size=300", "finished"),
                                                              ("probe_size=99999", "error")]
    data = load_study(out)
    assert list(data.runs["status"]) == ["finished", "missing"] and data.grid == {"probe_size": [300, 99999]}


def test_cli_flags_of_a_study(tmp_path, capsys):
    out = str(tmp_path / "s")
    cases = [(["--seeds", "0:2", "--seed", "1"], r"--seed and --seeds cannot be combined"),
             (["--backend", "loky"], r"--executor loky says where the runs of a study go; it needs --seeds"),
             (["--executor", "loky"], r"--executor loky says where the runs of a study go; it needs --seeds"),
             (["--n-jobs", "2"], r"--n-jobs is for a study"),
             (["--seeds", "2:1"], r"The '--seeds' option of ibscope ib must be START:STOP"),
             (["--seeds", "0", "--grid", "nope=1"], r"Unknown grid key 'nope'"),
             (["--backend", "kdtree", "--knn-backend", "numba"], r"both set the neighbour-search backend")]
    for extra, message in cases:
        assert main(["ib", "--out", out, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ibscope: error: ") and err.count("\n") == 1, err
        assert pytest.importorskip("re").search(message, err), err
    assert not Path(out).exists()


@pytest.mark.parametrize("backend, package", [("ray", "ray"), ("dask", "distributed")])
def test_a_missing_cluster_package_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, backend, package):
    monkeypatch.setitem(sys.modules, package, None)  # as if the extra were not installed
    out = tmp_path / "s"
    assert main(["ib", "--dataset", "digits", "--seeds", "0:2", "--backend", backend, "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ibscope: error: backend='{backend}' needs") and "pip install 'ibscope[" in err, err
    assert err.count("\n") == 1 and not out.exists()


# ----------------------------------------------------------------------------------------------- data frames
def test_load_run_and_load_study(study, tmp_path):
    out, _, _ = study
    run = load_run(out / "runs/base/seed1")
    assert run.finished and run.config.seed == 1 and run.config.epochs == 2 and run.summary["completed_epochs"] == 2
    raw = pd.read_csv(out / "runs/base/seed1/info.csv")
    assert list(run.info.columns) == list(raw.columns) and len(run.info) == len(raw) == 10
    assert run.info["i_xl_code"].dtype == float
    assert run.info["i_xl_code"].to_numpy() == pytest.approx(raw["i_xl_code"].to_numpy())
    assert list(run.metrics["epoch"]) == [1, 2] and "test_acc" in run.metrics
    data = load_study(out)
    assert data.seeds == [0, 1] and data.grid == {} and list(data.runs["status"]) == ["finished", "finished"]
    assert list(data.info.columns[:3]) == ["point", "seed", "epoch"] and "analysis_seed" in data.info
    assert sorted(data.info.groupby("seed").size().items()) == [(0, 10), (1, 10)]
    seed1 = data.info[data.info["seed"] == 1].drop(columns=["point", "seed"]).reset_index(drop=True)
    assert seed1["i_ly"].to_numpy() == pytest.approx(run.info["i_ly"].to_numpy())
    assert len(data.metrics) == 4 and set(data.metrics["seed"]) == {0, 1}
    pd.testing.assert_frame_equal(data.summary, pd.read_csv(out / "summary.csv"))
    # the summary is computed from the runs when summary.csv is not there
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "summary.csv").unlink()
    pd.testing.assert_frame_equal(load_study(copy).summary, data.summary, check_dtype=False)
    # clear errors for the wrong kind of folder
    with pytest.raises(RunFolderError, match=r"is an ibscope ib study \(it has a study\.json\), not a single run: "
                                             r"read it with ibscope\.study\.load_study"):
        load_run(out)
    with pytest.raises(RunFolderError, match=r"has no study\.json\. It is an ib run folder: read it with "
                                             r"ibscope\.ib\.load_run"):
        load_study(out / "runs/base/seed0")
    with pytest.raises(RunFolderError, match=r"is not an ibscope ib run folder: it has no config\.json"):
        load_run(out / "runs")
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        load_study(tmp_path / "nothing")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(RunFolderError, match=r"is a file, not an ibscope ib run folder"):
        load_run(tmp_path / "f.txt")


def test_study_figures_have_bands_per_point(tmp_path):
    out = tmp_path / "figs"
    res = run_study(_cfg(model="mlp", hidden=[8], epochs=1, probe_size=200), seeds=[0], out=out,
                    executor="sequential", figures=True, formats=("png",))
    names = sorted(str(p.relative_to(out)) for p in res.figures)
    assert names == ["figures/base/seeds_info_plane.png", "figures/base/seeds_loss.png",
                     "figures/base/seeds_mi_vs_epoch.png"]
    assert all(p.stat().st_size > 1000 for p in res.figures)


def test_ibscope_plot_redraws_a_study(tmp_path, capsys):
    out = tmp_path / "plotted"
    run_study(_cfg(model="mlp", hidden=[8], epochs=1, probe_size=200), seeds=[0, 1], out=out,
              executor="sequential", figures=False)
    assert not (out / "figures").exists()
    assert main(["plot", str(out), "--format", "png"]) == 0
    printed = sorted(Path(line).relative_to(out).as_posix() for line in capsys.readouterr().out.split())
    assert printed == ["figures/base/seeds_info_plane.png", "figures/base/seeds_loss.png",
                       "figures/base/seeds_mi_vs_epoch.png"]
    assert all((out / p).stat().st_size > 1000 for p in printed)
