"""The leader's portfolio: what needs their eyes across the units they lead.

Pilots by unit and status; results that said something since the last visit
(balancing concerns first); plans waiting for approval with the trust-by-default
countdown; ideas waiting for an answer; pilots past their end without a decision;
and the story of the week (the template calls `stories_of_the_week`, as the start
page does).

The visit is recorded on GET: it is bookkeeping of when the person looked (like a
session's last-seen time), not a change anyone acts on, so it writes no audit event.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint
from flask_login import current_user

from pilots.db import to_utc_text
from pilots.domain import ideas
from pilots.domain import pilots as pilot_domain
from pilots.domain import results as domain
from pilots.web import get_db
from pilots.web.access import allow
from pilots.web.pages import page

bp = Blueprint("portfolio", __name__)


def _matrix(counts: list[dict]) -> list[dict]:
    units: dict[int, dict] = {}
    for row in counts:
        unit = units.setdefault(
            row["unit_id"], {"id": row["unit_id"], "name": row["unit_name"], "counts": {}}
        )
        unit["counts"][row["status"]] = row["n"]
    return list(units.values())


@bp.route("/portfolio")
@allow("leader")
def index():
    """The leader's portfolio: signals since the last visit first, then what waits."""
    db = get_db()
    now = datetime.now(UTC)
    since = domain.record_visit(db, current_user.id, "portfolio", to_utc_text(now))
    counts = domain.portfolio_counts(db, current_user.id)
    waiting_ideas, ideas_total = ideas.search_ideas(
        db, current_user.id, for_leader=current_user.id, status="proposed", limit=10
    )
    return page(
        "portfolio/index.html",
        since=since,
        signals=domain.signals_since(db, current_user.id, since),
        units=_matrix(counts),
        statuses=[s for s in pilot_domain.STATUSES if s != "draft"],
        totals={s: sum(r["n"] for r in counts if r["status"] == s) for s in pilot_domain.STATUSES},
        approvals=pilot_domain.leader_queue(db, current_user.id, now),
        ideas=waiting_ideas,
        ideas_total=ideas_total,
        decisions=domain.decisions_due(db, current_user.id, now.date()),
    )
