"""What the default estimator costs: wall time of ``ibscope.mutual_information(x, y)`` by sample size and dimension.

Two kinds of data per size:

* ``gaussian``: correlated Gaussians (MI 1 nat split over the pairs, each side rotated), where the held-out
  candidates find nothing to add and stop early;
* ``spiral``: the same turned by norm-dependent rotations (:class:`ibscope.synthetic.families.Spiral`, speed 1),
  where the flow keeps improving and trains longest.

Each cell is the median over ``--reps`` calls (seeds 0..reps-1) in this process, after one warm-up call that
pays the one-time imports and compilations. The parts are read from ``extra["auto"]``: the flow's and the
InfoNCE critic's training time (each includes its held-out evaluation); the rest is KSG, the copula and
the preprocessing. ``cpu (s)`` is the process's CPU time for the call: with ``OMP_NUM_THREADS=1
NUMBA_NUM_THREADS=1`` everything runs on one thread, and the CPU time is what the call would take alone on an
idle core (on shared cores it is still inflated by cache and memory contention, so it is an upper bound).
The machine's load average is printed with the table: on shared cores the wall times grow with the load.
Usage::

    python benchmarks/bench_default_cost.py                       # the table of docs/results/accuracy.md
    python benchmarks/bench_default_cost.py --n 10000 --dims 50 --reps 3
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_default_cost.py   # one thread: cpu = idle time
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import ibscope
from ibscope.synthetic.families import Spiral
from ibscope.synthetic.gaussian import CorrelatedGaussian


def _data(kind: str, n: int, d: int, seed: int):
    if kind == "spiral" and d >= 2:
        return Spiral(d, d, 1.0, 1.0, mix_seed=seed).sample(n, seed)
    return CorrelatedGaussian(d, d, 1.0, mix=True, mix_seed=seed).sample(n, seed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="1000,5000,10000", help="comma-separated sample sizes")
    ap.add_argument("--dims", default="1,2,5,10,25,50", help="comma-separated dimensions per side")
    ap.add_argument("--kinds", default="gaussian,spiral")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args(argv)
    sizes = [int(v) for v in args.n.split(",")]
    dims = [int(v) for v in args.dims.split(",")]
    kinds = args.kinds.split(",")
    x, y = _data("gaussian", 3000, 3, 0)
    ibscope.mutual_information(x, y, random_state=0)  # warm-up: imports, numba and torch first calls
    import torch

    print(f"# torch {torch.__version__}, torch threads {torch.get_num_threads()} (training runs on 1), "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, cpus {os.cpu_count()}, "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print("| data | n | dims | default (s) | cpu (s) | flow (s) | InfoNCE (s) | KSG + copula + rest (s) | chosen |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    t_start = time.perf_counter()
    for kind in kinds:
        for n in sizes:
            for d in dims:
                if kind == "spiral" and d < 2:
                    continue
                walls, cpus, flows, nces, chosen = [], [], [], [], []
                for seed in range(args.reps):
                    x, y = _data(kind, n, d, seed)
                    t0, c0 = time.perf_counter(), time.process_time()
                    r = ibscope.mutual_information(x, y, random_state=seed)
                    walls.append(time.perf_counter() - t0)
                    cpus.append(time.process_time() - c0)
                    info = r.extra["auto"]
                    flows.append(info["flow"].get("time_s", 0.0) if info["flow"]["ran"] else 0.0)
                    nces.append(info["neural"].get("time_s", 0.0) if info["neural"]["ran"] else 0.0)
                    chosen.append(info["chosen"])
                w, f, c = statistics.median(walls), statistics.median(flows), statistics.median(nces)
                print(f"| {kind} | {n} | {d}+{d} | {w:.2f} | {statistics.median(cpus):.2f} | {f:.2f} | {c:.2f} | "
                      f"{max(w - f - c, 0.0):.2f} | "
                      f"{','.join(sorted(set(chosen)))} |", flush=True)
    print(f"# load average at end {os.getloadavg()[0]:.1f}; total {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
