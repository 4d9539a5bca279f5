"""The metric catalogue pages: search, add and describe metrics."""

from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from pilots.domain import DomainError
from pilots.domain import metrics as catalogue
from pilots.web import get_db
from pilots.web.access import SIGNED_IN, allow
from pilots.web.pages import Paging, found, page, page_number, safe_next, see_other, translated

bp = Blueprint("metrics", __name__, url_prefix="/metrics")
EDITORS = ("frontline", "leader", "analyst")


@bp.route("")
@allow(SIGNED_IN)
def index():
    """Search the catalogue as one types; a page at a time."""
    query = request.args.get("q", "")
    size = 20
    rows, total = catalogue.search_metrics(
        get_db(), query, limit=size, offset=(page_number() - 1) * size, status=""
    )
    return page(
        "metrics/index.html",
        "results",
        metrics=rows,
        q=query,
        paging=Paging(page_number(), size, total),
    )


@bp.route("/new")
@allow(*EDITORS)
def new():
    """The form to add a metric."""
    return page(
        "metrics/form.html",
        # No default direction: "which way is better" is a choice, not a default.
        metric={"period": "month", "direction": "", "type": "mean"},
        errors={},
        next_url=safe_next(request.args.get("next"), ""),
    )


@bp.route("", methods=["POST"])
@allow(*EDITORS)
def create():
    """Add a metric; slugs are unique."""
    form = request.form.to_dict()
    try:
        metric = catalogue.create_metric(get_db(), form, current_user.id)
    except DomainError as error:
        return page(
            "metrics/form.html",
            "metric_form",
            status=422,
            metric=form,
            errors=translated(error),
            next_url=safe_next(form.get("next"), ""),
        )
    flash(_("The metric %(name)s was added.", name=metric["name"]), "success")
    return see_other(safe_next(form.get("next"), url_for("metrics.index")))


@bp.route("/<int:metric_id>/edit")
@allow(*EDITORS)
def edit(metric_id: int):
    """The form to describe a metric better (its slug and type stay)."""
    return page(
        "metrics/form.html", metric=found(catalogue.get_metric, metric_id), errors={}, next_url=""
    )


@bp.route("/<int:metric_id>", methods=["POST"])
@allow(*EDITORS)
def update(metric_id: int):
    """Save a metric's description."""
    metric = found(catalogue.get_metric, metric_id)
    form = request.form.to_dict()
    try:
        catalogue.update_metric(get_db(), metric_id, form, current_user.id)
    except DomainError as error:
        return page(
            "metrics/form.html",
            "metric_form",
            status=422,
            metric={**metric, **form},
            errors=translated(error),
            next_url="",
        )
    flash(_("Saved."), "success")
    return see_other(url_for("metrics.index"))
