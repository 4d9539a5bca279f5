"""The metric catalogue: what can be measured, how, and for which decision.

A pilot picks its metrics from here (or adds one inline). The clean-up register
reads the same rows: who uses a metric, what it costs to collect, and which
decision it informs.
"""

from __future__ import annotations

import math
import re

from pilots.db import utc_now
from pilots.domain import DomainError, NotFound, audit, translatable
from pilots.domain.organisation import SLUG_PATTERN

TYPES = ("mean", "proportion", "rate")
DIRECTIONS = ("up", "down")
PERIODS = ("day", "week", "month", "quarter", "year")
TEXT_FIELDS = ("name", "definition", "unit", "owner", "data_source", "decision")


def get_metric(db, metric_id: int) -> dict:
    row = next(db.query("SELECT * FROM metric WHERE id = ?", [metric_id]), None)
    if row is None:
        raise NotFound(f"No metric {metric_id}")
    return row


def metric_by_slug(db, slug: str) -> dict | None:
    return next(db.query("SELECT * FROM metric WHERE slug = ?", [slug]), None)


# 1,000 or 1.000: a thousands separator, or three decimals? The page cannot tell.
_AMBIGUOUS = re.compile(r"[+-]?([1-9]\d{0,2})[.,](\d{3})")


def _number(value, field: str) -> float | None:
    """A number as typed (decimal comma or point, spaces between thousands), or as sent
    (a JSON number). "1,000" and "1.000" are refused: read either way, one reader would
    get a thousand times the other's number."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).replace("\xa0", "").replace(" ", "")
    if ambiguous := _AMBIGUOUS.fullmatch(text):
        raise DomainError(
            "“%(value)s” could be read as %(whole)s (with a thousands separator) or as a"
            " decimal number. Write %(whole)s without the separator, or the decimal number"
            " with fewer or more decimals.",
            field,
            value=value,
            whole="".join(ambiguous.groups()),
        )
    try:
        return float(text.replace(",", "."))
    except ValueError:
        raise DomainError("“%(value)s” is not a number.", field, value=value) from None


def clean_metric(fields: dict) -> dict:
    """Validate a metric's fields; return them ready to store."""
    metric = {name: (fields.get(name) or "").strip() for name in TEXT_FIELDS}
    if not metric["name"]:
        raise DomainError("A metric needs a name.", "name")
    slug = (fields.get("slug") or "").strip()
    if not SLUG_PATTERN.match(slug):
        raise DomainError(
            "The short name %(slug)s may only hold a-z, 0-9 and single hyphens.", "slug", slug=slug
        )
    metric["slug"] = slug
    for name, allowed in (("type", TYPES), ("direction", DIRECTIONS), ("period", PERIODS)):
        value = (fields.get(name) or "").strip()
        if value not in allowed:
            raise DomainError("Choose one of %(allowed)s.", name, allowed=", ".join(allowed))
        metric[name] = value
    metric["min_value"] = _number(fields.get("min_value", fields.get("min")), "min_value")
    metric["max_value"] = _number(fields.get("max_value", fields.get("max")), "max_value")
    if metric["type"] == "proportion":
        # A proportion lives between 0 and 1 whatever the form said.
        metric["min_value"] = 0.0 if metric["min_value"] is None else metric["min_value"]
        metric["max_value"] = 1.0 if metric["max_value"] is None else metric["max_value"]
    if (
        metric["min_value"] is not None
        and metric["max_value"] is not None
        and metric["min_value"] >= metric["max_value"]
    ):
        raise DomainError("The lowest possible value must be below the highest.", "max_value")
    metric["rate_per"] = _rate_per(metric["type"], fields.get("rate_per"))
    burden = _number(fields.get("burden_minutes"), "burden_minutes") or 0.0
    if burden < 0:
        raise DomainError("The collection time cannot be negative.", "burden_minutes")
    metric["burden_minutes"] = burden
    return metric


# "Per million" is the largest scale in common use (incidence per 1,000,000 people).
RATE_PER_MAX = 1_000_000


def _rate_per(metric_type: str, value) -> float:
    """How much exposure a rate is shown per (100 for "visits per 100 days"); 1 for the
    other kinds, which have no exposure (whatever the form said)."""
    if metric_type != "rate":
        return 1.0
    per = _number(value, "rate_per")
    if per is None:
        return 1.0
    if not math.isfinite(per) or not 0 < per <= RATE_PER_MAX:
        raise DomainError(
            "The amount a rate is shown per must be more than 0 and at most 1000000, such as"
            " 100 or 1000; %(value)s is not.",
            "rate_per",
            value=value,
        )
    return per


def shown_unit(unit: str | None, metric_type: str, rate_per: float | None) -> str:
    """The unit a metric's figures are shown in: a rate's says per how much exposure
    ("besøk per 100"), since its values are events over exposure times that amount."""
    unit = unit or ""
    if metric_type != "rate" or rate_per in (None, 1):
        return unit
    return f"{unit} per {rate_per:g}".strip()


def create_metric(db, fields: dict, actor_id: int | None) -> dict:
    """Add a metric to the catalogue; slugs are unique."""
    metric = clean_metric(fields)
    with db.atomic():
        if metric_by_slug(db, metric["slug"]):
            raise DomainError(
                "The short name %(slug)s is already taken.", "slug", slug=metric["slug"]
            )
        metric.update(status="active", created_by=actor_id, created_at=utc_now())
        metric["id"] = db["metric"].insert(metric).last_pk
        audit.record(
            db,
            actor_id=actor_id,
            action="metric.create",
            object_type="metric",
            object_id=metric["id"],
            after=metric,
        )
    return metric


def update_metric(db, metric_id: int, fields: dict, actor_id: int | None) -> dict:
    """Change a metric's description; its slug and type stay, pilots rely on them."""
    with db.atomic():
        before = get_metric(db, metric_id)
        # A form without the rate's scale (an older page) keeps the stored one.
        kept = {"rate_per": before["rate_per"], **fields}
        metric = clean_metric({**kept, "slug": before["slug"], "type": before["type"]})
        del metric["slug"], metric["type"]
        _keep_what_plans_rely_on(db, before, metric)
        db["metric"].update(metric_id, metric)
        changed = {k: v for k, v in metric.items() if before.get(k) != v}
        audit.record(
            db,
            actor_id=actor_id,
            action="metric.update",
            object_type="metric",
            object_id=metric_id,
            before={k: before[k] for k in changed},
            after=changed,
        )
    return get_metric(db, metric_id)


# What a pilot's verdicts rest on besides its frozen plan: which way is better, and the
# scale of a rate (a minimal important difference of a did or spc rate is in its units).
_JUDGED_BY = {
    "direction": translatable(
        "“Which way is better” cannot change: approved pilots were planned and are judged"
        " by it (%(pilots)s). Add a new metric for the new meaning instead."
    ),
    "rate_per": translatable(
        "“A rate is shown per” cannot change: approved pilots were planned and are judged"
        " by it (%(pilots)s). Add a new metric for the new meaning instead."
    ),
}


def _keep_what_plans_rely_on(db, before: dict, after: dict) -> None:
    """Refuse to change what approved plans were judged by (`_JUDGED_BY`): changed, it
    would turn their results around after the fact."""
    changed = [name for name in _JUDGED_BY if after[name] != before[name]]
    if not changed:
        return
    titles = [
        row["title"]
        for row in db.query(
            """SELECT DISTINCT p.title FROM pilot_metric pm JOIN pilot p ON p.id = pm.pilot_id
               WHERE pm.metric_id = ? AND p.approved_version IS NOT NULL ORDER BY p.title""",
            [before["id"]],
        )
    ]
    if titles:
        raise DomainError(_JUDGED_BY[changed[0]], changed[0], pilots=", ".join(titles))


def search_metrics(db, query: str = "", limit: int = 20, offset: int = 0, status="active"):
    """Metrics whose name, slug or definition holds `query`; a page and the total."""
    pattern = f"%{(query or '').strip().casefold()}%"
    where = (
        "WHERE (casefold(name) LIKE :q OR slug LIKE :q OR casefold(definition) LIKE :q)"
        " AND (:status = '' OR status = :status)"
    )
    params = {"q": pattern, "status": status or ""}
    total = next(db.query(f"SELECT count(*) AS n FROM metric {where}", params))["n"]  # noqa: S608
    rows = list(
        db.query(
            f"SELECT * FROM metric {where} ORDER BY name LIMIT :limit OFFSET :offset",  # noqa: S608
            {**params, "limit": limit, "offset": offset},
        )
    )
    return rows, total


def all_active(db) -> list[dict]:
    return list(db.query("SELECT * FROM metric WHERE status = 'active' ORDER BY name"))


def used_by_pilots(db) -> list[dict]:
    """The metrics some pilot measures (retired ones too: their results stay), by name:
    what an overview of results can be filtered by."""
    return list(
        db.query(
            """SELECT * FROM metric
               WHERE id IN (SELECT metric_id FROM pilot_metric) ORDER BY name"""
        )
    )
