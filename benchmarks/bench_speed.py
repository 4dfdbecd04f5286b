"""Speed benchmark: ibscope KSG against the KSG a user can get today.

Peers (see ``_peers.py``; our own re-implementations of the common recipes):

* ``sklearn-tree``: NPEET-style KSG on scikit-learn KDTree/BallTree (Chebyshev),
  single-threaded;
* ``cKDTree``: the same estimator on scipy's cKDTree with ``workers=-1``;
* ``sklearn MI``: scikit-learn's ``mutual_info_regression`` (1-D vs 1-D only).

Every method sees the same data (``ibscope.synthetic.correlated_gaussian``,
seed 0). Calls are interleaved (each peer call is followed by ibscope calls) and
repeated, so machine noise hits all methods alike; the table reports medians.
ibscope's time is the full ``KSG(...).estimate(x, y)`` call (validation,
standardisation, duplicate check, neighbour search, digamma sums).

Usage::

    python benchmarks/bench_speed.py                 # full run (several minutes)
    python benchmarks/bench_speed.py --quick         # 10x smaller n
    python benchmarks/bench_speed.py --skip-slow-peers --reps 3
    python benchmarks/bench_speed.py --cold-jit      # also time a from-scratch compile
    python benchmarks/bench_speed.py --cells "16+16 large" --peers sklearn-tree --reps 1
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _peers  # noqa: E402

import ibscope  # noqa: E402
from ibscope.synthetic import correlated_gaussian  # noqa: E402

#: (name, n, dim per side, true MI, peers, slow) - "slow" cells run peers only without --skip-slow-peers
CELLS = [
    ("4+4", 100_000, 4, 2.0, ("sklearn-tree", "cKDTree"), False),
    ("16+16", 10_000, 16, 8.0, ("sklearn-tree", "cKDTree"), False),
    ("1+1", 1_000_000, 1, 1.0, ("sklearn MI",), False),
    ("16+16 large", 100_000, 16, 8.0, ("sklearn-tree", "cKDTree"), True),
]


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, float(value)


def _peer_fn(name, x, y, k):
    if name == "sklearn-tree":
        return lambda: _peers.ksg_sklearn_tree(x, y, k)
    if name == "cKDTree":
        return lambda: _peers.ksg_ckdtree(x, y, k)
    if name == "sklearn MI":
        return lambda: _peers.sklearn_mi_regression(x, y, k)
    raise ValueError(name)


def _ibscope_fn(x, y, k, variant):
    est = ibscope.KSG(k=k, variant=variant, random_state=0)
    return lambda: est.estimate(x, y).raw_value


def first_call_seconds() -> float:
    """Seconds to make the compiled kernels ready in this process (:func:`ibscope.neighbors.warm_up`: a numba
    cache load, or a compile when the cache is empty) plus the first KSG calls, which then run compiled."""
    from ibscope import neighbors

    x, y, _ = correlated_gaussian(300, 2, 2, 1.0, random_state=1)
    t0 = time.perf_counter()
    warm_up = getattr(neighbors, "warm_up", None)  # (older versions compile on first use)
    if warm_up is not None:
        warm_up()
    for variant in (1, 2):
        ibscope.KSG(k=5, variant=variant).estimate(x, y)
    ibscope.KSG(k=3).estimate(x[:, :1], y[:, :1])
    return time.perf_counter() - t0


def cold_compile_seconds() -> float:
    """Compile time from scratch: ``warm_up()`` in a fresh process with an empty numba cache (imports included)."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import time; t0 = time.perf_counter(); import sys; sys.path.insert(0, {here!r}); "
            "import bench_speed; bench_speed.first_call_seconds(); print(time.perf_counter() - t0)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def run_cell(name, n, dim, mi, peers, k, reps, run_peers):
    x, y, true_mi = correlated_gaussian(n, dim, dim, mi, random_state=0)
    if dim == 1:
        x, y = x[:, 0], y[:, 0]
        peer_k = k_ib = 3  # scikit-learn's default, as in the issue
    else:
        peer_k = k_ib = k
    ours = {f"ibscope KSG-{v}": _ibscope_fn(x, y, k_ib, v) for v in (1, 2)}
    theirs = {p: _peer_fn(p, x, y, peer_k) for p in peers} if run_peers else {}
    times = {m: [] for m in list(ours) + list(theirs)}
    values = {}
    for fn in ours.values():  # warm-up (first call per shape loads code, allocates pools)
        fn()
    for _ in range(reps):
        schedule = list(theirs.items()) or [(None, None)]
        for peer, pfn in schedule:
            if pfn is not None:
                dt, v = _timed(pfn)
                times[peer].append(dt)
                values[peer] = v
                print(f"    {name}: {peer} {dt:.2f} s -> {v:.4f}", flush=True)
            for m, fn in ours.items():
                dt, v = _timed(fn)
                times[m].append(dt)
                values[m] = v
                print(f"    {name}: {m} {dt:.3f} s -> {v:.4f}", flush=True)
    med = {m: statistics.median(t) for m, t in times.items()}
    return dict(name=name, n=n, dim=dim, true_mi=true_mi, k=k_ib, med=med, values=values, ours=list(ours),
                theirs=list(theirs), reps=reps)


def markdown(rows) -> str:
    methods = []
    for r in rows:
        for m in r["theirs"] + r["ours"]:
            if m not in methods:
                methods.append(m)
    head = ["cell", "n", "dims", "k", "true MI"] + [f"{m} s (est.)" for m in methods] + \
        ["speedup KSG-1", "speedup KSG-2"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["name"], f"{r['n']:.0e}".replace("+0", ""), f"{r['dim']}+{r['dim']}", str(r["k"]),
                 f"{r['true_mi']:.2f}"]
        for m in methods:
            if m in r["med"]:
                cells.append(f"{r['med'][m]:.3g} ({r['values'][m]:.3f})")
            else:
                cells.append("-")
        if r["theirs"]:
            best = min(r["med"][p] for p in r["theirs"])
            for v in (1, 2):
                cells.append(f"{best / r['med'][f'ibscope KSG-{v}']:.1f}x")
        else:
            cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10x smaller n in every cell")
    ap.add_argument("--skip-slow-peers", action="store_true",
                    help="do not run the peers in the 16+16, n=1e5 cell (they take minutes)")
    ap.add_argument("--k", type=int, default=5, help="neighbours for the vector cells (default 5)")
    ap.add_argument("--reps", type=int, default=2, help="repetitions per method (median reported)")
    ap.add_argument("--cells", default="all", help="comma-separated cell names to run, e.g. '4+4,1+1'")
    ap.add_argument("--peers", default=None,
                    help="comma-separated peers to run where a cell has them, e.g. 'sklearn-tree' (default: all)")
    ap.add_argument("--cold-jit", action="store_true", help="also time a from-scratch numba compile")
    args = ap.parse_args(argv)

    import numba

    from ibscope import neighbors

    print(f"# ibscope KSG speed benchmark\n\npython {platform.python_version()}, numpy {np.__version__}, "
          f"numba {numba.__version__}, cores {os.cpu_count()}, ibscope threads {neighbors.default_threads()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"compiled kernels ready and first KSG calls in this process (warm_up: numba cache load): "
          f"{first_call_seconds():.2f} s; "
          f"auto backend on CPU: {neighbors.choose_backend(10_000, 8)}")
    if args.cold_jit:
        print(f"cold compile (empty numba cache, fresh process, incl. imports): {cold_compile_seconds():.1f} s")
    wanted = None if args.cells == "all" else {c.strip() for c in args.cells.split(",")}
    rows = []
    for name, n, dim, mi, peers, slow in CELLS:
        if wanted is not None and name not in wanted:
            continue
        if args.quick:
            n //= 10
        run_peers = not (slow and args.skip_slow_peers)
        if args.peers is not None:
            keep = {p.strip() for p in args.peers.split(",")}
            peers = tuple(p for p in peers if p in keep)
        print(f"\n## cell {name}: n={n}, {dim}+{dim} dims, true MI {mi} (peers: {'yes' if run_peers else 'skipped'})",
              flush=True)
        rows.append(run_cell(name, n, dim, mi, peers, args.k, args.reps, run_peers))
    print(f"\nload average at end {os.getloadavg()[0]:.2f}\n")
    print(markdown(rows))
    return rows


if __name__ == "__main__":
    main()
