"""The scheduler: one process per database, missed runs caught up exactly once, UTC
schedules that daylight-saving changes cannot skip or double, verified backups, and
web workers that never run jobs."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from evaluation_data import NAV, pilot_id

from pilots import backup, scheduler
from pilots.db import connect
from pilots.domain import deadlines
from pilots.domain import pilots as pilot_domain
from pilots.evaluation import due_pilots

ROOT = Path(__file__).resolve().parent.parent
MINE = ("approve_due", "evaluate_due", "check_deadlines", "backup")
OSLO = ZoneInfo("Europe/Oslo")


def _jobs(*names):
    return [scheduler.JOBS_BY_NAME[name] for name in names or MINE]


@pytest.fixture
def ctx(db_path, tmp_path):
    return scheduler.Context(database=str(db_path), backup_dir=str(tmp_path / "backups"))


def _runs(db, job=None):
    where, params = ("WHERE job = ?", [job]) if job else ("", [])
    return list(db.query(f"SELECT * FROM job_run {where} ORDER BY id", params))  # noqa: S608


# ---- two real processes ----------------------------------------------------------------


def _flask(db_path, tmp_path, *args, settings=None):
    env = {
        **os.environ,
        "PILOTS_DATABASE": str(db_path),
        "PILOTS_MODE": "development",
        "PILOTS_BACKUP_DIR": str(tmp_path / "backups"),
        **(settings or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "pilots", "scheduler", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(process, text, timeout=30.0):
    """Read the process's output until a line holds `text`.

    Reads the pipe's file descriptor itself: a buffered `readline` may take several
    lines at once, after which `select` would wait for output that has already come.
    """
    fd = process.stdout.fileno()
    seen, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536).decode()
            seen += chunk
            if text in seen:
                return seen
            if not chunk:
                break
        elif process.poll() is not None:
            break
    raise AssertionError(f"never saw {text!r}: {seen}")


def test_two_scheduler_processes_make_one_evaluation_per_due_pilot(db, db_path, tmp_path):
    today = datetime.now(UTC).date()
    due = {p["id"] for p in due_pilots(db, today)}
    assert due, "the demo has running pilots"
    first = _flask(db_path, tmp_path)
    try:
        _read_until(first, "Caught up.")
        second = _flask(db_path, tmp_path, "--once")
        output, _ = second.communicate(timeout=30)
        assert second.returncode != 0
        assert "Another scheduler is already running" in output
        assert "only one may run per database" in output
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0
    looks = list(
        db.query(
            """SELECT pilot_id, count(DISTINCT as_of) AS looks, count(*) AS rows
               FROM evaluation WHERE scheduled = 1 GROUP BY pilot_id"""
        )
    )
    assert {look["pilot_id"] for look in looks} == due
    assert {look["looks"] for look in looks} == {1}
    per_metric = db.query(
        "SELECT count(*) AS n FROM evaluation GROUP BY pilot_id, metric_id, as_of HAVING n > 1"
    )
    assert list(per_metric) == []
    assert [r["status"] for r in _runs(db, "evaluate_due")] == ["ok"]
    # A third one, after the first has stopped, takes the lock and finds nothing to redo.
    third = _flask(db_path, tmp_path, "--once")
    output, _ = third.communicate(timeout=30)
    assert third.returncode == 0, output
    assert len(_runs(db, "evaluate_due")) == 1


def test_the_scheduler_mails_the_digests_when_smtp_is_configured(
    db, db_path, tmp_path, smtp_server
):
    settings = {
        "PILOTS_SMTP_HOST": "127.0.0.1",
        "PILOTS_SMTP_PORT": str(smtp_server.server_address[1]),
        "PILOTS_SMTP_FROM": "pilots@fjordvik.example",
        "PILOTS_BASE_URL": "https://pilots.fjordvik.example",
    }
    monday = "2026-11-30T05:30:00Z"  # daily and weekly digests are both due
    process = _flask(db_path, tmp_path, "--once", "--now", monday, settings=settings)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    (run,) = _runs(db, "send_digests")
    assert run["status"] == "ok", run
    assert smtp_server.messages, output
    assert db["outbox"].count == 0
    assert "https://pilots.fjordvik.example/portfolio" in smtp_server.messages[0]


def test_the_lock_is_per_database_and_freed_with_the_process(tmp_path):
    database = str(tmp_path / "a.sqlite3")
    held = scheduler.acquire_lock(database)
    with pytest.raises(scheduler.SchedulerLocked, match="already running"):
        scheduler.acquire_lock(database)
    other = scheduler.acquire_lock(str(tmp_path / "b.sqlite3"))
    other.close()
    held.close()
    scheduler.acquire_lock(database).close()


# ---- catch-up with a fixed clock ------------------------------------------------------------


def test_missed_runs_are_caught_up_once_not_zero_not_many(ctx, db):
    monday = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    first = scheduler.run_due(ctx, monday, _jobs())
    assert sorted(r["job"] for r in first) == sorted(MINE)
    assert {r["status"] for r in first} == {"ok"}
    assert scheduler.run_due(ctx, monday, _jobs()) == []  # nothing is due twice
    # Down from Monday 10:00 to Thursday 10:00: three evaluate_due fire times missed.
    thursday = monday + timedelta(days=3)
    assert (
        len(scheduler.fire_times(scheduler.JOBS_BY_NAME["evaluate_due"].trigger, monday, thursday))
        == 3
    )
    caught = scheduler.run_due(ctx, thursday, _jobs())
    assert sorted(r["job"] for r in caught) == sorted(MINE)  # each exactly once
    by_job = {r["job"]: r for r in caught}
    assert by_job["evaluate_due"]["scheduled_for"] == "2026-11-05T02:30:00Z"
    assert by_job["approve_due"]["scheduled_for"] == "2026-11-05T09:05:00Z"
    assert all(r["catch_up"] == 1 and r["status"] == "ok" for r in caught)
    assert scheduler.run_due(ctx, thursday + timedelta(minutes=4), _jobs()) == []
    assert len(_runs(db, "evaluate_due")) == 2
    looks = {
        row["as_of"] for row in db.query("SELECT DISTINCT as_of FROM evaluation WHERE scheduled")
    }
    assert "2026-11-02" in looks and looks <= {"2026-11-02", "2026-11-05"}


def test_a_trigger_firing_for_a_run_already_caught_up_does_nothing(ctx, db, monkeypatch):
    now = datetime.now(UTC)
    scheduler.run_due(ctx, now, _jobs("check_deadlines"))
    assert scheduler.fire(ctx, "check_deadlines") is None
    assert len(_runs(db, "check_deadlines")) == 1


def test_a_failing_job_is_logged_and_tried_again(ctx, db):
    def broken(ctx, db, now):
        raise ValueError("the disk is full")

    job = scheduler.Job("broken", scheduler.JOBS_BY_NAME["backup"].trigger, broken, "test")
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    [run] = scheduler.run_due(ctx, now, [job])
    assert run["status"] == "failed" and run["message"] == "ValueError: the disk is full"
    assert run["finished_at"] is not None
    assert len(scheduler.run_due(ctx, now, [job])) == 1  # still missed: tried again
    assert len(_runs(db, "broken")) == 2


def test_runs_left_running_by_a_dead_scheduler_are_closed(ctx, db):
    with db.atomic():
        db.execute(
            """INSERT INTO job_run (job, scheduled_for, started_at, status)
               VALUES ('backup', '2026-11-26T01:00:00Z', '2026-11-26T01:00:01Z', 'running')"""
        )
    assert scheduler.close_interrupted(ctx, datetime(2026, 11, 26, 9, tzinfo=UTC)) == 1
    [run] = _runs(db, "backup")
    assert run["status"] == "failed" and "interrupted" in run["message"]


# ---- daylight saving ---------------------------------------------------------------------


@pytest.mark.parametrize("weekend", ["2026-03-27", "2026-10-23"])
def test_dst_weekends_neither_skip_nor_double_a_run(ctx, db, weekend):
    """Europe/Oslo changes clocks on 2026-03-29 and 2026-10-25; the schedule is UTC."""
    start = datetime.fromisoformat(weekend).replace(tzinfo=UTC)
    hours = 4 * 24
    for step in range(hours + 1):
        scheduler.run_due(ctx, start + timedelta(hours=step), _jobs("approve_due", "evaluate_due"))
    evaluations = _runs(db, "evaluate_due")
    # The first step catches up the run of the day before; then one run per UTC day.
    days = [r["scheduled_for"][:10] for r in evaluations]
    assert len(days) == len(set(days)) == 5
    moments = [
        datetime.fromisoformat(r["scheduled_for"].replace("Z", "+00:00")) for r in evaluations
    ]
    assert {b - a for a, b in zip(moments, moments[1:], strict=False)} == {timedelta(days=1)}
    local = {m.astimezone(OSLO).strftime("%H:%M") for m in moments}
    assert local == {"03:30", "04:30"}  # Oslo local time moves; the run does not
    hourly = [r["scheduled_for"] for r in _runs(db, "approve_due")]
    assert len(hourly) == len(set(hourly)) == hours + 1
    trigger = scheduler.JOBS_BY_NAME["evaluate_due"].trigger
    fires = scheduler.fire_times(trigger, start, start + timedelta(days=4))
    assert [b - a for a, b in zip(fires, fires[1:], strict=False)] == [timedelta(days=1)] * 3
    looks = {r["as_of"] for r in db.query("SELECT DISTINCT as_of FROM evaluation WHERE scheduled")}
    assert looks and looks <= set(days)


def test_the_triggers_are_utc_cron_triggers():
    for job in scheduler.JOBS:
        assert isinstance(job.trigger, CronTrigger) and str(job.trigger.timezone) == "UTC"


# ---- backup ---------------------------------------------------------------------------------


def test_backup_is_verified_by_restoring_and_keeps_the_newest(db, db_path, tmp_path):
    folder = tmp_path / "backups"
    made = [
        backup.backup(str(db_path), str(folder), datetime(2026, 11, day, 1, tzinfo=UTC), keep=2)
        for day in (24, 25, 26)
    ]
    assert sorted(p.name for p in folder.iterdir()) == [
        "pilots-20261125T010000Z.sqlite3",
        "pilots-20261126T010000Z.sqlite3",
    ]
    assert made[-1]["removed"] == ["pilots-20261124T010000Z.sqlite3"]
    restored = sqlite3.connect(made[-1]["path"])
    assert restored.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    tables = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    ]
    for table in tables:
        original = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
        copy = restored.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
        assert copy == original, table
    assert restored.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    restored.close()


def test_a_copy_that_does_not_verify_is_refused(tmp_path):
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises((backup.BackupFailed, sqlite3.DatabaseError)):
        backup.verify(broken)


def test_the_backup_command(runner, tmp_path):
    result = runner.invoke(args=["backup", str(tmp_path) + os.sep])
    assert result.exit_code == 0, result.output
    assert "verified (integrity_check ok)" in result.output
    [copy] = list(tmp_path.glob("pilots-*.sqlite3"))
    assert backup.verify(copy)["pilot"] >= 1


def test_the_backup_command_keeps_an_existing_file_and_never_writes_over_the_database(
    runner, db_path, tmp_path
):
    kept = tmp_path / "notes.txt"
    kept.write_text("mine")
    refused = runner.invoke(args=["backup", str(kept)])
    assert refused.exit_code == 1 and "exists; add --force" in refused.output
    assert kept.read_text() == "mine"
    replaced = runner.invoke(args=["backup", str(kept), "--force"])
    assert replaced.exit_code == 0, replaced.output
    assert backup.verify(kept)["pilot"] >= 1
    before = db_path.read_bytes()
    itself = runner.invoke(args=["backup", str(db_path), "--force"])
    assert itself.exit_code == 1 and "is the database itself" in itself.output
    assert db_path.read_bytes() == before


def test_backup_while_another_connection_writes(db_path, tmp_path):
    writer = connect(str(db_path))
    stop = threading.Event()

    def write():
        while not stop.is_set():
            with writer.atomic():
                writer.execute("UPDATE pilot SET updated_at = updated_at")

    thread = threading.Thread(target=write)
    thread.start()
    try:
        made = backup.backup_to(str(db_path), tmp_path / "live.sqlite3")
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert made["tables"]["pilot"] >= 1


# ---- deadlines, and web workers -----------------------------------------------------------------


def test_deadlines_become_notices_and_close_when_resolved(db):
    now = datetime(2026, 11, 26, 4, tzinfo=UTC)
    counts = deadlines.check_deadlines(db, now)
    assert counts["pilot_overdue"] >= 1 and counts["approval_pending"] >= 1
    nav = pilot_id(db, NAV)  # ended 31.10.2026, no decision
    open_ = {(n["kind"], n["object_id"]) for n in deadlines.open_notices(db)}
    assert ("pilot_overdue", nav) in open_
    kari = next(db.query("SELECT id FROM users WHERE email = 'kari@fjordvik.example'"))["id"]
    pilot_domain.conclude(db, nav, kari, "adapt", "Kontaktpersonen hjalp.", "")
    deadlines.check_deadlines(db, now + timedelta(days=1))
    notice = next(
        db.query("SELECT * FROM notice WHERE kind = 'pilot_overdue' AND object_id = ?", [nav])
    )
    assert notice["resolved_at"] == "2026-11-27T04:00:00Z"
    assert ("pilot_overdue", nav) not in {
        (n["kind"], n["object_id"]) for n in deadlines.open_notices(db)
    }


def test_the_web_app_never_starts_the_scheduler(app, client, db_path):
    threads = {t.name for t in threading.enumerate()}
    client.get("/login")
    assert not Path(scheduler.lock_path(str(db_path))).exists()
    assert {t.name for t in threading.enumerate()} - threads == set()
