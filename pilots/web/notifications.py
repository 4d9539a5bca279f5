"""The inbox: a person's notifications, the unread count in the navigation, marking
them read, and a leader's choice of digest rhythm (shown on the profile page)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from pilots.db import utc_now
from pilots.domain import DomainError, NotFound
from pilots.domain import notifications as domain
from pilots.web import get_db
from pilots.web.access import SIGNED_IN, allow, is_htmx
from pilots.web.pages import Paging, page, page_number, safe_next, see_other

bp = Blueprint("notifications", __name__)
PAGE_SIZE = 20


def _inbox_context() -> dict:
    db = get_db()
    rows, total = domain.inbox(
        db, current_user.id, limit=PAGE_SIZE, offset=(page_number() - 1) * PAGE_SIZE
    )
    return {
        "notifications": rows,
        "paging": Paging(page_number(), PAGE_SIZE, total),
        "unread": domain.unread_count(db, current_user.id),
    }


@bp.route("/notifications")
@allow(SIGNED_IN)
def index():
    """The person's notifications, newest first, a page at a time."""
    return page("notifications/index.html", "inbox", **_inbox_context())


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@allow(SIGNED_IN)
def read(notification_id: int):
    """Mark one notification read; then follow its link, or show the inbox again."""
    try:
        row = domain.mark_read(get_db(), notification_id, current_user.id, utc_now())
    except NotFound:
        abort(404)
    if request.form.get("follow") and row["link"]:
        return see_other(safe_next(row["link"], url_for("notifications.index")))
    if is_htmx():
        return page("notifications/index.html", "inbox", **_inbox_context())
    return see_other(url_for("notifications.index"))


@bp.route("/notifications/read-all", methods=["POST"])
@allow(SIGNED_IN)
def read_all():
    """Mark every notification read."""
    domain.mark_all_read(get_db(), current_user.id, utc_now())
    if is_htmx():
        return page("notifications/index.html", "inbox", **_inbox_context())
    return see_other(url_for("notifications.index"))


@bp.route("/profile/digest", methods=["POST"])
@allow("leader")
def digest():
    """A leader chooses a daily or weekly digest, or none."""
    try:
        domain.set_digest_frequency(
            get_db(), current_user.id, request.form.get("frequency", ""), utc_now()
        )
    except DomainError as error:
        flash(_(error.message, **error.params), "error")
    else:
        flash(_("Your digest setting is saved."), "success")
    return see_other(url_for("profile.index"))


@bp.app_context_processor
def inbox_helpers():
    def unread_notifications() -> int:
        if not current_user.is_authenticated:
            return 0
        return domain.unread_count(get_db(), current_user.id)

    def digest_frequency() -> str:
        return domain.digest_frequency(get_db(), current_user.id)

    return {"unread_notifications": unread_notifications, "digest_frequency": digest_frequency}
