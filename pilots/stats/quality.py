"""Data-quality checks that run before any statistics.

Every method in `pilots.stats` first asks these small questions of its input: are
there enough units, are the values finite, do they lie inside the metric's possible
range, do counts make sense. Each answer that is "no" becomes a `DataWarning` with a
stable code the UI translates; the method then decides whether it can still answer
honestly (`MethodEstimate.sufficient`). The thresholds live here, once, so the docs,
the methods and the tests agree on them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pilots.stats.result import DataWarning

# Below this many units in an arm, a Welch interval rests on a variance estimated from
# one to four numbers: the t quantile explodes and one odd value decides the answer.
MIN_UNITS_PER_ARM_MEANS = 5
# Below two units there is no variance at all: nothing can be computed.
MIN_UNITS_FOR_VARIANCE = 2
# Score intervals for proportions stay honest at small n (Newcombe 1998 shows n = 7),
# but fewer than five trials in an arm is a pilot that has barely started.
MIN_TRIALS_PER_ARM = 5
# A rate ratio with fewer events than this in total has an interval that is mostly
# the Poisson noise of a handful of events.
MIN_EVENTS_TOTAL = 5

# Codes (the UI translates these; keep them stable).
TOO_FEW_UNITS = "too_few_units"
NON_FINITE_VALUES = "non_finite_values"
VALUE_OUT_OF_RANGE = "value_out_of_range"
ZERO_VARIANCE = "zero_variance"
ZERO_TRIALS = "zero_trials"
INVALID_COUNTS = "invalid_counts"
NOT_BINARY = "not_binary"
ZERO_EXPOSURE = "zero_exposure"
TOO_FEW_EVENTS = "too_few_events"
NO_EVENTS_IN_ARM = "no_events_in_arm"
ALL_OR_NONE = "all_or_none"
ZERO_BASELINE = "zero_baseline"
SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"
PRE_PERIOD_MISMATCH = "pre_period_mismatch"


def finite_values(values: Sequence[float], arm: str) -> tuple[tuple[float, ...], list[DataWarning]]:
    """Split off values that are not finite numbers; warn when any were dropped."""
    kept = tuple(float(v) for v in values if v is not None and math.isfinite(float(v)))
    dropped = len(values) - len(kept)
    if dropped:
        return kept, [DataWarning(NON_FINITE_VALUES, {"arm": arm, "count": dropped})]
    return kept, []


def range_warnings(
    values: Sequence[float],
    arm: str,
    min_value: float | None,
    max_value: float | None,
) -> list[DataWarning]:
    """Warn when values fall outside the metric's possible range [min_value, max_value]."""
    below = sum(1 for v in values if min_value is not None and v < min_value)
    above = sum(1 for v in values if max_value is not None and v > max_value)
    if below or above:
        params = {
            "arm": arm,
            "count": below + above,
            "below": below,
            "above": above,
            "min": min_value,
            "max": max_value,
        }
        return [DataWarning(VALUE_OUT_OF_RANGE, params)]
    return []


def unit_count_warnings(n_pilot: int, n_comparison: int, minimum: int) -> list[DataWarning]:
    """Warn for each arm with fewer than `minimum` units."""
    return [
        DataWarning(TOO_FEW_UNITS, {"arm": arm, "n": n, "minimum": minimum})
        for arm, n in (("pilot", n_pilot), ("comparison", n_comparison))
        if n < minimum
    ]
