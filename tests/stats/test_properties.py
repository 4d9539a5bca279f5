"""Properties every two-group comparison must have, checked with hypothesis."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from statsmodels.stats import rates as sm_rates
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.weightstats import CompareMeans

from pilots.stats.judgement import probability_improved, verdict_from_interval
from pilots.stats.two_group import compare_means, compare_proportions, compare_rates

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

values = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
arm = st.lists(values, min_size=5, max_size=40)


def spread(xs):
    return float(np.std(xs)) > 1e-3 * (1 + float(np.max(np.abs(xs))))


@SETTINGS
@given(arm, arm)
def test_swapping_arms_flips_the_difference(a, b):
    assume(spread(a) and spread(b))
    ab, ba = compare_means(a, b), compare_means(b, a)
    assert ab.estimate == pytest.approx(-ba.estimate, abs=1e-9)
    assert ab.ci_low == pytest.approx(-ba.ci_high, rel=1e-9, abs=1e-9)
    assert ab.p_value == pytest.approx(ba.p_value, rel=1e-9, abs=1e-12)


@SETTINGS
@given(arm, arm, st.floats(min_value=-1e3, max_value=1e3))
def test_adding_a_constant_changes_nothing(a, b, shift):
    assume(spread(a) and spread(b))
    plain = compare_means(a, b)
    shifted = compare_means([x + shift for x in a], [x + shift for x in b])
    scale = 1 + max(abs(x) for x in a + b) + abs(shift)
    assert shifted.estimate == pytest.approx(plain.estimate, abs=1e-9 * scale)
    assert shifted.ci_low == pytest.approx(plain.ci_low, abs=1e-8 * scale)
    assert shifted.p_value == pytest.approx(plain.p_value, abs=1e-6)


@SETTINGS
@given(arm, arm, st.floats(min_value=1e-2, max_value=1e2))
def test_multiplying_rescales_estimate_and_interval(a, b, factor):
    assume(spread(a) and spread(b))
    plain = compare_means(a, b)
    scaled = compare_means([x * factor for x in a], [x * factor for x in b])
    assert scaled.estimate == pytest.approx(plain.estimate * factor, rel=1e-7, abs=1e-7)
    assert scaled.ci_low == pytest.approx(plain.ci_low * factor, rel=1e-7, abs=1e-7)
    assert scaled.ci_high == pytest.approx(plain.ci_high * factor, rel=1e-7, abs=1e-7)
    assert scaled.p_value == pytest.approx(plain.p_value, abs=1e-7)


@SETTINGS
@given(arm, arm)
def test_means_agree_with_direct_statsmodels(a, b):
    assume(spread(a) and spread(b))
    direct = CompareMeans.from_data(a, b)
    _, p, _ = direct.ttest_ind(usevar="unequal")
    low, high = direct.tconfint_diff(usevar="unequal")
    ours = compare_means(a, b)
    assert (ours.ci_low, ours.ci_high, ours.p_value) == pytest.approx((low, high, p))


counts = st.integers(min_value=5, max_value=400).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@SETTINGS
@given(counts, counts)
def test_swapping_proportion_arms_mirrors_the_interval(a, b):
    ab, ba = compare_proportions(*a, *b), compare_proportions(*b, *a)
    assert ab.estimate == pytest.approx(-ba.estimate, abs=1e-12)
    assert ab.ci_low == pytest.approx(-ba.ci_high, abs=1e-9)
    assert ab.ci_high == pytest.approx(-ba.ci_low, abs=1e-9)
    direct = confint_proportions_2indep(*a, *b, method="newcomb", compare="diff")
    assert (ab.ci_low, ab.ci_high) == pytest.approx(direct)
    assert ab.ci_low <= ab.estimate <= ab.ci_high


rate_arm = st.tuples(
    st.integers(min_value=1, max_value=500), st.floats(min_value=1.0, max_value=1e5)
)


@SETTINGS
@given(rate_arm, rate_arm)
def test_swapping_rate_arms_inverts_the_ratio(a, b):
    ab, ba = compare_rates(*a, *b), compare_rates(*b, *a)
    assert ab.estimate == pytest.approx(1 / ba.estimate, rel=1e-9)
    assert ab.p_value == pytest.approx(ba.p_value, rel=1e-6, abs=1e-12)
    ci = sm_rates.confint_poisson_2indep(*a, *b, method="score", compare="ratio")
    # statsmodels' Nelder-Mead stops at xtol 1e-8 on the ratio; ours is closed form.
    assert (ab.ci_low, ab.ci_high) == pytest.approx(ci, rel=1e-6, abs=1e-7)
    test = sm_rates.test_poisson_2indep(*a, *b, method="score", compare="ratio")
    assert ab.p_value == pytest.approx(test.pvalue)


@SETTINGS
@given(rate_arm, rate_arm, st.floats(min_value=0.01, max_value=100))
def test_rescaling_exposure_leaves_the_ratio(a, b, factor):
    plain = compare_rates(*a, *b)
    scaled = compare_rates(a[0], a[1] * factor, b[0], b[1] * factor)
    assert scaled.estimate == pytest.approx(plain.estimate, rel=1e-9)
    assert scaled.ci_low == pytest.approx(plain.ci_low, rel=1e-6)


@SETTINGS
@given(values, st.floats(min_value=0.01, max_value=100), st.floats(min_value=0.01, max_value=100))
def test_flipping_direction_swaps_improved_and_worsened(centre, half, se):
    low, high = centre - half, centre + half
    up = verdict_from_interval(centre, low, high, direction="up").verdict
    down = verdict_from_interval(centre, low, high, direction="down").verdict
    swap = {"improved": "worsened", "worsened": "improved", "no_clear_change": "no_clear_change"}
    assert down == swap[up]
    p_up = probability_improved(centre, se, direction="up")
    p_down = probability_improved(centre, se, direction="down")
    assert p_up + p_down == pytest.approx(1.0)
    assert math.isfinite(p_up)
