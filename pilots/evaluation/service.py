"""Evaluate one pilot as of a date, store the results once, and read them back.

`evaluate_pilot` loads the frozen plan and the pilot's observations up to the as-of
date (and never past the pilot's end date), runs the engine per metric, reviews the
metrics together (Holm across secondary metrics, balancing concerns flagged), and
stores one row per (pilot, metric, as-of date).

Idempotency, the decision: the UNIQUE key (pilot_id, metric_id, as_of) is the claim,
and all of a pilot's rows are written in one IMMEDIATE transaction as upserts that
change a stored row only when its `input_hash` differs. `input_hash` covers the data
hash of every metric of the pilot (Holm ties the secondary metrics together), the
settings and plan, and the library versions. So the same inputs leave the stored row
exactly as it was (same id, same computed_at, no audit event); data that changed
later on the same day replace that day's result, and there is still one row per key;
a crash before the commit leaves nothing of the run, after it everything. A day that
had a scheduled look stays a scheduled look: a later "evaluate now" on that day is
judged with the sequential interval as well.

Unchanged inputs are not recomputed: when an earlier evaluation of the pilot has the
same `input_hash`, its results are copied to the new as-of date (the result depends
on the inputs, not on the date), which keeps scheduled looks cheap when no new data
arrived. Nor are unchanged rows read again: when no observation of the pilot was
written since the last reading and none lies between its cut-off and this one, the data
hashes it found still hold (`inputs.known_hashes`); then the rows are read only when
the engine must run.

An evaluation is prepared by reading alone (`prepare_look`) and then stored
(`store_look`), so worker processes can prepare looks that the scheduler's process
stores; `look_holds` checks, inside the write transaction, that what a look was
prepared from is still so.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from pilots.db import to_utc_text
from pilots.domain import DomainError, audit
from pilots.evaluation import inputs, methods
from pilots.evaluation.plan import PREVIEW_LABEL, FrozenPlan, load_plan
from pilots.stats.several import review_several

RESULT_FIELDS = (
    "metric",
    "role",
    "design",
    "method",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "n_pilot",
    "n_comparison",
    "probability_improved",
    "verdict",
    "summary",
    "details",
    "warnings",
)
_STORED = (
    "pilot_id",
    "metric_id",
    "as_of",
    "plan_version",
    "preview",
    "scheduled",
    "dropped_in_version",
    "role",
    "design",
    "method",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "n_pilot",
    "n_comparison",
    "probability_improved",
    "verdict",
    "summary",
    "details",
    "warnings",
    "data_hash",
    "input_hash",
    "settings",
    "versions",
    "computed_at",
)
_CHANGED_ONLY = "WHERE evaluation.input_hash IS NOT excluded.input_hash"
_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in _STORED[3:])
_ROW = f"({', '.join('?' * len(_STORED))})"


@functools.cache
def _upsert(rows: int) -> str:
    """The upsert of a look's rows, all in one statement.

    One statement rather than one per row (`executemany`): SQLite builds the lists of
    the table's CHECK constraints (`role IN (...)` and the like) once per statement it
    runs, which is a fifth of the writer's time when done for every row. The rows, the
    row ids, the triggers and the count of changed rows are the same either way.
    """
    return f"""
    INSERT INTO evaluation ({", ".join(_STORED)}) VALUES {", ".join([_ROW] * rows)}
    ON CONFLICT (pilot_id, metric_id, as_of) DO UPDATE SET {_UPDATE} {_CHANGED_ONLY}
    """  # noqa: S608 - column names are constants, the rows' values are parameters


def _upsert_records(conn, records: list[tuple]) -> int:
    """Upsert the rows; return how many changed (a plan may have no metrics left)."""
    if not records:
        return 0
    values = [value for record in records for value in record]
    return conn.execute(_upsert(len(records)), values).rowcount


# Copy results computed earlier from the same inputs to a new as-of date, in one go.
_COPIED = ", ".join(":as_of AS as_of" if c == "as_of" else c for c in _STORED[:-1])
_COPY = f"""
    INSERT INTO evaluation ({", ".join(_STORED)})
    SELECT {_COPIED}, :computed_at FROM evaluation
    WHERE id IN (SELECT value FROM json_each(:ids))
    ON CONFLICT (pilot_id, metric_id, as_of) DO UPDATE SET {_UPDATE} {_CHANGED_ONLY}
"""  # noqa: S608 - column names are constants


def _clean(value: Any) -> Any:
    """Plain JSON: NaN and infinities as null, numpy scalars as numbers, dates as text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    if hasattr(value, "items"):  # other mappings (MappingProxy)
        return _clean(dict(value.items()))
    return str(value)


def _plain(value: Any) -> Any:
    """What json cannot write by itself: numpy scalars, dates, other mappings."""
    return _clean(value)


# What `json.dumps` would build anew on every call, given these options.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False, default=_plain)
_CANONICAL_CLEANED = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False)


def _json(value: Any) -> str:
    """Canonical JSON text; `_clean` walks the value only when json alone cannot write it
    (a NaN or an infinity, or keys that do not sort), which keeps the common case fast."""
    try:
        return _CANONICAL.encode(value)
    except (ValueError, TypeError):
        return _CANONICAL_CLEANED.encode(_clean(value))


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _stored_json(value: Any) -> str:
    """A result's JSON text as stored: what `_json` writes, in orjson's compact form.

    orjson (NaN and infinities as null, numpy scalars and dates as `_clean` writes them)
    is many times faster on results full of floats; what it cannot write, such as an
    integer beyond 64 bits, `_json` does.
    """
    try:
        return orjson.dumps(value, default=_plain, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _json(value)


# `to_utc_text`, kept: a scheduled run writes every pilot's rows and event with one `now`.
_moment_text = functools.lru_cache(maxsize=8)(to_utc_text)


def _number(value) -> float | None:
    return _clean(float(value)) if value is not None else None


def _input_hash(hashes: dict[str, str], settings: dict[str, dict], versions: dict) -> str:
    canonical = _json({"data": hashes, "settings": settings, "versions": versions})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def cutoff_for(plan: FrozenPlan, as_of: date) -> date:
    """Observations up to the as-of date, and never past the pilot's end."""
    return min(as_of, plan.end_date) if plan.end_date else as_of


def evaluate_pilot(
    db,
    pilot_id: int,
    as_of: date | None = None,
    *,
    scheduled: bool = False,
    actor_id: int | None = None,
    actor_role: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Evaluate the pilot as of `as_of` (default: today in UTC) and store the results.

    Returns the stored evaluation (see `evaluation_at`) with `changed`, the number of
    rows written (0 when the same inputs were already stored) and `computed`, whether
    the engine ran (False when the results were copied from identical inputs). One
    audit event `pilot.evaluate` is written when anything was stored.
    """
    now = now or datetime.now(UTC)
    as_of = as_of or now.astimezone(UTC).date()
    look = prepare_look(db, pilot_id, as_of, scheduled=scheduled, now=now)
    changed = store_look(db, look, actor_id=actor_id, actor_role=actor_role, now=now)
    stored = evaluation_at(db, pilot_id, as_of)
    stored.update(changed=changed, computed=look.computed)
    return stored


def last_look(db, pilot_id: int, *, actor_id: int | None = None, actor_role=None) -> dict | None:
    """The look taken as a pilot is concluded or stopped, so the decision has its
    evidence beside it (results stay on the page, the portfolio and the analyst's
    overview). None when the plan cannot be evaluated (no design or start date)."""
    try:
        return evaluate_pilot(db, pilot_id, actor_id=actor_id, actor_role=actor_role)
    except DomainError:
        return None


@dataclass(frozen=True)
class Look:
    """A pilot's look as prepared by reading alone: what to store, if anything.

    `hashes_read` holds what a reading of the rows found (metric id -> data hash), to be
    remembered, or None when the hashes were known without reading; `records` the
    computed rows, or None when earlier results (`copies`: metric id -> row id) are
    copied or nothing changed (`unchanged`).
    """

    plan: FrozenPlan
    as_of: date
    cutoff: date
    known: inputs.KnownHashes
    hashes_read: dict[int, str] | None
    unchanged: bool
    copies: dict[int, int]
    records: list[tuple] | None
    input_hash: str
    computed: bool
    dropped: tuple[int, ...] = ()  # metrics with a row on the day but no longer planned
    seen: tuple = ()  # the day's stored rows as read: (metric id, input hash, scheduled)


def prepare_look(db, pilot_id: int, as_of: date, *, scheduled: bool, now: datetime) -> Look:
    """Read what the look needs and run the engine if the inputs are new; write nothing.

    Safe in a process of its own: it only reads, and `store_look` writes what it found.
    """
    plan = load_plan(db, pilot_id)
    cutoff = cutoff_for(plan, as_of)
    known = inputs.known_hashes(db, plan, cutoff)
    read = None if known.hashes is not None else inputs.read_inputs(db, plan, cutoff)
    existing = _existing(db, pilot_id, as_of)
    scheduled = scheduled or any(was for _, was in existing.values())
    versions = methods.library_versions()
    settings = {m.slug: methods.settings(plan, m, scheduled) for m in plan.metrics}
    hashes = _hashes_by_slug(plan, known, read)
    input_hash = _input_hash(hashes, settings, versions)
    wanted = {m.metric_id for m in plan.metrics}
    unchanged = set(existing) == wanted and all(
        stored == input_hash for stored, _ in existing.values()
    )
    records, copies = None, {}
    if not unchanged:
        copies = dict(
            db.conn.execute(
                """SELECT metric_id, max(id) FROM evaluation
                   WHERE pilot_id = ? AND input_hash = ? GROUP BY metric_id""",
                (pilot_id, input_hash),
            )
        )
        if set(copies) != wanted:
            if read is None:  # the inputs changed: the engine needs them, not their hashes
                read = inputs.read_inputs(db, plan, cutoff)
                hashes = _hashes_by_slug(plan, known, read)
                input_hash = _input_hash(hashes, settings, versions)
            results = review_several(
                [
                    methods.evaluate_metric(plan, m, read[m.metric_id], scheduled)
                    for m in plan.metrics
                ],
                alpha=methods.ALPHA,
            )
            look_wide = _look_wide(plan, as_of, scheduled, input_hash, versions, now)
            records = [
                _record(plan, m, r, hashes[m.slug], settings[m.slug], look_wide)
                for m, r in zip(plan.metrics, results, strict=True)
            ]
    found = None if read is None else {m.metric_id: hashes[m.slug] for m in plan.metrics}
    dropped = tuple(sorted(set(existing) - wanted))
    computed = records is not None
    seen = _day_rows(existing)
    return Look(
        plan,
        as_of,
        cutoff,
        known,
        found,
        unchanged,
        copies,
        records,
        input_hash,
        computed,
        dropped,
        seen,
    )


def _day_rows(existing: dict) -> tuple:
    return tuple(sorted((k, *v) for k, v in existing.items()))


def look_holds(db, look: Look, *, data_as_read: bool = False) -> bool:
    """Whether what a look was prepared from is still so: the pilot's data state, its
    approved plan, and its stored results of the day. Read inside the write transaction
    that stores the look, this makes storing a look prepared elsewhere (a worker
    process) the same as preparing it there. `data_as_read`: the caller knows that no
    observation was written since before the look was read (`inputs.observations_mark`),
    so the pilot's data state needs no reading."""
    pilot_id = look.plan.pilot_id
    if look.plan.preview:
        return False
    if not data_as_read and inputs.observation_state(db.conn, pilot_id) != look.known.state:
        return False
    plan = db.conn.execute(
        """SELECT p.approved_version, v.hash FROM pilot p
           JOIN plan_version v ON v.pilot_id = p.id AND v.number = p.approved_version
           WHERE p.id = ?""",
        (pilot_id,),
    ).fetchone()
    if plan is None or tuple(plan) != (look.plan.version, look.plan.plan_hash):
        return False
    return _day_rows(_existing(db, pilot_id, look.as_of)) == look.seen


def _existing(db, pilot_id: int, as_of: date) -> dict[int, tuple[str, int]]:
    """The pilot's stored results of the day: metric id -> (input hash, scheduled)."""
    return {
        metric_id: (input_hash, was_scheduled)
        for metric_id, input_hash, was_scheduled in db.conn.execute(
            "SELECT metric_id, input_hash, scheduled FROM evaluation"
            " WHERE pilot_id = ? AND as_of = ?",
            (pilot_id, as_of.isoformat()),
        )
    }


def store_look(db, look: Look, *, actor_id=None, actor_role=None, now: datetime) -> int:
    """Write what `prepare_look` found in one transaction; return how many rows changed."""
    if look.hashes_read is None and look.unchanged:
        return 0
    with db.atomic():  # the pilot's rows and what its reading found, or nothing
        if look.hashes_read is not None:
            inputs.remember_reading(db, look.plan, look.cutoff, look.known, look.hashes_read)
        if look.unchanged:
            return 0
        return _store(db, look, now, actor_id, actor_role)


def _hashes_by_slug(plan: FrozenPlan, known, read) -> dict[str, str]:
    """Each metric's data hash by slug: from the rows read, else as known without reading."""
    if read is not None:
        return {m.slug: read[m.metric_id].data_hash for m in plan.metrics}
    return {m.slug: known.hashes[m.metric_id] for m in plan.metrics}


def _look_wide(plan, as_of, scheduled, input_hash, versions, now) -> dict:
    """What every row of a look holds alike, made once: the same text object in each
    row is also pickled once on its way from a worker process."""
    return {
        "as_of": as_of.isoformat(),
        "scheduled": int(scheduled),
        "input_hash": input_hash,
        "versions": _stored_json(versions),
        "computed_at": _moment_text(now),
    }


def _record(plan, metric, result, data_hash, settings, look_wide) -> tuple:
    """One metric's row as stored (`_STORED`)."""
    details = dict(result.details)
    if metric.dropped_in_version is not None:
        details["dropped_in_version"] = metric.dropped_in_version
    return (
        plan.pilot_id,
        metric.metric_id,
        look_wide["as_of"],
        plan.version,
        int(plan.preview),
        look_wide["scheduled"],
        metric.dropped_in_version,
        result.role,
        result.design,
        result.method,
        _number(result.estimate),
        _number(result.ci_low),
        _number(result.ci_high),
        _number(result.p_value),
        int(result.n_pilot or 0),
        int(result.n_comparison or 0),
        _number(result.probability_improved),
        result.verdict,
        _stored_json(result.summary),
        _stored_json(details),
        _stored_json([asdict(w) for w in result.warnings]),
        data_hash,
        look_wide["input_hash"],
        _stored_json(settings),
        look_wide["versions"],
        look_wide["computed_at"],
    )


def _store(db, look: Look, now, actor_id, actor_role) -> int:
    """Write the pilot's rows (the caller holds the transaction); return how many changed."""
    conn, plan, as_of, at = db.conn, look.plan, look.as_of.isoformat(), _moment_text(now)
    # Row counts of the statements themselves (rows a trigger writes elsewhere are
    # not this pilot's results).
    if look.records is not None:
        changed = _upsert_records(conn, look.records)
    else:
        ids = json.dumps([look.copies[m.metric_id] for m in plan.metrics])
        changed = conn.execute(_COPY, {"as_of": as_of, "computed_at": at, "ids": ids}).rowcount
    if look.dropped:  # a metric no longer in the plan (a preview's draft changed)
        marks = ",".join("?" * len(look.dropped))
        changed += conn.execute(
            f"DELETE FROM evaluation WHERE pilot_id = ? AND as_of = ?"  # noqa: S608
            f" AND metric_id IN ({marks})",
            (plan.pilot_id, as_of, *look.dropped),
        ).rowcount
    if changed:
        audit.record(
            db,
            actor_id=actor_id,
            actor_role=actor_role,
            action="pilot.evaluate",
            object_type="pilot",
            object_id=plan.pilot_id,
            after={
                "as_of": as_of,
                "preview": plan.preview,
                "plan_version": plan.version,
                "input_hash": look.input_hash,
                "verdicts": _verdicts(conn, look),
            },
            at=at,
        )
    return changed


_VERDICT = _STORED.index("verdict")


def _verdicts(conn, look: Look) -> dict[str, str]:
    """Each metric's verdict as stored, by slug."""
    slugs = {m.metric_id: m.slug for m in look.plan.metrics}
    if look.records is not None:
        return {slugs[record[1]]: record[_VERDICT] for record in look.records}
    return {
        slugs[metric_id]: verdict
        for metric_id, verdict in conn.execute(
            "SELECT metric_id, verdict FROM evaluation WHERE pilot_id = ? AND as_of = ?",
            (look.plan.pilot_id, look.as_of.isoformat()),
        )
    }


# ---- reading back ---------------------------------------------------------------------


def result_json(row: dict) -> dict:
    """A stored row as the API's per-metric result (DESIGN.md "Evaluation result")."""
    out = {name: row.get(name) for name in RESULT_FIELDS}
    for name in ("summary", "details", "warnings"):
        out[name] = json.loads(row[name])
    return out


_SELECT = """SELECT e.*, m.slug AS metric FROM evaluation e JOIN metric m ON m.id = e.metric_id
             WHERE e.pilot_id = ? AND e.as_of = ?
             ORDER BY e.dropped_in_version IS NOT NULL,
                      CASE e.role WHEN 'primary' THEN 0 WHEN 'secondary' THEN 1 ELSE 2 END,
                      m.slug"""


def _look(pilot_id: int, as_of: str, rows: list[dict]) -> dict:
    first = rows[0] if rows else {}
    results = [result_json(row) for row in rows]
    preview = bool(first.get("preview"))
    concerns = [
        r["metric"]
        for r in results
        if r["role"] == "balancing" and r["details"].get("balancing_concern")
    ]
    return {
        "pilot_id": pilot_id,
        "as_of": as_of,
        "preview": preview,
        "label": PREVIEW_LABEL if preview else None,
        "scheduled": bool(first.get("scheduled")),
        "plan_version": first.get("plan_version"),
        "input_hash": first.get("input_hash"),
        "computed_at": max((row["computed_at"] for row in rows), default=None),
        "versions": json.loads(first["versions"]) if rows else {},
        "balancing_concerns": concerns,
        "results": results,
    }


def evaluation_at(db, pilot_id: int, as_of: date | str) -> dict:
    """The stored evaluation of the pilot on that as-of date (results may be empty)."""
    as_of = as_of.isoformat() if isinstance(as_of, date) else as_of
    return _look(pilot_id, as_of, list(db.query(_SELECT, [pilot_id, as_of])))


def latest_evaluation(db, pilot_id: int) -> dict | None:
    """The pilot's most recent stored evaluation, or None."""
    row = next(
        db.query("SELECT max(as_of) AS as_of FROM evaluation WHERE pilot_id = ?", [pilot_id])
    )
    return None if row["as_of"] is None else evaluation_at(db, pilot_id, row["as_of"])


def evaluation_history(db, pilot_id: int, limit: int = 100, offset: int = 0) -> list[dict]:
    """Past evaluations, newest first: per look, each metric's verdict and intervals.

    Enough to draw how an estimate and its interval moved, look by look.
    """
    looks = [
        row["as_of"]
        for row in db.query(
            """SELECT DISTINCT as_of FROM evaluation WHERE pilot_id = ?
               ORDER BY as_of DESC LIMIT ? OFFSET ?""",
            [pilot_id, limit, offset],
        )
    ]
    history = []
    for as_of in looks:
        rows = list(
            db.query(
                """SELECT e.as_of, e.preview, e.scheduled, e.plan_version, e.computed_at,
                          e.role, e.verdict, e.estimate, e.ci_low, e.ci_high, e.p_value,
                          e.probability_improved, e.dropped_in_version,
                          json_extract(e.details, '$.sequential_ci_low') AS sequential_ci_low,
                          json_extract(e.details, '$.sequential_ci_high') AS sequential_ci_high,
                          m.slug AS metric
                   FROM evaluation e JOIN metric m ON m.id = e.metric_id
                   WHERE e.pilot_id = ? AND e.as_of = ? ORDER BY m.slug""",
                [pilot_id, as_of],
            )
        )
        first = rows[0]
        history.append(
            {
                "as_of": as_of,
                "preview": bool(first["preview"]),
                "scheduled": bool(first["scheduled"]),
                "plan_version": first["plan_version"],
                "computed_at": max(row["computed_at"] for row in rows),
                "results": [
                    {
                        name: row[name]
                        for name in (
                            "metric",
                            "role",
                            "verdict",
                            "estimate",
                            "ci_low",
                            "ci_high",
                            "sequential_ci_low",
                            "sequential_ci_high",
                            "p_value",
                            "probability_improved",
                        )
                    }
                    | {"dropped": row["dropped_in_version"] is not None}
                    for row in rows
                ],
            }
        )
    return history
