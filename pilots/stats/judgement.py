"""From a method's numbers to a verdict a leader can act on.

Every design's method (two_group, pre_post, did, spc) hands over a `MethodEstimate`.
`judge` turns it into the `Result` the evaluation service stores and the API returns:
it picks the interval that decides (the always-valid one on scheduled looks), applies
the metric's improvement direction and the pilot's pre-registered minimal important
difference, computes the probability that the pilot is better, and writes the
one-sentence summary in bokmål and English. The rule is deliberately conservative: a
confident wrong answer is worse than "not enough data yet". `evaluate_two_group` is
the convenience the evaluation service calls for the `two_group` design: it picks the
method from the metric type, runs the data-quality checks, and judges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist

from pilots.stats import quality, sequential, summary, two_group
from pilots.stats.result import DataWarning, MethodEstimate, Result

VERDICTS = ("improved", "worsened", "no_clear_change", "insufficient_data")
DIRECTIONS = ("up", "down")
METRIC_TYPES = ("mean", "proportion", "rate")

_STANDARD_NORMAL = NormalDist()


def _sign(direction: str) -> int:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
    return 1 if direction == "up" else -1


def probability_improved(
    estimate: float,
    se: float,
    *,
    direction: str,
    null: float = 0.0,
    prior_sd: float | None = None,
) -> float | None:
    """Probability that the true effect lies on the improving side of `null`.

    Method: a normal approximation to the effect, effect ~ N(estimate, se^2), which
    with a flat prior gives P = Phi(s * (estimate - null) / se), s = +1 for `up`
    metrics and -1 for `down` (numerically one minus the one-sided p-value). With
    `prior_sd` the effect gets a weakly informative normal prior N(null, prior_sd^2)
    centred on "no effect", and the posterior is the conjugate normal one (e.g.
    Gelman et al., Bayesian Data Analysis, 3rd ed., section 2.5), which pulls small,
    noisy pilots towards 50 %. This is the quantity GrowthBook's Bayesian engine
    reports as "chance to win". For ratios pass log(ratio), its log-scale se and
    null=0. Returns None when se is missing, zero or not finite.
    """
    s = _sign(direction)
    if se is None or not math.isfinite(se) or se <= 0 or not math.isfinite(estimate):
        return None
    mean, sd = estimate - null, se
    if prior_sd is not None:
        if not prior_sd > 0:
            raise ValueError("prior_sd must be positive")
        precision = 1 / prior_sd**2 + 1 / se**2
        mean = (mean / se**2) / precision
        sd = math.sqrt(1 / precision)
    return _STANDARD_NORMAL.cdf(s * mean / sd)


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def _mid_on_improvement_scale(mid: float | None, direction: str, ratio: bool) -> float | None:
    """The MID as a distance on the improving side, on the scale the verdict uses."""
    if mid is None:
        return None
    mid = abs(mid)
    if not ratio:
        return mid
    # A relative MID m means ratio >= 1 + m for `up` and ratio <= 1 - m for `down`.
    # log(1 + m) rather than log1p(m): the user's threshold is the float 1 + m, and a
    # ratio exactly on it must count as reaching it.
    if direction == "up":
        return math.log(1 + mid)
    return -math.log(1 - mid) if mid < 1 else math.inf


@dataclass(frozen=True)
class Verdict:
    """A verdict and why: the interval used and whether the MID was reached."""

    verdict: str
    below_minimal_important_difference: bool = False


def verdict_from_interval(
    estimate: float,
    low: float,
    high: float,
    *,
    direction: str,
    minimal_important_difference: float | None = None,
    ratio: bool = False,
) -> Verdict:
    """The verdict rule for interval-based designs (two_group, pre_post, did).

    With s = +1 for `up` and -1 for `down`, effects measured from the null (0, or
    ratio 1 on the log scale for rate ratios) on the improving side:
      - improved: the whole interval lies on the improving side (it excludes the null)
        AND the point estimate reaches the minimal important difference (MID), when
        one was pre-registered;
      - worsened: the whole interval lies on the worsening side. No MID is needed for
        harm: a clear change for the worse is always reported;
      - no_clear_change: anything else, including an interval that excludes the null
        on the improving side while the estimate falls short of the MID (then
        `below_minimal_important_difference` is True and the summary says so).
    An interval touching the null does not exclude it. For ratios the MID is relative:
    0.10 means ratio >= 1.10 (`up`) or <= 0.90 (`down`).
    """
    s = _sign(direction)
    if ratio:
        estimate, low, high = _log(estimate), _log(low), _log(high)
    lo, hi = sorted((s * low, s * high))
    gain = s * estimate
    mid = _mid_on_improvement_scale(minimal_important_difference, direction, ratio)
    if lo > 0:
        if mid is not None and gain < mid:
            return Verdict("no_clear_change", below_minimal_important_difference=True)
        return Verdict("improved")
    if hi < 0:
        return Verdict("worsened")
    return Verdict("no_clear_change")


# Words the other helpers' spc output may use for the phase of a point.
_AFTER_PHASES = {"pilot", "post", "after", "after_start", "intervention", "improvement_phase"}
_BEFORE_PHASES = {"baseline", "pre", "before", "before_start"}


def _after_start(point: Mapping) -> bool | None:
    if "after_start" in point:
        return bool(point["after_start"])
    if "post" in point and isinstance(point["post"], bool):
        return point["post"]
    for key in ("baseline", "is_baseline"):
        if key in point and isinstance(point[key], bool):
            return not point[key]
    phase = point.get("phase")
    if isinstance(phase, str):
        if phase.lower() in _AFTER_PHASES:
            return True
        if phase.lower() in _BEFORE_PHASES:
            return False
    return None


def _signal_kind(signal, direction: str) -> str | None:
    """'improvement', 'concern' or None for one signal, read defensively."""
    texts: list[str] = []
    if isinstance(signal, str):
        texts.append(signal)
    elif isinstance(signal, Mapping):
        texts.extend(v for v in signal.values() if isinstance(v, str))
    lowered = " ".join(texts).lower()
    if "improv" in lowered:
        return "improvement"
    if "concern" in lowered:
        return "concern"
    if isinstance(signal, Mapping):
        # A signal that only says which side of the mean it is on: use the direction.
        side = str(signal.get("side", "")).lower()
        if side in ("above", "high", "upper", "below", "low", "lower"):
            high_side = side in ("above", "high", "upper")
            return "improvement" if high_side == (direction == "up") else "concern"
    return None


@dataclass(frozen=True)
class SpcSignals:
    """Counts of improvement and concern signals after the pilot's start."""

    improvement: int
    concern: int
    phase_known: bool = True


def spc_signals(details: Mapping, direction: str) -> SpcSignals | None:
    """Read the run chart's signals after the start from an spc estimate's details.

    Uses `details["signal_summary"]` when present (a mapping with `improvement` and
    `concern` counts or flags, or one of the words "improvement", "concern", "both",
    "none"); otherwise walks `details["points"]`, keeps points marked as after the
    start (`after_start`, `post`, `baseline` or `phase`), and classifies each of their
    `signals` (and a point-level `variation`/`point_type` such as
    "special_cause_improvement") as improvement or concern. When no point says its
    phase, all points count and `phase_known` is False. None when neither is present.
    """
    summary_value = details.get("signal_summary")
    if isinstance(summary_value, Mapping):
        return SpcSignals(
            int(summary_value.get("improvement", 0) or 0),
            int(summary_value.get("concern", 0) or 0),
        )
    if isinstance(summary_value, str):
        word = summary_value.lower()
        both = word == "both"
        return SpcSignals(int(both or "improv" in word), int(both or "concern" in word))
    points = details.get("points")
    if not isinstance(points, Sequence) or isinstance(points, str):
        return None
    phases = [(_after_start(p) if isinstance(p, Mapping) else None) for p in points]
    phase_known = any(phase is not None for phase in phases)
    improvement = concern = 0
    for point, after in zip(points, phases, strict=True):
        if not isinstance(point, Mapping) or (phase_known and not after):
            continue
        found = list(point.get("signals") or ())
        for key in ("variation", "point_type"):
            if isinstance(point.get(key), str) and "special" in point[key].lower():
                found.append(point[key])
        kinds = {_signal_kind(signal, direction) for signal in found}
        improvement += "improvement" in kinds
        concern += "concern" in kinds
    return SpcSignals(improvement, concern, phase_known)


def _is_ratio(estimate: MethodEstimate) -> bool:
    return estimate.details.get("scale") == "log"


def _centre_for_normal(estimate: MethodEstimate) -> float | None:
    """The estimate on the scale its `se` belongs to (log for ratios)."""
    if estimate.estimate is None:
        return None
    if _is_ratio(estimate):
        log_ratio = estimate.details.get("log_ratio")
        if log_ratio is not None:
            return float(log_ratio)
        return math.log(estimate.estimate) if estimate.estimate > 0 else None
    return float(estimate.estimate)


def _sequential_interval(
    estimate: MethodEstimate,
    alpha: float,
    tuning: float,
    centre: float | None,
    ratio: bool,
) -> tuple[float, float] | None:
    """The always-valid interval; `centre` and `ratio` as `_centre_for_normal` and
    `_is_ratio` give them (the caller has them already)."""
    given = (estimate.details.get("sequential_ci_low"), estimate.details.get("sequential_ci_high"))
    if None not in given:
        return float(given[0]), float(given[1])
    if centre is None or estimate.se is None or not estimate.se > 0 or estimate.n < 1:
        return None
    interval = sequential.confidence_sequence(
        math.exp(centre) if ratio else centre,
        estimate.se,
        estimate.n,
        alpha=alpha,
        tuning=tuning,
        log_scale=ratio,
    )
    return interval.low, interval.high


def _summary_kind(ratio: bool, metric_type: str) -> str:
    if ratio:
        return "ratio"
    return "proportion" if metric_type == "proportion" else "mean"


def _insufficient(result_fields: dict, warnings, name_args) -> Result:
    metric, metric_name = name_args
    sentences = {
        language: summary.insufficient_sentence(
            summary.display_name(metric, metric_name, language), language
        )
        for language in summary.LOCALES
    }
    return Result(
        **result_fields,
        probability_improved=None,
        verdict="insufficient_data",
        summary=sentences,
        warnings=tuple(warnings),
    )


def judge(
    estimate: MethodEstimate,
    *,
    metric: str,
    role: str,
    design: str,
    direction: str,
    minimal_important_difference: float | None = None,
    scheduled_look: bool = False,
    metric_type: str = "mean",
    alpha: float = 0.05,
    tuning: float = sequential.DEFAULT_TUNING,
    prior_sd: float | None = None,
    metric_name: str | Mapping[str, str] | None = None,
    unit: str | None = None,
) -> Result:
    """Judge one metric's estimate: verdict, probability improved and summary.

    Verdict rule (see `verdict_from_interval`): improved when the deciding interval
    lies wholly on the improving side of the null and the estimate reaches the
    pre-registered minimal important difference; worsened when it lies wholly on the
    worsening side; otherwise no_clear_change. The deciding interval is the
    always-valid confidence sequence (`sequential.confidence_sequence`, tuned by
    `tuning`, ideally the planned total sample size) when `scheduled_look=True`, else
    the fixed-sample interval. For ratio estimates (`details["scale"] == "log"`, the
    rate ratio of two_group) the null is ratio 1 and the MID relative. For `spc`
    the verdict comes from the chart's signals after the start (`spc_signals`):
    improvement only -> improved, concern only -> worsened, both -> no_clear_change
    with `details["spc_mixed_signals"]`, none -> no_clear_change.

    insufficient_data when the method said it cannot answer (`sufficient=False`),
    when the estimate or interval is missing, or when a scheduled look has no
    standard error to build its always-valid interval from. `probability_improved`
    uses `prior_sd` (on the estimate's scale; log scale for ratios) when given.
    """
    _sign(direction)
    fields = {
        "metric": metric,
        "role": role,
        "design": design,
        "method": estimate.method,
        "estimate": estimate.estimate,
        "ci_low": estimate.ci_low,
        "ci_high": estimate.ci_high,
        "p_value": estimate.p_value,
        "n_pilot": estimate.n_pilot,
        "n_comparison": estimate.n_comparison,
    }
    details = {
        **estimate.details,
        "direction": direction,
        "alpha": alpha,
        "minimal_important_difference": minimal_important_difference,
        "metric_name": metric_name,
        "unit": unit,
        "metric_type": metric_type,
    }
    warnings = list(estimate.warnings)
    names = (metric, metric_name)
    if design == "spc":
        return _judge_spc(estimate, fields, details, warnings, direction, names)
    if (
        not estimate.sufficient
        or estimate.estimate is None
        or estimate.ci_low is None
        or estimate.ci_high is None
    ):
        return _insufficient({**fields, "details": details}, warnings, names)

    ratio = _is_ratio(estimate)
    centre = _centre_for_normal(estimate)
    low, high = estimate.ci_low, estimate.ci_high
    details["verdict_interval"] = "fixed"
    if scheduled_look:
        interval = _sequential_interval(estimate, alpha, tuning, centre, ratio)
        if interval is None:
            warnings.append(DataWarning("sequential_interval_unavailable", {}))
            return _insufficient({**fields, "details": details}, warnings, names)
        low, high = interval
        details.update(
            sequential_ci_low=low,
            sequential_ci_high=high,
            sequential_tuning=tuning,
            verdict_interval="sequential",
        )
    decided = verdict_from_interval(
        estimate.estimate,
        low,
        high,
        direction=direction,
        minimal_important_difference=minimal_important_difference,
        ratio=ratio,
    )
    details["below_minimal_important_difference"] = decided.below_minimal_important_difference
    probability = (
        None
        if centre is None or estimate.se is None
        else probability_improved(centre, estimate.se, direction=direction, prior_sd=prior_sd)
    )
    sentences = summary.effect_sentences(
        metric=metric,
        metric_name=metric_name,
        design=design,
        kind=_summary_kind(ratio, metric_type),
        verdict=decided.verdict,
        estimate=estimate.estimate,
        low=low,
        high=high,
        alpha=alpha,
        sequential=scheduled_look,
        unit=unit,
        below_mid=decided.below_minimal_important_difference,
        mid=minimal_important_difference,
    )
    return Result(
        **fields,
        probability_improved=probability,
        verdict=decided.verdict,
        summary=sentences,
        details=details,
        warnings=tuple(warnings),
    )


def _judge_spc(estimate, fields, details, warnings, direction, names) -> Result:
    signals = spc_signals(estimate.details, direction)
    if not estimate.sufficient or signals is None:
        return _insufficient({**fields, "details": details}, warnings, names)
    if not signals.phase_known:
        warnings.append(DataWarning("spc_phase_unknown", {}))
    if signals.improvement and signals.concern:
        verdict = "no_clear_change"
        details["spc_mixed_signals"] = True
    elif signals.improvement:
        verdict = "improved"
    elif signals.concern:
        verdict = "worsened"
    else:
        verdict = "no_clear_change"
    details.update(spc_improvement_signals=signals.improvement, spc_concern_signals=signals.concern)
    metric, metric_name = names
    sentences = {
        language: summary.spc_sentence(
            summary.display_name(metric, metric_name, language),
            language,
            signals.improvement,
            signals.concern,
        )
        for language in summary.LOCALES
    }
    return Result(
        **fields,
        probability_improved=None,
        verdict=verdict,
        summary=sentences,
        details=details,
        warnings=tuple(warnings),
    )


def _arm_totals(values: Sequence[float], ns: Sequence[float | None] | None):
    """(sum of values, sum of n with 1 for rows without n, rows without n, their values)."""
    ns = list(ns) if ns is not None else [None] * len(values)
    if len(ns) != len(values):
        raise ValueError("n must have one entry per value")
    # Lists rather than generators: quicker on an arm's few dozen units, same sums.
    floats = [float(v) for v in values]
    total_value = sum(floats)
    total_n = sum([1.0 if n is None else float(n) for n in ns])
    unit_values = [v for v, n in zip(floats, ns, strict=True) if n is None]
    return total_value, total_n, unit_values


def estimate_two_group(
    pilot_values: Sequence[float],
    comparison_values: Sequence[float],
    *,
    metric_type: str,
    pilot_n: Sequence[float | None] | None = None,
    comparison_n: Sequence[float | None] | None = None,
    pilot_pre: Sequence[float] | None = None,
    comparison_pre: Sequence[float] | None = None,
    planned_pilot_share: float | None = None,
    min_value: float | None = None,
    max_value: float | None = None,
    alpha: float = 0.05,
) -> MethodEstimate:
    """Pick and run the two_group method for the metric type, observation rows in.

    Rows follow the observation contract: a row without `n` is one unit (for
    proportions its value is 0 or 1); with `n`, a proportion row is successes out of
    n trials and a rate row is events over exposure n. `mean` -> `compare_means`
    (`compare_means_cuped` when both arms' pre-period values are given, paired by
    position); `proportion` -> `compare_proportions` on the summed counts; `rate` ->
    `compare_rates` on summed events and exposure (a row without n counts exposure 1).
    With `planned_pilot_share` the arm sizes (units or trials) are checked for
    sample-ratio mismatch; a mismatch makes the estimate insufficient, because the
    arms may no longer be comparable.
    """
    if metric_type not in METRIC_TYPES:
        raise ValueError(f"metric_type must be one of {METRIC_TYPES}, not {metric_type!r}")
    if metric_type == "mean":
        if pilot_pre is not None and comparison_pre is not None:
            result = two_group.compare_means_cuped(
                pilot_values,
                pilot_pre,
                comparison_values,
                comparison_pre,
                alpha=alpha,
                min_value=min_value,
                max_value=max_value,
            )
        else:
            result = two_group.compare_means(
                pilot_values,
                comparison_values,
                alpha=alpha,
                min_value=min_value,
                max_value=max_value,
            )
        sizes = (result.n_pilot, result.n_comparison)
    elif metric_type == "proportion":
        extra: list[DataWarning] = []
        counts = []
        for arm, values, ns in (
            ("pilot", pilot_values, pilot_n),
            ("comparison", comparison_values, comparison_n),
        ):
            successes, trials, unit_values = _arm_totals(values, ns)
            not_binary = sum(1 for v in unit_values if v not in (0.0, 1.0))
            if not_binary:
                extra.append(DataWarning(quality.NOT_BINARY, {"arm": arm, "count": not_binary}))
            counts.append((successes, trials))
        result = two_group.compare_proportions(*counts[0], *counts[1], alpha=alpha)
        if extra:
            result = replace(result, sufficient=False, warnings=tuple(extra) + result.warnings)
        sizes = (result.n_pilot, result.n_comparison)
    else:
        events1, exposure1, _ = _arm_totals(pilot_values, pilot_n)
        events2, exposure2, _ = _arm_totals(comparison_values, comparison_n)
        result = two_group.compare_rates(events1, exposure1, events2, exposure2, alpha=alpha)
        sizes = None  # exposure is not a count of assigned units
    if planned_pilot_share is not None and sizes is not None:
        mismatch = two_group.sample_ratio_check(*sizes, planned_pilot_share=planned_pilot_share)
        if mismatch is not None:
            result = replace(result, sufficient=False, warnings=result.warnings + (mismatch,))
    return result


def evaluate_two_group(
    pilot_values: Sequence[float],
    comparison_values: Sequence[float],
    *,
    metric: str,
    role: str,
    direction: str,
    metric_type: str,
    minimal_important_difference: float | None = None,
    pilot_n: Sequence[float | None] | None = None,
    comparison_n: Sequence[float | None] | None = None,
    pilot_pre: Sequence[float] | None = None,
    comparison_pre: Sequence[float] | None = None,
    planned_pilot_share: float | None = None,
    min_value: float | None = None,
    max_value: float | None = None,
    scheduled_look: bool = False,
    tuning: float = sequential.DEFAULT_TUNING,
    alpha: float = 0.05,
    prior_sd: float | None = None,
    metric_name: str | Mapping[str, str] | None = None,
    unit: str | None = None,
) -> Result:
    """`estimate_two_group` then `judge`, for the `two_group` design in one call."""
    estimate = estimate_two_group(
        pilot_values,
        comparison_values,
        metric_type=metric_type,
        pilot_n=pilot_n,
        comparison_n=comparison_n,
        pilot_pre=pilot_pre,
        comparison_pre=comparison_pre,
        planned_pilot_share=planned_pilot_share,
        min_value=min_value,
        max_value=max_value,
        alpha=alpha,
    )
    return judge(
        estimate,
        metric=metric,
        role=role,
        design="two_group",
        direction=direction,
        minimal_important_difference=minimal_important_difference,
        scheduled_look=scheduled_look,
        metric_type=metric_type,
        alpha=alpha,
        tuning=tuning,
        prior_sd=prior_sd,
        metric_name=metric_name,
        unit=unit,
    )
