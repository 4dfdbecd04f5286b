"""The public surface: exports, result object, estimator parameters."""

import json

import numpy as np
import pytest

import ibscope
from ibscope import MIResult


def test_exports():
    for name in ibscope.__all__:
        assert hasattr(ibscope, name), name
    assert {"mutual_information", "entropy", "MIResult", "KSG"} <= set(ibscope.__all__)


def test_result_fields_and_json():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 2))
    res = ibscope.mutual_information(x, x[:, :1] + rng.standard_normal((400, 1)), ci=0.9, random_state=1)
    assert isinstance(res, MIResult)
    d = json.loads(res.to_json())
    for key in ("value", "units", "raw_value", "ci_low", "ci_high", "ci_level", "std_err", "n_samples", "dim_x",
                "dim_y", "estimator", "params", "seed", "time_s", "warnings", "clipped"):
        assert key in d, key
    assert d["params"]["k"] == 5 and d["ci_level"] == 0.9 and d["seed"] == 1
    assert res.diagnostics["n_samples"] == 400
    assert float(res) == res.value


def test_seed_is_drawn_and_recorded_when_none():
    rng = np.random.default_rng(0)
    x = np.round(rng.standard_normal((300, 1)), 1)
    y = x + np.round(rng.standard_normal((300, 1)), 1)
    res = ibscope.mutual_information(x, y)
    again = ibscope.mutual_information(x, y, random_state=res.seed)
    assert again.raw_value == res.raw_value


def test_estimator_get_set_params():
    est = ibscope.KSG(k=3)
    assert est.get_params()["k"] == 3
    est.set_params(k=4)
    assert est.k == 4
    with pytest.raises(ValueError, match="Unknown parameter 'kk' for KSG"):
        est.set_params(kk=1)
    assert "KSG(k=4" in repr(est)
