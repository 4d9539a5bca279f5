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

from pilots.domain import DomainError
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


def _catalogue(db, slugs) -> dict[str, dict]:
    slugs = list(slugs)
    if not slugs:
        return {}
    marks = ",".join("?" * len(slugs))
    return {
        row["slug"]: row
        for row in db.query(
            f"""SELECT id, slug, name, type, direction, unit, min_value, max_value
                FROM metric WHERE slug IN ({marks})""",  # noqa: S608 - placeholders only
            slugs,
        )
    }


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
    )


def load_plan(db, pilot_id: int) -> FrozenPlan:
    """The pilot's frozen plan (approved version), or its draft as a preview."""
    pilot = pilot_domain.get_pilot(db, pilot_id)
    version = pilot["approved_version"]
    if version is not None:
        row = next(
            db.query(
                "SELECT plan, hash FROM plan_version WHERE pilot_id = ? AND number = ?",
                [pilot_id, version],
            )
        )
        plan, digest = json.loads(row["plan"]), row["hash"]
    else:
        plan = pilot_domain.plan_of(pilot)
        digest = pilot_domain.plan_hash(plan)
    if not plan.get("design") or not plan.get("start_date"):
        raise DomainError("An evaluation needs the plan's design and start date.", "design")
    registered = {m["slug"]: m for m in plan.get("metrics") or []}
    dropped = {
        m["slug"]: m
        for m in pilot["metrics"]
        if m["dropped_in_version"] is not None and m["slug"] not in registered
    }
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
        status=pilot["status"],
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
