"""The worker side of a sweep: fit a compressor, run one estimation job; both run in any process.

Every job is Algorithm 1 through :class:`ibscope.compress.CompressedEstimator`
with the sweep's pre-fitted compressors (``refit="never"``), and its row is
built from :meth:`ibscope.MIResult.to_row`.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import traceback
from typing import Any

import numpy as np

from ..executors import thread_limits as _thread_limits
from ..runs import canonical_json, package_versions, utc_now
from .config import LATENT, CompressorFit, Job, _spec_name

#: ``MIResult.to_row`` column map of a job's result
RESULT_FIELDS = {"value": "estimate", "raw_value": "raw", "units": "units", "ci_low": "ci_low", "ci_high": "ci_high",
                 "ci_level": "ci_level", "std_err": "std_err", "clipped": "clipped", "dim_x": "dim_x",
                 "dim_y": "dim_y", "warnings": "warnings"}


def versions_row() -> dict:
    """The package-version columns of ``results.csv``."""
    v = package_versions()
    return {"ibscope_version": v["ibscope"], "numpy_version": v["numpy"], "torch_version": v["torch"],
            "sklearn_version": v["scikit-learn"], "python_version": v["python"]}


def _uses_torch(spec: str | None) -> bool:
    return spec is not None and _spec_name(spec) in _TORCH_COMPRESSORS


#: compressor spec names backed by torch networks (and their aliases)
_TORCH_COMPRESSORS = ("ae", "conv-ae", "dense-ae", "autoencoder", "cae", "conv_ae")


# =========================================================================== worker side
_LOADED: dict = {}


def _load_blob(blob: bytes):
    """Load a compressor from the bytes of its ``.npz`` file (cached per worker process)."""
    digest = hashlib.sha256(blob).hexdigest()
    if digest not in _LOADED:
        from ..compress import compressor_from_bytes

        if len(_LOADED) > 32:
            _LOADED.clear()
        _LOADED[digest] = compressor_from_bytes(blob)
    return _LOADED[digest]


def _fit_compressor(fit: CompressorFit, n_threads: int | None) -> dict:
    """Fit one compressor on independent-latent samples; return its saved bytes and a summary."""
    from ..compress import parse_compressor
    from ..synthetic import get_task

    with _thread_limits(n_threads, _uses_torch(fit.spec)):
        t0 = time.perf_counter()
        task = get_task(fit.task, mi=0.0, **fit.task_params)
        x, y = task.sample(fit.n_train, random_state=fit.train_seed)
        data = y if fit.side == "y" else x
        comp = parse_compressor(fit.spec, random_state=fit.seed)
        if fit.params:
            comp.set_params(**fit.params)
        comp.fit(data)
        blob = comp.to_bytes()
        err = getattr(comp, "reconstruction_error_", None) or {}
        return {"blob": blob, "time_s": time.perf_counter() - t0,
                "recon_train": err.get("train"), "recon_val": err.get("val"),
                "n_epochs": getattr(comp, "n_epochs_", None)}


def _base_row(job: Job) -> dict:
    m = job.method
    return {
        "job_key": job.key, "task": job.task, "task_params": canonical_json(job.task_params), "true_mi": job.mi,
        "method": m.label, "estimator": m.estimator, "estimator_params": canonical_json(m.params),
        "compress_x": m.compress_x or "none", "compress_y": m.compress_y or "none", "n": job.n, "seed": job.seed,
        "sample_seed": job.sample_seed, "units": "nats",
    }


def _run_job(job: Job, blobs: dict, n_threads: int | None, fit_info: dict) -> dict:
    """Run one estimation job; never raises (failures become ``status="error"`` rows)."""
    row = _base_row(job)
    t0 = time.perf_counter()
    try:
        torch_needed = job.neural or _uses_torch(job.method.compress_x) or _uses_torch(job.method.compress_y)
        with _thread_limits(n_threads, torch_needed):
            row.update(_estimate(job, blobs, fit_info))
        row["status"] = "ok"
    except Exception as exc:  # keep the sweep going; the row says what failed
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
        row["status"] = "error"
        row["error"] = f"{type(exc).__name__}: {exc}{where}"
    row["time_s"] = time.perf_counter() - t0
    row.update(versions_row())
    row["host"] = socket.gethostname()
    row["pid"] = os.getpid()
    row["finished_at"] = utc_now()
    return row


def _estimate(job: Job, blobs: dict, fit_info: dict) -> dict:
    from ..api import make_estimator
    from ..compress import CompressedEstimator
    from ..compress.wrapper import DPI_NOTE, DPI_NOTE_SHORT
    from ..synthetic import get_task

    task = get_task(job.task, mi=job.mi, **job.task_params)
    m = job.method
    out: dict[str, Any] = {}
    if m.compress_x == LATENT:
        x, y = task.sample_latents(job.n, random_state=job.sample_seed)
    else:
        x, y = task.sample(job.n, random_state=job.sample_seed)
    est = make_estimator(m.estimator, random_state=job.seed, **m.params)
    comps = {side: None if blobs.get(side) is None else _load_blob(blobs[side]) for side in ("x", "y")}
    algo = CompressedEstimator(est, comps["x"], comps["y"], refit="never")  # fitted once, on independent images
    t_comp = time.perf_counter()
    coded = {"x": algo.encode("x", x), "y": algo.encode("y", y)}
    out["compress_time_s"] = time.perf_counter() - t_comp
    for side, c in coded.items():
        if c.info is not None:
            info = fit_info.get(side) or {}
            out[f"recon_error_{side}"] = c.info["sample_reconstruction_error"]
            out[f"recon_error_val_{side}"] = info.get("recon_val")
            out[f"compressor_{side}_file"] = info.get("file")
        elif not job.neural:
            # kNN and closed-form estimators take (n, d) rows: flatten raw images
            c.codes = np.asarray(c.codes).reshape(len(c.codes), -1)
    t_est = time.perf_counter()
    res = algo.estimate_coded(coded["x"], coded["y"])
    out["estimate_time_s"] = time.perf_counter() - t_est
    out.update(res.to_row(RESULT_FIELDS, drop_warnings={DPI_NOTE}))
    if coded["x"].info is not None or coded["y"].info is not None:
        out["warnings"] = " | ".join(w for w in (out["warnings"], DPI_NOTE_SHORT) if w)
    return out


def _execute(item: tuple, n_threads: int | None):
    """Worker entry point: ``("fit", CompressorFit)`` or ``("job", Job, blobs, fit_info)``."""
    kind = item[0]
    if kind == "fit":
        fit = item[1]
        try:
            return ("fit", fit, _fit_compressor(fit, n_threads), None)
        except Exception as exc:
            return ("fit", fit, None, f"{type(exc).__name__}: {exc}")
    _, job, blobs, fit_info = item
    return ("job", job, _run_job(job, blobs, n_threads, fit_info), None)

