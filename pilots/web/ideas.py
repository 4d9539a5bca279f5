"""Idea pages: the list (with the leaders' "waiting for you" and "overdue" views), the
draft form, proposing, supports, follows, inline comments, and leaders' answers.

A draft is shown only to its authors; anyone else gets 404, even by guessing its
id. Supports, follows and comments swap their own block with htmx and fall back
to a 303 back to the idea without JavaScript.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from pilots.domain import DomainError, NotFound
from pilots.domain import ideas as domain
from pilots.domain import organisation as org
from pilots.domain import pilots as pilot_domain
from pilots.domain import stories as story_domain
from pilots.web import get_db
from pilots.web.access import SIGNED_IN, allow, is_htmx
from pilots.web.pages import found, id_arg, page, page_number, see_other
from pilots.web.stories import go_to, guard_errors, names_to_confirm

bp = Blueprint("ideas", __name__, url_prefix="/ideas")
PAGE_SIZE = 20
AUTHORS = ("frontline", "leader")
IDEA_FIELDS = (*domain.LIMITS, "tags", "unit_id")


# ---- list --------------------------------------------------------------------


@bp.route("")
@allow(SIGNED_IN)
def index():
    """Ideas, searched as one types and filtered; drafts only for their authors."""
    db = get_db()
    q = request.args.get("q", "")
    status = request.args.get("status") or None
    show = request.args.get("show") or ""
    unit_id, tag = id_arg("unit"), request.args.get("tag") or None
    number = page_number()
    more = is_htmx() and request.args.get("more") == "1"
    offset, limit = ((number - 1) * PAGE_SIZE, PAGE_SIZE) if more else (0, number * PAGE_SIZE)
    rows, total = domain.search_ideas(
        db,
        current_user.id,
        q,
        status=status,
        unit_id=unit_id,
        tag=tag,
        mine=show == "mine",
        overdue=show == "overdue",
        for_leader=current_user.id if show == "waiting" else None,
        limit=limit,
        offset=offset,
    )
    args = {"q": q, "status": status or "", "unit": unit_id or "", "tag": tag or "", "show": show}
    return page(
        "ideas/index.html",
        "items" if more else "results",
        ideas=rows,
        total=total,
        q=q,
        status=status,
        show=show,
        unit_id=unit_id,
        tag=tag,
        args=args,
        next_page=number + 1 if number * PAGE_SIZE < total else None,
        units=org.unit_tree(db),
        tags=story_domain.all_tags(db, "idea_tag"),
        statuses=domain.STATUSES,
        may_write=current_user.has_any_role(AUTHORS),
    )


# ---- drafts --------------------------------------------------------------------


def _form_page(form, idea=None, status=200, errors=None, marked=None):
    db = get_db()
    return page(
        "ideas/form.html",
        "idea_form",
        status=status,
        form=form,
        idea=idea,
        errors=errors or {},
        marked=marked or {},
        ask_names=names_to_confirm(marked or {}),
        units=story_domain.unit_choices(db, current_user.id),
        story_choices=domain.ideas_for_story_choice(db),
    )


def _form_values(form) -> dict:
    return {
        **{k: form.get(k, "") for k in IDEA_FIELDS},
        "story_ids": form.getlist("stories"),
        "co_authors": form.get("co_authors", ""),
        "names_confirmed": form.get("names_confirmed") == "1",
    }


@bp.route("/new")
@allow(*AUTHORS)
def new():
    """The form for a new idea, optionally starting from a story."""
    choices = story_domain.unit_choices(get_db(), current_user.id)
    form = {
        "unit_id": str(choices[0]["id"]) if choices else "",
        "stories": [str(id_arg("story"))] if id_arg("story") else [],
    }
    return _form_page(form)


@bp.route("", methods=["POST"])
@allow(*AUTHORS)
def create():
    """Save a new idea as a draft that only its authors see."""
    form = request.form
    try:
        idea = domain.create_idea(get_db(), actor_id=current_user.id, **_form_values(form))
    except DomainError as error:
        errors, marked = guard_errors(error)
        return _form_page(_echo(form), status=422, errors=errors, marked=marked)
    flash(_("Your idea is saved as a draft. Only you and your co-authors see it."), "success")
    return go_to(url_for("ideas.detail", idea_id=idea["id"]))


def _echo(form) -> dict:
    values = form.to_dict()
    values["stories"] = form.getlist("stories")
    return values


@bp.route("/<int:idea_id>/edit")
@allow(*AUTHORS)
def edit(idea_id: int):
    """The draft's form, for its authors."""
    idea = found(domain.get_idea, idea_id, current_user.id)
    if idea["status"] != "draft":
        return see_other(url_for("ideas.detail", idea_id=idea_id))
    form = {k: str(idea[k]) for k in IDEA_FIELDS}
    form["stories"] = [str(s["id"]) for s in idea["stories"]]
    form["co_authors"] = ", ".join(
        a["email"] for a in idea["authors"] if a["id"] != idea["created_by"]
    )
    return _form_page(form, idea)


@bp.route("/<int:idea_id>", methods=["POST"])
@allow(*AUTHORS)
def update(idea_id: int):
    """Save changes to a draft."""
    idea = found(domain.get_idea, idea_id, current_user.id)
    try:
        domain.update_idea(
            get_db(), idea_id, actor_id=current_user.id, **_form_values(request.form)
        )
    except NotFound:
        abort(404)
    except DomainError as error:
        errors, marked = guard_errors(error)
        return _form_page(_echo(request.form), idea, status=422, errors=errors, marked=marked)
    flash(_("Saved."), "success")
    return go_to(url_for("ideas.detail", idea_id=idea_id))


@bp.route("/<int:idea_id>/propose", methods=["POST"])
@allow(*AUTHORS)
def propose(idea_id: int):
    """Show the idea to the whole organisation; leaders must now answer it."""
    found(domain.get_idea, idea_id, current_user.id)
    try:
        idea = domain.propose_idea(get_db(), idea_id, current_user.id)
    except NotFound:
        abort(404)
    except DomainError as error:
        flash(_(error.message, **error.params), "error")
    else:
        flash(
            _(
                "Your idea is proposed. A leader of %(unit)s answers it by %(day)s.",
                unit=idea["unit_name"],
                day=_day(idea["answer_due"]),
            ),
            "success",
        )
    return see_other(url_for("ideas.detail", idea_id=idea_id))


def _day(value):
    from pilots.web.i18n import format_day

    return format_day(value)


# ---- one idea ----------------------------------------------------------------


def _pilots_seen_by(db, idea_id: int, user_id: int) -> list[dict]:
    """The idea's pilots this person may open: a draft only for its team and their
    leaders, as its page shows it (another reader would follow the link to a 404)."""
    seen = []
    for pilot in story_domain.pilots_of_idea(db, idea_id):
        try:
            pilot_domain.visible_pilot(db, pilot["id"], user_id)
        except NotFound:
            continue
        seen.append(pilot)
    return seen


def _detail(idea: dict, block=None, status=200, **extra):
    db = get_db()
    user_id = current_user.id
    context = {
        "idea": idea,
        "is_author": domain.is_author(db, idea["id"], user_id),
        "supported": domain.has(db, "idea_support", idea["id"], user_id),
        "following": domain.has(db, "idea_follow", idea["id"], user_id),
        "supporters": domain.supporters(db, idea["id"]),
        "comments": domain.comments(db, idea["id"]),
        "answers": domain.answers(db, idea["id"]),
        "pilots": _pilots_seen_by(db, idea["id"], user_id),
        "may_answer": domain.may_answer(db, idea, user_id) and idea["status"] != "accepted",
        "answer_teams": domain.answer_teams(db, user_id),
        "overdue": domain.is_overdue(idea),
        "days_left": domain.days_left(idea),
        "errors": {},
        "marked": {},
        "form": {},
        "ask_names": False,
        "engagement_error": None,
    }
    context.update(extra)
    return page("ideas/detail.html", block, status=status, **context)


@bp.route("/<int:idea_id>")
@allow(SIGNED_IN)
def detail(idea_id: int):
    """One idea: the need and its stories, the proposal, supports, comments, answer."""
    return _detail(found(domain.get_idea, idea_id, current_user.id))


def _toggle(idea_id: int, function, flag: str):
    found(domain.get_idea, idea_id, current_user.id)
    try:
        function(get_db(), idea_id, current_user.id, request.form.get(flag) == "1")
    except NotFound:
        abort(404)
    except DomainError as error:
        message = _(error.message, **error.params)
        if is_htmx():  # the swapped block says it; a flash would wait for the next page
            idea = found(domain.get_idea, idea_id, current_user.id)
            return _detail(idea, "engagement", status=422, engagement_error=message)
        flash(message, "error")
    if is_htmx():
        return _detail(found(domain.get_idea, idea_id, current_user.id), "engagement")
    return see_other(url_for("ideas.detail", idea_id=idea_id))


@bp.route("/<int:idea_id>/support", methods=["POST"])
@allow(SIGNED_IN)
def support(idea_id: int):
    """Support the idea (once), or take the support back (`on=0`)."""
    return _toggle(idea_id, domain.set_support, "on")


@bp.route("/<int:idea_id>/follow", methods=["POST"])
@allow(SIGNED_IN)
def follow(idea_id: int):
    """Follow the idea, or stop following it (`on=0`)."""
    return _toggle(idea_id, domain.set_follow, "on")


@bp.route("/<int:idea_id>/comments", methods=["POST"])
@allow(SIGNED_IN)
def comment(idea_id: int):
    """Add a comment; htmx swaps the comment list and a fresh form in place."""
    idea = found(domain.get_idea, idea_id, current_user.id)
    body = request.form.get("body", "")
    try:
        domain.add_comment(
            get_db(), idea_id, current_user.id, body, request.form.get("names_confirmed") == "1"
        )
    except NotFound:
        abort(404)
    except DomainError as error:
        errors, marked = guard_errors(error)
        return _detail(
            idea,
            "comments",
            status=422,
            errors=errors,
            marked=marked,
            form={"body": body},
            ask_names=names_to_confirm(marked),
        )
    if is_htmx():
        return _detail(idea, "comments")
    return see_other(url_for("ideas.detail", idea_id=idea_id) + "#comments")


@bp.route("/<int:idea_id>/answer", methods=["POST"])
@allow("leader")
def answer(idea_id: int):
    """A leader answers: in dialogue, accepted for a pilot, parked or declined."""
    idea = found(domain.get_idea, idea_id, current_user.id)
    form = request.form.to_dict()
    try:
        idea = domain.answer_idea(
            get_db(),
            idea_id,
            actor_id=current_user.id,
            kind=form.get("kind", ""),
            reason=form.get("reason", ""),
            look_again_on=form.get("look_again_on", ""),
            team_id=form.get("team_id"),
            names_confirmed=form.get("names_confirmed") == "1",
        )
    except NotFound:
        abort(404)
    except DomainError as error:
        errors, marked = guard_errors(error)
        return _detail(
            idea,
            "answer_form",
            status=422,
            errors=errors,
            marked=marked,
            form=form,
            ask_names=names_to_confirm(marked),
        )
    if idea["status"] == "accepted" and idea["pilot_id"]:
        flash(_("Accepted. A pilot draft is made for the team to plan."), "success")
    else:
        flash(_("Your answer is saved. The proposer and the supporters can read it."), "success")
    return go_to(url_for("ideas.detail", idea_id=idea_id))


# ---- deadlines ---------------------------------------------------------------


@bp.route("/deadlines")
@allow("leader")
def deadlines():
    """The units a leader leads, with the days each has to answer an idea."""
    return _deadlines_page()


def _deadlines_page(status=200, errors=None, editing=None):
    db = get_db()
    reach = story_domain.leader_units(db, current_user.id)
    units = [u for u in org.unit_tree(db) if u["id"] in reach]
    return page(
        "ideas/deadlines.html",
        "deadlines",
        status=status,
        units=units,
        errors=errors or {},
        editing=editing,
    )


@bp.route("/deadlines/<int:unit_id>", methods=["POST"])
@allow("leader")
def set_deadline(unit_id: int):
    """Set how many days a unit has to answer a proposed idea."""
    db = get_db()
    if unit_id not in story_domain.leader_units(db, current_user.id):
        abort(404)
    try:
        domain.set_answer_days(db, unit_id, request.form.get("answer_days"), current_user.id)
    except DomainError as error:
        return _deadlines_page(422, {"answer_days": _(error.message, **error.params)}, unit_id)
    if is_htmx():
        return _deadlines_page()
    flash(_("Saved."), "success")
    return see_other(url_for("ideas.deadlines"))
