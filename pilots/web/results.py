"""Results: the section on the pilot page, "evaluate now", and the analyst's overview
with its forest plot and exports.

The numbers come from the stored evaluations (`pilots.domain.results` shapes them);
this module adds the reader's words: labels inside the charts' JSON, warnings as
plain sentences, and the access checks. The pilot page includes
`results/section.html`; "evaluate now" answers htmx with just its `results` block.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from pilots.domain import DomainError, NotFound, audit
from pilots.domain import metrics as catalogue
from pilots.domain import organisation as org
from pilots.domain import pilots as pilot_domain
from pilots.domain import results as domain
from pilots.domain.observations import format_number, neutralise, write_xlsx
from pilots.evaluation import evaluate_pilot
from pilots.web import get_db
from pilots.web.access import allow
from pilots.web.i18n import format_day, label, reader_language
from pilots.web.i18n import format_number as shown_number
from pilots.web.observations import csv_options
from pilots.web.pages import id_arg, kept, page

bp = Blueprint("results", __name__)


def _too_few_units(p: dict) -> str:
    """Too few units, in which group when the warning says so (one warning per group)."""
    n, minimum = p.get("n", "?"), p.get("minimum", "?")
    if p.get("arm") == "pilot":
        return _(
            "Too few units in the pilot group to compare (%(n)s; at least %(minimum)s are needed).",
            n=n,
            minimum=minimum,
        )
    if p.get("arm") == "comparison":
        return _(
            "Too few units in the comparison group to compare (%(n)s; at least %(minimum)s"
            " are needed).",
            n=n,
            minimum=minimum,
        )
    return _(
        "Too few units to compare (%(n)s, at least %(minimum)s are needed).", n=n, minimum=minimum
    )


def warning_text(code: str, params: dict) -> str:
    """A data-quality warning code as a plain sentence in the reader's language."""
    p = params or {}
    texts = {
        "too_few_units": _too_few_units(p),
        "non_finite_values": _(
            "%(count)s values were not numbers and were left out.", count=p.get("count", "?")
        ),
        "value_out_of_range": _(
            "Some values lie outside what the metric can take; check the data."
        ),
        "zero_variance": _("All values are the same, so no interval can be computed."),
        "zero_trials": _("A group has no trials, so its share cannot be computed."),
        "invalid_counts": _(
            "Some counts are impossible (more successes than trials, or negative)."
        ),
        "not_binary": _(
            "A share needs values 0 or 1 (or counts with n); %(count)s values were neither.",
            count=p.get("count", "?"),
        ),
        "zero_exposure": _("A group has no exposure, so its rate cannot be computed."),
        "too_few_events": _("Too few events for a reliable rate comparison."),
        "no_events_in_arm": _("One group had no events at all; the ratio is uncertain."),
        "all_or_none": _(
            "Everyone or no one in a group had the outcome; the interval is uncertain."
        ),
        "zero_baseline": _("The comparison level is zero, so no relative change can be given."),
        "sample_ratio_mismatch": _(
            "The groups are much more unequal in size than planned; check how people were assigned."
        ),
        "pre_period_mismatch": _("The groups differed already before the start."),
        "missing_periods": _("%(count)s periods have no data.", count=p.get("count", "?")),
        "duplicate_periods": _(
            "Some periods appear twice; the chart cannot be drawn until that is fixed."
        ),
        "too_few_points": _("Too few periods for this method yet."),
        "trend_against_level": _(
            "At the start the level moved one way, but the trend since then clearly runs the"
            " other way; look at the chart before concluding."
        ),
        "autocorrelation": _(
            "Consecutive periods are correlated; the intervals allow for it, but read them with care."  # noqa: E501
        ),
        "trial_limits": _(
            "The limits rest on only %(n)s baseline points (%(minimum)s are usual): they are trial limits.",  # noqa: E501
            n=p.get("n", "?"),
            minimum=p.get("minimum", "?"),
        ),
        "too_few_baseline_points": _(
            "Too few periods before the start to compute limits (%(n)s, at least %(minimum)s).",
            n=p.get("n", "?"),
            minimum=p.get("minimum", "?"),
        ),
        "no_points_after_start": _("No data since the pilot started yet."),
        "rebase_ignored": _(
            "Some changes of the limits were ignored: too few points between them."
        ),
        "unit_in_both_arms": _(
            "Some units appear in both groups; each unit must belong to one group."
        ),
        "empty_cell": _("A group has no data before or after the start."),
        "pre_trend": _(
            "The groups were already moving apart before the start; the comparison may be biased."
        ),
        "pre_trend_untestable": _(
            "Too few periods before the start to check that the groups moved alike."
        ),
        "few_clusters": _(
            "Few units per group: the interval comes from a permutation test, not from the usual formula."  # noqa: E501
        ),
        "comparison_rows_ignored": _(
            "%(count)s rows for the comparison group were left out: this design uses the pilot group only.",  # noqa: E501
            count=p.get("count", "?"),
        ),
        "sequential_interval_unavailable": _(
            "The interval for repeated looks could not be computed, so no verdict is given on this look."  # noqa: E501
        ),
        "spc_phase_unknown": _("The chart could not tell which points came after the start."),
    }
    return texts.get(code, _("Data-quality note: %(code)s", code=code))


def verdict_label(code: str) -> str:
    return label("verdict", code)


def _period_label(period: str) -> str:
    return format_day(period)


def _chart_text(chart: dict, result: dict) -> dict:
    """The words a chart shows, in the reader's language."""
    return {
        "value": result["name"],
        "mean": _("Mean"),
        "limits": _("Process limits"),
        "lower": _("Lower limit"),
        "upper": _("Upper limit"),
        "baseline": _("Baseline"),
        "start": _("Pilot start"),
        "cycle": _("PDSA cycle %(n)s", n="{n}"),
        "improvement": _("Improvement"),
        "concern": _("Concern"),
        "common": _("Common cause"),
        "pilot": _("Pilot group"),
        "comparison": _("Comparison group"),
        "interval": _("95 % interval"),
        "estimate": _("Estimate"),
        "fitted_pre": _("Trend before the start"),
        "fitted_post": _("Trend after the start"),
        "sequential": _("Interval for repeated looks"),
    }


def _decorate(results: dict) -> dict:
    """Add translated labels and formatted periods to each chart payload."""
    for result in results["results"]:
        chart = result["chart"]
        # one line per sentence: two warnings may read alike (both groups with no trials)
        result["warnings_text"] = list(
            dict.fromkeys(warning_text(w["code"], w.get("params")) for w in result["warnings"])
        )
        if chart is None:
            continue
        if "periods" in chart:
            chart["labels"] = [_period_label(p) for p in chart["periods"]]
        chart["text"] = _chart_text(chart, result)
        chart["percent"] = result["metric_type"] == "proportion"
        # a share or a rate cannot fall below 0, so neither can its chart's axis
        chart["floor"] = 0 if result["metric_type"] in ("proportion", "rate") else None
    shares = {r["metric"] for r in results["results"] if r["metric_type"] == "proportion"}
    reads = {r["metric"]: (r["kind"], r["unit"]) for r in results["results"]}
    for entry in results["history"]:
        # the table under the chart writes each look's figures as the result card does
        entry["kind"], entry["unit"] = reads.get(entry["metric"], ("mean", ""))
        for look in entry["looks"]:
            low, high = look["sequential_ci_low"], look["sequential_ci_high"]
            look["sequential"] = None if low is None or high is None else (low, high)
            look["digits"] = domain.effect_digits(look, entry["kind"])
        entry["chart"] = {
            "type": "history",
            # a difference of shares reads in (percentage) points, as on the result card
            "percent": entry["metric"] in shares,
            "labels": [format_day(look["as_of"]) for look in entry["looks"]],
            "estimate": [look["estimate"] for look in entry["looks"]],
            "interval": [
                [look["ci_low"], look["ci_high"]] if look["ci_low"] is not None else None
                for look in entry["looks"]
            ],
            "sequential": [
                [look["sequential_ci_low"], look["sequential_ci_high"]]
                if look["sequential_ci_low"] is not None
                else None
                for look in entry["looks"]
            ],
            "text": {
                "estimate": _("Estimate"),
                "interval": _("95 % interval"),
                "sequential": _("Interval for repeated looks"),
            },
        }
    return results


def may_evaluate(db, pilot: dict) -> bool:
    """Team members, leaders of the team's units, and analysts may evaluate now."""
    return (
        current_user.has_role("analyst")
        or pilot_domain.is_team_member(db, current_user.id, pilot["team_id"])
        or pilot["created_by"] == current_user.id
        or pilot_domain.leads(db, current_user.id, pilot["team_id"])
    )


def results_body(db, pilot: dict) -> Markup:
    """The pilot's results as HTML in the reader's language, rendered once and kept.

    The charts, their data tables and the look-by-look history are most of the pilot
    page's work, and they change only when an evaluation is stored (or a metric, a PDSA
    cycle or the start date changes). The key holds the start date and the write counts
    of the tables `pilot_results` reads, so any write there, by any process, makes the
    next view render afresh. The part is the same for every reader of the pilot in that
    language: `results/_body.html` gets nothing about the reader in its context.
    """
    language = reader_language()
    # A preview made before the plan was approved says so once the plan is approved.
    approved = pilot.get("approved_version") is not None
    key = (
        pilot["id"],
        pilot.get("start_date"),
        approved,
        language,
        domain.change_counts(db, domain.RESULTS_READ),
    )
    body = kept("results").get(key)
    if body is None:
        results = domain.pilot_results(db, pilot)
        body = Markup(
            current_app.jinja_env.get_template("results/_body.html").render(
                results=_decorate(results) if results else None,
                approved=approved,
                current_language=language,
                label=label,
                verdict_label=verdict_label,
                effect_text=effect_text,
                p_text=p_text,
            )
        )
        kept("results").put(key, body)
    return body


def section_context(
    db,
    pilot: dict,
    message: str | None = None,
    error: str | None = None,
    may: bool | None = None,
) -> dict:
    """What `results/section.html` needs for this pilot and reader.

    `may`: whether this reader may evaluate, when the caller already knows.
    """
    can_evaluate = bool(pilot.get("design") and pilot.get("start_date"))
    return {
        "results_body": results_body(db, pilot),
        "can_evaluate": can_evaluate and (may_evaluate(db, pilot) if may is None else may),
        "result_message": message,
        "result_error": error,
    }


@bp.route("/pilots/<int:pilot_id>/evaluate", methods=["POST"])
@allow("frontline", "leader", "analyst")
def evaluate(pilot_id: int):
    """Evaluate the pilot now and show the refreshed results (htmx: the block only)."""
    db = get_db()
    try:
        pilot = pilot_domain.visible_pilot(db, pilot_id, current_user.id)
    except NotFound:
        abort(404)
    if not may_evaluate(db, pilot):
        abort(403)
    role = next((r for r in ("frontline", "leader", "analyst") if current_user.has_role(r)), None)
    message = error = None
    try:
        look = evaluate_pilot(db, pilot_id, actor_id=current_user.id, actor_role=role)
    except DomainError as failure:
        error = _(failure.message, **failure.params)
        _record_request(db, pilot_id, role, {"refused": failure.message})
    else:
        if not look["changed"]:
            # The service writes its audit event only when something was stored; a
            # request that found nothing new is still one event, so it is on record.
            _record_request(db, pilot_id, role, {"as_of": look["as_of"], "unchanged": True})
            message = _(
                "Evaluated as of %(day)s: no new data since the last evaluation.",
                day=format_day(look["as_of"]),
            )
        else:
            message = _("Evaluated as of %(day)s.", day=format_day(look["as_of"]))
    pilot = pilot_domain.get_pilot(db, pilot_id)
    context = section_context(db, pilot, message, error)
    return page("results/section.html", "results", pilot=pilot, **context)


def _record_request(db, pilot_id: int, role, after: dict) -> None:
    with db.atomic():
        audit.record(
            db,
            actor_id=current_user.id,
            actor_role=role,
            action="pilot.evaluate",
            object_type="pilot",
            object_id=pilot_id,
            after=after,
        )


# ---- the analyst's overview -----------------------------------------------------------


def _filters() -> dict:
    return {
        "unit_id": id_arg("unit"),
        "design": request.args.get("design", "")
        if request.args.get("design") in pilot_domain.DESIGNS
        else "",
        "status": request.args.get("status", "")
        if request.args.get("status") in domain.OVERVIEW_STATUSES
        else "",
        "metric_id": id_arg("metric"),
    }


def _forest(rows: list[dict]) -> dict:
    """The forest plot's payload: one row per pilot's primary result with a relative effect."""
    shown = [r for r in rows if r["relative"][0] is not None]
    return {
        "type": "forest",
        "labels": [f"{r['title']} ({r['metric_name']})" for r in shown],
        # on the chart, the pilot and its metric on lines of their own
        "lines": [[r["title"], f"({r['metric_name']})"] for r in shown],
        "estimate": [r["relative"][0] for r in shown],
        "interval": [
            [r["relative"][1], r["relative"][2]] if r["relative"][1] is not None else None
            for r in shown
        ],
        "verdict": [r["verdict"] for r in shown],
        "text": {
            "estimate": _("Relative effect (%)"),
            "interval": _("95 % interval"),
            "axis": _("Change in percent of the reference level (0 % = no change)"),
        },
    }


@bp.route("/results")
@allow("analyst", "leader")
def index():
    """All approved pilots' latest results, filtered, with a forest plot of primary effects."""
    db = get_db()
    filters = _filters()
    rows = domain.overview(db, **filters)
    return page(
        "results/index.html",
        "overview",
        rows=rows,
        forest=_forest(rows),
        filters=filters,
        units=org.unit_tree(db),
        metrics=catalogue.used_by_pilots(db),
        statuses=domain.OVERVIEW_STATUSES,
        designs=pilot_domain.DESIGNS,
        verdict_label=verdict_label,
        args={k: v for k, v in request.args.items()},
    )


@bp.route("/results/export.<fmt>")
@allow("analyst", "leader")
def export(fmt: str):
    """The overview's results (every metric) as CSV, XLSX or JSON, with the filters."""
    if fmt not in ("csv", "xlsx", "json"):
        abort(404)
    db = get_db()
    filters = _filters()
    rows = [domain.export_row(r) for r in domain.overview(db, **filters, primary_only=False)]
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    name = f"results-{stamp}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "json":
        return Response(
            json.dumps(rows, ensure_ascii=False, allow_nan=False),
            mimetype="application/json",
            headers=headers,
        )
    if fmt == "xlsx":
        return Response(
            _xlsx(rows),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers=headers,
        )
    delimiter, decimal, _dates = csv_options(request.args)
    return Response(
        stream_with_context(_csv(rows, delimiter, decimal)),
        mimetype="text/csv",
        headers={**headers, "Content-Type": "text/csv; charset=utf-8"},
    )


def _csv(rows, delimiter: str, decimal: str):
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(domain.EXPORT_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                neutralise(str(row[c] or ""))
                if c in domain.TEXT_COLUMNS
                else format_number(row[c], decimal)
                for c in domain.EXPORT_COLUMNS
            ]
        )
    yield buffer.getvalue()


def _xlsx(rows) -> bytes:
    """The rows as a workbook: text as text (never a formula), the look's day a date."""
    buffer = io.BytesIO()
    write_xlsx(
        buffer,
        "results",
        domain.EXPORT_COLUMNS,
        (
            [
                date.fromisoformat(row[c]) if c == "as_of" and row[c] else row[c]
                for c in domain.EXPORT_COLUMNS
            ]
            for row in rows
        ),
    )
    return buffer.getvalue()


def effect_text(value, kind: str, unit: str = "", digits: int | None = None) -> str:
    """An effect in its own terms: a ratio, percentage points (of a share, or of a measure
    kept in per cent), or the metric's unit; with `digits` decimals, the result's sentence's
    (`effect_digits`), else two (one for points of a share)."""
    if value is None:
        return "—"
    if kind == "proportion":
        shown = _unsigned_zero(shown_number(value * 100, 1 if digits is None else digits))
        return _("%(value)s pp", value=shown)
    text = _unsigned_zero(shown_number(value, 2 if digits is None else digits))
    if kind == "ratio":
        return text
    if kind == "points":
        return _("%(value)s pp", value=text)
    return f"{text} {unit}".strip()


def _unsigned_zero(text: str) -> str:
    """A number that rounds to zero, without its sign: "-0,00" reads as an effect where
    there is none (the sentence writes it "0" too)."""
    bare = text.lstrip("-\u2212")
    return bare if not bare.strip("0,.\u00a0 ") else text


@bp.app_template_global()
def chart_number(value, percent: bool = False, digits: int = 2) -> str:
    """A number in a chart's data table: "—" when missing, a share as percent."""
    if value is None:
        return "—"
    if percent:
        return shown_number(value * 100, 1) + " %"
    return shown_number(value, digits)


def p_text(value) -> str:
    if value is None:
        return "—"
    if value < 0.001:
        return "< " + shown_number(0.001, 3)
    return shown_number(value, 3)


_SOME_PILOT = 918273645546372819


def results_url(pilot_id: int) -> str:
    """The link to a pilot's results; lists call it per row, so url_for runs once a request."""
    pattern = request.environ.get("pilots.results_url")
    if pattern is None:
        pattern = url_for("pilots.detail", pilot_id=_SOME_PILOT) + "#results"
        request.environ["pilots.results_url"] = pattern
    return pattern.replace(str(_SOME_PILOT), str(int(pilot_id)))


@bp.app_context_processor
def result_helpers():
    return {
        "effect_text": effect_text,
        "p_text": p_text,
        "verdict_label": verdict_label,
        "result_label": label,
        "results_url": results_url,
    }
