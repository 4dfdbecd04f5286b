"""Bounds on I(L;Y) from the network's own prediction, and the decoder estimate of I(L;Y)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import logsumexp

from ibscope.ib import IBConfig, flag_rows, run_ib
from ibscope.plane.bounds import fano_bound, head_bounds, plugin_mi
from ibscope.plane.decoders import LinearProbes, decoder_bounds


def _binary_entropy(p):
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def test_head_bounds_against_a_hand_computed_confusion_matrix():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]])
    labels = np.array([0, 0, 1, 1])  # predictions 0, 0, 1, 0: confusion [[2, 0], [1, 1]]
    b = head_bounds(np.log(probs), labels)
    nll = -(math.log(0.9) + math.log(0.6) + math.log(0.7) + math.log(0.2)) / 4
    assert b.note == "" and b.n_classes == 2 and b.accuracy == 0.75
    assert b.h_y == pytest.approx(math.log(2)) and b.nll == pytest.approx(nll)
    assert b.ba == pytest.approx(math.log(2) - nll)
    # I(Y_hat;Y) from the joint (1/2, 0; 1/4, 1/4) and the marginals (1/2, 1/2), (3/4, 1/4)
    mi = 0.5 * math.log(0.5 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / 0.125)
    assert b.plugin == pytest.approx(mi)
    assert b.fano == pytest.approx(math.log(2) - _binary_entropy(0.25))  # K = 2: no P_e ln(K - 1) term
    assert b.bound == pytest.approx(max(b.ba, b.plugin, b.fano))


def test_three_class_fano_and_plugin():
    conf = np.array([[8, 1, 1], [0, 9, 1], [2, 0, 8]])
    n = conf.sum()
    joint = conf / n
    mi = sum(joint[i, j] * math.log(joint[i, j] / (joint[i].sum() * joint[:, j].sum()))
             for i in range(3) for j in range(3) if joint[i, j] > 0)
    assert plugin_mi(conf) == pytest.approx(mi)
    pe = 1 - np.trace(conf) / n
    h_y = -sum(r / n * math.log(r / n) for r in conf.sum(axis=1))
    assert fano_bound(h_y, pe, 3) == pytest.approx(h_y - _binary_entropy(pe) - pe * math.log(2))
    assert fano_bound(h_y, pe, 3) <= mi  # Fano bounds I(Y_hat;Y) from below
    assert plugin_mi(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-12)
    assert plugin_mi(np.eye(4) * 5) == pytest.approx(math.log(4))


def test_bounds_say_why_they_are_missing():
    labels = np.array([0, 1, 0, 1])
    assert "not log-probabilities" in head_bounds(np.ones((4, 2)), labels).note
    assert "not class indices 0..1" in head_bounds(np.log(np.full((4, 2), 0.5)), np.array([3, 7, 3, 7])).note
    assert "shape" in head_bounds(np.zeros((4, 1)), labels).note
    missing = head_bounds(np.ones((4, 2)), labels)
    assert math.isnan(missing.bound) and missing.h_y == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="at least 2 classes"):
        fano_bound(0.5, 0.1, 1)


def test_below_bound_flag():
    rows = [{"i_xl_raw": 3.0, "i_ly_raw": 1.5, "i_ly_lo": 1.4, "i_ly_hi": 1.6, "h_y": 2.3, "bound": 2.0},
            {"i_xl_raw": 2.9, "i_ly_raw": 1.95, "i_ly_lo": 1.9, "i_ly_hi": 2.01, "h_y": 2.3, "bound": 2.0},
            {"i_xl_raw": 2.8, "i_ly_raw": 1.0, "h_y": 2.3, "bound": float("nan")}]
    for row in rows:  # one layer each: no data-processing comparison between them
        flag_rows([row])
    assert rows[0]["flags"] == "below_bound" and rows[1]["flags"] == "" and rows[2]["flags"] == ""


def _clusters(n, rng, k=4, d=4, sep=1.6):
    means = sep * np.eye(k, d)
    y = rng.integers(0, k, size=n)
    return means[y] + rng.standard_normal((n, d)), y, means


def test_decoder_bound_on_gaussian_clusters_of_known_mi():
    """Four equiprobable N(mu_c, I) clusters in 4-D: I(L;Y) = H(Y) - E[H(Y|L)], computed by Monte Carlo
    with the true posterior to about 0.002 nats. The cross-fitted linear probe is the right model (equal
    covariances give linear log-odds), so its bound falls short only by the fitting loss, of order
    (number of parameters) / (2 x rows per fold) = 20 / 4000 = 0.005 nats, plus the standard error."""
    rng = np.random.default_rng(0)
    big, _, means = _clusters(200_000, rng)
    logits = -0.5 * ((big[:, None, :] - means[None]) ** 2).sum(axis=2)
    post = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    truth = math.log(4) + float(np.mean(np.sum(post * np.log(post), axis=1)))
    x, y, _ = _clusters(4000, np.random.default_rng(1))
    own = {"L": LinearProbes(random_state=0).cross_entropies("L", x, y)}
    b = decoder_bounds(float(-np.sum(np.bincount(y) / 4000 * np.log(np.bincount(y) / 4000))), own, None, ["L"],
                       0.95)["L"]
    assert b["decoder"] == "linear(L)" and b["ci_low"] < b["value"] < b["ci_high"]
    assert b["value"] <= truth + 3 * b["se"], (b, truth)  # a lower bound, up to sampling noise
    assert b["value"] >= truth - 0.05, (b, truth)


def test_decoder_bounds_take_the_best_later_decoder():
    ce = {"L1": np.full(100, 1.0), "L2": np.full(100, 0.5), "L3": np.full(100, 0.8)}
    out = decoder_bounds(2.0, ce, np.full(100, 0.6), ["L1", "L2", "L3"], None)
    assert [out[n]["decoder"] for n in ("L1", "L2", "L3")] == ["linear(L2)", "linear(L2)", "head"]
    assert [out[n]["value"] for n in ("L1", "L2", "L3")] == [1.5, 1.5, 1.4]
    assert out["L1"]["own"] == 1.0 and out["L3"]["ci_low"] is None


def _tiny(**kw) -> IBConfig:
    params = dict(dataset="digits", model="mlp", hidden=[16, 8], epochs=2, batch_size=256, probe_size=300,
                  n_subsamples=3, ci=0.9, plots=False, threads=1, seed=0)
    params.update(kw)
    return IBConfig(**params)


def test_default_run_keeps_the_layer_order_and_reaches_the_bound(tmp_path):
    """The best decoder (a check column) keeps the layer order and reaches the head's bound; each layer's own
    probe (the plotted I(L;Y)) is at most that; every bracket is ordered and inside its ceilings."""
    import csv
    import json

    res = run_ib(_tiny(epochs=3), out=tmp_path / "run")
    rows = list(csv.DictReader(open(tmp_path / "run" / "info.csv")))
    assert {r["estimator_y"] for r in rows} == {"decoder"} and {r["ly_decoder"] for r in rows} == {"linear probe"}
    ln_n = math.log(300)
    for e in ("1", "2", "3"):
        epoch = [r for r in rows if r["epoch"] == e]
        best = [float(r["i_ly_best"]) for r in epoch]
        assert best == sorted(best, reverse=True)  # suffix maximum: I(L1;Y) >= I(L2;Y) >= I(L3;Y)
        assert all(b >= float(r["bound_ba"]) - 1e-12 or r["ly_best_by"] != "head" for b, r in zip(best, epoch))
        for r in epoch:
            assert float(r["i_ly_raw"]) <= float(r["i_ly_best"]) + 1e-12
            assert 0 <= float(r["xl_lower"]) <= float(r["xl_upper"]) <= ln_n + 1e-9
            assert float(r["ly_lower"]) <= float(r["ly_upper"]) <= float(r["h_y"]) + 1e-9
            assert not any(f in r["flags"] for f in ("xl_outside", "code_above_bracket", "xl_below_ly"))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["bounds"]["last"]["epoch"] == 3
    assert summary["bounds"]["last"]["bound"] == pytest.approx(float(rows[-1]["bound"]))
    assert res.flag_counts.get("below_bound", 0) == summary["bounds"]["rows_below_bound"]


def test_the_papers_scheme_stays_available(tmp_path):
    import csv

    run_ib(_tiny(epochs=1, label_side="codes"), out=tmp_path / "codes")
    rows = list(csv.DictReader(open(tmp_path / "codes" / "info.csv")))
    assert {r["ly_decoder"] for r in rows} == {"codes"} and {r["estimator_y"] for r in rows} == {"kl"}
    assert IBConfig.paper().resolved().label_side == "codes"
    with pytest.raises(ValueError, match=r"'label_side' field of IBConfig must be 'decoder'"):
        IBConfig(label_side="probe")


def test_a_folder_from_before_the_bounds_resumes_with_its_own_scheme(tmp_path):
    """Old folders have no label_side (they used the codes) and an info.csv without the bound columns."""
    import csv
    import json

    out = tmp_path / "old"
    run_ib(_tiny(epochs=1, label_side="codes"), out=out)
    record = json.loads((out / "config.json").read_text())
    del record["config"]["label_side"]
    (out / "config.json").write_text(json.dumps(record))
    old_cols = ["epoch", "layer", "i_ly"]
    rows = list(csv.DictReader(open(out / "info.csv")))
    with open(out / "info.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=old_cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    res = run_ib(_tiny(epochs=2, label_side="codes"), out=out, resume=True)
    assert res.epochs_run == [2]
    new_rows = list(csv.DictReader(open(out / "info.csv")))
    assert [r["epoch"] for r in new_rows] == ["1"] * 3 + ["2"] * 3 and "bound" in new_rows[0]
    assert new_rows[0]["bound"] == "" and new_rows[-1]["bound"] != ""


def test_a_model_without_log_probabilities_skips_the_bound_and_says_why():
    import torch
    from torch import nn

    from ibscope.ib import IBRecorder

    class Scores(nn.Module):  # raw scores: no LogSoftmax head
        layer_names = ("L1", "L2")

        def __init__(self):
            super().__init__()
            gen = torch.Generator().manual_seed(0)
            self.L1 = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU())
            self.L2 = nn.Linear(12, 3)
            for p in self.parameters():
                p.data = torch.randn(p.shape, generator=gen) * 0.3

        def forward(self, x):
            return self.L2(self.L1(x))

    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.standard_normal((300, 1, 8, 8)), dtype=torch.float32)
    y = rng.integers(0, 3, 300)
    rec = IBRecorder(x, y, compress="pca:2", compress_x="pca:2", ci=None, n_subsamples=2, random_state=0)
    rows = rec.on_epoch_end(Scores(), 1)
    assert all(math.isnan(r["bound"]) and "below_bound" not in r["flags"] for r in rows)
    assert "bound: not computed, the model's output rows are not log-probabilities" in rows[0]["warnings"]
    assert {r["ly_best_by"] for r in rows} <= {"linear(L1)", "linear(L2)"}  # no head among the decoders
    with pytest.raises(ValueError, match=r"'probe_y' argument of IBRecorder holds a single class"):
        IBRecorder(x, np.zeros(300, dtype=int))
