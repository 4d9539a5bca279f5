"""Statistical process control for the `spc` design: XmR charts as Making Data Count.

A pilot that only has one series asks: has the process changed since the pilot
started? NHS England's "Making Data Count" answers with an XmR (individuals) chart
whose limits come from the periods before the start and stay frozen there, and four
special-cause rules. This module follows its reference implementation, the R package
NHSRplotthedots (nhs-r-community/NHSRplotthedots, R/ptd_spc_standard.R and
R/ptd_calculate_point_type.R): the same limits (2.66 x mean moving range, moving
ranges above 3.267 x their mean screened out), the same rules in the same precedence,
the same rebasing into separate groups, the same assurance against a target. What it
adds for pilots: the baseline is "every point before the start", rule run lengths may
be 6, 7 or 8, and the estimate is the shift of the mean after the start. It returns a
`MethodEstimate`; the judgement layer turns that into a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from operator import itemgetter
from typing import Any

import numpy as np

from pilots.stats.its import (
    DUPLICATE_PERIODS,
    MISSING_PERIODS,
    Period,
    pairwise_sum,
    period_grid,
)
from pilots.stats.result import DataWarning, MethodEstimate

# Making Data Count constants: 2.66 = 3 / d2 (d2 = 1.128 for ranges of two points);
# 3.267 = D4, the upper limit of a moving-range chart, used to screen outlying ranges.
LIMIT = 2.66
NEAR_LIMIT = 2 * LIMIT / 3
MOVING_RANGE_SCREEN = 3.267
# Making Data Count: limits from fewer than 12 points are "trial limits"
# (NHSRplotthedots ptd_add_short_group_warnings, warning_threshold = 12).
TRIAL_LIMIT_POINTS = 12
# Below 6 baseline points the mean moving range rests on 4 or fewer ranges: the limits
# are guesswork, so the chart answers "insufficient data" (our choice, documented).
MIN_BASELINE_POINTS = 6
ALLOWED_RUN_LENGTHS = (6, 7, 8)

TRIAL_LIMITS = "trial_limits"
TOO_FEW_BASELINE_POINTS = "too_few_baseline_points"
NO_POINTS_AFTER_START = "no_points_after_start"
REBASE_IGNORED = "rebase_ignored"

# Rule names in Making Data Count precedence: a point takes the variation of its
# first signal (NHSRplotthedots ptd_special_cause_type, case_when order).
OUTSIDE_LIMITS = "outside_limits"
TREND = "trend"
TWO_OF_THREE = "two_of_three"
SHIFT = "shift"


@dataclass(frozen=True)
class Limits:
    """Centre line and limits of one rebase group, and how many points set them."""

    mean: float
    lower: float
    upper: float
    near_lower: float
    near_upper: float
    n_points: int

    @property
    def trial(self) -> bool:
        return self.n_points < TRIAL_LIMIT_POINTS


def xmr_limits(values: Sequence[float], *, screen_outliers: bool = True) -> Limits:
    """XmR limits: mean +/- 2.66 x mean moving range, near limits at 2/3 of that.

    As NHSRplotthedots `ptd_spc_standard` (screen_outliers = TRUE by default): moving
    ranges not below 3.267 x the mean moving range are dropped and the mean moving
    range recomputed, so one wild month does not widen the limits. Needs 2+ values.
    Plain Python on these short series, with numpy's summation (`_mean`): numpy's
    per-call overhead cost more than the arithmetic.
    """
    y = [float(v) for v in values]
    if not all(map(math.isfinite, y)):
        # Infinities and NaN: numpy's own arithmetic, with its warnings.
        return _xmr_limits_numpy(y, screen_outliers)
    mean = _mean(y)
    ranges = [abs(later - earlier) for earlier, later in pairwise(y)]
    mean_range = _mean(ranges)
    if screen_outliers:
        screen = MOVING_RANGE_SCREEN * mean_range
        mean_range = _mean([r for r in ranges if r < screen])
    return _limits(mean, mean_range, len(y))


def _limits(mean: float, mean_range: float, n_points: int) -> Limits:
    """The limits around `mean` at LIMIT (and NEAR_LIMIT) times the mean moving range."""
    return Limits(
        mean=mean,
        lower=mean - LIMIT * mean_range,
        upper=mean + LIMIT * mean_range,
        near_lower=mean - NEAR_LIMIT * mean_range,
        near_upper=mean + NEAR_LIMIT * mean_range,
        n_points=n_points,
    )


def _mean(values: list[float]) -> float:
    """`np.mean(values)`, bit for bit; numpy itself for an empty or non-finite list.

    numpy then gives NaN or an infinity with its warnings, as before.
    """
    if values and all(map(math.isfinite, values)):
        return pairwise_sum(values) / len(values)
    return float(np.mean(values))


def _xmr_limits_numpy(y: list[float], screen_outliers: bool) -> Limits:
    """`xmr_limits` in numpy, for series with infinite or NaN values."""
    array = np.asarray(y, dtype=float)
    mean = float(array.mean())
    ranges = np.abs(np.diff(array))
    mean_range = float(ranges.mean())
    if screen_outliers:
        mean_range = float(ranges[ranges < MOVING_RANGE_SCREEN * mean_range].mean())
    return _limits(mean, mean_range, len(y))


def trend_runs(y: Sequence[float], length: int) -> list[int]:
    """+1/-1 for points in a run of `length` points each strictly above/below the last.

    `length` points means `length - 1` strict steps; a tie breaks the run
    (NHSRplotthedots ptd_seven_point_trend, generalised from 7). A point that ends a
    rising run and starts a falling one takes the later run's direction, as there.
    """
    values = [float(v) for v in y]
    if all(map(math.isfinite, values)):
        steps = [(b > a) - (b < a) for a, b in pairwise(values)]
    else:
        # numpy's differences of infinities (NaN, with a warning) never match a direction.
        steps = np.sign(np.diff(np.asarray(values))).tolist()
    if length < 2:
        raise ValueError("a trend needs at least 2 points")
    out = [0] * len(values)
    # One pass: `run` counts the equal rising (falling) steps ending at step j, so the
    # window of `length` points ending at point j + 1 is a trend when run >= length - 1
    # (cheaper than counting each window again; the windows are still marked in order).
    run = 0
    for j, step in enumerate(steps):
        if step != 1 and step != -1:
            run = 0
            continue
        run = run + 1 if j and steps[j - 1] == step else 1
        if run >= length - 1:
            direction = 1 if step > 0 else -1
            for i in range(j + 2 - length, j + 2):
                out[i] = direction
    return out


def shift_runs(side: Sequence[int], length: int) -> list[int]:
    """+1/-1 for points in a run of `length` points on one side of the mean.

    `side` is sign(value - mean); a point exactly on the mean (0) breaks the run
    (NHSRplotthedots ptd_seven_point_one_side_mean).
    """
    if length < 1:
        raise ValueError("a shift needs at least 1 point")
    side = list(side)
    out = [0] * len(side)
    # One pass: `run` counts the points on the same side ending at point `end`, so the
    # window of `length` points ending there is a shift when run >= length.
    run = 0
    for end, value in enumerate(side):
        if value == 0:
            run = 0
            continue
        run = run + 1 if end and side[end - 1] == value else 1
        if run >= length:
            for i in range(end - length + 1, end + 1):
                out[i] = value
    return out


def two_of_three(near: Sequence[bool], side: Sequence[int]) -> list[bool]:
    """Points beyond a near-limit line that are 2 of 3 such points on one side.

    Every window of three consecutive points with at least two near-limit points and
    all three on the same side of the mean flags its near-limit points; a point
    beyond the outer limit is not a near-limit point (NHSRplotthedots
    ptd_two_in_three / ptd_part_of_two_in_three).
    """
    out = [False] * len(near)
    for i in range(len(near) - 2):
        # The three sums written out: slicing and sum() cost more than the additions.
        if (
            near[i] + near[i + 1] + near[i + 2] >= 2
            and abs(side[i] + side[i + 1] + side[i + 2]) == 3
        ):
            for j in range(i, i + 3):
                out[j] = out[j] or near[j]
    return out


def classify(sign: int, direction: str | None) -> str:
    """improvement / concern for a signal on the high (+1) or low (-1) side."""
    if direction is None:
        return "neither"
    good = 1 if direction == "up" else -1
    return "improvement" if sign == good else "concern"


def group_signals(
    y: Sequence[float],
    limits: Limits,
    direction: str | None,
    trend_length: int,
    shift_length: int,
) -> list[list[dict[str, str]]]:
    """The special-cause signals of each point of one rebase group, in precedence order."""
    side = _sides(y, limits.mean)
    outside = [v > limits.upper or v < limits.lower for v in y]
    near = [
        not o and (v > limits.near_upper or v < limits.near_lower)
        for v, o in zip(y, outside, strict=True)
    ]
    trends = trend_runs(y, trend_length)
    pairs = two_of_three(near, side)
    shifts = shift_runs(side, shift_length)
    signals: list[list[dict[str, str]]] = []
    for point_side, out, trend, pair, shift in zip(
        side, outside, trends, pairs, shifts, strict=True
    ):
        if not (out or trend or pair or shift):
            # Common cause, as most points are: no rule to look at.
            signals.append([])
            continue
        found = []
        for rule, sign in (
            (OUTSIDE_LIMITS, point_side if out else 0),
            (TREND, trend),
            (TWO_OF_THREE, point_side if pair else 0),
            (SHIFT, shift),
        ):
            if sign:
                found.append(
                    {
                        "rule": rule,
                        "side": "high" if sign > 0 else "low",
                        "variation": classify(sign, direction),
                    }
                )
        signals.append(found)
    return signals


def _sides(values: Sequence[float], mean: float) -> list[int]:
    """`_side` of each value: by comparison when all are finite numbers, which for
    finite numbers gives the sign of the difference, without a call per point."""
    if math.isfinite(mean) and all(map(math.isfinite, values)):
        return [(v > mean) - (v < mean) for v in values]
    return [_side(v, mean) for v in values]


def _side(value: float, mean: float) -> int:
    """sign(value - mean): +1 above, -1 below, 0 on the mean; NaN raises as int(nan) does."""
    difference = value - mean
    if difference > 0:
        return 1
    if difference < 0:
        return -1
    if difference == 0:
        return 0
    raise ValueError("cannot convert float NaN to integer")


def assurance(target: float | None, limits: Limits, direction: str | None) -> str | None:
    """Will the process meet the target? As NHSRplotthedots ptd_calculate_assurance_type.

    A target above the upper limit: consistently fail when higher is better, pass when
    lower is better; below the lower limit the reverse; between the limits (or on one)
    the process will sometimes pass and sometimes fail: inconsistent. No target or no
    improvement direction: None.
    """
    if target is None or direction is None:
        return None
    if target > limits.upper:
        return "consistent_fail" if direction == "up" else "consistent_pass"
    if target < limits.lower:
        return "consistent_pass" if direction == "up" else "consistent_fail"
    return "inconsistent"


def rebase_groups(numbers: Sequence[int], changes: Sequence[int]) -> tuple[list[int], list[int]]:
    """Group starts (positions) for the kept changes, and the changes ignored.

    A change starts a new group at the first point on or after it (ptd_rebase: the
    rebase date is the first point of the new group). A change that would leave a
    group with fewer than 2 points cannot carry limits and is ignored.
    """
    starts = [0]
    ignored = []
    for change in sorted(set(changes)):
        position = next((i for i, k in enumerate(numbers) if k >= change), len(numbers))
        if position - starts[-1] >= 2 and len(numbers) - position >= 2:
            starts.append(position)
        elif position > 0:
            ignored.append(change)
    return starts, ignored


def _json_periods(periods: Sequence[Any]) -> list[Any]:
    """The periods as JSON holds them: dates as ISO text, period numbers as they are.

    One pass over the chart's periods: a function call per point cost more than the
    conversion.
    """
    return [p.isoformat() if hasattr(p, "isoformat") else p for p in periods]


def xmr_chart(
    observations: Sequence[tuple[Period, float]],
    start: Period,
    *,
    direction: str | None = "up",
    target: float | None = None,
    changes: Sequence[Period] = (),
    trend_length: int = 7,
    shift_length: int = 7,
    screen_outliers: bool = True,
) -> MethodEstimate:
    """XmR chart with Making Data Count special-cause rules (design `spc`).

    `observations` are `(period, value)`, one per period (integers or period start
    dates); `start` the pilot's first day; `direction` "up", "down" or None (no
    improvement direction). Limits (`xmr_limits`) come from the points before the
    start and are frozen there; under 12 such points they are trial limits. `changes`
    are recorded process changes: each starts a new group whose limits come from its
    own points before the start, or, for a group that begins after the start, from
    all its points. Rules, in precedence: a point outside the limits; a trend of
    `trend_length` points each strictly higher (lower) than the last; 2 of 3 points
    beyond a near-limit line on the same side; `shift_length` points on one side of
    the mean (a point on the mean breaks it). Run lengths may be 6, 7 or 8.

    estimate = mean of the points on or after the start minus the baseline mean; the
    chart makes no sampling model, so `ci_low`, `ci_high`, `p_value` and `se` are None.
    Source: NHS England, Making Data Count (2019, 2021); NHSRplotthedots (R package,
    nhs-r-community), whose test values tests/stats/test_spc.py reproduces.
    """
    if direction not in ("up", "down", None):
        raise ValueError("direction must be 'up', 'down' or None")
    for length in (trend_length, shift_length):
        if length not in ALLOWED_RUN_LENGTHS:
            raise ValueError(f"run lengths must be one of {ALLOWED_RUN_LENGTHS}")
    warnings: list[DataWarning] = []
    rows = sorted(observations, key=itemgetter(0))
    periods = [row[0] for row in rows]
    values = [float(row[1]) for row in rows]
    grid = period_grid(periods, start)
    numbers = list(grid.numbers)
    # A change, like the start, takes effect at the first period on or after it.
    change_numbers = [period_grid(periods, change).start for change in changes] if rows else []
    n_post = sum(1 for k in numbers if k >= grid.start)
    n = len(rows)
    details: dict[str, Any] = {
        "run_lengths": {"trend": trend_length, "shift": shift_length},
        "screen_outliers": screen_outliers,
    }
    if len(set(numbers)) < n:
        warnings.append(DataWarning(DUPLICATE_PERIODS, {"count": n - len(set(numbers))}))
        return _insufficient(n, n_post, details, warnings)
    if grid.missing:
        warnings.append(
            DataWarning(MISSING_PERIODS, {"count": len(grid.missing), "periods": grid.missing})
        )

    starts, ignored = rebase_groups(numbers, change_numbers)
    if ignored:
        warnings.append(DataWarning(REBASE_IGNORED, {"count": len(ignored)}))
    bounds = list(zip(starts, starts[1:] + [n], strict=True))
    first_post = next((i for i, k in enumerate(numbers) if k >= grid.start), n)
    # The group in force at the start: the one holding the first point on or after it
    # (or the last point, when nothing has arrived since the start).
    anchor = min(first_post, n - 1) if n else 0
    baseline_group = next((g for g, (lo, hi) in enumerate(bounds) if lo <= anchor < hi), 0)
    lo, hi = bounds[baseline_group] if bounds else (0, 0)
    n_baseline = max(0, min(first_post, hi) - lo)
    details["baseline_points"] = n_baseline
    if n_baseline < MIN_BASELINE_POINTS:
        warnings.append(
            DataWarning(
                TOO_FEW_BASELINE_POINTS,
                {"n": n_baseline, "minimum": MIN_BASELINE_POINTS},
            )
        )
        return _insufficient(n, n_post, details, warnings, n_baseline)

    group_limits = []
    for g_lo, g_hi in bounds:
        pre_end = min(first_post, g_hi)
        fixing = values[g_lo:pre_end] if pre_end - g_lo >= 2 else values[g_lo:g_hi]
        group_limits.append(xmr_limits(fixing, screen_outliers=screen_outliers))

    points = []
    period_texts = _json_periods(periods)
    for (g_lo, g_hi), limits in zip(bounds, group_limits, strict=True):
        signals = group_signals(values[g_lo:g_hi], limits, direction, trend_length, shift_length)
        for i, found in zip(range(g_lo, g_hi), signals, strict=True):
            points.append(
                {
                    "period": period_texts[i],
                    "value": values[i],
                    "post": numbers[i] >= grid.start,
                    "mean": limits.mean,
                    "lower_limit": limits.lower,
                    "upper_limit": limits.upper,
                    "signals": found,
                    "variation": found[0]["variation"] if found else "common",
                }
            )

    baseline = group_limits[baseline_group]
    if baseline.trial:
        warnings.append(
            DataWarning(TRIAL_LIMITS, {"n": baseline.n_points, "minimum": TRIAL_LIMIT_POINTS})
        )
    post_points = [p for p in points if p["post"]]
    summary = dict.fromkeys(("improvement", "concern", "neither"), 0)
    for point in post_points:  # one pass over the points for the three counts
        if point["variation"] in summary:
            summary[point["variation"]] += 1
    details.update(
        {
            "mean": baseline.mean,
            "lower_limit": baseline.lower,
            "upper_limit": baseline.upper,
            "near_lower": baseline.near_lower,
            "near_upper": baseline.near_upper,
            "trial_limits": baseline.trial,
            "assurance": assurance(target, group_limits[-1], direction),
            "target": target,
            "groups": [
                {
                    "first_period": period_texts[g_lo],
                    "mean": limits.mean,
                    "lower_limit": limits.lower,
                    "upper_limit": limits.upper,
                    "limit_points": limits.n_points,
                    "trial_limits": limits.trial,
                }
                for (g_lo, _), limits in zip(bounds, group_limits, strict=True)
            ],
            "points": points,
            "signal_summary": summary,
        }
    )
    if not post_points:
        warnings.append(DataWarning(NO_POINTS_AFTER_START, {}))
        return _insufficient(n, 0, details, warnings, n_baseline)
    post_mean = _mean([p["value"] for p in post_points])
    details["post_mean"] = post_mean
    return MethodEstimate(
        method="spc_xmr",
        estimate=post_mean - baseline.mean,
        ci_low=None,
        ci_high=None,
        p_value=None,
        se=None,
        n=n,
        n_pilot=len(post_points),
        n_comparison=n_baseline,
        sufficient=True,
        details=details,
        warnings=tuple(warnings),
    )


def _insufficient(
    n: int,
    n_post: int,
    details: dict[str, Any],
    warnings: list[DataWarning],
    n_baseline: int = 0,
) -> MethodEstimate:
    return MethodEstimate(
        method="spc_xmr",
        estimate=None,
        ci_low=None,
        ci_high=None,
        p_value=None,
        n=n,
        n_pilot=n_post,
        n_comparison=n_baseline,
        sufficient=False,
        details=details,
        warnings=tuple(warnings),
    )
