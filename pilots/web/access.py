"""Who may call which view: every endpoint declares its rule with `@allow(...)`.

Rules are `anyone`, `signed_in`, or role names (`admin`, `leader`, `analyst`,
`frontline`, `case_handler`): a signed-in user holding any of them passes. Checks
on particular objects (this team's draft, that unit's pilots) happen inside the
view as well; hiding a button is never the check. A test walks `app.url_map` and
fails on any endpoint without a rule.
"""

from __future__ import annotations

from functools import wraps

from flask import abort, current_app, request
from flask_login import current_user

ANYONE = "anyone"
SIGNED_IN = "signed_in"


def allow(*rules: str):
    """Declare and enforce who may call the decorated view."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if ANYONE not in rules:
                if not current_user.is_authenticated:
                    return current_app.login_manager.unauthorized()
                if SIGNED_IN not in rules and not current_user.has_any_role(rules):
                    abort(403)
            return view(*args, **kwargs)

        guarded.access_rule = rules
        return guarded

    return decorate


def is_htmx() -> bool:
    """A plain htmx request (not boosted, not a history restore) wants a fragment."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )
