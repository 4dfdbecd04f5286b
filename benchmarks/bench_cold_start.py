"""Cold start: a fresh environment's first ``mutual_information`` call and Quick-start job, before and after.

Every measurement is a fresh Python process whose numba cache folder
(``NUMBA_CACHE_DIR``) belongs to the benchmark:

* **cold**: an empty cache folder, as after ``pip install``;
* **warm**: the folder the preceding cold run of the same version filled.

Cases:

* ``first call``: ``import ibscope`` and one ``ibscope.mutual_information(x, y)``
  (KSG, the default) on 2 000 correlated Gaussian pairs in 2+2 dimensions;
* ``first call + CI``: the same on 10 000 pairs in 4+4 dimensions with a 95 %
  interval (31 estimates), the size of an IB analysis of MNIST;
* ``warm_up()`` (this version only): :func:`ibscope.neighbors.warm_up`, which
  compiles every kernel when the cache is empty and loads them when it is
  full; cold, it is also the CPU cost of the background compilation that the
  first calls leave running;
* ``quick start``: ``ibscope ib --dataset digits --out DIR``, the README's first
  command (40 epochs of the paper's net on scikit-learn's digits, plots included).

Versions: ``after`` is this checkout's ``src``; ``before`` is a source folder
given with ``--before SRC`` or exported from a git revision with
``--before-ref REF`` (``git archive REF src``). Runs alternate (before cold,
before warm, after cold, after warm, then the next repetition), so machine
load hits both alike; the tables give the minimum and median over the
repetitions, with the load average seen at the start of each run. After a cold
run of a version that compiles in the background, the benchmark waits until
that compilation has finished (its marker file appears) before the next run,
and reports how long after the start it finished; its CPU time is not in the
run's own CPU column (the compiling process outlives it), but ``warm_up()``
cold measures the same work.

Usage::

    python benchmarks/bench_cold_start.py --before-ref main                 # everything, 3 repetitions
    python benchmarks/bench_cold_start.py --before-ref main --reps 2 --quickstart-reps 1
    python benchmarks/bench_cold_start.py --skip-quickstart                  # this version only, first calls
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

#: the measured program of the first-call cases: prints one JSON line
FIRST_CALL = """
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np
import ibscope
t1 = time.perf_counter()
n, d, ci = int(sys.argv[1]), int(sys.argv[2]), (None if sys.argv[3] == "none" else float(sys.argv[3]))
rng = np.random.default_rng(0)
x = rng.standard_normal((n, d))
y = x + rng.standard_normal((n, d))
res = ibscope.mutual_information(x, y, ci=ci, random_state=0)
t2 = time.perf_counter()
try:
    from ibscope.neighbors import _warm
    compiled = bool(_warm._STATE["loaded"])
except ImportError:
    compiled = True
print(json.dumps({"import_s": t1 - t0, "call_s": t2 - t1, "value": res.value, "ci_low": res.ci_low,
                  "compiled_route": compiled}))
"""

WARM_UP = """
import json, time
t0 = time.perf_counter()
from ibscope import neighbors
t1 = time.perf_counter()
s = neighbors.warm_up()
print(json.dumps({"import_s": t1 - t0, "call_s": s}))
"""


def _export(ref: str, dest: Path) -> Path:
    """``src`` of git revision ``ref`` of this repository, unpacked under ``dest``."""
    repo = HERE.parent
    archive = subprocess.run(["git", "-C", str(repo), "archive", ref, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def _has_background(src: Path) -> bool:
    return (src / "ibscope" / "neighbors" / "_warm.py").is_file()


def _markers(cache: Path) -> list:
    return list(cache.rglob("ibscope-kernels-*.ok"))


def _run(cmd: list, src: Path, cache: Path, timeout: float) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(src), MPLBACKEND="Agg")
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]}... failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    out = {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
           "load": load}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if lines:
        out.update(json.loads(lines[-1]))
    return out


def _wait_for_background(src: Path, cache: Path, started: float, limit: float = 900.0):
    """Seconds from ``started`` until the background compilation's marker appeared (None: no such route)."""
    if not _has_background(src):
        return None
    while not _markers(cache):
        if time.perf_counter() - started > limit:
            return float("nan")
        time.sleep(0.5)
    return time.perf_counter() - started


def _case(name: str, version: str, src: Path, cache: Path, cmd: list, timeout: float, cold: bool) -> dict:
    t0 = time.perf_counter()
    r = _run(cmd, src, cache, timeout)
    r.update(case=name, version=version, cache="cold" if cold else "warm")
    if cold:
        r["background_done_s"] = _wait_for_background(src, cache, t0)
    extra = "" if r.get("background_done_s") is None else \
        f", background compile done {r['background_done_s']:.1f} s after the start (or by the run's end)"
    route = "" if "compiled_route" not in r else f", compiled route: {r['compiled_route']}"
    print(f"  {name:18s} {version:6s} {r['cache']}: wall {r['wall_s']:6.1f} s, CPU {r['cpu_s']:6.1f} s, load "
          f"{r['load']:.1f}{route}{extra}", flush=True)
    return r


def _table(results: list, cases: list) -> str:
    lines = ["| case | version | cache | wall min [s] | wall median [s] | CPU median [s] | "
             "of which the call, median [s] | load at start | runs |", "|---|---|---|---:|---:|---:|---:|---|---:|"]
    for case in cases:
        for version in ("before", "after"):
            for cache in ("cold", "warm"):
                rs = [r for r in results if (r["case"], r["version"], r["cache"]) == (case, version, cache)]
                if not rs:
                    continue
                walls = [r["wall_s"] for r in rs]
                calls = [r["call_s"] for r in rs if "call_s" in r]
                loads = [r["load"] for r in rs]
                call = f"{statistics.median(calls):.2f}" if calls else "-"
                lines.append(f"| {case} | {version} | {cache} | {min(walls):.1f} | {statistics.median(walls):.1f} | "
                             f"{statistics.median(r['cpu_s'] for r in rs):.1f} | {call} | "
                             f"{min(loads):.1f}-{max(loads):.1f} | {len(rs)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=None, help="source folder of the 'before' version (holding ibscope/)")
    ap.add_argument("--before-ref", default=None, help="git revision whose src/ is the 'before' version")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of the first-call cases (default 3)")
    ap.add_argument("--quickstart-reps", type=int, default=2, help="repetitions of the Quick-start job (default 2)")
    ap.add_argument("--skip-quickstart", action="store_true")
    ap.add_argument("--epochs", type=int, default=None, help="Quick-start epochs (default: the job's own, 40)")
    ap.add_argument("--json", default=None, help="also write every run's numbers to this file")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ibscope-cold-"))
    versions = {"after": SRC}
    if args.before:
        versions = {"before": Path(args.before).resolve(), **versions}
    elif args.before_ref:
        (work / "before").mkdir()
        versions = {"before": _export(args.before_ref, work / "before"), **versions}
    print("# ibscope cold-start benchmark\n")
    print(f"python {platform.python_version()}, cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}; "
          f"versions: " + ", ".join(f"{v} = {p}" for v, p in versions.items()) + "\n")

    py = sys.executable
    cli = [py, "-c", "import sys; from ibscope.cli import main; sys.exit(main())", "ib", "--dataset", "digits"]
    if args.epochs:
        cli += ["--epochs", str(args.epochs)]
    cases = [("first call", [py, "-c", FIRST_CALL, "2000", "2", "none"], args.reps, 900),
             ("first call + CI", [py, "-c", FIRST_CALL, "10000", "4", "0.95"], args.reps, 1800),
             ("warm_up()", [py, "-c", WARM_UP], args.reps, 900)]
    if not args.skip_quickstart:
        cases.append(("quick start", cli, args.quickstart_reps, 3600))
    results = []
    values = {}
    for name, cmd, reps, timeout in cases:
        print(f"## {name}", flush=True)
        for rep in range(reps):
            for version, src in versions.items():
                if name == "warm_up()" and not _has_background(src):
                    continue
                cache = work / f"cache-{name.replace(' ', '_')}-{version}-{rep}"
                cache.mkdir()
                for cold in (True, False):
                    run_cmd = list(cmd)
                    if name == "quick start":
                        run_cmd += ["--out", str(work / f"run-{version}-{rep}-{'cold' if cold else 'warm'}")]
                    r = _case(name, version, src, cache, run_cmd, timeout, cold)
                    results.append(r)
                    if "value" in r:
                        values.setdefault(name, set()).add((r["value"], r["ci_low"]))
    print("\n" + _table(results, [c[0] for c in cases]))
    for name, vals in values.items():
        print(f"\n{name}: {'identical values on every run and version' if len(vals) == 1 else f'VALUES DIFFER: {vals}'}")
    if not args.skip_quickstart:
        infos = {}
        for version in versions:
            for p in sorted(work.glob(f"run-{version}-*")):
                infos.setdefault(version, []).append((p / "info.csv").read_text(encoding="utf-8").splitlines())
        for version, files in infos.items():
            print(f"quick start {version}: info.csv identical across its runs (cold and warm): "
                  f"{all(_numbers(f) == _numbers(files[0]) for f in files)}")
        if len(infos) == 2:
            a, b = _numbers(infos["before"][0]), _numbers(infos["after"][0])
            worst = max((abs(float(u) - float(v)) for ra, rb in zip(a, b) for u, v in zip(ra[2:], rb[2:])
                         if u not in ("", None) and v not in ("", None)), default=float("nan"))
            print(f"quick start before vs after: same rows {[r[:2] for r in a] == [r[:2] for r in b]}, largest "
                  f"difference of an estimate or interval end {worst:.2g} nats")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


def _numbers(lines: list) -> list:
    """The value columns of an info.csv (times dropped)."""
    import csv

    rows = list(csv.DictReader(lines))
    keep = ("epoch", "layer", "i_xl", "i_xl_lo", "i_xl_hi", "i_ly", "i_ly_lo", "i_ly_hi")
    return [tuple(r.get(k) for k in keep) for r in rows]


if __name__ == "__main__":
    sys.exit(main())
