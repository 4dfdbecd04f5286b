"""Copula MI and the default ``"auto"`` estimator: closed forms, invariances, choices, seeds, bad input.

Tolerances: at n samples the closed-form Gaussian MI of a fitted correlation matrix has a standard deviation
of about sqrt(1 - exp(-2 I)) / sqrt(n) ... sqrt(2 I / n) nats for moderate I (the delta method on the
log-determinants); at n = 4000 and I <= 2 that is below 0.03, so 0.06 (two SDs) is used. The bias correction
leaves a bias well below that.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import ibscope
from ibscope.estimators.auto import RULE, AutoMI
from ibscope.estimators.copula import CopulaMI, SingularCopulaError, t_mi_term


def gaussian_pair(n, rho, dims=1, seed=0):
    """``dims`` independent pairs of correlation ``rho``; true MI = -dims/2 log(1 - rho^2)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dims))
    y = rho * x + math.sqrt(1 - rho ** 2) * rng.standard_normal((n, dims))
    return x, y, -0.5 * dims * math.log(1 - rho ** 2)


def student_pair(n, nu, dx, dy, seed=0):
    """Multivariate t with identity dispersion: uncorrelated, MI = t_mi_term(nu, dx, dy) (all in the shared scale)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, dx + dy))
    w = np.sqrt(nu / rng.chisquare(nu, size=(n, 1)))
    s = z * w
    return s[:, :dx], s[:, dx:]


# ------------------------------------------------------------------ the Student-t closed form
@pytest.mark.parametrize("nu, dx, dy", [(1, 1, 1), (2, 2, 2), (3, 1, 3)])
def test_t_mi_term_matches_monte_carlo(nu, dx, dy):
    """The closed form equals E[log p(x,y) - log p(x) - log p(y)] of the multivariate t (Monte Carlo, 4 SE)."""
    n = 200_000
    x, y = student_pair(n, nu, dx, dy, seed=1)
    joint = stats.multivariate_t(loc=np.zeros(dx + dy), shape=np.eye(dx + dy), df=nu).logpdf(np.hstack([x, y]))
    px = stats.multivariate_t(loc=np.zeros(dx), shape=np.eye(dx), df=nu).logpdf(x)
    py = stats.multivariate_t(loc=np.zeros(dy), shape=np.eye(dy), df=nu).logpdf(y)
    ratio = joint - px - py
    se = ratio.std() / math.sqrt(n)
    assert abs(ratio.mean() - t_mi_term(nu, dx, dy)) < 4 * se + 1e-3


def test_t_mi_term_known_values_and_limit():
    # bmi 0.1.3's ground truths for its Student-t tasks (an independent implementation)
    assert t_mi_term(1, 1, 1) == pytest.approx(0.22417142752923613, abs=1e-12)
    assert t_mi_term(1, 2, 2) == pytest.approx(0.43194562200144127, abs=1e-12)
    assert t_mi_term(2, 5, 5) == pytest.approx(0.44815067691532917, abs=1e-12)
    # a Gaussian (nu -> inf) has no shared-scale information; the term decreases in nu
    values = [t_mi_term(nu, 2, 3) for nu in (1, 3, 10, 100, 1e5)]
    assert all(a > b > 0 for a, b in zip(values, values[1:]))
    assert values[-1] < 1e-6


# ------------------------------------------------------------------ closed-form cases
@pytest.mark.parametrize("rho, dims", [(0.5, 1), (0.9, 1), (0.6, 3), (0.8, 5)])
def test_gaussian_copula_closed_form(rho, dims):
    x, y, true = gaussian_pair(4000, rho, dims, seed=2)
    for family in ("gaussian", "auto"):
        r = CopulaMI(family=family).estimate(x, y)
        assert abs(r.value - true) < 0.06, (family, r.value, true)


def test_monotone_transform_of_gaussian_is_exact_and_invariant():
    """Monotone per-coordinate maps (cube, exp, normal CDF, affine with either sign of slope for x) leave the
    estimate unchanged to rounding; the estimate still matches the Gaussian's MI."""
    x, y, true = gaussian_pair(3000, 0.8, 3, seed=3)
    base = ibscope.mutual_information(x, y, estimator="copula").value
    xt = np.column_stack([x[:, 0] ** 3, np.exp(x[:, 1]), stats.norm.cdf(x[:, 2])])
    yt = 1e6 * y - 3.0
    assert ibscope.mutual_information(xt, yt, estimator="copula").value == pytest.approx(base, abs=1e-9)
    assert abs(base - true) < 0.06


def test_sparse_dependence_in_many_dimensions():
    """All of the MI in one coordinate pair among 20 + 20 (bmi's hardest family for KSG): copula is exact."""
    rng = np.random.default_rng(4)
    x, y, true = gaussian_pair(5000, 0.9, 1, seed=4)
    x = np.hstack([x, rng.standard_normal((5000, 19))])
    y = np.hstack([rng.standard_normal((5000, 19)), y])
    cop = ibscope.mutual_information(x, y, estimator="gaussian-copula").value
    ksg = ibscope.mutual_information(x, y, estimator="ksg", random_state=0).value
    auto = ibscope.mutual_information(x, y, random_state=0)
    assert abs(cop - true) < 0.06
    assert ksg < 0.5 * true  # why the default does not rely on KSG alone here
    assert auto.estimator == "auto" and auto.extra["auto"]["chosen"] == "copula"
    assert auto.value == pytest.approx(cop, abs=1e-9)


@pytest.mark.parametrize("nu, dx, dy", [(1, 2, 2), (2, 3, 3)])
def test_t_copula_recovers_shared_scale_information(nu, dx, dy):
    """Uncorrelated multivariate t: the Gaussian copula sees nothing, the t copula the closed form."""
    x, y = student_pair(5000, nu, dx, dy, seed=5)
    true = t_mi_term(nu, dx, dy)
    gauss = ibscope.mutual_information(x, y, estimator="gaussian-copula").value
    auto = ibscope.mutual_information(np.arcsinh(x), y, estimator="copula")
    assert gauss < 0.02
    assert auto.extra["copula"]["family"] == "t"
    assert abs(auto.extra["copula"]["nu"] - nu) < 0.25 * nu
    assert abs(auto.value - true) < 0.05


def test_copula_stays_gaussian_on_gaussian_data():
    """The likelihood-ratio test keeps the Gaussian family when the data are Gaussian."""
    x, y, _ = gaussian_pair(4000, 0.7, 2, seed=6)
    fit = ibscope.mutual_information(x, y, estimator="copula").extra["copula"]
    assert fit["family"] == "gaussian" and fit["nu"] is None
    assert fit["lr_statistic"] < 10.83


def test_independence_is_near_zero():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((3000, 4)), rng.standard_normal((3000, 4))
    for name in ("copula", "gaussian-copula", "auto"):
        r = ibscope.mutual_information(x, y, estimator=name, random_state=0)
        assert r.value < 0.02, (name, r.value)


# ------------------------------------------------------------------ the default ("auto")
def test_default_is_auto_and_records_its_rule():
    x, y, true = gaussian_pair(4000, 0.8, 2, seed=8)
    r = ibscope.mutual_information(x, y, random_state=0)
    info = r.extra["auto"]
    assert r.estimator == "auto" and info["rule"] == RULE
    # 2 + 2 dimensions and 4000 rows: both held-out candidates ran beside KSG and the copula
    assert set(info["candidates"]) == {"ksg", "copula", "flow", "infonce"}
    assert info["flow"]["ran"] and info["neural"]["ran"]
    assert info["baseline"] == max(info["candidates"]["ksg"], info["candidates"]["copula"])
    # on a Gaussian no held-out candidate exceeds the baseline by two standard errors
    assert info["chosen"] in ("ksg", "copula") and r.raw_value == pytest.approx(info["baseline"])
    for name in ("flow", "infonce"):
        assert info["candidates"][name] - 2 * info["std_errs"][name] <= info["baseline"]
    assert abs(r.value - true) < 0.06


def test_auto_prefers_ksg_on_non_elliptical_dependence():
    """Y = X + uniform noise (bmi's additive-noise family): no elliptical copula fits; KSG is closer and chosen."""
    rng = np.random.default_rng(9)
    x = rng.uniform(size=(4000, 1))
    y = x + rng.uniform(-0.1, 0.1, size=(4000, 1))
    true = 1.7094  # bmi's closed form for noise half-width 0.1
    r = ibscope.mutual_information(x, y, random_state=0)
    assert r.extra["auto"]["chosen"] == "ksg"
    assert r.extra["auto"]["candidates"]["copula"] < r.extra["auto"]["candidates"]["ksg"]
    assert abs(r.value - true) < 0.1


def test_auto_invariant_to_monotone_maps_and_seeded():
    x, y, _ = gaussian_pair(1500, 0.7, 2, seed=10)
    a = ibscope.mutual_information(x, y, random_state=3, ci=0.9, n_subsamples=8)
    b = ibscope.mutual_information(np.exp(x), y ** 3 + 7, random_state=3, ci=0.9, n_subsamples=8)
    c = ibscope.mutual_information(x, y, random_state=3, ci=0.9, n_subsamples=8)
    assert b.value == pytest.approx(a.value, abs=1e-9)
    assert (c.value, c.ci_low, c.ci_high, c.seed) == (a.value, a.ci_low, a.ci_high, a.seed)
    assert a.ci_low <= a.value <= a.ci_high


def test_auto_units_and_ci_contract():
    x, y, true = gaussian_pair(2000, 0.9, 1, seed=11)
    nats = ibscope.mutual_information(x, y, random_state=0, ci=0.95, n_subsamples=10)
    bits = ibscope.mutual_information(x, y, random_state=0, ci=0.95, n_subsamples=10, units="bits")
    assert bits.units == "bits" and bits.value == pytest.approx(nats.value / math.log(2))
    assert bits.ci_low == pytest.approx(nats.ci_low / math.log(2))
    assert nats.ci_low < true < nats.ci_high
    assert nats.params["k"] == 5 and nats.seed == 0


def test_near_deterministic_dependence_keeps_the_gaussian_family():
    """At 6 nats in 1 + 1 dimensions and n = 5000 the ranks are almost equal; the rank likelihood would prefer a
    heavy-tailed copula (and add its shared-scale term), so the t family is not considered there."""
    x, y, true = gaussian_pair(5000, math.sqrt(1 - math.exp(-12.0)), 1, seed=15)
    r = ibscope.mutual_information(x, y, estimator="copula")
    assert r.extra["copula"]["family"] == "gaussian" and "t_skipped" in r.extra["copula"]
    assert abs(r.value - true) < 0.1


def test_auto_high_mi_beyond_the_ksg_ceiling():
    """8 nats in 4 + 4 dimensions: KSG saturates, the copula candidate does not."""
    x, y, true = gaussian_pair(5000, math.sqrt(1 - math.exp(-4.0)), 4, seed=12)
    assert true == pytest.approx(8.0)
    r = ibscope.mutual_information(x, y, random_state=0, flow="never")  # the flow starts at the copula's fit
    assert r.extra["auto"]["chosen"] == "copula"
    assert abs(r.value - true) < 0.2
    assert not any("KSG ceiling" in w for w in r.warnings)


# ------------------------------------------------------------------ bad input
def test_bad_family_and_k_messages():
    x, y, _ = gaussian_pair(50, 0.5, 1)
    with pytest.raises(ValueError, match=r"'family' parameter of CopulaMI must be one of \['auto', 'gaussian', 't'\]"):
        CopulaMI(family="clayton").estimate(x, y)
    with pytest.raises(ValueError, match=r"'k' parameter of KSG must be an int in the range \[1, n_samples - 1\]"):
        ibscope.mutual_information(x, y, k=50)
    with pytest.raises(ValueError, match=r"'copula' parameter of AutoMI must be one of"):
        AutoMI(copula="frank").estimate(x, y)
    with pytest.raises(ValueError, match=r"Unknown parameter\(s\) 'variant' for estimator 'copula'"):
        ibscope.mutual_information(x, y, estimator="copula", k=3, variant=2)


def test_repeated_column_is_a_clear_error_for_copula_and_a_fallback_for_auto():
    x, y, _ = gaussian_pair(500, 0.7, 2, seed=13)
    xd = np.hstack([x, np.exp(x[:, :1])])  # a monotone copy: the same ranks
    with pytest.raises(SingularCopulaError, match=r"one column's ranks repeat another column's"):
        ibscope.mutual_information(xd, y, estimator="copula")
    r = ibscope.mutual_information(xd, y, random_state=0)
    assert r.extra["auto"]["chosen"] == "ksg" and set(r.extra["auto"]["candidates"]) == {"ksg"}
    assert any("copula candidate was skipped" in w for w in r.warnings)
    with pytest.raises(SingularCopulaError, match=r"fewer rows than columns plus one \(n_samples=3, 4 columns\)"):
        ibscope.mutual_information(x[:3], y[:3], estimator="gaussian-copula")


def test_constant_columns_are_left_out():
    x, y, _ = gaussian_pair(1000, 0.8, 2, seed=14)
    xc = np.hstack([x, np.full((1000, 1), 2.5)])
    r = ibscope.mutual_information(xc, y, estimator="copula")
    assert r.value == pytest.approx(ibscope.mutual_information(x, y, estimator="copula").value, abs=1e-12)
    assert any("constant column" in w and "left out" in w for w in r.warnings)
    assert np.isfinite(ibscope.mutual_information(xc, y, random_state=0).value)


# ------------------------------------------------------------------ the held-out candidates of the default
def _folded(n, seed):
    """Y depends on X through squares (non-monotone, symmetric): no elliptical copula sees it, KSG does."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    y = x ** 2 + 0.3 * rng.standard_normal((n, 2))
    return x, y


@pytest.mark.slow
def test_held_out_candidates_are_recorded_and_chosen_only_by_two_standard_errors():
    x, y = _folded(2000, 16)
    r = ibscope.mutual_information(x, y, random_state=0, ci=0.9, n_subsamples=6)
    info = r.extra["auto"]
    assert info["neural"]["ran"] and info["flow"]["ran"]
    assert set(info["candidates"]) == {"ksg", "copula", "flow", "infonce"}
    assert info["candidates"]["ksg"] > 1.1 * info["candidates"]["copula"]  # not elliptical
    held = {k: v - 2 * info["std_errs"][k] for k, v in info["candidates"].items() if k in ("flow", "infonce")}
    winners = [k for k, v in held.items() if v > info["baseline"]]
    expected = max(winners, key=lambda k: info["candidates"][k]) if winners else None
    assert info["chosen"] == (expected or max(("ksg", "copula"), key=lambda k: info["candidates"][k]))
    assert r.raw_value == pytest.approx(info["candidates"][info["chosen"]])
    assert r.ci_low <= r.value <= r.ci_high
    # (the default's seeded reproducibility: test_auto_invariant_to_monotone_maps_and_seeded) the InfoNCE candidate is InfoNCE with the default's settings, on the data as given (not on normal scores),
    # seeded from the call's seed
    from ibscope._random import child_seed
    from ibscope.estimators.auto import _NEURAL_SETTINGS
    from ibscope.estimators.neural import InfoNCE

    alone = InfoNCE(random_state=child_seed(r.seed, 2), **_NEURAL_SETTINGS).estimate(x, y)
    assert info["candidates"]["infonce"] == alone.raw_value


def test_held_out_candidates_off_and_not_run():
    x, y = _folded(2000, 17)
    off = ibscope.mutual_information(x, y, random_state=0, neural="never", flow="never")
    assert off.extra["auto"]["neural"] == {"ran": False, "why": "neural='never'"}
    assert off.extra["auto"]["flow"] == {"ran": False, "why": "flow='never'"}
    assert set(off.extra["auto"]["candidates"]) == {"ksg", "copula"}
    small = ibscope.mutual_information(x[:500], y[:500], random_state=0)
    assert small.extra["auto"]["neural"]["why"] == "not run: n=500 < 2000"
    assert small.extra["auto"]["flow"]["why"] == "not run: n=500 < 1000"
    g, h, _ = gaussian_pair(3000, 0.8, 1, seed=18)
    one = ibscope.mutual_information(g, h, random_state=0)
    assert not one.extra["auto"]["flow"]["ran"] and "both sides are 1-D" in one.extra["auto"]["flow"]["why"]
    with pytest.raises(ValueError, match=r"'neural' parameter of AutoMI must be one of \['always', 'auto', 'never'\]"):
        ibscope.mutual_information(g, h, neural="sometimes")
    with pytest.raises(ValueError, match=r"'flow' parameter of AutoMI must be one of \['always', 'auto', 'never'\]"):
        ibscope.mutual_information(g, h, flow="maybe")


def test_infonce_is_not_run_above_its_ceiling():
    """At 8 nats the baseline is above log(256) = 5.55 nats, which InfoNCE cannot exceed."""
    x, y, _ = gaussian_pair(3000, math.sqrt(1 - math.exp(-4.0)), 4, seed=12)
    r = ibscope.mutual_information(x, y, random_state=0, flow="never")
    assert not r.extra["auto"]["neural"]["ran"] and "ceiling" in r.extra["auto"]["neural"]["why"]
