"""A rate shown per an amount of exposure ("visits per 100 follow-up days").

The catalogue's `rate_per` scales what a rate's results show: the chart's points, an
XmR chart's mean and limits, a difference of rates (did), the arms' rates of a
two-group comparison. A rate ratio does not depend on it. Other kinds of metric have
no exposure, so their `rate_per` is always 1.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest
from evaluation_data import frozen_plan
from sessions import DEMO_EMAIL, Auth

from pilots.domain import DomainError
from pilots.domain import metrics as catalogue
from pilots.evaluation import methods
from pilots.evaluation.inputs import from_rows
from pilots.evaluation.plan import MetricPlan

START = date(2025, 1, 1)
MONTHS = [f"{2024 + k // 12}-{k % 12 + 1:02d}-01" for k in range(24)]
EN = {"Accept-Language": "en"}
VISITS = MetricPlan(1, "er", "ER visits", "rate", "down", "", None, None, "primary", None)


def _plan(design: str, metric: MetricPlan):
    return frozen_plan(design, START, metrics=(metric,))


def _rows(design: str) -> list[tuple]:
    """Events and follow-up days per unit and month; fewer events in the pilot arm after
    the start."""
    arms = ("pilot",) if design in ("spc", "pre_post") else ("pilot", "comparison")
    rows = []
    for k, period in enumerate(MONTHS):
        for arm in arms:
            for u in range(12):
                days = 280.0 + (7 * k + 13 * u) % 60
                lower = arm == "pilot" and period >= START.isoformat()
                events = float((k * 3 + u * 5) % 4 + (1 if lower else 3))
                rows.append((period, arm, f"{arm[0]}{u}", events, days))
    return rows


def _evaluated(design: str, per: float):
    metric = replace(VISITS, rate_per=per)
    plan = _plan(design, metric)
    inputs = from_rows(plan, metric, _rows(design))
    return inputs, methods.evaluate_metric(plan, metric, inputs, False)


@pytest.mark.parametrize("design", ["pre_post", "spc", "did"])
def test_a_rates_chart_shows_it_per_the_catalogues_amount(design):
    plain, _ = _evaluated(design, 1.0)
    per_100, result = _evaluated(design, 100.0)
    assert [cell["value"] for cell in per_100.series] == pytest.approx(
        [100 * cell["value"] for cell in plain.series], rel=1e-12
    )
    # The rows, events and exposure behind each point stay as counted.
    assert [(c["rows"], c["sum"], c["n"]) for c in per_100.series] == [
        (c["rows"], c["sum"], c["n"]) for c in plain.series
    ]
    assert (
        methods.settings(
            _plan(design, replace(VISITS, rate_per=100.0)), replace(VISITS, rate_per=100.0), False
        )["rate_per"]
        == 100.0
    )
    assert result.verdict != "insufficient_data"


def test_a_rate_ratio_does_not_depend_on_the_amount():
    for design in ("two_group", "pre_post"):
        _, plain = _evaluated(design, 1.0)
        _, per_100 = _evaluated(design, 100.0)
        assert per_100.estimate == pytest.approx(plain.estimate, rel=1e-9)
        assert (per_100.ci_low, per_100.ci_high) == pytest.approx(
            (plain.ci_low, plain.ci_high), rel=1e-9
        )
        assert per_100.verdict == plain.verdict


def test_the_arms_rates_of_a_two_group_comparison_are_per_the_amount():
    _, plain = _evaluated("two_group", 1.0)
    _, per_100 = _evaluated("two_group", 100.0)
    for arm in ("rate_pilot", "rate_comparison"):
        assert per_100.details[arm] == pytest.approx(100 * plain.details[arm], rel=1e-12)


def test_a_difference_of_rates_and_an_xmr_chart_are_per_the_amount():
    _, plain = _evaluated("did", 1.0)
    _, per_100 = _evaluated("did", 100.0)
    assert per_100.estimate == pytest.approx(100 * plain.estimate, rel=1e-9)
    assert per_100.ci_low == pytest.approx(100 * plain.ci_low, rel=1e-9)
    assert per_100.p_value == pytest.approx(plain.p_value, rel=1e-9)
    _, plain = _evaluated("spc", 1.0)
    _, per_100 = _evaluated("spc", 100.0)
    for name in ("mean", "upper_limit", "lower_limit", "post_mean"):
        assert per_100.details[name] == pytest.approx(100 * plain.details[name], rel=1e-9)
    assert per_100.verdict == plain.verdict


def _fields(**changes) -> dict:
    return {
        "name": "Falls per 1,000 visits",
        "slug": "falls",
        "type": "rate",
        "direction": "down",
        "period": "month",
        **changes,
    }


@pytest.mark.parametrize(("typed", "stored"), [("1000", 1000.0), ("1 000", 1000.0), ("", 1.0)])
def test_the_catalogue_keeps_a_rates_amount(db, typed, stored):
    metric = catalogue.create_metric(db, _fields(rate_per=typed), None)
    assert catalogue.get_metric(db, metric["id"])["rate_per"] == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0", "more than 0 and at most 1000000"),
        ("-100", "more than 0 and at most 1000000"),
        ("nan", "more than 0 and at most 1000000"),
        ("inf", "more than 0 and at most 1000000"),
        # From 10^18 up the form could not even show it again (it broke the catalogue).
        ("100000000000000000000", "more than 0 and at most 1000000"),
        ("hundred", "is not a number"),
        # English for a thousand, or Norwegian for one? Read wrongly, 1000 times off.
        ("1,000", "could be read as 1000"),
        ("1.000", "could be read as 1000"),
    ],
)
def test_a_rates_amount_must_be_a_clear_positive_number(db, typed, message):
    with pytest.raises(DomainError) as error:
        catalogue.create_metric(db, _fields(rate_per=typed), None)
    assert error.value.field == "rate_per"
    assert typed in str(error.value) and message in str(error.value)
    assert not list(db.query("SELECT id FROM metric WHERE slug = 'falls'"))


@pytest.mark.parametrize("typed", ["100", "abc", "-5"])
def test_other_kinds_of_metric_have_no_amount_whatever_the_form_said(db, typed):
    metric = catalogue.create_metric(db, _fields(type="mean", rate_per=typed), None)
    assert catalogue.get_metric(db, metric["id"])["rate_per"] == 1.0


def test_an_ambiguous_limit_is_refused_and_a_json_number_taken_as_sent(db):
    with pytest.raises(DomainError) as error:
        catalogue.create_metric(db, _fields(type="mean", max_value="2,500"), None)
    assert error.value.field == "max_value" and "could be read as 2500" in str(error.value)
    metric = catalogue.create_metric(
        db, _fields(type="mean", max_value=2.5, min_value="0,250"), None
    )
    assert (metric["min_value"], metric["max_value"]) == (0.25, 2.5)


@pytest.mark.parametrize(("field", "value"), [("rate_per", "1"), ("direction", "up")])
def test_what_approved_plans_are_judged_by_cannot_change(db, field, value):
    """The demo's emergency visits (per 100 days, lower is better) are a metric of the
    approved Housing First pilot."""
    visits = catalogue.metric_by_slug(db, "er-visits")
    fields = {k: visits[k] for k in ("name", "direction", "period") if visits[k] is not None}
    with pytest.raises(DomainError) as error:
        catalogue.update_metric(db, visits["id"], {**fields, field: value}, None)
    assert error.value.field == field
    assert "Bosted først for ti personer" in str(error.value)
    assert catalogue.get_metric(db, visits["id"])[field] == visits[field]
    # The other words may change.
    renamed = catalogue.update_metric(db, visits["id"], {**fields, "name": "Legevakt"}, None)
    assert renamed["name"] == "Legevakt"


def test_an_update_without_the_amount_keeps_it_and_one_with_it_changes_it(db):
    metric = catalogue.create_metric(db, _fields(rate_per="1000"), None)
    fields = _fields()
    del fields["slug"], fields["type"]
    assert catalogue.update_metric(db, metric["id"], fields, None)["rate_per"] == 1000.0
    changed = catalogue.update_metric(db, metric["id"], {**fields, "rate_per": "100"}, None)
    assert changed["rate_per"] == 100.0


def test_the_metric_form_asks_for_a_rates_amount_and_names_a_wrong_one(app, db):
    kari = Auth(app.test_client())
    kari.login(DEMO_EMAIL["frontline"])
    assert 'name="rate_per"' in kari.client.get("/metrics/new").text
    refused = kari.post("/metrics", _fields(rate_per="0"), headers=EN)
    assert refused.status_code == 422
    assert (
        "The amount a rate is shown per must be more than 0 and at most 1000000, such as 100 or"
        " 1000; 0 is not." in refused.text
    )
    assert not list(db.query("SELECT id FROM metric WHERE slug = 'falls'"))
    # Norwegian: "1 000" with a space between the thousands.
    assert kari.post("/metrics", _fields(rate_per="1 000")).status_code == 303
    falls = catalogue.metric_by_slug(db, "falls")
    assert falls["rate_per"] == 1000.0
    assert "vist per 1000 eksponeringsenheter" in kari.client.get("/metrics?q=falls").text
    edit = kari.client.get(f"/metrics/{falls['id']}/edit").text
    assert 'name="rate_per"' in edit and 'value="1000"' in edit
    mean = catalogue.metric_by_slug(db, "inpatient-days")
    assert 'name="rate_per"' not in kari.client.get(f"/metrics/{mean['id']}/edit").text


def test_the_demos_emergency_visits_are_shown_per_100_follow_up_days(db):
    assert catalogue.metric_by_slug(db, "er-visits")["rate_per"] == 100.0


def test_a_rates_figures_say_per_how_much():
    metric = replace(VISITS, unit="besøk", rate_per=100.0)
    plan = _plan("did", metric)
    result = methods.evaluate_metric(plan, metric, from_rows(plan, metric, _rows("did")), False)
    assert result.details["unit"] == "besøk per 100"
    assert "besøk per 100" in result.summary["nb"], result.summary
    assert catalogue.shown_unit("besøk", "rate", 1.0) == "besøk"
    assert catalogue.shown_unit("døgn", "mean", 1.0) == "døgn"


def test_the_results_overview_shows_a_rates_unit_and_names_a_ratio(db, app):
    from pilots.domain import results
    from pilots.evaluation import evaluate_pilot

    housing = next(db.query("SELECT id FROM pilot WHERE title = 'Bosted først for ti personer'"))
    evaluate_pilot(db, housing["id"], date(2026, 11, 26))
    (visits,) = [
        row for row in results.overview(db, primary_only=False) if row["metric"] == "er-visits"
    ]
    assert visits["metric_unit"] == "besøk per 100" and visits["kind"] == "ratio"
    jonas = Auth(app.test_client())
    jonas.login(DEMO_EMAIL["analyst"])
    page = jonas.client.get("/results?metric=er-visits", headers=EN).text
    assert "rate ratio" in page
    exported = jonas.client.get("/results/export.json").json
    assert {row["unit"] for row in exported if row["metric"] == "er-visits"} == {"besøk per 100"}


def test_a_metric_saved_unchanged_from_its_form_keeps_its_numbers(app, db):
    """A limit with three decimals is written with a fourth (1,1250), so the form that
    shows it does not refuse it as "1,125", which could be 1125."""
    metric = catalogue.create_metric(
        db, _fields(type="mean", min_value=1.125, max_value=1250, burden_minutes=12.5), None
    )
    kari = Auth(app.test_client())
    kari.login(DEMO_EMAIL["frontline"])
    form = kari.client.get(f"/metrics/{metric['id']}/edit").text
    typed = dict(
        re.findall(r'<input id="([a-z_]+)" name="[a-z_]+" type="text" value="([^"]*)"', form)
    )
    assert typed["min_value"] == "1,1250" and typed["burden_minutes"] == "12,5"
    saved = kari.post(f"/metrics/{metric['id']}", {**typed, "direction": "down", "period": "month"})
    assert saved.status_code == 303, saved.text[:3000]
    again = catalogue.get_metric(db, metric["id"])
    assert (again["min_value"], again["max_value"], again["burden_minutes"]) == (1.125, 1250, 12.5)
