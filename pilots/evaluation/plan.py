"""The plan an evaluation follows: the approved version, frozen, or a labelled preview.

An approved pilot is evaluated by the plan JSON of its approved version (which, after
an approved amendment, is the amended plan), never by the live pilot row, so editing
cannot move the goalposts. Metrics dropped by an amendment after approval are still
evaluated, with the role and minimal important difference they were registered with,
and marked dropped: a leader should see what the team stopped measuring. A pilot
without an approved version is evaluated from its current draft as a preview,
labelled "not pre-registered".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from pilots.domain import DomainError, NotFound
from pilots.domain import pilots as pilot_domain

PREVIEW_LABEL = "not pre-registered"


@dataclass(frozen=True)
class MetricPlan:
    """One metric as the plan registered it, with its catalogue facts."""

    metric_id: int
    slug: str
    name: str
    type: str
    direction: str
    unit: str
    min_value: float | None
    max_value: float | None
    role: str
    minimal_important_difference: float | None
    dropped_in_version: int | None = None
    # A rate is shown per this much exposure (the catalogue's `rate_per`; 1 otherwise).
    rate_per: float = 1.0


@dataclass(frozen=True)
class FrozenPlan:
    """What an evaluation of one pilot needs from its plan."""

    pilot_id: int
    status: str
    preview: bool
    version: int | None
    plan_hash: str
    design: str
    start_date: date
    end_date: date | None
    planned_n: int | None
    cadence: str
    cadence_rule: str
    metrics: tuple[MetricPlan, ...]


_CATALOGUE = (
    "id",
    "slug",
    "name",
    "type",
    "direction",
    "unit",
    "min_value",
    "max_value",
    "rate_per",
)


def _catalogue(db, slugs) -> dict[str, dict]:
    slugs = list(slugs)
    if not slugs:
        return {}
    marks = ",".join("?" * len(slugs))
    cursor = db.conn.execute(
        f"SELECT {', '.join(_CATALOGUE)} FROM metric WHERE slug IN ({marks})",  # noqa: S608
        slugs,
    )
    return {row[1]: dict(zip(_CATALOGUE, row, strict=True)) for row in cursor}


def _approved(db, pilot_id: int) -> tuple[str, int | None, str | None, str | None]:
    """The pilot's status, approved version, and that version's plan JSON and hash."""
    row = db.conn.execute(
        """SELECT p.status, p.approved_version, v.plan, v.hash FROM pilot p
           LEFT JOIN plan_version v ON v.pilot_id = p.id AND v.number = p.approved_version
           WHERE p.id = ?""",
        (pilot_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"No pilot {pilot_id}")
    return row


def _dropped_metrics(db, pilot_id: int) -> list[dict]:
    cursor = db.conn.execute(
        """SELECT m.slug, pm.role, pm.minimal_important_difference, pm.dropped_in_version
           FROM pilot_metric pm JOIN metric m ON m.id = pm.metric_id
           WHERE pm.pilot_id = ? AND pm.dropped_in_version IS NOT NULL""",
        (pilot_id,),
    )
    names = ("slug", "role", "minimal_important_difference", "dropped_in_version")
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _metric_plan(row: dict, role: str, mid, dropped: int | None) -> MetricPlan:
    return MetricPlan(
        metric_id=row["id"],
        slug=row["slug"],
        name=row["name"],
        type=row["type"],
        direction=row["direction"],
        unit=row["unit"] or "",
        min_value=row["min_value"],
        max_value=row["max_value"],
        role=role,
        minimal_important_difference=None if mid in (None, "") else float(mid),
        dropped_in_version=dropped,
        rate_per=row["rate_per"] if row["type"] == "rate" else 1.0,
    )


def load_plan(db, pilot_id: int) -> FrozenPlan:
    """The pilot's frozen plan (approved version), or its draft as a preview."""
    status, version, plan_text, digest = _approved(db, pilot_id)
    if version is not None:
        plan = json.loads(plan_text)
        dropped_rows = _dropped_metrics(db, pilot_id)
    else:
        pilot = pilot_domain.get_pilot(db, pilot_id)
        plan = pilot_domain.plan_of(pilot)
        digest = pilot_domain.plan_hash(plan)
        dropped_rows = [m for m in pilot["metrics"] if m["dropped_in_version"] is not None]
    if not plan.get("design") or not plan.get("start_date"):
        raise DomainError("An evaluation needs the plan's design and start date.", "design")
    registered = {m["slug"]: m for m in plan.get("metrics") or []}
    dropped = {m["slug"]: m for m in dropped_rows if m["slug"] not in registered}
    catalogue = _catalogue(db, [*registered, *dropped])
    metrics = [
        _metric_plan(catalogue[slug], m["role"], m["minimal_important_difference"], None)
        for slug, m in registered.items()
        if slug in catalogue
    ]
    if version is not None:
        metrics += [
            _metric_plan(
                catalogue[slug],
                m["role"],
                m["minimal_important_difference"],
                m["dropped_in_version"],
            )
            for slug, m in dropped.items()
            if slug in catalogue
        ]
    order = {"primary": 0, "secondary": 1, "balancing": 2}
    metrics.sort(key=lambda m: (m.dropped_in_version is not None, order[m.role], m.slug))
    return FrozenPlan(
        pilot_id=pilot_id,
        status=status,
        preview=version is None,
        version=version,
        plan_hash=digest,
        design=plan["design"],
        start_date=date.fromisoformat(plan["start_date"]),
        end_date=date.fromisoformat(plan["end_date"]) if plan.get("end_date") else None,
        planned_n=int(plan["planned_n"]) if plan.get("planned_n") else None,
        cadence=plan.get("cadence") or "monthly",
        cadence_rule=plan.get("cadence_rule") or "",
        metrics=tuple(metrics),
    )
