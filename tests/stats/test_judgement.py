"""Verdicts, probability improved, summaries, Holm and balancing metrics."""

import math
from statistics import NormalDist

import pytest

from pilots.stats import quality
from pilots.stats.judgement import (
    estimate_two_group,
    evaluate_two_group,
    judge,
    probability_improved,
    spc_signals,
    verdict_from_interval,
)
from pilots.stats.result import MethodEstimate
from pilots.stats.several import balancing_concerns, holm_adjust, review_several
from pilots.stats.summary import format_number
from pilots.stats.two_group import compare_proportions, compare_rates

NBSP = "\u00a0"


def estimate(value, low, high, *, se=None, p=0.01, n=100, sufficient=True, **details):
    return MethodEstimate(
        method="test",
        estimate=value,
        ci_low=low,
        ci_high=high,
        p_value=p,
        se=se if se is not None else (high - low) / 3.92,
        n=n,
        n_pilot=n // 2,
        n_comparison=n // 2,
        sufficient=sufficient,
        details=details,
    )


def judged(est, direction="up", **kwargs):
    kwargs.setdefault("metric", "m")
    kwargs.setdefault("role", "primary")
    kwargs.setdefault("design", "two_group")
    return judge(est, direction=direction, **kwargs)


# --- the verdict rule --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "direction", "mid", "verdict", "below_mid"),
    [
        ((1.0, 3.0), "up", None, "improved", False),
        ((1.0, 3.0), "down", None, "worsened", False),
        ((-3.0, -1.0), "down", None, "improved", False),
        ((-3.0, -1.0), "up", None, "worsened", False),
        ((-1.0, 3.0), "up", None, "no_clear_change", False),
        ((0.0, 3.0), "up", None, "no_clear_change", False),  # touching zero
        ((1.0, 3.0), "up", 2.0, "improved", False),  # estimate 2.0 reaches the MID
        ((1.0, 3.0), "up", 2.5, "no_clear_change", True),
        ((-3.0, -1.0), "up", 5.0, "worsened", False),  # harm needs no MID
        ((-3.0, -1.0), "down", -2.0, "improved", False),  # MID sign is ignored
    ],
)
def test_verdict_rule(interval, direction, mid, verdict, below_mid):
    low, high = interval
    decided = verdict_from_interval(
        (low + high) / 2, low, high, direction=direction, minimal_important_difference=mid
    )
    assert decided.verdict == verdict
    assert decided.below_minimal_important_difference is below_mid


@pytest.mark.parametrize(
    ("ratio", "interval", "direction", "mid", "verdict"),
    [
        (0.7, (0.5, 0.9), "down", None, "improved"),
        (0.7, (0.5, 0.9), "up", None, "worsened"),
        (0.7, (0.5, 1.1), "down", None, "no_clear_change"),
        (0.7, (0.5, 0.9), "down", 0.3, "improved"),  # 0.7 <= 1 - 0.3
        (0.75, (0.6, 0.95), "down", 0.3, "no_clear_change"),
        (1.2, (1.05, 1.4), "up", 0.2, "improved"),  # 1.2 >= 1 + 0.2
        (1.15, (1.05, 1.3), "up", 0.2, "no_clear_change"),
    ],
)
def test_ratio_verdicts_use_null_one_and_relative_mid(ratio, interval, direction, mid, verdict):
    decided = verdict_from_interval(
        ratio, *interval, direction=direction, minimal_important_difference=mid, ratio=True
    )
    assert decided.verdict == verdict


def test_judge_applies_the_rule_and_keeps_fixed_numbers():
    result = judged(estimate(2.0, 1.0, 3.0), minimal_important_difference=1.5)
    assert result.verdict == "improved"
    assert (result.ci_low, result.ci_high) == (1.0, 3.0)
    assert result.details["verdict_interval"] == "fixed"
    assert "sequential_ci_low" not in result.details


def test_scheduled_look_decides_on_the_wider_sequential_interval():
    est = estimate(2.0, 0.5, 3.5, se=0.75, n=40)
    fixed = judged(est)
    looked = judged(est, scheduled_look=True, tuning=40)
    assert fixed.verdict == "improved"
    assert looked.verdict == "no_clear_change"
    assert looked.details["sequential_ci_low"] < 0 < looked.details["sequential_ci_high"]
    assert looked.details["verdict_interval"] == "sequential"
    assert (looked.ci_low, looked.ci_high) == (0.5, 3.5)  # fixed figures stay for analysts


def test_scheduled_look_uses_a_sequential_interval_given_by_the_method():
    est = estimate(2.0, 0.5, 3.5, sequential_ci_low=0.1, sequential_ci_high=3.9)
    result = judged(est, scheduled_look=True)
    assert result.verdict == "improved"
    assert result.details["sequential_ci_low"] == 0.1


def test_scheduled_look_without_se_is_insufficient():
    est = MethodEstimate("x", 2.0, 1.0, 3.0, 0.01, se=None, n=10)
    result = judged(est, scheduled_look=True)
    assert result.verdict == "insufficient_data"
    assert "sequential_interval_unavailable" in [w.code for w in result.warnings]


def test_rate_ratio_sequential_interval_stays_positive():
    result = judged(
        compare_rates(60, 51477.5, 30, 54308.7),
        direction="down",
        metric_type="rate",
        scheduled_look=True,
    )
    assert 0 < result.details["sequential_ci_low"] < result.ci_low
    assert result.verdict == "worsened"


@pytest.mark.parametrize(
    "est",
    [
        estimate(2.0, 1.0, 3.0, sufficient=False),
        MethodEstimate("x", None, None, None, None),
        MethodEstimate("x", 2.0, None, None, None),
    ],
)
def test_insufficient_data(est):
    result = judged(est)
    assert result.verdict == "insufficient_data"
    assert result.probability_improved is None
    assert result.summary["nb"] == "M: for lite data til å si noe sikkert ennå."
    assert result.summary["en"] == "M: not enough data to say anything reliable yet."


def test_invalid_direction_raises():
    with pytest.raises(ValueError):
        judged(estimate(1.0, 0.5, 1.5), direction="sideways")


# --- probability improved ----------------------------------------------------------------


def test_probability_improved_is_one_minus_the_one_sided_p_value():
    # With a flat prior, P(effect > 0) = Phi(estimate / se) = 1 - one-sided z p-value.
    assert probability_improved(1.0, 0.5, direction="up") == pytest.approx(NormalDist().cdf(2.0))
    assert probability_improved(1.0, 0.5, direction="down") == pytest.approx(NormalDist().cdf(-2.0))
    assert probability_improved(0.0, 0.5, direction="up") == pytest.approx(0.5)


def test_prior_pulls_towards_one_half():
    # Conjugate normal: posterior mean = est * tau^2 / (tau^2 + se^2); with tau = se
    # the mean halves and the sd is se / sqrt(2): Phi(0.5 / (0.5 / sqrt 2)).
    flat = probability_improved(1.0, 0.5, direction="up")
    shrunk = probability_improved(1.0, 0.5, direction="up", prior_sd=0.5)
    assert shrunk == pytest.approx(NormalDist().cdf(math.sqrt(2)))
    assert 0.5 < shrunk < flat


def test_probability_is_none_without_a_usable_se():
    assert probability_improved(1.0, 0.0, direction="up") is None
    assert probability_improved(1.0, float("nan"), direction="up") is None


def test_rate_probability_uses_the_log_scale():
    est = compare_rates(60, 51477.5, 30, 54308.7)
    result = judged(est, direction="down", metric_type="rate")
    expected = NormalDist().cdf(-math.log(est.estimate) / est.se)
    assert result.probability_improved == pytest.approx(expected)


# --- spc ---------------------------------------------------------------------------------


def spc_estimate(points=None, summary=None, sufficient=True):
    details = {}
    if points is not None:
        details["points"] = points
    if summary is not None:
        details["signal_summary"] = summary
    return MethodEstimate("xmr", None, None, None, None, sufficient=sufficient, details=details)


def point(post, *kinds):
    return {
        "post": post,
        "signals": [{"rule": "outside_limits", "variation": k} for k in kinds],
        "variation": kinds[0] if kinds else "common",
    }


@pytest.mark.parametrize(
    ("summary", "verdict"),
    [
        ({"improvement": 2, "concern": 0, "neither": 0}, "improved"),
        ({"improvement": 0, "concern": 1, "neither": 0}, "worsened"),
        ({"improvement": 1, "concern": 1, "neither": 0}, "no_clear_change"),
        ({"improvement": 0, "concern": 0, "neither": 3}, "no_clear_change"),
    ],
)
def test_spc_verdict_from_signal_summary(summary, verdict):
    result = judged(spc_estimate(summary=summary), design="spc")
    assert result.verdict == verdict
    assert result.details.get("spc_mixed_signals", False) is (
        summary["concern"] == 1 == summary["improvement"]
    )


def test_spc_points_count_only_after_the_start():
    points = [point(False, "concern"), point(False), point(True), point(True, "improvement")]
    result = judged(spc_estimate(points=points), design="spc")
    assert result.verdict == "improved"
    assert result.summary["nb"] == "M: etter oppstart viser kurven et tydelig tegn på forbedring."


def test_spc_both_kinds_say_so():
    points = [point(True, "improvement"), point(True, "concern")]
    result = judged(spc_estimate(points=points), design="spc")
    assert result.verdict == "no_clear_change"
    assert "både" in result.summary["nb"] and "both" in result.summary["en"]


def test_spc_reads_other_shapes_defensively():
    assert spc_signals({"points": [{"phase": "pilot", "signals": ["concern"]}]}, "up").concern == 1
    side = {"points": [{"after_start": True, "signals": [{"side": "above"}]}]}
    assert spc_signals(side, "down").concern == 1 and spc_signals(side, "up").improvement == 1
    unknown = spc_signals({"points": [{"signals": ["special_cause_improvement"]}]}, "up")
    assert unknown.improvement == 1 and not unknown.phase_known
    assert spc_signals({}, "up") is None
    assert judged(spc_estimate(), design="spc").verdict == "insufficient_data"
    assert judged(spc_estimate(summary={}, sufficient=False), design="spc").verdict == (
        "insufficient_data"
    )


# --- summaries ---------------------------------------------------------------------------


def test_norwegian_numbers_use_decimal_comma_and_nbsp_thousands():
    assert format_number(1234.5, "nb", 1) == f"1{NBSP}234,5"
    assert format_number(1234.5, "en", 1) == "1,234.5"
    assert format_number(-0.04, "nb", 1) == "0,0"


def test_proportion_summary_in_both_languages():
    # 56/70 vs 48/80 (Newcombe example a): +20.0 pp, CI 5.2 to 33.4.
    result = judged(
        compare_proportions(56, 70, 48, 80),
        metric_type="proportion",
        metric_name={"nb": "andelen som fikk bolig", "en": "share who got housing"},
    )
    assert result.summary["nb"] == (
        "Andelen som fikk bolig: andelen var 20,0 prosentpoeng høyere i pilotgruppen enn i "
        "sammenligningsgruppen (95 % KI 5,2 til 33,4); trolig en forbedring."
    )
    assert result.summary["en"] == (
        "Share who got housing: the share was 20.0 percentage points higher in the pilot "
        "group than in the comparison group (95% CI 5.2 to 33.4); probably an improvement."
    )


def test_mean_summary_with_thousands_and_unit():
    est = estimate(-1580.0, -3365.5, 205.5)
    result = judged(
        est, direction="down", unit={"nb": "kroner", "en": "kroner"}, metric_name="Kostnad"
    )
    assert result.summary["nb"] == (
        f"Kostnad: gjennomsnittet var 1{NBSP}580 kroner lavere i pilotgruppen enn i "
        f"sammenligningsgruppen (95 % KI -3{NBSP}366 til 206); ingen tydelig endring."
    )


def test_summary_says_when_the_mid_was_not_reached():
    result = judged(estimate(2.0, 1.0, 3.0), minimal_important_difference=2.5, metric_name="Score")
    assert result.verdict == "no_clear_change"
    assert "mindre enn den forhåndsbestemte viktige forskjellen på 2,5" in result.summary["nb"]
    assert "smaller than the pre-set important difference of 2.5" in result.summary["en"]


def test_rate_and_sequential_summary():
    result = judged(
        compare_rates(60, 51477.5, 30, 54308.7),
        direction="down",
        metric_type="rate",
        metric_name="Fall",
    )
    assert result.summary["nb"].startswith(
        "Fall: raten var 111 % høyere i pilotgruppen enn i sammenligningsgruppen "
        "(forholdstall 2,11; 95 % KI 1,37 til 3,26); trolig en forverring"
    )
    looked = judged(estimate(2.0, 1.0, 3.0), scheduled_look=True)
    assert "justert for gjentatte vurderinger" in looked.summary["nb"]
    assert "adjusted for repeated looks" in looked.summary["en"]


def test_pre_post_and_did_wording():
    pre_post = judged(estimate(-2.0, -3.0, -1.0), direction="down", design="pre_post")
    assert "nivået falt med 2,0 da piloten startet" in pre_post.summary["nb"]
    did = judged(estimate(2.0, 1.0, 3.0), design="did")
    assert "went 2.0 further up than in the comparison group" in did.summary["en"]


# --- evaluate_two_group ------------------------------------------------------------------


def test_evaluate_two_group_picks_the_method_by_type():
    means = evaluate_two_group(
        [5, 6, 7, 8, 9, 7],
        [4, 5, 4, 6, 5, 5],
        metric="m",
        role="primary",
        direction="up",
        metric_type="mean",
    )
    assert means.method == "welch_t" and means.design == "two_group"
    rows = evaluate_two_group(
        [9, 1],
        [3, 1],
        pilot_n=[10, None],
        comparison_n=[10, None],
        metric="p",
        role="primary",
        direction="up",
        metric_type="proportion",
    )
    direct = compare_proportions(10, 11, 4, 11)
    assert rows.method == "newcombe_diff" and rows.ci_low == direct.ci_low
    rates = evaluate_two_group(
        [30, 30],
        [30],
        pilot_n=[25000, 26477.5],
        comparison_n=[54308.7],
        metric="r",
        role="primary",
        direction="down",
        metric_type="rate",
    )
    assert rates.estimate == pytest.approx(compare_rates(60, 51477.5, 30, 54308.7).estimate)


def test_evaluate_two_group_with_pre_values_uses_cuped():
    pre = [1, 2, 3, 4, 5, 6]
    result = evaluate_two_group(
        [2, 3, 5, 5, 7, 7],
        [1, 3, 3, 5, 5, 7],
        pilot_pre=pre,
        comparison_pre=pre,
        metric="m",
        role="primary",
        direction="up",
        metric_type="mean",
    )
    assert result.method == "welch_t_cuped"


def test_sample_ratio_mismatch_makes_it_insufficient():
    result = estimate_two_group(
        [1] * 300 + [0] * 200,
        [1] * 200 + [0] * 200,
        metric_type="proportion",
        planned_pilot_share=0.5,
    )
    assert quality.SAMPLE_RATIO_MISMATCH in [w.code for w in result.warnings]
    assert not result.sufficient


def test_non_binary_proportion_rows_are_insufficient():
    result = evaluate_two_group(
        [1, 0, 1, 3, 1, 0],
        [0, 0, 1, 0, 0, 1],
        metric="p",
        role="primary",
        direction="up",
        metric_type="proportion",
    )
    assert result.verdict == "insufficient_data"
    assert quality.NOT_BINARY in [w.code for w in result.warnings]


def test_unknown_metric_type_raises():
    with pytest.raises(ValueError):
        estimate_two_group([1.0], [2.0], metric_type="median")


# --- several metrics ---------------------------------------------------------------------


def test_holm_matches_r_p_adjust():
    # statsmodels/stats/tests/test_multi.py, res_multtest3: raw p-values and R's
    # p.adjust(method = "holm") column.
    raw = [0.001, 0.002, 0.003, 0.004, 0.005, 0.05, 0.06, 0.07, 0.08, 0.09]
    holm = [0.01, 0.018, 0.024, 0.028, 0.03, 0.25, 0.25, 0.25, 0.25, 0.25]
    assert holm_adjust(raw) == pytest.approx(holm)


def test_holm_wikipedia_example_and_missing_values():
    # Holm (1979) step-down by hand (the example on Wikipedia's Holm-Bonferroni page):
    # p = 0.01, 0.04, 0.03, 0.005 -> adjusted 0.03, 0.06, 0.06, 0.02.
    assert holm_adjust([0.01, None, 0.04, 0.03, 0.005]) == pytest.approx(
        (0.03, None, 0.06, 0.06, 0.02)
    )
    assert holm_adjust([None]) == (None,)


def test_holm_is_not_holm_sidak():
    # Holm-Sidak (statsmodels' default) would give 1 - (1 - 0.01)^2 = 0.0199.
    assert holm_adjust([0.01, 0.5]) == pytest.approx((0.02, 0.5))


def test_review_several_downgrades_secondary_and_flags_balancing():
    clear = judged(estimate(2.0, 1.0, 3.0, p=0.02), role="secondary", metric="a")
    other = judged(estimate(0.5, -1.0, 2.0, p=0.5), role="secondary", metric="b")
    primary = judged(estimate(2.0, 1.0, 3.0, p=0.02), metric="c")
    harm = judged(estimate(-2.0, -3.0, -1.0, p=0.001), role="balancing", metric="d")
    hint = judged(estimate(-1.0, -2.5, 0.5, se=0.6, p=0.1), role="balancing", metric="e")
    fine = judged(estimate(1.0, 0.5, 1.5, p=0.01), role="balancing", metric="f")
    reviewed = review_several([clear, other, primary, harm, hint, fine])
    a, b, c, d, e, f = reviewed
    assert a.details["p_value_holm"] == pytest.approx(0.04)
    assert a.verdict == "improved" and not a.details["holm_downgraded"]
    assert b.details["p_value_holm"] == pytest.approx(0.5)
    assert c == primary
    assert d.verdict == "worsened" and d.details["balancing_concern"] == "clear"
    assert e.details["balancing_concern"] == "possible"
    assert f.details["balancing_concern"] is None
    assert balancing_concerns(reviewed) == ("d", "e")


def test_review_several_downgrade_rewrites_the_summary():
    results = [
        judged(estimate(2.0, 1.0, 3.0, p=0.03), role="secondary", metric="a"),
        judged(estimate(2.0, 1.0, 3.0, p=0.04), role="secondary", metric="b"),
        judged(estimate(2.0, 1.0, 3.0, p=0.045), role="secondary", metric="c"),
    ]
    reviewed = review_several(results)
    assert [r.verdict for r in reviewed] == ["no_clear_change"] * 3
    assert all(r.details["holm_downgraded"] for r in reviewed)
    assert (
        reviewed[0]
        .summary["nb"]
        .endswith("ingen tydelig endring (etter justering for flere sekundære mål).")
    )
