"""The indicator clean-up register: every metric and indicator, what it costs, what it is for.

The seed's first step is to clean up goals and indicators to make room for staff. Pilot
metrics sit here beside indicators the organisation already reports on (kind
`indicator`). For each: who uses it (pilots that measure it, reports that name it),
when data last came, the collection burden added up to hours per year across the
teams that collect it, and the decision it informs. Candidates for retirement are
flagged by three rules anyone can check by hand:

- no decision named: nobody has said what would change if the number changed;
- unused: no data for `unused_days`, no active pilot measures it, and no report names it;
- near-duplicate: the names are alike (difflib's ratio >= NAME_SIMILARITY on the
  casefolded names) or the definitions share most words (Jaccard overlap of their words
  >= DEFINITION_OVERLAP, counting definitions of at least MIN_DEFINITION_WORDS words).

Leaders retire a metric, or merge it into another, with a reason; each is one audited
event, and the hours retired metrics cost are summed as freed.
"""

from __future__ import annotations

import datetime as dt
import re
from difflib import SequenceMatcher

from pilots.db import utc_now
from pilots.domain import DomainError, NotFound, audit
from pilots.domain import metrics as catalogue

NAME_SIMILARITY = 0.85
DEFINITION_OVERLAP = 0.6
MIN_DEFINITION_WORDS = 4
PERIODS_PER_YEAR = {"day": 365, "week": 52, "month": 12, "quarter": 4, "year": 1}
ACTIVE_PILOT = ("draft", "submitted", "approved", "running", "paused")
KINDS = ("metric", "indicator")
FLAGS = ("no_decision", "unused", "duplicate")
_WORD = re.compile(r"\w+")


def hours_per_year(row: dict) -> float:
    """Collection burden: minutes per period x periods per year x teams collecting, in hours."""
    periods = PERIODS_PER_YEAR.get(row.get("period") or "month", 12)
    teams = row.get("teams_collecting")
    teams = 1 if teams is None else teams
    return (row.get("burden_minutes") or 0) * periods * teams / 60


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall((text or "").casefold()) if len(w) > 2}


def alike(a: dict, b: dict) -> str | None:
    """'name' or 'definition' when two metrics look like the same thing, else None."""
    name_a, name_b = a["name"].casefold().strip(), b["name"].casefold().strip()
    matcher = SequenceMatcher(None, name_a, name_b)
    if matcher.real_quick_ratio() >= NAME_SIMILARITY and matcher.ratio() >= NAME_SIMILARITY:
        return "name"
    words_a, words_b = _words(a.get("definition")), _words(b.get("definition"))
    if min(len(words_a), len(words_b)) >= MIN_DEFINITION_WORDS:
        if len(words_a & words_b) / len(words_a | words_b) >= DEFINITION_OVERLAP:
            return "definition"
    return None


def _rows(db) -> list[dict]:
    rows = list(
        db.query(
            """SELECT m.*, (SELECT max(o.updated_at) FROM observation o
                            WHERE o.metric_id = m.id) AS last_data,
                      r.name AS retired_by_name, t.name AS merged_into_name
               FROM metric m LEFT JOIN users r ON r.id = m.retired_by
               LEFT JOIN metric t ON t.id = m.merged_into_id
               ORDER BY m.name"""
        )
    )
    users = {}
    for use in db.query(
        """SELECT pm.metric_id, p.id, p.title, p.status FROM pilot_metric pm
           JOIN pilot p ON p.id = pm.pilot_id
           WHERE pm.dropped_in_version IS NULL ORDER BY p.title"""
    ):
        users.setdefault(use["metric_id"], []).append(use)
    for row in rows:
        row["pilots"] = users.get(row["id"], [])
        row["reports"] = [
            r.strip() for r in re.split(r"[;\n]", row["reported_in"] or "") if r.strip()
        ]
        row["hours_per_year"] = hours_per_year(row)
    return rows


def register(db, *, today: dt.date, unused_days: int = 180) -> dict:
    """Every metric and indicator with its uses, burden and flags, and the freed hours."""
    rows = _rows(db)
    cutoff = (today - dt.timedelta(days=unused_days)).isoformat()
    active = [row for row in rows if row["status"] == "active"]
    for row in rows:
        row["flags"] = {}
        row["duplicates"] = []
    for i, row in enumerate(active):
        for other in active[i + 1 :]:
            why = alike(row, other)
            if why:
                row["duplicates"].append({"id": other["id"], "name": other["name"], "why": why})
                other["duplicates"].append({"id": row["id"], "name": row["name"], "why": why})
    for row in active:
        if not (row["decision"] or "").strip():
            row["flags"]["no_decision"] = True
        in_use = any(p["status"] in ACTIVE_PILOT for p in row["pilots"]) or row["reports"]
        recent = (row["last_data"] or "") >= cutoff
        if not in_use and not recent and (row["created_at"] or "") < cutoff:
            row["flags"]["unused"] = True
        if row["duplicates"]:
            row["flags"]["duplicate"] = True
    retired = [row for row in rows if row["status"] == "retired" and row["retired_at"]]
    return {
        "rows": rows,
        "candidates": sum(1 for row in active if row["flags"]),
        "hours_active": sum(row["hours_per_year"] for row in active),
        "hours_freed": sum(row["hours_per_year"] for row in retired),
        "retired": len(retired),
    }


def filtered(rows: list[dict], *, query="", kind="", status="", flag="") -> list[dict]:
    """The register's rows that pass the page's filters."""
    needle = (query or "").casefold().strip()
    out = []
    for row in rows:
        text = " ".join([row["name"], row["slug"], row["definition"] or "", row["reported_in"]])
        if needle and needle not in text.casefold():
            continue
        if kind in KINDS and row["kind"] != kind:
            continue
        if status in ("active", "retired") and row["status"] != status:
            continue
        if flag == "candidate" and not row["flags"]:
            continue
        if flag in FLAGS and not row["flags"].get(flag):
            continue
        out.append(row)
    return out


def _teams(value) -> int:
    try:
        teams = int(str(value or "1").strip())
    except ValueError:
        raise DomainError(
            "Give the number of teams as a whole number.", "teams_collecting"
        ) from None
    if not 0 <= teams <= 10_000:
        raise DomainError("Give the number of teams as a whole number.", "teams_collecting")
    return teams


def create_indicator(db, fields: dict, actor_id: int | None, now: str | None = None) -> dict:
    """Register an indicator the organisation already reports on; one audited event."""
    indicator = catalogue.clean_metric(
        {"type": "mean", "direction": "up", "period": "month", **fields}
    )
    indicator["kind"] = "indicator"
    indicator["reported_in"] = (fields.get("reported_in") or "").strip()
    indicator["teams_collecting"] = _teams(fields.get("teams_collecting"))
    with db.atomic():
        if catalogue.metric_by_slug(db, indicator["slug"]):
            raise DomainError(
                "The short name %(slug)s is already taken.", "slug", slug=indicator["slug"]
            )
        indicator.update(status="active", created_by=actor_id, created_at=now or utc_now())
        indicator["id"] = db["metric"].insert(indicator).last_pk
        audit.record(
            db,
            actor_id=actor_id,
            action="indicator.create",
            object_type="metric",
            object_id=indicator["id"],
            after=indicator,
            at=now,
        )
    return indicator


def _retirable(db, metric_id: int, reason: str) -> dict:
    metric = catalogue.get_metric(db, metric_id)
    if metric["status"] != "active":
        raise DomainError("%(name)s is already retired.", "form", name=metric["name"])
    if not (reason or "").strip():
        raise DomainError("Say why, for those who collect it and read it.", "reason")
    running = next(
        db.query(
            """SELECT p.title FROM pilot_metric pm JOIN pilot p ON p.id = pm.pilot_id
               WHERE pm.metric_id = ? AND pm.dropped_in_version IS NULL
               AND p.status IN ('submitted', 'approved', 'running', 'paused') LIMIT 1""",
            [metric_id],
        ),
        None,
    )
    if running:
        raise DomainError(
            "The pilot “%(title)s” measures it by its approved plan; retire it when the"
            " pilot has ended.",
            "form",
            title=running["title"],
        )
    return metric


def retire(db, metric_id: int, reason: str, actor_id: int, now: str | None = None) -> dict:
    """Stop collecting a metric or indicator, with the reason; one audited event."""
    now = now or utc_now()
    with db.atomic():
        metric = _retirable(db, metric_id, reason)
        change = {
            "status": "retired",
            "retired_reason": reason.strip(),
            "retired_at": now,
            "retired_by": actor_id,
        }
        db["metric"].update(metric_id, change)
        audit.record(
            db,
            actor_id=actor_id,
            action="metric.retire",
            object_type="metric",
            object_id=metric_id,
            before={"status": metric["status"]},
            after={**change, "hours_per_year": round(hours_per_year(metric), 1)},
            reason=reason.strip(),
            at=now,
        )
    return catalogue.get_metric(db, metric_id)


def merge(
    db, metric_id: int, into_id: int, reason: str, actor_id: int, now: str | None = None
) -> dict:
    """Retire a near-duplicate in favour of another metric; one audited event.

    Pilots keep their plans (they were approved as written); new pilots pick the one kept.
    """
    now = now or utc_now()
    with db.atomic():
        metric = _retirable(db, metric_id, reason)
        try:
            into = catalogue.get_metric(db, into_id)
        except NotFound:
            raise DomainError("Choose the metric to keep.", "into") from None
        if into["id"] == metric_id or into["status"] != "active":
            raise DomainError("Choose another active metric to keep.", "into")
        change = {
            "status": "retired",
            "retired_reason": reason.strip(),
            "retired_at": now,
            "retired_by": actor_id,
            "merged_into_id": into["id"],
        }
        db["metric"].update(metric_id, change)
        audit.record(
            db,
            actor_id=actor_id,
            action="metric.merge",
            object_type="metric",
            object_id=metric_id,
            before={"status": metric["status"]},
            after={**change, "hours_per_year": round(hours_per_year(metric), 1)},
            reason=reason.strip(),
            at=now,
        )
    return catalogue.get_metric(db, metric_id)
