"""Command-line tools: `flask --app pilots <command>`, for provisioning and operations.

Each command is documented in docs/cli.md (a test checks that every command is).
"""

from __future__ import annotations

import os
import sqlite3
import sys
from datetime import UTC, date, datetime

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from pilots import demo, migrations
from pilots.db import connect
from pilots.domain import DomainError, NotFound, accounts, audit, pilots, tokens
from pilots.domain import organisation as org


def _db():
    return connect(current_app.config["DATABASE"])


def _fail(error: Exception):
    raise click.ClickException(str(error))


@click.command("migrate")
@with_appcontext
def migrate_command():
    """Apply pending database migrations (safe to run again)."""
    db = _db()
    applied = migrations.apply(db)
    click.echo(
        f"Applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    )
    click.echo(f"Database: {current_app.config['DATABASE']}")


@click.command("demo")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Do nothing (but print the logins) if data exists.")
def demo_command(if_empty):
    """Fill an empty database with the demo municipality and print the demo logins."""
    db = _db()
    migrations.apply(db)
    if not demo.is_empty(db):
        if not if_empty:
            raise click.ClickException(
                "The database is not empty; demo data goes only into an empty one."
            )
        click.echo("The database already has data; demo data not loaded.")
        logins = demo.logins()
    else:
        logins = demo.load(db)
        _last_looks_of_closed_pilots(db)
        click.echo("Loaded the demo municipality Fjordvik kommune.")
    click.echo("Demo logins (all with the same password):")
    for login in logins:
        click.echo(f"  {login['role']:<13} {login['email']:<26} {login['password']}")


def _last_looks_of_closed_pilots(db) -> None:
    """The demo's concluded and stopped pilots get the look the app takes as a team
    closes a pilot (the scheduler looks only at running ones)."""
    from pilots.evaluation import last_look

    for row in db.query("SELECT id FROM pilot WHERE status IN ('concluded', 'stopped')"):
        last_look(db, row["id"])


@click.command("create-unit")
@with_appcontext
@click.argument("name")
@click.option("--slug", required=True, help="Short name used in URLs and scripts (a-z, 0-9, -).")
@click.option("--parent", help="Slug of the parent unit; omit for a new municipality.")
def create_unit_command(name, slug, parent):
    """Add a unit (municipality > sector > service > team)."""
    try:
        unit = org.create_unit(_db(), name, slug, parent)
    except DomainError as error:
        _fail(error)
    click.echo(f"Created {unit['kind']} {unit['name']} ({unit['slug']})")


def _password_from_stdin_or_generated() -> tuple[str, bool]:
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if password:
            return password, False
    return accounts.generate_password(), True


def _create_person(email, name, roles):
    db = _db()
    password, generated = _password_from_stdin_or_generated()
    try:
        parsed = [org.parse_role(role) for role in roles]
        user = org.create_user(db, email, name, accounts.hash_password(password), roles=parsed)
    except DomainError as error:
        _fail(error)
    click.echo(f"Created {user['name']} <{user['email']}>")
    if generated:
        click.echo(f"Password (shown once): {password}")


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--name", required=True, help="The person's full name.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    help="frontline:TEAM_SLUG, leader:UNIT_SLUG, analyst, case_handler or admin; repeatable.",
)
def create_user_command(email, name, roles):
    """Add a person. The password is read from stdin, or generated and printed once."""
    _create_person(email, name, roles)


@click.command("create-admin")
@with_appcontext
@click.argument("email")
@click.option("--name", default="Administrator", show_default=True, help="The admin's name.")
def create_admin_command(email, name):
    """Add an administrator. Password from stdin, or generated and printed once."""
    _create_person(email, name, ["admin"])


@click.command("create-token")
@with_appcontext
@click.argument("email")
@click.option("--name", default="CLI", show_default=True, help="A name to recognise the token by.")
def create_token_command(email, name):
    """Print a new personal API token for EMAIL (shown once; stored hashed)."""
    db = _db()
    user = org.user_by_email(db, email)
    if user is None or not user["active"]:
        raise click.ClickException(f"No active user with e-mail {email}.")
    try:
        token, _row = tokens.create_token(db, user["id"], name)
    except DomainError as error:
        _fail(error)
    click.echo(token)


@click.command("approve-due")
@with_appcontext
def approve_due_command():
    """Approve submitted pilots whose trust-by-default countdown has run out."""
    approved = pilots.approve_due(_db(), datetime.now(UTC))
    named = ", ".join(str(pilot_id) for pilot_id in approved)
    click.echo(f"Approved {len(approved)} pilot(s) by trust" + (f": {named}" if approved else ""))


audit_group = AppGroup("audit", help="The audit trail.")


@audit_group.command("verify")
def audit_verify_command():
    """Check the audit trail's hash chain; name the first broken event, or the newest."""
    db = _db()
    checked, broken = audit.verify_chain(db)
    if broken is not None:
        raise click.ClickException(
            f"The audit chain is broken at event {broken} (after {checked} good events)."
        )
    click.echo(f"The audit chain is intact: {checked} events checked.")
    newest = db.execute("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1").fetchone()
    if newest is not None:
        # A chain shows a changed or removed event by the events after it; that the
        # newest were cut off, only a hash kept elsewhere can show.
        click.echo(f"Newest event: {newest[0]}, hash {newest[1]} (keep it to check the end).")


def _as_of(value) -> date | None:
    return value.date() if value is not None else None


def _print_look(look: dict) -> None:
    label = " (preview: not pre-registered)" if look["preview"] else ""
    state = "stored" if look["changed"] else "unchanged"
    click.echo(f"Pilot {look['pilot_id']} as of {look['as_of']}{label}: {state}")
    for result in look["results"]:
        estimate = "-" if result["estimate"] is None else f"{result['estimate']:.4g}"
        click.echo(
            f"  {result['metric']:<24} {result['role']:<10} {result['verdict']:<17}"
            f" estimate {estimate}"
        )


@click.command("evaluate")
@with_appcontext
@click.option("--pilot", "pilot_id", type=int, help="Evaluate this pilot only (any status).")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="The date to evaluate as of, today or earlier; default today (UTC).",
)
@click.option(
    "--due", is_flag=True, help="Take the scheduled looks that are due, as the scheduler does."
)
def evaluate_command(pilot_id, as_of, due):
    """Evaluate pilots now and store the results (one per pilot, metric and date)."""
    from pilots.evaluation import cadence, service

    db = _db()
    now = datetime.now(UTC)
    day = _as_of(as_of) or now.date()
    if due and (pilot_id is not None or as_of is not None):
        raise click.UsageError(
            "--due takes the looks that are due today, for every pilot: leave out --pilot"
            " and --as-of."
        )
    if day > now.date():
        raise click.UsageError(
            f"--as-of {day.isoformat()} lies ahead: a look can only see data up to today"
            f" ({now.date().isoformat()}, UTC)."
        )
    if due:
        try:
            summary = cadence.evaluate_due(db, now)
        except cadence.EvaluationsFailed as error:
            _fail(error)
        click.echo(
            f"Scheduled looks as of {summary['as_of']}: {len(summary['evaluated'])} pilot(s),"
            f" {summary['rows_stored']} result(s) stored"
        )
        for note in summary["notes"]:
            click.echo(f"  note: {note}")
        return
    if pilot_id is not None:
        ids = [pilot_id]
    else:
        ids = [
            row["id"]
            for row in db.query(
                """SELECT id FROM pilot WHERE status IN ('approved', 'running', 'paused')
                   AND approved_version IS NOT NULL AND start_date <= ? ORDER BY id""",
                [day.isoformat()],
            )
        ]
    for one in ids:
        try:
            look = service.evaluate_pilot(db, one, day, actor_role="cli", now=now)
        except NotFound:
            _fail(f"No pilot {one}.")
        except DomainError as error:
            _fail(f"Pilot {one}: {error}")
        _print_look(look)
    if not ids:
        click.echo("No approved pilot has started yet; nothing to evaluate.")


def _scheduler_context():
    from pilots.scheduler import Context

    config = current_app.config
    backup_dir = config.get("BACKUP_DIR") or os.path.join(current_app.instance_path, "backups")
    return Context(
        database=config["DATABASE"],
        backup_dir=backup_dir,
        backup_keep=int(config.get("BACKUP_KEEP") or 14),
        mail=mail_settings(),
    )


@click.command("scheduler")
@with_appcontext
@click.option("--once", is_flag=True, help="Run the jobs that are due or missed, then exit.")
@click.option(
    "--now",
    "now_text",
    help="With --once: act as if it were this moment (ISO 8601, UTC), for tests and replays.",
)
def scheduler_command(once, now_text):
    """Run the job scheduler (one per database; a second one exits at once)."""
    # Imported here: only the scheduler process loads APScheduler.
    from pilots import scheduler

    now = None
    if now_text:
        if not once:
            raise click.UsageError("--now needs --once.")
        try:
            now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        except ValueError:
            raise click.UsageError(f"--now {now_text!r} is not an ISO 8601 moment.") from None
        now = now.replace(tzinfo=now.tzinfo or UTC)
    try:
        scheduler.serve(_scheduler_context(), once=once, now=now, echo=_echo_now)
    except scheduler.SchedulerLocked as error:
        _fail(error)


def _echo_now(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=True, file_okay=True))
@click.option("--force", is_flag=True, help="Replace PATH if it is a file that exists.")
def backup_command(path, force):
    """Copy the database to PATH (a file, or a folder, existing or ending in /, for a
    dated file in it) and verify it. An existing file is kept unless --force."""
    from pilots import backup

    target = path
    if os.path.isdir(path) or path.endswith(os.sep):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = os.path.join(path, f"{backup.PREFIX}{stamp}{backup.SUFFIX}")
    database = os.path.realpath(current_app.config["DATABASE"])
    if os.path.realpath(target) in {database + suffix for suffix in ("", "-wal", "-shm")}:
        _fail(f"{target} is the database itself; choose another file or a folder.")
    if os.path.exists(target) and not force:
        _fail(f"{target} exists; add --force to replace it, or choose a folder.")
    try:
        made = backup.backup_to(current_app.config["DATABASE"], target)
    except (OSError, backup.BackupFailed, sqlite3.Error) as error:
        _fail(error)
    click.echo(
        f"Backup written to {made['path']} and verified (integrity_check ok):"
        f" {len(made['tables'])} tables, {made['rows']} rows."
    )


MAIL_SETTINGS = ("SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "SMTP_FROM", "BASE_URL")


def mail_settings() -> dict:
    """The SMTP settings and the app's public address, for the digest job."""
    return {name: current_app.config.get(name) for name in MAIL_SETTINGS}


@click.command("digest")
@with_appcontext
@click.option(
    "--now",
    "now_text",
    help="Act as if it were this moment (ISO 8601, UTC), for tests and replays.",
)
def digest_command(now_text):
    """Send the leaders' daily or weekly digests that are due (by e-mail or to the outbox)."""
    from pilots.domain.notifications import send_digests

    now = datetime.now(UTC)
    if now_text:
        try:
            now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        except ValueError:
            raise click.UsageError(f"--now {now_text!r} is not an ISO 8601 moment.") from None
        now = now.replace(tzinfo=now.tzinfo or UTC)
    db = _db()
    try:
        done = send_digests(db, now, mail_settings())
    finally:
        db.close()
    click.echo(
        f"Digests: {done['smtp']} e-mailed, {done['outbox']} to the outbox,"
        f" {done['none']} with nothing to report, {done['failed']} failed (kept in the outbox),"
        f" {done['skipped']} already sent for this period."
    )


COMMANDS = (
    migrate_command,
    demo_command,
    create_unit_command,
    create_user_command,
    create_admin_command,
    create_token_command,
    approve_due_command,
    evaluate_command,
    scheduler_command,
    backup_command,
    digest_command,
    audit_group,
)


def init_app(app) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
