"""pilots: trust-based service pilots, from citizens' stories to honest outcome statistics.

`create_app` is the only way in: no app, connection or data is made at import.
"""

from __future__ import annotations

import os

import click
from flask import Flask
from flask.cli import ScriptInfo, run_command


def create_app(test_config: dict | None = None) -> Flask:
    """Build the web app; `test_config` replaces the instance file and environment.

    A web app in production mode needs a secret key, a command does not: `flask migrate`,
    `backup` or `scheduler` run from cron sign no cookie or token. Should an app made for
    a command ever serve a request, the request is refused instead.
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    from pilots import cli, config
    from pilots.web import init_web

    config.load(app, test_config)
    if _made_for_a_command():
        app.before_request(lambda: config.require_secret_key(app))
    else:
        config.require_secret_key(app)
    os.makedirs(app.instance_path, exist_ok=True)
    init_web(app)
    cli.init_app(app)
    return app


def _made_for_a_command() -> bool:
    """Whether Flask's CLI is loading the app for a command other than `flask run`.

    Of Flask's CLI only `run` serves; gunicorn, tests and scripts call `create_app`
    outside it, so they get the check.
    """
    context = click.get_current_context(silent=True)
    if context is None or context.find_object(ScriptInfo) is None:
        return False
    return context.command is not run_command
