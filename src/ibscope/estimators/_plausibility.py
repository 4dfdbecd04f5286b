"""Plausibility rules: when an estimate cannot mean what its number says, the result says so.

Every :meth:`~ibscope.estimators.base.MIEstimator.estimate` runs these rules after the estimate (and, for
large inputs, :func:`announce_cost` before it). Each rule is a small function of the data and the raw
estimate that returns a warning (``None`` when it does not apply); each warning says what the number can
and cannot be trusted for. The rules that fired are listed, with their numbers, in
``MIResult.extra["plausibility"]``. The thresholds come from the estimators' known bias and variance; the
reasoning is next to each constant and in ``docs/guide/guarantees.md``.

An estimator opts out of a rule through its ``_skip_rules`` class attribute (a set of rule names): the
Gaussian closed form skips ``"identical"`` (it is exact for Gaussian data at any correlation and raises on
an exactly singular covariance), the neural bounds skip ``"independence"`` (a permutation test would
retrain the critic 19 times), ``"dims"`` (their critics are built for high-dimensional inputs; their
limit is the log(batch_size) ceiling, warned about by the estimators) and ``"cost"`` (they show progress
themselves).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
import warnings as _warnings
from types import FrameType
from typing import Any

import numpy as np
from scipy.special import ndtri

__all__ = ["Facts", "RULES", "check", "negative_warning", "announce_cost", "noise_floor", "candidates_disagree"]

#: Rows of the permutation test of independence: below this n, an estimate is compared with the same
#: estimator on copies of the data whose y-rows are shuffled. At n = 100 the null spread of the kNN
#: estimators in 2 + 2 dimensions is still 0.04 to 0.2 nats (sd; weighted KL the widest), so an estimate
#: of a few tenths of a nat can be noise; the test costs 19 cores, cheap at this size.
NULL_MAX_ROWS = 100
#: Shuffled copies of the permutation test: an estimate above all 19 is significant at the 5 % level
#: (the Monte-Carlo test of Barnard 1963: P(observed is the largest of 20 exchangeable values) = 1/20).
NULL_COPIES = 19

#: The noise of an estimate under independence, per sqrt(n): the largest measured standard deviation
#: times sqrt(n) over the kNN, KDE and copula estimators in 2 + 2 dimensions at n = 20 ... 5000 was 2.3
#: (weighted KL; KSG 0.3 to 0.7, KL up to 1.4), so 2.5 / sqrt(n) nats bounds one standard deviation.
NULL_SD_PER_ROOT_N = 2.5
#: A raw value below -max(3 sd, this many nats) is not noise: 3 sd of the null (see above), and never
#: less than 0.1 nats (the bias of plain KL under independence in a few dimensions reaches 0.05 nats).
FAR_BELOW_MIN = 0.1

#: Fewer rows than this many per dimension (continuous sides) make the estimate unreliable: a sample
#: covariance from n rows in d dimensions has a log-determinant bias of about -d(d+1)/(2n) nats (Wishart),
#: already d/20 nats at n = 10 d, and the k-NN estimators need far more rows than that, since their
#: neighbourhoods in d dimensions shrink only as n^(-1/d) (Kraskov et al. 2004; Gao et al. 2015).
ROWS_PER_DIM = 10

#: A side whose rows repeat this often is largely discrete: a tie group larger than k turns the k-NN
#: distances of its members into the seeded jitter (1e-10 of a standard deviation), and the copula's ranks
#: into shared averages; 10 % of the rows in such groups moves the estimate by far more than its noise.
TIED_ROW_SHARE = 0.10

#: Rows used for the identity check on large inputs (a seeded subsample: copied columns stay copied in
#: it, and the canonical correlation of 5000 rows is known to about (1 - rho^2) / 70, far finer than the
#: threshold below needs).
IDENTITY_MAX_ROWS = 5_000
#: The canonical-correlation check runs up to this total dimension (its cost grows as n d^2).
IDENTITY_MAX_DIM = 200

#: The default estimator's candidates disagree on compressed codes when their spread exceeds both this
#: many nats and this fraction of the largest: at the row counts of a compressed estimate (n >= 1000) the
#: sampling sd of each candidate is a few hundredths of a nat in a few dimensions, so 0.25 nats is many sd.
DISAGREE_NATS = 0.25
DISAGREE_FRACTION = 0.15

#: Cost announcement: inputs of at least this many rows are timed on a pilot subsample first, and a
#: forecast above this many seconds is announced (a RuntimeWarning) before the estimate starts.
COST_MIN_ROWS = 50_000
COST_PILOT_ROWS = 8_000
COST_ANNOUNCE_S = 60.0
#: a pilot shorter than this says little about growth; it is grown before a long run is announced
COST_PILOT_MIN_S = 0.25


@dataclasses.dataclass
class Facts:
    """What the rules read: the estimator, the validated data, the raw estimate and its standard error."""

    estimator: Any
    x: np.ndarray
    y: np.ndarray
    xp: Any
    yp: Any
    raw: float
    se: float | None
    call: Any

    @property
    def n(self) -> int:
        return len(self.x)

    @property
    def name(self) -> str:
        return getattr(self.estimator, "name", type(self.estimator).__name__)

    def continuous(self) -> list[tuple[str, np.ndarray]]:
        """The continuous sides, as 2-D float arrays (images flattened)."""
        out = []
        for side, arr in (("x", self.x), ("y", self.y)):
            if not getattr(self.estimator, f"{side}_discrete", False):
                out.append((side, np.asarray(arr, dtype=np.float64).reshape(len(arr), -1)))
        return out


def noise_floor(n: int, se: float | None = None) -> float:
    """The size (nats) below which a negative raw estimate is noise: ``max(3 sd, 0.1)``, with the sd the
    estimate's own standard error when an interval was computed, else the bound :data:`NULL_SD_PER_ROOT_N`
    / sqrt(n) measured under independence (whichever is larger)."""
    sd = NULL_SD_PER_ROOT_N / math.sqrt(max(n, 1))
    if se is not None and math.isfinite(se):
        sd = max(sd, float(se))
    return max(3.0 * sd, FAR_BELOW_MIN)


# ------------------------------------------------------------------------------------------------ rules
def rule_independence(f: Facts):
    """Tiny n: is the estimate above what the same estimator gives on data made independent by shuffling?

    Applies for ``n < NULL_MAX_ROWS`` and a positive estimate. The rows of the prepared ``y`` are shuffled
    19 times (a seeded generator of its own, so the estimate and its interval do not change) and the
    estimator's core runs on each copy. An estimate not above all 19 cannot be told apart from
    independence at the 5 % level.
    """
    est = f.estimator
    if f.n >= NULL_MAX_ROWS or not (f.raw > 0) or not hasattr(est, "_core"):
        return None
    from .base import Call

    rng = np.random.default_rng([int(f.call.seed), 0x5EED_0F_1D])
    null = []
    for _ in range(NULL_COPIES):
        perm = rng.permutation(f.n)
        sub = Call(rng=np.random.default_rng(int(rng.integers(2**63))), seed=f.call.seed, warnings=[],
                   notes=copy.deepcopy({k: v for k, v in f.call.notes.items() if k not in ("auto", "fit")}))
        try:
            value = float(est._core(f.xp, f.yp[perm], sub))
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            continue
        if math.isfinite(value):
            null.append(value)
    if len(null) < NULL_COPIES // 2:
        return None
    top = max(null)
    if f.raw > top:
        return None
    return ("independence", {"null_max": top, "null_copies": len(null)},
            f"With n={f.n} rows this estimate cannot be told apart from independence: on {len(null)} copies of the "
            f"data with the rows of 'y' shuffled (independent by construction) the same estimator gave values up "
            f"to {top:.3g} nats, and this estimate is {f.raw:.3g} nats. Trust it neither as evidence of dependence "
            "nor as a value of the MI; use more rows.")


def _ranks(a: np.ndarray) -> np.ndarray:
    """Per-column ordinal ranks 1..n (equal values in row order; the columns used have few ties)."""
    order = np.argsort(np.ascontiguousarray(a.T), axis=1, kind="stable")
    ranks = np.empty(order.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, np.arange(1, len(a) + 1, dtype=np.float64)[None, :], axis=1)
    return ranks.T


def _normal_scores(ranks: np.ndarray) -> np.ndarray:
    """Per-column normal scores Phi^-1(rank / (n + 1)) of ranks 1..n, centred."""
    z = ndtri(ranks / (len(ranks) + 1.0))
    return z - z.mean(axis=0)


def _orthonormal(a: np.ndarray) -> np.ndarray:
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    if not len(s) or s[0] <= 0:
        return u[:, :0]
    return u[:, s > s[0] * 1e-10]


def _top_cc(a: np.ndarray, b: np.ndarray) -> float:
    qa, qb = _orthonormal(a), _orthonormal(b)
    if not qa.shape[1] or not qb.shape[1]:
        return 0.0
    return float(min(np.linalg.svd(qa.T @ qb, compute_uv=False)[0], 1.0))


def top_canonical_correlation(x: np.ndarray, y: np.ndarray, rx=None, ry=None) -> float:
    """The largest canonical correlation of ``x`` and ``y``: the larger of that of their normal scores (any
    monotone map of a column) and that of the standardised values (a linear map mixing the columns, which
    per-column ranks blur to about 1 - 1/n). 1 for copied columns. ``rx``, ``ry``: their ranks, if known."""
    from .._validation import scale_free

    rx = _ranks(x) if rx is None else rx
    ry = _ranks(y) if ry is None else ry
    return max(_top_cc(_normal_scores(rx), _normal_scores(ry)), _top_cc(scale_free(x), scale_free(y)))


def _mostly_distinct(a: np.ndarray) -> np.ndarray:
    """Columns with at least 90 % distinct values (ties below 10 %, the share :data:`TIED_ROW_SHARE` uses)."""
    s = np.sort(a, axis=0)
    ties = np.count_nonzero(s[1:] == s[:-1], axis=0)
    return ties < TIED_ROW_SHARE * len(a)


def _same_ranks(rx: np.ndarray, ry: np.ndarray):
    """``(i, j, reversed)`` of the first column pair with identical (or exactly reversed) ranks, or None."""
    seen: dict[bytes, tuple[int, bool]] = {}
    rx, ry = rx.astype(np.int64), ry.astype(np.int64)
    for i in range(rx.shape[1]):
        seen.setdefault(np.ascontiguousarray(rx[:, i]).tobytes(), (i, False))
        seen.setdefault((len(rx) + 1 - rx[:, i]).tobytes(), (i, True))
    for j in range(ry.shape[1]):
        hit = seen.get(np.ascontiguousarray(ry[:, j]).tobytes())
        if hit is not None:
            return hit[0], j, hit[1]
    return None


def rule_identical(f: Facts):
    """Identical or nearly identical sides: the MI is beyond what n rows can resolve.

    Only columns of mostly distinct values take part. A column of ``y`` whose ranks equal those of a column
    of ``x`` (one is a monotone function of the other) makes the MI of continuous data infinite. Short of
    that, one pair of directions (of the normal scores, or of the values themselves) correlating so strongly
    that a Gaussian pair with that correlation carries more than ln(n) nats is beyond what n rows can show:
    a k-NN estimate cannot exceed psi(n) - psi(k) < ln n, and entropy differences saturate in the same way.
    """
    sides = f.continuous()
    if len(sides) < 2:
        return None
    x, y = sides[0][1], sides[1][1]
    n = f.n
    if n > IDENTITY_MAX_ROWS:
        idx = np.sort(np.random.default_rng([int(f.call.seed), 0x1DE_17]).choice(n, IDENTITY_MAX_ROWS,
                                                                                   replace=False))
        x, y = x[idx], y[idx]
    # only columns of mostly distinct values: a copied column with ties (binary, ReLU zeros) has a finite MI,
    # at most the entropy of its values, so it is no sign of an infinite one
    x, y = x[:, _mostly_distinct(x)], y[:, _mostly_distinct(y)]
    if not x.shape[1] or not y.shape[1]:
        return None
    rx, ry = _ranks(x), _ranks(y)
    pair = _same_ranks(rx, ry)
    if pair is not None:
        i, j, rev = pair
        how = "a decreasing" if rev else "an increasing"
        return ("identical", {"x_column": i, "y_column": j},
                f"Column {i} of 'x' and column {j} of 'y' have the same ranks{' reversed' if rev else ''} (one is "
                f"{how} function of the other), so the true MI of continuous data like these is infinite. This "
                f"estimate ({f.raw:.3g} nats) reflects n={n} and the estimator, not the MI: read it only as 'the MI "
                "is very large'. If the column was copied by mistake, drop it.")
    dx, dy = x.shape[1], y.shape[1]
    if dx + dy > IDENTITY_MAX_DIM or len(x) < ROWS_PER_DIM * (dx + dy):
        return None  # too costly, or too few rows for a canonical correlation to mean anything
    rho = top_canonical_correlation(x, y, rx, ry)
    pair_mi = math.inf if rho >= 1.0 else -0.5 * math.log1p(-rho * rho)
    if pair_mi <= math.log(n):
        return None
    shown = f"1 - {1.0 - rho:.2g}" if rho > 0.9999 else f"{rho:.6f}"
    return ("identical", {"canonical_correlation": rho, "pair_mi": pair_mi},
            f"'x' and 'y' are identical or nearly so in at least one direction: their canonical correlation is "
            f"{shown}, and a Gaussian pair with that correlation carries {pair_mi:.3g} nats, more "
            f"than the ln(n) = {math.log(n):.3g} nats that n={n} rows can resolve. This estimate ({f.raw:.3g} nats) "
            "reflects the sample size and the estimator, not the MI: read it only as 'the MI is very large'.")


def rule_ties(f: Facts):
    """Mostly tied rows: a continuous estimator on data that are largely discrete.

    Fires when at least :data:`TIED_ROW_SHARE` of the rows of a continuous side repeat another row. When
    the estimate also exceeds the plug-in entropy of that side (at most ln of its number of distinct rows,
    the most it could share were it discrete), the warning says so.
    """
    from ..neighbors import count_duplicate_rows
    from .discrete import _codes, plugin_entropy

    parts, numbers = [], {}
    for side, arr in f.continuous():
        dup = count_duplicate_rows(arr)
        if dup < TIED_ROW_SHARE * f.n:
            continue
        numbers[side] = dup
        text = f"{100.0 * dup / f.n:.0f} % of the rows of '{side}' ({dup} of {f.n}) repeat another row"
        h = plugin_entropy(_codes(arr))
        if f.raw > h + 1e-9:
            text += (f", and the estimate exceeds H('{side}') = {h:.3g} nats, the most a discrete variable with "
                     "these frequencies can share")
        parts.append(text)
    if not parts:
        return None
    return ("ties", numbers,
            f"{'; '.join(parts)}: the data are largely discrete or rounded, while '{f.name}' assumes a continuous "
            f"density. This estimate ({f.raw:.3g} nats) can be biased either way and is not the MI of discrete data. "
            "If the values are categories or counts, treat them as discrete (x_discrete=True / y_discrete=True); "
            "if they are rounded measurements, the MI of the unrounded values cannot be read from them.")


def rule_dims(f: Facts):
    """The dimension is large against n: fewer than :data:`ROWS_PER_DIM` rows per (continuous) dimension."""
    dims = [(side, arr.shape[1]) for side, arr in f.continuous()]
    total = sum(d for _, d in dims)
    if not dims or f.n >= ROWS_PER_DIM * total:
        return None
    split = " + ".join(str(d) for _, d in dims)
    return ("dims", {"dims": total},
            f"{total} dimensions ({split}) for n={f.n} rows, fewer than {ROWS_PER_DIM} rows per dimension: in so many "
            "dimensions nearest neighbours are almost equidistant and covariances cannot be estimated, so this "
            f"estimate ({f.raw:.3g} nats) can be far from the true MI in either direction (k-NN estimates mostly "
            "fall far below it). Compress first "
            "(e.g. compress='pca:8') or use more rows.")


#: The rules, in the order their warnings appear.
RULES = {"independence": rule_independence, "identical": rule_identical, "ties": rule_ties, "dims": rule_dims}


def negative_warning(raw: float, n: int, se: float | None, reason: str) -> tuple[str | None, bool]:
    """The warning for a negative raw estimate, and whether it is far below zero (the estimator failed)."""
    if not raw < 0:
        return None, False
    floor = noise_floor(n, se)
    if raw >= -floor:
        return f"Negative raw estimate {raw:.4g} nats was clipped to 0 ({reason}).", False
    return (f"Raw estimate {raw:.4g} nats is far below 0 (beyond the estimator's noise, about {floor:.2g} nats at "
            f"n={n}), so the estimator failed on these data: its bias dominates (high dimension, ties, or a density "
            "it cannot follow). It was clipped to 0, but 0 is not an estimate of the MI here: the true MI can be "
            "anywhere from 0 up. Try the default estimator, compress the data, or use more rows."), True


def check(f: Facts) -> dict:
    """Run every rule the estimator does not skip; append their warnings to the call's, return what fired."""
    skip: frozenset = getattr(f.estimator, "_skip_rules", frozenset())
    fired = {}
    if math.isfinite(f.raw):
        for name, rule in RULES.items():
            if name in skip:
                continue
            out = rule(f)
            if out is not None:
                code, numbers, text = out
                fired[code] = numbers
                f.call.warnings.append(text)
    text, far = negative_warning(f.raw, f.n, f.se, getattr(f.estimator, "_negative_reason", ""))
    if text:
        f.call.warnings.append(text)
    if far:
        fired["far_below_zero"] = {"noise_floor": noise_floor(f.n, f.se)}
    return fired


def candidates_disagree(result) -> str | None:
    """On compressed codes: the warning when the default estimator chose its copula candidate far above its
    k-NN candidate (None otherwise).

    The default takes the largest candidate on the premise that each errs low. KSG and InfoNCE do (KSG is
    biased down at high MI and in many dimensions; InfoNCE is a lower bound in expectation), but the copula
    estimate is a lower bound only for elliptical copulas, or when one side's normal scores are jointly
    Gaussian: on codes whose dependence is neither it can overshoot. Chosen above KSG by more than
    :data:`DISAGREE_NATS` and :data:`DISAGREE_FRACTION` of its value, it may exceed what the codes carry.
    """
    info = result.extra.get("auto") or {}
    values = {k: float(v) for k, v in (info.get("candidates") or {}).items()
              if v is not None and math.isfinite(float(v))}
    knn = {k: v for k, v in values.items() if k.startswith("ksg")}
    if info.get("chosen") != "copula" or "copula" not in values or not knn:
        return None
    top, (knn_name, low) = values["copula"], next(iter(knn.items()))
    if top - low <= max(DISAGREE_NATS, DISAGREE_FRACTION * abs(top)):
        return None
    return (f"On the codes the default estimator's copula candidate ({top:.3f} nats) is far above its {knn_name} "
            f"candidate ({low:.3f} nats), and the value is the copula's. The copula estimate errs low only for "
            "elliptical dependence; on codes whose dependence is not elliptical it can overshoot, so this value may "
            "exceed the codes' true MI, and so I(X;Y). Compare with estimator='ksg' or more rows before reading it "
            "as a lower bound.")


# ------------------------------------------------------------------------------------------------ cost
def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _time_core(core, xp, yp, idx, call) -> float:
    from .base import Call

    sub = Call(rng=np.random.default_rng([int(call.seed), len(idx)]), seed=call.seed, warnings=[],
               notes=copy.deepcopy({k: v for k, v in call.notes.items() if k not in ("auto", "fit")}))
    t0 = time.perf_counter()
    core._core(xp[idx], yp[idx], sub)
    return time.perf_counter() - t0


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside ibscope, counted from the function that calls this one."""
    import os
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    level = 1
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(root + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def announce_cost(est, xp, yp, level, call) -> float | None:
    """Forecast the cost of a large estimate from timed pilots; announce it when long (RuntimeWarning).

    For ``n >= COST_MIN_ROWS`` the estimator's core (or the costly part it names, ``_cost_core``) runs on
    seeded subsamples of ``COST_PILOT_ROWS / 4`` (twice, the faster time kept) and, unless the smaller pilot
    scaled at the worst exponent already stays below ``COST_ANNOUNCE_S``, ``COST_PILOT_ROWS`` rows,
    after an untimed warm-up on 100 rows (compiled kernels load on the first call). The growth between the
    two pilots gives the exponent (clamped to [1, ``est._cost_exponent``], the estimator's worst case: 2 for
    a k-NN search that degenerates to a scan in many dimensions), and the larger pilot's time is scaled to
    n, and by the half-sample interval's extra work. The pilots use their own generators and notes, so the estimate does
    not change. A forecast above ``COST_ANNOUNCE_S`` seconds is announced before the estimate starts, so a
    long run is never silent. Returns the forecast in seconds (None when no pilot ran).
    """
    worst = getattr(est, "_cost_exponent", None)
    n = len(xp)
    if worst is None or n < COST_MIN_ROWS or "cost" in getattr(est, "_skip_rules", ()):
        return None
    core = est._cost_core() if hasattr(est, "_cost_core") else est
    rng = np.random.default_rng([int(call.seed), 0xC057])
    idx = np.sort(rng.choice(n, COST_PILOT_ROWS, replace=False))
    small = np.sort(rng.choice(idx, COST_PILOT_ROWS // 4, replace=False))
    pilot = COST_PILOT_ROWS

    def scaled(took: float, t_small: float, rows: int) -> tuple[float, float]:
        exponent = min(max(math.log(max(took, 1e-9) / max(t_small, 1e-9)) / math.log(4.0), 1.0), float(worst))
        forecast = took * (n / rows) ** exponent
        if level is not None:  # half-samples of n/2 rows
            forecast *= 1.0 + int(getattr(est, "n_subsamples", 30)) * 0.5 ** exponent
        return forecast, exponent

    try:
        _time_core(core, xp, yp, idx[:100], call)  # warm-up: compiled kernels load on the first call
        # the smaller pilot twice (its time is the one that noise on a busy machine distorts most)
        t_small = min(_time_core(core, xp, yp, small, call) for _ in range(2))
        # at the worst exponent from the small pilot alone: short runs need no larger pilot
        bound = t_small * (n / len(small)) ** float(worst)
        if level is not None:
            bound *= 1.0 + int(getattr(est, "n_subsamples", 30)) * 0.5 ** float(worst)
        if bound < COST_ANNOUNCE_S:
            call.notes["cost_forecast_s"] = bound
            return bound
        took = _time_core(core, xp, yp, idx, call)
        forecast, exponent = scaled(took, t_small, pilot)
        # Pilots of milliseconds time thread start-up and caches, not growth: before a long run is announced,
        # grow them (x4 rows each) until the larger one takes COST_PILOT_MIN_S, or reaches n / 4.
        while forecast >= COST_ANNOUNCE_S and took < COST_PILOT_MIN_S and 4 * pilot <= n // 4:
            pilot *= 4
            rows = np.sort(rng.choice(n, pilot, replace=False))
            t_small, took = took, _time_core(core, xp, yp, rows, call)
            forecast, exponent = scaled(took, t_small, pilot)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return None
    call.notes["cost_forecast_s"] = forecast
    if forecast >= COST_ANNOUNCE_S:
        dims = f"{xp.shape[1] if xp.ndim > 1 else 1}+{yp.shape[1] if yp.ndim > 1 else 1}"
        sub = max(COST_MIN_ROWS // 5, 10_000)
        _warnings.warn(
            f"Estimating I(X;Y) with '{est.name}' on n={n:,} rows ({dims} dimensions) will take roughly "
            f"{_duration(forecast)} on this machine (forecast from pilots on {pilot // 4} and "
            f"{pilot} rows, the larger taking {took:.2g} s, scaled as n^{exponent:.2f}"
            f"{', interval included' if level is not None else ''}). For a quick look, estimate on a subsample "
            f"first (x[:{sub}], y[:{sub}]); device='cuda' runs the neighbour search on a GPU.",
            RuntimeWarning, stacklevel=_caller_level())
    return forecast
