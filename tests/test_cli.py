"""Provisioning from the command line, and docs that keep up with the commands."""

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from flask.cli import cli as flask_cli

from pilots import cli, config, create_app
from pilots.db import connect
from pilots.domain import accounts
from pilots.domain import organisation as org


def test_create_unit_and_user_with_password_from_stdin(runner, db):
    result = runner.invoke(
        args=["create-unit", "Sone vest", "--slug", "vest", "--parent", "hjemmetjenesten"]
    )
    assert result.exit_code == 0, result.output
    assert "Created team Sone vest (vest)" in result.output
    result = runner.invoke(
        args=[
            "create-user",
            "Vera@Fjordvik.example",
            "--name",
            "Vera Vik",
            "--role",
            "frontline:vest",
            "--role",
            "analyst",
        ],
        input="a very long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "Password" not in result.output
    user = accounts.authenticate(db, "vera@fjordvik.example", "a very long passphrase")
    assert {r["role"] for r in org.roles_of(db, user["id"])} == {"frontline", "analyst"}


def test_a_generated_password_is_printed_once_and_works(runner, db):
    result = runner.invoke(args=["create-admin", "it@fjordvik.example", "--name", "IT"], input="")
    assert result.exit_code == 0, result.output
    password = re.search(r"Password \(shown once\): (\S+)", result.output).group(1)
    user = accounts.authenticate(db, "it@fjordvik.example", password)
    assert [r["role"] for r in org.roles_of(db, user["id"])] == ["admin"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create-unit", "X", "--slug", "Bad Slug"], "may only hold"),
        (["create-unit", "X", "--slug", "x", "--parent", "nowhere"], "no unit nowhere"),
        (["create-user", "a@b.no", "--name", "A", "--role", "boss"], "Unknown role boss"),
        (
            ["create-user", "a@b.no", "--name", "A", "--role", "frontline:nowhere"],
            "no unit nowhere",
        ),
        (["create-user", "kari@fjordvik.example", "--name", "K"], "already a user"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_stored(runner, db, args, message):
    users, units = db["users"].count, db["unit"].count
    result = runner.invoke(args=args, input="a very long passphrase\n")
    assert result.exit_code != 0
    assert message in result.output
    assert (db["users"].count, db["unit"].count) == (users, units)


def test_a_password_of_spaces_is_refused_and_a_windows_line_end_is_not_part_of_it(runner, db):
    spaces = runner.invoke(args=["create-user", "a@b.no", "--name", "A"], input=" " * 12 + "\n")
    assert spaces.exit_code == 1 and "at least 12 characters" in spaces.output
    assert org.user_by_email(db, "a@b.no") is None
    typed = runner.invoke(
        args=["create-user", "a@b.no", "--name", "A"], input="a very long passphrase\r\n"
    )
    assert typed.exit_code == 0, typed.output
    assert accounts.authenticate(db, "a@b.no", "a very long passphrase") is not None


def test_a_token_name_too_long_is_refused_without_a_traceback(runner, db):
    result = runner.invoke(args=["create-token", "kari@fjordvik.example", "--name", "x" * 101])
    assert result.exit_code == 1
    assert result.output == "Error: A token name can be at most 100 characters.\n"


def test_demo_refuses_a_database_with_data_and_migrate_is_idempotent(runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code != 0 and "not empty" in result.output
    result = runner.invoke(args=["demo", "--if-empty"])
    assert result.exit_code == 0 and "admin@fjordvik.example" in result.output
    result = runner.invoke(args=["migrate"])
    assert result.exit_code == 0 and "Applied 0 migration(s)" in result.output


def test_demo_on_an_empty_database_takes_the_last_look_of_its_closed_pilots(tmp_path):
    path = tmp_path / "empty.sqlite3"
    app = create_app({"MODE": "testing", "SECRET_KEY": "test-secret", "DATABASE": str(path)})
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0 and "Loaded the demo municipality" in result.output
    db = connect(str(path))
    closed = db.execute(
        """SELECT p.status, count(e.id) FROM pilot p LEFT JOIN evaluation e ON e.pilot_id = p.id
           WHERE p.status IN ('concluded', 'stopped') GROUP BY p.id ORDER BY p.status"""
    ).fetchall()
    db.close()
    assert [status for status, _ in closed] == ["concluded", "stopped"]
    assert all(looks >= 1 for _, looks in closed)


@pytest.fixture
def production_without_a_key(tmp_path, monkeypatch):
    """As cron runs `flask --app pilots ...` on a server: production mode, no secret key."""
    monkeypatch.setenv("PILOTS_MODE", "production")
    monkeypatch.setenv("PILOTS_SECRET_KEY", config.DEFAULT_SECRET_KEY)
    monkeypatch.setenv("PILOTS_DATABASE", str(tmp_path / "cron.sqlite3"))
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "false")  # Flask's CLI sets it; put it back after
    return tmp_path


def _flask(*args):
    """`flask --app pilots ARGS` as a shell runs it: the CLI itself creates the app."""
    return CliRunner().invoke(flask_cli, ["--app", "pilots", *args])


def test_commands_run_in_production_without_a_secret_key(production_without_a_key):
    migrated = _flask("migrate")
    assert migrated.exit_code == 0, migrated.output
    assert "Applied" in migrated.output
    backed_up = _flask("backup", str(production_without_a_key / "backups") + "/")
    assert backed_up.exit_code == 0 and "verified" in backed_up.output
    assert _flask("audit", "verify").exit_code == 0
    assert _flask("limiter", "limits").exit_code == 0  # Flask-Limiter's, a plugin command


def test_serving_in_production_without_a_secret_key_is_refused(
    production_without_a_key, monkeypatch
):
    served = []
    monkeypatch.setattr("flask.cli.run_simple", lambda *args, **kwargs: served.append(args))
    run = _flask("run")
    assert isinstance(run.exception, config.ConfigurationError) and served == []
    with pytest.raises(config.ConfigurationError, match="default secret"):
        create_app()  # as gunicorn 'pilots:create_app()' does
    with click.Context(click.Command("shell"), obj=ScriptInfo()):  # an app made for a command ...
        app = create_app()
    refused = app.test_client().get("/")  # ... refuses to serve a request
    assert refused.status_code == 500 and "Set-Cookie" not in refused.headers


def _command_names(group, prefix=""):
    for command in group:
        name = f"{prefix}{command.name}"
        yield name
        if hasattr(command, "commands"):
            yield from _command_names(command.commands.values(), prefix=name + " ")


def test_every_cli_command_is_documented():
    docs = Path("docs/cli.md").read_text(encoding="utf-8")
    for name in _command_names(cli.COMMANDS):
        assert f"`flask --app pilots {name}" in docs, f"docs/cli.md does not document `{name}`"


def test_every_setting_is_documented():
    docs = Path("docs/configuration.md").read_text(encoding="utf-8")
    for setting in config.DEFAULTS:
        assert f"`PILOTS_{setting}`" in docs, f"docs/configuration.md lacks PILOTS_{setting}"


def test_every_command_has_help_text():
    for command in cli.COMMANDS:
        assert command.help and len(command.help) > 10
