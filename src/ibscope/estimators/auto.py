"""The default continuous estimator: the largest of KSG, the copula estimate and (sometimes) InfoNCE.

The candidates see the data through their ranks (invariant to any strictly increasing
map of any coordinate) and fail by *under*-estimating, in complementary places:

* **KSG** (k-NN, rank preprocessing) is consistent for any smooth joint law but is
  biased down when the MI is large (it can never exceed psi(n) - psi(k)), when the
  dependence is spread over many coordinates or sits in a few coordinates among many
  independent ones, and when it lives in the shared scale of heavy tails.
* **The copula estimate** (:class:`~ibscope.estimators.copula.CopulaMI`) is exact
  for Gaussian and Student-t copulas in any dimension, and for the Gaussian
  family it is a lower bound on the MI of any joint law whose normal scores are
  jointly Gaussian on one side (always true for a 1-D side). Away from elliptical
  copulas (curved or folded dependence) it misses what is not linear in the normal
  scores, so it is low there.
* **A held-out InfoNCE bound** (:class:`~ibscope.estimators.neural.InfoNCE`) runs as a third
  candidate only when KSG exceeds the copula by more than 10 % (the dependence is not elliptical,
  e.g. curved or rotated, so the copula is low) in at least 4 dimensions with at least 2000 rows,
  where KSG's own bias is large. It is a lower bound in expectation, like the others.

Taking the largest of estimates that err downward keeps the better one in each
regime. The rule reads only the data (dimensions, n, the estimates and the copula's
likelihood-ratio test); it is recorded in ``extra["auto"]``: the rule, every
candidate's raw value, which one was chosen, the fitted copula and why InfoNCE ran
or not. A confidence interval (``ci=...``) is computed for ``max(KSG, copula)``
itself, by the same half-sampling as every estimator (the choice is made again on
every half-sample); when InfoNCE is chosen, its own held-out interval is used.

Costs: the copula fit is a few tenths of a second at n = 10 000 for up to a few
tens of coordinates (Kendall's tau for up to 14 coordinates, t scores beyond),
usually less than KSG itself.
"""

from __future__ import annotations

import math

from .._validation import check_choice
from .base import Call, MIEstimator
from .copula import FAMILIES, CopulaMI, SingularCopulaError
from .ksg import KSG

__all__ = ["AutoMI", "RULE"]

#: the selection rule, as recorded in ``extra["auto"]["rule"]``
RULE = ("max(KSG k-NN estimate, copula MI: Gaussian, or Student-t when a likelihood-ratio test prefers it at "
        "p < 0.001; plus a held-out InfoNCE bound when KSG exceeds the copula by more than 10 % in 4+ dimensions "
        "and n >= 2000)")

NEURAL = ("auto", "never", "always")
#: KSG above the copula by this factor means the dependence is not elliptical (both may then be low)
_NON_ELLIPTICAL_RATIO = 1.10
#: the neural candidate needs this many rows (half of them are held out) and this total dimension
_NEURAL_MIN_ROWS = 2000
_NEURAL_MIN_DIM = 4


class AutoMI(MIEstimator):
    """Default continuous MI estimator: ``max(KSG, copula[, InfoNCE])`` (see the module notes).

    Parameters
    ----------
    k : int, default=5
        Neighbours of the KSG candidate.
    variant : {1, 2}, default=1
        KSG variant of the KSG candidate.
    preprocess : {"rank", "standardize", "none", None}, default="rank"
        Per-column map applied before both candidates (see :class:`~ibscope.estimators.KSG`); every choice
        keeps the ranks, which is all the copula candidate uses.
    copula : {"auto", "gaussian", "t"}, default="auto"
        Family of the copula candidate.
    units, ci, n_subsamples, random_state
        As for :class:`~ibscope.estimators.KSG`.
    backend, device
        Neighbour search of the KSG candidate.
    neural : {"auto", "never", "always"}, default="auto"
        When to add a third candidate, the held-out InfoNCE bound (:class:`~ibscope.estimators.neural.InfoNCE`
        with its defaults): ``"auto"`` when KSG exceeds the copula by more than 10 % (the dependence is not
        elliptical, so the copula is low, and KSG is low in several dimensions) with at least 4 dimensions in
        all and 2000 rows. It costs a critic's training (seconds to a minute on a CPU).

    Notes
    -----
    ``extra["auto"]`` holds ``rule``, ``candidates`` (raw nats of each), ``chosen``
    ("ksg", "ksg2" with ``variant=2``, "copula" or "infonce"), ``copula`` (the fitted family and nu) and
    ``neural`` (why the InfoNCE candidate ran or not, and its training summary). Warnings of the KSG
    candidate (ties, the KSG ceiling) are kept only when KSG is chosen; those of InfoNCE only when it is.
    The interval is the half-sampling interval of ``max(KSG, copula)``, or InfoNCE's own held-out interval
    when InfoNCE is chosen (training it again on 30 half-samples would cost too much).
    """

    name = "auto"
    #: the cost forecast times the KSG candidate, which dominates on large inputs (see ``_plausibility``)
    _cost_exponent = 2.0

    def _cost_core(self) -> KSG:
        return self._ksg()

    def __init__(self, *, k=5, variant=1, preprocess="rank", copula="auto", neural="auto", units="nats", ci=None,
                 n_subsamples=30, backend="auto", device=None, random_state=None):
        self.k = k
        self.neural = neural
        self.variant = variant
        self.preprocess = preprocess
        self.copula = copula
        self.units = units
        self.ci = ci
        self.n_subsamples = n_subsamples
        self.backend = backend
        self.device = device
        self.random_state = random_state

    # a candidate's parameter errors name the candidate ("The 'k' parameter of KSG must be ...")
    def _ksg(self) -> KSG:
        return KSG(k=self.k, variant=self.variant, preprocess=self.preprocess, backend=self.backend, device=self.device)

    def _copula(self) -> CopulaMI:
        return CopulaMI(family=self.copula)

    def _check_params(self, n_samples):
        check_choice(self.copula, "copula", self._owner, FAMILIES)
        check_choice(self.neural, "neural", self._owner, NEURAL)
        self._ksg()._check_params(n_samples)

    def _prepare(self, x, y, call: Call):
        # normal scores of the ranks (plus seeded jitter of exact ties) by default: what KSG needs; the copula
        # estimate depends only on the ranks, which every preprocessing keeps
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
            call.notes["auto"] = {"rule": RULE, "candidates": values, "chosen": chosen, "copula": fit}
        return values[chosen]

    def _neural_reason(self, info: dict, n: int, dims: int) -> str | None:
        """Why the InfoNCE candidate runs (None: it does not; the reason it does not goes to ``info``)."""
        values = info["candidates"]
        ksg = next(v for name, v in values.items() if name != "copula")
        if self.neural == "never":
            info["neural"] = {"ran": False, "why": "neural='never'"}
            return None
        if self.neural == "always":
            return "neural='always'"
        cop = values.get("copula")
        missing = []
        if n < _NEURAL_MIN_ROWS:
            missing.append(f"n={n} < {_NEURAL_MIN_ROWS}")
        if dims < _NEURAL_MIN_DIM:
            missing.append(f"{dims} dimensions < {_NEURAL_MIN_DIM}")
        if cop is None:
            missing.append("no copula estimate")
        elif ksg <= _NON_ELLIPTICAL_RATIO * max(cop, 0.0):
            missing.append(f"KSG {ksg:.4g} <= 1.1 x copula {cop:.4g}")
        if missing:
            info["neural"] = {"ran": False, "why": "not needed: " + ", ".join(missing)}
            return None
        return f"KSG {ksg:.4g} > 1.1 x copula {cop:.4g}: the dependence is not elliptical"

    def _estimate_prepared(self, x, y, level, call: Call):
        raw, se, lo, hi = super()._estimate_prepared(x, y, level, call)
        info = call.notes["auto"]
        reason = self._neural_reason(info, len(x), x.shape[1] + y.shape[1])
        if reason is None:
            return raw, se, lo, hi
        from .neural import InfoNCE

        seed = int(call.rng.integers(0, 2**32))
        try:
            res = InfoNCE(ci=level, random_state=seed).estimate(x, y)
        except (ValueError, RuntimeError) as exc:  # cannot train on these data: say so, keep the other two
            info["neural"] = {"ran": False, "why": f"{reason}; InfoNCE failed: {exc}"}
            call.warnings.append(f"The InfoNCE candidate of the default estimator could not run: {exc}")
            return raw, se, lo, hi
        info["neural"] = {"ran": True, "why": reason, "seed": seed, "stop_reason": res.extra.get("stop_reason"),
                          "n_steps": res.extra.get("n_steps"), "time_s": res.time_s, "warnings": list(res.warnings)}
        if not math.isfinite(res.raw_value):
            call.warnings.append("The InfoNCE candidate of the default estimator did not train (non-finite "
                                 "estimate); it was ignored.")
            return raw, se, lo, hi
        info["candidates"]["infonce"] = float(res.raw_value)
        if res.raw_value <= raw:
            return raw, se, lo, hi
        info["chosen"] = "infonce"
        info["ci_method"] = "InfoNCE held-out standard error (normal)"
        call.warnings.extend(res.warnings)
        return float(res.raw_value), res.std_err, res.ci_low, res.ci_high

    def _post_warnings(self, raw, x, y, call: Call) -> None:
        if call.notes.get("auto", {}).get("chosen") not in ("copula", "infonce"):
            self._ksg()._post_warnings(raw, x, y, call)

    def _extra(self, call: Call) -> dict:
        info = call.notes.get("auto")
        return {} if info is None else {"auto": info}

    def _min_subsample(self, n: int) -> int:
        return max(int(self.k) + 2, 10)
