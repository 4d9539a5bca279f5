"""The daily deadline check: what is waiting too long, kept as notices a page can show.

Three kinds of matter: plans waiting for a leader's approval (`approval_pending`, due
at the trust-by-default moment when there is one), pilots past their end date without
a decision (`pilot_overdue`), and ideas not answered by their answer date
(`idea_unanswered`; only when the `idea` table exists, since ideas are an area of
their own). Each check refreshes one `notice` row per matter and closes
(`resolved_at`) those it no longer finds, so the notice table always says what is
open now and since when.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pilots.db import to_utc_text

KINDS = ("approval_pending", "pilot_overdue", "idea_unanswered")


def _has_table(db, name: str) -> bool:
    return bool(
        next(
            db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]), None
        )
    )


def find_deadlines(db, now: datetime) -> list[dict]:
    """Open matters as of `now`: kind, object, unit, title and due date."""
    today = now.astimezone(UTC).date().isoformat()
    found = [
        {**row, "kind": "approval_pending", "object_type": "pilot"}
        for row in db.query(
            """SELECT p.id AS object_id, p.team_id AS unit_id, p.title,
                      p.auto_approve_at AS due
               FROM pilot p JOIN plan_version v ON v.pilot_id = p.id AND v.state = 'proposed'
               WHERE p.status IN ('submitted', 'approved', 'running', 'paused')"""
        )
    ]
    found += [
        {**row, "kind": "pilot_overdue", "object_type": "pilot"}
        for row in db.query(
            """SELECT id AS object_id, team_id AS unit_id, title, end_date AS due FROM pilot
               WHERE status IN ('approved', 'running', 'paused') AND end_date IS NOT NULL
                 AND end_date < ? AND decision IS NULL""",
            [today],
        )
    ]
    if _has_table(db, "idea"):
        found += [
            {**row, "kind": "idea_unanswered", "object_type": "idea"}
            for row in db.query(
                """SELECT id AS object_id, unit_id, title, answer_due AS due FROM idea
                   WHERE status = 'proposed' AND answer_due IS NOT NULL AND answer_due < ?""",
                [today],
            )
        ]
    return found


def check_deadlines(db, now: datetime) -> dict:
    """Refresh the notices; return how many matters of each kind are open."""
    stamp = to_utc_text(now)
    found = find_deadlines(db, now)
    with db.atomic():
        db.conn.executemany(
            """INSERT INTO notice (kind, object_type, object_id, unit_id, title, due,
                                   first_seen, last_seen)
               VALUES (:kind, :object_type, :object_id, :unit_id, :title, :due, :now, :now)
               ON CONFLICT (kind, object_type, object_id) DO UPDATE SET
                   unit_id = excluded.unit_id, title = excluded.title, due = excluded.due,
                   last_seen = excluded.last_seen,
                   first_seen = CASE WHEN notice.resolved_at IS NULL THEN notice.first_seen
                                     ELSE excluded.first_seen END,
                   resolved_at = NULL""",
            [{**row, "now": stamp} for row in found],
        )
        db.execute(
            "UPDATE notice SET resolved_at = ? WHERE resolved_at IS NULL AND last_seen < ?",
            [stamp, stamp],
        )
    counts = dict.fromkeys(KINDS, 0)
    for row in found:
        counts[row["kind"]] += 1
    return counts


def open_notices(db, kind: str | None = None) -> list[dict]:
    """The notices the last check left open, oldest first."""
    where, params = "resolved_at IS NULL", []
    if kind:
        where, params = where + " AND kind = ?", [kind]
    return list(
        db.query(
            f"SELECT * FROM notice WHERE {where} ORDER BY first_seen, id",  # noqa: S608
            params,
        )
    )
