"""Dump the 40 bmi benchmark tasks' samples to .npz files, for benchmarks/bench_bmi.py.

bmi (PyPI ``benchmark-mi`` 0.1.3) installs only beside an old JAX, so it lives in its own virtualenv::

    python3 -m venv bmi-venv
    bmi-venv/bin/pip install "numpy<2" "jax==0.4.26" "jaxlib==0.4.26" benchmark-mi
    bmi-venv/bin/python benchmarks/bmi_dump.py --out bmi-data          # 40 tasks x 3 seeds, n = 10 000

Each file ``OUT/<task>__seed<s>.npz`` holds ``x``, ``y`` (float64) and ``mi`` (the true MI in nats), plus
``task``, ``seed`` and ``n``. Sampling uses bmi's own ``Task.sample(n, seed)``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for the .npz files")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args(argv)
    from bmi.benchmark import BENCHMARK_TASKS

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, task in BENCHMARK_TASKS.items():
        for seed in [int(s) for s in args.seeds.split(",")]:
            x, y = task.sample(args.n, seed=seed)
            np.savez(out / f"{name}__seed{seed}.npz", x=np.asarray(x, dtype=np.float64),
                     y=np.asarray(y, dtype=np.float64), mi=float(task.mutual_information), task=name, seed=seed,
                     n=args.n)
        print(f"{name}: dims {task.dim_x}+{task.dim_y}, MI {task.mutual_information:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
