"""Power, minimum detectable effect and sample size, for the registration form.

Before a pilot is approved, its team and the analyst should know whether it can
answer its own question: with this many units, how likely is it to detect the effect
we hope for (power); how big must an effect be to be detected (minimum detectable
effect); or how many units are needed. The form calls these functions live, so they
are fast and never raise on odd input: an impossible request returns a `Plan` with
`defined=False` and a reason code. Each `plan_*` function solves for whichever one
of effect, units per arm and power is left as None, with statsmodels' power classes
for two groups and a documented approximation for one series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy import stats as scipy_stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize
from statsmodels.stats.rates import power_poisson_ratio_2indep

# Search bounds for solving; a pilot needing more than this per arm is not a pilot.
MAX_UNITS_PER_ARM = 10_000_000


@dataclass(frozen=True)
class Plan:
    """A planning answer with the numbers a plain-language sentence needs.

    `effect` is in the metric's unit (difference in means, difference in
    proportions) or the rate ratio for rates; `standardised_effect` is Cohen's d
    (means) or h (proportions). `n_pilot` is rounded up from `n_pilot_exact`;
    `n_comparison` = ceil(ratio * n_pilot_exact). `defined=False` carries a `reason`
    code instead of numbers.
    """

    metric_type: str
    solved_for: str  # "n", "power" or "effect"
    defined: bool
    alpha: float | None
    power: float | None = None
    n_pilot: int | None = None
    n_comparison: int | None = None
    n_pilot_exact: float | None = None
    effect: float | None = None
    standardised_effect: float | None = None
    baseline: float | None = None
    method: str = ""
    reason: str | None = None


def _solved_for(effect, n, power) -> str | None:
    missing = [name for name, v in (("effect", effect), ("n", n), ("power", power)) if v is None]
    return missing[0] if len(missing) == 1 else None


def _undefined(metric_type, solved_for, alpha, reason, method, **numbers) -> Plan:
    return Plan(
        metric_type=metric_type,
        solved_for=solved_for or "",
        defined=False,
        alpha=alpha,
        method=method,
        reason=reason,
        **numbers,
    )


def _sizes(n_exact: float, ratio: float) -> tuple[int, int]:
    # A hair of tolerance so 64.0000000001 from a root finder is still 64.
    return math.ceil(n_exact - 1e-9), math.ceil(ratio * n_exact - 1e-9)


def _valid_common(alpha, power, ratio) -> str | None:
    if not 0 < alpha < 1:
        return "alpha_out_of_range"
    if power is not None and not alpha < power < 1:
        return "power_out_of_range"
    if not ratio > 0:
        return "ratio_out_of_range"
    return None


def plan_means(
    *,
    sd: float,
    difference: float | None = None,
    n_pilot: float | None = None,
    power: float | None = 0.8,
    alpha: float = 0.05,
    ratio: float = 1.0,
) -> Plan:
    """Two-sample t-test planning for a difference in means.

    Method: the noncentral-t power of the two-sample t-test (Cohen 1988, Statistical
    Power Analysis for the Behavioral Sciences, ch. 2; the values of Cohen 1992, "A
    power primer", Psychological Bulletin 112:155-159, Table 2) via statsmodels
    `TTestIndPower().solve_power(effect_size=d, nobs1=n, alpha=alpha, power=power,
    ratio=ratio, alternative="two-sided")`, with d = difference / sd. Leave exactly
    one of `difference`, `n_pilot`, `power` as None. `ratio` is comparison units per
    pilot unit. The test plans with a common sd; the analysis uses Welch, which
    loses little when the sds are similar.
    """
    solved_for = _solved_for(difference, n_pilot, power)
    method = "t_test_power"
    problem = _valid_common(alpha, power, ratio)
    if solved_for is None:
        problem = "leave_exactly_one_unknown"
    elif not sd > 0:
        problem = "sd_must_be_positive"
    elif difference is not None and difference == 0:
        problem = "effect_must_be_nonzero"
    elif n_pilot is not None and not n_pilot >= 2:
        problem = "too_few_units"
    if problem:
        return _undefined("mean", solved_for, alpha, problem, method)
    d = None if difference is None else abs(difference) / sd
    try:
        solved = TTestIndPower().solve_power(
            effect_size=d,
            nobs1=n_pilot,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative="two-sided",
        )
    except (ValueError, RuntimeError, ZeroDivisionError):
        return _undefined("mean", solved_for, alpha, "no_solution", method)
    return _finish("mean", solved_for, alpha, method, d, n_pilot, power, ratio, solved, sd)


def _finish(metric_type, solved_for, alpha, method, es, n, power, ratio, solved, scale):
    solved = float(np.squeeze(solved))
    if not math.isfinite(solved) or solved <= 0:
        return _undefined(metric_type, solved_for, alpha, "no_solution", method)
    if solved_for == "n":
        n = solved
    elif solved_for == "power":
        power = solved
    else:
        es = solved
    n_pilot, n_comparison = _sizes(n, ratio)
    return Plan(
        metric_type=metric_type,
        solved_for=solved_for,
        defined=True,
        alpha=alpha,
        power=power,
        n_pilot=n_pilot,
        n_comparison=n_comparison,
        n_pilot_exact=n,
        effect=es * scale,
        standardised_effect=es,
        method=method,
    )


def _proportion_from_h(baseline: float, h: float, direction: str) -> float | None:
    # Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2)); invert for the pilot's p.
    angle = 2 * math.asin(math.sqrt(baseline)) + (h if direction == "up" else -h)
    if not 0 <= angle <= math.pi:
        return None
    return math.sin(angle / 2) ** 2


def plan_proportions(
    *,
    baseline: float,
    difference: float | None = None,
    n_pilot: float | None = None,
    power: float | None = 0.8,
    alpha: float = 0.05,
    ratio: float = 1.0,
    direction: str = "up",
) -> Plan:
    """Planning for a difference in proportions, by Cohen's arcsine effect size h.

    Method: the normal approximation on the arcsine scale (Cohen 1988, ch. 6; Cohen
    1992 Table 2, test 4), via statsmodels `proportion_effectsize(p_pilot, baseline)`
    and `NormalIndPower().solve_power(..., alternative="two-sided")`. `baseline` is
    the comparison arm's expected proportion, `difference` the absolute change hoped
    for (0.10 = 10 percentage points). When solving for the effect, `direction` says
    whether the minimum detectable difference is above (`up`) or below (`down`) the
    baseline; `effect` is then the signed difference in proportions.
    """
    solved_for = _solved_for(difference, n_pilot, power)
    method = "normal_power_arcsine"
    problem = _valid_common(alpha, power, ratio)
    if solved_for is None:
        problem = "leave_exactly_one_unknown"
    elif not 0 < baseline < 1:
        problem = "baseline_out_of_range"
    elif difference is not None and (difference == 0 or not 0 <= baseline + difference <= 1):
        problem = "effect_out_of_range" if difference else "effect_must_be_nonzero"
    elif n_pilot is not None and not n_pilot >= 2:
        problem = "too_few_units"
    if problem:
        return _undefined("proportion", solved_for, alpha, problem, method, baseline=baseline)
    h = None
    if difference is not None:
        h = abs(float(proportion_effectsize(baseline + difference, baseline, method="normal")))
    try:
        solved = NormalIndPower().solve_power(
            effect_size=h,
            nobs1=n_pilot,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative="two-sided",
        )
    except (ValueError, RuntimeError, ZeroDivisionError):
        return _undefined("proportion", solved_for, alpha, "no_solution", method, baseline=baseline)
    plan = _finish("proportion", solved_for, alpha, method, h, n_pilot, power, ratio, solved, 1.0)
    if not plan.defined:
        return plan
    if solved_for == "effect":
        pilot = _proportion_from_h(baseline, plan.standardised_effect, direction)
        if pilot is None:
            return _undefined(
                "proportion", solved_for, alpha, "no_solution", method, baseline=baseline
            )
        effect = pilot - baseline
    else:
        effect = difference
    return Plan(**{**plan.__dict__, "effect": effect, "baseline": baseline})


def _rate_power(ratio_effect, baseline_rate, n, nobs_ratio, exposure, alpha, null_ratio):
    return float(
        power_poisson_ratio_2indep(
            baseline_rate * ratio_effect,
            baseline_rate,
            n,
            nobs_ratio=nobs_ratio,
            exposure=exposure,
            value=null_ratio,
            alpha=alpha,
            dispersion=1,
            alternative="two-sided",
            method_var="alt",
            return_results=False,
        )
    )


# How far from 1 the detectable rate ratio is looked for, step by step (log scale):
# ratios from 1.05 to 100, or from 1/1.05 to 1/100.
_RATIO_STEPS = (1e-9, *(math.log(r) for r in (1.05, 1.1, 1.25, 1.5, 2, 3, 5, 10, 20, 50, 100)))


def _ratio_bracket(gap_ratio, sign: int) -> tuple[float, float]:
    """The first step out from ratio 1 (on the log scale, `sign` the side) at which the
    power reaches its target, and the step before it: brentq's bracket for the ratio
    closest to 1 that the plan detects.

    Stepping, not one jump to the far edge: with the variance under the alternative
    (`method_var="alt"`), power falls again at extreme ratios as the pilot arm's
    expected events near 0 (0.8 per unit, 40 units: 0.98 at ratio 0.1, 0.74 at 0.01),
    so the far edge alone would wrongly say no ratio is detectable.
    """
    previous = sign * _RATIO_STEPS[0]
    for step in _RATIO_STEPS[1:]:
        if gap_ratio(sign * step) >= 0:
            return previous, sign * step
        previous = sign * step
    raise ValueError("beyond search range")


def plan_rates(
    *,
    baseline_rate: float,
    rate_ratio: float | None = None,
    n_pilot: float | None = None,
    power: float | None = 0.8,
    alpha: float = 0.05,
    ratio: float = 1.0,
    exposure: float = 1.0,
    null_ratio: float = 1.0,
    direction: str = "down",
) -> Plan:
    """Planning for a ratio of two Poisson rates (pilot / comparison).

    Method: the power of the two-sample Poisson rate-ratio test on the log scale
    (Zhu and Lakkis 2014; as in PASS, "Tests for the Ratio of Two Poisson Rates"),
    statsmodels `power_poisson_ratio_2indep(rate_pilot, baseline_rate, n, nobs_ratio=
    ratio, exposure=exposure, value=null_ratio, alternative="two-sided",
    dispersion=1)`. `exposure` is the exposure per unit (e.g. months followed), so a
    unit contributes `baseline_rate * exposure` expected events. Solving for n or
    the ratio uses a root finder on that power function; for the effect, `direction`
    says whether the detectable ratio lies below (`down`, fewer events) or above 1.
    Counts are assumed Poisson: overdispersed counts need more units.
    """
    solved_for = _solved_for(rate_ratio, n_pilot, power)
    method = "poisson_ratio_power"
    problem = _valid_common(alpha, power, ratio)
    if solved_for is None:
        problem = "leave_exactly_one_unknown"
    elif not baseline_rate > 0 or not exposure > 0:
        problem = "rate_must_be_positive"
    elif rate_ratio is not None and (not rate_ratio > 0 or rate_ratio == null_ratio):
        problem = "effect_out_of_range"
    elif n_pilot is not None and not n_pilot >= 2:
        problem = "too_few_units"
    if problem:
        return _undefined("rate", solved_for, alpha, problem, method, baseline=baseline_rate)
    args = (baseline_rate,)
    try:
        if solved_for == "power":
            rate_power = _rate_power(rate_ratio, *args, n_pilot, ratio, exposure, alpha, null_ratio)
            n, rr = float(n_pilot), rate_ratio
            power = rate_power
        elif solved_for == "n":

            def gap_n(n):
                return _rate_power(rate_ratio, *args, n, ratio, exposure, alpha, null_ratio) - power

            if gap_n(MAX_UNITS_PER_ARM) < 0:
                raise ValueError("beyond search range")
            n = optimize.brentq(gap_n, 2, MAX_UNITS_PER_ARM, xtol=1e-6)
            rr = rate_ratio
        else:

            def gap_ratio(log_rr):
                rr_ = math.exp(log_rr)
                return _rate_power(rr_, *args, n_pilot, ratio, exposure, alpha, null_ratio) - power

            sign = -1 if direction == "down" else 1
            near, far = _ratio_bracket(gap_ratio, sign)
            n, rr = (float(n_pilot), math.exp(optimize.brentq(gap_ratio, near, far, xtol=1e-10)))
    except (ValueError, RuntimeError, ZeroDivisionError, FloatingPointError):
        return _undefined("rate", solved_for, alpha, "no_solution", method, baseline=baseline_rate)
    n_p, n_c = _sizes(n, ratio)
    return Plan(
        metric_type="rate",
        solved_for=solved_for,
        defined=True,
        alpha=alpha,
        power=power,
        n_pilot=n_p,
        n_comparison=n_c,
        n_pilot_exact=n,
        effect=rr,
        standardised_effect=math.log(rr),
        baseline=baseline_rate,
        method=method,
    )


def _level_change_se_factor(n_before: int, n_after: int) -> float:
    """sqrt of the level-change element of (X'X)^-1 in y ~ t + post + (t - t0) * post."""
    t = np.arange(n_before + n_after, dtype=float)
    post = (t >= n_before).astype(float)
    x = np.column_stack([np.ones_like(t), t, post, (t - n_before) * post])
    return float(math.sqrt(np.linalg.inv(x.T @ x)[2, 2]))


def plan_pre_post(
    *,
    sd: float,
    n_before: int,
    n_after: int,
    level_change: float | None = None,
    power: float | None = 0.8,
    alpha: float = 0.05,
) -> Plan:
    """Approximate power or detectable level change for an interrupted time series.

    Approximation (documented, not exact): the segmented regression
    y ~ t + post + (t - t0) * post with independent normal errors of sd `sd` per
    period (Wagner, Soumerai, Zhang and Ross-Degnan 2002, "Segmented regression
    analysis of interrupted time series studies", J Clin Pharm Ther 27:299-309).
    The level change's standard error is sd * sqrt([(X'X)^-1]_level), and power uses
    the noncentral t on n - 4 degrees of freedom. Autocorrelated periods (common)
    make the real power lower than this, so read it as an upper bound. Solves for
    power or for the level change (leave that one None); the number of periods is
    an input, because the team chooses the duration, not a sample size.
    Not defined with fewer than 3 periods on either side.
    """
    solved_for = _solved_for(level_change, n_after, power)
    method = "segmented_regression_power_approx"
    if solved_for is None:
        return _undefined("pre_post", "", alpha, "leave_exactly_one_unknown", method)
    if n_before < 3 or n_after < 3:
        return _undefined("pre_post", solved_for, alpha, "too_few_periods", method)
    if not sd > 0 or not 0 < alpha < 1 or (power is not None and not alpha < power < 1):
        return _undefined("pre_post", solved_for, alpha, "invalid_input", method)
    se = sd * _level_change_se_factor(n_before, n_after)
    df = n_before + n_after - 4
    critical = float(scipy_stats.t.ppf(1 - alpha / 2, df))

    def power_at(change: float) -> float:
        nc = abs(change) / se
        # scipy's noncentral t returns NaN far in a tail; there the tail is 1 or 0.
        upper = float(scipy_stats.nct.sf(critical, df, nc))
        lower = float(scipy_stats.nct.cdf(-critical, df, nc))
        upper = 1.0 if math.isnan(upper) else upper
        lower = 0.0 if math.isnan(lower) else lower
        return min(1.0, upper + lower)

    if solved_for == "power":
        power = power_at(level_change)
    else:
        level_change = optimize.brentq(lambda c: power_at(c) - power, 1e-12 * se, 20 * se)
    return Plan(
        metric_type="pre_post",
        solved_for=solved_for,
        defined=True,
        alpha=alpha,
        power=power,
        n_pilot=n_after,
        n_comparison=n_before,
        effect=abs(level_change),
        standardised_effect=abs(level_change) / sd,
        method=method,
    )


def plan_spc(*, n_baseline: int) -> Plan:
    """Run charts have no power calculation here: an honest 'not defined'.

    An XmR chart with Making Data Count rules detects a shift by several rules at
    once (a point beyond the limits, runs, trends, two of three near a limit); their
    combined detection probability depends on the shift's size, timing and the
    autocorrelation, and no closed form is published that we can check against.
    What can be planned is the baseline: limits from fewer than 12 points are trial
    limits. Returns `defined=False` with reason "spc_no_power" (12 or more baseline
    points) or "spc_trial_limits" (fewer).
    """
    reason = "spc_no_power" if n_baseline >= 12 else "spc_trial_limits"
    return Plan(
        metric_type="spc",
        solved_for="",
        defined=False,
        alpha=None,
        n_comparison=n_baseline,
        method="xmr",
        reason=reason,
    )
