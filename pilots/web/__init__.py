"""The web layer: blueprints, templates and htmx fragments over the domain functions.

`init_web` wires the request's (borrowed) database connection, sign-in, CSRF, language,
rate limits, security headers and error pages, then registers one blueprint per
area. Nothing below this package imports it.
"""

from __future__ import annotations

import os
import sqlite3
import threading

from flask import Flask, current_app, g, request, session
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect
from markupsafe import Markup
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


class Connections:
    """This process's idle database connections, lent to one request at a time.

    Opening a connection costs more than most pages' queries (about 1.5 ms: the
    pragmas, reading the schema, and a checkpoint when the last one closes), so a
    request borrows an idle connection and gives it back at teardown instead. A
    connection comes back with no transaction open (whatever the request left
    uncommitted is rolled back, as closing would), and one that saw an error is
    closed instead. After a fork the child opens its own.
    """

    def __init__(self, path: str, keep: int = 4):
        self.path = path
        self.keep = keep
        self.pid = os.getpid()
        self.idle: list = []
        self.lock = threading.Lock()

    def borrow(self):
        with self.lock:
            if self.pid != os.getpid():
                self.idle, self.pid = [], os.getpid()
            if self.idle:
                return self.idle.pop()
        return connect(self.path)

    def give_back(self, db, failed: bool) -> None:
        if not failed:
            try:
                if db.conn.in_transaction:
                    db.conn.rollback()
            except sqlite3.Error:
                failed = True
        with self.lock:
            if not failed and self.pid == os.getpid() and len(self.idle) < self.keep:
                self.idle.append(db)
                return
        db.close()


def _connections(app) -> Connections:
    pool = app.extensions.get("pilots.connections")
    if pool is None or pool.path != app.config["DATABASE"]:
        pool = app.extensions["pilots.connections"] = Connections(app.config["DATABASE"])
    return pool


def get_db():
    """The request's database connection: borrowed on first use, given back at teardown."""
    if "db" not in g:
        pool = _connections(current_app)
        g.db, g.db_pool = pool.borrow(), pool
    return g.db


def close_db(exception=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        g.pop("db_pool").give_back(db, failed=exception is not None)


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
        return {"session_language": session.get("language"), "main_nav": main_nav}


def main_nav() -> Markup:
    """The signed-in person's main navigation, rendered once per roles, page and language.

    A dozen links, each with url_for and a translation, on every page; what varies is
    only which roles the person has, which page is current and the language.
    """
    from pilots.web.pages import kept

    roles = frozenset(role["role"] for role in current_user.roles)
    key = (i18n.reader_language(), roles, request.endpoint, request.script_root)
    nav = kept("nav").get(key)
    if nav is None:
        nav = Markup(
            current_app.jinja_env.get_template("_nav.html").render(
                roles=roles, endpoint=request.endpoint
            )
        )
        kept("nav").put(key, nav)
    return nav
