"""pilots: trust-based service pilots, from citizens' stories to honest outcome statistics.

`create_app` is the only way in: no app, connection or data is made at import.
"""

from __future__ import annotations

import os

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Build the web app; `test_config` replaces the instance file and environment."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    from pilots import cli, config
    from pilots.web import init_web

    config.load(app, test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    init_web(app)
    cli.init_app(app)
    return app
