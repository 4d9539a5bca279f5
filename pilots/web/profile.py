"""A person's own settings: password and language."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from pilots.domain import DomainError, NotFound, accounts, tokens
from pilots.web import CurrentUser, get_db
from pilots.web.access import SIGNED_IN, allow
from pilots.web.pages import page, see_other

bp = Blueprint("profile", __name__, url_prefix="/profile")


@bp.route("/")
@allow(SIGNED_IN)
def index():
    """Show the profile: roles, language, and the password form."""
    return page("profile/index.html", errors={}, tokens=tokens.tokens_of(get_db(), current_user.id))


@bp.route("/password", methods=["POST"])
@allow(SIGNED_IN)
def password():
    """Change one's password; other sessions end, this one continues with a new token."""
    db = get_db()
    current, new = request.form.get("current_password", ""), request.form.get("new_password", "")
    if new != request.form.get("repeat_password", ""):
        errors = {"repeat_password": _("The two new passwords are not the same.")}
        return page("profile/index.html", "password_form", status=422, errors=errors, tokens=[])
    try:
        accounts.change_password(db, current_user.id, current, new)
    except DomainError as error:
        errors = {error.field: _(error.message, **error.params)}
        return page("profile/index.html", "password_form", status=422, errors=errors, tokens=[])
    token = accounts.start_session(db, current_user.id, record=False)
    login_user(CurrentUser(accounts.session_user(db, token), token))
    flash(_("Your password is changed. Other sessions have been signed out."), "success")
    return see_other(url_for("profile.index"))


@bp.route("/tokens", methods=["POST"])
@allow(SIGNED_IN)
def create_token():
    """Make a personal API token; it is shown once."""
    db = get_db()
    try:
        token, row = tokens.create_token(db, current_user.id, request.form.get("name", ""))
    except DomainError as error:
        flash(_(error.message, **error.params), "error")
        return redirect(url_for("profile.index"), code=303)
    return page(
        "profile/index.html",
        errors={},
        tokens=tokens.tokens_of(db, current_user.id),
        new_token=token,
        new_token_name=row["name"],
    )


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@allow(SIGNED_IN)
def revoke_token(token_id: int):
    """Revoke one of one's own API tokens."""
    try:
        tokens.revoke_token(get_db(), current_user.id, token_id)
    except NotFound:
        abort(404)
    flash(_("The token is revoked; scripts using it stop working now."), "success")
    return redirect(url_for("profile.index"), code=303)
