"""two_group methods: published worked examples first, then each data-quality rule."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from statsmodels.stats import rates
from statsmodels.stats.weightstats import CompareMeans

from pilots.stats import quality, two_group
from pilots.stats.two_group import (
    SRM_P_THRESHOLD,
    compare_means,
    compare_means_cuped,
    compare_proportion_units,
    compare_proportions,
    compare_rates,
    cuped_adjust,
    relative_lift,
    sample_ratio_check,
)


def codes(estimate):
    return [w.code for w in estimate.warnings]


def sample_with_moments(n, mean, sd, seed):
    """n values whose sample mean and SD (ddof=1) are exactly `mean` and `sd`.

    Welch's t depends on the data only through n, mean and SD, so this reproduces
    examples published as summary statistics.
    """
    z = np.random.default_rng(seed).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return list(mean + sd * z)


# --- means: Welch ------------------------------------------------------------------------

# Student (1908) sleep data, as printed by R's `t.test(extra ~ group, data = sleep)`
# (R documentation example for t.test; Welch is R's default):
# t = -1.8608, df = 17.776, p-value = 0.07939,
# 95 percent confidence interval: -3.3654832  0.2054832; means 0.75 and 2.33.
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_welch_reproduces_r_sleep_example():
    result = compare_means(SLEEP_1, SLEEP_2)
    assert result.method == "welch_t"
    assert round(result.details["t"], 4) == -1.8608
    assert round(result.details["df"], 3) == 17.776
    assert round(result.p_value, 5) == 0.07939
    assert round(result.ci_low, 7) == -3.3654832
    assert round(result.ci_high, 7) == 0.2054832
    assert round(result.estimate, 2) == 0.75 - 2.33
    assert result.sufficient and result.warnings == ()


def test_welch_reproduces_scipy_r_values_even_below_the_unit_threshold():
    # statsmodels/stats/tests/test_weightstats.py, test_ttest_ind_with_uneq_var
    # ("from scipy, check vs. R"): t = -0.68649512735572582, p = 0.53619490753126731.
    result = compare_means([1, 2, 3], [1.1, 2.9, 4.2])
    assert result.details["t"] == pytest.approx(-0.68649512735572582, abs=1e-13)
    assert result.p_value == pytest.approx(0.53619490753126731, abs=1e-13)
    # Three units per arm: numbers for the analyst, but no verdict.
    assert not result.sufficient
    assert codes(result) == [quality.TOO_FEW_UNITS, quality.TOO_FEW_UNITS]


def test_welch_reproduces_growthbook_absolute_example():
    # growthbook/growthbook packages/stats/tests/frequentist/test_tests.py,
    # TestTwoSidedTTest.test_two_sided_ttest_absolute: control mean 0.41, sd 3.9,
    # n 3407; variation mean 0.7, sd 6.2, n 3461 -> ci (0.04538, 0.53462),
    # p 0.02016, stddev 0.12478.
    pilot = sample_with_moments(3461, 0.7, 6.2, seed=1)
    comparison = sample_with_moments(3407, 0.41, 3.9, seed=2)
    result = compare_means(pilot, comparison)
    assert round(result.estimate, 5) == 0.29
    assert (round(result.ci_low, 5), round(result.ci_high, 5)) == (0.04538, 0.53462)
    assert round(result.p_value, 5) == 0.02016
    assert round(result.se, 5) == 0.12478
    # The same test file, test_two_sided_ttest (relative): expected 0.70732,
    # ci (-0.03526, 1.44989), uplift stddev 0.37879, p 0.06191.
    assert round(result.details["relative_lift"], 5) == 0.70732
    assert round(result.details["relative_lift_se"], 5) == 0.37879
    assert round(result.details["relative_lift_ci_low"], 5) == -0.03526
    assert round(result.details["relative_lift_ci_high"], 5) == 1.44989


def test_relative_lift_reproduces_growthbook_examples():
    # growthbook/growthbook packages/stats/tests/frequentist/test_tests.py,
    # test_two_sided_ttest: relative lift 0.70732, ci (-0.03526, 1.44989),
    # stddev 0.37879, p 0.06191 (sd 3.9 and 6.2 are sqrt of the variances).
    lift = relative_lift(0.7, 6.2**2, 3461, 0.41, 3.9**2, 3407)
    assert round(lift.estimate, 5) == 0.70732
    assert round(lift.se, 5) == 0.37879
    assert (round(lift.ci_low, 5), round(lift.ci_high, 5)) == (-0.03526, 1.44989)
    assert round(lift.p_value, 5) == 0.06191
    # Same file, test_two_sided_ttest_binom: 14/28 vs 16/30 -> expected 0.06667,
    # ci (-0.47767, 0.61101), stddev 0.2717, p 0.80707, with var = p(1 - p).
    a, b = 14 / 28, 16 / 30
    lift = relative_lift(b, b * (1 - b), 30, a, a * (1 - a), 28)
    assert round(lift.estimate, 5) == 0.06667
    assert round(lift.se, 5) == 0.2717
    assert (round(lift.ci_low, 5), round(lift.ci_high, 5)) == (-0.47767, 0.61101)
    assert round(lift.p_value, 5) == 0.80707


def test_relative_lift_uses_the_absolute_baseline_and_refuses_zero():
    # (B - A) / |A|: a rise from -2 to -1 is a positive lift of 50 %.
    assert relative_lift(-1.0, 1.0, 50, -2.0, 1.0, 50).estimate == pytest.approx(0.5)
    zero = relative_lift(1.0, 1.0, 50, 0.0, 1.0, 50)
    assert not zero.sufficient and codes(zero) == [quality.ZERO_BASELINE]


# --- proportions: Newcombe ---------------------------------------------------------------

# Newcombe (1998), Stat Med 17:873-890, Table II, method 10 (score, no continuity
# correction = the hybrid score interval), examples (a) to (h), printed to 4 decimals.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "interval"), NEWCOMBE_TABLE_II)
def test_newcombe_table_ii_method_10(counts, interval):
    result = compare_proportions(*counts)
    assert result.method == "newcombe_diff"
    assert result.estimate == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    assert (round(result.ci_low, 4), round(result.ci_high, 4)) == interval


def test_newcombe_example_a_difference_and_score_test():
    # Table II example (a): 56/70 - 48/80 = 0.2000. The Miettinen-Nurminen score
    # test must agree with the interval that zero is excluded.
    result = compare_proportions(56, 70, 48, 80)
    assert round(result.estimate, 4) == 0.2
    assert result.p_value < 0.05
    assert result.sufficient


def test_proportions_from_unit_rows_equal_the_counts():
    pilot = [1] * 9 + [0]
    comparison = [1] * 3 + [0] * 7
    from_units = compare_proportion_units(pilot, comparison)
    from_counts = compare_proportions(9, 10, 3, 10)
    assert (from_units.ci_low, from_units.ci_high) == (from_counts.ci_low, from_counts.ci_high)
    assert from_units.p_value == from_counts.p_value


def test_all_or_none_keeps_the_interval_but_warns_and_has_no_p_value():
    result = compare_proportions(0, 10, 0, 20)
    assert codes(result) == [quality.ALL_OR_NONE]
    assert result.p_value is None  # the score test divides by zero here
    assert result.ci_low < 0 < result.ci_high
    assert result.se > 0  # Agresti-Caffo adjusted


def test_zero_trials_and_impossible_counts_are_insufficient():
    zero = compare_proportions(0, 0, 3, 10)
    assert not zero.sufficient and codes(zero) == [quality.ZERO_TRIALS]
    assert zero.estimate is None and zero.ci_low is None
    impossible = compare_proportions(12, 10, 3, 10)
    assert not impossible.sufficient and codes(impossible) == [quality.INVALID_COUNTS]


def test_too_few_trials_are_insufficient():
    result = compare_proportions(2, 4, 1, 10)
    assert not result.sufficient
    assert codes(result) == [quality.TOO_FEW_UNITS]
    assert result.warnings[0].params == {"arm": "pilot", "n": 4, "minimum": 5}


def test_non_binary_unit_rows_are_left_out_and_make_it_insufficient():
    result = compare_proportion_units([1, 0, 1, 1, 2, 0], [0, 0, 1, 0, 0])
    assert codes(result)[0] == quality.NOT_BINARY
    assert result.n_pilot == 5
    assert not result.sufficient


# --- rates: Poisson score ----------------------------------------------------------------


def test_poisson_score_reproduces_gu_et_al_example_1():
    # Gu, Ng, Tang and Schucany (2008), Biometrical Journal 50:283-298, example 1:
    # 60 events in 51477.5 vs 30 in 54308.7 person-years; score test one-sided
    # p = 0.000316 (two-sided: twice that). As checked in statsmodels
    # statsmodels/stats/tests/test_rates_poisson.py, test_twosample_poisson
    # (tolerance 5e-6), with the statistic 3.417402.
    result = compare_rates(60, 51477.5, 30, 54308.7)
    assert result.method == "poisson_score_ratio"
    assert result.p_value == pytest.approx(2 * 0.000316, abs=5e-6)
    assert round(result.estimate, 4) == round((60 / 51477.5) / (30 / 54308.7), 4) == 2.1100
    # statsmodels test_rates_poisson.py, test_confint_poisson_2indep: score
    # interval for the same data, (1.365962, 3.259306).
    assert (round(result.ci_low, 6), round(result.ci_high, 6)) == (1.365962, 3.259306)
    assert result.details["scale"] == "log"
    assert result.se == pytest.approx(math.sqrt(1 / 60 + 1 / 30))
    assert result.n == 90


def test_rate_with_one_empty_arm_switches_to_mover_interval():
    # statsmodels' score interval collapses to a point here; MOVER keeps 0 as the
    # lower bound of the ratio, as it must be when the pilot arm had no events.
    result = compare_rates(0, 10, 5, 20)
    assert result.details["ci_method"] == "mover"
    assert result.ci_low == 0 and result.ci_high > 1
    assert quality.NO_EVENTS_IN_ARM in codes(result)


def test_rates_without_events_or_exposure_are_insufficient():
    none = compare_rates(0, 10, 0, 20)
    assert not none.sufficient and codes(none) == [quality.NO_EVENTS_IN_ARM]
    no_exposure = compare_rates(3, 0, 5, 10)
    assert not no_exposure.sufficient and codes(no_exposure) == [quality.ZERO_EXPOSURE]
    few = compare_rates(2, 10, 1, 10)
    assert not few.sufficient and codes(few) == [quality.TOO_FEW_EVENTS]
    negative = compare_rates(-1, 10, 4, 10)
    assert not negative.sufficient and codes(negative) == [quality.INVALID_COUNTS]


# --- data quality for means --------------------------------------------------------------


def test_fewer_than_two_units_gives_no_numbers():
    result = compare_means([1.0], [2.0, 3.0, 4.0])
    assert not result.sufficient
    assert result.ci_low is None and result.p_value is None
    assert result.estimate == pytest.approx(1.0 - 3.0)
    empty = compare_means([], [1.0, 2.0])
    assert empty.estimate is None and not empty.sufficient


def test_four_units_compute_but_are_insufficient_five_are_enough():
    four = compare_means([1, 2, 3, 4], [2, 3, 4, 5, 6])
    assert not four.sufficient and four.ci_low is not None
    assert four.warnings[0].params == {"arm": "pilot", "n": 4, "minimum": 5}
    five = compare_means([1, 2, 3, 4, 5], [2, 3, 4, 5, 6])
    assert five.sufficient and five.warnings == ()


def test_zero_variance_in_both_arms_is_insufficient():
    result = compare_means([3.0] * 6, [5.0] * 6)
    assert not result.sufficient
    assert codes(result) == [quality.ZERO_VARIANCE]
    assert result.estimate == -2.0 and result.ci_low is None


def test_zero_variance_in_one_arm_still_answers():
    result = compare_means([3.0] * 6, [4.0, 5.0, 6.0, 5.0, 4.0, 6.0])
    assert result.sufficient and result.ci_high < 0


def test_non_finite_values_are_dropped_with_a_warning():
    result = compare_means([1, 2, float("nan"), 3, 4, 5, None], [2, 3, 4, 5, 6])
    assert codes(result) == [quality.NON_FINITE_VALUES]
    assert result.warnings[0].params == {"arm": "pilot", "count": 2}
    assert result.n_pilot == 5 and result.sufficient


def test_values_outside_the_possible_range_block_the_verdict():
    result = compare_means([1, 2, 3, 4, 120], [2, 3, 4, 5, 6], min_value=0, max_value=100)
    assert codes(result) == [quality.VALUE_OUT_OF_RANGE]
    assert result.warnings[0].params["above"] == 1
    assert not result.sufficient
    assert result.ci_low is not None  # the analyst still sees the numbers


# --- CUPED -------------------------------------------------------------------------------


def cuped_data(seed=3, n=60, effect=0.5):
    rng = np.random.default_rng(seed)
    pre = rng.normal(10, 2, size=2 * n)
    post = 2 + 0.8 * pre + rng.normal(0, 1, size=2 * n)
    post[:n] += effect
    return post[:n], pre[:n], post[n:], pre[n:]


def test_cuped_theta_is_the_pooled_regression_slope():
    # Deng et al. (2013): theta = cov(Y, X) / var(X), which is the OLS slope of the
    # post values on the pre values over both arms together.
    pilot_post, pilot_pre, comp_post, comp_pre = cuped_data()
    adjusted = cuped_adjust(pilot_post, pilot_pre, comp_post, comp_pre)
    slope = np.polyfit(np.r_[pilot_pre, comp_pre], np.r_[pilot_post, comp_post], 1)[0]
    assert adjusted.theta == pytest.approx(slope, rel=1e-12)
    # The adjusted difference is the raw difference minus theta times the pre-period
    # difference between arms.
    raw = np.mean(pilot_post) - np.mean(comp_post)
    pre_gap = np.mean(pilot_pre) - np.mean(comp_pre)
    cuped = np.mean(adjusted.pilot) - np.mean(adjusted.comparison)
    assert cuped == pytest.approx(raw - adjusted.theta * pre_gap, rel=1e-12)
    # The variance removed is the squared pooled correlation.
    r = np.corrcoef(np.r_[pilot_pre, comp_pre], np.r_[pilot_post, comp_post])[0, 1]
    assert adjusted.variance_reduction == pytest.approx(r**2, rel=1e-9)


def test_cuped_narrows_the_interval():
    data = cuped_data()
    plain = compare_means(data[0], data[2])
    adjusted = compare_means_cuped(*data)
    assert adjusted.method == "welch_t_cuped"
    assert adjusted.ci_high - adjusted.ci_low < 0.7 * (plain.ci_high - plain.ci_low)
    assert adjusted.details["cuped_theta"] == pytest.approx(0.8, abs=0.15)


def test_cuped_drops_units_without_a_pre_value():
    pilot_post, pilot_pre, comp_post, comp_pre = (list(x) for x in cuped_data())
    pilot_pre[0] = float("nan")
    result = compare_means_cuped(pilot_post, pilot_pre, comp_post, comp_pre)
    assert codes(result)[0] == quality.PRE_PERIOD_MISMATCH
    assert result.n_pilot == len(pilot_post) - 1


# --- sample-ratio mismatch ---------------------------------------------------------------


def test_srm_flags_a_clear_mismatch_only():
    # Pearson chi-squared by hand: 500 vs 400 against 450/450 gives
    # chi2 = 2 * 50^2 / 450 = 11.11, p = erfc(sqrt(11.11 / 2)) = 0.000858 < 0.001.
    warning = sample_ratio_check(500, 400)
    assert warning.code == quality.SAMPLE_RATIO_MISMATCH
    assert warning.params["chi2"] == pytest.approx(100 / 9)
    assert warning.params["p_value"] == pytest.approx(math.erfc(math.sqrt(50 / 9)))
    assert warning.params["p_value"] < SRM_P_THRESHOLD == 0.001
    # 480 vs 420: chi2 = 4, p = 0.0455 -- odd, but not alarming at 0.001.
    assert sample_ratio_check(480, 420) is None


def test_srm_uses_the_planned_split():
    assert sample_ratio_check(600, 300, planned_pilot_share=2 / 3) is None
    assert sample_ratio_check(450, 450, planned_pilot_share=2 / 3) is not None


@settings(max_examples=40, deadline=None)
@given(
    c1=st.integers(min_value=1, max_value=500),
    c2=st.integers(min_value=1, max_value=500),
    t1=st.floats(min_value=1, max_value=1e5),
    t2=st.floats(min_value=1, max_value=1e5),
)
def test_rate_score_interval_and_test_equal_statsmodels(c1, c2, t1, t2):
    """The closed-form score interval and test equal statsmodels' numerical ones.

    Reference: statsmodels 0.15 `confint_poisson_2indep(method="score",
    compare="ratio")` (Nelder-Mead, xtol 1e-8) and `test_poisson_2indep(method="score",
    compare="ratio")`, which this module called before (Gu et al. 2008).
    """
    result = compare_rates(c1, t1, c2, t2)
    low, high = rates.confint_poisson_2indep(c1, t1, c2, t2, method="score", compare="ratio")
    # statsmodels stops at xtol 1e-8 on the ratio itself, so compare within that.
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-6, abs=1e-7)

    def p_at(ratio):
        test = rates.test_poisson_2indep(c1, t1, c2, t2, value=ratio, method="score")
        return test.pvalue

    # The ends are exact: there the score test has p = alpha.
    assert p_at(result.ci_low) == pytest.approx(0.05, rel=1e-8)
    assert p_at(result.ci_high) == pytest.approx(0.05, rel=1e-8)
    assert result.p_value == pytest.approx(p_at(1), rel=1e-9, abs=1e-300)


def test_variances_too_small_to_tell_from_zero_are_zero_variance_not_an_error():
    # Found by the property test below: each variance divided by n underflows to 0.
    tiny = [0.0, 0.0, 0.0, 0.0, 6e-162]  # a variance of 5e-324, 0 once divided by 5
    result = compare_means(tiny, list(reversed(tiny)))
    assert result.sufficient is False and result.p_value is None
    assert [w.code for w in result.warnings] == ["zero_variance"]
    assert two_group._welch_df(5e-324, 5, 5e-324, 5) == 4.0  # and no division by zero


@settings(max_examples=40, deadline=None)
@given(
    pilot=st.lists(st.floats(min_value=-100, max_value=100), min_size=5, max_size=30),
    comparison=st.lists(st.floats(min_value=-100, max_value=100), min_size=5, max_size=30),
)
def test_welch_equals_statsmodels(pilot, comparison):
    """Reference: statsmodels 0.15 `CompareMeans(...).ttest_ind(usevar="unequal")`."""
    result = compare_means(pilot, comparison)
    assume(result.p_value is not None and np.var(pilot) > 1e-6 and np.var(comparison) > 1e-6)
    compared = CompareMeans.from_data(pilot, comparison)
    _, p_value, df = compared.ttest_ind(usevar="unequal")
    low, high = compared.tconfint_diff(usevar="unequal")
    assert result.p_value == pytest.approx(p_value, rel=1e-8, abs=1e-300)
    assert result.details["df"] == pytest.approx(df, rel=1e-10)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-9, abs=1e-9)
