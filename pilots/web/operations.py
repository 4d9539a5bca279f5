"""Operations pages for admins: the scheduler's job-run log and the mail outbox; and
`/healthz`, the trivial route a load balancer (and the page benchmark) calls."""

from __future__ import annotations

from flask import Blueprint, request

from pilots.domain import notifications as domain
from pilots.web import get_db
from pilots.web.access import ANYONE, allow
from pilots.web.pages import Paging, page, page_number

bp = Blueprint("operations", __name__)
PAGE_SIZE = 50


@bp.route("/admin/jobs")
@allow("admin")
def jobs():
    """The scheduler's job runs, newest first, failures included (or only them)."""
    failed_only = request.args.get("failed") == "1"
    rows, total = domain.job_runs(
        get_db(),
        failed_only=failed_only,
        limit=PAGE_SIZE,
        offset=(page_number() - 1) * PAGE_SIZE,
    )
    return page(
        "operations/jobs.html",
        "runs",
        runs=rows,
        failed_only=failed_only,
        paging=Paging(page_number(), PAGE_SIZE, total),
    )


@bp.route("/admin/outbox")
@allow("admin")
def outbox():
    """Mail the app would have sent, kept here while no SMTP server is configured."""
    rows, total = domain.outbox(get_db(), limit=20, offset=(page_number() - 1) * 20)
    return page(
        "operations/outbox.html",
        "mails",
        mails=rows,
        paging=Paging(page_number(), 20, total),
    )


@bp.route("/healthz")
@allow(ANYONE)
def healthz():
    """The app answers: "ok", nothing else (no database, no session)."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
