"""Settings: defaults in code, then `instance/config.py`, then `PILOTS_<SETTING>` variables.

The web app refuses to start in production mode with the default secret key, so a
forgotten setting fails loudly instead of signing sessions with a public value. The
command-line tools (migrate, backup, scheduler, ...) sign nothing, so they run without it;
see `create_app`.
"""

from __future__ import annotations

import os

DEFAULT_SECRET_KEY = "dev-only-not-secret"

# Every setting the app reads; docs/configuration.md documents each one (a test checks).
DEFAULTS = {
    "MODE": "production",  # production | development | testing
    "SECRET_KEY": DEFAULT_SECRET_KEY,
    "DATABASE": None,  # path of the SQLite file; default instance/pilots.sqlite3
    "PAGE_SIZE": 20,
    "LOGIN_LIMIT_PER_ADDRESS": "20 per minute;200 per hour",
    "LOGIN_LIMIT_PER_ACCOUNT": "5 per minute;30 per hour",
    "RATELIMIT_STORAGE_URI": "memory://",
    "DEFAULT_LANGUAGE": "nb",
    "TIMEZONE": "Europe/Oslo",
    "MAX_CONTENT_LENGTH": 50 * 1024 * 1024,
    "UPLOAD_FOLDER": None,  # where uploads wait between preview and storing; instance/uploads
    "UPLOAD_MAX_ROWS": 1_000_000,
    "REGISTER_UNUSED_DAYS": 180,
    # Mail for the leaders' digests; without SMTP_HOST they are kept in the outbox.
    "SMTP_HOST": None,
    "SMTP_PORT": 587,
    "SMTP_USER": None,
    "SMTP_PASSWORD": None,
    "SMTP_FROM": "pilots@localhost",
    "BASE_URL": "http://127.0.0.1:5000",  # the app's public address, for links in mail
    "BACKUP_DIR": None,  # where the scheduler's nightly backups go; instance/backups
    "BACKUP_KEEP": 14,
}


class ConfigurationError(RuntimeError):
    """Raised at start-up when the settings are unsafe or inconsistent."""


def load(app, test_config: dict | None) -> None:
    """Fill `app.config` from defaults, the instance file and the environment."""
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env(prefix="PILOTS")
    else:
        app.config.from_mapping(test_config)
    if not app.config["DATABASE"]:
        app.config["DATABASE"] = os.path.join(app.instance_path, "pilots.sqlite3")
    _apply_mode(app)


def _apply_mode(app) -> None:
    mode = app.config["MODE"]
    if mode not in ("production", "development", "testing"):
        raise ConfigurationError(
            f"PILOTS_MODE must be production, development or testing, not {mode!r}"
        )
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=mode == "production",
        TESTING=mode == "testing" or app.config.get("TESTING", False),
        RATELIMIT_STORAGE_URI=app.config["RATELIMIT_STORAGE_URI"],
    )


def require_secret_key(app) -> None:
    """Refuse to serve in production mode with the public default (or no) secret key.

    The key signs the session cookie and the CSRF tokens: with the public default anyone
    could forge a session.
    """
    if app.config["MODE"] == "production" and app.config["SECRET_KEY"] in (
        DEFAULT_SECRET_KEY,
        "",
        None,
    ):
        raise ConfigurationError(
            "Refusing to start in production mode with the default secret key: set "
            "PILOTS_SECRET_KEY or SECRET_KEY in instance/config.py "
            "(or PILOTS_MODE=development on a developer machine)."
        )
