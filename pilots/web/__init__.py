"""The web layer: blueprints, templates and htmx fragments over the domain functions.

`init_web` wires the request-scoped database connection, sign-in, CSRF, language,
rate limits, security headers and error pages, then registers one blueprint per
area. Nothing below this package imports it.
"""

from __future__ import annotations

from flask import Flask, g, session
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFProtect
from werkzeug.routing import IntegerConverter

from pilots.db import connect
from pilots.domain import accounts
from pilots.web import errors, i18n
from pilots.web.access import ANYONE, allow
from pilots.web.limits import limiter

csrf = CSRFProtect()


class CurrentUser(UserMixin):
    """The signed-in person as the views see them: their row, roles and session token."""

    def __init__(self, row: dict, token: str):
        self.row = row
        self.id = row["id"]
        self.name = row["name"]
        self.email = row["email"]
        self.language = row["language"]
        self.roles = row["roles"]
        self.token = token

    def get_id(self) -> str:
        # Flask-Login keeps this in the cookie: the session token, not the user id,
        # so a revoked or outdated session cannot be revived.
        return self.token

    def has_role(self, role: str) -> bool:
        return any(r["role"] == role for r in self.roles)

    def has_any_role(self, roles) -> bool:
        return any(self.has_role(role) for role in roles)

    def unit_ids(self, role: str) -> set[int]:
        return {r["unit_id"] for r in self.roles if r["role"] == role}


def get_db():
    """The request's database connection, opened on first use, closed at teardown."""
    if "db" not in g:
        from flask import current_app

        g.db = connect(current_app.config["DATABASE"])
    return g.db


def close_db(_exception=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def _load_user(token: str):
    row = accounts.session_user(get_db(), token)
    return CurrentUser(row, token) if row else None


class RowId(IntegerConverter):
    """`<int:...>` in every route, bounded to what SQLite can store (ids past it are 404)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)


def init_web(app: Flask) -> None:
    # Before any route is added: the routes' <int:...> then use the bounded converter.
    app.url_map.converters["int"] = RowId
    app.teardown_appcontext(close_db)

    login_manager = LoginManager(app)
    login_manager.user_loader(_load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    csrf.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)

    from pilots.web import (
        admin,
        api,
        api_stories,  # noqa: F401 - adds its routes to api.bp
        auth,
        home,
        ideas,
        metrics,
        notifications,
        observations,
        operations,
        pilots,
        portfolio,
        profile,
        register,
        results,
        stories,
    )

    for blueprint in (
        auth.bp,
        home.bp,
        profile.bp,
        admin.bp,
        metrics.bp,
        pilots.bp,
        observations.bp,
        register.bp,
        stories.bp,
        ideas.bp,
        results.bp,
        portfolio.bp,
        notifications.bp,
        operations.bp,
        api.bp,
    ):
        app.register_blueprint(blueprint)

    app.view_functions["static"] = allow(ANYONE)(app.view_functions["static"])

    @app.context_processor
    def chrome():
        return {"session_language": session.get("language")}
