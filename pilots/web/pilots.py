"""Pilot pages: the list, the charter form, the pilot page, and the leader queue.

Views parse the form, call one domain function and render. Object-level rules
(a draft belongs to its team; only a leader of the team's unit decides) live in
the domain functions, which raise NotFound where the person may not know the
pilot exists; here that becomes a 404.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Blueprint, abort, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from pilots.domain import DomainError, NotFound, each_error
from pilots.domain import metrics as catalogue
from pilots.domain import organisation as org
from pilots.domain import pilots as domain
from pilots.domain.observation_files import local_today
from pilots.domain.planning import planning_advice
from pilots.evaluation import last_look
from pilots.web import get_db
from pilots.web.access import SIGNED_IN, allow
from pilots.web.i18n import format_number, label
from pilots.web.pages import Paging, found, id_arg, page, page_number, see_other, translated
from pilots.web.results import section_context as results_section

bp = Blueprint("pilots", __name__, url_prefix="/pilots")
EMPTY_METRIC_ROWS = 2


def _now() -> datetime:
    return datetime.now(UTC)


# ---- list and create ---------------------------------------------------------


@bp.route("")
@allow(SIGNED_IN)
def index():
    """Pilots one may see, searched and filtered as one types, a page at a time."""
    db = get_db()
    filters = {
        "query": request.args.get("q", ""),
        "status": request.args.get("status", ""),
        "design": request.args.get("design", ""),
        "unit_id": id_arg("unit"),
        "metric_id": id_arg("metric"),
    }
    size = 20
    rows, total = domain.search_pilots(
        db, current_user.id, **filters, limit=size, offset=(page_number() - 1) * size
    )
    today = date.today()
    for row in rows:
        row["overdue"] = domain.is_overdue(row, today)
    return page(
        "pilots/index.html",
        "results",
        pilots=rows,
        filters=filters,
        paging=Paging(page_number(), size, total),
        units=org.unit_tree(db),
        metrics=catalogue.all_active(db),
        statuses=domain.STATUSES,
        designs=domain.DESIGNS,
        args={k: v for k, v in request.args.items() if k != "page"},
    )


def _my_teams(db) -> list[dict]:
    return [u for u in org.unit_tree(db) if u["id"] in current_user.unit_ids("frontline")]


@bp.route("/new")
@allow("frontline")
def new():
    """Start a pilot: a title and the team that runs it."""
    return page("pilots/new.html", teams=_my_teams(get_db()), form={}, errors={})


@bp.route("", methods=["POST"])
@allow("frontline")
def create():
    """Create the draft and go on to its charter."""
    db = get_db()
    form = request.form.to_dict()
    try:
        team_id = int(form.get("team") or 0)
        if team_id not in current_user.unit_ids("frontline"):
            raise DomainError("Choose the team that will run the pilot.", "team")
        pilot = domain.create_pilot(
            db,
            team_id=team_id,
            title=form.get("title", ""),
            actor_id=current_user.id,
            idea_text=form.get("idea_text", ""),
        )
    except (DomainError, ValueError) as error:
        errors = (
            translated(error) if isinstance(error, DomainError) else {"team": _("Choose a team.")}
        )
        return page("pilots/new.html", status=422, teams=_my_teams(db), form=form, errors=errors)
    return see_other(url_for("pilots.edit", pilot_id=pilot["id"]))


# ---- the pilot page --------------------------------------------------------------


@bp.route("/<int:pilot_id>")
@allow(SIGNED_IN)
def detail(pilot_id: int):
    """The charter, the plan's versions and their diffs, cycles, and the timeline."""
    db = get_db()
    pilot = found(domain.visible_pilot, pilot_id, current_user.id)
    member = domain.is_team_member(db, current_user.id, pilot["team_id"]) or (
        pilot["created_by"] == current_user.id
    )
    leader = domain.leads(db, current_user.id, pilot["team_id"])
    history = domain.versions(db, pilot_id)
    waiting = history[0] if history and history[0]["state"] == "proposed" else None
    outside = domain.waits_outside_envelope(pilot)
    breaches = (
        domain.envelope_breaches(pilot, domain.trust_envelope(db, pilot["team_id"]))
        if outside
        else []
    )
    return page(
        "pilots/detail.html",
        pilot=pilot,
        member=member,
        leader=leader,
        versions=history,
        waiting=waiting,
        outside_envelope=outside,
        envelope_reasons=envelope_reasons(breaches),
        cycles=domain.cycles(db, pilot_id),
        timeline=domain.timeline(db, pilot_id),
        missing=domain.missing_for_submission(pilot) if pilot["status"] == "draft" else [],
        advice=domain.advice_before_submission(pilot),
        overdue=domain.is_overdue(pilot, date.today()),
        starts_later=domain.starts_later(pilot, local_today()),
        own=current_user.id in {pilot["created_by"], *(v["proposed_by"] for v in history)},
        errors={},
        **results_section(db, pilot, may=member or leader or current_user.has_role("analyst")),
    )


def _with_last_look(change):
    """`change` (a domain step), then, when it closed the pilot (concluded or stopped),
    the last look at its data: the decision is read beside its evidence."""

    def changed(db, pilot_id: int, *args, **kwargs) -> dict:
        pilot = change(db, pilot_id, *args, **kwargs)
        if pilot["status"] in ("concluded", "stopped"):
            try:
                last_look(db, pilot_id, actor_id=current_user.id, actor_role="frontline")
            except Exception:  # the decision is stored; a look that fails can be retaken
                current_app.logger.exception("The last look at pilot %s failed", pilot_id)
        return pilot

    return changed


def _action(pilot_id: int, function, *args, **kwargs):
    """Run one state change; a refusal comes back as a message on the pilot page."""
    try:
        function(get_db(), pilot_id, *args, **kwargs)
    except NotFound:
        abort(404)
    except DomainError as error:
        flash(_(error.message, **error.params), "error")
    return see_other(url_for("pilots.detail", pilot_id=pilot_id))


@bp.route("/<int:pilot_id>/submit", methods=["POST"])
@allow("frontline")
def submit(pilot_id: int):
    """Send the draft to the unit's leaders; the plan is frozen as a version."""
    return _action(pilot_id, domain.submit, current_user.id)


@bp.route("/<int:pilot_id>/withdraw", methods=["POST"])
@allow("frontline")
def withdraw(pilot_id: int):
    """Take a submitted pilot back to draft."""
    return _action(pilot_id, domain.withdraw, current_user.id)


@bp.route("/<int:pilot_id>/status", methods=["POST"])
@allow("frontline")
def change_status(pilot_id: int):
    """Start, pause, resume or stop the pilot."""
    action = request.form.get("action", "")
    if action not in domain.TRANSITIONS:
        abort(400)
    return _action(
        pilot_id,
        _with_last_look(domain.change_status),
        action,
        current_user.id,
        request.form.get("reason", ""),
    )


@bp.route("/<int:pilot_id>/conclude", methods=["POST"])
@allow("frontline")
def conclude(pilot_id: int):
    """Close the pilot with a decision and what was learned."""
    form = request.form
    return _action(
        pilot_id,
        _with_last_look(domain.conclude),
        current_user.id,
        form.get("decision", ""),
        form.get("learned", ""),
        form.get("next_steps", ""),
    )


@bp.route("/<int:pilot_id>/approve", methods=["POST"])
@allow("leader")
def approve(pilot_id: int):
    """Approve exactly the version the leader read."""
    return _action(pilot_id, domain.approve, current_user.id, request.form.get("version", type=int))


@bp.route("/<int:pilot_id>/return", methods=["POST"])
@allow("leader")
def return_to_team(pilot_id: int):
    """Send the waiting version back to the team with comments."""
    return _action(
        pilot_id,
        domain.return_to_team,
        current_user.id,
        request.form.get("comment", ""),
        request.form.get("version", type=int),
    )


@bp.route("/<int:pilot_id>/object", methods=["POST"])
@allow("leader")
def object_to(pilot_id: int):
    """Stop the trust-by-default countdown with a written objection."""
    return _action(pilot_id, domain.object_to, current_user.id, request.form.get("objection", ""))


@bp.route("/<int:pilot_id>/cycles", methods=["POST"])
@allow("frontline")
def add_cycle(pilot_id: int):
    """Record a new PDSA cycle."""
    return _action(pilot_id, domain.add_cycle, request.form.to_dict(), current_user.id)


@bp.route("/<int:pilot_id>/cycles/<int:cycle_id>", methods=["POST"])
@allow("frontline")
def update_cycle(pilot_id: int, cycle_id: int):
    """Fill in a PDSA cycle: done, studied, act."""
    return _action(pilot_id, domain.update_cycle, cycle_id, request.form.to_dict(), current_user.id)


# ---- the charter form ------------------------------------------------------------


def _metric_choices(form) -> list[dict]:
    rows = []
    indices = sorted({int(k.split("-")[1]) for k in form if k.startswith("metric_id-")})
    for index in indices:
        rows.append(
            {
                "metric_id": form.get(f"metric_id-{index}"),
                "role": form.get(f"role-{index}"),
                "minimal_important_difference": form.get(f"mid-{index}"),
            }
        )
    return rows


def _charter_fields(form) -> dict:
    fields = form.to_dict()
    fields["risk_flags"] = form.getlist("risk_flags")
    return fields


def faulty_cells(error) -> set[tuple[int, str]]:
    """The metric rows' fields an error names: (row as the form shows it, 0-based; part)."""
    return {
        (one.params["row"] - 1, one.params["part"])
        for one in each_error(error)
        if one.field == "metrics" and "row" in one.params and "part" in one.params
    }


def _edit_page(pilot, fields, choices, errors, status=200, faulty=frozenset()):
    db = get_db()
    rows = [c for c in choices if c.get("metric_id")]
    rows += [{"metric_id": "", "role": "secondary" if rows else "primary"}] * EMPTY_METRIC_ROWS
    return page(
        "pilots/edit.html",
        status=status,
        pilot=pilot,
        form=fields,
        metric_rows=rows,
        advice=_advice(fields.get("design"), choices, {}),
        metrics=catalogue.all_active(db),
        errors=errors,
        faulty=faulty,
        designs=domain.DESIGNS,
        risk_flags=domain.RISK_FLAGS,
        cadences=domain.CADENCES,
        amendment=pilot["status"] in domain.FROZEN,
        envelope=domain.trust_envelope(db, pilot["team_id"]),
    )


@bp.route("/<int:pilot_id>/edit")
@allow("frontline")
def edit(pilot_id: int):
    """The charter form: a draft is saved directly; an approved plan gets an amendment."""
    pilot = found(domain.editable_pilot, pilot_id, current_user.id)
    if pilot["status"] not in ("draft", *domain.FROZEN):
        flash(_("This pilot can no longer be changed."), "error")
        return see_other(url_for("pilots.detail", pilot_id=pilot_id))
    choices = [
        {
            "metric_id": m["metric_id"],
            "role": m["role"],
            "minimal_important_difference": m["minimal_important_difference"],
        }
        for m in pilot["metrics"]
        if m["dropped_in_version"] is None
    ]
    return _edit_page(pilot, pilot, choices, {})


@bp.route("/<int:pilot_id>/edit", methods=["POST"])
@allow("frontline")
def update(pilot_id: int):
    """Save the draft, or propose the amendment, then show the pilot."""
    db = get_db()
    pilot = found(domain.editable_pilot, pilot_id, current_user.id)
    fields, choices = _charter_fields(request.form), _metric_choices(request.form)
    try:
        if pilot["status"] in domain.FROZEN:
            domain.propose_amendment(
                db, pilot_id, fields, choices, fields.get("reason", ""), current_user.id
            )
            flash(_("The amendment is sent to the leaders for approval."), "success")
        else:
            domain.update_draft(db, pilot_id, fields, choices, current_user.id)
            flash(_("Saved."), "success")
    except DomainError as error:
        faulty = faulty_cells(error)
        return _edit_page(pilot, fields, choices, translated(error), 422, faulty)
    return see_other(url_for("pilots.detail", pilot_id=pilot_id))


def _advice(design, choices, numbers) -> dict:
    """Planning advice for the first primary metric among the form's choices."""
    primaries = [c for c in choices if c.get("metric_id") and c.get("role") == "primary"]
    metric = None
    if primaries:
        try:
            metric = catalogue.get_metric(get_db(), int(primaries[0]["metric_id"]))
        except (NotFound, ValueError):
            metric = None
    return planning_advice(
        design=design,
        metric_type=metric["type"] if metric else None,
        direction=metric["direction"] if metric else "up",
        minimal_important_difference=(
            primaries[0]["minimal_important_difference"] if primaries else None
        ),
        planned_n=numbers.get("planned_n"),
        typical_value=numbers.get("typical_value"),
        typical_spread=numbers.get("typical_spread"),
        baseline_periods=numbers.get("baseline_periods"),
        rate_per=(metric.get("rate_per") or 1.0) if metric else 1.0,
        metric_name=metric["name"] if metric else "",
    )


@bp.route("/planning")
@allow(SIGNED_IN)
def planning():
    """Live planning help for the charter form: what this size can detect."""
    advice = _advice(request.args.get("design"), _metric_choices(request.args), request.args)
    return page("pilots/planning.html", "advice", advice=advice)


# ---- for leaders -------------------------------------------------------------------


def _amount(value) -> str:
    return format_number(value, 0 if float(value).is_integer() else 2)


def envelope_reasons(breaches: list[dict]) -> list[str]:
    """Each trust limit a pilot is outside (`domain.envelope_breaches`), as a sentence."""
    reasons = []
    for breach in breaches:
        kind, value, allowed = breach["limit"], breach["value"], breach["allowed"]
        if kind == "envelope":
            reasons.append(_("No trust limits are set for this team or the units above it."))
        elif kind == "days" and value is None:
            reasons.append(
                _(
                    "Start and end dates are not given; the trust limits allow at most "
                    "%(limit)s days.",
                    limit=_amount(allowed),
                )
            )
        elif kind == "days":
            reasons.append(
                ngettext(
                    "Runs %(days)s day; the trust limits allow at most %(limit)s.",
                    "Runs %(days)s days; the trust limits allow at most %(limit)s.",
                    value,
                    days=_amount(value),
                    limit=_amount(allowed),
                )
            )
        elif kind == "citizens" and value is None:
            reasons.append(
                _(
                    "The number of citizens is not given; the trust limits allow at most "
                    "%(limit)s.",
                    limit=_amount(allowed),
                )
            )
        elif kind == "citizens":
            reasons.append(
                ngettext(
                    "Involves %(citizens)s citizen; the trust limits allow at most %(limit)s.",
                    "Involves %(citizens)s citizens; the trust limits allow at most %(limit)s.",
                    value,
                    citizens=_amount(value),
                    limit=_amount(allowed),
                )
            )
        elif kind == "cost":
            reasons.append(
                _(
                    "Extra cost NOK %(cost)s; the trust limits allow at most NOK %(limit)s.",
                    cost=_amount(value),
                    limit=_amount(allowed),
                )
            )
        elif kind == "risk":
            reasons.append(
                _(
                    "The risk “%(risk)s” is excluded by the trust limits: it always needs a "
                    "leader.",
                    risk=label("risk", value),
                )
            )
    return reasons


@bp.route("/queue")
@allow("leader")
def queue():
    """Plans waiting for this leader, with the trust-by-default countdown."""
    db = get_db()
    led = [u for u in org.unit_tree(db) if u["id"] in current_user.unit_ids("leader")]
    waiting = domain.leader_queue(db, current_user.id, _now())
    for item in waiting:
        item["reasons"] = envelope_reasons(item["breaches"])
    return page("pilots/queue.html", waiting=waiting, units=led)


@bp.route("/trust/<int:unit_id>")
@allow("leader")
def trust(unit_id: int):
    """A unit's trust envelope: inside it, pilots are approved unless a leader objects."""
    db = get_db()
    if not domain.leads(db, current_user.id, unit_id):
        abort(404)
    unit = found(org.get_unit, unit_id)
    return page(
        "pilots/trust.html",
        unit=unit,
        envelope=_envelope_form(unit),
        errors={},
        risk_flags=domain.RISK_FLAGS,
    )


def _envelope_form(unit: dict) -> dict:
    import json

    form = {name: unit[name] for name in domain.TRUST_FIELDS}
    form["trust_excluded_risks"] = json.loads(unit["trust_excluded_risks"] or "[]")
    return form


@bp.route("/trust/<int:unit_id>", methods=["POST"])
@allow("leader")
def update_trust(unit_id: int):
    """Save the unit's trust envelope."""
    db = get_db()
    unit = found(org.get_unit, unit_id)
    fields = request.form.to_dict()
    fields["trust_excluded_risks"] = request.form.getlist("trust_excluded_risks")
    try:
        domain.set_trust_envelope(db, unit_id, fields, current_user.id)
    except NotFound:
        abort(404)
    except DomainError as error:
        return page(
            "pilots/trust.html",
            status=422,
            unit=unit,
            envelope=fields,
            errors=translated(error),
            risk_flags=domain.RISK_FLAGS,
        )
    flash(_("The trust envelope is saved."), "success")
    return see_other(url_for("pilots.queue"))
