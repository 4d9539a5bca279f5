"""Signing in and out."""

from __future__ import annotations

from flask import Blueprint, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from pilots.domain import accounts
from pilots.web import CurrentUser, get_db
from pilots.web.access import ANYONE, SIGNED_IN, allow
from pilots.web.limits import account_key, failed_sign_in, limiter, per_account, per_address
from pilots.web.pages import page, safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@allow(ANYONE)
@limiter.limit(per_address, methods=["POST"], deduct_when=failed_sign_in)
@limiter.limit(per_account, key_func=account_key, methods=["POST"], deduct_when=failed_sign_in)
def login():
    """Show the sign-in form; sign a person in with e-mail and password."""
    next_url = safe_next(request.values.get("next"), url_for("home.index"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url)
        return page("auth/login.html", next_url=next_url, email="")
    email = request.form.get("email", "")
    user = accounts.authenticate(get_db(), email, request.form.get("password", ""))
    if user is None:
        return page(
            "auth/login.html",
            status=401,
            next_url=next_url,
            email=email,
            error=_("The e-mail address or password is not right."),
        )
    language = session.get("language")
    # A fresh session at sign-in: nothing from before it survives but the language.
    session.clear()
    if language:
        session["language"] = language
    token = accounts.start_session(get_db(), user["id"])
    login_user(CurrentUser(accounts.session_user(get_db(), token), token))
    return redirect(next_url, code=303)


@bp.route("/logout", methods=["POST"])
@allow(SIGNED_IN)
def logout():
    """Sign out: this session's token stops working at once."""
    accounts.end_session(get_db(), current_user.token, current_user.id)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"), code=303)
