"""Cost of the default estimator on large inputs, and how well the announced forecast predicts it.

For 8 + 8 correlated Gaussians (true MI 8 * 0.5 ln(1 / 0.64) = 1.785 nats) at each n, the script times
the parts of ``mutual_information``'s default estimator separately, on the same prepared data:
the rank preprocessing, the copula candidate and the KSG candidate, and prints next to them the
forecast of :func:`ibscope.estimators._plausibility.announce_cost` (two timed pilots, see
``docs/guide/guarantees.md``). The forecast is what a user sees (as a RuntimeWarning) before a run
longer than a minute starts; compare it with the KSG column, which dominates.

Run (one thread, so that the figures do not depend on how busy the other cores are)::

    IBSCOPE_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_cost_forecast.py --n 1e4 1e5 1e6

n = 10^6 takes about half an hour of one core for the KSG candidate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", nargs="+", type=float, default=[1e4, 1e5])
    parser.add_argument("--dim", type=int, default=8, help="dimensions per side (default 8)")
    args = parser.parse_args()

    from ibscope.estimators import _plausibility as plaus
    from ibscope.estimators.auto import AutoMI
    from ibscope.estimators.base import Call
    from ibscope.estimators.copula import CopulaMI
    from ibscope.estimators.ksg import KSG

    d = args.dim
    truth = -d * 0.5 * np.log(1 - 0.36)
    print(f"{d}+{d} correlated Gaussians, true MI {truth:.4f} nats")
    print(f"{'n':>9} {'prepare s':>10} {'forecast s':>11} {'pilot s':>8} {'copula s':>9} {'ksg s':>8} "
          f"{'copula':>8} {'ksg':>8}")
    for n in (int(v) for v in args.n):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, d))
        y = 0.6 * x + 0.8 * rng.standard_normal((n, d))
        est = AutoMI(random_state=0)
        call = Call(rng=np.random.default_rng(0), seed=0)
        t = time.perf_counter()
        xp, yp = est._prepare(x, y, call)
        t_prep = time.perf_counter() - t
        plaus.COST_ANNOUNCE_S = float("inf")  # time the forecast, do not announce it
        min_rows, plaus.COST_MIN_ROWS = plaus.COST_MIN_ROWS, min(plaus.COST_MIN_ROWS, n)
        t = time.perf_counter()
        forecast = plaus.announce_cost(est, xp, yp, None, call) if n > plaus.COST_PILOT_ROWS else None
        t_pilot = time.perf_counter() - t
        plaus.COST_MIN_ROWS = min_rows
        t = time.perf_counter()
        cop = CopulaMI()._core(xp, yp, Call(rng=np.random.default_rng(0), seed=0))
        t_cop = time.perf_counter() - t
        t = time.perf_counter()
        ksg = KSG()._core(xp, yp, Call(rng=np.random.default_rng(0), seed=0))
        t_ksg = time.perf_counter() - t
        shown = f"{forecast:11.1f}" if forecast is not None else f"{'-':>11}"
        print(f"{n:9d} {t_prep:10.2f} {shown} {t_pilot:8.2f} {t_cop:9.2f} {t_ksg:8.2f} {cop:8.4f} {ksg:8.4f}",
              flush=True)


if __name__ == "__main__":
    main()
