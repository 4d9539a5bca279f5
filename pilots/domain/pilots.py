"""Pilots: small, time-boxed tests of an idea, with the plan fixed before the data.

Lifecycle: draft -> submitted -> approved -> running -> concluded, with paused and
stopped beside it. A team edits its draft freely. Submitting freezes the plan as a
numbered version with a hash; a leader of the team's unit approves that version
(nobody approves their own pilot), or the unit's trust envelope approves it after
N days unless a leader objects in writing. After approval the plan changes only by
an amendment: a reason, a diff, and a new approval. Every state change writes one
audit event in the same unit of work; a decision on a plan (approved by a leader or by
trust, returned, objected to) also puts a notification in the team's inboxes there.
`envelope_breaches` names each trust limit a plan is outside, so leaders and the team
see why it waits for a leader.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

from pilots.db import from_utc_text, to_utc_text, utc_now
from pilots.domain import Checks, DomainError, NotFound, audit, translatable
from pilots.domain.metrics import get_metric
from pilots.domain.observation_files import local_today

DESIGNS = ("spc", "pre_post", "two_group", "did")
METRIC_ROLES = ("primary", "secondary", "balancing")
CADENCES = ("weekly", "monthly", "custom")
DECISIONS = ("adopt", "adapt", "abandon")
RISK_FLAGS = ("medication", "legal_rights", "sensitive_data", "physical_safety", "children")
STATUSES = ("draft", "submitted", "approved", "running", "paused", "stopped", "concluded")
# Plans in these states are frozen: a change is an amendment.
FROZEN = ("approved", "running", "paused")

CHARTER_TEXT = (
    "title",
    "idea_text",
    "aim",
    "need",
    "hypothesis",
    "prediction",
    "stop_doing",
    "scope",
    "co_creators",
    "baseline",
    "comparison",
    "cadence_rule",
)
# What a pre-registered plan holds; its hash covers exactly these.
PLAN_FIELDS = (
    "title",
    "hypothesis",
    "prediction",
    "stop_doing",
    "scope",
    "citizens_involved",
    "cost",
    "risk_flags",
    "start_date",
    "end_date",
    "design",
    "baseline",
    "comparison",
    "planned_n",
    "cadence",
    "cadence_rule",
)


# ---- reading ---------------------------------------------------------------


def get_pilot(db, pilot_id: int) -> dict:
    """The pilot with its team and its metrics (dropped ones included, marked)."""
    pilot = next(
        db.query(
            """SELECT p.*, u.name AS team_name, u.slug AS team_slug, c.name AS created_by_name
               FROM pilot p JOIN unit u ON u.id = p.team_id
               JOIN users c ON c.id = p.created_by WHERE p.id = ?""",
            [pilot_id],
        ),
        None,
    )
    if pilot is None:
        raise NotFound(f"No pilot {pilot_id}")
    pilot["risk_flags"] = json.loads(pilot["risk_flags"] or "[]")
    pilot["metrics"] = pilot_metrics(db, pilot_id)
    return pilot


def pilot_metrics(db, pilot_id: int) -> list[dict]:
    return list(
        db.query(
            """SELECT pm.id, pm.role, pm.minimal_important_difference, pm.dropped_in_version,
                      m.id AS metric_id, m.slug, m.name, m.type, m.direction, m.unit, m.period,
                      m.min_value, m.max_value, m.rate_per
               FROM pilot_metric pm JOIN metric m ON m.id = pm.metric_id
               WHERE pm.pilot_id = ?
               ORDER BY pm.dropped_in_version IS NOT NULL,
                        CASE pm.role WHEN 'primary' THEN 0 WHEN 'secondary' THEN 1 ELSE 2 END,
                        m.name""",
            [pilot_id],
        )
    )


def is_team_member(db, user_id: int, team_id: int) -> bool:
    return bool(
        next(
            db.query(
                "SELECT 1 FROM role WHERE user_id = ? AND role = 'frontline' AND unit_id = ?",
                [user_id, team_id],
            ),
            None,
        )
    )


def leads(db, user_id: int, unit_id: int) -> bool:
    """Whether the user is a leader of this unit or of any unit above it."""
    return bool(
        next(
            db.query(
                """WITH RECURSIVE above(id) AS (
                       SELECT ? UNION ALL
                       SELECT u.parent_id FROM unit u JOIN above a ON u.id = a.id
                       WHERE u.parent_id IS NOT NULL)
                   SELECT 1 FROM role r JOIN above a ON r.unit_id = a.id
                   WHERE r.user_id = ? AND r.role = 'leader' LIMIT 1""",
                [unit_id, user_id],
            ),
            None,
        )
    )


def visible_pilot(db, pilot_id: int, viewer_id: int) -> dict:
    """The pilot, if this person may see it: a draft only for its team and their leaders.

    Leaders see their teams' drafts because a draft may come from an idea they
    accepted; other teams get a 404, as if it did not exist.
    """
    pilot = get_pilot(db, pilot_id)
    if pilot["status"] == "draft" and not (
        is_team_member(db, viewer_id, pilot["team_id"])
        or pilot["created_by"] == viewer_id
        or leads(db, viewer_id, pilot["team_id"])
    ):
        raise NotFound(f"No pilot {pilot_id}")
    return pilot


def editable_pilot(db, pilot_id: int, editor_id: int) -> dict:
    """The pilot, if this person is on its team (or proposed it); else NotFound."""
    pilot = get_pilot(db, pilot_id)
    if not (is_team_member(db, editor_id, pilot["team_id"]) or pilot["created_by"] == editor_id):
        raise NotFound(f"No pilot {pilot_id}")
    return pilot


def search_pilots(
    db,
    viewer_id: int,
    *,
    query: str = "",
    status: str = "",
    unit_id: int | None = None,
    design: str = "",
    metric_id: int | None = None,
    limit: int = 20,
    offset: int = 0,
):
    """Pilots this person may see, filtered; a page of them and the total."""
    where = [
        """(p.status != 'draft' OR p.created_by = :viewer OR p.team_id IN
            (SELECT unit_id FROM role WHERE user_id = :viewer AND role = 'frontline'))""",
        "(casefold(p.title) LIKE :q OR casefold(p.hypothesis) LIKE :q OR casefold(p.aim) LIKE :q)",
    ]
    params = {"viewer": viewer_id, "q": f"%{(query or '').strip().casefold()}%"}
    if status:
        where.append("p.status = :status")
        params["status"] = status
    if design:
        where.append("p.design = :design")
        params["design"] = design
    if unit_id:
        where.append(
            """p.team_id IN (WITH RECURSIVE below(id) AS (SELECT :unit UNION ALL
               SELECT u.id FROM unit u JOIN below b ON u.parent_id = b.id) SELECT id FROM below)"""
        )
        params["unit"] = unit_id
    if metric_id:
        where.append("p.id IN (SELECT pilot_id FROM pilot_metric WHERE metric_id = :metric)")
        params["metric"] = metric_id
    clause = " AND ".join(where)
    total = next(db.query(f"SELECT count(*) AS n FROM pilot p WHERE {clause}", params))["n"]  # noqa: S608
    rows = list(
        db.query(
            f"""SELECT p.*, u.name AS team_name FROM pilot p JOIN unit u ON u.id = p.team_id
                WHERE {clause} ORDER BY p.updated_at DESC, p.id DESC
                LIMIT :limit OFFSET :offset""",  # noqa: S608
            {**params, "limit": limit, "offset": offset},
        )
    )
    return rows, total


def starts_later(pilot: dict, today: date) -> bool:
    """Whether the plan's start date is still to come (so the pilot cannot start yet)."""
    return bool(pilot["start_date"]) and date.fromisoformat(pilot["start_date"]) > today


def is_overdue(pilot: dict, today: date) -> bool:
    """Past its end date, still open, and no decision: a leader should hear of it."""
    return (
        pilot["status"] in FROZEN
        and bool(pilot["end_date"])
        and date.fromisoformat(pilot["end_date"]) < today
        and not pilot["decision"]
    )


# ---- creating and editing ---------------------------------------------------


def _event(
    db, actor_id, action, pilot_id, before=None, after=None, reason=None, at=None, role=None
):
    audit.record(
        db,
        actor_id=actor_id,
        actor_role=role,
        action=action,
        object_type="pilot",
        object_id=pilot_id,
        before=before,
        after=after,
        reason=reason,
        at=at,
    )


def create_pilot(
    db,
    *,
    team_id: int,
    title: str,
    actor_id: int,
    idea_id: int | None = None,
    idea_text: str = "",
    need: str = "",
    now: str | None = None,
    charter: dict | None = None,
    choices: list[dict] | None = None,
) -> dict:
    """Start a draft pilot for a team, with its charter now or filled in afterwards."""
    if charter is not None:
        cleaned, metrics = clean_plan(db, {**charter, "title": title}, choices or [])
    title = (title or "").strip()
    if not title:
        raise DomainError("A pilot needs a title.", "title")
    if len(title) > 200:
        raise DomainError("A title can be at most 200 characters.", "title")
    now = now or utc_now()
    with db.atomic():
        team = next(db.query("SELECT * FROM unit WHERE id = ?", [team_id]), None)
        if team is None or team["kind"] != "team":
            raise DomainError("Choose the team that will run the pilot.", "team")
        row = {
            "title": title,
            "team_id": team_id,
            "status": "draft",
            "idea_id": idea_id,
            "idea_text": idea_text or "",
            "need": need or "",
            "created_by": actor_id,
            "created_at": now,
            "updated_at": now,
        }
        row["id"] = db["pilot"].insert(row).last_pk
        if charter is not None:
            db["pilot"].update(
                row["id"], {**cleaned, "risk_flags": json.dumps(cleaned["risk_flags"])}
            )
            _replace_metrics(db, row["id"], metrics)
            row = {**row, "plan": plan_of(get_pilot(db, row["id"]))}
        _event(db, actor_id, "pilot.create", row["id"], after=row, at=now)
    return get_pilot(db, row["id"])


def _text(fields: dict, name: str, limit: int = 5000) -> str:
    value = (fields.get(name) or "").strip()
    if len(value) > limit:
        raise DomainError("At most %(limit)s characters.", name, limit=limit)
    return value


def _optional_number(fields: dict, name: str, integer=False):
    raw = str(fields.get(name) if fields.get(name) is not None else "").strip()
    if raw == "":
        return None
    try:
        value = float(raw.replace(",", ".").replace(" ", "").replace("\xa0", ""))
    except ValueError:
        raise DomainError("“%(value)s” is not a number.", name, value=raw) from None
    if value < 0:
        raise DomainError("The number cannot be negative.", name)
    if integer:
        if value != int(value):
            raise DomainError("Give a whole number.", name)
        return int(value)
    return value


def _optional_date(fields: dict, name: str) -> str | None:
    raw = (fields.get(name) or "").strip()
    if not raw:
        return None
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(raw, pattern).date().isoformat()
        except ValueError:
            continue
    raise DomainError("%(value)s is not a date (DD.MM.YYYY).", name, value=raw)


def clean_charter(fields: dict) -> dict:
    """Validate the charter's fields (everything but its metrics). Every fault is
    reported at once (`DomainErrors`), so a long plan is mended in one save."""
    check = Checks()
    charter = {name: check(_text, fields, name) for name in CHARTER_TEXT}
    check(_title_given, charter["title"])
    charter["citizens_involved"] = check(
        _optional_number, fields, "citizens_involved", integer=True
    )
    charter["planned_n"] = check(_optional_number, fields, "planned_n", integer=True)
    charter["cost"] = check(_optional_number, fields, "cost")
    charter["start_date"] = check(_optional_date, fields, "start_date")
    charter["end_date"] = check(_optional_date, fields, "end_date")
    check(_end_after_start, charter["start_date"], charter["end_date"])
    charter["design"] = check(_design, fields)
    charter["cadence"] = check(_cadence, fields)
    check(_custom_rhythm_described, charter["cadence"], charter["cadence_rule"])
    charter["risk_flags"] = check(_risk_flags, fields)
    check.done()
    return charter


def _title_given(title: str | None) -> None:
    if title is None:
        return  # too long: `_text` said so
    if not title:
        raise DomainError("A pilot needs a title.", "title")
    if len(title) > 200:
        raise DomainError("A title can be at most 200 characters.", "title")


def _end_after_start(start: str | None, end: str | None) -> None:
    if start and end and end <= start:
        raise DomainError("The end date must come after the start date.", "end_date")


def _design(fields: dict) -> str | None:
    design = (fields.get("design") or "").strip() or None
    if design is not None and design not in DESIGNS:
        raise DomainError("Unknown design %(design)s.", "design", design=design)
    return design


def _cadence(fields: dict) -> str:
    cadence = (fields.get("cadence") or "monthly").strip()
    if cadence not in CADENCES:
        raise DomainError("Unknown cadence %(cadence)s.", "cadence", cadence=cadence)
    return cadence


def _custom_rhythm_described(cadence: str | None, rule: str | None) -> None:
    if cadence == "custom" and rule == "":
        raise DomainError("Describe the custom cadence, e.g. every second Monday.", "cadence_rule")


def _risk_flags(fields: dict) -> list[str]:
    flags = fields.get("risk_flags") or []
    if isinstance(flags, str):
        flags = [flags]
    unknown = [f for f in flags if f not in RISK_FLAGS]
    if unknown:
        raise DomainError("Unknown risk flag %(flag)s.", "risk_flags", flag=unknown[0])
    return sorted(set(flags))


def _row_mid(raw, position: int) -> float | None:
    """A metric row's smallest difference that matters; its errors name the row and go
    to the metrics table (field "metrics"), where the row is."""
    try:
        return _optional_number({"mid": raw}, "mid")
    except DomainError as error:
        if "value" in error.params:
            raise DomainError(
                "Metric row %(row)s: the smallest difference that matters, %(value)s, is not"
                " a number.",
                "metrics",
                row=position,
                part="mid",
                value=error.params["value"],
            ) from None
        raise DomainError(
            "Metric row %(row)s: the smallest difference that matters cannot be negative.",
            "metrics",
            row=position,
            part="mid",
        ) from None


def clean_metric_choices(db, choices: list[dict]) -> list[dict]:
    """Validate the pilot's metric rows: known metrics, known roles, no repeats. Every
    row's faults are reported at once (`DomainErrors`), each with the row's `row` and the
    `part` at fault (metric_id, role or mid). Rows count the chosen ones only, 1-based,
    as the form shows them again (empty rows after them)."""
    check = Checks()
    cleaned, seen = [], set()
    chosen = [choice for choice in choices if choice.get("metric_id") not in (None, "")]
    for position, choice in enumerate(chosen, start=1):
        row = check(_metric_row, db, choice, position, seen)
        if row is not None:
            cleaned.append(row)
    check.done()
    return cleaned


def _metric_row(db, choice: dict, position: int, seen: set) -> dict:
    """One metric row, cleaned; `seen` holds the metrics of the rows above it."""
    try:
        metric = get_metric(db, int(choice["metric_id"]))
    except (NotFound, ValueError):
        raise DomainError(
            "Metric row %(row)s: unknown metric.", "metrics", row=position, part="metric_id"
        ) from None
    check = Checks()
    if metric["id"] in seen:
        check.errors.append(
            DomainError(
                "%(name)s is chosen twice.",
                "metrics",
                name=metric["name"],
                row=position,
                part="metric_id",
            )
        )
    seen.add(metric["id"])
    role = (choice.get("role") or "").strip()
    if role not in METRIC_ROLES:
        check.errors.append(
            DomainError(
                "Metric row %(row)s: choose primary, secondary or balancing.",
                "metrics",
                row=position,
                part="role",
            )
        )
    mid = check(_row_mid, choice.get("minimal_important_difference"), position)
    check.done()
    return {
        "metric_id": metric["id"],
        "slug": metric["slug"],
        "role": role,
        "minimal_important_difference": mid,
    }


def clean_plan(db, fields: dict, choices: list[dict]) -> tuple[dict, list[dict]]:
    """The charter and the metric rows, cleaned, with the faults of both reported
    together."""
    check = Checks()
    charter = check(clean_charter, fields)
    metrics = check(clean_metric_choices, db, choices)
    check.done()
    return charter, metrics


def update_draft(
    db, pilot_id: int, fields: dict, choices: list[dict], actor_id: int, now: str | None = None
) -> dict:
    """Save a draft's charter and metrics (a team member, while it is a draft)."""
    charter, metrics = clean_plan(db, fields, choices)
    with db.atomic():
        pilot = editable_pilot(db, pilot_id, actor_id)
        if pilot["status"] != "draft":
            raise DomainError(
                "Only a draft can be edited directly; an approved plan changes by amendment.",
                "status",
            )
        before = plan_of(pilot)
        now = now or utc_now()
        db["pilot"].update(
            pilot_id,
            {**charter, "risk_flags": json.dumps(charter["risk_flags"]), "updated_at": now},
        )
        _replace_metrics(db, pilot_id, metrics)
        after = plan_of(get_pilot(db, pilot_id))
        _event(db, actor_id, "pilot.edit", pilot_id, before=before, after=after, at=now)
    return get_pilot(db, pilot_id)


def _replace_metrics(db, pilot_id: int, metrics: list[dict], dropped_in: int | None = None):
    """Make the pilot's metric rows match `metrics`; after approval, mark drops instead."""
    current = {row["metric_id"]: row for row in pilot_metrics(db, pilot_id)}
    wanted = {m["metric_id"]: m for m in metrics}
    for metric_id, row in current.items():
        if metric_id not in wanted:
            if dropped_in is None:
                db.execute("DELETE FROM pilot_metric WHERE id = ?", [row["id"]])
            elif row["dropped_in_version"] is None:
                db.execute(
                    "UPDATE pilot_metric SET dropped_in_version = ? WHERE id = ?",
                    [dropped_in, row["id"]],
                )
    for metric_id, choice in wanted.items():
        values = {
            "role": choice["role"],
            "minimal_important_difference": choice["minimal_important_difference"],
            "dropped_in_version": None,
        }
        if metric_id in current:
            db["pilot_metric"].update(current[metric_id]["id"], values)
        else:
            db["pilot_metric"].insert({"pilot_id": pilot_id, "metric_id": metric_id, **values})


# ---- the plan and its versions ---------------------------------------------


def plan_of(pilot: dict) -> dict:
    """The pre-registrable plan of a pilot as plain data (dropped metrics left out)."""
    plan = {name: pilot.get(name) for name in PLAN_FIELDS}
    plan["risk_flags"] = sorted(pilot.get("risk_flags") or [])
    plan["metrics"] = sorted(
        (
            {
                "slug": m["slug"],
                "role": m["role"],
                "minimal_important_difference": m["minimal_important_difference"],
            }
            for m in pilot["metrics"]
            if m.get("dropped_in_version") is None
        ),
        key=lambda m: m["slug"],
    )
    return plan


def plan_hash(plan: dict) -> str:
    canonical = json.dumps(plan, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def plan_diff(old: dict | None, new: dict) -> list[dict]:
    """What changed between two plans, field by field, for leaders to read."""
    old = old or {}
    changes = []
    for name in (*PLAN_FIELDS, "metrics"):
        if old.get(name) != new.get(name):
            changes.append({"field": name, "before": old.get(name), "after": new.get(name)})
    return changes


def versions(db, pilot_id: int) -> list[dict]:
    """Every version of the plan, newest first, each with its diff from the one before."""
    rows = list(
        db.query(
            """SELECT v.*, p.name AS proposed_by_name, d.name AS decided_by_name
               FROM plan_version v JOIN users p ON p.id = v.proposed_by
               LEFT JOIN users d ON d.id = v.decided_by
               WHERE v.pilot_id = ? ORDER BY v.number""",
            [pilot_id],
        )
    )
    previous = None
    for row in rows:
        row["plan"] = json.loads(row["plan"])
        row["diff"] = plan_diff(previous, row["plan"])
        if row["state"] == "approved":
            previous = row["plan"]
    return list(reversed(rows))


def _latest_version(db, pilot_id: int) -> dict | None:
    return next(
        db.query(
            "SELECT * FROM plan_version WHERE pilot_id = ? ORDER BY number DESC LIMIT 1",
            [pilot_id],
        ),
        None,
    )


def _add_version(db, pilot_id: int, plan: dict, actor_id: int, now: str, reason=None) -> dict:
    latest = _latest_version(db, pilot_id)
    version = {
        "pilot_id": pilot_id,
        "number": (latest["number"] + 1) if latest else 1,
        "plan": json.dumps(plan, sort_keys=True, ensure_ascii=False),
        "hash": plan_hash(plan),
        "reason": reason,
        "state": "proposed",
        "proposed_by": actor_id,
        "proposed_at": now,
    }
    version["id"] = db["plan_version"].insert(version).last_pk
    return version


def missing_for_submission(pilot: dict) -> list[tuple[str, str]]:
    """What a plan must have before a leader can look at it: (field, message) pairs."""
    missing = []
    for name, message in (
        ("start_date", translatable("Give a start date.")),
        ("end_date", translatable("Give an end date: pilots are time-boxed.")),
        ("design", translatable("Choose a design.")),
    ):
        if not pilot.get(name):
            missing.append((name, message))
    active = [m for m in pilot["metrics"] if m.get("dropped_in_version") is None]
    if not any(m["role"] == "primary" for m in active):
        missing.append(("metrics", translatable("Choose at least one primary metric.")))
    return missing


def advice_before_submission(pilot: dict) -> list[tuple[str, str]]:
    """What a good plan has and this one lacks; leaders see it, but it does not block.

    The automation contract lets a script submit a plan with only dates, a design and
    a primary metric, so these are strong advice rather than rules.
    """
    advice = []
    if (
        pilot.get("status") in ("draft", "submitted")
        and pilot.get("end_date")
        and pilot["end_date"] < local_today().isoformat()
    ):
        advice.append(
            (
                "end_date",
                translatable(
                    "The end date has already passed: a plan is fixed before the pilot runs,"
                    " so nothing of this one is ahead. Move the dates."
                ),
            )
        )
    if not pilot.get("hypothesis"):
        advice.append(
            (
                "hypothesis",
                translatable("Write the hypothesis: what you expect to happen, and why."),
            )
        )
    primaries = [
        m
        for m in pilot["metrics"]
        if m.get("dropped_in_version") is None and m["role"] == "primary"
    ]
    if any(m["minimal_important_difference"] in (None, "") for m in primaries):
        advice.append(
            (
                "metrics",
                translatable("Give the smallest difference that matters for each primary metric."),
            )
        )
    if pilot.get("design") in ("two_group", "did") and not pilot.get("comparison"):
        advice.append(
            ("comparison", translatable("Describe the comparison group this design needs."))
        )
    if pilot.get("design") in ("spc", "pre_post", "did") and not pilot.get("baseline"):
        advice.append(
            ("baseline", translatable("Describe the baseline: the periods before the start."))
        )
    return advice


def _require_complete(pilot: dict) -> None:
    missing = missing_for_submission(pilot)
    if missing:
        field, message = missing[0]
        raise DomainError(message, field)


# ---- trust envelope ----------------------------------------------------------


TRUST_FIELDS = (
    "trust_max_days",
    "trust_max_citizens",
    "trust_max_cost",
    "trust_excluded_risks",
    "trust_auto_days",
)


def trust_envelope(db, team_id: int) -> dict | None:
    """The nearest envelope set on the team or a unit above it, or None."""
    for unit in db.query(
        """WITH RECURSIVE above(id, depth) AS (
               SELECT ?, 0 UNION ALL
               SELECT u.parent_id, a.depth + 1 FROM unit u JOIN above a ON u.id = a.id
               WHERE u.parent_id IS NOT NULL)
           SELECT u.* FROM unit u JOIN above a ON a.id = u.id ORDER BY a.depth""",
        [team_id],
    ):
        if unit["trust_auto_days"] is not None:
            envelope = {name: unit[name] for name in TRUST_FIELDS}
            envelope["trust_excluded_risks"] = json.loads(unit["trust_excluded_risks"] or "[]")
            envelope["unit_name"] = unit["name"]
            return envelope
    return None


def envelope_breaches(pilot: dict, envelope: dict | None) -> list[dict]:
    """Each trust limit the pilot falls outside, with its figure and the limit; [] inside.

    A breach is `{"limit": ..., "value": ..., "allowed": ...}`: `limit` is "envelope"
    (no envelope on the team or above it), "days", "citizens", "cost" or "risk" (then
    `value` is the excluded risk flag). A size the plan does not give is outside, with
    `value` None. The web layer words each one in the reader's language.
    """
    if envelope is None:
        return [{"limit": "envelope", "value": None, "allowed": None}]
    days = None
    if pilot.get("start_date") and pilot.get("end_date"):
        days = (
            date.fromisoformat(pilot["end_date"]) - date.fromisoformat(pilot["start_date"])
        ).days
    breaches = []
    for limit, value, allowed in (
        ("days", days, envelope["trust_max_days"]),
        ("citizens", pilot.get("citizens_involved"), envelope["trust_max_citizens"]),
        # The form says "leave empty if none": no extra cost is a cost of 0.
        ("cost", pilot.get("cost") or 0, envelope["trust_max_cost"]),
    ):
        if allowed is not None and (value is None or value > allowed):
            breaches.append({"limit": limit, "value": value, "allowed": allowed})
    excluded = set(pilot.get("risk_flags") or []) & set(envelope["trust_excluded_risks"])
    order = {flag: position for position, flag in enumerate(RISK_FLAGS)}
    for flag in sorted(excluded, key=lambda f: (order.get(f, len(order)), f)):
        breaches.append({"limit": "risk", "value": flag, "allowed": None})
    return breaches


def inside_envelope(pilot: dict, envelope: dict | None) -> bool:
    """Whether the pilot stays inside the envelope; unknown sizes count as outside."""
    return not envelope_breaches(pilot, envelope)


def waits_outside_envelope(pilot: dict) -> bool:
    """A first plan that waits for a leader because it was outside the trust envelope
    when it was sent (not counting down, and not stopped by an objection)."""
    return (
        pilot["status"] == "submitted"
        and not pilot["auto_approve_at"]
        and not pilot.get("objection")
    )


def set_trust_envelope(db, unit_id: int, fields: dict, leader_id: int) -> dict:
    """A leader sets the unit's envelope; empty auto-approval days switch it off."""
    values = {
        "trust_max_days": _optional_number(fields, "trust_max_days", integer=True),
        "trust_max_citizens": _optional_number(fields, "trust_max_citizens", integer=True),
        "trust_max_cost": _optional_number(fields, "trust_max_cost"),
        "trust_auto_days": _optional_number(fields, "trust_auto_days", integer=True),
    }
    risks = fields.get("trust_excluded_risks") or []
    if isinstance(risks, str):
        risks = [risks]
    if any(r not in RISK_FLAGS for r in risks):
        raise DomainError("Unknown risk flag.", "trust_excluded_risks")
    values["trust_excluded_risks"] = json.dumps(sorted(set(risks)))
    with db.atomic():
        if not leads(db, leader_id, unit_id):
            raise NotFound(f"No unit {unit_id}")
        before = next(db.query("SELECT * FROM unit WHERE id = ?", [unit_id]))
        db["unit"].update(unit_id, values)
        audit.record(
            db,
            actor_id=leader_id,
            actor_role="leader",
            action="unit.trust_envelope",
            object_type="unit",
            object_id=unit_id,
            before={k: before[k] for k in values},
            after=values,
        )
    return values


# ---- submission and approval ----------------------------------------------


def submit(db, pilot_id: int, actor_id: int, now: datetime | None = None) -> dict:
    """Send the draft to the leaders: its plan becomes a numbered, hashed version."""
    now_text = to_utc_text(now) if now else utc_now()
    with db.atomic():
        pilot = editable_pilot(db, pilot_id, actor_id)
        if pilot["status"] != "draft":
            raise DomainError("Only a draft can be submitted.", "status")
        _require_complete(pilot)
        version = _add_version(db, pilot_id, plan_of(pilot), actor_id, now_text)
        envelope = trust_envelope(db, pilot["team_id"])
        auto_at = None
        if inside_envelope(pilot, envelope):
            moment = from_utc_text(now_text) + timedelta(days=envelope["trust_auto_days"])
            auto_at = to_utc_text(moment)
        db["pilot"].update(
            pilot_id,
            {
                "status": "submitted",
                "auto_approve_at": auto_at,
                "objection": None,
                "updated_at": now_text,
            },
        )
        _event(
            db,
            actor_id,
            "pilot.submit",
            pilot_id,
            before={"status": "draft"},
            after={
                "status": "submitted",
                "version": version["number"],
                "hash": version["hash"],
                "auto_approve_at": auto_at,
            },
            at=now_text,
        )
        _tell_leaders(db, pilot, version, actor_id, auto_at, now_text)
    return get_pilot(db, pilot_id)


def withdraw(db, pilot_id: int, actor_id: int) -> dict:
    """Take a submitted pilot back to draft (the version is kept, marked withdrawn)."""
    now = utc_now()
    with db.atomic():
        pilot = editable_pilot(db, pilot_id, actor_id)
        if pilot["status"] != "submitted":
            raise DomainError("Only a submitted pilot can be withdrawn.", "status")
        latest = _latest_version(db, pilot_id)
        db.execute(
            "UPDATE plan_version SET state = 'withdrawn', decided_at = ? WHERE id = ?",
            [now, latest["id"]],
        )
        db["pilot"].update(
            pilot_id, {"status": "draft", "auto_approve_at": None, "updated_at": now}
        )
        _event(
            db,
            actor_id,
            "pilot.withdraw",
            pilot_id,
            before={"status": "submitted"},
            after={"status": "draft"},
            at=now,
        )
    return get_pilot(db, pilot_id)


def _proposers(db, pilot: dict) -> set[int]:
    """Who counts as having proposed this pilot: its creator and every version's author."""
    ids = {pilot["created_by"]}
    ids.update(
        row["proposed_by"]
        for row in db.query(
            "SELECT proposed_by FROM plan_version WHERE pilot_id = ?", [pilot["id"]]
        )
    )
    return ids


def _pending_version(db, pilot: dict, version_number: int | None) -> dict:
    latest = _latest_version(db, pilot["id"])
    if latest is None or latest["state"] != "proposed":
        raise DomainError("There is no plan waiting for approval.", "status")
    if version_number is not None and int(version_number) != latest["number"]:
        raise DomainError(
            "The plan changed: version %(latest)s is waiting, not %(asked)s. Read it first.",
            "version",
            latest=latest["number"],
            asked=version_number,
        )
    return latest


def _check_approver(db, pilot: dict, leader_id: int) -> None:
    if not leads(db, leader_id, pilot["team_id"]):
        raise NotFound(f"No pilot {pilot['id']}")
    if leader_id in _proposers(db, pilot):
        raise DomainError("Nobody approves their own pilot.", "approver")


def _tell_leaders(db, pilot: dict, version: dict, actor_id: int, auto_at, now: str) -> None:
    """Tell the leaders of the team's unit and the units above it that a plan waits for
    them, or counts down to approval by trust (in the caller's unit of work)."""

    leaders = {
        row["user_id"]
        for row in db.query(
            """WITH RECURSIVE above(id) AS (
                   SELECT ? UNION ALL
                   SELECT u.parent_id FROM unit u JOIN above a ON u.id = a.id
                   WHERE u.parent_id IS NOT NULL)
               SELECT r.user_id FROM role r JOIN above a ON a.id = r.unit_id
               WHERE r.role = 'leader'""",
            [pilot["team_id"]],
        )
    }
    leaders.discard(actor_id)
    event = "pilot.submitted_by_trust" if auto_at else "pilot.submitted"
    _tell(db, leaders, pilot, version, actor_id, event, now, day=auto_at or "")


def _tell_team(db, pilot: dict, version: dict, actor_id: int | None, event: str, now: str):
    """Tell the team of a leader's (or trust's) decision on their plan, in the caller's
    unit of work: the team's members, whoever created the pilot and whoever proposed
    this version, but not the person who decided."""

    people = {
        row["user_id"]
        for row in db.query(
            "SELECT user_id FROM role WHERE role = 'frontline' AND unit_id = ?", [pilot["team_id"]]
        )
    }
    people |= {pilot["created_by"], version["proposed_by"]}
    people.discard(actor_id)
    # Decided: the leaders' notices that the plan waited for them have done their work.
    db.execute(
        """UPDATE notification SET read_at = ? WHERE read_at IS NULL AND link = ?
           AND kind IN ('pilot.submitted', 'pilot.submitted_by_trust')""",
        [now, f"/pilots/{pilot['id']}"],
    )
    _tell(db, people, pilot, version, actor_id, event, now)


def _tell(db, people, pilot: dict, version: dict, actor_id, event: str, now: str, **values):
    """Notify `people` of `event` on the pilot's plan `version`, done by `actor_id`."""
    from pilots.domain import notifications  # late: notifications reads results, which reads us

    actor = next(db.query("SELECT name FROM users WHERE id = ?", [actor_id]), None)
    notifications.tell(
        db,
        people,
        kind=event,
        texts=(f"{event}.title", event),
        link=f"/pilots/{pilot['id']}",
        now=now,
        title=pilot["title"],
        actor=actor["name"] if actor else "",
        version=version["number"],
        **values,
    )


def approve(
    db,
    pilot_id: int,
    leader_id: int | None,
    version_number: int | None = None,
    now: datetime | None = None,
    automatic: bool = False,
) -> dict:
    """Approve the waiting version: a first plan, or an amendment to an approved one."""
    now_text = to_utc_text(now) if now else utc_now()
    with db.atomic():
        pilot = get_pilot(db, pilot_id)
        if pilot["status"] not in ("submitted", *FROZEN):
            raise DomainError("This pilot has no plan waiting for approval.", "status")
        if not automatic:
            _check_approver(db, pilot, leader_id)
        version = _pending_version(db, pilot, version_number)
        db.execute(
            """UPDATE plan_version SET state = 'approved', decided_by = ?, decided_at = ?,
               automatic = ? WHERE id = ?""",
            [leader_id, now_text, int(automatic), version["id"]],
        )
        amendment = pilot["status"] != "submitted"
        if amendment:
            _apply_plan(db, pilot_id, json.loads(version["plan"]), version["number"])
        db["pilot"].update(
            pilot_id,
            {
                "status": pilot["status"] if amendment else "approved",
                "approved_version": version["number"],
                "auto_approve_at": None,
                "updated_at": now_text,
            },
        )
        _event(
            db,
            leader_id,
            "pilot.amendment_approve" if amendment else "pilot.approve",
            pilot_id,
            before={"status": pilot["status"]},
            after={
                "status": "approved" if not amendment else pilot["status"],
                "version": version["number"],
                "hash": version["hash"],
                "automatic": automatic,
            },
            at=now_text,
            role="system" if automatic else "leader",
        )
        if amendment:
            event = "pilot.amendment_approved"
        else:
            event = "pilot.approved_by_trust" if automatic else "pilot.approved"
        _tell_team(db, pilot, version, leader_id, event, now_text)
    return get_pilot(db, pilot_id)


def return_to_team(
    db, pilot_id: int, leader_id: int, comment: str, version_number: int | None = None
) -> dict:
    """Send the waiting version back with comments; a first plan returns to draft."""
    comment = (comment or "").strip()
    if not comment:
        raise DomainError("Write what the team should change.", "comment")
    now = utc_now()
    with db.atomic():
        pilot = get_pilot(db, pilot_id)
        _check_approver(db, pilot, leader_id)
        version = _pending_version(db, pilot, version_number)
        db.execute(
            """UPDATE plan_version SET state = 'returned', decided_by = ?, decided_at = ?,
               comment = ? WHERE id = ?""",
            [leader_id, now, comment, version["id"]],
        )
        status = "draft" if pilot["status"] == "submitted" else pilot["status"]
        db["pilot"].update(pilot_id, {"status": status, "auto_approve_at": None, "updated_at": now})
        _event(
            db,
            leader_id,
            "pilot.return",
            pilot_id,
            before={"status": pilot["status"]},
            after={"status": status, "version": version["number"]},
            reason=comment,
            at=now,
            role="leader",
        )
        event = "pilot.returned" if pilot["status"] == "submitted" else "pilot.amendment_returned"
        _tell_team(db, pilot, version, leader_id, event, now)
    return get_pilot(db, pilot_id)


def object_to(db, pilot_id: int, leader_id: int, objection: str) -> dict:
    """Stop a trust-by-default approval: the pilot waits for an explicit decision."""
    objection = (objection or "").strip()
    if not objection:
        raise DomainError("Write your objection, so the team knows what to address.", "objection")
    now = utc_now()
    with db.atomic():
        pilot = get_pilot(db, pilot_id)
        if not leads(db, leader_id, pilot["team_id"]):
            raise NotFound(f"No pilot {pilot_id}")
        if pilot["status"] != "submitted" or not pilot["auto_approve_at"]:
            raise DomainError("This pilot is not waiting for automatic approval.", "status")
        db["pilot"].update(
            pilot_id, {"auto_approve_at": None, "objection": objection, "updated_at": now}
        )
        _event(db, leader_id, "pilot.object", pilot_id, reason=objection, at=now, role="leader")
        _tell_team(db, pilot, _latest_version(db, pilot_id), leader_id, "pilot.objected", now)
    return get_pilot(db, pilot_id)


def approve_due(db, now: datetime) -> list[int]:
    """Approve every submitted pilot whose trust-by-default countdown has run out."""
    due = [
        row["id"]
        for row in db.query(
            """SELECT id FROM pilot WHERE status = 'submitted' AND auto_approve_at IS NOT NULL
               AND auto_approve_at <= ?""",
            [to_utc_text(now)],
        )
    ]
    for pilot_id in due:
        approve(db, pilot_id, None, now=now, automatic=True)
    return due


def _reason_given(reason: str) -> None:
    if not reason:
        raise DomainError("Say why the plan must change.", "reason")


def propose_amendment(
    db,
    pilot_id: int,
    fields: dict,
    choices: list[dict],
    reason: str,
    actor_id: int,
    now: str | None = None,
) -> dict:
    """Propose a change to an approved plan: a reason, a new version, re-approval."""
    reason = (reason or "").strip()
    check = Checks()
    check(_reason_given, reason)
    plan = check(clean_plan, db, fields, choices)
    check.done()
    charter, metrics = plan
    now = now or utc_now()
    with db.atomic():
        pilot = editable_pilot(db, pilot_id, actor_id)
        if pilot["status"] not in FROZEN:
            raise DomainError("Only an approved plan is amended.", "status")
        latest = _latest_version(db, pilot_id)
        if latest and latest["state"] == "proposed":
            raise DomainError("An amendment is already waiting for approval.", "status")
        proposed = {
            **pilot,
            **charter,
            "metrics": [{**m, "dropped_in_version": None} for m in metrics],
        }
        _require_complete(proposed)
        plan = plan_of(proposed)
        if plan_hash(plan) == plan_hash(plan_of(pilot)):
            raise DomainError("Nothing in the plan changed.", "reason")
        version = _add_version(db, pilot_id, plan, actor_id, now, reason=reason)
        db["pilot"].update(pilot_id, {"updated_at": now})
        _event(
            db,
            actor_id,
            "pilot.amend",
            pilot_id,
            before=plan_of(pilot),
            after=plan,
            reason=reason,
            at=now,
        )
    return version


def _apply_plan(db, pilot_id: int, plan: dict, version_number: int) -> None:
    values = {name: plan.get(name) for name in PLAN_FIELDS}
    values["risk_flags"] = json.dumps(plan.get("risk_flags") or [])
    db["pilot"].update(pilot_id, values)
    choices = []
    for metric in plan["metrics"]:
        row = next(db.query("SELECT id FROM metric WHERE slug = ?", [metric["slug"]]))
        choices.append({**metric, "metric_id": row["id"]})
    _replace_metrics(db, pilot_id, choices, dropped_in=version_number)


# ---- running, pausing, concluding --------------------------------------------

TRANSITIONS = {
    # action: (allowed from, to, needs a reason)
    "start": (("approved",), "running", False),
    "pause": (("running",), "paused", True),
    "resume": (("paused",), "running", False),
    "stop": (("approved", "running", "paused"), "stopped", True),
}


def change_status(
    db, pilot_id: int, action: str, actor_id: int, reason: str = "", now: str | None = None
) -> dict:
    """Start, pause, resume or stop a pilot (its team does this).

    A pilot starts on its plan's start date at the earliest (the day in Norway): the
    evaluation counts the periods before that date as the baseline, so work begun
    earlier would be measured as if nothing had changed. Starting sooner takes an
    amendment that moves the start date, which a leader sees.
    """
    allowed, target, needs_reason = TRANSITIONS[action]
    reason = (reason or "").strip()
    if needs_reason and not reason:
        raise DomainError("Give a reason; it is kept with the pilot.", "reason")
    now = now or utc_now()
    with db.atomic():
        pilot = editable_pilot(db, pilot_id, actor_id)
        if pilot["status"] not in allowed:
            raise DomainError(
                "A %(status)s pilot cannot do this.", "status", status=pilot["status"]
            )
        if action == "start" and starts_later(pilot, local_today(now)):
            raise DomainError(
                "The plan has the pilot start on %(day)s: start it then, or propose an"
                " amendment that moves the start date. The evaluation counts the periods"
                " before that date as the baseline.",
                "status",
                day=date.fromisoformat(pilot["start_date"]).strftime("%d.%m.%Y"),
            )
        db["pilot"].update(
            pilot_id,
            {
                "status": target,
                "status_reason": reason or pilot["status_reason"],
                "updated_at": now,
            },
        )
        _event(
            db,
            actor_id,
            f"pilot.{action}",
            pilot_id,
            before={"status": pilot["status"]},
            after={"status": target},
            reason=reason or None,
            at=now,
        )
    return get_pilot(db, pilot_id)


def conclude(
    db,
    pilot_id: int,
    actor_id: int,
    decision: str,
    learned: str,
    next_steps: str,
    now: str | None = None,
):
    """Close the pilot with a decision (adopt, adapt, abandon) and what was learned."""
    if decision not in DECISIONS:
        raise DomainError("Choose adopt, adapt or abandon.", "decision")
    learned, next_steps = (learned or "").strip(), (next_steps or "").strip()
    if not learned:
        raise DomainError("Write what you learned; it is the point of a pilot.", "learned")
    now = now or utc_now()
    with db.atomic():
        pilot = editable_pilot(db, pilot_id, actor_id)
        if pilot["status"] not in ("running", "paused", "approved"):
            raise DomainError("Only an approved or running pilot is concluded.", "status")
        values = {
            "status": "concluded",
            "decision": decision,
            "learned": learned,
            "next_steps": next_steps,
            "updated_at": now,
        }
        db["pilot"].update(pilot_id, values)
        _event(
            db,
            actor_id,
            "pilot.conclude",
            pilot_id,
            before={"status": pilot["status"]},
            after=values,
            at=now,
        )
    return get_pilot(db, pilot_id)


# ---- PDSA cycles ---------------------------------------------------------------


def cycles(db, pilot_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM pdsa_cycle WHERE pilot_id = ? ORDER BY number", [pilot_id]))


def _clean_cycle(fields: dict) -> dict:
    cycle = {name: _text(fields, name) for name in ("plan", "prediction", "done", "studied")}
    if not cycle["plan"]:
        raise DomainError("Describe the plan of this cycle.", "plan")
    cycle["started_on"] = _optional_date(fields, "started_on") or date.today().isoformat()
    act = (fields.get("act") or "").strip() or None
    if act is not None and act not in DECISIONS:
        raise DomainError("Choose adopt, adapt or abandon.", "act")
    cycle["act"] = act
    return cycle


def add_cycle(db, pilot_id: int, fields: dict, actor_id: int, now: str | None = None) -> dict:
    """Record a new plan-do-study-act cycle inside an approved or running pilot."""
    cycle = _clean_cycle(fields)
    now = now or utc_now()
    with db.atomic():
        pilot = editable_pilot(db, pilot_id, actor_id)
        if pilot["status"] not in FROZEN:
            raise DomainError("Cycles belong to an approved or running pilot.", "status")
        number = next(
            db.query(
                "SELECT coalesce(max(number), 0) + 1 AS n FROM pdsa_cycle WHERE pilot_id = ?",
                [pilot_id],
            )
        )["n"]
        cycle.update(pilot_id=pilot_id, number=number, created_by=actor_id, created_at=now)
        cycle["id"] = db["pdsa_cycle"].insert(cycle).last_pk
        _event(db, actor_id, "pilot.cycle_add", pilot_id, after=cycle, at=now)
    return cycle


def update_cycle(db, pilot_id: int, cycle_id: int, fields: dict, actor_id: int) -> dict:
    """Fill in what was done, what was studied against the prediction, and the act."""
    cycle = _clean_cycle(fields)
    now = utc_now()
    with db.atomic():
        editable_pilot(db, pilot_id, actor_id)
        before = next(
            db.query(
                "SELECT * FROM pdsa_cycle WHERE id = ? AND pilot_id = ?", [cycle_id, pilot_id]
            ),
            None,
        )
        if before is None:
            raise NotFound(f"No cycle {cycle_id}")
        db["pdsa_cycle"].update(cycle_id, cycle)
        _event(
            db,
            actor_id,
            "pilot.cycle_update",
            pilot_id,
            before={k: before[k] for k in cycle},
            after=cycle,
            at=now,
        )
    return {**before, **cycle}


# ---- for leaders -----------------------------------------------------------------


def leader_queue(db, leader_id: int, now: datetime) -> list[dict]:
    """Plans waiting for this leader: first submissions and amendments, oldest first."""
    rows = list(
        db.query(
            """WITH RECURSIVE reach(id) AS (
                   SELECT unit_id FROM role WHERE user_id = :leader AND role = 'leader'
                   UNION SELECT u.id FROM unit u JOIN reach r ON u.parent_id = r.id)
               SELECT p.*, u.name AS team_name, v.number AS version, v.reason AS amendment_reason,
                      v.proposed_at, v.hash
               FROM pilot p JOIN unit u ON u.id = p.team_id
               JOIN plan_version v ON v.pilot_id = p.id AND v.state = 'proposed'
               WHERE p.team_id IN (SELECT id FROM reach)
               ORDER BY v.proposed_at""",
            {"leader": leader_id},
        )
    )
    envelopes: dict[int, dict | None] = {}
    for row in rows:
        row["is_amendment"] = row["status"] != "submitted"
        row["own"] = row["created_by"] == leader_id
        row["days_left"] = None
        if row["auto_approve_at"]:
            remaining = from_utc_text(row["auto_approve_at"]) - now.astimezone(UTC)
            row["days_left"] = max(0, remaining.days + (1 if remaining.seconds else 0))
        # Why a first plan waits for a leader: the limits it is outside of now. Empty when
        # the envelope was widened after it was sent (it is not approved by trust then).
        row["breaches"] = []
        if waits_outside_envelope(row):
            if row["team_id"] not in envelopes:
                envelopes[row["team_id"]] = trust_envelope(db, row["team_id"])
            plan = {**row, "risk_flags": json.loads(row["risk_flags"] or "[]")}
            row["breaches"] = envelope_breaches(plan, envelopes[row["team_id"]])
    return rows


# What a check of a data file before storing it records (pilots.web.observations).
_FILE_CHECKED = "observations.preview"


def timeline(db, pilot_id: int) -> list[dict]:
    """The pilot's status changes, oldest first, from the audit trail.

    Looks in a row by the same person (or by the scheduler, or from the command line)
    are one line, at the last
    of them, with `times` counting them: pressing "Evaluate now" again and again does
    not bury the decisions. Checks of a data file before it is stored change nothing
    and are left out (the import that follows is there). The audit trail keeps every one.
    """
    events: list[dict] = []
    for row in db.query(
        """SELECT e.at, e.action, e.reason, u.name AS actor_name, e.actor_role
           FROM audit_event e LEFT JOIN users u ON u.id = e.actor_id
           WHERE e.object_type = 'pilot' AND e.object_id = ? AND e.action <> ?
           ORDER BY e.id""",
        [str(pilot_id), _FILE_CHECKED],
    ):
        last = events[-1] if events else None
        if (
            last is not None
            and row["action"] == last["action"] == "pilot.evaluate"
            and (row["actor_name"], row["actor_role"]) == (last["actor_name"], last["actor_role"])
        ):
            last.update(at=row["at"], times=last["times"] + 1)
            continue
        events.append({**row, "times": 1})
    return events
