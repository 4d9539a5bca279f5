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
"""

from __future__ import annotations

import calendar
import multiprocessing
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pilots.db import connect
from pilots.evaluation.inputs import data_state
from pilots.evaluation.service import Look, prepare_look, store_look

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

    def open(self) -> None:
        if self.started is None:
            self.db.conn.execute("BEGIN IMMEDIATE")
            self.started = time.monotonic()

    def commit(self, *, unless_young: bool = False) -> None:
        if self.started is None:
            return
        if unless_young and time.monotonic() - self.started < self.seconds:
            return
        self.db.conn.execute("COMMIT")
        self.started = None


# With this many due pilots or more, the looks are prepared (read, computed) in worker
# processes, one per CPU up to WORKERS_MAX, while this process stores them; fewer are
# not worth starting processes for.
PARALLEL_FROM = 64
WORKERS_MAX = 4


def evaluate_due(
    db, now: datetime, *, batch_seconds: float = BATCH_SECONDS, workers: int | None = None
) -> dict:
    """Take a scheduled look at every due pilot, as of today's UTC date.

    Each pilot is its own unit of work (a savepoint within a batch of pilots, see
    BATCH_SECONDS): one that fails is named in the raised `EvaluationsFailed` after the
    others have been stored, and stays due, so the next run (or the catch-up after a
    restart) tries it again. A run killed half-way keeps the batches it committed;
    the rerun finds their pilots evaluated and does the rest.

    `workers` processes prepare the looks (default: one per CPU, up to WORKERS_MAX,
    when PARALLEL_FROM pilots or more are due; 1 prepares them here). Only this
    process writes, and a look whose pilot got new data after its worker read it is
    prepared again here, inside the write transaction.
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
    try:
        with _prepared(db, [pilot["id"] for pilot in due], today, now, workers) as looks:
            for pilot_id, prepared in looks:
                batches.open()
                try:
                    evaluated[pilot_id] = store_prepared(db, pilot_id, prepared, today, now)
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


def store_prepared(db, pilot_id: int, prepared, today: date, now: datetime) -> int:
    """Store a look a worker prepared (or look here when it could not); rows stored."""
    if isinstance(prepared, Look) and _still_current(db, prepared):
        return store_look(db, prepared, now=now)
    # Not prepared (in this process, or the worker failed: try again here, where the
    # error, if any, is raised), or the data changed since the worker read them.
    look = prepare_look(db, pilot_id, today, scheduled=True, now=now)
    return store_look(db, look, now=now)


def _still_current(db, look: Look) -> bool:
    """Whether the pilot's data are still as the worker read them."""
    return data_state(db.conn, look.plan.pilot_id) == look.known.state


@contextmanager
def _prepared(db, pilot_ids: list[int], today: date, now: datetime, workers: int | None):
    """(pilot id, Look or None) in order: prepared by worker processes, or None (here)."""
    path = _file_of(db)
    if workers is None:
        workers = min(os.cpu_count() or 1, WORKERS_MAX) if len(pilot_ids) >= PARALLEL_FROM else 1
    if workers <= 1 or not path:
        yield ((pilot_id, None) for pilot_id in pilot_ids)
        return
    # fork: the workers start at once with everything imported. They only compute and
    # read through connections of their own, never this process's connection.
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_open_worker, initargs=(path,)) as pool:
        jobs = [(pilot_id, today, now) for pilot_id in pilot_ids]
        yield zip(pilot_ids, pool.imap(_prepare_in_worker, jobs, chunksize=4), strict=True)


def _file_of(db) -> str:
    """The database's file, or "" for one in memory."""
    return next((row[2] for row in db.conn.execute("PRAGMA database_list") if row[1] == "main"), "")


_worker_db = None


def _open_worker(path: str) -> None:
    global _worker_db
    _worker_db = connect(path)


def _prepare_in_worker(job) -> Look | None:
    """A look prepared in a worker process; None when it failed (redone by the writer)."""
    pilot_id, today, now = job
    try:
        _worker_db.conn.execute("BEGIN")  # one snapshot for the whole look
        try:
            return prepare_look(_worker_db, pilot_id, today, scheduled=True, now=now)
        finally:
            _worker_db.conn.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - the writer prepares it again and reports the error
        return None
