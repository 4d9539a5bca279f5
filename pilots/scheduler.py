"""The scheduler: one process per database that runs the app's jobs on UTC schedules.

`flask --app pilots scheduler` takes an exclusive lock on `<database>.scheduler.lock`
(fcntl.flock, released by the kernel when the process dies), so a second scheduler
on the same database exits at once with a message. Web workers never run jobs:
nothing in `create_app` imports this module.

Jobs are plain functions of (db, now) (`approve_due`, `evaluate_due`,
`check_deadlines`, and `send_digests` with the mail settings) or of the database file
(`backup`); this module only wires them
to APScheduler 3 cron triggers in UTC, so daylight-saving changes in Europe/Oslo
neither skip nor double a run. Every attempt is a `job_run` row (running, then ok or
failed with the exception's message).

Catch-up: APScheduler's memory job store forgets everything when the process stops,
so the job_run log is the memory. At start, and again each time a trigger fires,
a job runs only if a fire time of its trigger lies after its last successful run
and not after now; it then runs once for the latest such fire time. After downtime
each missed job therefore runs exactly once (coalesced), not zero times and not once
per missed day; a trigger firing for a run the catch-up already did does nothing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from pilots.backup import backup
from pilots.db import connect, from_utc_text, to_utc_text
from pilots.domain.deadlines import check_deadlines
from pilots.domain.notifications import send_digests
from pilots.domain.pilots import approve_due
from pilots.evaluation.cadence import evaluate_due

log = logging.getLogger("pilots.scheduler")

LOCK_SUFFIX = ".scheduler.lock"
# A fire time missed while the process was busy or suspended still runs within a day;
# longer gaps are the catch-up's business.
MISFIRE_GRACE_SECONDS = 24 * 3600
# How far back the catch-up looks for a job that never succeeded.
LOOKBACK = timedelta(days=32)
MESSAGE_LIMIT = 2000


@dataclass(frozen=True)
class Context:
    """What jobs need besides the clock: the database file, the backup settings, and the
    digests' mail settings (`pilots.cli.MAIL_SETTINGS`: SMTP_* and BASE_URL; None or
    no SMTP_HOST sends the digests to the outbox)."""

    database: str
    backup_dir: str
    backup_keep: int = 14
    mail: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Job:
    name: str
    trigger: CronTrigger
    run: Callable[[Context, Any, datetime], Any]
    description: str


def _backup(ctx: Context, now: datetime) -> dict:
    made = backup(ctx.database, ctx.backup_dir, now, ctx.backup_keep)
    return {**made, "tables": len(made["tables"])}


JOBS = (
    # In catch-up order: approvals first, so newly approved pilots are evaluated, and
    # the backup last, so it holds the new results.
    Job(
        "approve_due",
        CronTrigger(minute=5, timezone=UTC),
        lambda ctx, db, now: {"approved": approve_due(db, now)},
        "hourly at :05 UTC: approve pilots whose trust-by-default countdown ran out",
    ),
    Job(
        "evaluate_due",
        CronTrigger(hour=2, minute=30, timezone=UTC),
        lambda ctx, db, now: evaluate_due(db, now),
        "daily 02:30 UTC: scheduled looks at the pilots due by their cadence",
    ),
    Job(
        "check_deadlines",
        CronTrigger(hour=4, minute=0, timezone=UTC),
        lambda ctx, db, now: check_deadlines(db, now),
        "daily 04:00 UTC: approvals pending, pilots past their end, ideas unanswered",
    ),
    Job(
        "backup",
        CronTrigger(hour=1, minute=0, timezone=UTC),
        lambda ctx, db, now: _backup(ctx, now),
        "daily 01:00 UTC: verified online backup, keeping the newest copies",
    ),
    # Digests last: they report the looks and deadlines found above.
    Job(
        "send_digests",
        CronTrigger(hour=5, minute=0, timezone=UTC),
        lambda ctx, db, now: send_digests(db, now, ctx.mail),
        "daily 05:00 UTC: the leaders' daily digests, and on Mondays the weekly ones",
    ),
)
JOBS_BY_NAME = {job.name: job for job in JOBS}


class SchedulerLocked(RuntimeError):
    """Another scheduler holds this database's lock."""


def lock_path(database: str) -> str:
    return f"{database}{LOCK_SUFFIX}"


def acquire_lock(database: str):
    """Hold the database's scheduler lock for the life of the process; else raise."""
    path = lock_path(database)
    handle = open(path, "a+")  # noqa: SIM115 - held open on purpose
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise SchedulerLocked(
            f"Another scheduler is already running for {database} (lock {path} held by"
            f" {holder}); only one may run per database. Exiting."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


# ---- when a job is due ---------------------------------------------------------------


def fire_times(trigger: CronTrigger, after: datetime, until: datetime) -> list[datetime]:
    """The trigger's fire times t with after < t <= until, in UTC."""
    times = []
    moment = trigger.get_next_fire_time(None, after + timedelta(seconds=1))
    while moment is not None and moment <= until:
        times.append(moment.astimezone(UTC))
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return times


def last_success(db, job: str) -> datetime | None:
    row = next(
        db.query(
            "SELECT max(scheduled_for) AS at FROM job_run WHERE job = ? AND status = 'ok'", [job]
        )
    )
    return from_utc_text(row["at"]) if row["at"] else None


def missed_fire(db, job: Job, now: datetime) -> datetime | None:
    """The latest fire time after the job's last success and not after now, if any."""
    last = last_success(db, job.name)
    times = fire_times(job.trigger, last or (now - LOOKBACK), now)
    return times[-1] if times else None


def due_runs(db, now: datetime, jobs: Iterable[Job] = JOBS) -> list[tuple[Job, datetime]]:
    """Each job that has a run to make now, with the fire time it makes up for."""
    runs = []
    for job in jobs:
        fire = missed_fire(db, job, now)
        if fire is not None:
            runs.append((job, fire))
    return runs


# ---- running a job --------------------------------------------------------------------


def _message(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text[:MESSAGE_LIMIT]


def run_job(
    ctx: Context, job: Job, scheduled_for: datetime, now: datetime, catch_up: bool = False
) -> dict:
    """Run one job, logged as a job_run row; never raises (a failure is logged)."""
    db = connect(ctx.database)
    try:
        with db.atomic():
            run_id = db.conn.execute(
                """INSERT INTO job_run (job, scheduled_for, started_at, status, catch_up)
                   VALUES (?, ?, ?, 'running', ?)""",
                (job.name, to_utc_text(scheduled_for), to_utc_text(now), int(catch_up)),
            ).lastrowid
        try:
            outcome = job.run(ctx, db, now)
            status, message = "ok", _message(outcome)
        except Exception as error:
            log.exception("job %s failed", job.name)
            if db.conn.in_transaction:
                db.conn.rollback()
            status, message = "failed", _message(f"{type(error).__name__}: {error}")
        finished = max(datetime.now(UTC), now)
        with db.atomic():
            db.execute(
                "UPDATE job_run SET status = ?, message = ?, finished_at = ? WHERE id = ?",
                [status, message, to_utc_text(finished), run_id],
            )
        return next(db.query("SELECT * FROM job_run WHERE id = ?", [run_id]))
    finally:
        db.close()


def close_interrupted(ctx: Context, now: datetime) -> int:
    """Mark runs left 'running' by a scheduler that died as failed (we hold the lock)."""
    db = connect(ctx.database)
    try:
        with db.atomic():
            return db.conn.execute(
                """UPDATE job_run SET status = 'failed', finished_at = ?,
                   message = 'interrupted: the scheduler stopped during the run'
                   WHERE status = 'running'""",
                (to_utc_text(now),),
            ).rowcount
    finally:
        db.close()


def run_due(ctx: Context, now: datetime, jobs: Iterable[Job] = JOBS) -> list[dict]:
    """Run every job that has a missed or due run, once each; return the job_run rows."""
    db = connect(ctx.database)
    try:
        runs = due_runs(db, now, jobs)
    finally:
        db.close()
    return [run_job(ctx, job, fire, now, catch_up=True) for job, fire in runs]


def fire(ctx: Context, name: str) -> dict | None:
    """What a trigger calls: run the job if its latest fire time has not succeeded yet."""
    job = JOBS_BY_NAME[name]
    now = datetime.now(UTC)
    db = connect(ctx.database)
    try:
        moment = missed_fire(db, job, now)
    finally:
        db.close()
    return None if moment is None else run_job(ctx, job, moment, now)


# ---- the process ------------------------------------------------------------------------


def _stop(signum, _frame):
    raise SystemExit(0)


def serve(
    ctx: Context,
    *,
    once: bool = False,
    now: datetime | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Hold the lock, catch up on missed runs, then run the triggers (or exit if `once`)."""
    lock = acquire_lock(ctx.database)
    try:
        start = now or datetime.now(UTC)
        echo(f"Scheduler holds {lock_path(ctx.database)} (pid {os.getpid()}).")
        interrupted = close_interrupted(ctx, start)
        if interrupted:
            echo(f"Marked {interrupted} interrupted run(s) as failed.")
        for run in run_due(ctx, start):
            echo(
                f"Caught up {run['job']} (due {run['scheduled_for']}): {run['status']}"
                f" {run['message'][:200]}"
            )
        echo("Caught up.")
        if once:
            return
        scheduler = BlockingScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": MISFIRE_GRACE_SECONDS,
                "max_instances": 1,
            },
        )
        for job in JOBS:
            scheduler.add_job(fire, job.trigger, args=[ctx, job.name], id=job.name, name=job.name)
            echo(f"  {job.name}: {job.description}")
        signal.signal(signal.SIGTERM, _stop)
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            echo("Scheduler stopping.")
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=True)
    finally:
        lock.close()
