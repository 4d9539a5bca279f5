"""Administration: units, people and their roles (admins only), and the audit trail.

Lists use active search and paging inside real GET forms, so they work without
JavaScript; rows are edited inline with htmx and fall back to full pages.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from pilots.domain import DomainError, accounts, audit
from pilots.domain import organisation as org
from pilots.web import get_db
from pilots.web.access import allow, is_htmx
from pilots.web.pages import Paging, found, page, page_number, see_other, translated

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _see_other(endpoint: str, **values):
    return see_other(url_for(endpoint, **values))


# ---- units -----------------------------------------------------------------


@bp.route("/units")
@allow("admin")
def units():
    """The organisation tree, with a form to add a unit."""
    tree = org.unit_tree(get_db())
    return page("admin/units.html", units=tree, errors={}, form={"parent": _usual_parent(tree)})


def _usual_parent(tree: list[dict]) -> str:
    """Where a new unit most likely belongs: under the municipality when there is just
    one (a second municipality is rare; it stays one choice away), else nowhere yet."""
    roots = [unit for unit in tree if unit["depth"] == 0]
    return roots[0]["slug"] if len(roots) == 1 else ""


@bp.route("/units", methods=["POST"])
@allow("admin")
def create_unit():
    """Add a unit beneath a parent, or a new municipality."""
    db = get_db()
    form = request.form.to_dict()
    try:
        unit = org.create_unit(
            db,
            form.get("name", ""),
            form.get("slug", ""),
            form.get("parent") or None,
            actor_id=current_user.id,
        )
    except DomainError as error:
        return page(
            "admin/units.html",
            "unit_form",
            status=422,
            units=org.unit_tree(db),
            errors=translated(error),
            form=form,
        )
    flash(_("The unit %(name)s was added.", name=unit["name"]), "success")
    return _see_other("admin.units")


@bp.route("/units/<int:unit_id>")
@allow("admin")
def unit_row(unit_id: int):
    """One unit's row (htmx swaps it back in after editing)."""
    found(org.get_unit, unit_id)
    return _unit_row(unit_id)


@bp.route("/units/<int:unit_id>/edit")
@allow("admin")
def edit_unit(unit_id: int):
    """The unit's row as a form, to rename it in place."""
    found(org.get_unit, unit_id)
    return _unit_row(unit_id, editing_id=unit_id)


@bp.route("/units/<int:unit_id>", methods=["POST"])
@allow("admin")
def rename_unit(unit_id: int):
    """Save a unit's new name."""
    found(org.get_unit, unit_id)
    db = get_db()
    try:
        org.rename_unit(db, unit_id, request.form.get("name", ""), current_user.id)
    except DomainError as error:
        return _unit_row(
            unit_id,
            editing_id=unit_id,
            status=422,
            errors=translated(error),
            name=request.form.get("name", ""),
        )
    if is_htmx():
        return _unit_row(unit_id)
    return _see_other("admin.units")


def _unit_row(unit_id: int, editing_id=None, status=200, errors=None, name=None):
    """The units page, or for htmx only the row of `unit_id` (a form when editing)."""
    tree = org.unit_tree(get_db())
    row = next(u for u in tree if u["id"] == unit_id)
    if name is not None:
        row["name"] = name
    return page(
        "admin/units.html",
        "unit_row",
        status=status,
        units=tree,
        unit=row,
        editing_id=editing_id,
        errors=errors or {},
        form={},
    )


# ---- people ----------------------------------------------------------------


@bp.route("/users")
@allow("admin")
def users():
    """People, searched by name or e-mail as one types, a page at a time."""
    db = get_db()
    query = request.args.get("q", "")
    size = 20
    rows, total = org.search_users(db, query, limit=size, offset=(page_number() - 1) * size)
    paging = Paging(page_number(), size, total)
    return page("admin/users.html", "results", people=rows, q=query, paging=paging)


@bp.route("/users/new")
@allow("admin")
def new_user():
    """The form to add a person."""
    return page("admin/user_new.html", errors={}, form={}, teams=org.unit_tree(get_db()))


@bp.route("/users", methods=["POST"])
@allow("admin")
def create_user():
    """Add a person with a generated password, shown once."""
    db = get_db()
    form = request.form.to_dict()
    password = accounts.generate_password()
    roles = []
    try:
        if form.get("role"):
            roles.append(org.parse_role(form["role"]))
        user = org.create_user(
            db,
            form.get("email", ""),
            form.get("name", ""),
            accounts.hash_password(password),
            roles=roles,
            actor_id=current_user.id,
        )
    except DomainError as error:
        return page(
            "admin/user_new.html",
            "user_form",
            status=422,
            errors=translated(error),
            form=form,
            teams=org.unit_tree(db),
        )
    return page("admin/password_once.html", person=user, password=password)


def _person_page(person: dict, block=None, status=200, errors=None):
    db = get_db()
    return page(
        "admin/user_detail.html",
        block,
        status=status,
        person=person,
        roles=org.roles_of(db, person["id"]),
        units=org.unit_tree(db),
        all_roles=org.ROLES,
        errors=errors or {},
    )


@bp.route("/users/<int:user_id>")
@allow("admin")
def user_detail(user_id: int):
    """One person: details, roles, and account actions."""
    return _person_page(found(org.get_user, user_id))


@bp.route("/users/<int:user_id>", methods=["POST"])
@allow("admin")
def update_user(user_id: int):
    """Save a person's name and e-mail."""
    person = found(org.get_user, user_id)
    try:
        org.update_user(
            get_db(),
            user_id,
            request.form.get("name", ""),
            request.form.get("email", ""),
            current_user.id,
        )
    except DomainError as error:
        person = {**person, **request.form.to_dict()}
        return _person_page(person, "details", status=422, errors=translated(error))
    flash(_("Saved."), "success")
    return _see_other("admin.user_detail", user_id=user_id)


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@allow("admin")
def set_active(user_id: int):
    """Disable (signing the person out everywhere) or enable an account."""
    found(org.get_user, user_id)
    active = request.form.get("active") == "1"
    try:
        org.set_active(get_db(), user_id, active, current_user.id)
    except DomainError as error:
        flash(_(error.message, **error.params), "error")
    else:
        flash(_("The account is enabled.") if active else _("The account is disabled."), "success")
    return _see_other("admin.user_detail", user_id=user_id)


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@allow("admin")
def reset_password(user_id: int):
    """Give a person a new generated password, shown once; their sessions end."""
    person = found(org.get_user, user_id)
    password = accounts.generate_password()
    accounts.set_password(get_db(), user_id, password, current_user.id)
    return page("admin/password_once.html", person=person, password=password)


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
@allow("admin")
def add_role(user_id: int):
    """Give a person a role."""
    person = found(org.get_user, user_id)
    role = request.form.get("role", "")
    try:
        org.add_role(get_db(), user_id, role, request.form.get("unit") or None, current_user.id)
    except DomainError as error:
        return _person_page(person, "roles", status=422, errors=translated(error))
    if is_htmx():
        return _person_page(person, "roles")
    return _see_other("admin.user_detail", user_id=user_id)


@bp.route("/users/<int:user_id>/roles/<int:role_id>/delete", methods=["POST"])
@allow("admin")
def remove_role(user_id: int, role_id: int):
    """Take a role away from a person."""
    person = found(org.get_user, user_id)
    if not any(r["id"] == role_id for r in org.roles_of(get_db(), user_id)):
        abort(404)
    try:
        org.remove_role(get_db(), role_id, current_user.id)
    except DomainError as error:
        return _person_page(person, "roles", status=422, errors=translated(error))
    if is_htmx():
        return _person_page(person, "roles")
    return _see_other("admin.user_detail", user_id=user_id)


# ---- audit -----------------------------------------------------------------


@bp.route("/audit")
@allow("admin", "leader")
def audit_trail():
    """The recorded state changes this person may read, newest first.

    Admins read the whole trail; a leader reads what concerns the units they lead and
    their own actions (`audit.events_for`).
    """
    everything = current_user.has_role("admin")
    size = 50
    number = page_number()
    rows, total = audit.events_for(
        get_db(),
        current_user.id,
        everything=everything,
        limit=size,
        offset=(number - 1) * size,
    )
    paging = Paging(number, size, total)
    return page("admin/audit.html", "results", events=rows, paging=paging, everything=everything)
