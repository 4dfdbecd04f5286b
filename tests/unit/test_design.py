"""Guarantees of the architecture: one name table, stateless estimators, one parameter mechanism,
one compress-then-estimate path, one callback contract, real errors for misaligned rows."""

from __future__ import annotations

import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import torch

import ibscope
from ibscope._validation import Interval, Options, Param, check_declared
from ibscope.compress import CompressedEstimator, PCACompressor
from ibscope.estimators import registry
from ibscope.estimators.neural import MINE, NWJ
from ibscope.synthetic import correlated_gaussian

# ------------------------------------------------------------------------------------------ registry
_CHEAP = {"mine": {"max_steps": 1}, "nwj": {"max_steps": 1}, "infonce": {"max_steps": 1}}


@pytest.mark.parametrize("kind", sorted(registry.TABLE))
def test_every_estimator_reports_a_registered_name(kind):
    """``res.estimator`` (an object's ``name``) is always a key of the registry for its kind."""
    for name in registry.TABLE[kind]:
        est = registry.build(kind, name, **_CHEAP.get(name, {}))
        assert est.name in registry.TABLE[kind], (kind, name, est.name)
        if name not in ("ksg", "ksg1") and name in registry.names(kind):
            assert est.name == name or (kind == "labels" and name == "ksg" and est.name == "mixed-ksg")


def test_result_names_round_trip_through_the_registry():
    x, y, _ = correlated_gaussian(300, 2, 2, 0.5, random_state=0)
    labels = (x[:, 0] > 0).astype(int)
    for name in ("ksg", "ksg2", "kl", "wkl", "gaussian"):
        res = ibscope.mutual_information(x, y, estimator=name, random_state=0)
        again = registry.build("continuous", res.estimator, **{k: v for k, v in res.params.items()
                                                              if k in registry.accepted_params("continuous",
                                                                                              res.estimator)})
        assert again.estimate(x, y).raw_value == res.raw_value
    res = ibscope.mutual_information(x, labels, y_discrete=True, estimator="kl", random_state=0)
    assert res.estimator == "kl"


def test_unknown_names_list_the_registered_ones():
    with pytest.raises(ValueError, match=r"Unknown estimator 'nope' for continuous x and y\. Valid names: auto, copula, "
                                         r"flow, gaussian, gaussian-copula, infonce, kde, kl, ksg, ksg1, ksg2, mine, nwj, "
                                         r"t-copula, wkl\."):
        ibscope.mutual_information(np.zeros((5, 1)), np.zeros((5, 1)), estimator="nope")


# ------------------------------------------------------------------------------------------ stateless
@pytest.mark.parametrize("make, discrete", [
    (lambda: ibscope.KSG(random_state=0), False),
    (lambda: ibscope.KLMI(random_state=0), False),
    (lambda: ibscope.WeightedKLMI(random_state=0), False),
    (lambda: ibscope.ContinuousDiscreteMI(entropy="wkl", random_state=0), True),
    (lambda: ibscope.MixedKSG(random_state=0), True),
])
def test_one_estimator_object_serves_several_threads(make, discrete):
    """Estimators keep no per-call state on ``self``: concurrent calls give the sequential answers."""
    data = []
    for i in range(6):
        x, y, _ = correlated_gaussian(400 + 50 * i, 6, 6 if not discrete else 1, 0.3 * (i + 1), random_state=i)
        data.append((x, (y[:, 0] > 0).astype(int) if discrete else y))
    est = make()
    before = dict(vars(est))
    expected = [est.estimate(x, y) for x, y in data]
    assert vars(est) == before
    got = [None] * len(data)

    def work(i):
        got[i] = est.estimate(*data[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(data))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.raw_value for r in got] == [r.raw_value for r in expected]
    assert [r.warnings for r in got] == [r.warnings for r in expected]


# ------------------------------------------------------------------------------------------ parameters
def test_subclass_parameters_come_from_the_class_chain():
    """MINE declares only ``ema_rate``; every neural parameter is still a parameter of it."""
    assert MINE._param_names() == NWJ._param_names() + ["ema_rate"]
    est = MINE(max_steps=7, ema_rate=0.5)
    assert est.get_params()["max_steps"] == 7 and est.set_params(ema_rate=0.1).ema_rate == 0.1
    assert "ema_rate=0.5" in repr(MINE(ema_rate=0.5))
    from sklearn.base import clone

    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    with pytest.raises(ValueError, match=r"Unknown parameter 'nope' for MINE\. Valid parameters: critic, "):
        est.set_params(nope=1)


def test_declared_constraints_describe_themselves():
    assert 0 in Interval(0) and -1 not in Interval(0) and 1 not in Interval(0, 1, closed="left")
    assert float("nan") not in Interval() and True not in Interval()
    assert "a" in Options(("a", "b")) and 1 not in Options((True,))
    p = Param((int,), Interval(1), nullable=True)
    assert p.describe() == "an int in the range [1, inf) or None"
    with pytest.raises(TypeError, match=r"The 'k' parameter of Thing must be an int or None\. Got 'x' of type str\."):
        check_declared({"k": "x"}, {"k": p}, "Thing")
    with pytest.raises(ValueError, match=r"The 'k' parameter of Thing must be an int in the range \[1, inf\) or None\. "
                                         r"Got 0 instead\."):
        check_declared({"k": 0}, {"k": p}, "Thing")
    check_declared({"k": None, "other": object()}, {"k": p}, "Thing")


# ------------------------------------------------------------------------------------------ Algorithm 1
def test_refit_modes_of_the_compress_then_estimate_path():
    x, y, _ = correlated_gaussian(500, 6, 6, 1.0, mix=True, random_state=0)
    est = ibscope.KSG(random_state=0)
    with pytest.raises(ValueError, match=r"'compressor_x' of CompressedEstimator is not fitted, but refit='never'"):
        CompressedEstimator(est, PCACompressor(2), refit="never").estimate(x, y)
    pca = PCACompressor(2).fit(x[:250])
    never = CompressedEstimator(est, pca, refit="never").estimate(x, y)
    assert never.extra["compression"]["x"]["fitted_here"] is False
    assert np.allclose(pca.mean_, x[:250].mean(axis=0))  # kept as fitted
    first = CompressedEstimator(est, "pca:2", refit="first")
    a = first.estimate(x, y)
    comp = first.compressor_x_
    b = first.estimate(x[::-1].copy(), y[::-1].copy())
    assert first.compressor_x_ is comp and b.extra["compression"]["x"]["fitted_here"] is False
    assert a.extra["compression"]["x"]["fitted_here"] is True
    every = CompressedEstimator(est, "pca:2", refit="every").estimate(x, y)
    assert every.raw_value == a.raw_value and every.extra["compression"]["refit"] == "every"
    info = a.extra["compression"]["x"]
    assert info["sample_reconstruction_error"] == pytest.approx(
        np.mean(np.abs(comp.inverse_transform(comp.transform(x)) - x)))
    with pytest.raises(TypeError, match=r"'refit' parameter of CompressedEstimator must be a bool or one of"):
        CompressedEstimator(est, "pca:2", refit="sometimes").estimate(x, y)


# ------------------------------------------------------------------------------------------ callbacks
def test_one_callback_contract_for_the_trainer_and_hand_written_loops():
    from ibscope.data import load_dataset, make_dataloader, normalize
    from ibscope.ib import Callback, IBRecorder, Trainer
    from ibscope.nets import MLP

    x, y = load_dataset("digits", "train")
    xt, yt = load_dataset("digits", "test")
    probe = torch.as_tensor(normalize(x[:200], "digits"))
    model = MLP((1, 8, 8), hidden=(8,), random_state=0)
    rec = IBRecorder(probe, y[:200], compress="pca:2", ci=None, n_subsamples=2, random_state=0, epochs=[2])
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append((epoch, logs["metrics"]["analysed"], len(logs["rows"]), trainer.model is model))

    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                      make_dataloader(x, y, batch_size=256, shuffle=True, random_state=0, normalize="digits"),
                      make_dataloader(xt, yt, batch_size=512, normalize="digits"), callbacks=[rec, Spy()])
    assert trainer.fit(2) == [1, 2]
    assert seen == [(1, 0, 0, True), (2, 1, 2, True)]
    # the same recorder in a hand-written loop: the hook takes the model itself
    rows = rec.on_epoch_end(model, 2)
    assert [r["layer"] for r in rows] == ["L1", "L2"] and rec.history[-2:] == rows
    assert all(r["fit_epoch"] == 2 and r["dim_code"] == 2 and r["i_xl"] > 0 for r in rows)
    assert rec.on_epoch_end(model, 3) == []  # not a scheduled epoch


def test_misaligned_rows_raise_under_python_O():
    code = ("import numpy as np\nfrom ibscope.ib import Activations, MisalignedRowsError\n"
            "a = Activations(layers={'L1': np.zeros((3, 2))}, index=np.arange(4))\n"
            "try:\n    a.check_aligned()\nexcept MisalignedRowsError as e:\n    print('raised', isinstance(e, ValueError))\n")
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "raised True", out.stderr


# ------------------------------------------------------------------------------------------ seeds, devices
def test_nets_take_random_state_and_the_old_seed_still_works():
    from ibscope.nets import GaussianNoise, PaperConvNet

    x = torch.ones(4, 3)
    new = GaussianNoise(0.1, random_state=3)(x)
    with pytest.warns(DeprecationWarning, match=r"'seed' parameter of GaussianNoise is deprecated"):
        old = GaussianNoise(0.1, seed=3)(x)
    assert torch.equal(new, old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = PaperConvNet(in_shape=(1, 8, 8), random_state=1), PaperConvNet(in_shape=(1, 8, 8), random_state=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_one_device_resolver():
    from ibscope._torch import resolve_device

    assert resolve_device(None) == "cpu" and resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match=r"The 'device' parameter of KSG must be 'cpu', 'cuda', 'cuda:<index>'"):
        resolve_device("tpu", "KSG")
    with pytest.raises(ValueError, match=r"'cuda:x' is not a valid CUDA device"):
        resolve_device("cuda:x", "KSG")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"MINE: device='cuda:0' was requested but CUDA is not available"):
            resolve_device("cuda:0", "MINE")
    assert MINE().device is None and MINE()._device() == "cpu"  # None means the CPU everywhere
