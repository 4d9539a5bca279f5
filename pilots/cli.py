"""Command-line tools: `flask --app pilots <command>`, for provisioning and operations.

Each command is documented in docs/cli.md (a test checks that every command is).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from pilots import demo, migrations
from pilots.db import connect
from pilots.domain import DomainError, accounts, audit, pilots, tokens
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
        click.echo("Loaded the demo municipality Fjordvik kommune.")
    click.echo("Demo logins (all with the same password):")
    for login in logins:
        click.echo(f"  {login['role']:<13} {login['email']:<26} {login['password']}")


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
        password = sys.stdin.readline().rstrip("\n")
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
    token, _row = tokens.create_token(db, user["id"], name)
    click.echo(token)


@click.command("approve-due")
@with_appcontext
def approve_due_command():
    """Approve submitted pilots whose trust-by-default countdown has run out."""
    approved = pilots.approve_due(_db(), datetime.now(UTC))
    click.echo(
        f"Approved {len(approved)} pilot(s) by trust" + (f": {approved}" if approved else "")
    )


audit_group = AppGroup("audit", help="The audit trail.")


@audit_group.command("verify")
def audit_verify_command():
    """Check the audit trail's hash chain; name the first broken event."""
    checked, broken = audit.verify_chain(_db())
    if broken is not None:
        raise click.ClickException(
            f"The audit chain is broken at event {broken} (after {checked} good events)."
        )
    click.echo(f"The audit chain is intact: {checked} events checked.")


COMMANDS = (
    migrate_command,
    demo_command,
    create_unit_command,
    create_user_command,
    create_admin_command,
    create_token_command,
    approve_due_command,
    audit_group,
)


def init_app(app) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
