"""The 40 tasks of bmi ("Beyond Normal", Czyz et al., NeurIPS 2023) through ibscope's estimators.

bmi (PyPI ``benchmark-mi`` 0.1.3) installs only beside an old JAX, so the samples come from a separate
virtualenv, dumped once by ``benchmarks/bmi_dump.py`` (bmi's own ``Task.sample(n, seed)``)::

    python3 -m venv bmi-venv
    bmi-venv/bin/pip install "numpy<2" "jax==0.4.26" "jaxlib==0.4.26" benchmark-mi
    bmi-venv/bin/python benchmarks/bmi_dump.py --out bmi-data        # 40 tasks x seeds 0-2, n = 10 000
    python benchmarks/bench_bmi.py --data-dir bmi-data                # this script, in ibscope's environment

For every task and seed the candidates run through :func:`ibscope.mutual_information` with
``random_state=seed``; ``default`` is the call with no ``estimator`` argument (what most users get).
The criterion is bmi's: the mean estimate over the seeds passes when |log(estimate / true)| < log 1.5
(an estimate of 0 fails). Time is the mean wall time of one call.

Usage::

    python benchmarks/bench_bmi.py --data-dir bmi-data                      # default, ksg, copula family
    python benchmarks/bench_bmi.py --data-dir bmi-data --estimators default,ksg --out bmi.csv
    python benchmarks/bench_bmi.py --data-dir bmi-data --only student,spiral  # task names containing these
    python benchmarks/bench_bmi.py --data-dir bmi-data --markdown           # the README table

Output: one row per task (dimensions, true MI, per estimator the mean estimate with a pass mark, and
the default's mean time; with ``--markdown`` also the first estimator's absolute error and the candidate the
default chose), then per estimator the pass count, the count within 0.1 nats of the truth and the mean
absolute error. ``--out`` writes every (task, seed, estimator) call to a CSV.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import ibscope

#: the candidates: label -> keyword arguments of ibscope.mutual_information
CANDIDATES = {
    "default": {},
    "ksg": {"estimator": "ksg"},
    "copula": {"estimator": "copula"},
    "gaussian-copula": {"estimator": "gaussian-copula"},
    "t-copula": {"estimator": "t-copula"},
    "gaussian": {"estimator": "gaussian"},
    "ksg-k10": {"estimator": "ksg", "k": 10},
    "mine": {"estimator": "mine"},
    "nwj": {"estimator": "nwj"},
    "infonce": {"estimator": "infonce"},
    "flow": {"estimator": "flow"},
}
DEFAULT_SET = "default,ksg,copula,gaussian-copula,t-copula"
#: bmi's success criterion
TOLERANCE = math.log(1.5)
#: the stricter criterion: absolute error of the mean estimate below this many nats
CLOSE = 0.1


def passes(estimate: float, true: float) -> bool:
    """bmi's criterion |log(estimate / true)| < log 1.5 (an estimate <= 0 fails)."""
    return estimate > 0 and abs(math.log(estimate / true)) < TOLERANCE


def load_tasks(data_dir: Path, only: list[str] | None):
    """``{task: [(seed, x, y, mi), ...]}`` from ``TASK__seedS.npz`` files, in the files' order."""
    files = sorted(data_dir.glob("*__seed*.npz"))
    if not files:
        raise SystemExit(f"No '<task>__seed<s>.npz' files in {data_dir}: dump them first with benchmarks/bmi_dump.py "
                         "(see this script's docstring).")
    tasks: dict[str, list] = defaultdict(list)
    for f in files:
        name, _, seed = f.stem.rpartition("__seed")
        if only and not any(s in name for s in only):
            continue
        with np.load(f) as d:
            tasks[name].append((int(seed), d["x"], d["y"], float(d["mi"])))
    return dict(tasks)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="bmi-data", help="folder of .npz files from bmi_dump.py")
    ap.add_argument("--estimators", default=DEFAULT_SET, help=f"comma-separated from {', '.join(CANDIDATES)}")
    ap.add_argument("--only", default=None, help="comma-separated substrings of task names")
    ap.add_argument("--seeds", type=int, default=3, help="use seeds 0..SEEDS-1")
    ap.add_argument("--out", default=None, help="CSV of every call")
    ap.add_argument("--markdown", action="store_true", help="print the per-task table as markdown")
    args = ap.parse_args(argv)
    labels = [s.strip() for s in args.estimators.split(",") if s.strip()]
    unknown = [s for s in labels if s not in CANDIDATES]
    if unknown:
        ap.error(f"unknown estimator label(s) {unknown}; choose from {', '.join(CANDIDATES)}")
    tasks = load_tasks(Path(args.data_dir), args.only.split(",") if args.only else None)

    rows, calls = [], []
    t_start = time.perf_counter()
    for name, samples in tasks.items():
        samples = [s for s in sorted(samples, key=lambda s: s[0]) if s[0] < args.seeds]
        true = samples[0][3]
        est, times, chosen = defaultdict(list), defaultdict(list), []
        for seed, x, y, _ in samples:
            for label in labels:
                t0 = time.perf_counter()
                r = ibscope.mutual_information(x, y, random_state=seed, **CANDIDATES[label])
                dt = time.perf_counter() - t0
                est[label].append(r.value)
                times[label].append(dt)
                if label == "default" and "auto" in r.extra:
                    fit = r.extra["auto"].get("copula") or {}
                    chosen.append(r.extra["auto"]["chosen"] + (f"({fit.get('family', '?')[0]})"
                                                               if r.extra["auto"]["chosen"] == "copula" else ""))
                calls.append({"task": name, "seed": seed, "estimator": label, "true": true, "estimate": r.value,
                              "raw": r.raw_value, "time_s": round(dt, 3), "extra": r.extra.get("auto", "")})
        row = {"task": name, "dims": f"{samples[0][1].shape[1]}x{samples[0][2].shape[1]}", "true": true,
               "chosen": ",".join(sorted(set(chosen))) if chosen else ""}
        for label in labels:
            mean = float(np.mean(est[label]))
            row[label] = mean
            row[label + ":ok"] = passes(mean, true)
            row[label + ":time"] = float(np.mean(times[label]))
        rows.append(row)
        marks = "  ".join(f"{label} {row[label]:.3f}{'' if row[label + ':ok'] else ' FAIL'}" for label in labels)
        print(f"{name:<40} {row['dims']:>6} true {true:.3f}  {marks}  [{row['chosen']}] "
              f"{row[labels[0] + ':time']:.2f}s", flush=True)

    print()
    width = max(len(r["task"]) for r in rows)
    if args.markdown:
        print("| task | dims | true | " + " | ".join(labels) + f" | {labels[0]} abs. error | chosen "
              f"| {labels[0]} time (s) |")
        print("|---|---|---:|" + "---:|" * len(labels) + "---:|---|---:|")
        for r in rows:
            cells = " | ".join(f"{r[label]:.3f}" + ("" if r[label + ":ok"] else " ✗") for label in labels)
            err = abs(r[labels[0]] - r["true"])
            print(f"| {r['task']} | {r['dims']} | {r['true']:.3f} | {cells} | {err:.3f}{'' if err < CLOSE else ' ✗'} "
                  f"| {r['chosen']} | {r[labels[0] + ':time']:.1f} |")
    else:
        print(f"{'task':<{width}} {'dims':>6} {'true':>7} " + " ".join(f"{label:>16}" for label in labels)
              + "  time(s)")
        for r in rows:
            cells = " ".join(f"{r[label]:>13.3f} {'ok' if r[label + ':ok'] else '--':>2}" for label in labels)
            print(f"{r['task']:<{width}} {r['dims']:>6} {r['true']:>7.3f} {cells}  {r[labels[0] + ':time']:.2f}")
    print()
    print(f"Pass counts (|log(mean estimate / true)| < log 1.5, {len(rows)} tasks, seeds 0-{args.seeds - 1}):")
    for label in labels:
        ok = sum(r[label + ":ok"] for r in rows)
        slowest = max(rows, key=lambda r: r[label + ":time"])
        failed = [r["task"] for r in rows if not r[label + ":ok"]]
        print(f"  {label:<16} {ok:>2}/{len(rows)}   slowest task {slowest[label + ':time']:.1f} s "
              f"({slowest['task']})   failed: {', '.join(failed) if failed else '-'}")
    print(f"Within {CLOSE} nats of the truth (mean estimate), mean absolute error, mean and largest signed error:")
    for label in labels:
        signed = [r[label] - r["true"] for r in rows]
        errs = [abs(e) for e in signed]
        far = [f"{r['task']} ({r[label]:.3f})" for r, e in zip(rows, errs) if e >= CLOSE]
        print(f"  {label:<16} {sum(e < CLOSE for e in errs):>2}/{len(rows)}   MAE {np.mean(errs):.4f}   "
              f"signed {np.mean(signed):+.4f}, largest {max(signed):+.4f}   "
              f"beyond {CLOSE}: {', '.join(far) if far else '-'}")
    print(f"Total wall time {time.perf_counter() - t_start:.0f} s")
    if args.out:
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(calls[0]))
            writer.writeheader()
            writer.writerows(calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
