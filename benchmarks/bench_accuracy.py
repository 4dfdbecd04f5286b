"""Known-MI accuracy table: which defaults should ``ibscope.mutual_information`` use?

Every cell draws data with an exactly known mutual information (nats), runs a
candidate estimator through the public front door :func:`ibscope.mutual_information`
and records the estimate. Situations cover the cases where kNN estimators are
known to struggle (Czyz et al. 2023, "Beyond Normal"):

* ``baseline``   - Gaussian 2+2, MI 1 (mixed by random rotations);
* ``marginals``  - the same latent Gaussians seen through strictly increasing
  per-coordinate maps: ``gaussian-cube`` (t -> t^3), ``gaussian-uniform``
  (normal CDF) and exp (log-normal marginals), MI 1 and 3;
* ``tails``      - multivariate Student-t 2+2, dof 1, 2, 3, identity dispersion
  (MI = shared-scale term only) and with dispersion correlations (total MI 1.5);
* ``high-mi``    - Gaussian 1+1 and 4+4 (mixed) at MI 4, 6, 8;
* ``dimension``  - Gaussian 5+5, 10+10, 25+25 at MI 2, mixed by random rotations;
* ``sparse``     - 25+25 with all 2 nats in one coordinate pair, 24 independent
  noise columns per side, no mixing;
* ``labels``     - ``uniform-label`` (X ~ U[0,1]^d, Y = floor(10 X_0)), d = 4
  and 10, true ln 10, with ``y_discrete=True``.

Continuous candidates: KSG-I k=5 standardize (the current default), KSG-I k=5
and k=3 with rank (normal-score) preprocessing, KSG-I k=3 standardize (so that k
and preprocessing can be judged separately), KSG-II k=5, KL, weighted KL, and the
closed-form Gaussian MI as a reference (exact for the Gaussian rows, not a
competitor; it is left out of the "best" counts). Label candidates: Ross's mixed
KSG (``"ksg"``) with the same k / preprocessing grid, and class-conditional KL
and weighted KL entropies.

Reported per cell: mean estimate over seeds, mean absolute error (MAE) and the
standard deviation over seeds. Estimates are ``MIResult.value`` (what a user
gets: clipped at 0); raw values are in the CSV. Per estimator: mean MAE over the
situations, the number of situations where it is best or within 0.05 nats of
the best kNN candidate, mean |log(mean estimate / true)| (estimate floored at
1 % of the truth so a zero estimate costs log 100, not infinity) and the success
rate under bmi's criterion |log(I_hat / I)| < log 1.5 applied to the mean estimate.

Seeds: seed s (0..seeds-1) draws the data and is also the estimator's
``random_state``; mixing matrices use the tasks' fixed ``mix_seed=0``.

Usage::

    python benchmarks/bench_accuracy.py                 # full: n=5000, 3 seeds
    python benchmarks/bench_accuracy.py --quick         # n=2000, 2 seeds, fewer cells
    python benchmarks/bench_accuracy.py --seeds 5 --n 10000 --out results.csv
    python benchmarks/bench_accuracy.py --only tails,labels
    python benchmarks/bench_accuracy.py --extra --only marginals,high-mi   # + KL/WKL with rank

``--extra`` adds KL and weighted KL with ``preprocess="rank"``. Beware: with a
1-D side, rank (normal-score) preprocessing puts that side on a deterministic
grid, which biases its KL entropy up by log(2 ceil(k/2)) - psi(k) (0.29 nats at
k=5), so KL/WKL MI with rank and 1-D sides is ~0.56 nats too high even at
independence; KSG is unaffected.

The full run took 20 min on 2 shared CPU cores (load average ~6; the two 25+25
situations are ~55 % of it). KDE (O(n^2) per bandwidth trial) and the neural estimators are
excluded.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import ibscope
from ibscope.synthetic import CorrelatedGaussian, get_task

SUCCESS_LOG = math.log(1.5)  # bmi's success criterion |log(I_hat / I)| < log 1.5
NEAR_BEST = 0.05  # nats: "within 0.05 of the best"


# ---------------------------------------------------------------------------
# situations
# ---------------------------------------------------------------------------
@dataclass
class Situation:
    name: str
    group: str
    true_mi: float
    sample: Callable[[int, int], tuple]  # (n, seed) -> (x, y)
    discrete: bool = False
    quick: bool = False  # kept in --quick runs
    note: str = ""


def _task_sampler(task, post: Callable | None = None):
    def sample(n, seed):
        x, y = task.sample(n, random_state=seed)
        if post is not None:
            x, y = post(x), post(y)
        return x, y

    return sample


def _task(name, group, task, quick=False, post=None, note=""):
    return Situation(name, group, task.mutual_information(), _task_sampler(task, post), task.y_discrete, quick, note)


def _sparse_sampler(dim: int, mi: float):
    """All ``mi`` nats in coordinate pair 0, ``dim - 1`` independent N(0,1) noise columns per side, no mixing."""
    pair = CorrelatedGaussian(1, 1, mi, mix=False)

    def sample(n, seed):
        rng = np.random.default_rng(seed)
        x0, y0 = pair.sample(n, rng)
        x = np.hstack([x0, rng.standard_normal((n, dim - 1))])
        y = np.hstack([y0, rng.standard_normal((n, dim - 1))])
        return x, y

    return sample, pair.mutual_information()


def build_situations() -> list[Situation]:
    s: list[Situation] = []
    g = lambda **kw: get_task("gaussian", mix=True, mix_seed=0, **kw)  # noqa: E731
    # baseline
    s.append(_task("gauss 2+2 MI1", "baseline", g(dim_x=2, dim_y=2, mi=1.0), quick=True))
    # non-Gaussian marginals (strictly increasing per-coordinate maps after mixing)
    for mi in (1.0, 3.0):
        q = mi == 3.0
        s.append(_task(f"cube 2+2 MI{mi:g}", "marginals",
                       get_task("gaussian-cube", dim_x=2, dim_y=2, mi=mi, mix=True, mix_seed=0), quick=q))
        s.append(_task(f"uniform 2+2 MI{mi:g}", "marginals",
                       get_task("gaussian-uniform", dim_x=2, dim_y=2, mi=mi, mix=True, mix_seed=0), quick=q))
        s.append(_task(f"exp 2+2 MI{mi:g}", "marginals", g(dim_x=2, dim_y=2, mi=mi), post=np.exp, quick=q,
                       note="log-normal marginals: exp of each mixed Gaussian coordinate"))
    # heavy tails
    for dof in (1, 2, 3):
        s.append(_task(f"t dof{dof} 2+2 ident", "tails",
                       get_task("student-t", dim_x=2, dim_y=2, dof=float(dof), mi=None, mix=True, mix_seed=0),
                       quick=dof == 1))
    for dof in (1, 2, 3):
        s.append(_task(f"t dof{dof} 2+2 MI1.5", "tails",
                       get_task("student-t", dim_x=2, dim_y=2, dof=float(dof), mi=1.5, mix=True, mix_seed=0),
                       quick=dof == 1))
    # high MI
    for d in (1, 4):
        for mi in (4.0, 6.0, 8.0):
            s.append(_task(f"gauss {d}+{d} MI{mi:g}", "high-mi", g(dim_x=d, dim_y=d, mi=mi),
                           quick=(mi == 6.0)))
    # dimension (mixed)
    for d in (5, 10, 25):
        s.append(_task(f"gauss {d}+{d} MI2", "dimension", g(dim_x=d, dim_y=d, mi=2.0), quick=d == 10))
    # sparse dependence
    fn, true = _sparse_sampler(25, 2.0)
    s.append(Situation("sparse 25+25 MI2", "sparse", true, fn, quick=False,
                       note="one correlated pair + 24 noise columns per side, unmixed"))
    # labels
    for d in (4, 10):
        s.append(_task(f"label {d}D L=10", "labels", get_task("uniform-label", dim_x=d, n_classes=10),
                       quick=d == 4))
    return s


# ---------------------------------------------------------------------------
# candidates
# ---------------------------------------------------------------------------
@dataclass
class Candidate:
    label: str
    estimator: str
    params: dict = field(default_factory=dict)
    reference: bool = False  # not a competitor (excluded from "best" counts)


CONTINUOUS = [
    Candidate("auto", "auto", {}),  # the default: max(KSG k=5 rank, copula)
    Candidate("copula", "copula", {}),
    Candidate("ksg5-std", "ksg", {"k": 5, "preprocess": "standardize"}),
    Candidate("ksg5-rank", "ksg", {"k": 5, "preprocess": "rank"}),
    Candidate("ksg3-rank", "ksg", {"k": 3, "preprocess": "rank"}),
    Candidate("ksg3-std", "ksg", {"k": 3, "preprocess": "standardize"}),
    Candidate("ksg2-5-std", "ksg2", {"k": 5, "preprocess": "standardize"}),
    Candidate("kl5", "kl", {"k": 5}),
    Candidate("wkl5", "wkl", {"k": 5}),
    Candidate("gaussian", "gaussian", {}, reference=True),
]
#: optional candidates (``--extra``): the entropy-based estimators with rank preprocessing
CONTINUOUS_EXTRA = [
    Candidate("kl5-rank", "kl", {"k": 5, "preprocess": "rank"}),
    Candidate("wkl5-rank", "wkl", {"k": 5, "preprocess": "rank"}),
]
LABELS = [
    Candidate("mksg5-std", "ksg", {"k": 5, "preprocess": "standardize"}),
    Candidate("mksg5-rank", "ksg", {"k": 5, "preprocess": "rank"}),
    Candidate("mksg3-rank", "ksg", {"k": 3, "preprocess": "rank"}),
    Candidate("mksg3-std", "ksg", {"k": 3, "preprocess": "standardize"}),
    Candidate("kl5", "kl", {"k": 5}),
    Candidate("wkl5", "wkl", {"k": 5}),
]
LABELS_EXTRA = [
    Candidate("kl5-rank", "kl", {"k": 5, "preprocess": "rank"}),
    Candidate("wkl5-rank", "wkl", {"k": 5, "preprocess": "rank"}),
]


# ---------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------
def run_cell(sit: Situation, cand: Candidate, x, y, seed: int) -> dict:
    t0 = time.perf_counter()
    try:
        res = ibscope.mutual_information(x, y, estimator=cand.estimator, random_state=seed,
                                         y_discrete=sit.discrete, **cand.params)
        value, raw, warn = res.value, res.raw_value, " | ".join(res.warnings)
    except Exception as exc:  # keep the benchmark going; record the failure
        value = raw = float("nan")
        warn = f"ERROR {type(exc).__name__}: {exc}"
    return {
        "situation": sit.name, "group": sit.group, "true_mi": sit.true_mi, "n": len(x), "seed": seed,
        "estimator": cand.label, "value": value, "raw_value": raw, "abs_err": abs(value - sit.true_mi),
        "time_s": time.perf_counter() - t0, "warnings": warn,
    }


def aggregate(rows: list[dict]) -> dict:
    """(situation, estimator) -> dict(mean, mae, sd, time)."""
    out: dict = {}
    keys = sorted({(r["situation"], r["estimator"]) for r in rows})
    for key in keys:
        rs = [r for r in rows if (r["situation"], r["estimator"]) == key]
        v = np.array([r["value"] for r in rs], dtype=float)
        out[key] = {
            "mean": float(np.mean(v)), "mae": float(np.mean(np.abs(v - rs[0]["true_mi"]))),
            "sd": float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"), "time": float(sum(r["time_s"] for r in rs)),
            "true": rs[0]["true_mi"], "errors": sum(r["warnings"].startswith("ERROR") for r in rs),
        }
    return out


def _fmt(x: float, nd: int = 2) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.{nd}f}"


def log_ratio(est: float, true: float) -> float:
    return abs(math.log(max(est, 0.01 * true) / true))


def print_tables(sits: list[Situation], cands: list[Candidate], agg: dict, title: str) -> None:
    labels = [c.label for c in cands]
    competitors = [c.label for c in cands if not c.reference]
    print(f"\n### {title}: mean estimate (MAE) over seeds, nats\n")
    print("| situation | true MI | " + " | ".join(labels) + " |")
    print("|---|---:|" + "---:|" * len(labels))
    for s in sits:
        cells = []
        best = min(agg[(s.name, c)]["mae"] for c in competitors)
        for c in labels:
            a = agg[(s.name, c)]
            txt = f"{_fmt(a['mean'])} ({_fmt(a['mae'])})"
            if c in competitors and a["mae"] <= best + 1e-12:
                txt = f"**{txt}**"
            if a["errors"]:
                txt += f" [{a['errors']} err]"
            cells.append(txt)
        print(f"| {s.name} | {s.true_mi:.3f} | " + " | ".join(cells) + " |")

    print(f"\n### {title}: sd of the estimate over seeds, nats\n")
    print("| situation | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for s in sits:
        print(f"| {s.name} | " + " | ".join(_fmt(agg[(s.name, c)]["sd"], 3) for c in labels) + " |")

    groups = list(dict.fromkeys(s.group for s in sits))
    if len(groups) > 1:
        print(f"\n### {title}: MAE by group (mean over the group's situations)\n")
        print("| group | situations | " + " | ".join(labels) + " |")
        print("|---|---:|" + "---:|" * len(labels))
        for grp in groups:
            gs = [s for s in sits if s.group == grp]
            vals = [np.mean([agg[(s.name, c)]["mae"] for s in gs]) for c in labels]
            print(f"| {grp} | {len(gs)} | " + " | ".join(_fmt(v) for v in vals) + " |")

    print(f"\n### {title}: per-estimator summary ({len(sits)} situations)\n")
    print("| estimator | mean MAE | best or within 0.05 of best | mean abs log(est/true) "
          "| success abs log(est/true) < log 1.5 | time (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for c in cands:
        maes = [agg[(s.name, c.label)]["mae"] for s in sits]
        lr = [log_ratio(agg[(s.name, c.label)]["mean"], s.true_mi) for s in sits]
        wins = sum(agg[(s.name, c.label)]["mae"] <= min(agg[(s.name, o)]["mae"] for o in competitors) + NEAR_BEST
                   for s in sits)
        t = sum(agg[(s.name, c.label)]["time"] for s in sits)
        win_txt = "(reference)" if c.reference else f"{wins}/{len(sits)}"
        succ = sum(v < SUCCESS_LOG for v in lr)
        print(f"| {c.label} | {_fmt(np.mean(maes), 3)} | {win_txt} | {_fmt(np.mean(lr), 3)} "
              f"| {succ}/{len(sits)} | {t:.0f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="n=2000, 2 seeds, fewer situations")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (0..seeds-1); default 3, quick 2")
    p.add_argument("--n", type=int, default=None, help="samples per draw; default 5000, quick 2000")
    p.add_argument("--out", default=None, help="also write every raw row to this CSV file")
    p.add_argument("--only", default=None,
                   help="comma-separated groups or situation-name substrings to run (e.g. 'tails,labels')")
    p.add_argument("--estimators", default=None, help="comma-separated candidate labels to run")
    p.add_argument("--extra", action="store_true", help="add KL and weighted KL with rank preprocessing")
    args = p.parse_args(argv)

    n = args.n or (2000 if args.quick else 5000)
    n_seeds = args.seeds or (2 if args.quick else 3)
    sits = build_situations()
    if args.quick:
        sits = [s for s in sits if s.quick]
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        sits = [s for s in sits if any(k == s.group or k in s.name for k in keys)]
    cont = CONTINUOUS + (CONTINUOUS_EXTRA if args.extra else [])
    lab = LABELS + (LABELS_EXTRA if args.extra else [])
    if args.estimators:
        keep = {e.strip() for e in args.estimators.split(",")}
        cont = [c for c in cont if c.label in keep]
        lab = [c for c in lab if c.label in keep]

    print(f"# ibscope accuracy benchmark (ibscope {getattr(ibscope, '__version__', '?')}, numpy {np.__version__})")
    print(f"n = {n}, seeds = 0..{n_seeds - 1}, {len(sits)} situations; estimates in nats; "
          f"cell = mean estimate (MAE); **bold** = lowest MAE among kNN candidates\n")
    # warm-up: compile / load the numba kernels once so that per-estimator times measure estimation
    t_warm = time.perf_counter()
    rng = np.random.default_rng(12345)
    wx, wy = rng.standard_normal((300, 2)), rng.standard_normal((300, 2))
    wl = np.arange(300) % 3
    for c in cont:
        ibscope.mutual_information(wx, wy, estimator=c.estimator, random_state=0, **c.params)
    for c in lab:
        ibscope.mutual_information(wx, wl, estimator=c.estimator, random_state=0, y_discrete=True, **c.params)
    warm = time.perf_counter() - t_warm
    print(f"Warm-up (kernel compile/load, not counted below): {warm:.1f} s", file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    rows: list[dict] = []
    for s in sits:
        cands = lab if s.discrete else cont
        t_sit = time.perf_counter()
        for seed in range(n_seeds):
            x, y = s.sample(n, seed)
            for c in cands:
                rows.append(run_cell(s, c, x, y, seed))
        print(f"  [{time.perf_counter() - t_start:7.1f}s] {s.name}: {time.perf_counter() - t_sit:.1f}s",
              file=sys.stderr, flush=True)
    wall = time.perf_counter() - t_start

    agg = aggregate(rows)
    cont_sits = [s for s in sits if not s.discrete]
    lab_sits = [s for s in sits if s.discrete]
    if cont_sits and cont:
        print_tables(cont_sits, cont, agg, "Continuous X, Y")
    if lab_sits and lab:
        print_tables(lab_sits, lab, agg, "Continuous X, discrete labels Y (y_discrete=True)")

    notes: dict = {}
    for r in rows:
        for w in r["warnings"].split(" | "):
            if w and not w.startswith("Negative raw"):
                kind = "KSG ceiling" if "KSG ceiling" in w else w.split(";")[0][:110]
                key = (r["estimator"], r["situation"], kind)
                notes.setdefault(key, set()).add(r["seed"])
    if notes:
        print("\n### Estimator warnings (first clause; seeds that raised it)\n")
        for (est, sit, w), seeds in sorted(notes.items()):
            print(f"- {est} @ {sit} (seeds {sorted(seeds)}): {w}")

    print(f"\nTotal wall time: {wall:.1f} s ({wall / 60:.1f} min) for {len(rows)} estimates, "
          f"plus {warm:.1f} s warm-up (kernel compile/load)")
    if args.out:
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"Raw rows written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
