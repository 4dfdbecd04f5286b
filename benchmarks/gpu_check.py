"""GPU check: every CUDA path of ibscope against the CPU, its speed, and an MNIST IB run.

One script, start to finish within ``--budget`` seconds (default 450, under
8 minutes) on one GPU. It writes to ``OUT``:

* ``report.md``      - every table below, with the environment and the tolerances;
* ``results.json``   - the same numbers, machine-readable;
* ``log.txt``        - what the script printed; ``worker.log`` - the workers' stderr;
* ``pytest-*.txt`` / ``pytest-*.xml`` - the ``cuda``-marked tests (text and JUnit XML);
* ``ib-mnist/``      - the ``ibscope ib`` run folder, and ``ib-mnist.log``.

Sections
--------
1. **Environment**: Python, torch/CUDA/cuDNN, GPU, library versions; then a
   warm-up that compiles (or loads) the numba kernels and starts CUDA, timed.
2. **pytest**: ``tests/unit/test_cuda.py -m cuda``; on a GPU machine a second
   time with ``CUDA_VISIBLE_DEVICES=""`` so the no-CUDA message tests run too.
   Without pytest the section says so and the script goes on.
3. **kNN exactness**: the torch backend on the device against the numba CPU
   backend at n = 1e4 and 1e5 in 2-D, 8-D and 32-D: max-norm distances and
   counts bit for bit, Euclidean distances to 1e-12 relative, KSG counts exact.
4. **Estimates**: KSG-1/KSG-2 (identical values), KL/WKL (1e-9 relative) and
   KDE (1e-8 relative) on the device against the CPU.
5. **Training**: a conv autoencoder, MINE and InfoNCE trained twice with one
   seed on the device (exact repeat or the difference), and a noise layer.
6. **Flow and auto**: ``estimator="flow"`` (``FlowMI``) and the default
   ``"auto"`` (whose held-out flow candidate runs at n >= 1000) on
   ``correlated_gaussian``: trained twice with one seed on the device (exact
   repeat or the difference), the device against the CPU within
   max(0.05 nats, 3 combined held-out standard errors), and both times.
7. **Brackets**: ``ib.brackets.xl_brackets`` on a small noisy MLP with the model
   and the distance work on the device (as ``ib/recorder.py`` calls it), twice
   with one seed, and on the CPU: the upper bounds (deterministic) to 1e-5
   relative, the lower bounds and the estimate (other noise streams on CUDA)
   within their Monte-Carlo scale; times.
8. **Bounds at larger N**: ``infobounds.identification_bounds`` (batched
   distance matrices, float64 on a GPU, float32 on the CPU) and ``kt_bounds``
   on the device and the CPU: equality within the stated tolerances, and times.
9. **Bad input**: ``device="cuda:<missing index>"``, data too large for the GPU
   memory (allocator capped at 8 MiB) and, in a worker with
   ``CUDA_VISIBLE_DEVICES=""``, ``device="cuda"`` without CUDA: the exception
   and message each entry point gives.
10. **Speed**: ``KSG(k=5).estimate`` with ``backend="torch", device=<device>``
   against ``backend="numba"`` on the same data (``correlated_gaussian``,
   seed 0): 4+4 and 16+16 dims at n = 1e5 and 1e6, 64+64 at n = 1e5, each after
   a probe at n/10. A cell whose time, extrapolated from the smaller n (O(n^2)
   for brute force, O(n^1.8) for the numba "flat" mode from 12 joint
   dimensions, O(n^1.2) for the KD-tree), exceeds ``--cell-limit`` is skipped
   and says so; every cell also runs under a hard timeout.
11. **IB on MNIST**: ``ibscope ib --dataset mnist --device <device> --epochs 3``
   with per-epoch train/eval/analysis times from its ``metrics.csv``.

The heavy work runs in a worker process (``--worker``) that the script kills
and restarts when a call passes its timeout, so one slow cell cannot take the
whole budget. With ``--device cpu`` (or no CUDA) every CUDA-only part is
recorded as "skipped: no CUDA" and the "device" side is the torch backend on
the CPU, which still checks the torch code path; ``--quick`` divides the sizes
by about 10 for a 2-core machine.

Usage::

    # on the GPU machine (no install: the script puts src/ on the path itself)
    PYTHONPATH=src python benchmarks/gpu_check.py --out gpu-check --data-dir .gpu-data/mnist
    benchmarks/gpu_check.sh gpu-check                      # the same, via the wrapper

    # on a CPU-only machine
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gpucheck --data-dir ../shared/data/mnist

Exit status: 0 when every check that ran passed (skips and timeouts are not
failures), 1 when a check failed or a section crashed, 3 when ``--device cuda``
was asked for but CUDA is missing (the CPU checks still ran).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
SCRIPT = Path(__file__).resolve()
PREFIX = "@@GPUCHECK "

#: tolerances of the device side against the CPU (see tests/unit/test_cuda.py for the reasons)
RTOL_EUCLIDEAN = 1e-12
RTOL_KL = 1e-9
RTOL_KDE = 1e-8
#: radius factor for Euclidean count checks: no point lies within rounding of a sphere
EUCLID_RADIUS_FACTOR = 1.0 + 1e-9
K = 5
#: flow and auto, device against CPU: at least this many nats (3 combined held-out standard errors when larger)
TOL_FLOW_ABS = 0.05
#: deterministic bracket quantities (upper bounds), device against CPU, relative
RTOL_BRACKET_UPPER = 1e-5
#: Barber-Agakov identification bounds, float64 (GPU) against float32 (CPU) distances, nats
TOL_BA = 1e-6
#: Kolchinsky-Tracey pairwise bounds (float64 on both sides), relative
RTOL_KT = 1e-9

#: section name -> (time cap in s, seconds reserved for it while earlier sections run)
SECTIONS = {
    "env": (150, 40),
    "pytest": (100, 25),
    "knn": (100, 20),
    "estimates": (45, 10),
    "training": (60, 15),
    "flow": (90, 20),
    "brackets": (60, 15),
    "identify": (60, 15),
    "bad-input": (50, 10),
    "speed": (150, 40),
    "ib": (170, 120),
}


# =========================================================================== worker side
def _np():
    import numpy as np

    return np


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _exc_text(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__name__}: {str(exc).strip()}".replace("builtins.", "")


def task_env(device: str) -> dict:
    """Versions, the GPU and the CPU."""
    import numba
    import numpy as np
    import scipy
    import sklearn
    import torch

    import ibscope

    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "numba": numba.__version__,
        "ibscope": getattr(ibscope, "__version__", "?"),
        "ibscope_path": str(Path(ibscope.__file__).parent),
        "cuda_available": bool(torch.cuda.is_available()),
        "requested_device": device,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update({
            "cuda_device_count": torch.cuda.device_count(),
            "gpu": props.name,
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "gpu_capability": f"{props.major}.{props.minor}",
            "cudnn": torch.backends.cudnn.version(),
        })
    return info


def task_warmup(device: str) -> dict:
    """Compile (or load from the cache) every numba kernel, and start CUDA."""
    np = _np()
    from ibscope import neighbors as nb

    times = {}
    rng = np.random.default_rng(0)
    for d in (1, 4, 16):  # 1-D sorted counts, KD-tree, flat mode
        pts = rng.standard_normal((3000, d))
        half = max(1, d // 2)
        x, y = pts[:, :half], (pts[:, :half] + rng.standard_normal((3000, half)))

        def run(x=x, y=y, pts=pts):
            for metric in ("chebyshev", "euclidean"):
                r = nb.kth_distance(pts, K, metric=metric, backend="numba")
                for strict in (True, False):
                    nb.count_within(pts, r, metric=metric, strict=strict, backend="numba")
            for variant in (1, 2):
                nb.ksg_counts(x, y, K, variant=variant, backend="numba")

        times[f"numba {d}-D"] = _timed(run)[1]
    pts = rng.standard_normal((2000, 4))
    times[f"torch {device}"] = _timed(lambda: (nb.knn(pts, K, backend="torch", device=device),
                                             nb.ksg_counts(pts[:, :2], pts[:, 2:], K, backend="torch",
                                                           device=device)))[1]
    return {"times": times}


def _compare_exact(a, b) -> tuple[bool, str]:
    np = _np()
    if a.shape != b.shape:
        return False, f"shapes differ {a.shape} vs {b.shape}"
    same = np.array_equal(a, b)
    if same:
        return True, "identical"
    bad = int(np.count_nonzero(a != b))
    diff = np.abs(a.astype(float) - b.astype(float)).max()
    return False, f"{bad} of {a.size} entries differ (max |diff| {diff:.3g})"


def task_knn_cell(n: int, d: int, device: str) -> dict:
    """Torch backend on ``device`` against numba: distances, counts, KSG counts."""
    np = _np()
    from ibscope import neighbors as nb

    pts = np.random.default_rng(100 + d).standard_normal((n, d))
    cand = {"backend": "torch", "device": device}
    ref = {"backend": "numba"}
    t = {"cpu": 0.0, "device": 0.0}

    def both(fn):
        out_ref, dt = _timed(lambda: fn(**ref))
        t["cpu"] += dt
        out_cand, dt = _timed(lambda: fn(**cand))
        t["device"] += dt
        return out_ref, out_cand

    checks = []
    (dr, ir), (dc, ic) = both(lambda **kw: nb.knn(pts, K, metric="chebyshev", **kw))
    checks.append(("knn chebyshev distances (bit for bit)", *_compare_exact(dc, dr)))
    checks.append(("knn chebyshev indices", *_compare_exact(ic, ir)))
    radii = dr[:, -1]
    for strict in (True, False):
        cr, cc = both(lambda strict=strict, **kw: nb.count_within(pts, radii, metric="chebyshev", strict=strict,
                                                                    **kw))
        ok, detail = _compare_exact(cc, cr)
        checks.append((f"count_within chebyshev {'<' if strict else '<='} r_k (points on the sphere)", ok, detail))
    (er, eir), (ec, eic) = both(lambda **kw: nb.knn(pts, K, metric="euclidean", **kw))
    rel = float(np.max(np.abs(ec - er) / np.maximum(np.abs(er), np.finfo(float).tiny)))
    checks.append((f"knn euclidean distances (rtol {RTOL_EUCLIDEAN:g})", rel <= RTOL_EUCLIDEAN,
                   f"max rel diff {rel:.2g}" + (" (identical)" if np.array_equal(ec, er) else "")))
    checks.append(("knn euclidean indices", *_compare_exact(eic, eir)))
    r_e = er[:, -1] * EUCLID_RADIUS_FACTOR
    cr, cc = both(lambda **kw: nb.count_within(pts, r_e, metric="euclidean", strict=False, **kw))
    checks.append(("count_within euclidean <= r_k (1 + 1e-9)", *_compare_exact(cc, cr)))
    half = max(1, d // 2)
    x, y = pts[:, :half], pts[:, half:] + (pts[:, :half] if d - half == half else 0.0)
    for variant in (1, 2):
        (nxr, nyr), (nxc, nyc) = both(lambda variant=variant, **kw: nb.ksg_counts(x, y, K, variant=variant, **kw))
        ok_x, det_x = _compare_exact(nxc, nxr)
        ok_y, det_y = _compare_exact(nyc, nyr)
        checks.append((f"ksg_counts variant {variant} ({half}+{d - half})", ok_x and ok_y,
                       "identical" if ok_x and ok_y else f"n_x: {det_x}; n_y: {det_y}"))
    return {"checks": [{"check": c, "ok": bool(ok), "detail": det} for c, ok, det in checks],
            "cpu_s": t["cpu"], "device_s": t["device"]}


def task_estimate(name: str, n: int, d: int, device: str) -> dict:
    """One estimator on the CPU and on ``device`` (same data, same seed)."""
    import ibscope
    from ibscope.synthetic import correlated_gaussian

    x, y, true_mi = correlated_gaussian(n, dim_x=d, dim_y=d, mi=1.0, random_state=0)
    if name == "kde":
        ref_kw, cand_kw = {"device": "cpu"}, {"device": device}
    elif device == "cpu":
        ref_kw, cand_kw = {"backend": "numba"}, {"backend": "torch", "device": "cpu"}
    else:
        ref_kw, cand_kw = {}, {"device": device}
    ref, t_ref = _timed(lambda: ibscope.mutual_information(x, y, estimator=name, random_state=0, **ref_kw))
    cand, t_cand = _timed(lambda: ibscope.mutual_information(x, y, estimator=name, random_state=0, **cand_kw))
    a, b = ref.raw_value, cand.raw_value
    return {"cpu": a, "device": b, "true_mi": true_mi, "abs_diff": abs(a - b),
            "rel_diff": abs(a - b) / max(abs(a), 1e-300), "cpu_s": t_ref, "device_s": t_cand,
            "device_warnings": list(cand.warnings)}


def _images(data_dir, n: int):
    np = _np()
    if data_dir:
        try:
            from ibscope.data import load_dataset

            imgs, _ = load_dataset("mnist", "test", data_dir=data_dir, download=False)
            return np.asarray(imgs[:n], dtype=np.float64), f"MNIST test images 0..{n - 1} (28x28)"
        except Exception as exc:  # noqa: BLE001 - fall back to synthetic images, and say why
            why = _exc_text(exc)
    else:
        why = "no --data-dir"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16]
    c = rng.uniform(3, 13, size=(n, 2))
    imgs = np.exp(-((xx - c[:, 0, None, None]) ** 2 + (yy - c[:, 1, None, None]) ** 2) / 8.0)
    return imgs, f"synthetic 16x16 Gaussian bumps ({why})"


def task_train(kind: str, device: str, quick: bool, data_dir) -> dict:
    """Train twice with one seed on ``device``; report both results and their difference."""
    np = _np()
    import torch

    import ibscope

    if kind == "conv-ae":
        from ibscope.compress import ConvAutoencoder

        n, epochs = (512, 2) if quick else (8192, 5)
        imgs, what = _images(data_dir, n)
        runs = []
        for _ in range(2):
            ae, dt = _timed(lambda: ConvAutoencoder(latent_dim=4, epochs=epochs, batch_size=256, device=device,
                                                    random_state=0).fit(imgs))
            runs.append({"codes": ae.transform(imgs), "loss": ae.history_["train_loss"][-1],
                         "recon": ae.reconstruction_error_["train"], "time_s": dt, "device": ae.device_})
        diff = float(np.abs(runs[0]["codes"] - runs[1]["codes"]).max())
        return {"setup": f"ConvAutoencoder(latent_dim=4, epochs={epochs}, batch_size=256, random_state=0) on "
                         f"{len(imgs)} {what}",
                "values": [r["recon"] for r in runs], "value_name": "train reconstruction MAE",
                "exact": bool(np.array_equal(runs[0]["codes"], runs[1]["codes"])), "max_diff": diff,
                "diff_of": "codes (max |diff|, code units in [-1, 1])",
                "time_s": [r["time_s"] for r in runs], "device_used": runs[0]["device"],
                "finite": bool(np.isfinite(runs[0]["codes"]).all())}
    if kind in ("mine", "infonce"):
        from ibscope.synthetic import correlated_gaussian

        n, d, mi, batch, steps = (4000, 2, 1.0, 128, 200) if quick else (20000, 4, 2.0, 256, 1000)
        x, y, true_mi = correlated_gaussian(n, dim_x=d, dim_y=d, mi=mi, random_state=0)
        runs = []
        for _ in range(2):
            res, dt = _timed(lambda: ibscope.mutual_information(x, y, estimator=kind, device=device, batch_size=batch,
                                                                max_steps=steps, random_state=0))
            runs.append({"value": res.raw_value, "time_s": dt, "steps": res.extra.get("n_steps"),
                         "stop": res.extra.get("stop_reason"), "device": res.extra.get("device")})
        a, b = runs[0]["value"], runs[1]["value"]
        return {"setup": f"{kind}, {d}+{d} Gaussian (true MI {true_mi:.2f} nats), n={n}, batch_size={batch}, "
                         f"max_steps={steps}, random_state=0; stopped at {runs[0]['steps']} ({runs[0]['stop']})",
                "values": [a, b], "value_name": "held-out estimate (nats)", "exact": a == b,
                "max_diff": abs(a - b), "diff_of": "estimate (nats)", "time_s": [r["time_s"] for r in runs],
                "device_used": runs[0]["device"], "finite": bool(math.isfinite(a))}
    if kind == "noise":
        from ibscope.nets.noise import GaussianNoise

        layer = GaussianNoise(0.5, kind="additive", seed=3)
        x = torch.zeros(100_000, device=device)
        a, dt = _timed(lambda: layer(x))
        b = layer.reseed(3)(x)
        return {"setup": "GaussianNoise(0.5, kind='additive', seed=3) on 1e5 zeros, then reseed(3)",
                "values": [float(a.std()), float(b.std())], "value_name": "noise std",
                "exact": bool(torch.equal(a, b)), "max_diff": float((a - b).abs().max()), "diff_of": "noise",
                "time_s": [dt], "device_used": str(a.device), "finite": bool(torch.isfinite(a).all())}
    raise ValueError(f"unknown training kind {kind!r}")


def _attempt(fn, expect: str) -> dict:
    """Run ``fn`` and classify what happens: a clear ibscope error, a fallback, or a crash inside torch."""
    try:
        res, dt = _timed(fn)
    except Exception as exc:  # noqa: BLE001 - classifying exceptions is the point
        text = _exc_text(exc)
        frames = traceback.extract_tb(exc.__traceback__)
        raised_in = frames[-1].filename if frames else ""
        inside_torch = type(exc).__module__.startswith("torch") or f"{os.sep}torch{os.sep}" in raised_in
        clear = isinstance(exc, (ValueError, MemoryError)) and not inside_torch and expect.lower() in text.lower()
        return {"outcome": "clear error" if clear else "CRASH inside torch" if inside_torch else "unclear error",
                "ok": clear, "message": text[:400]}
    warns = [w for w in getattr(res, "warnings", []) if "memory" in w.lower() or "fall" in w.lower()]
    if warns:
        return {"outcome": "fallback, recorded in warnings", "ok": True, "message": warns[0][:400],
                "time_s": dt}
    return {"outcome": "no error and no warning", "ok": False,
            "message": f"returned {type(res).__name__} in {dt:.2f} s without saying anything"}


def _bad_device_calls(x, y, dev, tmp):
    import ibscope
    from ibscope import neighbors as nb

    def dense():
        from ibscope.compress import DenseAutoencoder

        return DenseAutoencoder(2, device=dev, epochs=1, random_state=0).fit(x)

    def conv():
        from ibscope.compress import ConvAutoencoder

        imgs = _np().random.default_rng(0).random((32, 8, 8))
        return ConvAutoencoder(latent_dim=2, device=dev, epochs=1, random_state=0).fit(imgs)

    def mine():
        from ibscope.estimators.neural import MINE

        return MINE(device=dev, batch_size=32, max_steps=2, eval_every=1, random_state=0).estimate(x, y)

    def ib():
        from ibscope.ib import IBConfig, run_ib

        return run_ib(IBConfig(dataset="digits", epochs=1, device=dev), out=Path(tmp) / f"ib-{dev}")

    return [
        ("mutual_information(estimator='ksg')", lambda: ibscope.mutual_information(x, y, device=dev)),
        ("mutual_information(estimator='kl')", lambda: ibscope.mutual_information(x, y, estimator="kl", device=dev)),
        ("mutual_information(estimator='kde')",
         lambda: ibscope.mutual_information(x, y, estimator="kde", device=dev)),
        ("mutual_information(estimator='infonce')",
         lambda: ibscope.mutual_information(x, y, estimator="infonce", device=dev, batch_size=32, max_steps=2,
                                            eval_every=1)),
        ("neighbors.knn(backend='torch')", lambda: nb.knn(x, 3, backend="torch", device=dev)),
        ("neighbors.ksg_counts(backend='torch')", lambda: nb.ksg_counts(x, y, 3, backend="torch", device=dev)),
        ("DenseAutoencoder(2).fit", dense),
        ("ConvAutoencoder(latent_dim=2).fit", conv),
        ("MINE().estimate", mine),
        ("run_ib(IBConfig(dataset='digits'))", ib),
    ]


def task_bad_device(kind: str) -> dict:
    """``kind="no-cuda"``: device="cuda" where CUDA is missing; ``"index"``: a GPU index that does not exist."""
    np = _np()
    import torch

    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 6))
    y = x[:, :3] + rng.standard_normal((400, 3))
    if kind == "no-cuda":
        dev, expect = "cuda", "CUDA is not available"
    else:
        dev = f"cuda:{max(7, torch.cuda.device_count())}"
        expect = dev
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in _bad_device_calls(x, y, dev, tmp):
            rows.append({"call": f"{name} with device={dev!r}", **_attempt(fn, expect)})
    return {"rows": rows, "device": dev}


def task_oom() -> dict:
    """Data too large for GPU memory, simulated by capping the caching allocator at 8 MiB."""
    import torch

    import ibscope
    from ibscope.synthetic import correlated_gaussian

    cap = 8 << 20
    total = torch.cuda.get_device_properties(0).total_memory
    x, y, _ = correlated_gaussian(50_000, dim_x=2, dim_y=2, mi=1.0, random_state=0)
    rng = _np().random.default_rng(0)
    big = rng.standard_normal((300_000, 16)).astype("float32")
    calls = [
        ("mutual_information(ksg, backend='torch'), n=5e4, 2+2: ~16 MiB distance blocks",
         lambda: ibscope.mutual_information(x, y, backend="torch", device="cuda", random_state=0)),
        ("mutual_information(kde), n=8e3, 2+2: ~17 MiB distance block",
         lambda: ibscope.mutual_information(x[:8000], y[:8000], estimator="kde", device="cuda", random_state=0)),
        ("mutual_information(mine), n=3e5, 16+16 float32: 19 MiB per side",
         lambda: ibscope.mutual_information(big, big, estimator="mine", device="cuda", max_steps=2, eval_every=1,
                                            random_state=0)),
    ]
    rows = []
    for name, fn in calls:
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction(cap / total, 0)
        try:
            rows.append({"call": name, **_attempt(fn, "memory")})
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0, 0)
            torch.cuda.empty_cache()
    return {"rows": rows, "cap_mib": cap >> 20}


def task_flow(estimator: str, device: str, quick: bool) -> dict:
    """One ``mutual_information(estimator="flow"|"auto", device=...)`` call on ``correlated_gaussian``."""
    import ibscope
    from ibscope.synthetic import correlated_gaussian

    n, d = (2000, 2) if quick else (10000, 4)
    x, y, true_mi = correlated_gaussian(n, dim_x=d, dim_y=d, mi=1.0, random_state=0)
    res, dt = _timed(lambda: ibscope.mutual_information(x, y, estimator=estimator, device=device, random_state=0))
    flow = res.extra.get("flow") or (res.extra.get("auto") or {}).get("flow") or {}
    auto = res.extra.get("auto") or {}
    return {"value": res.raw_value, "std_err": res.std_err, "true_mi": true_mi, "time_s": dt, "n": n, "dims": f"{d}+{d}",
            "chosen": auto.get("chosen"), "candidates": auto.get("candidates"),
            "flow_steps": flow.get("n_steps") if isinstance(flow, dict) else None,
            "flow_stop": flow.get("stop_reason") if isinstance(flow, dict) else None,
            "flow_device": flow.get("device", device) if isinstance(flow, dict) else None,
            "flow_value": flow.get("value") if auto else None, "flow_se": flow.get("se") if auto else None,
            "warnings": list(res.warnings)}


#: the noisy net of the bracket section: 8 inputs, additive noise 1.0 at every layer's input
BRACKET_NET = {"in_dim": 8, "hidden": (32, 16), "noise_sigma": 1.0, "noise_kind": "additive", "random_state": 0}


def task_brackets(device: str, quick: bool) -> dict:
    """``xl_brackets`` on a small noisy MLP with the model and the distance work on ``device`` (as the recorder)."""
    np = _np()
    import torch

    from ibscope.ib.brackets import xl_brackets
    from ibscope.nets import MLP

    n, trials, n_est = (200, 300, 100) if quick else (1000, 2000, 256)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.standard_normal((n, BRACKET_NET["in_dim"])).astype(np.float32))
    y = rng.integers(0, 10, n)
    model = MLP(BRACKET_NET["in_dim"], hidden=BRACKET_NET["hidden"], noise_sigma=BRACKET_NET["noise_sigma"],
                noise_kind=BRACKET_NET["noise_kind"], random_state=BRACKET_NET["random_state"]).to(device)
    out, dt = _timed(lambda: xl_brackets(model, x, y, n_trials=trials, n_estimate=n_est, n_replicas=8,
                                         random_state=0, device=device))
    keep = ("xl_lower", "xl_upper", "ly_lower_ident", "ly_upper", "i_xl", "i_xl_se", "i_xl_method", "errors_x",
            "errors_y", "xl_upper_by", "xl_lower_by", "upper_bounds", "kt_input_lower")
    layers = {name: {k: row.get(k) for k in keep} for name, row in out.items()}
    return {"layers": layers, "time_s": dt, "n_probes": n, "n_trials": trials, "n_estimate": n_est}


def task_identify(kind: str, n: int, m: int, d: int, device: str) -> dict:
    """``identification_bounds`` (``kind="ident"``: M trials against N references) or ``kt_bounds``
    (``kind="kt"``: N means) on ``device``, timed."""
    np = _np()
    from ibscope.infobounds import identification_bounds, kt_bounds

    rng = np.random.default_rng(0)
    refs = rng.standard_normal((n, d))
    if kind == "kt":
        (lo, up), dt = _timed(lambda: kt_bounds(0.3 * refs, 1.0, device=device))
        return {"values": {"kt_lower": lo, "kt_upper": up}, "time_s": dt}
    labels = rng.integers(0, n, m)
    y = rng.integers(0, 10, n)
    samples = refs[labels] + 0.7 * rng.standard_normal((m, d))
    res, dt = _timed(lambda: identification_bounds(samples, labels, refs, y, device=device))
    return {"values": {k: res[k] for k in ("errors_x", "errors_y", "fano_x", "fano_y", "ba_x", "ba_y")},
            "time_s": dt}


_DATA_CACHE: dict = {}


def _torch_backend_module():
    """The module holding the torch backend's ``_BLOCK_ENTRIES`` (its place moved between versions)."""
    import importlib

    for name in ("ibscope.neighbors._torch", "ibscope.neighbors"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(mod, "_BLOCK_ENTRIES"):
            return mod
    return None


def task_speed(n: int, d: int, mi: float, side: str, device: str, block_entries: int | None = None) -> dict:
    """Time ``KSG(k=5).estimate`` on one side: "device" (torch backend) or "cpu" (numba).

    ``block_entries`` (diagnostic) sets the torch backend's distance-block size for this call only.
    """
    if block_entries is not None:
        mod = _torch_backend_module()
        if mod is None:
            raise RuntimeError("this ibscope has no torch-backend _BLOCK_ENTRIES to change")
        # since the free-memory sizing on CUDA, _CUDA_BLOCK_ENTRIES fixes the CUDA blocks; before, _BLOCK_ENTRIES did
        attr = "_CUDA_BLOCK_ENTRIES" if hasattr(mod, "_CUDA_BLOCK_ENTRIES") and device != "cpu" else "_BLOCK_ENTRIES"
        saved = getattr(mod, attr)
        setattr(mod, attr, int(block_entries))
        try:
            return {**task_speed(n, d, mi, side, device), "block_entries": int(block_entries),
                    "default_block_entries": saved, "attribute": attr}
        finally:
            setattr(mod, attr, saved)
    import ibscope
    from ibscope.synthetic import correlated_gaussian

    key = (n, d, mi)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = correlated_gaussian(n, dim_x=d, dim_y=d, mi=mi, random_state=0)
    x, y, true_mi = _DATA_CACHE[key]
    kw = {"backend": "torch", "device": device} if side == "device" else {"backend": "numba"}
    est = ibscope.KSG(k=K, random_state=0, **kw)
    times, value = [], None
    t_start = time.perf_counter()
    while True:  # repeat fast calls (at most 3, within 5 s) and report the median
        res, dt = _timed(lambda: est.estimate(x, y))
        times.append(dt)
        value = res.raw_value
        if len(times) >= 3 or time.perf_counter() - t_start + dt > 5.0:
            break
    return {"times": times, "median_s": statistics.median(times), "value": value, "true_mi": true_mi}


TASKS = {"env": task_env, "warmup": task_warmup, "knn_cell": task_knn_cell, "estimate": task_estimate,
         "train": task_train, "bad_device": task_bad_device, "oom": task_oom, "speed": task_speed,
         "flow": task_flow, "brackets": task_brackets, "identify": task_identify}


def worker_main() -> int:
    """Serve tasks: one JSON line in on stdin, one JSON line out (prefixed) on the original stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed (by libraries too) goes to stderr, i.e. worker.log
    sys.stdout = sys.stderr

    def send(obj):
        out.write(PREFIX + json.dumps(_clean(obj)) + "\n")
        out.flush()

    try:
        import torch  # noqa: F401

        import ibscope  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        send({"status": "error", "error": f"import failed: {_exc_text(exc)}", "traceback": traceback.format_exc()})
        return 1
    send({"status": "ready"})
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        print(f"--- task {msg['task']} {msg['params']}", file=sys.stderr, flush=True)
        try:
            result = TASKS[msg["task"]](**msg["params"])
            send({"status": "ok", **result})
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            traceback.print_exc()
            send({"status": "error", "error": _exc_text(exc)[:1000], "traceback": traceback.format_exc()[-4000:]})
    return 0


def _clean(obj):
    """JSON-safe copy: numpy scalars and arrays to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


# =========================================================================== main side
class Log:
    """Print and keep a copy in ``log.txt``."""

    def __init__(self, path: Path):
        self.file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - open for the whole run

    def __call__(self, *parts):
        text = " ".join(str(p) for p in parts)
        print(text, flush=True)
        self.file.write(text + "\n")
        self.file.flush()


class Worker:
    """A ``--worker`` child process, restarted after a timeout or a crash."""

    def __init__(self, python: str, log_path: Path, env: dict, name: str = "worker"):
        self.python, self.log_path, self.env, self.name = python, log_path, env, name
        self.proc = None
        self.lines: queue.Queue = queue.Queue()
        self.starts = 0

    def _start(self, timeout: float) -> dict | None:
        self.starts += 1
        logf = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - the child writes to it
        logf.write(f"=== {self.name} start {self.starts} at {time.strftime('%H:%M:%S')}\n")
        logf.flush()
        self.proc = subprocess.Popen([self.python, str(SCRIPT), "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=logf, cwd=REPO, env=self.env, text=True,
                                     bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self.lines), daemon=True).start()
        msg = self._wait(timeout)
        if msg.get("status") != "ready":
            self.kill()
            return msg
        return None

    @staticmethod
    def _read(proc, lines):
        for line in proc.stdout:
            if line.startswith(PREFIX):
                lines.put(json.loads(line[len(PREFIX):]))
        lines.put(None)

    def _wait(self, timeout: float) -> dict:
        try:
            msg = self.lines.get(timeout=max(timeout, 0.1))
        except queue.Empty:
            self.kill()
            return {"status": "timeout", "error": f"no answer within {timeout:.0f} s (worker killed)"}
        if msg is None:
            rc = self.proc.wait()
            self.proc = None
            return {"status": "crashed", "error": f"worker exited with status {rc}; see worker.log"}
        return msg

    def call(self, task: str, timeout: float, **params) -> dict:
        t0 = time.perf_counter()
        if self.proc is None or self.proc.poll() is not None:
            failed = self._start(min(timeout, 120.0))
            if failed:
                return failed
        self.proc.stdin.write(json.dumps({"task": task, "params": params}) + "\n")
        self.proc.stdin.flush()
        msg = self._wait(timeout - (time.perf_counter() - t0))
        msg["wall_s"] = time.perf_counter() - t0
        return msg

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


class Budget:
    """A global deadline; each section gets ``min(cap, time left - reserves of the sections after it)``."""

    def __init__(self, total: float, sections: list[str]):
        self.t0 = time.perf_counter()
        self.total = total
        self.order = sections

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.total - self.elapsed()

    def allowance(self, name: str) -> float:
        later = self.order[self.order.index(name) + 1:]
        reserve = sum(SECTIONS[s][1] for s in later)
        return max(0.0, min(SECTIONS[name][0], self.left() - reserve))


def md_table(headers, rows) -> str:
    def cell(v):
        if isinstance(v, float):
            v = f"{v:.4g}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def fmt_s(s) -> str:
    if s is None:
        return "-"
    return f"{s:.3g} s" if s < 100 else f"{s:.0f} s"


class Check:
    """Collects sections (markdown) and results (JSON), and whether anything failed."""

    def __init__(self, args, log: Log):
        self.args, self.log = args, log
        self.md: list[str] = []
        self.results: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "sections": {}}
        self.failed: list[str] = []
        #: bad-input calls that crash inside torch or say nothing (bugs in src, not failures of this script)
        self.src_problems: list[str] = []
        self.out = Path(args.out).resolve()

    def section(self, title: str, body: str, data) -> None:
        block = f"## {title}\n\n{body.strip()}\n"
        self.md.append(block)
        self.results["sections"][title] = data
        self.log("\n" + block)

    def fail(self, what: str) -> None:
        self.failed.append(what)


def _status_text(msg: dict) -> str:
    if msg.get("status") == "timeout":
        return f"timeout: {msg.get('error')}"
    return f"{msg.get('status')}: {msg.get('error', '')}"[:300]


# --------------------------------------------------------------------------- sections
def section_env(chk: Check, worker: Worker, budget: Budget) -> dict | None:
    end = budget.elapsed() + budget.allowance("env")
    info = worker.call("env", timeout=min(end - budget.elapsed(), 120), device=chk.args.run_device)
    if info.get("status") != "ok":
        chk.fail("environment")
        chk.section("1. Environment", f"The worker did not start: {_status_text(info)}\n\n"
                                      f"```\n{info.get('traceback', '')}\n```", info)
        return None
    info.pop("status")
    if chk.args.run_device != "cpu" and not info.get("cuda_available"):
        chk.args.run_device = "cpu"  # CUDA asked for but missing: run the CPU checks (main() reports it)
    warm = worker.call("warmup", timeout=max(5.0, end - budget.elapsed()), device=chk.args.run_device)
    info["git"] = _git_state()
    rows = [(k, v) for k, v in info.items() if k not in ("wall_s",)]
    if warm.get("status") == "ok":
        rows += [(f"warm-up {k}", fmt_s(v)) for k, v in warm["times"].items()]
    else:
        rows.append(("warm-up", _status_text(warm)))
        chk.fail("warm-up")
    body = md_table(["item", "value"], rows)
    body += ("\n\nThe numba warm-up compiles the CPU kernels on a fresh machine (about 20-60 s) and loads them "
             "from the on-disk cache afterwards; the torch line includes starting CUDA.")
    chk.section("1. Environment", body, {"env": info, "warmup": warm})
    return info


def _git_state() -> str:
    """Commit and the number of changed paths under src/ ("unknown" without git)."""
    try:
        def git(*argv):
            return subprocess.run(["git", *argv], check=False, cwd=REPO, capture_output=True, text=True,
                                  timeout=10).stdout

        commit = git("rev-parse", "--short", "HEAD").strip()
        changed = git("status", "--porcelain", "--", "src").splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    if not commit:
        return "unknown (no git)"
    return f"{commit}" + (f" with {len(changed)} uncommitted paths under src/" if changed else "")


def _junit(path: Path) -> list[dict]:
    import xml.etree.ElementTree as ET

    if not path.is_file():
        return []
    rows = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, text = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, text = child.tag, (child.get("message") or "")[:300]
            elif child.tag == "skipped":
                kind = child.get("type") or ""
                outcome = "xfailed" if "xfail" in kind else "skipped"
                text = (child.get("message") or "")[:300]
        rows.append({"test": case.get("name"), "outcome": outcome, "message": text,
                     "time_s": float(case.get("time") or 0)})
    return rows


def section_pytest(chk: Check, budget: Budget, python: str, env: dict, cuda: bool) -> None:
    title = "2. pytest -m cuda (tests/unit/test_cuda.py)"
    have = subprocess.run([python, "-c", "import pytest"], check=False, cwd=REPO, env=env, capture_output=True).returncode == 0
    if not have:
        chk.section(title, "pytest is not installed for this Python: the tests were not run; the script's own "
                           "checks below cover the same ground.", {"status": "skipped: no pytest"})
        return
    runs = [("gpu", {})]
    if cuda:
        runs.append(("no-cuda", {"CUDA_VISIBLE_DEVICES": ""}))
    data, parts = {}, []
    allow_end = budget.elapsed() + budget.allowance("pytest")
    for tag, extra in runs:
        left = allow_end - budget.elapsed()
        if left < 10:
            parts.append(f"**{tag}**: skipped, no time left in the budget.")
            continue
        xml = chk.out / f"pytest-{tag}.xml"
        cmd = [python, "-m", "pytest", "tests/unit/test_cuda.py", "-m", "cuda", "-p", "no:cacheprovider", "-q",
               "-rfEX", f"--junitxml={xml}"]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, check=False, cwd=REPO, env={**env, **extra}, capture_output=True, text=True,
                                  timeout=left)
            rc, text = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, text = "timeout", f"pytest passed its {left:.0f} s limit\n{exc.stdout or ''}"
        (chk.out / f"pytest-{tag}.txt").write_text(text if isinstance(text, str) else str(text))
        cases = _junit(xml)
        counts = {}
        for c in cases:
            counts[c["outcome"]] = counts.get(c["outcome"], 0) + 1
        summary = next((ln for ln in reversed(text.splitlines())
                        if re.search(r"\d+ (passed|failed|skipped|error|xfailed|deselected)", ln)), "")
        env_note = " with CUDA_VISIBLE_DEVICES=''" if extra else ""
        parts.append(f"**Run{env_note}** (exit status {rc}, {time.perf_counter() - t0:.1f} s): "
                     f"{summary.strip('= ') or counts}")
        notable = [(c["test"], c["outcome"], c["message"]) for c in cases if c["outcome"] in ("failure", "error")]
        if notable:
            parts.append(md_table(["test", "outcome", "message"], notable))
        xfails = [(c["test"], c["message"]) for c in cases if c["outcome"] == "xfailed"]
        if xfails:
            parts.append("Expected failures (known gaps in src, `xfail(strict=True)`):\n\n"
                         + md_table(["test", "reason"], xfails))
        if rc not in (0, 5) or notable:
            chk.fail(f"pytest ({tag})")
        data[tag] = {"returncode": rc, "counts": counts, "cases": cases}
    chk.section(title, "\n\n".join(parts), data)


def _predict(t_small, n_small, n, exponent):
    return None if t_small is None else t_small * (n / n_small) ** exponent


def section_knn(chk: Check, worker: Worker, budget: Budget) -> None:
    args = chk.args
    sizes = (1_000, 5_000) if args.quick else (10_000, 100_000)
    dims = (2, 8, 32)
    end = budget.elapsed() + budget.allowance("knn")
    rows, data, last = [], [], {}
    for n in sizes:
        for d in dims:
            left = end - budget.elapsed()
            prev = last.get(d)
            pred = None
            if prev:
                # torch side is brute force O(n^2); numba is O(n^2) in flat mode (>= 12-D), ~n^1.2 in the tree
                pred = (_predict(prev["device_s"], prev["n"], n, 2.0)
                        + _predict(prev["cpu_s"], prev["n"], n, 1.8 if d >= 12 else 1.2))
            if left < 3:
                rows.append((n, d, "all", "skipped", "no time left in the section"))
                data.append({"n": n, "d": d, "status": "skipped"})
                continue
            if pred is not None and pred > left:
                rows.append((n, d, "all", "skipped", f"predicted {fmt_s(pred)} > {fmt_s(left)} left in the section"))
                data.append({"n": n, "d": d, "status": "skipped", "predicted_s": pred})
                continue
            msg = worker.call("knn_cell", timeout=left, n=n, d=d, device=args.run_device)
            if msg.get("status") != "ok":
                rows.append((n, d, "all", msg.get("status"), _status_text(msg)))
                data.append({"n": n, "d": d, **msg})
                if msg.get("status") != "timeout":
                    chk.fail(f"knn n={n} d={d}")
                continue
            for c in msg["checks"]:
                rows.append((n, d, c["check"], "ok" if c["ok"] else "MISMATCH", c["detail"]))
                if not c["ok"]:
                    chk.fail(f"knn n={n} d={d}: {c['check']}")
            timing = f"numba CPU {fmt_s(msg['cpu_s'])}, torch {args.run_device} {fmt_s(msg['device_s'])}"
            rows.append((n, d, "time (all calls above)", "", timing))
            last[d] = {"n": n, "cpu_s": msg["cpu_s"], "device_s": msg["device_s"]}
            data.append({"n": n, "d": d, **msg})
    side = ("torch backend on CUDA" if args.run_device != "cpu" else
            "torch backend on the CPU (CUDA: skipped: no CUDA; this still checks the torch code path)")
    body = (f"The {side} against the numba CPU backend, k = {K}, standard normal points. Radii for the "
            "max-norm counts are the k-th neighbour distances themselves, so a point sits exactly on every "
            "sphere (tests `<` against `<=`); Euclidean counts use r_k (1 + 1e-9), away from rounding.\n\n"
            + md_table(["n", "dims", "check", "result", "detail"], rows))
    chk.section("3. kNN exactness", body, data)


def section_estimates(chk: Check, worker: Worker, budget: Budget) -> None:
    args = chk.args
    n_knn, n_kde = (2_000, 500) if args.quick else (10_000, 2_000)
    cells = [("ksg", n_knn, 4, 0.0, "exact: counts are exact, digamma sums run on the host"),
             ("ksg2", n_knn, 4, 0.0, "exact: as KSG-1"),
             ("kl", n_knn, 4, RTOL_KL, "Euclidean distances differ by float rounding"),
             ("wkl", n_knn, 4, RTOL_KL, "as KL"),
             ("kde", n_kde, 2, RTOL_KDE, "float64 log-sum-exp summed in another order, then a bandwidth search")]
    end = budget.elapsed() + budget.allowance("estimates")
    rows, data = [], []
    for name, n, d, tol, why in cells:
        if name == "kde" and args.run_device == "cpu":
            why_skip = "skipped: no CUDA (KDE has one torch path; on the CPU both sides are the same computation)"
            rows.append((name, n, f"{d}+{d}", "-", "-", "-", "-", why_skip))
            continue
        left = end - budget.elapsed()
        if left < 3:
            rows.append((name, n, f"{d}+{d}", "-", "-", "-", "-", "skipped: no time left"))
            continue
        msg = worker.call("estimate", timeout=left, name=name, n=n, d=d, device=args.run_device)
        if msg.get("status") != "ok":
            rows.append((name, n, f"{d}+{d}", "-", "-", "-", "-", _status_text(msg)))
            if msg.get("status") != "timeout":
                chk.fail(f"estimate {name}")
            data.append({"estimator": name, **msg})
            continue
        ok = msg["cpu"] == msg["device"] if tol == 0 else msg["rel_diff"] <= tol
        if not ok:
            chk.fail(f"estimate {name}")
        rows.append((name, n, f"{d}+{d}", f"{msg['cpu']:.12g}", f"{msg['device']:.12g}", f"{msg['rel_diff']:.2g}",
                     "identical" if tol == 0 else f"rel {tol:g}",
                     ("ok" if ok else "MISMATCH") + f" ({fmt_s(msg['cpu_s'])} / {fmt_s(msg['device_s'])}); {why}"))
        data.append({"estimator": name, "tolerance": tol, "ok": ok, **msg})
    dev = "CUDA" if args.run_device != "cpu" else "torch on the CPU (CUDA: skipped: no CUDA)"
    body = (f"`ibscope.mutual_information(x, y, estimator=..., random_state=0)` on the CPU (numba backend; KDE "
            f"with device='cpu') and on {dev}, same data (`correlated_gaussian`, true MI 1 nat).\n\n"
            + md_table(["estimator", "n", "dims", "CPU (nats)", "device (nats)", "rel diff", "tolerance",
                        "result (times CPU / device); why this tolerance"], rows))
    chk.section("4. Estimates: device against CPU", body, data)


def section_training(chk: Check, worker: Worker, budget: Budget) -> None:
    args = chk.args
    end = budget.elapsed() + budget.allowance("training")
    rows, data = [], []
    for kind in ("conv-ae", "mine", "infonce", "noise"):
        left = end - budget.elapsed()
        if left < 3:
            rows.append((kind, "-", "-", "-", "-", "skipped: no time left"))
            continue
        msg = worker.call("train", timeout=left, kind=kind, device=args.run_device, quick=args.quick,
                          data_dir=args.data_dir)
        if msg.get("status") != "ok":
            rows.append((kind, "-", "-", "-", "-", _status_text(msg)))
            if msg.get("status") != "timeout":
                chk.fail(f"training {kind}")
            data.append({"kind": kind, **msg})
            continue
        if not msg["finite"]:
            chk.fail(f"training {kind}: not finite")
        vals = ", ".join(f"{v:.6g}" for v in msg["values"])
        repeat = "exact (bitwise)" if msg["exact"] else f"not exact: max |diff| {msg['max_diff']:.3g} in {msg['diff_of']}"
        rows.append((kind, msg["device_used"], f"{msg['value_name']}: {vals}", repeat,
                     " / ".join(fmt_s(t) for t in msg["time_s"]), msg["setup"]))
        data.append({"kind": kind, **msg})
    note = "" if args.run_device != "cpu" else (
        "\n\nskipped: no CUDA. These runs are on the CPU, where a fixed seed must repeat exactly; the CUDA "
        "repeatability is measured only on a GPU machine.")
    body = ("Each model is trained twice with `random_state=0` on the device. GPU kernels may be "
            "non-deterministic (atomic adds in some backward passes), so a repeat is either exact or reported "
            "with its difference." + note + "\n\n"
            + md_table(["model", "device", "results of the two runs", "repeat", "time per run", "setup"], rows))
    chk.section("5. Training on the device", body, data)


def _run_plan(worker, budget, end, task, plan, **params) -> dict:
    """Run ``task`` once per ``(label, device)`` of ``plan`` within the section's end time; label -> message."""
    out = {}
    for label, dev in plan:
        left = end - budget.elapsed()
        if left < 3:
            out[label] = {"status": "skipped", "error": "no time left in the section"}
            continue
        out[label] = worker.call(task, timeout=left, device=dev, **params)
    return out


def _repeat_text(a, b) -> tuple[bool, str]:
    """Whether two flat dicts of numbers are bitwise equal, and the largest difference."""
    diffs = []
    for key in a:
        u, v = a.get(key), b.get(key)
        if u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v)):
            continue
        if isinstance(u, (int, float)) and isinstance(v, (int, float)):
            diffs.append((abs(u - v), key))
        else:
            diffs.append((math.inf, key))
    if not diffs:
        return True, "exact (bitwise)"
    worst = max(diffs)
    return False, f"not exact: {len(diffs)} value(s) differ, largest |diff| {worst[0]:.3g} ({worst[1]})"


def section_flow(chk: Check, worker: Worker, budget: Budget) -> None:
    """The flow estimator and the default "auto" estimator (which may run it) on the device and the CPU."""
    args = chk.args
    cuda = args.run_device != "cpu"
    end = budget.elapsed() + budget.allowance("flow")
    rows, checks, data = [], [], {}
    for est in ("flow", "auto"):
        if cuda:  # the comparison first, the repeat with the time left
            plan = [("device run 1", args.run_device), ("CPU", "cpu"), ("device run 2", args.run_device)]
        else:
            plan = [("CPU run 1", "cpu"), ("CPU run 2", "cpu")] if est == "flow" else [("CPU", "cpu")]
        msgs = _run_plan(worker, budget, end, "flow", plan, estimator=est, quick=args.quick)
        data[est] = msgs
        for label, msg in msgs.items():
            if msg.get("status") != "ok":
                rows.append((est, label, "-", "-", "-", "-", _status_text(msg)))
                if msg.get("status") not in ("timeout", "skipped"):
                    chk.fail(f"flow section: {est} {label}")
                continue
            fv = msg.get("flow_value")
            what = (f"chose {msg['chosen']}; flow candidate {'-' if fv is None else f'{fv:.6g}'}, "
                    f"{msg['flow_steps']} steps ({msg['flow_stop']}) on {msg['flow_device']}" if est == "auto" else
                    f"{msg['flow_steps']} steps ({msg['flow_stop']}) on {msg['flow_device']}")
            se = msg.get("std_err")
            rows.append((est, label, f"{msg['n']:,} rows, {msg['dims']}, true MI {msg['true_mi']:.3g}",
                         f"{msg['value']:.10g}", "-" if se is None else f"{se:.3g}", fmt_s(msg["time_s"]), what))
        ok = {k: m for k, m in msgs.items() if m.get("status") == "ok"}
        first, second = (("device run 1", "device run 2") if cuda else ("CPU run 1", "CPU run 2"))
        if first in ok and second in ok:
            same = ok[first]["value"] == ok[second]["value"]
            text = "exact (bitwise)" if same else f"not exact: |diff| {abs(ok[first]['value'] - ok[second]['value']):.3g} nats"
            checks.append((est, f"repeat with one seed on {'CUDA' if cuda else 'the CPU'}", text,
                           "reported" if cuda else ("ok" if same else "FAILED")))
            if not cuda and not same:
                chk.fail(f"flow section: {est} does not repeat on the CPU")
        dev_key = "device run 1" if cuda else None
        if not cuda:
            checks.append((est, "device against CPU", "skipped: no CUDA", "-"))
        elif dev_key in ok and "CPU" in ok:
            a, b = ok[dev_key], ok["CPU"]
            ses = [s for s in (a.get("std_err"), b.get("std_err")) if s is not None]
            tol = max(TOL_FLOW_ABS, 3.0 * math.sqrt(sum(s * s for s in ses))) if ses else TOL_FLOW_ABS
            diff = abs(a["value"] - b["value"])
            good = diff <= tol
            chosen = ""
            if est == "auto":
                fa, fb = a.get("flow_value"), b.get("flow_value")
                fdiff = "-" if fa is None or fb is None else f"{abs(fa - fb):.3g}"
                chosen = f" (device chose {a['chosen']}, CPU chose {b['chosen']}; flow candidates |diff| {fdiff})"
            t_dev = min(m["time_s"] for k, m in ok.items() if k.startswith("device"))  # the warm run
            checks.append((est, "device against CPU",
                           f"|diff| {diff:.3g} nats, tolerance {tol:.3g}{chosen}; time CPU / device (faster run) "
                           f"{fmt_s(b['time_s'])} / {fmt_s(t_dev)} ({b['time_s'] / t_dev:.2f}x)",
                           "ok" if good else "MISMATCH"))
            if not good:
                chk.fail(f"flow section: {est} device against CPU")
    dev = "CUDA" if cuda else "the CPU (CUDA: skipped: no CUDA)"
    body = (f"`ibscope.mutual_information(x, y, estimator=..., device=..., random_state=0)` on "
            f"`correlated_gaussian(n, dim_x=d, dim_y=d, mi=1.0, random_state=0)`, on {dev}. \"flow\" is "
            "`FlowMI` with its defaults; \"auto\" is the default estimator, whose held-out flow candidate runs at "
            "n >= 1000 (its KSG uses the torch backend on a GPU). Tolerance of device against CPU: "
            f"max({TOL_FLOW_ABS:g} nats, 3 x the two runs' held-out standard errors combined): the flows train in "
            "float32, the GPU's kernels round differently, and training amplifies rounding into a different "
            "optimum (early stopping may pick another step), which moves the held-out estimate on the scale of "
            "its own standard error; \"auto\" is identical when both sides choose KSG or the copula.\n\n"
            + md_table(["estimator", "run", "data", "estimate (nats)", "std err", "time", "training"], rows)
            + "\n\n" + md_table(["estimator", "check", "result", "verdict"], checks))
    chk.section("6. Flow estimator and the default auto estimator", body, data)


def _flat_brackets(layers: dict) -> dict:
    """``{layer.key: value}`` of a bracket result, the upper-bound candidates expanded."""
    flat = {}
    for name, row in layers.items():
        for key, value in row.items():
            if isinstance(value, dict):
                for sub, v in value.items():
                    flat[f"{name}.{key}.{sub}"] = v
            else:
                flat[f"{name}.{key}"] = value
    return flat


#: bracket quantities that are exact functions of the noise-free pass (the rest are Monte-Carlo)
_DETERMINISTIC = ("xl_upper", "ly_upper", "upper_bounds", "kt_input_lower")


def section_brackets(chk: Check, worker: Worker, budget: Budget) -> None:
    """``xl_brackets`` on a small noisy MLP, model and distances on the device, against the CPU."""
    args = chk.args
    cuda = args.run_device != "cpu"
    end = budget.elapsed() + budget.allowance("brackets")
    plan = ([("device run 1", args.run_device), ("CPU", "cpu"), ("device run 2", args.run_device)] if cuda
            else [("CPU run 1", "cpu"), ("CPU run 2", "cpu")])
    msgs = _run_plan(worker, budget, end, "brackets", plan, quick=args.quick)
    ok = {k: m for k, m in msgs.items() if m.get("status") == "ok"}
    parts, checks = [], []
    for label, msg in msgs.items():
        if msg.get("status") != "ok":
            parts.append(f"**{label}**: {_status_text(msg)}")
            if msg.get("status") not in ("timeout", "skipped"):
                chk.fail(f"brackets {label}")
    first, second = ("device run 1", "device run 2") if cuda else ("CPU run 1", "CPU run 2")
    if first in ok and second in ok:
        same, text = _repeat_text(_flat_brackets(ok[first]["layers"]), _flat_brackets(ok[second]["layers"]))
        checks.append((f"repeat with one seed on {'CUDA' if cuda else 'the CPU'}", text,
                       "reported" if cuda else ("ok" if same else "FAILED")))
        if not cuda and not same:
            chk.fail("brackets do not repeat on the CPU")
    rows = []
    ref = ok.get("CPU") or ok.get(first)
    n_probes = ref["n_probes"] if ref else 0
    m = ref["n_trials"] if ref else 0
    tol_mc = 2.0 * math.sqrt(2.0) * math.log(max(n_probes, 2)) / math.sqrt(max(m, 1))
    if not cuda:
        checks.append(("device against CPU", "skipped: no CUDA", "-"))
    elif first in ok and "CPU" in ok:
        a, b = _flat_brackets(ok[first]["layers"]), _flat_brackets(ok["CPU"]["layers"])
        bad = 0
        for key in a:
            u, v = a[key], b.get(key)
            if not isinstance(u, (int, float)) or isinstance(u, bool) or not isinstance(v, (int, float)):
                if u != v:
                    rows.append((key, u, v, "-", "-", "differs (reported)"))
                continue
            if key.endswith(("errors_x", "errors_y", "i_xl_se")):
                rows.append((key, u, v, f"{abs(u - v):.3g}", "-", "reported (Monte-Carlo)"))
                continue
            if u is None or v is None or (isinstance(u, float) and math.isnan(u)) or (
                    isinstance(v, float) and math.isnan(v)):
                good = (u is None or math.isnan(u)) == (v is None or math.isnan(v))
                rows.append((key, u, v, "-", "both NaN or neither", "ok" if good else "MISMATCH"))
                bad += not good
                continue
            diff = abs(u - v)
            layer = key.split(".")[0]
            if any(f".{d}" in key for d in _DETERMINISTIC):
                tol, why = RTOL_BRACKET_UPPER * max(abs(u), abs(v), 1.0), f"rel {RTOL_BRACKET_UPPER:g}"
            elif key.endswith(".i_xl"):
                se_a = ok[first]["layers"][layer].get("i_xl_se") or 0.0
                se_b = ok["CPU"]["layers"][layer].get("i_xl_se") or 0.0
                tol = 4.0 * math.sqrt(se_a ** 2 + se_b ** 2)
                why = "4 x combined SE"
            else:
                tol, why = tol_mc, f"Monte-Carlo {tol_mc:.2f}"
            good = diff <= tol
            bad += not good
            rows.append((key, f"{u:.10g}", f"{v:.10g}", f"{diff:.3g}", why, "ok" if good else "MISMATCH"))
        checks.append(("device against CPU", f"{len(rows)} values compared, {bad} outside tolerance",
                       "ok" if not bad else "MISMATCH"))
        if bad:
            chk.fail("brackets: device against CPU")
    times = "; ".join(f"{k} {fmt_s(v['time_s'])}" for k, v in ok.items())
    if cuda and first in ok and "CPU" in ok:
        t_dev = min(v["time_s"] for k, v in ok.items() if k.startswith("device"))  # the warm run
        times += f" (speed-up CPU / faster device run {ok['CPU']['time_s'] / t_dev:.2f}x)"
    net = ", ".join(f"{k}={v}" for k, v in BRACKET_NET.items())
    body = (f"`xl_brackets(model, x, y, n_trials={m}, n_estimate=..., n_replicas=8, random_state=0, device=...)` "
            f"with the model on the same device (as `ib/recorder.py` calls it), on `MLP({net})` (untrained) and "
            f"{n_probes} standard-normal probes with random labels; {'CUDA' if cuda else 'the CPU only (CUDA: skipped: no CUDA)'}."
            " Tolerances: the upper bounds (ln N, the Kolchinsky-Tracey and Gaussian-channel bounds on the first "
            f"noisy variable, its KT lower bound) are deterministic float64 functions of the noise-free pass: rel "
            f"{RTOL_BRACKET_UPPER:g} (float32 forward passes, another reduction order). The lower bounds and the "
            "estimate are Monte-Carlo quantities, and CUDA draws the noise from its own generator (Philox, not the "
            "CPU's Mersenne twister), so the same seed gives other draws: the lower bounds within "
            f"2 sqrt(2) ln N / sqrt(M) = {tol_mc:.2f} nats (4 standard deviations of the difference of two "
            "independent Fano bounds at the worst error rate 1/2), the estimate within 4 combined standard "
            f"errors.\n\nTimes: {times}.\n\n" + "\n\n".join(parts)
            + ("\n\n" if parts else "") + md_table(["check", "result", "verdict"], checks))
    if rows:
        body += "\n\n" + md_table(["layer.quantity", "device", "CPU", "|diff|", "tolerance", "result"], rows)
    elif ref:
        flat = _flat_brackets(ref["layers"])
        body += "\n\n" + md_table(["layer.quantity", "CPU value"],
                                  [(k, f"{v:.10g}" if isinstance(v, float) else v) for k, v in flat.items()])
    chk.section("7. I(X;L) brackets on a small noisy net", body, msgs)


def section_identify(chk: Check, worker: Worker, budget: Budget) -> None:
    """The identification bound and the KT pairwise bounds at larger N: device against CPU, time and values."""
    args = chk.args
    cuda = args.run_device != "cpu"
    end = budget.elapsed() + budget.allowance("identify")
    cells = ([("ident", 4000, 1000, 32), ("kt", 1500, 0, 32)] if args.quick else
             [("ident", 20000, 4000, 64), ("kt", 8000, 0, 64)])
    rows, data = [], []
    for kind, n, m, d in cells:
        plan = ([("device", args.run_device), ("CPU", "cpu")] if cuda else [("CPU", "cpu")])
        msgs = _run_plan(worker, budget, end, "identify", plan, kind=kind, n=n, m=m, d=d)
        data.append({"kind": kind, "n": n, "m": m, "d": d, **msgs})
        size = f"N={n:,}, M={m:,}, d={d}" if kind == "ident" else f"N={n:,}, d={d}"
        name = "identification_bounds" if kind == "ident" else "kt_bounds (isotropic)"
        for label, msg in msgs.items():
            if msg.get("status") != "ok" and msg.get("status") not in ("timeout", "skipped"):
                chk.fail(f"identify {kind} {label}")
        dv, cp = msgs.get("device", {}), msgs["CPU"]
        t_dev = fmt_s(dv["time_s"]) if dv.get("status") == "ok" else (_status_text(dv) if cuda else "skipped: no CUDA")
        t_cpu = fmt_s(cp["time_s"]) if cp.get("status") == "ok" else _status_text(cp)
        shown = cp.get("values") or dv.get("values") or {}
        values = ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
        if not cuda:
            verdict = "device side skipped: no CUDA"
        elif dv.get("status") == "ok" and cp.get("status") == "ok":
            a, b = dv["values"], cp["values"]
            probs = []
            if kind == "kt":
                for k in a:
                    if abs(a[k] - b[k]) > RTOL_KT * max(abs(b[k]), 1e-300):
                        probs.append(f"{k} {a[k]:.12g} vs {b[k]:.12g}")
            else:
                for k in ("errors_x", "errors_y"):
                    if abs(a[k] - b[k]) > 1:
                        probs.append(f"{k} {a[k]} vs {b[k]}")
                for k in ("ba_x", "ba_y"):
                    if abs(a[k] - b[k]) > TOL_BA:
                        probs.append(f"{k} {a[k]:.10g} vs {b[k]:.10g}")
                for k, e in (("fano_x", "errors_x"), ("fano_y", "errors_y")):
                    if a[e] == b[e] and abs(a[k] - b[k]) > 1e-12:
                        probs.append(f"{k} {a[k]:.12g} vs {b[k]:.12g} with equal error counts")
            same = all(a[k] == b[k] for k in a)
            verdict = ("identical" if same else "ok (within tolerance)") if not probs else "MISMATCH: " + "; ".join(probs)
            if probs:
                chk.fail(f"identify {kind}: device against CPU")
            if dv["time_s"] > 0:
                verdict += f"; speed-up {cp['time_s'] / dv['time_s']:.2f}x"
        else:
            verdict = "-"
        rows.append((name, size, t_dev, t_cpu, values, verdict))
    body = ("Distance-matrix work of the brackets at a larger N, on the device and on the CPU, same data "
            "(references N(0, I), trials = a reference plus 0.7 N(0, I) noise, 10 random labels; KT means 0.3 "
            "N(0, I) with unit variance). Tolerances: the CPU computes the identification distances in float32 "
            "and a GPU in float64, so a trial at a near-tie of two references may decode differently (error "
            f"counts within 1; Fano identical when the counts are), Barber-Agakov bounds within {TOL_BA:g} nats "
            "(measured float32 against float64 on the CPU: about 1e-8); the KT bounds are float64 on both sides, "
            f"rel {RTOL_KT:g}.\n\n"
            + md_table(["bound", "size", f"time on {args.run_device if cuda else 'the device'}", "time on the CPU",
                        "values", "device against CPU"], rows))
    chk.section("8. Identification and pairwise bounds at larger N", body, data)


def section_bad_input(chk: Check, worker: Worker, budget: Budget, python: str, env: dict, cuda: bool) -> None:
    """No CUDA, a missing GPU index, too little GPU memory: what each entry point says."""
    end = budget.elapsed() + budget.allowance("bad-input")
    parts, data = [], {}

    def table(msg, label):
        if msg.get("status") != "ok":
            parts.append(f"**{label}**: {_status_text(msg)}")
            if msg.get("status") != "timeout":
                chk.fail(label)
            return
        rows = [(r["call"], r["outcome"], r["message"]) for r in msg["rows"]]
        parts.append(f"**{label}**\n\n" + md_table(["call", "outcome", "message"], rows))
        for r in msg["rows"]:
            if not r["ok"]:
                chk.src_problems.append(f"{r['call']}: {r['outcome']}: {r['message'][:200]}")

    if cuda:
        nocuda = Worker(python, chk.out / "worker.log", {**env, "CUDA_VISIBLE_DEVICES": ""}, name="no-cuda worker")
        try:
            msg = nocuda.call("bad_device", timeout=max(3.0, min(60.0, end - budget.elapsed())), kind="no-cuda")
        finally:
            nocuda.close()
        table(msg, "device='cuda' without CUDA (a worker with CUDA_VISIBLE_DEVICES='')")
        data["no-cuda"] = msg
        # a disposable worker, so a CUDA error or the allocator cap cannot leak into the speed section
        spare = Worker(python, chk.out / "worker.log", env, name="bad-input worker")
        try:
            msg = spare.call("bad_device", timeout=max(3.0, end - budget.elapsed()), kind="index")
            table(msg, "a GPU index that does not exist")
            data["index"] = msg
            msg = spare.call("oom", timeout=max(3.0, end - budget.elapsed()))
            table(msg, "data too large for GPU memory (caching allocator capped at 8 MiB)")
            data["oom"] = msg
        finally:
            spare.close()
    else:
        msg = worker.call("bad_device", timeout=max(3.0, end - budget.elapsed()), kind="no-cuda")
        table(msg, "device='cuda' without CUDA")
        data["no-cuda"] = msg
        parts.append("**a GPU index that does not exist** (`device='cuda:7'` with one GPU): skipped: no CUDA.\n\n"
                     "**data too large for GPU memory**: skipped: no CUDA.")
    body = ("What each entry point does with a bad device: \"clear error\" is a ValueError/MemoryError from "
            "ibscope naming the problem; \"CRASH inside torch\" is torch's own exception escaping (a bug to fix "
            "in src); a fallback must be recorded in the result's warnings.\n\n" + "\n\n".join(parts))
    chk.section("9. Bad input", body, data)


def _speed_side(chk, worker, budget, end, last, n, d, mi, side) -> dict:
    """One side of one speed cell, guarded by extrapolation from the last size and a hard timeout."""
    prev = last.get((side, d))
    exponent = 2.0 if side == "device" else 1.8 if 2 * d >= 12 else 1.2
    limit = min(chk.args.cell_limit, end - budget.elapsed())
    if prev is not None and prev[1] is None:
        last[(side, d)] = (n, None)
        return {"status": "skipped", "text": "skipped: the smaller n was skipped or did not finish"}
    pred = _predict(prev[1], prev[0], n, exponent) if prev else None
    if limit < 3:
        last[(side, d)] = (n, None)
        return {"status": "skipped", "text": "skipped: no time left"}
    if pred is not None and pred > limit:
        last[(side, d)] = (n, None)
        return {"status": "skipped", "predicted_s": pred,
                "text": f"skipped: predicted {fmt_s(pred)} (O(n^{exponent:g}) from {fmt_s(prev[1])} at "
                        f"n={prev[0]:,}) > {fmt_s(limit)} limit"}
    msg = worker.call("speed", timeout=limit, n=n, d=d, mi=mi, side=side, device=chk.args.run_device)
    if msg.get("status") == "ok":
        last[(side, d)] = (n, msg["median_s"])
        times = ", ".join(f"{t:.3g}" for t in msg["times"])
        return {**msg, "text": fmt_s(msg["median_s"]) + (f" ({times})" if len(msg["times"]) > 1 else "")}
    last[(side, d)] = (n, None)
    if msg.get("status") != "timeout":
        chk.fail(f"speed {n} {d}+{d} {side}")
    return {**msg, "text": _status_text(msg)[:120]}


#: distance entries per block for the diagnostic rows: the old fixed CUDA blocks (2**21 entries, 16 MiB of float64),
#: against the default blocks sized from the free GPU memory (at most 2**27 entries per array)
DIAG_BLOCK = 1 << 21


def _speed_block_diagnostic(chk, worker, budget, end, cells) -> str:
    """With the time left: the CUDA torch backend at 4+4 with 64x larger distance blocks than the default."""
    if chk.args.run_device == "cpu":
        return "Block-size diagnostic (CUDA only): skipped: no CUDA."
    cpu = {c["n"]: c["cpu"].get("value") for c in cells if c["dims"] == "4+4"}
    sizes = sorted(c["n"] for c in cells if c["dims"] == "4+4" and not c["probe"])
    rows, prev = [], None  # prev: (n, seconds) of the last size run; seconds None when it did not finish
    for n in sizes:
        limit = min(chk.args.cell_limit, end - budget.elapsed())
        pred = _predict(prev[1], prev[0], n, 2.0) if prev and prev[1] else None
        if limit < 3:
            rows.append((f"{n:,}", "skipped: no time left", "-"))
            continue
        if prev and prev[1] is None:
            rows.append((f"{n:,}", "skipped: the smaller n did not finish", "-"))
            continue
        if pred is not None and pred > limit:
            rows.append((f"{n:,}", f"skipped: predicted {fmt_s(pred)} > {fmt_s(limit)} limit", "-"))
            continue
        msg = worker.call("speed", timeout=limit, n=n, d=4, mi=2.0, side="device", device=chk.args.run_device,
                          block_entries=DIAG_BLOCK)
        if msg.get("status") != "ok":
            prev = (n, None)
            rows.append((f"{n:,}", _status_text(msg)[:120], "-"))
            continue
        prev = (n, msg["median_s"])
        ref = cpu.get(n)
        same = "-" if ref is None else "identical" if ref == msg["value"] else f"DIFFER ({msg['value']:.6g})"
        if same.startswith("DIFFER"):
            chk.fail(f"speed diagnostic n={n}: value differs")
        rows.append((f"{n:,}", fmt_s(prev[1]), same))
    return ("Block-size diagnostic: the same 4+4 call on CUDA with the torch backend's blocks fixed at the old "
            "2**21 entries (`_CUDA_BLOCK_ENTRIES`: 2**21 // (3 n) rows, 6 rows at n = 1e5, one row from n = 7e5, "
            "many tiny kernels), against the default above (blocks sized from the free GPU memory, at most 2**27 "
            "entries per array):\n\n"
            + md_table(["n", "torch on CUDA, fixed 2**21-entry blocks", "value vs numba CPU"], rows))


def section_speed(chk: Check, worker: Worker, budget: Budget) -> None:
    args = chk.args
    scale = 10 if args.quick else 1
    plan = []  # (n, d, mi, probe?) in the order they run: small n first, so the guards can extrapolate
    for n in (10_000, 100_000, 1_000_000):
        for d, mi, sizes in ((4, 2.0, (100_000, 1_000_000)), (16, 8.0, (100_000, 1_000_000)), (64, 8.0, (100_000,))):
            if n in sizes or n * 10 == min(sizes):
                plan.append((n // scale, d, mi, n not in sizes))
    end = budget.elapsed() + budget.allowance("speed")
    dev_label = f"torch on {args.run_device}" if args.run_device != "cpu" else "torch on the CPU"
    last: dict = {}  # (side, d) -> (n, median seconds, or None when that size was skipped or failed)
    rows, data = [], []
    for n, d, mi, probe in plan:
        cell = {"n": n, "dims": f"{d}+{d}", "probe": probe}
        for side in ("device", "cpu"):
            cell[side] = _speed_side(chk, worker, budget, end, last, n, d, mi, side)
        vd, vc = cell["device"].get("value"), cell["cpu"].get("value")
        if vd is None or vc is None:
            same = "-"
        elif vd == vc:
            same = "identical"
        else:
            same = f"DIFFER ({vd:.6g} vs {vc:.6g})"
            chk.fail(f"speed {n} {d}+{d}: values differ")
        td, tc = cell["device"].get("median_s"), cell["cpu"].get("median_s")
        shown = next((v for v in (vc, vd) if v is not None), None)
        rows.append((f"{n:,}" + (" (probe)" if probe else ""), f"{d}+{d}", cell["device"]["text"],
                     cell["cpu"]["text"], f"{tc / td:.2f}x" if td and tc else "-",
                     "-" if shown is None else f"{shown:.4f}", same))
        data.append(cell)
    diag = _speed_block_diagnostic(chk, worker, budget, end, data)
    body = (f"`KSG(k={K}, random_state=0).estimate(x, y)` (the full call: validation, rank transform, search, "
            f"sums) with `backend=\"torch\", device=\"{args.run_device}\"` against `backend=\"numba\"` (all "
            f"{os.cpu_count()} cores), same data (`correlated_gaussian(n, dim_x=d, dim_y=d, mi=..., "
            "random_state=0)`, true MI 2 nats for 4+4 and 8 for the others), medians of up to 3 calls within 5 s. "
            "Probe rows (n/10) feed the extrapolation that skips cells over the limit: O(n^2) for the brute-force "
            "torch backend, O(n^1.8) for the box-pruned numba flat mode (>= 12 joint dims; measured 0.23 s -> 12.5 s "
            f"from n = 1e4 to 1e5 in 16+16), O(n^1.2) for the numba KD-tree. Cell limit {fmt_s(args.cell_limit)}; "
            "a cell that passes it is killed and shown as a timeout.\n\n"
            + md_table(["n", "dims", dev_label, "numba CPU", "speed-up (CPU time / device time)", "estimate (nats)",
                        "device vs CPU value"], rows))
    if args.run_device == "cpu":
        body += ("\n\nCUDA: skipped: no CUDA. The device column is the torch backend on the CPU (a CPU-against-CPU "
                 "reference timing of the brute-force path).")
    body += "\n\n" + diag
    chk.section("10. Speed: KSG on the device against the numba CPU path", body, {"cells": data, "block_diagnostic": diag})


def _num(text: str) -> str:
    """A metrics.csv field, numbers shown to 3 significant digits."""
    try:
        value = float(text)
    except ValueError:
        return text
    return f"{value:.3g}" if not value.is_integer() else str(int(value))


def section_ib(chk: Check, budget: Budget, python: str, env: dict) -> None:
    args = chk.args
    title = f"11. ibscope ib --dataset mnist --device {args.run_device}"
    data_dir = args.data_dir
    if not data_dir or not Path(data_dir).is_dir():
        chk.section(title, f"skipped: no MNIST folder (--data-dir {data_dir!r} does not exist).",
                    {"status": "skipped"})
        return
    out = chk.out / "ib-mnist"
    if out.exists():
        shutil.rmtree(out)
    epochs = 1 if args.quick else 3
    cmd = [python, "-c", "import sys; from ibscope.cli import main; sys.exit(main(sys.argv[1:]))", "ib",
           "--dataset", "mnist", "--device", args.run_device, "--epochs", str(epochs), "--data-dir", str(data_dir),
           "--out", str(out), "--quiet"]
    if args.quick:
        cmd += ["--probe-size", "1000"]
    limit = budget.allowance("ib")
    if limit < 20:
        chk.section(title, f"skipped: only {fmt_s(limit)} left in the budget.", {"status": "skipped"})
        return
    t0 = time.perf_counter()
    logpath = chk.out / "ib-mnist.log"
    with open(logpath, "w", encoding="utf-8") as logf:
        try:
            rc = subprocess.run(cmd, check=False, cwd=REPO, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                timeout=limit).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.perf_counter() - t0
    shown = " ".join(cmd[:2] + ["'...main...'"] + cmd[3:])
    rows, metrics = [], []
    mpath = out / "metrics.csv"
    if mpath.is_file():
        with open(mpath, newline="", encoding="utf-8") as f:
            metrics = list(csv.DictReader(f))
    for m in metrics:
        rows.append(tuple(_num(m.get(c, "")) for c in ("epoch", "train_s", "eval_s", "analysis_s", "time_s",
                                                       "test_acc", "analysed")))
    device_used = None
    try:
        device_used = json.loads((out / "config.json").read_text()).get("device")
    except (OSError, ValueError):
        pass
    tail = logpath.read_text(errors="replace")[-1500:] if logpath.is_file() else ""
    if args.run_device == "cpu":
        shown += "  (CUDA run: skipped: no CUDA; this is the same run on the CPU)"
    body = (f"`{shown}`\n\nexit status {rc} after {fmt_s(wall)} (limit {fmt_s(limit)}); device in config.json: "
            f"{device_used}; run folder `{out}`.\n\n")
    if rows:
        body += md_table(["epoch", "train_s", "eval_s", "analysis_s", "time_s", "test_acc", "analysed"], rows)
    else:
        body += f"No metrics.csv rows. Last lines of the log:\n\n```\n{tail}\n```"
    if rc not in (0, "timeout"):
        chk.fail("ib mnist")
        body += f"\n\nLog tail:\n\n```\n{tail}\n```"
    chk.section(title, body, {"returncode": rc, "wall_s": wall, "metrics": metrics, "device": device_used,
                              "command": cmd})


# --------------------------------------------------------------------------- driver
def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Check every CUDA path of ibscope, its speed and an MNIST IB run.")
    p.add_argument("out_pos", nargs="?", metavar="OUT", help="output folder (or use --out)")
    p.add_argument("--out", help="output folder for report.md, results.json, logs and the IB run")
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument("--data-dir", default=str(REPO / ".gpu-data" / "mnist"),
                   help="folder with the four MNIST *-idx?-ubyte.gz files (default .gpu-data/mnist)")
    p.add_argument("--quick", action="store_true", help="about 10x smaller sizes, for a CPU-only machine")
    p.add_argument("--budget", type=float, default=450.0, help="total seconds for the whole script (default 450)")
    p.add_argument("--cell-limit", type=float, help="seconds per speed cell (default 60, 30 with --quick)")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)} (env always runs)")
    p.add_argument("--python", default=sys.executable, help="interpreter for the worker, pytest and the IB run")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return args
    args.out = args.out or args.out_pos
    if args.data_dir:
        args.data_dir = str(Path(args.data_dir).expanduser().resolve())
    if args.cell_limit is None:
        args.cell_limit = 30.0 if args.quick else 60.0
    if not args.out:
        p.error("give the output folder, as OUT or --out OUT")
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    args.sections = ["env"] + [s for s in SECTIONS if s in wanted and s != "env"]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "log.txt")
    chk = Check(args, log)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("PYTHONUNBUFFERED", "1")
    budget = Budget(args.budget, args.sections)
    log(f"gpu_check: --device {args.device}{' --quick' if args.quick else ''}, budget {args.budget:.0f} s, "
        f"output {out}")
    (out / "worker.log").write_text("")

    args.run_device = "cpu" if args.device == "cpu" else args.device
    worker = Worker(args.python, out / "worker.log", env)
    exit_code = 0
    try:
        info = section_env(chk, worker, budget)
        cuda = bool(info and info.get("cuda_available"))
        if info is not None and args.device != "cpu" and not cuda:
            log(f"\n*** --device {args.device} was asked for, but CUDA is not available here: every CUDA part is "
                "skipped (no CUDA) and the CPU checks run as with --device cpu. ***\n")
            chk.results["cuda_missing"] = True
            args.run_device = "cpu"
            exit_code = 3
        steps = {
            "pytest": lambda: section_pytest(chk, budget, args.python, env, cuda),
            "knn": lambda: section_knn(chk, worker, budget),
            "estimates": lambda: section_estimates(chk, worker, budget),
            "training": lambda: section_training(chk, worker, budget),
            "flow": lambda: section_flow(chk, worker, budget),
            "brackets": lambda: section_brackets(chk, worker, budget),
            "identify": lambda: section_identify(chk, worker, budget),
            "bad-input": lambda: section_bad_input(chk, worker, budget, args.python, env, cuda),
            "speed": lambda: section_speed(chk, worker, budget),
            "ib": lambda: section_ib(chk, budget, args.python, env),
        }
        for name in args.sections[1:]:
            if info is None and name not in ("pytest", "ib"):
                chk.section(f"{name} (skipped)", "skipped: the worker could not start (see section 1).",
                            {"status": "skipped"})
                continue
            t0 = time.perf_counter()
            log(f"\n[{budget.elapsed():.0f} s] section {name} (allowance {budget.allowance(name):.0f} s)")
            try:
                steps[name]()
            except Exception:  # noqa: BLE001 - one broken section must not stop the others
                chk.fail(f"section {name} crashed")
                chk.section(f"{name} (crashed)", f"```\n{traceback.format_exc()}\n```", {"status": "crashed"})
            chk.results.setdefault("section_times_s", {})[name] = time.perf_counter() - t0
    finally:
        worker.close()
    total = budget.elapsed()
    head = [f"# ibscope GPU check ({args.device}{', quick' if args.quick else ''})", "",
            (f"Finished in {total:.0f} s (budget {args.budget:.0f} s) at {time.strftime('%Y-%m-%dT%H%M%S')}; "
             f"main worker started {worker.starts} time(s) (restarts follow timeouts)."),
            "", "Result: " + ("**all checks that ran passed**" if not chk.failed else
                              "**FAILED: " + "; ".join(chk.failed) + "**"), ""]
    if chk.src_problems:
        head.append(f"Problems in src found by the bad-input section ({len(chk.src_problems)}; not counted as "
                    "failures of this check):\n")
        head += [f"* {p}" for p in chk.src_problems] + [""]
    if exit_code == 3:
        head.append("**CUDA was requested but is not available: every CUDA part was skipped (no CUDA).**\n")
    tol = ("Tolerances (device against CPU): max-norm distances, counts, KSG counts and KSG estimates identical "
           "(max-norm distances are maxima of correctly rounded differences, the same bits everywhere); Euclidean "
           f"distances rtol {RTOL_EUCLIDEAN:g} (sums of d squares in another order); KL estimates rtol {RTOL_KL:g} "
           f"(means of logs of those distances); KDE rtol {RTOL_KDE:g} (float64 log-sum-exp over n terms in another "
           "order, then a bounded bandwidth search).\n")
    report = "\n".join(head) + "\n" + tol + "\n" + "\n".join(chk.md)
    (out / "report.md").write_text(report, encoding="utf-8")
    chk.results.update({"total_s": total, "failed": chk.failed, "src_problems": chk.src_problems,
                        "worker_starts": worker.starts})
    (out / "results.json").write_text(json.dumps(_clean(chk.results), indent=1), encoding="utf-8")
    log("\n" + "\n".join(head) + f"\nReport: {out / 'report.md'}")
    if chk.failed and exit_code == 0:
        exit_code = 1
    return exit_code


if __name__ == "__main__":
    sys.path.insert(0, str(SRC))
    sys.exit(main())
