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

from flask import Blueprint, current_app, request
from flask_login import current_user
from markupsafe import Markup

from pilots.db import to_utc_text
from pilots.domain import ideas
from pilots.domain import pilots as pilot_domain
from pilots.domain import results as domain
from pilots.web import get_db
from pilots.web.access import allow
from pilots.web.i18n import reader_language
from pilots.web.pages import kept, page
from pilots.web.results import results_url, verdict_label

bp = Blueprint("portfolio", __name__)


def _signals(db, leader_id: int, since: str | None) -> Markup:
    """The leader's signals as shown, kept until a table they are read from changes.

    Finding them ranks every pilot's latest look (for a leader of 1,000 pilots, 5,000
    stored results: most of the page's work), and listing them most of the rest, while
    within one sitting `since` stays the same and results rarely change. Kept per
    leader, so one leader's list is only ever shown to that leader, and per `since`,
    language and the write counts of the tables `signals_since` reads.
    """
    language = reader_language()
    key = (
        leader_id,
        since,
        language,
        request.script_root,
        domain.change_counts(db, domain.SIGNALS_READ),
    )
    shown = kept("signals").get(key)
    if shown is None:
        shown = Markup(
            current_app.jinja_env.get_template("portfolio/_signals.html").render(
                signals=domain.signals_since(db, leader_id, since),
                verdict_label=verdict_label,
                results_url=results_url,
            )
        )
        kept("signals").put(key, shown)
    return shown


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
        signals=_signals(db, current_user.id, since),
        units=_matrix(counts),
        statuses=[s for s in pilot_domain.STATUSES if s != "draft"],
        totals={s: sum(r["n"] for r in counts if r["status"] == s) for s in pilot_domain.STATUSES},
        approvals=pilot_domain.leader_queue(db, current_user.id, now),
        ideas=waiting_ideas,
        ideas_total=ideas_total,
        decisions=domain.decisions_due(db, current_user.id, now.date()),
    )
