"""Story pages: the searchable list, the form, the story with what became of it,
withdrawal of consent, the story of the week and its printable page.

The list is an active search inside a real GET form with "load more" paging, so it
works without JavaScript. A form refused by the personal-data guard comes back
with the offending text marked (escaped text in <mark>, never markup from the user).
"""

from __future__ import annotations

from flask import Blueprint, flash, make_response, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from pilots.domain import DomainError, personal_data
from pilots.domain import ideas as idea_domain
from pilots.domain import organisation as org
from pilots.domain import stories as domain
from pilots.web import get_db
from pilots.web.access import SIGNED_IN, allow, is_htmx
from pilots.web.pages import found, id_arg, page, page_number, see_other, translated

bp = Blueprint("stories", __name__, url_prefix="/stories")
PAGE_SIZE = 20
AUTHORS = ("frontline", "leader")
STORY_FIELDS = (*domain.LIMITS, "source", "consent_how", "consent_on", "tags", "unit_id")


# ---- shared with the idea pages -----------------------------------------------


def guard_errors(error: DomainError) -> tuple[dict, dict]:
    """Field messages and, for the personal-data guard, each field's text cut into
    marked pieces with the reasons in the reader's language."""
    if not isinstance(error, personal_data.PersonalDataError):
        return translated(error), {}
    errors, marked = {}, {}
    for field, findings in error.findings.items():
        refused = any(f.refused for f in findings)
        errors[field] = (
            _("Remove the highlighted text: it may identify someone.")
            if refused
            else _("Check the highlighted words: they may be a person's name.")
        )
        marked[field] = {
            "pieces": personal_data.segments(error.texts[field], findings),
            "reasons": [_(personal_data.EXPLANATIONS[f.kind], text=f.text) for f in findings],
        }
    errors["form"] = _(error.message)
    return errors, marked


def go_to(url: str):
    """After a saved form: a 303 for a plain browser; for htmx an `HX-Redirect`, since
    XMLHttpRequest would follow a 303 itself and swap the whole next page into the form."""
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return see_other(url)


def names_to_confirm(marked: dict) -> bool:
    return any(kind == "name" for m in marked.values() for _piece, kind in m["pieces"])


def labels() -> dict:
    """Words for the codes stored in stories and ideas, in the reader's language."""
    return {
        "source": {
            "conversation": _("A conversation with the citizen"),
            "user_council": _("User council"),
            "complaint": _("Complaint"),
            "leader_gathering": _("Leaders' gathering with citizens"),
            "survey": _("Survey"),
        },
        "consent": {
            "oral": _("Orally"),
            "written": _("In writing"),
            "digital": _("Digitally"),
        },
        "idea_status": {
            "draft": _("Draft"),
            "proposed": _("Proposed, waiting for an answer"),
            "dialogue": _("In dialogue"),
            "accepted": _("Accepted for a pilot"),
            "parked": _("Parked"),
            "declined": _("Declined"),
        },
        "pilot_status": {
            "draft": _("being planned"),
            "submitted": _("waiting for approval"),
            "approved": _("approved, about to start"),
            "running": _("running"),
            "paused": _("paused"),
            "stopped": _("stopped"),
            "concluded": _("concluded"),
        },
        "decision": {
            "adopt": _("keep doing it (adopt)"),
            "adapt": _("change it and try again (adapt)"),
            "abandon": _("stop doing it (abandon)"),
        },
    }


@bp.app_context_processor
def story_labels():
    return {"labels": labels}


@bp.app_template_global()
def stories_of_the_week():
    """This week's stories for the signed-in leader (for the start page)."""
    if not current_user.is_authenticated or not current_user.has_role("leader"):
        return []
    return domain.stories_of_the_week(get_db(), current_user.id)


@bp.app_template_global()
def ideas_waiting():
    """How many ideas wait for the signed-in leader's answer, and how many are late."""
    if not current_user.is_authenticated or not current_user.has_role("leader"):
        return {"total": 0, "overdue": 0}
    return idea_domain.waiting_for(get_db(), current_user.id)


# ---- list --------------------------------------------------------------------


@bp.route("")
@allow(SIGNED_IN)
def index():
    """Stories, searched as one types and filtered by unit and need, newest first."""
    db = get_db()
    q = request.args.get("q", "")
    unit_id, tag = id_arg("unit"), request.args.get("tag") or None
    number = page_number()
    more = is_htmx() and request.args.get("more") == "1"
    # Without JavaScript, page N shows everything up to N; "load more" asks for one page.
    offset, limit = ((number - 1) * PAGE_SIZE, PAGE_SIZE) if more else (0, number * PAGE_SIZE)
    rows, total = domain.search_stories(db, q, unit_id=unit_id, tag=tag, limit=limit, offset=offset)
    args = {"q": q, "unit": unit_id or "", "tag": tag or ""}
    return page(
        "stories/index.html",
        "items" if more else "results",
        stories=rows,
        total=total,
        q=q,
        unit_id=unit_id,
        tag=tag,
        args=args,
        next_page=number + 1 if number * PAGE_SIZE < total else None,
        units=org.unit_tree(db),
        tags=domain.all_tags(db),
        may_write=current_user.has_any_role(AUTHORS),
    )


# ---- create --------------------------------------------------------------------


def _form_page(form, status=200, errors=None, marked=None):
    db = get_db()
    return page(
        "stories/new.html",
        "story_form",
        status=status,
        form=form,
        errors=errors or {},
        marked=marked or {},
        ask_names=names_to_confirm(marked or {}),
        units=domain.unit_choices(db, current_user.id),
        today=domain.today_of(None).isoformat(),
    )


@bp.route("/new")
@allow(*AUTHORS)
def new():
    """The form to write down a citizen's story."""
    choices = domain.unit_choices(get_db(), current_user.id)
    form = {"unit_id": str(choices[0]["id"]) if len(choices) == 1 else ""}
    return _form_page(form)


@bp.route("", methods=["POST"])
@allow(*AUTHORS)
def create():
    """Save a story, unless the personal-data guard or a missing field says no."""
    form = request.form.to_dict()
    try:
        story = domain.create_story(
            get_db(),
            actor_id=current_user.id,
            names_confirmed=form.get("names_confirmed") == "1",
            **{k: form.get(k, "") for k in STORY_FIELDS},
        )
    except DomainError as error:
        errors, marked = guard_errors(error)
        return _form_page(form, 422, errors, marked)
    flash(_("The story is saved. Thank you for bringing the citizen's voice in."), "success")
    return go_to(url_for("stories.detail", story_id=story["id"]))


# ---- one story -----------------------------------------------------------------


def _detail(story: dict, status=200, errors=None, block=None):
    db = get_db()
    direct = [
        r for r in current_user.roles if r["role"] == "leader"
    ]  # a story of the week is chosen for a unit one leads directly
    return page(
        "stories/detail.html",
        block,
        status=status,
        story=story,
        trace=domain.trace(db, story["id"], current_user.id),
        may_withdraw=not story["withdrawn"] and domain.may_withdraw(db, story, current_user.id),
        leader_units=direct,
        may_write=current_user.has_any_role(AUTHORS),
        errors=errors or {},
    )


@bp.route("/<int:story_id>")
@allow(SIGNED_IN)
def detail(story_id: int):
    """One story: the citizen's words and what became of them."""
    return _detail(found(domain.get_story, story_id))


@bp.route("/<int:story_id>/withdraw", methods=["POST"])
@allow(*AUTHORS)
def withdraw(story_id: int):
    """The citizen withdrew consent: erase the story's words."""
    found(domain.get_story, story_id)
    try:
        domain.withdraw_story(get_db(), story_id, current_user.id)
    except DomainError as error:
        flash(_(error.message, **error.params), "error")
    else:
        flash(_("The story is withdrawn. Its words are erased; links to it say so."), "success")
    return see_other(url_for("stories.detail", story_id=story_id))


@bp.route("/<int:story_id>/week", methods=["POST"])
@allow("leader")
def pick(story_id: int):
    """A leader makes this the story of the week for a unit they lead."""
    story = found(domain.get_story, story_id)
    try:
        domain.pick_of_the_week(
            get_db(),
            story_id,
            request.form.get("unit_id"),
            current_user.id,
            request.form.get("note", ""),
        )
    except DomainError as error:
        errors, _marked = guard_errors(error)
        return _detail(story, 422, {"week": next(iter(errors.values()))}, "week_form")
    flash(_("This is now the story of the week. It shows on the start page."), "success")
    return go_to(url_for("stories.detail", story_id=story_id))


@bp.route("/<int:story_id>/print")
@allow(SIGNED_IN)
def printable(story_id: int):
    """A clean page of the story to print for a leadership meeting."""
    story = found(domain.get_story, story_id)
    return page(
        "stories/print.html",
        story=story,
        trace=domain.trace(get_db(), story_id, current_user.id),
    )
