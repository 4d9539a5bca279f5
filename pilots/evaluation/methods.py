"""From a metric's observation rows to the statistics engine's call for its design.

Observation rows follow the contract (period, arm, unit, value, n). Each design reads
them its own way, as DESIGN.md fixes it:

- `two_group`: both arms, periods on or after the start; one value per unit (a unit
  measured in several periods counts once, with its mean; `mean` metrics), or the
  rows' counts with `n` (proportions: successes of n trials; rates: events over n).
- `pre_post`: the pilot arm, every period; one point per period: the mean of the
  values, a proportion (successes/trials), or for rates (events, exposure) for the
  Poisson fit, whose rate ratio is judged on the log scale.
- `spc`: the pilot arm, every period; one point per period as for `pre_post` (rates
  as events/exposure); the limits come from the periods before the start.
- `did`: both arms, every period; rows (unit, arm, period, value), value/n when `n`
  is given; a row without a unit stands for its arm.

A row without `n` counts `n = 1` (one unit, or exposure 1). Comparison-arm rows in a
one-series design are left out with a `comparison_rows_ignored` warning. `settings`
records every choice made here, so a stored result says how it was computed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from datetime import date
from functools import lru_cache
from importlib.metadata import version

from pilots.evaluation.plan import FrozenPlan, MetricPlan
from pilots.stats import sequential
from pilots.stats.did import difference_in_differences
from pilots.stats.its import interrupted_time_series
from pilots.stats.judgement import evaluate_two_group, judge
from pilots.stats.result import DataWarning, MethodEstimate, Result
from pilots.stats.spc import xmr_chart

ALPHA = 0.05
SPC_RULES = {"trend_length": 7, "shift_length": 7, "screen_outliers": True}
# (period, arm, unit, value, n), as read from the observation table, in key order.
Row = tuple[str, str, str, float, float | None]

_READING = {
    "two_group": "both arms; periods on or after the start; one value per unit",
    "pre_post": "pilot arm; every period; one point per period",
    "spc": "pilot arm; every period; one point per period; limits before the start",
    "did": "both arms; every period; one row per unit and period",
}


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """The versions that produced a result: the app and the numerical libraries."""
    return {name: version(name) for name in ("pilots", "statsmodels", "numpy", "scipy", "pandas")}


def used_rows(plan: FrozenPlan, rows: list[Row]) -> list[Row]:
    """The rows this design reads (the data hash covers the same: service._USED)."""
    if plan.design == "two_group":
        start = plan.start_date.isoformat()
        return [row for row in rows if row[0] >= start]
    if plan.design in ("pre_post", "spc"):
        return [row for row in rows if row[1] == "pilot"]
    return rows


def tuning(plan: FrozenPlan) -> float:
    """The confidence sequence is tightest at the planned sample size (STATS.md)."""
    return float(plan.planned_n) if plan.planned_n else sequential.DEFAULT_TUNING


def settings(plan: FrozenPlan, metric: MetricPlan, scheduled: bool) -> dict:
    """Everything besides the data that the stored result depends on."""
    out = {
        "design": plan.design,
        "reading": _READING[plan.design],
        "start_date": plan.start_date.isoformat(),
        "metric_type": metric.type,
        "direction": metric.direction,
        "role": metric.role,
        "minimal_important_difference": metric.minimal_important_difference,
        "min_value": metric.min_value,
        "max_value": metric.max_value,
        "alpha": ALPHA,
        "scheduled_look": scheduled,
        "verdict_interval": "sequential" if scheduled else "fixed",
        "tuning": tuning(plan),
        "multiple_metrics": "holm over secondary metrics; balancing flagged, not corrected",
        "plan_version": plan.version,
        "plan_hash": plan.plan_hash,
        "preview": plan.preview,
        "dropped_in_version": metric.dropped_in_version,
    }
    if plan.design == "spc":
        out["spc_rules"] = SPC_RULES
    return out


def _weight(n: float | None) -> float:
    return 1.0 if n is None else float(n)


def period_series(rows: list[Row], metric_type: str) -> list[dict]:
    """Per period and arm: rows, summed value and n, and the value a chart shows."""
    cells: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for period, arm, _unit, value, n in rows:
        cell = cells[(period, arm)]
        cell[0] += 1
        cell[1] += value
        cell[2] += _weight(n)
    series = []
    for (period, arm), (count, total, weight) in sorted(cells.items()):
        shown = total / count if metric_type == "mean" else total / weight
        series.append(
            {"period": period, "arm": arm, "rows": count, "sum": total, "n": weight, "value": shown}
        )
    return series


def _per_unit(metric: MetricPlan, rows: list[Row], arm: str) -> dict[str, list]:
    """One arm's values for the two-group tests, with each unit counted once.

    A person (or case, or site) followed month after month is one independent unit,
    not one per month: counting every month would shrink the interval and overstate
    the certainty. So per unit: a mean is the unit's average over its periods; a
    0/1 proportion is the unit's latest state; counts with trials or exposure are
    added up. Rows without a unit are aggregates of their own and count as given.
    """
    side: dict[str, list] = {"values": [], "n": []}
    by_unit: dict[str, list] = defaultdict(list)
    for period, row_arm, unit, value, n in rows:
        if row_arm != arm:
            continue
        if unit:
            by_unit[unit].append((period, value, n))
        else:
            side["values"].append(value)
            side["n"].append(n)
    for measurements in by_unit.values():
        if metric.type == "mean":
            side["values"].append(sum(v for _p, v, _n in measurements) / len(measurements))
            side["n"].append(None)
        elif metric.type == "proportion" and all(n is None for _p, _v, n in measurements):
            side["values"].append(max(measurements, key=lambda m: m[0])[1])
            side["n"].append(None)
        else:
            side["values"].append(sum(v for _p, v, _n in measurements))
            side["n"].append(sum(n or 0 for _p, _v, n in measurements))
    return side


def _two_group(plan, metric, rows, scheduled) -> Result:
    pilot, comparison = _per_unit(metric, rows, "pilot"), _per_unit(metric, rows, "comparison")
    return evaluate_two_group(
        pilot["values"],
        comparison["values"],
        metric=metric.slug,
        role=metric.role,
        direction=metric.direction,
        metric_type=metric.type,
        minimal_important_difference=metric.minimal_important_difference,
        pilot_n=pilot["n"],
        comparison_n=comparison["n"],
        min_value=metric.min_value,
        max_value=metric.max_value,
        scheduled_look=scheduled,
        tuning=tuning(plan),
        alpha=ALPHA,
        metric_name=metric.name,
        unit=metric.unit or None,
    )


def _one_series(metric: MetricPlan, series: list[dict]) -> list[tuple]:
    points = []
    for cell in series:
        day = date.fromisoformat(cell["period"])
        if metric.type == "rate":
            points.append((day, cell["sum"], cell["n"]))
        else:
            points.append((day, cell["value"]))
    return points


def _as_log_ratio(estimate: MethodEstimate) -> MethodEstimate:
    """An ITS rate ratio, marked as the judgement layer reads ratios (`scale` "log").

    interrupted_time_series labels its Poisson figures `rate_ratio`, while `judge`
    recognises ratios by `scale == "log"` (as two_group's rate ratio has it). Without
    this the verdict would test the ratio against 0 instead of 1.
    """
    if estimate.details.get("scale") != "rate_ratio":
        return estimate
    details = {**estimate.details, "scale": "log", "ratio_of": "rate"}
    if estimate.estimate is not None and estimate.estimate > 0:
        details["log_ratio"] = math.log(estimate.estimate)
    return replace(estimate, details=details)


def _judged(estimate, plan, metric, scheduled) -> Result:
    return judge(
        estimate,
        metric=metric.slug,
        role=metric.role,
        design=plan.design,
        direction=metric.direction,
        minimal_important_difference=metric.minimal_important_difference,
        scheduled_look=scheduled,
        metric_type=metric.type,
        alpha=ALPHA,
        tuning=tuning(plan),
        metric_name=metric.name,
        unit=metric.unit or None,
    )


def _did_rows(metric: MetricPlan, rows: list[Row]) -> list[tuple]:
    out = []
    for period, arm, unit, value, n in rows:
        shown = value if metric.type == "mean" or n is None else value / n
        out.append((unit or f"({arm})", arm, date.fromisoformat(period), shown))
    return out


def evaluate_metric(plan: FrozenPlan, metric: MetricPlan, rows: list[Row], scheduled: bool):
    """Run the engine for one metric on its rows (all periods up to the cut-off).

    Returns the judged `Result` (before the several-metrics review).
    """
    used = used_rows(plan, rows)
    series = period_series(used, metric.type)
    start = plan.start_date
    extra: list[DataWarning] = []
    if plan.design == "two_group":
        result = _two_group(plan, metric, used, scheduled)
    elif plan.design in ("pre_post", "spc"):
        ignored = len(rows) - len(used)
        if ignored:
            extra.append(DataWarning("comparison_rows_ignored", {"count": ignored}))
        points = _one_series(metric, series)
        if plan.design == "pre_post":
            estimate = _as_log_ratio(interrupted_time_series(points, start))
        else:
            if metric.type == "rate":
                points = [(day, events / exposure) for day, events, exposure in points]
            estimate = xmr_chart(points, start, direction=metric.direction, **SPC_RULES)
        result = _judged(estimate, plan, metric, scheduled)
    else:
        estimate = difference_in_differences(_did_rows(metric, used), start)
        result = _judged(estimate, plan, metric, scheduled)
    details = dict(result.details)
    if plan.design != "spc":
        details["series"] = series
    return replace(result, details=details, warnings=tuple(result.warnings) + tuple(extra))
