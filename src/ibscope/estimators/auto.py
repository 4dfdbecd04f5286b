"""The default continuous estimator: KSG and the copula, then held-out candidates that must prove they see more.

Two kinds of candidate see the data differently and fail by *under*-estimating:

* **On all rows** (the baseline, ``max(KSG, copula)``):

  - **KSG** (k-NN, rank preprocessing) is consistent for any smooth joint law but is biased down
    when the MI is large (it can never exceed psi(n) - psi(k)), when the dependence is spread over
    many coordinates or sits in a few coordinates among many independent ones, and when it lives
    in the shared scale of heavy tails.
  - **The copula estimate** (:class:`~ibscope.estimators.copula.CopulaMI`) is exact for Gaussian
    and Student-t copulas in any dimension and, for the Gaussian family, a lower bound on the MI of
    any joint law whose normal scores are jointly Gaussian on one side (always true for a 1-D
    side). It misses what is not linear in the normal scores (curved, folded or wound dependence).

* **Held out** (fitted on part of the rows, evaluated on the others, each with a standard error):

  - **The flow estimate** (:class:`~ibscope.estimators.flow.FlowMI`): invertible maps of each side,
    trained to make the pair jointly Gaussian, then the Gaussian-copula MI of the held-out mapped
    pair. It sees dependence that winds with the radius (spirals) or otherwise needs a joint,
    non-per-coordinate map to become linear. It runs unless both sides are 1-D (an invertible map
    of a 1-D side is monotone and leaves the copula as it is) or there are fewer than 1000 rows.
  - **A held-out InfoNCE bound** (:class:`~ibscope.estimators.neural.InfoNCE`, trained on the data as
    given, which it standardises, not on normal scores): a lower bound in
    expectation for any critic, and never above the truth on bmi's 40 tasks (mean error -0.095
    nats, largest -0.004; ``benchmarks/bench_bmi.py``), but not consistent: it is capped at
    log(batch size) and biased low whenever the critic is imperfect. It sees dependence no
    bijection can make linear (through a norm, through folds). It runs when ``neural="always"``,
    or, with ``neural="auto"``, with at least 2000 rows and 4 dimensions in all, while the
    baseline is below its ceiling log(256) = 5.55 nats (above it InfoNCE cannot win).

**The rule.** The baseline is ``b = max(KSG, copula)``. A held-out candidate with estimate ``v`` and
standard error ``se`` replaces it only when ``v - 2 se > b``: its held-out evidence must exceed the
baseline by two standard errors. Among such candidates the largest wins. All candidates err low
where they fail, so the larger is the better one; the margin keeps the noise of the held-out
estimates (a maximum over noisy values drifts up) out of the result, which matters at
independence. Everything is recorded in ``extra["auto"]``: the rule, every candidate's raw value
and standard error, which one was chosen, the fitted copula, and why each held-out candidate ran
or not, with its training summary.

A confidence interval (``ci=...``) is the half-sampling interval of ``max(KSG, copula)`` (the choice
is made again on every half-sample), or the chosen held-out candidate's own normal interval.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .._random import child_seed
from .._validation import check_choice
from ._preprocess import normal_scores
from .base import Call, MIEstimator
from .copula import FAMILIES, CopulaMI, SingularCopulaError
from .ksg import KSG

__all__ = ["AutoMI", "RULE"]

#: the selection rule, as recorded in ``extra["auto"]["rule"]``
RULE = ("b = max(KSG k-NN estimate, copula MI: Gaussian, or Student-t when a likelihood-ratio test prefers it at "
        "p < 0.001); a held-out candidate (flow: Gaussian-copula MI of held-out rows mapped by trained invertible "
        "flows; infonce: held-out InfoNCE bound) with estimate v and standard error se replaces b when "
        "v - 2 se > b; the largest such candidate wins")

NEURAL = ("auto", "never", "always")
FLOW = ("auto", "never", "always")
#: standard errors by which a held-out candidate must exceed the baseline
_MARGIN_SE = 2.0
#: the flow candidate needs this many rows
_FLOW_MIN_ROWS = 1000
#: the neural candidate needs this many rows (half of them are held out) and this total dimension
_NEURAL_MIN_ROWS = 2000
_NEURAL_MIN_DIM = 4
#: the InfoNCE candidate's training: InfoNCE's defaults with a shorter patience (same estimates on the
#: shells family at about half the cost)
_NEURAL_SETTINGS: dict[str, Any] = {"eval_every": 50, "patience": 4, "max_steps": 1500}


class AutoMI(MIEstimator):
    """Default continuous MI estimator: ``max(KSG, copula)``, replaced by a held-out flow or InfoNCE estimate
    when that exceeds it by two standard errors (see the module notes).

    Parameters
    ----------
    k : int, default=5
        Neighbours of the KSG candidate.
    variant : {1, 2}, default=1
        KSG variant of the KSG candidate.
    preprocess : {"rank", "standardize", "none", None}, default="rank"
        Per-column map applied before the KSG candidate (see :class:`~ibscope.estimators.KSG`); every choice
        keeps the ranks, which is all the copula and flow candidates use.
    copula : {"auto", "gaussian", "t"}, default="auto"
        Family of the copula candidate.
    flow : {"auto", "never", "always"}, default="auto"
        When to add the held-out flow candidate (:class:`~ibscope.estimators.flow.FlowMI` with its
        defaults): ``"auto"`` unless both sides are 1-D or there are fewer than 1000 rows; ``"always"``
        whenever a flow can be trained (it still needs 2 x (dim_x + dim_y) training rows).
    neural : {"auto", "never", "always"}, default="auto"
        When to add the held-out InfoNCE candidate (:class:`~ibscope.estimators.neural.InfoNCE`):
        ``"auto"`` with at least 2000 rows and 4 dimensions in all, while the baseline is below InfoNCE's ceiling
        log(256) = 5.55 nats. It costs a critic's training.
    units, ci, n_subsamples, random_state
        As for :class:`~ibscope.estimators.KSG`.
    backend, device
        Neighbour search of the KSG candidate; ``device`` is also where the flow and the critic train.

    Notes
    -----
    ``extra["auto"]`` holds ``rule``, ``candidates`` (raw nats of each), ``std_errs`` (of the held-out
    candidates), ``baseline``, ``chosen`` ("ksg", "ksg2" with ``variant=2``, "copula", "flow" or
    "infonce"), ``copula`` (the fitted family and nu), and ``flow`` and ``neural`` (whether each ran,
    why, and its training summary). Warnings of the KSG candidate (ties, the KSG ceiling) are kept only
    when KSG is chosen; those of a held-out candidate only when it is chosen.
    """

    name = "auto"
    #: the cost forecast times the KSG candidate, which dominates on large inputs (see ``_plausibility``)
    _cost_exponent = 2.0

    def _cost_core(self) -> KSG:
        return self._ksg()

    def __init__(self, *, k=5, variant=1, preprocess="rank", copula="auto", flow="auto", neural="auto", units="nats",
                 ci=None, n_subsamples=30, backend="auto", device=None, random_state=None):
        self._store_params(locals())

    # a candidate's parameter errors name the candidate ("The 'k' parameter of KSG must be ...")
    def _ksg(self) -> KSG:
        return KSG(k=self.k, variant=self.variant, preprocess=self.preprocess, backend=self.backend, device=self.device)

    def _copula(self) -> CopulaMI:
        return CopulaMI(family=self.copula)

    def _check_params(self, n_samples):
        check_choice(self.copula, "copula", self._owner, FAMILIES)
        check_choice(self.flow, "flow", self._owner, FLOW)
        check_choice(self.neural, "neural", self._owner, NEURAL)
        self._ksg()._check_params(n_samples)

    def _prepare(self, x, y, call: Call):
        # normal scores of the ranks (plus seeded jitter of exact ties) by default: what KSG needs; the copula
        # and flow candidates depend only on the ranks, which every preprocessing keeps. The InfoNCE candidate
        # gets the validated data as they are (it standardises them): normal scores of each coordinate would
        # blur dependence through a norm, which is what it is there for (shells 25 x 1: 0.72 on the scores,
        # 0.83 on the data, truth 1.06).
        call.notes["data"] = (x, y)
        return self._ksg()._prepare(x, y, call)

    def _core(self, x, y, call: Call) -> float:
        ksg, cop = self._ksg(), self._copula()
        sub = Call(rng=call.rng, seed=call.seed)
        values = {ksg.name: float(ksg._core(x, y, call))}
        first = "auto" not in call.notes  # the first call is the one on all rows; half-samples come after
        try:
            values["copula"] = float(cop._core(x, y, sub))
        except SingularCopulaError as exc:
            if first:
                call.warnings.append(f"The copula candidate was skipped and KSG used alone: {exc}")
        chosen = max(values, key=lambda name: values[name])
        if first:
            fit = cop._extra(sub).get("copula")
            call.notes["auto"] = {"rule": RULE, "candidates": values, "std_errs": {}, "baseline": values[chosen],
                                  "chosen": chosen, "copula": fit}
        return values[chosen]

    # ------------------------------------------------------------ held-out candidates
    def _flow_reason(self, n: int, dx: int, dy: int) -> tuple[bool, str]:
        if self.flow == "never":
            return False, "flow='never'"
        if self.flow == "always":
            return True, "flow='always'"
        if dx == 1 and dy == 1:
            return False, "not useful: both sides are 1-D (an invertible map of a 1-D side keeps the copula)"
        if n < _FLOW_MIN_ROWS:
            return False, f"not run: n={n} < {_FLOW_MIN_ROWS}"
        return True, f"{dx} + {dy} dimensions, n={n}"

    def _neural_reason(self, n: int, dims: int, baseline: float) -> tuple[bool, str]:
        if self.neural == "never":
            return False, "neural='never'"
        if self.neural == "always":
            return True, "neural='always'"
        ceiling = math.log(int(_NEURAL_SETTINGS.get("batch_size", 256)))
        if baseline >= ceiling:
            return False, (f"not run: InfoNCE cannot exceed its ceiling log(batch_size) = {ceiling:.3f} nats, and the "
                           f"baseline is {baseline:.4g}")
        missing = []
        if n < _NEURAL_MIN_ROWS:
            missing.append(f"n={n} < {_NEURAL_MIN_ROWS}")
        if dims < _NEURAL_MIN_DIM:
            missing.append(f"{dims} dimensions < {_NEURAL_MIN_DIM}")
        if missing:
            return False, "not run: " + ", ".join(missing)
        return True, f"{dims} dimensions, n={n}"

    def _run_flow(self, x, y, call: Call, reason: str) -> dict:
        from .flow import FlowMI, _informative_columns, fit_flow

        seed = child_seed(call.seed, 1)  # not from call.rng: the same with or without an interval
        est = FlowMI(device=self.device)
        t0 = time.perf_counter()
        warnings: list = []
        try:
            est._check_params(len(x))
            zx, zy = (x, y) if self.preprocess == "rank" else (_scores_of(x), _scores_of(y))
            zx = zx[:, _informative_columns(zx, "x", warnings)]
            zy = zy[:, _informative_columns(zy, "y", warnings)]
            if est._split_sizes(len(x))[0] <= 2 * (zx.shape[1] + zy.shape[1]):
                return {"ran": False, "why": f"{reason}; too few rows for a flow in {zx.shape[1]} + {zy.shape[1]} "
                                             "dimensions"}
            fit = fit_flow(zx, zy, seed=seed, warnings=warnings, blocks=int(est.blocks), hidden=int(est.hidden),
                           affine=bool(est.affine), lr=float(est.lr), batch_size=int(est.batch_size),
                           max_steps=int(est.max_steps), eval_every=int(est.eval_every),
                           patience=int(est.patience), sizes=est._split_sizes(len(x)), device=self.device,
                           owner="FlowMI")
        except (ValueError, RuntimeError) as exc:  # cannot train here: say so, keep the others
            return {"ran": False, "why": f"{reason}; FlowMI failed: {exc}"}
        return {"ran": True, "why": reason, "seed": seed, "value": fit["estimate"], "se": fit["se"],
                "start": fit["start"], "bound": fit["bound"], "stop_reason": fit["stop_reason"],
                "n_steps": fit["n_steps"], "kept_step": fit["kept_step"], "time_s": time.perf_counter() - t0,
                "warnings": warnings}

    def _run_neural(self, x, y, call: Call, reason: str, level) -> dict:
        from .neural import InfoNCE

        seed = child_seed(call.seed, 2)
        try:
            res = InfoNCE(ci=level, random_state=seed, device=self.device, **_NEURAL_SETTINGS).estimate(x, y)
        except (ValueError, RuntimeError) as exc:  # cannot train on these data: say so, keep the others
            return {"ran": False, "why": f"{reason}; InfoNCE failed: {exc}"}
        out = {"ran": True, "why": reason, "seed": seed, "value": float(res.raw_value),
               "se": float(res.std_err) if res.std_err is not None else math.nan,
               "stop_reason": res.extra.get("stop_reason"), "n_steps": res.extra.get("n_steps"),
               "time_s": res.time_s, "warnings": list(res.warnings)}
        if not math.isfinite(out["value"]):
            out.update(ran=False, why=f"{reason}; InfoNCE did not train (non-finite estimate)")
        return out

    def _estimate_prepared(self, x, y, level, call: Call):
        raw, se, lo, hi = super()._estimate_prepared(x, y, level, call)
        info = call.notes["auto"]
        n, dx, dy = len(x), x.shape[1], y.shape[1]
        runs: dict[str, dict[str, Any]] = {}
        go, why = self._flow_reason(n, dx, dy)
        runs["flow"] = self._run_flow(x, y, call, why) if go else {"ran": False, "why": why}
        go, why = self._neural_reason(n, dx + dy, raw)
        data_x, data_y = call.notes["data"]
        runs["infonce"] = self._run_neural(data_x, data_y, call, why, level) if go else {"ran": False, "why": why}
        info["flow"], info["neural"] = runs["flow"], runs["infonce"]
        best, best_value = None, raw
        for name, run in runs.items():
            if not run["ran"]:
                continue
            info["candidates"][name] = run["value"]
            info["std_errs"][name] = run["se"]
            if run["value"] - _MARGIN_SE * run["se"] > raw and run["value"] > best_value:
                best, best_value = name, run["value"]
        if best is None:
            return raw, se, lo, hi
        run = runs[best]
        info["chosen"] = best
        info["ci_method"] = f"{best} held-out standard error (normal)"
        call.warnings.extend(run["warnings"])
        lo = hi = None
        if level is not None:
            from scipy.stats import norm

            z = float(norm.ppf(0.5 + level / 2.0))
            lo, hi = run["value"] - z * run["se"], run["value"] + z * run["se"]
        return float(run["value"]), float(run["se"]), lo, hi

    def _post_warnings(self, raw, x, y, call: Call) -> None:
        if call.notes.get("auto", {}).get("chosen") not in ("copula", "flow", "infonce"):
            self._ksg()._post_warnings(raw, x, y, call)

    def _extra(self, call: Call) -> dict:
        info = call.notes.get("auto")
        return {} if info is None else {"auto": info}

    def _min_subsample(self, n: int) -> int:
        return max(int(self.k) + 2, 10)


def _scores_of(x):
    """Normal scores of prepared (standardised or raw) columns, with constant columns left at 0."""
    constant = np.all(x == x[:1], axis=0)
    out = normal_scores(x)
    out[:, constant] = 0.0
    return out
