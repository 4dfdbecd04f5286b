"""Validation families where per-coordinate and k-NN estimators are weak: the default against its candidates.

The families (:mod:`ibscope.synthetic.families`, our own parameters and ground truths) are

* ``shells``: dependence through the norm of many coordinates (MI by quadrature);
* ``shear``: periodic shears of Gaussian mixtures (MI by Monte Carlo, standard error about 1e-3);
* ``spiral``: correlated Gaussians turned by norm-dependent rotations, several dimensions and speeds (exact);
* ``inlier``: Gaussian dependence diluted by independent inliers (MI by Monte Carlo);
* ``independent``: independent standard normals (MI 0).

Every task is sampled at ``--n`` rows for seeds 0..SEEDS-1 and estimated with :func:`ibscope.mutual_information`
(``random_state=seed``); ``default`` is the call without ``estimator``. Cells are the mean estimate over the seeds;
``|err|`` is the default's absolute error; ``chosen`` the candidate the default took. Usage::

    python benchmarks/bench_families.py                          # every family, n = 5000, seeds 0-2
    python benchmarks/bench_families.py --only spiral,shells     # some families
    python benchmarks/bench_families.py --markdown               # the tables of docs/results/accuracy.md
    python benchmarks/bench_families.py --only independent --seeds 10 --estimators default,ksg,copula

Ground truths that come from Monte Carlo are computed on first use (a few seconds each).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict

import numpy as np

import ibscope
from ibscope.synthetic.families import InlierMixture, PeriodicShear, Shells, Spiral

#: label -> keyword arguments of ibscope.mutual_information
CANDIDATES = {
    "default": {},
    "ksg": {"estimator": "ksg"},
    "copula": {"estimator": "copula"},
    "flow": {"estimator": "flow"},
    "infonce": {"estimator": "infonce"},
}


class _Independent:
    mi_std_err = 0.0

    def __init__(self, dim_x, dim_y):
        self.dim_x, self.dim_y = dim_x, dim_y

    def mutual_information(self):
        return 0.0

    def sample(self, n, random_state=None):
        rng = np.random.default_rng(random_state)
        return rng.standard_normal((n, self.dim_x)), rng.standard_normal((n, self.dim_y))


#: family -> [(task label, sampler)]
FAMILIES = {
    "shells": [
        ("shells 10x1", Shells(10, 1)),
        ("shells 25x1", Shells(25, 1)),
        ("shells 25x1, 3 shells", Shells(25, 1, n_shells=3)),
        ("shells 5x5", Shells(5, 5)),
        ("shells 25x25", Shells(25, 25)),
    ],
    "shear": [
        ("shear 2x1", PeriodicShear()),
        ("shear 2x1, a=3, f=2", PeriodicShear(amplitude=3.0, frequency=2.0)),
        ("shear 2x1, 4 comp., sep. 2", PeriodicShear(n_components=4, separation=2.0, mix_seed=1)),
        ("shear 3x2", PeriodicShear(3, 2, mix_seed=2)),
    ],
    "spiral": [
        ("spiral 3x3, speed 1", Spiral(3, 3, 1.0, 1.0)),
        ("spiral 3x3, speed 2", Spiral(3, 3, 1.0, 2.0)),
        ("spiral 5x5, speed 1", Spiral(5, 5, 1.0, 1.0, mix_seed=1)),
        ("spiral 5x5, speed 0.5, MI 2", Spiral(5, 5, 2.0, 0.5, mix_seed=2)),
        ("spiral 10x10, speed 1.5", Spiral(10, 10, 1.0, 1.5, mix_seed=3)),
        ("spiral 20x20, speed 2", Spiral(20, 20, 1.0, 2.0, mix_seed=4)),
        ("spiral 4x1, speed 1.5", Spiral(4, 1, 0.7, 1.5, mix_seed=5)),
    ],
    "inlier": [
        ("inlier 5x5, p=0.3", InlierMixture(5, 5, 2.0, 0.3)),
        ("inlier 10x10, p=0.5", InlierMixture(10, 10, 2.0, 0.5, mix_seed=1)),
        ("inlier 25x25, p=0.3", InlierMixture(25, 25, 2.0, 0.3, mix_seed=2)),
        ("inlier 25x25, p=0.1, MI 5", InlierMixture(25, 25, 5.0, 0.1, mix_seed=3)),
    ],
    "independent": [
        ("independent 1x1", _Independent(1, 1)),
        ("independent 5x5", _Independent(5, 5)),
        ("independent 25x25", _Independent(25, 25)),
    ],
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma-separated family names: " + ", ".join(FAMILIES))
    ap.add_argument("--estimators", default=",".join(CANDIDATES), help="comma-separated from " + ", ".join(CANDIDATES))
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", type=int, default=3, help="use seeds 0..SEEDS-1")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    labels = [s.strip() for s in args.estimators.split(",") if s.strip()]
    unknown = [s for s in labels if s not in CANDIDATES]
    if unknown:
        ap.error(f"unknown estimator label(s) {unknown}; choose from {', '.join(CANDIDATES)}")
    families = args.only.split(",") if args.only else list(FAMILIES)
    t_start = time.perf_counter()
    summary: list[dict] = []
    for family in families:
        rows = []
        for label, sampler in FAMILIES[family]:
            true, se_true = sampler.mutual_information(), sampler.mi_std_err
            est, times, chosen = defaultdict(list), defaultdict(list), []
            for seed in range(args.seeds):
                x, y = sampler.sample(args.n, seed)
                for name in labels:
                    t0 = time.perf_counter()
                    r = ibscope.mutual_information(x, y, random_state=seed, **CANDIDATES[name])
                    times[name].append(time.perf_counter() - t0)
                    est[name].append(r.value)
                    if name == "default":
                        chosen.append(r.extra["auto"]["chosen"])
            row = {"task": label, "true": true, "se": se_true, "chosen": ",".join(sorted(set(chosen)))}
            for name in labels:
                row[name] = float(np.mean(est[name]))
                row[name + ":time"] = float(np.mean(times[name]))
            rows.append(row)
            if not args.markdown:
                cells = "  ".join(f"{name} {row[name]:.3f}" for name in labels)
                extra = f"  |err| {abs(row['default'] - true):.3f}" if "default" in labels else ""
                print(f"{label:<30} true {true:.3f}{f' +- {se_true:.3f}' if se_true else ''}  {cells}{extra}  "
                      f"[{row['chosen']}]  default {row.get('default:time', math.nan):.1f} s", flush=True)
        if args.markdown:
            print(f"\n**{family}** (n = {args.n}, seeds 0-{args.seeds - 1}, mean estimate in nats)\n")
            head = " | ".join(f"**{n}**" if n == "default" else n for n in labels)
            print(f"| task | true | {head} | default abs. error | chosen |")
            print("|---|---:|" + "---:|" * len(labels) + "---:|---|")
            for r in rows:
                true = f"{r['true']:.3f}" + (f" ± {r['se']:.3f}" if r["se"] else "")
                cells = " | ".join(f"{r[n]:.3f}" for n in labels)
                err = f"{abs(r['default'] - r['true']):.3f}" if "default" in labels else "-"
                print(f"| {r['task']} | {true} | {cells} | {err} | {r['chosen']} |")
        else:
            print()
        summary.extend(rows)
    print("Over all tasks: mean absolute error, mean and largest signed error (nats), tasks within 0.1 nats:")
    for name in labels:
        signed = [r[name] - r["true"] for r in summary]
        print(f"  {name:<10} MAE {np.mean(np.abs(signed)):.4f}   signed {np.mean(signed):+.4f}, largest "
              f"{max(signed):+.4f}   within 0.1: {sum(abs(e) < 0.1 for e in signed)}/{len(signed)}")
    print(f"Total wall time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
