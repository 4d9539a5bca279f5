"""Planning: Cohen (1992), R pwr values and PASS values as used in statsmodels' tests."""

import math

import numpy as np
import pytest
import statsmodels.api as sm

from pilots.stats.planning import (
    _level_change_se_factor,
    plan_means,
    plan_pre_post,
    plan_proportions,
    plan_rates,
    plan_spc,
)

# Cohen (1992), "A power primer", Psychol Bull 112:155-159, Table 2, test 1 (mean
# difference, two-sided), n per group for power .80 at small/medium/large d. Cohen's
# table rounds the exact solution to the nearest unit; the app rounds up.
COHEN_TEST_1 = [
    (0.01, 0.2, 586),
    (0.01, 0.5, 95),
    (0.01, 0.8, 38),
    (0.05, 0.2, 393),
    (0.05, 0.5, 64),
    (0.05, 0.8, 26),
    (0.10, 0.2, 310),
    (0.10, 0.5, 50),
    (0.10, 0.8, 20),
]


@pytest.mark.parametrize(("alpha", "d", "n"), COHEN_TEST_1)
def test_cohen_table_2_means(alpha, d, n):
    plan = plan_means(sd=1.0, difference=d, alpha=alpha, power=0.8)
    assert plan.defined and plan.solved_for == "n"
    assert round(plan.n_pilot_exact) == n
    assert plan.n_pilot == math.ceil(plan.n_pilot_exact) == plan.n_comparison


def test_cohen_table_2_in_the_metric_unit():
    # d = 0.5 with sd 12 minutes is a 6-minute difference: still 64 per group.
    plan = plan_means(sd=12.0, difference=6.0)
    assert round(plan.n_pilot_exact) == 64 and plan.effect == 6.0


@pytest.mark.parametrize(("h", "n"), [(0.2, 392), (0.5, 63), (0.8, 25)])
def test_cohen_table_2_proportions(h, n):
    # Cohen (1992) Table 2, test 4 (p_A - p_B, arcsine h), alpha .05, power .80.
    # Choose proportions whose h is exactly the table's: p = sin(asin(sqrt(.5)) + h/2)^2.
    baseline = 0.5
    pilot = math.sin(math.asin(math.sqrt(baseline)) + h / 2) ** 2
    plan = plan_proportions(baseline=baseline, difference=pilot - baseline)
    assert plan.standardised_effect == pytest.approx(h)
    assert round(plan.n_pilot_exact) == n


def test_power_matches_r_pwr():
    # statsmodels/stats/tests/test_power.py, TestTTPowerTwoS1: R
    # pwr.t.test(d=1, n=30, sig.level=0.05, type="two.sample") -> 0.967708258242517.
    plan = plan_means(sd=2.0, difference=2.0, n_pilot=30, power=None)
    assert plan.power == pytest.approx(0.967708258242517, abs=1e-10)
    # test_power.py, TestNormalIndPower1 / R pwr.2p.test(h=0.3, n=80) -> 0.475100870572638.
    h = 0.3
    pilot = math.sin(math.asin(math.sqrt(0.4)) + h / 2) ** 2
    plan = plan_proportions(baseline=0.4, difference=pilot - 0.4, n_pilot=80, power=None)
    assert plan.power == pytest.approx(0.475100870572638, abs=1e-10)


@pytest.mark.parametrize(
    ("rate_pilot", "n", "power"),
    [(1.8, 29, 0.90056), (1.9, 39, 0.90649), (2.2, 115, 0.90014), (2.4, 404, 0.90064)],
)
def test_rate_power_matches_pass(rate_pilot, n, power):
    # statsmodels/stats/tests/test_rates_poisson.py, test_poisson_power_2ratio
    # ("power compared to PASS documentation"): comparison rate 2.2, exposure 2.5,
    # null ratio 1.2, two-sided alpha 0.05 (same as one-sided 0.025 here).
    plan = plan_rates(
        baseline_rate=2.2,
        rate_ratio=rate_pilot / 2.2,
        n_pilot=n,
        power=None,
        exposure=2.5,
        null_ratio=1.2,
    )
    assert plan.power == pytest.approx(power, abs=5e-5)


@pytest.mark.parametrize("metric", ["mean", "proportion", "rate"])
def test_solving_round_trips(metric):
    if metric == "mean":
        n_plan = plan_means(sd=3.0, difference=1.5, power=0.9)
        back = plan_means(sd=3.0, n_pilot=n_plan.n_pilot_exact, power=0.9, difference=None)
        assert back.effect == pytest.approx(1.5, rel=1e-6)
    elif metric == "proportion":
        n_plan = plan_proportions(baseline=0.3, difference=0.15, power=0.9)
        back = plan_proportions(
            baseline=0.3, n_pilot=n_plan.n_pilot_exact, power=0.9, difference=None
        )
        assert back.effect == pytest.approx(0.15, rel=1e-5)
    else:
        n_plan = plan_rates(baseline_rate=0.4, rate_ratio=0.7, power=0.9)
        back = plan_rates(baseline_rate=0.4, n_pilot=n_plan.n_pilot_exact, power=0.9)
        assert back.effect == pytest.approx(0.7, rel=1e-5)
    assert n_plan.power == 0.9 and n_plan.n_pilot >= n_plan.n_pilot_exact


@pytest.mark.parametrize(("level", "n"), [(0.8, 40), (0.3, 100), (2.0, 10)])
def test_a_detectable_fall_in_a_rate_is_found_though_power_falls_again_near_zero(level, n):
    """With the variance under the alternative, power falls again as the pilot arm's
    rate nears 0 (0.8 per unit, 40 units: 0.74 at ratio 0.01). The detectable fall is
    the ratio closest to 1 with 80 % power, and solving back for n gives n."""
    plan = plan_rates(baseline_rate=level, n_pilot=n, direction="down")
    assert plan.defined and 0.01 < plan.effect < 1
    assert plan_rates(baseline_rate=level, rate_ratio=plan.effect, n_pilot=n, power=None).power == (
        pytest.approx(0.8, abs=1e-6)
    )
    back = plan_rates(baseline_rate=level, rate_ratio=plan.effect)
    assert back.n_pilot_exact == pytest.approx(n, rel=1e-5)
    # why one jump to the edge of the search (ratio 1/100) found nothing
    edge = plan_rates(baseline_rate=0.8, rate_ratio=0.01, n_pilot=40, power=None)
    assert edge.power < 0.8


def test_unequal_arms():
    plan = plan_means(sd=1.0, difference=0.5, ratio=2.0)
    assert plan.n_comparison == math.ceil(2 * plan.n_pilot_exact)
    assert plan.n_pilot < 64  # the bigger comparison arm lets the pilot arm shrink


def test_impossible_requests_are_not_defined():
    assert plan_means(sd=1.0, difference=0.0).reason == "effect_must_be_nonzero"
    assert plan_means(sd=0.0, difference=1.0).reason == "sd_must_be_positive"
    assert plan_means(sd=1.0, difference=1.0, n_pilot=10).reason == "leave_exactly_one_unknown"
    assert plan_proportions(baseline=0.9, difference=0.2).reason == "effect_out_of_range"
    assert plan_proportions(baseline=1.0, difference=0.0).reason == "baseline_out_of_range"
    assert not plan_proportions(baseline=0.95, n_pilot=10).defined  # nothing above 1
    assert plan_rates(baseline_rate=0.0, rate_ratio=0.5).reason == "rate_must_be_positive"
    assert plan_means(sd=1.0, difference=0.5, power=1.2).reason == "power_out_of_range"


def test_pre_post_standard_error_matches_ols():
    # The planning shortcut must equal the segmented regression's own standard error
    # of the level change (statsmodels OLS, non-robust) for the same design.
    rng = np.random.default_rng(5)
    n_before, n_after = 10, 8
    t = np.arange(n_before + n_after, dtype=float)
    post = (t >= n_before).astype(float)
    x = sm.add_constant(np.column_stack([t, post, (t - n_before) * post]))
    y = 5 + 0.1 * t + rng.normal(size=t.size)
    fit = sm.OLS(y, x).fit()
    sigma = math.sqrt(fit.scale)
    assert sigma * _level_change_se_factor(n_before, n_after) == pytest.approx(fit.bse[2])


def test_pre_post_power_grows_with_the_change_and_needs_periods():
    small = plan_pre_post(sd=1.0, n_before=12, n_after=12, level_change=0.5, power=None)
    large = plan_pre_post(sd=1.0, n_before=12, n_after=12, level_change=2.0, power=None)
    assert small.power < large.power < 1
    mde = plan_pre_post(sd=1.0, n_before=12, n_after=12)
    check = plan_pre_post(sd=1.0, n_before=12, n_after=12, level_change=mde.effect, power=None)
    assert check.power == pytest.approx(0.8, abs=1e-6)
    assert plan_pre_post(sd=1.0, n_before=2, n_after=12).reason == "too_few_periods"


def test_spc_planning_is_honestly_not_defined():
    assert plan_spc(n_baseline=20).reason == "spc_no_power"
    assert plan_spc(n_baseline=8).reason == "spc_trial_limits"
    assert not plan_spc(n_baseline=20).defined
