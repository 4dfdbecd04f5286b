"""Sweeps: rows and columns, resume, kill recovery, refusal of foreign folders, CLI errors, Ray/Dask backends."""

from __future__ import annotations

import csv
import json
import os

import pytest

from ibscope import cli
from ibscope import sweep as sw
from ibscope.runs import ConfigMismatchError, FolderNotEmptyError
from ibscope.sweep import (
    RESULT_COLUMNS,
    Grid,
    Method,
    SweepConfig,
    accuracy_table,
    get_preset,
    load_results,
    parse_mi_grid,
    run_sweep,
    summarize,
)

GAUSS = {"dim_x": 2, "dim_y": 2}


def _config(mi=(0.0, 1.0), methods=None, **grid):
    methods = methods or [Method("ksg"), Method("ksg", compress_x="pca:1")]
    g = dict(tasks=["gaussian"], task_params=GAUSS, mi=list(mi), methods=methods, n=[300], seeds=[0])
    g.update(grid)
    return SweepConfig([Grid(**g)], compressor_options={"n_train": 200})


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _snapshot(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            p = os.path.join(root, name)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = (fh.read(), os.stat(p).st_mtime_ns)
    return out


# --------------------------------------------------------------------------- end to end
def test_sweep_writes_rows_columns_and_metadata(tmp_path):
    out = tmp_path / "run"
    df = run_sweep(_config(), out, backend="sequential")
    rows = _rows(out / "results.csv")
    assert tuple(rows[0]) == RESULT_COLUMNS
    assert len(rows) == 1 + 4 and len(df) == 4
    assert set(df["status"]) == {"ok"}
    assert sorted(df["true_mi"].unique().tolist()) == [0.0, 1.0]
    assert set(df["method"]) == {"ksg | raw", "ksg | pca:1"}
    assert df["job_key"].is_unique
    for col in ("estimate", "raw", "time_s", "ibscope_version", "numpy_version", "torch_version", "seed",
                "sample_seed", "finished_at"):
        assert df[col].notna().all(), col
    # the same sample feeds both methods at a point (paired comparison)
    assert df.groupby("true_mi")["sample_seed"].nunique().eq(1).all()
    pca = df[df["compress_x"] == "pca:1"]
    assert (pca["recon_error_x"] > 0).all() and (pca["dim_x"] == 1).all()
    assert pca["compressor_x_file"].str.startswith("models/").all()
    assert df.loc[df["compress_x"] == "none", "recon_error_x"].isna().all()
    # one PCA fitted once on independent data, shared by X and Y and by both MI points
    models = sorted(p.name for p in (out / "models").glob("*.npz"))
    assert len(models) == 1 and "__xy__" in models[0]
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["format"] == "ibscope.sweep" and meta["config"] == json.loads(json.dumps(_config().to_dict()))
    assert meta["n_jobs_total"] == 4 and "torch_version" in meta["environment"]
    # estimates are sensible: about 0 at independence, about 1 nat at MI 1 without compression
    raw = df[df["compress_x"] == "none"].set_index("true_mi")["estimate"]
    assert raw[0.0] < 0.2 and 0.6 < raw[1.0] < 1.4
    table = accuracy_table(df, mi_max=1.0)
    assert set(table.columns) >= {"task", "method", "mae", "monotone_up_to", "max_estimate"}
    s = summarize(df)
    assert (s["count"] == 1).all() and (s["std"] == 0).all()


def test_autoencoder_fitted_once_per_seed_and_reused(tmp_path):
    cfg = SweepConfig([Grid(tasks="bump-16", mi=[0.0, 3.0], methods=[Method("ksg", compress_x="conv-ae:2")],
                            n=200, seeds=[0, 1])],
                      compressor_options={"n_train": 64, "params": {"conv-ae": {"epochs": 1}}})
    df = run_sweep(cfg, tmp_path / "ae", executor="sequential")
    assert len(df) == 4 and set(df["status"]) == {"ok"}
    models = sorted((tmp_path / "ae" / "models").glob("*.npz"))
    assert len(models) == 2  # one per seed, reused across the two MI points
    per_seed = df.groupby("seed")["compressor_x_file"].nunique()
    assert per_seed.eq(1).all()
    assert df["recon_error_val_x"].notna().all() and (df["dim_x"] == 2).all()


def test_rerun_skips_finished_jobs_without_duplicates(tmp_path, monkeypatch):
    out = tmp_path / "run"
    first = run_sweep(_config(), out, backend="sequential")
    before = (out / "results.csv").read_bytes()

    def boom(*args, **kwargs):
        raise AssertionError("a finished job was run again")

    monkeypatch.setattr(sw.jobs, "_run_job", boom)
    monkeypatch.setattr(sw.jobs, "_fit_compressor", boom)
    again = run_sweep(_config(), out, backend="sequential")
    assert (out / "results.csv").read_bytes() == before
    assert sorted(again["job_key"]) == sorted(first["job_key"])


def test_truncated_last_line_is_dropped_and_job_rerun(tmp_path):
    out = tmp_path / "run"
    run_sweep(_config(), out, backend="sequential")
    path = out / "results.csv"
    data = path.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    lost_key = data[last_start:].split(b",")[0].decode()
    path.write_bytes(data[: last_start + 25])  # a kill in the middle of writing the last row
    assert len(load_results(out)) == 3  # readers ignore the partial line
    df = run_sweep(_config(), out, backend="sequential")
    rows = _rows(path)
    assert len(rows) == 1 + 4 and all(len(r) == len(RESULT_COLUMNS) for r in rows)
    assert len(df) == 4 and df["job_key"].is_unique and lost_key in set(df["job_key"])
    assert path.read_bytes().endswith(b"\n")


def test_job_that_raises_is_recorded_and_retried(tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = sw.jobs._estimate

    def flaky(job, blobs, fit_info):
        if job.mi == 1.0:
            raise RuntimeError("simulated crash")
        return real(job, blobs, fit_info)

    monkeypatch.setattr(sw.jobs, "_estimate", flaky)
    df = run_sweep(_config(), out, backend="sequential")
    assert len(df) == 2 and (df["true_mi"] == 0.0).all()
    failed = load_results(out, include_failed=True)
    errors = failed[failed["status"] == "error"]
    assert len(errors) == 2 and errors["error"].str.contains("RuntimeError: simulated crash").all()
    monkeypatch.setattr(sw.jobs, "_estimate", real)
    df = run_sweep(_config(), out, backend="sequential")
    assert len(df) == 4 and df["job_key"].is_unique and set(df["status"]) == {"ok"}
    assert len(_rows(out / "results.csv")) == 1 + 2 + 2 + 2  # header, 2 ok, 2 errors, 2 retried


def test_different_configuration_is_refused_and_folder_untouched(tmp_path):
    out = tmp_path / "run"
    run_sweep(_config(), out, backend="sequential")
    before = _snapshot(out)
    with pytest.raises(ConfigMismatchError, match=r"holds another sweep \(it differs in: grids\[0\]\.mi.*left "
                                                  r"unchanged"):
        run_sweep(_config(mi=(0.0, 2.0)), out, backend="sequential")
    assert _snapshot(out) == before
    # a results.csv that no sweep.json describes is refused as well
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FolderNotEmptyError, match="is not empty and has no sweep.json: it holds results.csv"):
        run_sweep(_config(), other, backend="sequential")
    assert (other / "results.csv").read_text() == "a,b\n1,2\n"


def test_unwritable_folder_fails_before_any_work(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(sw.jobs, "_execute", boom)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match=r"The sweep folder .*sub.* cannot be created: .*file.txt is a file"):
        run_sweep(_config(), blocker / "sub", backend="sequential")
    with pytest.raises(OSError, match="is a file, not a folder"):
        run_sweep(_config(), blocker, backend="sequential")
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(OSError, match="is not writable"):
                run_sweep(_config(), ro, backend="sequential")
        finally:
            ro.chmod(0o700)


# --------------------------------------------------------------------------- names and parsing
def test_unknown_names_give_messages_listing_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"^Unknown sweep preset 'nope'\. Valid presets: paper, paper-reduced, "
                                         r"smoke\.$"):
        get_preset("nope")
    cfg = SweepConfig([Grid(tasks="no-such-task", mi=[1.0], methods=["ksg"], n=100, seeds=0)])
    with pytest.raises(ValueError, match=r"^Unknown task 'no-such-task'\. Valid task names: .*bump-16.*gaussian"):
        run_sweep(cfg, tmp_path / "x", executor="sequential")
    cfg = _config(methods=[Method("no-such-estimator")])
    with pytest.raises(ValueError, match=r"Unknown estimator 'no-such-estimator'.*Valid names: .*ksg"):
        run_sweep(cfg, tmp_path / "x", executor="sequential")
    cfg = _config(methods=[Method("ksg", compress_x="zip:2")])
    with pytest.raises(ValueError, match=r"Unknown compressor 'zip:2'\. Valid names: 'pca'"):
        run_sweep(cfg, tmp_path / "x", executor="sequential")
    with pytest.raises(ValueError, match=r"Unknown sweep backend 'spark'\. Valid backends: loky, ray, dask"):
        run_sweep(_config(), tmp_path / "x", backend="spark")
    assert not (tmp_path / "x").exists()  # validation happens before the folder is made


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["bench", "nope", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("ibscope: error: Unknown preset 'nope'. Valid presets: paper, paper-reduced, smoke, custom "
                   "(or 'list' to describe them).")
    assert cli.main(["bench", "custom", "--task", "nope", "--mi", "0:1:2", "--estimator", "ksg",
                     "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ibscope: error: Unknown task 'nope'. Valid task names: ") and "\n" not in err
    assert cli.main(["bench", "custom", "--task", "gaussian", "--out", str(tmp_path / "o")]) == 2
    assert "needs --mi, --estimator" in capsys.readouterr().err
    assert cli.main(["bench", "smoke", "--mi", "0:1:2", "--out", str(tmp_path / "o")]) == 2
    assert "only apply to 'ibscope bench custom'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert cli.main(["bench", "list"]) == 0
    assert "paper-reduced" in capsys.readouterr().out


def test_cli_custom_grid_runs_and_resumes(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["bench", "custom", "--task", "gaussian", "--mi", "0:1:2", "--estimator", "ksg,kl", "--n", "200",
            "--seeds", "0,1", "--param", "k=3", "--out", str(out), "--backend", "sequential", "--quiet"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "mae" in printed and "ksg(k=3) | raw" in printed
    df = load_results(out)
    assert len(df) == 8 and set(df["seed"]) == {0, 1}
    assert sorted((out / "figures").iterdir())[0].name.startswith("estimate_vs_true_gaussian")
    assert cli.main(argv + ["--no-plot"]) == 0
    assert len(_rows(out / "results.csv")) == 1 + 8


def test_parse_mi_grid():
    assert parse_mi_grid("0:5:11") == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    assert parse_mi_grid("0,1,2.5") == [0.0, 1.0, 2.5]
    assert parse_mi_grid("0:0.3:4")[1] == 0.1
    for bad in ("0:5", "a,b", "0:5:0", "-1,2"):
        with pytest.raises(ValueError, match="true-MI grid|>= 0 nats"):
            parse_mi_grid(bad)


def test_presets_expand():
    assert len(get_preset("smoke").jobs()) == 10
    reduced = get_preset("paper-reduced")
    jobs = reduced.jobs()
    assert {j.task for j in jobs} == {"bump-16"} and max(j.mi for j in jobs) == 6.0
    assert {j.method.label for j in jobs} >= {"ksg | conv-ae:2", "wkl | conv-ae:2", "ksg | pca:2", "ksg | raw"}
    paper = get_preset("paper")
    assert {j.task for j in paper.jobs()} == {"bump-16", "rectangle-32"}
    assert len({j.mi for j in paper.jobs()}) == 41


def test_job_keys_are_stable():
    a, b = _config().jobs(), _config().jobs()
    assert [j.key for j in a] == [j.key for j in b]
    assert len({j.key for j in a}) == len(a)
    # the same point with another method gets another key but the same sample
    assert a[0].sample_seed == a[1].sample_seed and a[0].key != a[1].key


def test_plot_sweep_writes_png_and_pdf(tmp_path):
    from ibscope.plots import plot_sweep

    out = tmp_path / "run"
    run_sweep(_config(seeds=[0, 1]), out, backend="sequential")
    paths = plot_sweep(out)
    assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
    assert all(p.stat().st_size > 1000 and p.parent == out / "figures" for p in paths)


def test_missing_cluster_package_gives_install_hint(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("ray"):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"backend='ray' needs Ray: pip install 'ibscope\[ray\]'"):
        run_sweep(_config(), tmp_path / "r", backend="ray")


def test_failed_compressor_fit_marks_its_jobs_and_is_retried(tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = sw.jobs._fit_compressor

    def broken(fit, n_threads):
        raise RuntimeError("simulated fit crash")

    monkeypatch.setattr(sw.jobs, "_fit_compressor", broken)
    df = run_sweep(_config(), out, backend="sequential")
    assert set(df["compress_x"]) == {"none"}  # the raw jobs still ran
    failed = load_results(out, include_failed=True)
    bad = failed[failed["status"] == "error"]
    assert len(bad) == 2 and bad["error"].str.contains("compressor fit failed: RuntimeError").all()
    assert not list((out / "models").glob("*.npz"))
    monkeypatch.setattr(sw.jobs, "_fit_compressor", real)
    df = run_sweep(_config(), out, backend="sequential")
    assert len(df) == 4 and df["job_key"].is_unique


def test_plot_command_dispatches_sweep_folders(tmp_path):
    """``ibscope plot`` draws estimate-vs-true figures for a sweep results folder."""
    from ibscope.cli import main
    from ibscope.sweep import get_preset, run_sweep

    out = tmp_path / "smoke"
    run_sweep(get_preset("smoke"), out, backend="sequential")
    assert main(["plot", str(out), "--format", "png"]) == 0
    assert list((out / "figures").glob("estimate_vs_true_*.png"))
