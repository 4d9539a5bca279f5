"""Which pilots are due for a scheduled look, and the job that looks at them.

A pilot that is approved or running, has started, and has an approved plan is due
when it has had no scheduled look yet, or when its cadence has passed since the last
one: `weekly` 7 days, `monthly` one calendar month (31 January -> 28/29 February).
Dates are UTC dates, so daylight-saving changes cannot move a look.

Custom cadences (`cadence_rule`, free text) are read for an interval in days, weeks or
months, in English or Norwegian: "every 2 weeks", "hver 3. uke", "every second week",
"annenhver uke", "every second Monday", "hver mandag", "every 10 days", "hver 2. måned",
"daily", "weekly", "monthly", "quarterly", "kvartalsvis". The weekday in a rule ("every
second Monday") sets the interval only (2 weeks): looks run on the scheduler's daily
evaluation, counted from the last scheduled look. A rule that names no
interval falls back to monthly, and the job's message says so.

`evaluate_due` is the job: with many pilots due, worker processes prepare the looks
(`pilots.evaluation.workers`) while it stores them, batch by batch.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pilots.evaluation.inputs import observations_mark
from pilots.evaluation.service import Look, look_holds, prepare_look, store_look
from pilots.evaluation.workers import prepared_looks, worker_count

DUE_STATUSES = ("approved", "running")
_NUMBER = r"(\d+)\.?"
_UNITS = (
    ("days", r"(?:days?|dag(?:er)?|døgn|dogn)"),
    ("weeks", r"(?:weeks?|uker?|veke|veker)"),
    ("months", r"(?:months?|måned(?:er)?|maaned(?:er)?|mnd|månad(?:er)?)"),
)
_DAYS = (
    "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    "|mandag|tirsdag|onsdag|torsdag|fredag|lørdag|søndag"
)
_WORDS = (
    (r"\b(?:daily|every day|hver dag|dagleg|daglig)\b", (1, "days")),
    (
        rf"\b(?:every (?:second|other)|annenhver|hver andre) (?:week|uke|{_DAYS})\b",
        (2, "weeks"),
    ),
    (r"\bfortnightly\b", (2, "weeks")),
    (r"\b(?:every (?:second|other) month|annenhver måned|hver andre måned)\b", (2, "months")),
    (r"\b(?:quarterly|kvartalsvis|hvert kvartal|every quarter)\b", (3, "months")),
    (rf"\b(?:weekly|ukentlig|(?:every|hver|kvar) (?:week|uke|veke|{_DAYS}))\b", (1, "weeks")),
    (r"\b(?:monthly|every month|hver måned|månedlig|kvar månad)\b", (1, "months")),
)


@dataclass(frozen=True)
class Interval:
    count: int
    unit: str  # days | weeks | months

    def after(self, day: date) -> date:
        if self.unit == "days":
            return day + timedelta(days=self.count)
        if self.unit == "weeks":
            return day + timedelta(weeks=self.count)
        return add_months(day, self.count)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def custom_interval(rule: str) -> Interval | None:
    """The interval a custom cadence rule names, or None when it names none."""
    text = " ".join((rule or "").lower().split())
    for unit, pattern in _UNITS:
        found = re.search(_NUMBER + r"\s*" + pattern, text)
        if found and int(found.group(1)) > 0:
            return Interval(int(found.group(1)), unit)
    for pattern, (count, unit) in _WORDS:
        if re.search(pattern, text):
            return Interval(count, unit)
    return None


def interval_for(cadence: str, rule: str = "") -> tuple[Interval, str | None]:
    """The pilot's interval between looks, and a note when a custom rule was not read."""
    if cadence == "weekly":
        return Interval(1, "weeks"), None
    if cadence == "custom":
        found = custom_interval(rule)
        if found is not None:
            return found, None
        return Interval(1, "months"), f"custom cadence {rule!r} names no interval: monthly"
    return Interval(1, "months"), None


def next_look(last: date | None, cadence: str, rule: str = "") -> date | None:
    """The first day the next scheduled look is due; None when none was taken (due now)."""
    if last is None:
        return None
    return interval_for(cadence, rule)[0].after(last)


def due_pilots(db, today: date) -> list[dict]:
    """Pilots due for a scheduled look today, each with `note` (custom rule not read)."""
    due = []
    for row in db.query(
        """SELECT p.id, p.cadence, p.cadence_rule,
                  (SELECT max(e.as_of) FROM evaluation e
                   WHERE e.pilot_id = p.id AND e.scheduled = 1) AS last_look
           FROM pilot p
           WHERE p.status IN ('approved', 'running') AND p.approved_version IS NOT NULL
             AND p.design IS NOT NULL AND p.start_date IS NOT NULL AND p.start_date <= ?
           ORDER BY p.id""",
        [today.isoformat()],
    ):
        last = date.fromisoformat(row["last_look"]) if row["last_look"] else None
        interval, note = interval_for(row["cadence"], row["cadence_rule"])
        if last is None or interval.after(last) <= today:
            due.append({"id": row["id"], "last_look": last, "note": note})
    return due


class EvaluationsFailed(RuntimeError):
    """Some due pilots could not be evaluated; the others were stored."""


# Pilots evaluated in one write transaction at most this long (each in a savepoint of
# its own), so a thousand small commits do not cost more than the work, while a web
# request that writes waits at most about this long for the lock.
BATCH_SECONDS = 0.25


class _Batches:
    """Write transactions that each hold the looks of up to BATCH_SECONDS of pilots."""

    def __init__(self, db, seconds: float):
        self.db, self.seconds, self.started = db, seconds, None

    def open(self) -> bool:
        """Begin a batch unless one is open; True when one began."""
        if self.started is not None:
            return False
        self.db.conn.execute("BEGIN IMMEDIATE")
        self.started = time.monotonic()
        return True

    def time_left(self) -> float:
        """How long the open batch may still hold the write lock (0 with none open)."""
        if self.started is None:
            return 0.0
        return max(0.0, self.seconds - (time.monotonic() - self.started))

    def commit(self, *, unless_young: bool = False) -> None:
        if self.started is None:
            return
        if unless_young and time.monotonic() - self.started < self.seconds:
            return
        self.db.conn.execute("COMMIT")
        self.started = None


def evaluate_due(
    db, now: datetime, *, batch_seconds: float = BATCH_SECONDS, workers: int | None = None
) -> dict:
    """Take a scheduled look at every due pilot, as of today's UTC date.

    Each pilot is its own unit of work (a savepoint within a batch of pilots, see
    BATCH_SECONDS): one that fails is named in the raised `EvaluationsFailed` after the
    others have been stored, and stays due, so the next run (or the catch-up after a
    restart) tries it again. A run killed half-way keeps the batches it committed;
    the rerun finds their pilots evaluated and does the rest.

    `workers` processes prepare the looks (`workers.worker_count`: one per CPU, up to
    WORKERS_MAX, when PARALLEL_FROM pilots or more are due; 1 prepares them here).
    Only this process writes. A look that no longer holds when it is stored (its
    pilot's data, plan or stored results of the day changed since the worker read
    them, see `look_holds`) is prepared again here, inside the write transaction; so
    is one a worker could not prepare. A look that is not ready is waited for within the
    batch's time; past it, the write transaction is committed first, so a web request
    waits on the lock no longer than BATCH_SECONDS, workers or not.
    """
    today = now.astimezone(UTC).date()
    evaluated: dict[int, int] = {}
    failed: dict[int, str] = {}
    notes: set[str] = set()
    batches = _Batches(db, batch_seconds)
    due = due_pilots(db, today)
    for pilot in due:
        if pilot["note"]:
            notes.add(f"pilot {pilot['id']}: {pilot['note']}")
    pilot_ids = [pilot["id"] for pilot in due]
    prepared_by_workers = 0
    # Taken before any look is read: while it holds, every look read since saw the data
    # as they are, and storing it need not read its pilot's data state again.
    mark, data_as_read = observations_mark(db.conn), False
    try:
        count = worker_count(len(pilot_ids), workers)
        with prepared_looks(db, pilot_ids, today, now, count) as looks:
            for pilot_id, pending in looks:
                if not pending.ready(within=batches.time_left()):
                    batches.commit()
                prepared = pending.look()
                if batches.open():
                    data_as_read = observations_mark(db.conn) == mark
                try:
                    evaluated[pilot_id], by_worker = store_prepared(
                        db, pilot_id, prepared, today, now, data_as_read=data_as_read
                    )
                    prepared_by_workers += by_worker
                except Exception as error:  # one pilot's bad data must not stop the others
                    failed[pilot_id] = f"{type(error).__name__}: {error}"[:200]
                    continue
                batches.commit(unless_young=True)
    finally:
        batches.commit()
    stored = sum(evaluated.values())
    summary = {
        "as_of": today.isoformat(),
        "evaluated": list(evaluated),
        "rows_stored": stored,
        "failed": failed,
        "notes": sorted(notes),
        "prepared_by_workers": prepared_by_workers,
    }
    if failed:
        raise EvaluationsFailed(_failures(failed, len(failed) + len(evaluated)))
    return summary


FAILURES_NAMED = 10


def _failures(failed: dict[int, str], due: int) -> str:
    """The job's message: how many failed, the first FAILURES_NAMED with their errors."""
    named = "; ".join(f"pilot {k}: {v}" for k, v in list(failed.items())[:FAILURES_NAMED])
    more = len(failed) - FAILURES_NAMED
    return f"{len(failed)} of {due} due pilots failed: {named}" + (
        f"; and {more} more" if more > 0 else ""
    )


def store_prepared(
    db,
    pilot_id: int,
    prepared: Look | None,
    today: date,
    now: datetime,
    *,
    data_as_read: bool = False,
) -> tuple[int, bool]:
    """Store a look a worker prepared, or prepare it here when there is none or it no
    longer holds (the error, if any, is then raised here). Returns the rows stored,
    and whether they were the worker's look. `data_as_read`: see `look_holds`."""
    if prepared is not None and look_holds(db, prepared, data_as_read=data_as_read):
        return store_look(db, prepared, now=now), True
    look = prepare_look(db, pilot_id, today, scheduled=True, now=now)
    return store_look(db, look, now=now), False
