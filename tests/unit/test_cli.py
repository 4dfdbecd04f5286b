"""The ``ibscope`` command line: output formats, exit codes and one-line errors."""

import argparse
import importlib
import json

import numpy as np
import pytest

from ibscope.cli import build_parser, main
from ibscope.synthetic import correlated_gaussian


@pytest.fixture
def files(tmp_path):
    x, y, true = correlated_gaussian(1000, 2, 1, 1.0, random_state=0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "both.npz", x=x, y=y)
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="a,b", comments="")
    np.savetxt(tmp_path / "y.csv", y, delimiter=",")
    return tmp_path, true


def test_estimate_json(files, capsys):
    d, true = files
    assert main(["estimate", str(d / "x.npy"), str(d / "y.npy"), "--json", "--seed", "0", "--ci", "0.9"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["estimator"] == "auto" and out["units"] == "nats" and out["seed"] == 0
    assert abs(out["value"] - true) < 0.1
    assert out["ci_low"] < out["value"] < out["ci_high"]


def test_estimate_human_bits_csv(files, capsys):
    d, true = files
    assert main(["estimate", str(d / "x.csv"), str(d / "y.csv"), "--units", "bits", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "bits" in out and "samples: 1000, dims: 2 + 1" in out


def test_estimate_npz_keys(files, capsys):
    d, _ = files
    assert main(["estimate", str(d / "both.npz"), str(d / "both.npz"), "--x-key", "x", "--y-key", "y", "--seed", "0"]) == 0
    assert main(["estimate", str(d / "both.npz"), str(d / "y.npy")]) == 2
    assert "holds several arrays (x, y)" in capsys.readouterr().err


def test_missing_file(files, capsys):
    d, _ = files
    assert main(["estimate", str(d / "nope.npy"), str(d / "y.npy")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ibscope: error: file not found") and "\n" not in err


def test_unreadable_file(files, capsys):
    d, _ = files
    (d / "bad.npy").write_bytes(b"not a numpy file")
    assert main(["estimate", str(d / "bad.npy"), str(d / "y.npy")]) == 2
    assert "ibscope: error: cannot read" in capsys.readouterr().err


def test_bad_input_is_one_line(files, capsys):
    d, _ = files
    np.save(d / "short.npy", np.zeros((10, 1)))
    assert main(["estimate", str(d / "x.npy"), str(d / "short.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "same number of rows" in err


def test_unsupported_extension(files, capsys):
    d, _ = files
    (d / "x.parquet").write_bytes(b"")
    assert main(["estimate", str(d / "x.parquet"), str(d / "y.npy")]) == 2
    assert "unsupported file type .parquet" in capsys.readouterr().err


def test_discrete_labels_from_csv(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(600, 1))
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "labels.csv", np.floor(x[:, 0] * 3).astype(int), fmt="%d")
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "labels.csv"), "--y-discrete", "--json",
                 "--estimator", "kl", "--seed", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["value"] - np.log(3)) < 0.15


def test_demo_writes_results_and_plot(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "600", "--quiet"]) == 0
    assert (tmp_path / "demo" / "results.csv").exists()
    assert (tmp_path / "demo" / "estimate_vs_truth.png").stat().st_size > 1000


def test_no_command_prints_help(capsys):
    assert main([]) == 2


def test_every_subcommand_is_registered():
    """Each subcommand module is imported and registered; a broken one must fail loudly, never vanish."""
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub.choices) == ["estimate", "demo", "bench", "ib", "plot"]
    for name, subparser in sub.choices.items():
        assert subparser.get_default("func") is importlib.import_module(f"ibscope.cli.{name}").run


def test_ib_bracket_flags_reach_the_config_and_a_bad_trial_count_is_named(capsys, tmp_path):
    from ibscope.cli.ib import build_config

    parser = build_parser()
    cfg = build_config(parser.parse_args(["ib", "--no-brackets", "--no-xl-estimate", "--bracket-trials", "200",
                                          "--background-analysis", "--out", str(tmp_path / "r")]))
    assert (cfg.brackets, cfg.xl_estimate, cfg.bracket_trials, cfg.background_analysis) == (False, False, 200, True)
    default = build_config(parser.parse_args(["ib", "--out", str(tmp_path / "r")]))
    assert (default.brackets, default.xl_estimate, default.bracket_trials, default.background_analysis) == \
        (True, True, 1000, False)
    assert main(["ib", "--bracket-trials", "5", "--out", str(tmp_path / "bad")]) != 0
    assert "The 'bracket_trials' field of IBConfig must be an int >= 10. Got 5 instead." in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
