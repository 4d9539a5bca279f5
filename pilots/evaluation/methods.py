"""From a metric's inputs to the statistics engine's call for its design.

What each design reads of the observations is in `inputs`. Here: `two_group` compares
one value per unit by the metric type; `pre_post` fits the per-period points (for
rates, events and exposure for the Poisson fit, whose rate ratio is judged on the log
scale); `spc` charts them (rates as events/exposure), with limits from the periods
before the start; `did` fits the units' sums. Comparison-arm rows in a one-series
design are left out with a `comparison_rows_ignored` warning. `settings` records
every choice made here, so a stored result says how it was computed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from functools import lru_cache
from importlib.metadata import version

from pilots.domain.metrics import shown_unit
from pilots.evaluation.inputs import MetricInputs, Side, exposure
from pilots.evaluation.plan import FrozenPlan, MetricPlan
from pilots.stats import sequential
from pilots.stats.did import did_from_panel
from pilots.stats.its import interrupted_time_series
from pilots.stats.judgement import evaluate_two_group, judge
from pilots.stats.result import DataWarning, MethodEstimate, Result, revised
from pilots.stats.spc import xmr_chart

ALPHA = 0.05
SPC_RULES = {"trend_length": 7, "shift_length": 7, "screen_outliers": True}

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
    if metric.type == "rate":
        out["rate_per"] = metric.rate_per
    return out


def _two_group(plan, metric, pilot: Side, comparison: Side, scheduled) -> Result:
    return evaluate_two_group(
        pilot.values,
        comparison.values,
        metric=metric.slug,
        role=metric.role,
        direction=metric.direction,
        metric_type=metric.type,
        minimal_important_difference=metric.minimal_important_difference,
        pilot_n=pilot.n,
        comparison_n=comparison.n,
        min_value=metric.min_value,
        max_value=metric.max_value,
        scheduled_look=scheduled,
        tuning=tuning(plan),
        alpha=ALPHA,
        metric_name=metric.name,
        unit=shown_unit(metric.unit, metric.type, metric.rate_per) or None,
    )


def _one_series(metric: MetricPlan, series: list[dict]) -> list[tuple]:
    days = [date.fromisoformat(cell["period"]) for cell in series]
    if metric.type == "rate":
        return [
            (day, cell["sum"], exposure(cell["n"], metric.rate_per))
            for day, cell in zip(days, series, strict=True)
        ]
    return [(day, cell["value"]) for day, cell in zip(days, series, strict=True)]


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
        unit=shown_unit(metric.unit, metric.type, metric.rate_per) or None,
    )


def evaluate_metric(plan: FrozenPlan, metric: MetricPlan, inputs: MetricInputs, scheduled: bool):
    """Run the engine for one metric on its inputs (`inputs.read_inputs` or `from_rows`).

    Returns the judged `Result` (before the several-metrics review).
    """
    series = inputs.series
    start = plan.start_date
    extra: list[DataWarning] = []
    if plan.design == "two_group":
        result = _two_group(plan, metric, *inputs.sides, scheduled)
    elif plan.design in ("pre_post", "spc"):
        if inputs.ignored_rows:
            extra.append(DataWarning("comparison_rows_ignored", {"count": inputs.ignored_rows}))
        points = _one_series(metric, series)
        if plan.design == "pre_post":
            estimate = _as_log_ratio(interrupted_time_series(points, start))
        else:
            if metric.type == "rate":
                points = [(day, events / exposure) for day, events, exposure in points]
            estimate = xmr_chart(points, start, direction=metric.direction, **SPC_RULES)
        result = _judged(estimate, plan, metric, scheduled)
    else:
        result = _judged(did_from_panel(inputs.panel), plan, metric, scheduled)
    if plan.design == "two_group" or (plan.design == "spc" and not extra):
        # Nothing to add: two_group charts each arm's estimate, and an XmR chart's
        # points stand in for the series.
        return result
    if plan.design == "spc":
        details = dict(result.details)
    else:
        details = {**result.details, "series": series}
    return revised(result, details=details, warnings=tuple(result.warnings) + tuple(extra))
