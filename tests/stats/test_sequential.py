"""Always-valid confidence sequences: GrowthBook's own test values and Howard et al."""

import math

import pytest
from scipy import stats

from pilots.stats.sequential import (
    DEFAULT_TUNING,
    confidence_sequence,
    mixture_halfwidth,
    mixture_rho,
)


def growthbook_lift(mean_a, var_a, n_a, mean_b, var_b, n_b):
    lift = mean_b / mean_a - 1
    variance = var_b / (n_b * mean_a**2) + var_a * mean_b**2 / (n_a * mean_a**4)
    return lift, math.sqrt(variance)


def test_reproduces_growthbook_sequential_means_example():
    # growthbook/growthbook packages/stats/tests/frequentist/test_tests.py,
    # TestSequentialTTest.test_sequential_test_runs: SampleMeanStatistic
    # (sum 1396.87, sum_squares 52377.9767, n 3000) vs (2422.7, 134698.29, 3461),
    # tuning 1000 -> expected 0.50336, ci (-0.55844, 1.56516), stddev 0.33341.
    mean_a = 1396.87 / 3000
    var_a = (52377.9767 - 1396.87**2 / 3000) / 2999
    mean_b = 2422.7 / 3461
    var_b = (134698.29 - 2422.7**2 / 3461) / 3460
    lift, se = growthbook_lift(mean_a, var_a, 3000, mean_b, var_b, 3461)
    assert (round(lift, 5), round(se, 5)) == (0.50336, 0.33341)
    interval = confidence_sequence(lift, se, 3000 + 3461, tuning=1000)
    assert (round(interval.low, 5), round(interval.high, 5)) == (-0.55844, 1.56516)


def test_reproduces_growthbook_sequential_proportion_example():
    # Same file, test_sequential_test_runs_prop: ProportionStatistic 1396/3000 vs
    # 2422/3461, default tuning 5000 -> expected 0.50386, ci (0.40098, 0.60675),
    # stddev 0.03386.
    a, b = 1396 / 3000, 2422 / 3461
    lift, se = growthbook_lift(a, a * (1 - a), 3000, b, b * (1 - b), 3461)
    assert (round(lift, 5), round(se, 5)) == (0.50386, 0.03386)
    interval = confidence_sequence(lift, se, 6461, tuning=5000)
    assert (round(interval.low, 5), round(interval.high, 5)) == (0.40098, 0.60675)


@pytest.mark.parametrize(
    ("n", "tuning", "alpha"), [(40, 100, 0.05), (5000, 100, 0.1), (7, 3, 0.01)]
)
def test_halfwidth_equals_howard_normal_mixture_boundary(n, tuning, alpha):
    # Howard, Ramdas, McAuliffe and Sekhon (2021), Ann Stat 49:1055-1080, eq. (14):
    # the two-sided normal-mixture boundary for a sum with intrinsic time V and
    # mixing variance r is sqrt((V + r) log((V + r) / (r alpha^2))). For unit-variance
    # observations V = n, r = 1 / rho^2, and the interval for the mean divides by n.
    se = 1 / math.sqrt(n)
    r = 1 / mixture_rho(alpha, tuning) ** 2
    howard = math.sqrt((n + r) * math.log((n + r) / (r * alpha**2))) / n
    assert mixture_halfwidth(se, n, alpha=alpha, tuning=tuning) == pytest.approx(howard, rel=1e-12)


def test_sequence_is_wider_than_the_fixed_interval():
    for n in (10, 40, 100, 1000, 100000):
        se = 1 / math.sqrt(n)
        assert mixture_halfwidth(se, n) > stats.norm.ppf(0.975) * se


def test_sequence_is_narrowest_relative_to_fixed_near_the_tuning_value():
    # GrowthBook's test_sequential_test_tuning_as_expected: tuning near n beats both
    # far below and far above.
    def width(tuning):
        return mixture_halfwidth(0.1, 6461, tuning=tuning)

    assert width(6461) < width(10) and width(6461) < width(10000)


def test_ratio_sequence_is_built_on_the_log_scale():
    interval = confidence_sequence(2.0, 0.2, 90, log_scale=True)
    assert interval.low > 0
    assert math.log(interval.high) - math.log(2.0) == pytest.approx(
        math.log(2.0) - math.log(interval.low)
    )


def test_invalid_inputs_raise():
    with pytest.raises(ValueError):
        mixture_rho(0, DEFAULT_TUNING)
    with pytest.raises(ValueError):
        mixture_rho(0.05, 0)
    with pytest.raises(ValueError):
        mixture_halfwidth(1.0, 0)
    with pytest.raises(ValueError):
        confidence_sequence(0.0, 0.1, 10, log_scale=True)
