"""A multi-seed IB study on each backend: wall time against one run alone and the sum of the runs.

Runs the same study (the Quick start's digits job, ``--seeds 0:5`` by default) into a
fresh folder per backend with :func:`ibscope.ib.run_study`, and prints one row per
backend: the wall time, the summed wall time of its runs (from their ``summary.json``),
the speed-up over running them one after another, and the final test accuracy and
last-layer I(X;L), I(L;Y) as mean +- std over seeds (identical on every backend: the
runs are seeded, so a backend changes only where they run). The anchor, measured in the
same process first, is one run alone (``seed 0``, the ``sequential`` backend).

Usage::

    python benchmarks/bench_study.py                               # loky and ray, 5 seeds, 40 epochs
    python benchmarks/bench_study.py --backends loky --seeds 0:3 --epochs 5
    python benchmarks/bench_study.py --keep runs/bench-study       # keep the study folders (figures)

Ray is started locally by ``run_study`` (``ray.init`` with every core) and its start-up is
part of its wall time. Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path


def _study(config, out: Path, seeds: str, backend: str, n_jobs):
    from ibscope.ib import load_study, run_study

    t0 = time.perf_counter()
    res = run_study(config, out=out, seeds=seeds, executor=backend, n_jobs=n_jobs)
    wall = time.perf_counter() - t0
    if res.failed:
        raise SystemExit(f"{backend}: {len(res.failed)} run(s) failed: {res.failed[0]['error']}")
    runs = sorted(out.glob("runs/*/seed*/summary.json"))
    summed = sum(float(json.loads(p.read_text())["time_s_last_call"]) for p in runs)
    data = load_study(out)
    return wall, summed, len(runs), data


def _last(data, layer: str) -> str:
    info = data.info[data.info["layer"] == layer]
    last = info[info["epoch"] == info["epoch"].max()]
    met = data.metrics[data.metrics["epoch"] == data.metrics["epoch"].max()]
    return (f"acc {met['test_acc'].mean():.3f} ± {met['test_acc'].std(ddof=1):.3f}   "
            f"{layer} I(X;L) {last['i_xl'].mean():.3f} ± {last['i_xl'].std(ddof=1):.3f}   "
            f"I(L;Y) {last['i_ly'].mean():.3f} ± {last['i_ly'].std(ddof=1):.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="loky,ray", help="comma-separated study backends (default loky,ray)")
    ap.add_argument("--seeds", default="0:5", help="seeds of the study (default 0:5)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the dataset's, 40)")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--n-jobs", type=int, default=None, help="runs at once (default: every core)")
    ap.add_argument("--keep", default=None, help="write the study folders under this folder and keep them")
    args = ap.parse_args(argv)

    from ibscope.ib import IBConfig, run_ib

    config = IBConfig(dataset=args.dataset, epochs=args.epochs, plots=False)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ibscope-bench-study-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"# {args.dataset}, seeds {args.seeds}, {config.resolved().epochs} epochs per run; {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}")
    t0 = time.perf_counter()
    run_ib(config.replace(seed=0), out=root / "single-seed0")
    single = time.perf_counter() - t0
    print(f"{'anchor: one run (seed 0)':<28} wall {single:7.1f} s")
    last_layer = None
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        out = root / f"study-{backend}"
        if out.exists():
            shutil.rmtree(out)
        figures_config = config.replace(plots=bool(args.keep))
        wall, summed, n, data = _study(figures_config, out, args.seeds, backend, args.n_jobs)
        last_layer = last_layer or sorted(set(data.info["layer"]))[-1]
        print(f"{'study, ' + backend:<28} wall {wall:7.1f} s   {n} runs, {summed:7.1f} s summed, "
              f"x{summed / wall:.2f} vs one by one   {_last(data, last_layer)}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"folders kept under {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
