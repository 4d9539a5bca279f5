"""The start page and the language switch."""

from __future__ import annotations

from flask import Blueprint, redirect, request, session, url_for
from flask_login import current_user

from pilots.domain import DomainError, accounts
from pilots.domain.organisation import unit_tree
from pilots.web import get_db
from pilots.web.access import ANYONE, SIGNED_IN, allow
from pilots.web.i18n import LANGUAGES
from pilots.web.pages import page, safe_next

bp = Blueprint("home", __name__)


@bp.route("/")
@allow(SIGNED_IN)
def index():
    """The start page: what this person can do here, and what to do first."""
    units = unit_tree(get_db()) if current_user.has_role("admin") else []
    return page("home/index.html", units=units)


@bp.route("/language", methods=["POST"])
@allow(ANYONE)
def language():
    """Switch the interface language; remembered for the signed-in person."""
    chosen = request.form.get("language", "")
    if chosen in LANGUAGES:
        session["language"] = chosen
        if current_user.is_authenticated:
            try:
                accounts.set_language(get_db(), current_user.id, chosen)
            except DomainError:
                pass
    return redirect(safe_next(request.form.get("next"), url_for("home.index")), code=303)
