"""The default continuous estimator: the larger of KSG and the copula estimate.

Both candidates are rank-based (invariant to any strictly increasing map of any
coordinate) and both fail by *under*-estimating, in complementary places:

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

Taking the larger of two estimates that err downward keeps the better one in each
regime. The rule reads only the data (the two estimates and the copula's
likelihood-ratio test); it is recorded in ``extra["auto"]``: the rule, both
candidates' raw values, which one was chosen and the fitted copula. A confidence
interval (``ci=...``) is computed for the combined estimate itself, by the same
half-sampling as every estimator (the choice is made again on every half-sample).

Costs: the copula fit is a few tenths of a second at n = 10 000 for up to a few
tens of coordinates (Kendall's tau for up to 14 coordinates, t scores beyond),
usually less than KSG itself.
"""

from __future__ import annotations

from .._validation import check_choice
from .base import Call, MIEstimator
from .copula import FAMILIES, CopulaMI, SingularCopulaError
from .ksg import KSG

__all__ = ["AutoMI", "RULE"]

#: the selection rule, as recorded in ``extra["auto"]["rule"]``
RULE = "max(KSG k-NN estimate, copula MI: Gaussian, or Student-t when a likelihood-ratio test prefers it at p < 0.001)"


class AutoMI(MIEstimator):
    """Default continuous MI estimator: ``max(KSG, copula)`` (see the module notes).

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

    Notes
    -----
    ``extra["auto"]`` holds ``rule``, ``candidates`` (raw nats of each), ``chosen``
    ("ksg", "ksg2" with ``variant=2``, or "copula") and ``copula`` (the fitted family and nu). Warnings of the
    KSG candidate (ties, the KSG ceiling) are kept only when KSG is chosen or they
    concern the data.
    """

    name = "auto"

    def __init__(self, *, k=5, variant=1, preprocess="rank", copula="auto", units="nats", ci=None, n_subsamples=30,
                 backend="auto", device=None, random_state=None):
        self.k = k
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

    def _post_warnings(self, raw, x, y, call: Call) -> None:
        if call.notes.get("auto", {}).get("chosen") != "copula":
            self._ksg()._post_warnings(raw, x, y, call)

    def _extra(self, call: Call) -> dict:
        info = call.notes.get("auto")
        return {} if info is None else {"auto": info}

    def _min_subsample(self, n: int) -> int:
        return max(int(self.k) + 2, 10)
