"""XmR chart (design `spc`): NHSRplotthedots reference values and each rule on its own."""

import datetime as dt

import pytest

from pilots.stats.spc import (
    shift_runs,
    trend_runs,
    two_of_three,
    xmr_chart,
    xmr_limits,
)

# R: set.seed(123); rnorm(20) -- the series of NHSRplotthedots
# tests/testthat/test-ptd_spc_standard.R; its snapshot prints y to 8 decimals.
RNORM_123 = [
    -0.56047565, -0.23017749, 1.55870831, 0.07050839, 0.12928774,
    1.71506499, 0.46091621, -1.26506123, -0.68685285, -0.44566197,
    1.22408180, 0.35981383, 0.40077145, 0.11068272, -0.55584113,
    1.78691314, 0.49785048, -1.96661716, 0.70135590, -0.47279141,
]  # fmt: skip

# A stable baseline: mean 11, every moving range 2 -> limits 11 +/- 5.32
# (5.68, 16.32), near-limit lines 11 +/- 3.5467 (7.4533, 14.5467).
BASELINE = [12.0, 10.0] * 6


def chart(post, baseline=BASELINE, **kwargs):
    values = list(baseline) + list(post)
    return xmr_chart(list(enumerate(values)), len(baseline), **kwargs)


def post_points(result):
    return [p for p in result.details["points"] if p["post"]]


def rules(point):
    return [s["rule"] for s in point["signals"]]


# --- published reference values -------------------------------------------------------


def test_limits_match_nhsrplotthedots_snapshot():
    # NHSRplotthedots tests/testthat/_snaps/ptd_spc_standard.md, "r1" (glimpse):
    # mean_col 0.1416238, lpl -3.01138, upl 3.294627.
    limits = xmr_limits(RNORM_123)
    assert round(limits.mean, 7) == 0.1416238
    assert round(limits.lower, 5) == -3.01138
    assert round(limits.upper, 6) == 3.294627


def test_outlier_screening_matches_nhsrplotthedots_snapshot():
    # Same snapshot, "r2" (y[15] <- 10, screen_outliers = TRUE): mean_col 0.6694159,
    # lpl -2.383666, upl 3.722497; "r3" (screen_outliers = FALSE): -4.596625, 5.935457.
    values = list(RNORM_123)
    values[14] = 10.0
    screened = xmr_limits(values)
    assert round(screened.mean, 7) == 0.6694159
    assert round(screened.lower, 6) == -2.383666
    assert round(screened.upper, 6) == 3.722497
    unscreened = xmr_limits(values, screen_outliers=False)
    assert round(unscreened.lower, 6) == -4.596625
    assert round(unscreened.upper, 6) == 5.935457


def test_chart_freezes_reference_limits_from_the_baseline():
    # The same 20 points as a baseline, then a pilot period: the frozen limits are
    # the snapshot's, whatever the pilot points do.
    result = xmr_chart(list(enumerate(RNORM_123 + [5.0, 5.0])), 20)
    assert round(result.details["mean"], 7) == 0.1416238
    assert round(result.details["lower_limit"], 5) == -3.01138
    assert round(result.details["upper_limit"], 6) == 3.294627
    assert result.details["trial_limits"] is False


def test_two_near_points_on_opposite_sides_are_common_cause():
    # NHSRplotthedots tests/testthat/test-ptd_spc_standard.R, last test: rep(c(1, -1), 8)
    # with points 15 and 16 set to 5.5 and -5.5 -> both "common_cause".
    values = [1.0, -1.0] * 8
    values[14], values[15] = 5.5, -5.5
    result = xmr_chart(list(enumerate(values)), 16)
    assert [p["variation"] for p in result.details["points"][-2:]] == ["common", "common"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # NHSRplotthedots tests/testthat/test-ptd_calculate_point_type.R,
        # ptd_seven_point_trend + ptd_part_of_seven_trend.
        (list(range(1, 7)), [0] * 6),
        ([1, 2, 3, 3, 4, 5, 6], [0] * 7),
        (list(range(1, 8)), [1] * 7),
        ([2, *range(1, 8), 3], [0, *[1] * 7, 0]),
        (list(range(7, 0, -1)), [-1] * 7),
        ([2, *range(7, 0, -1), 3], [0, *[-1] * 7, 0]),
    ],
)
def test_trend_counts_as_nhsrplotthedots(values, expected):
    assert trend_runs(values, 7) == expected


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        # Same file, ptd_seven_point_one_side_mean + ptd_part_of_seven_trend.
        ([1] * 6, [0] * 6),
        ([1] * 6 + [-1], [0] * 7),
        ([1] * 8 + [-1], [1] * 8 + [0]),
        ([-1] * 8 + [1], [-1] * 8 + [0]),
        ([-1, *[1] * 8, -1], [0, *[1] * 8, 0]),
    ],
)
def test_shift_counts_as_nhsrplotthedots(side, expected):
    assert shift_runs(side, 7) == expected


@pytest.mark.parametrize(
    ("near", "expected"),
    [
        # Same file, ptd_two_in_three + ptd_part_of_two_in_three (all points one side).
        ([0, 0, 0], [0, 0, 0]),
        ([1, 0, 1], [1, 0, 1]),
        ([0, 1, 1], [0, 1, 1]),
        ([0, 0, 1, 0, 1, 0, 0], [0, 0, 1, 0, 1, 0, 0]),
        ([1, 0, 0, 1], [0, 0, 0, 0]),
        ([1, 0, 0, 1, 1], [0, 0, 0, 1, 1]),
    ],
)
def test_two_of_three_counts_as_nhsrplotthedots(near, expected):
    flags = two_of_three([bool(v) for v in near], [1] * len(near))
    assert [int(f) for f in flags] == expected


# --- each rule through the chart ---------------------------------------------------------


def test_limits_of_the_hand_baseline():
    result = chart([11.5])
    assert result.details["mean"] == pytest.approx(11.0)
    assert result.details["lower_limit"] == pytest.approx(5.68)
    assert result.details["upper_limit"] == pytest.approx(16.32)
    assert result.details["near_lower"] == pytest.approx(11 - 2 * 2.66 * 2 / 3)
    assert result.details["near_upper"] == pytest.approx(11 + 2 * 2.66 * 2 / 3)


def test_point_outside_the_limits():
    result = chart([11.5, 17.0, 11.5])
    points = post_points(result)
    assert rules(points[1]) == ["outside_limits"]
    assert points[1]["variation"] == "improvement"
    assert points[0]["variation"] == points[2]["variation"] == "common"


def test_point_on_the_limit_is_not_outside():
    result = chart([16.32 - 1e-9])
    assert "outside_limits" not in rules(post_points(result)[0])


def test_trend_of_seven_and_not_six():
    rising = [8.0, 9.0, 10.0, 10.5, 11.5, 12.0, 13.0]
    result = chart(rising)
    assert all("trend" in rules(p) for p in post_points(result))
    assert {p["variation"] for p in post_points(result)} == {"improvement"}
    six = chart(rising[:6])
    assert not any("trend" in rules(p) for p in post_points(six))


def test_trend_is_broken_by_a_tie():
    result = chart([8.0, 9.0, 10.0, 10.0, 11.5, 12.0, 13.0])
    assert not any("trend" in rules(p) for p in post_points(result))


def test_two_of_three_beyond_the_near_line():
    result = chart([15.0, 11.5, 15.0])
    points = post_points(result)
    assert rules(points[0]) == rules(points[2]) == ["two_of_three"]
    assert points[1]["signals"] == []


def test_two_of_three_needs_the_third_point_on_the_same_side():
    result = chart([15.0, 10.5, 15.0])
    assert all(p["signals"] == [] for p in post_points(result))


def test_shift_of_seven_on_one_side():
    result = chart([11.5] * 7)
    assert all(rules(p) == ["shift"] for p in post_points(result))
    assert chart([11.5] * 6).details["signal_summary"]["improvement"] == 0


def test_point_on_the_mean_breaks_a_shift():
    result = chart([11.5] * 3 + [11.0] + [11.5] * 3)
    assert result.details["signal_summary"] == {"improvement": 0, "concern": 0, "neither": 0}


@pytest.mark.parametrize("length", [6, 7, 8])
def test_run_lengths_are_configurable_and_recorded(length):
    result = chart([11.5] * 7, trend_length=length, shift_length=length)
    assert result.details["run_lengths"] == {"trend": length, "shift": length}
    flagged = sum(1 for p in post_points(result) if "shift" in rules(p))
    assert flagged == (7 if length <= 7 else 0)
    rising = [8.0 + 0.7 * i for i in range(7)]
    trend = chart(rising, trend_length=length)
    assert any("trend" in rules(p) for p in post_points(trend)) == (length <= 7)


def test_run_length_outside_6_to_8_is_refused():
    with pytest.raises(ValueError):
        chart([11.5], shift_length=5)


def test_precedence_outside_before_shift():
    result = chart([11.5] * 6 + [17.0])
    last = post_points(result)[-1]
    assert rules(last) == ["outside_limits", "shift"]


@pytest.mark.parametrize(
    ("direction", "expected"),
    [("up", "improvement"), ("down", "concern"), (None, "neither")],
)
def test_variation_follows_the_metric_direction(direction, expected):
    result = chart([17.0], direction=direction)
    assert post_points(result)[0]["variation"] == expected
    low = chart([4.0], direction=direction)
    flipped = {"improvement": "concern", "concern": "improvement", "neither": "neither"}
    assert post_points(low)[0]["variation"] == flipped[expected]


def test_falling_trend_is_improvement_when_down_is_better():
    falling = [14.0 - 0.7 * i for i in range(7)]
    result = chart(falling, direction="down")
    assert {p["variation"] for p in post_points(result)} == {"improvement"}


def test_signal_summary_counts_only_points_after_the_start():
    # A shift of 7 that starts 4 points before the start: only the 3 after count.
    baseline = [8.0, 10.0] * 4 + [12.0, 13.0] * 2
    result = chart([12.5] * 3, baseline=baseline)
    assert [p["variation"] for p in result.details["points"][8:12]] == ["improvement"] * 4
    assert result.details["signal_summary"]["improvement"] == 3


@pytest.mark.parametrize(
    ("target", "direction", "expected"),
    [
        (20.0, "up", "consistent_fail"),
        (3.0, "up", "consistent_pass"),
        (12.0, "up", "inconsistent"),
        (20.0, "down", "consistent_pass"),
        (3.0, "down", "consistent_fail"),
        (12.0, None, None),
        (None, "up", None),
    ],
)
def test_assurance_against_a_target(target, direction, expected):
    result = chart([11.5], target=target, direction=direction)
    assert result.details["assurance"] == expected


def test_trial_limits_under_twelve_baseline_points():
    result = chart([11.5], baseline=BASELINE[:8])
    assert result.details["trial_limits"] is True
    assert "trial_limits" in [w.code for w in result.warnings]
    assert result.sufficient
    full = chart([11.5])
    assert full.details["trial_limits"] is False
    assert "trial_limits" not in [w.code for w in full.warnings]


def test_too_few_baseline_points_is_insufficient():
    result = chart([11.5], baseline=BASELINE[:5])
    assert not result.sufficient
    assert result.estimate is None
    assert [w.code for w in result.warnings] == ["too_few_baseline_points"]
    # the counts say what the warning says: five baseline points, one since the start
    assert (result.n_comparison, result.n_pilot) == (5, 1) == (result.warnings[0].params["n"], 1)


def test_no_points_after_the_start_is_insufficient():
    result = xmr_chart(list(enumerate(BASELINE)), 12)
    assert not result.sufficient
    assert "no_points_after_start" in [w.code for w in result.warnings]


def test_estimate_is_post_mean_minus_baseline_mean_without_interval():
    result = chart([12.0, 14.0])
    assert result.estimate == pytest.approx(2.0)
    assert result.ci_low is None and result.ci_high is None and result.p_value is None
    assert (result.n, result.n_pilot, result.n_comparison) == (14, 2, 12)


def test_rebasing_at_a_recorded_change_recomputes_the_limits():
    history = [50.0, 54.0] * 6
    values = history + BASELINE + [11.5]
    plain = xmr_chart(list(enumerate(values)), 24)
    rebased = xmr_chart(list(enumerate(values)), 24, changes=[12])
    # Without the change the baseline mixes two processes.
    assert plain.details["mean"] == pytest.approx(31.5)
    assert rebased.details["mean"] == pytest.approx(11.0)
    assert rebased.details["upper_limit"] == pytest.approx(16.32)
    groups = rebased.details["groups"]
    assert [g["first_period"] for g in groups] == [0, 12]
    assert groups[0]["mean"] == pytest.approx(52.0)
    assert groups[0]["upper_limit"] == pytest.approx(52.0 + 2.66 * 4)
    # Points before the change are judged by their own group's limits.
    assert rebased.details["points"][0]["mean"] == pytest.approx(52.0)


def test_change_after_the_start_gives_its_own_limits():
    values = BASELINE + [11.5, 11.5, 30.0, 32.0, 30.0]
    result = xmr_chart(list(enumerate(values)), 12, changes=[14])
    assert result.details["mean"] == pytest.approx(11.0)
    assert result.details["groups"][1]["mean"] == pytest.approx(92 / 3)
    assert result.details["groups"][1]["trial_limits"] is True
    assert result.details["points"][-1]["upper_limit"] > 32


def test_change_leaving_a_single_point_is_ignored():
    result = xmr_chart(list(enumerate([*BASELINE, 11.5])), 12, changes=[12])
    assert "rebase_ignored" in [w.code for w in result.warnings]
    assert len(result.details["groups"]) == 1


def test_monthly_dates_with_a_missing_month_warn():
    months = [dt.date(2024 + m // 12, m % 12 + 1, 1) for m in range(15) if m != 5]
    values = [10.0, 12.0] * 7
    result = xmr_chart(list(zip(months, values, strict=True)), dt.date(2025, 1, 1))
    missing = [w for w in result.warnings if w.code == "missing_periods"]
    assert missing and missing[0].params["count"] == 1
    assert result.details["points"][0]["period"] == "2024-01-01"
    assert result.n_pilot == 3


def test_duplicate_periods_are_insufficient():
    result = xmr_chart([(0, 1.0), (0, 2.0), *[(i, 1.0) for i in range(1, 10)]], 8)
    assert not result.sufficient
    assert result.warnings[0].code == "duplicate_periods"
