"""Dump the 40 bmi benchmark tasks' samples to .npz files, for benchmarks/bench_bmi.py.

bmi (PyPI ``benchmark-mi`` 0.1.3) installs only beside an old JAX, so it lives in its own virtualenv::

    python3 -m venv bmi-venv
    bmi-venv/bin/pip install "numpy<2" "jax==0.4.26" "jaxlib==0.4.26" benchmark-mi
    bmi-venv/bin/python benchmarks/bmi_dump.py --out bmi-data          # 40 tasks x 3 seeds, n = 10 000

Each file ``OUT/<task>__seed<s>.npz`` holds ``x``, ``y`` (float64) and ``mi`` (the true MI in nats), plus
``task``, ``seed`` and ``n``. Sampling uses bmi's own ``Task.sample(n, seed)``.

``--suite variants`` dumps 33 other tasks of the same families built with bmi's task constructors at other
parameters (correlations, noise levels, dimensions, degrees of freedom, spiral speeds, correlated Student-t
dispersions). They were never used to design the default: they check that its rule is not tuned to the 40
task names (``bench_bmi.py --data-dir bmi-variants``)::

    bmi-venv/bin/python benchmarks/bmi_dump.py --suite variants --out bmi-variants
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)


def variant_tasks() -> list:
    """Tasks of the benchmark's families at parameters the benchmark does not use."""
    import bmi.benchmark.tasks.additive_noise as additive_noise
    import bmi.benchmark.tasks.bimodal_gaussians as bimodal
    import bmi.benchmark.tasks.bivariate_normal as binormal
    import bmi.benchmark.tasks.embeddings as embeddings
    import bmi.benchmark.tasks.multinormal as mn
    import bmi.benchmark.tasks.student as st
    from bmi.benchmark.tasks.asinh import transform_asinh_task as asinh
    from bmi.benchmark.tasks.half_cube import transform_half_cube_task as half_cube
    from bmi.benchmark.tasks.normal_cdf import transform_normal_cdf_task as normal_cdf
    from bmi.benchmark.tasks.spiral import transform_spiral_task as spiral
    from bmi.benchmark.tasks.wiggly import transform_wiggly_task as wiggly

    b5, b9 = binormal.task_bivariate_normal(gaussian_correlation=0.5), binormal.task_bivariate_normal(
        gaussian_correlation=0.9)
    return [
        b5, b9, normal_cdf(b9), half_cube(b9), wiggly(b5), wiggly(b9),
        additive_noise.task_additive_noise(epsilon=0.3), additive_noise.task_additive_noise(epsilon=0.5),
        bimodal.task_bimodal_gaussians(gaussian_correlation=0.5),
        st.task_student_identity(dim_x=1, dim_y=1, df=2), asinh(st.task_student_identity(dim_x=1, dim_y=1, df=3)),
        embeddings.transform_swissroll_task(normal_cdf(b5), task_name="Swiss roll 2 x 1 (rho 0.5)"),
        mn.task_multinormal_dense(4, 4), mn.task_multinormal_dense(10, 10), mn.task_multinormal_dense(15, 15, 0.3),
        mn.task_multinormal_2pair(4, 4), mn.task_multinormal_2pair(10, 10), mn.task_multinormal_2pair(15, 15, 1.0),
        st.task_student_identity(dim_x=4, dim_y=4, df=1), st.task_student_identity(dim_x=4, dim_y=4, df=3),
        st.task_student_identity(dim_x=10, dim_y=10, df=2), st.task_student_dense(3, 3, df=2),
        st.task_student_2pair(4, 4, df=3),
        normal_cdf(mn.task_multinormal_2pair(10, 10)), half_cube(mn.task_multinormal_2pair(10, 10)),
        half_cube(mn.task_multinormal_dense(4, 4)),
        spiral(mn.task_multinormal_2pair(4, 4)),
        spiral(mn.task_multinormal_2pair(10, 10)), spiral(mn.task_multinormal_2pair(3, 3), speed=0.5),
        spiral(normal_cdf(mn.task_multinormal_2pair(4, 4))),
        asinh(st.task_student_identity(dim_x=4, dim_y=4, df=1)), asinh(st.task_student_identity(dim_x=3, dim_y=3, df=3)),
        asinh(st.task_student_dense(2, 2, df=1)),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for the .npz files")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--suite", choices=("benchmark", "variants"), default="benchmark")
    args = ap.parse_args(argv)
    if args.suite == "benchmark":
        from bmi.benchmark import BENCHMARK_TASKS

        tasks = dict(BENCHMARK_TASKS)
    else:
        tasks = {}
        for task in variant_tasks():  # bmi's ids, made unique (two tasks can share one)
            name, i = task.id, 2
            while name in tasks:
                name, i = f"{task.id}-v{i}", i + 1
            tasks[name] = task

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, task in tasks.items():
        for seed in [int(s) for s in args.seeds.split(",")]:
            x, y = task.sample(args.n, seed=seed)
            np.savez(out / f"{_file_name(name)}__seed{seed}.npz", x=np.asarray(x, dtype=np.float64),
                     y=np.asarray(y, dtype=np.float64), mi=float(task.mutual_information), task=name, seed=seed,
                     n=args.n)
        print(f"{name}: dims {task.dim_x}+{task.dim_y}, MI {task.mutual_information:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
