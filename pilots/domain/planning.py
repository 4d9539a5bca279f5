"""Planning help for the pilot form: what the planned size can detect, or the size
the minimal important difference needs, from the statistics engine's power functions.

It returns numbers and a `kind` that names the sentence to show; the web layer words
it in the reader's language.
"""

from __future__ import annotations

from pilots.stats import planning as power


def _number(value) -> float | None:
    try:
        text = str(value).strip().replace(",", ".").replace(" ", "").replace("\xa0", "")
        return float(text) if text else None
    except ValueError:
        return None


def planning_advice(
    *,
    design: str | None,
    metric_type: str | None,
    direction: str = "up",
    minimal_important_difference=None,
    planned_n=None,
    typical_value=None,
    typical_spread=None,
    baseline_periods=None,
    rate_per: float = 1.0,
    metric_name: str = "",
) -> dict:
    """Advice for one primary metric; `kind` says which sentence fits the numbers.

    A rate's typical level is read per `rate_per` of exposure, as the metric is shown
    ("visits per 100 days"), and each citizen of a group counts as that much exposure;
    the advice carries `rate_per` and `metric_name` so the page can say so. A planned size
    that can detect no change within reach (too few events expected) is `undetectable`."""
    mid = _number(minimal_important_difference)
    n = _number(planned_n)
    level = _number(typical_value)
    spread = _number(typical_spread)
    periods = _number(baseline_periods)
    if not design or not metric_type:
        return {"kind": "choose_design_and_metric"}
    if design == "spc":
        plan = power.plan_spc(n_baseline=int(periods or 0))
        return {
            "kind": "spc",
            "baseline_periods": int(periods or 0),
            "enough": (periods or 0) >= 12,
        }
    if design == "pre_post":
        if spread is None or not periods or not n:
            return {"kind": "need_series_inputs"}
        plan = power.plan_pre_post(
            sd=spread, n_before=int(periods), n_after=int(n), level_change=None
        )
        return _from_plan(plan, "series_detectable", mid)
    # two_group, and did read as two groups (a conservative approximation).
    if metric_type == "mean":
        if spread is None:
            return {"kind": "need_spread"}
        by_size = power.plan_means(sd=spread, n_pilot=int(n)) if n else None
        by_mid = power.plan_means(sd=spread, difference=mid) if mid else None
    elif metric_type == "proportion":
        if level is None or not 0 < level < 1:
            return {"kind": "need_level"}
        by_size = (
            power.plan_proportions(baseline=level, n_pilot=int(n), direction=direction)
            if n
            else None
        )
        by_mid = (
            power.plan_proportions(baseline=level, difference=mid, direction=direction)
            if mid
            else None
        )
    else:
        if level is None or level <= 0:
            return {"kind": "need_rate", "rate_per": rate_per, "metric_name": metric_name}
        by_size = (
            power.plan_rates(baseline_rate=level, n_pilot=int(n), direction=direction)
            if n
            else None
        )
        ratio = None
        if mid:
            ratio = 1 + mid if direction == "up" else max(1e-6, 1 - mid)
        by_mid = (
            power.plan_rates(baseline_rate=level, rate_ratio=ratio, direction=direction)
            if ratio
            else None
        )
    advice = {"kind": "two_group", "metric_type": metric_type, "direction": direction}
    if metric_type == "rate":
        advice.update(rate_per=rate_per, metric_name=metric_name)
    if by_size is not None:
        advice["planned_n"] = int(n)
        if by_size.defined:
            advice["detectable"] = by_size.effect
        else:
            advice["undetectable"] = True
    if by_mid is not None and by_mid.defined:
        advice["needed_n"] = by_mid.n_pilot
        advice["mid"] = mid
    if not {"detectable", "undetectable", "needed_n"} & advice.keys():
        return {"kind": "need_size_or_mid"}
    return advice


def _from_plan(plan, kind: str, mid) -> dict:
    if not plan.defined:
        return {"kind": "undefined", "reason": plan.reason}
    return {"kind": kind, "detectable": plan.effect, "mid": mid}
