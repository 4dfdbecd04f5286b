"""Studies and sweeps on local Ray and Dask clusters (slow: each starts a cluster)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from ibscope.ib import IBConfig, run_ib
from ibscope.study import run_study
from ibscope.sweep import Grid, SweepConfig, run_sweep

pytestmark = pytest.mark.slow


def _cfg(**kw) -> IBConfig:
    params = dict(dataset="digits", epochs=2, probe_size=300, ci=None, plots=False, threads=1)
    params.update(kw)
    return IBConfig(**params)


def _numbers(path: Path) -> pd.DataFrame:
    """info.csv or metrics.csv without the timing columns (the only ones that may differ between two runs)."""
    df = pd.read_csv(path)
    return df.drop(columns=[c for c in df.columns if c == "time_s" or c.endswith("_s")])


def test_two_seed_study_on_a_local_ray_instance(tmp_path):
    pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # scipy's KD-tree: the fresh Ray workers need not compile the numba kernels
    cfg = _cfg(model="mlp", hidden=[16, 8], epochs=1, batch_size=256, probe_size=200, knn_backend="kdtree")
    res = run_study(cfg, seeds=[0, 1], out=tmp_path / "ray", executor="ray", n_jobs=2)  # starts and stops Ray
    assert [r["status"] for r in res.runs] == ["ok", "ok"], res.failed
    assert os.getpid() not in {r["pid"] for r in res.runs}  # the runs ran in Ray worker processes
    import ray

    assert not ray.is_initialized()
    single = run_ib(cfg.replace(seed=1), out=tmp_path / "single").out
    pd.testing.assert_frame_equal(_numbers(tmp_path / "ray/runs/base/seed1/info.csv"), _numbers(single / "info.csv"))


def test_two_seed_study_on_a_local_dask_cluster(tmp_path):
    pytest.importorskip("distributed")
    cfg = _cfg(model="mlp", hidden=[16, 8], epochs=1, batch_size=256, probe_size=200, knn_backend="kdtree")
    res = run_study(cfg, seeds=[0, 1], out=tmp_path / "dask", executor="dask", n_jobs=2)  # a local cluster
    assert [r["status"] for r in res.runs] == ["ok", "ok"], res.failed
    single = run_ib(cfg.replace(seed=0), out=tmp_path / "single").out
    pd.testing.assert_frame_equal(_numbers(tmp_path / "dask/runs/base/seed0/info.csv"), _numbers(single / "info.csv"))



def test_ray_backend_runs_jobs_on_ray_workers(tmp_path):
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started = time.perf_counter()
    # 2 CPUs: with 1, joblib would run the jobs sequentially in this process
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    init_s = time.perf_counter() - started
    try:
        # the closed-form Gaussian estimator keeps the workers free of kNN compilation: this test times Ray
        cfg = SweepConfig([Grid(tasks="gaussian", mi=[0.0, 1.0], methods=["gaussian"], n=200, seeds=[0])])
        df = run_sweep(cfg, tmp_path / "ray", executor="ray")
    finally:
        ray.shutdown()
    assert len(df) == 2 and set(df["status"]) == {"ok"}
    assert os.getpid() not in set(df["pid"])  # the jobs ran in Ray worker processes
    assert abs(df.set_index("true_mi")["estimate"][1.0] - 1.0) < 0.3
    print(f"ray test: init {init_s:.1f} s, total {time.perf_counter() - started:.1f} s")


def test_dask_backend_with_existing_client(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None):
        cfg = SweepConfig([Grid(tasks="gaussian", mi=[0.0, 1.0], methods=["gaussian"], n=200, seeds=[0])])
        df = run_sweep(cfg, tmp_path / "dask", executor="dask")
    assert len(df) == 2 and set(df["status"]) == {"ok"}
