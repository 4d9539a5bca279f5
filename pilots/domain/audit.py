"""The audit trail: an append-only, hash-chained record of every state change.

Each event's hash covers its own fields and the previous event's hash, so editing
or removing a row (past the triggers, e.g. with another tool) breaks the chain at
that row; `verify_chain` names the first broken one.
"""

from __future__ import annotations

import hashlib
import json

from pilots.db import utc_now

GENESIS = "0" * 64
FIELDS = (
    "at",
    "actor_id",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "reason",
    "prev_hash",
)


_INSERT = "INSERT INTO audit_event ({}) VALUES ({})".format(  # noqa: S608 - constant names
    ", ".join((*FIELDS, "hash")), ", ".join(f":{name}" for name in (*FIELDS, "hash"))
)


# The encoders `json.dumps` would build anew on every call, given these options: an event
# is written for every pilot an evaluation stores, and the text is the same.
_BEFORE_AFTER_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False)


def _as_json(value) -> str | None:
    if value is None:
        return None
    return _BEFORE_AFTER_JSON.encode(value)


def _event_hash(event: dict) -> str:
    canonical = _CANONICAL_JSON.encode([event[f] for f in FIELDS])
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(
    db,
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id,
    before=None,
    after=None,
    reason: str | None = None,
    actor_role: str | None = None,
    at: str | None = None,
) -> dict:
    """Append one event; call inside the unit of work whose change it records."""
    last = db.conn.execute("SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1").fetchone()
    event = {
        "at": at or utc_now(),
        "actor_id": actor_id,
        "actor_role": actor_role,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "before": _as_json(before),
        "after": _as_json(after),
        "reason": reason,
        "prev_hash": last[0] if last else GENESIS,
    }
    event["hash"] = _event_hash(event)
    db.conn.execute(_INSERT, event)
    return event


def verify_chain(db) -> tuple[int, int | None]:
    """Check every event's hash and link; return (events checked, first broken id)."""
    previous = GENESIS
    checked = 0
    for row in db.query("SELECT * FROM audit_event ORDER BY id"):
        if row["prev_hash"] != previous or _event_hash(row) != row["hash"]:
            return checked, row["id"]
        previous = row["hash"]
        checked += 1
    return checked, None


def events(db, *, limit: int = 50, offset: int = 0, object_type: str | None = None):
    """The newest events first, with the actor's name, for the audit page."""
    where, params = "", []
    if object_type:
        where, params = "WHERE e.object_type = ?", [object_type]
    return list(
        db.query(
            f"""SELECT e.*, u.name AS actor_name FROM audit_event e
                LEFT JOIN users u ON u.id = e.actor_id {where}
                ORDER BY e.id DESC LIMIT ? OFFSET ?""",  # noqa: S608 - where is fixed text
            [*params, limit, offset],
        )
    )


# What a leader may read of the trail: events about the objects of the units they lead
# and every unit beneath them (the rule `pilots.leads` applies), and their own actions.
# Cycles, observations, uploads and evaluations are recorded against their pilot, so
# the pilot's team decides; ideas and stories go by their unit, as they are now (one
# moved to another unit takes its history along). Users, roles, tokens, the metric
# catalogue and notifications are the organisation's, so they stay with the admins.
# The set of objects is built once from the indexed unit, pilot, idea and story tables;
# the trail's indexes by object and by actor (migration 0640) then find their events
# without reading the rest of the trail.
_LEADER_SCOPE = """
    WITH RECURSIVE led(id) AS (
        SELECT unit_id FROM role WHERE user_id = :viewer AND role = 'leader'
        UNION
        SELECT u.id FROM unit u JOIN led ON u.parent_id = led.id
    ),
    scoped(object_type, object_id) AS (
        SELECT 'unit', CAST(id AS TEXT) FROM led
        UNION ALL
        SELECT 'pilot', CAST(id AS TEXT) FROM pilot WHERE team_id IN led
        UNION ALL
        SELECT 'idea', CAST(id AS TEXT) FROM idea WHERE unit_id IN led
        UNION ALL
        SELECT 'story', CAST(id AS TEXT) FROM story WHERE unit_id IN led
    )"""
_IN_LEADER_SCOPE = """
    WHERE e.actor_id = :viewer
       OR (e.object_type, e.object_id) IN (SELECT object_type, object_id FROM scoped)"""


def events_for(
    db, viewer_id: int, *, everything: bool, limit: int = 50, offset: int = 0
) -> tuple[list[dict], int]:
    """One page of the events this person may read, newest first, and how many in all.

    `everything` is for admins: the whole trail. Anyone else gets the leader's scope
    above; `audit verify` and exports always cover the whole chain, not this.
    """
    prefix, where = ("", "") if everything else (_LEADER_SCOPE, _IN_LEADER_SCOPE)
    params = {"viewer": viewer_id, "limit": limit, "offset": offset}
    total = next(
        db.query(
            f"{prefix} SELECT count(*) AS n FROM audit_event e {where}",  # noqa: S608 - fixed text
            params,
        )
    )["n"]
    rows = list(
        db.query(
            f"""{prefix} SELECT e.*, u.name AS actor_name FROM audit_event e
                LEFT JOIN users u ON u.id = e.actor_id {where}
                ORDER BY e.id DESC LIMIT :limit OFFSET :offset""",  # noqa: S608 - fixed text
            params,
        )
    )
    return rows, total
