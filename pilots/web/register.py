"""The indicator clean-up register page, and the metric catalogue's exports.

Everyone signed in reads the register; metric editors register indicators the
organisation already reports on; leaders retire or merge with a reason. The flags and
sums are the domain's (pilots.domain.register).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from pilots.domain import DomainError, NotFound
from pilots.domain import observations as data
from pilots.domain import register as domain
from pilots.web import get_db
from pilots.web.access import SIGNED_IN, allow
from pilots.web.observations import attachment, csv_options, streamed, xlsx_response
from pilots.web.pages import Paging, page, page_number, see_other, translated

bp = Blueprint("register", __name__)
EDITORS = ("frontline", "leader", "analyst")
PAGE_SIZE = 20


def _filters() -> dict:
    return {
        "query": request.args.get("q", ""),
        "kind": request.args.get("kind", ""),
        "status": request.args.get("status", "active"),
        "flag": request.args.get("flag", ""),
    }


def _page(status: int = 200, **extra):
    db = get_db()
    filters = _filters()
    days = current_app.config["REGISTER_UNUSED_DAYS"]
    register = domain.register(db, today=dt.date.today(), unused_days=days)
    rows = domain.filtered(register["rows"], **filters)
    paging = Paging(page_number(), PAGE_SIZE, len(rows))
    context = {
        "register": register,
        "rows": rows[paging.offset : paging.offset + PAGE_SIZE],
        "paging": paging,
        "filters": filters,
        "args": {k: v for k, v in request.args.items() if k != "page"},
        "unused_days": days,
        "active": [r for r in register["rows"] if r["status"] == "active"],
        "form": {},
        "errors": {},
        "row_errors": {},
        "thresholds": {
            "name": int(domain.NAME_SIMILARITY * 100),
            "definition": int(domain.DEFINITION_OVERLAP * 100),
        },
    }
    context.update(extra)
    return page("register/index.html", "results", status=status, **context)


@bp.route("/register")
@allow(SIGNED_IN)
def index():
    """Every metric and indicator: uses, last data, burden, decision, clean-up flags."""
    return _page()


@bp.route("/register", methods=["POST"])
@allow(*EDITORS)
def create():
    """Register an indicator the organisation already reports on."""
    form = request.form.to_dict()
    try:
        indicator = domain.create_indicator(get_db(), form, current_user.id)
    except DomainError as error:
        return _page(status=422, form=form, errors=translated(error), open_form=True)
    flash(_("The indicator %(name)s was registered.", name=indicator["name"]), "success")
    return see_other(url_for("register.index", kind="indicator"))


def _decide(metric_id: int, function, *args):
    try:
        metric = function(get_db(), metric_id, *args, current_user.id)
    except NotFound:
        abort(404)
    except DomainError as error:
        message = _(error.message, **error.params)
        return _page(status=422, row_errors={metric_id: message})
    hours = domain.hours_per_year(metric)
    flash(
        _(
            "%(name)s is retired; that frees about %(hours)s hours a year.",
            name=metric["name"],
            hours=f"{hours:.0f}",
        ),
        "success",
    )
    return see_other(url_for("register.index"))


@bp.route("/register/<int:metric_id>/retire", methods=["POST"])
@allow("leader")
def retire(metric_id: int):
    """Stop collecting a metric or indicator, with the reason (audited)."""
    return _decide(metric_id, domain.retire, request.form.get("reason", ""))


@bp.route("/register/<int:metric_id>/merge", methods=["POST"])
@allow("leader")
def merge(metric_id: int):
    """Retire a near-duplicate in favour of the one kept, with the reason (audited)."""
    into = request.form.get("into", type=int) or 0
    return _decide(metric_id, domain.merge, into, request.form.get("reason", ""))


@bp.route("/metrics/export")
@allow(SIGNED_IN)
def export():
    """The metric catalogue as CSV, .xlsx or JSON."""
    db = get_db()
    kind = request.args.get("format", "csv")
    if kind == "xlsx":
        return xlsx_response(lambda f: data.export_metrics_xlsx(db, f), "metrics.xlsx")
    if kind == "json":
        return attachment(streamed(data.export_metrics_json), "application/json", "metrics.json")
    delimiter, mark, _dates = csv_options(request.args)
    try:
        data.export_metrics_csv(db, delimiter=delimiter, decimal_mark=mark)
    except DomainError as error:
        flash(_(error.message, **error.params), "error")
        return see_other(url_for("metrics.index"))
    chunks = streamed(data.export_metrics_csv, delimiter=delimiter, decimal_mark=mark)
    return attachment(chunks, "text/csv; charset=utf-8", "metrics.csv")
