"""The organisation: units as a tree, the people in it, and the roles they hold.

A unit is a municipality, sector, service or team. Frontline roles belong to a
team; a leader role belongs to a unit and covers everything beneath it. Analyst,
case handler and admin roles are organisation-wide. A person may hold several.
"""

from __future__ import annotations

import re

from pilots.db import utc_now
from pilots.domain import DomainError, NotFound, audit

KINDS = ("municipality", "sector", "service", "team")
ROLES = ("frontline", "leader", "analyst", "case_handler", "admin")
UNIT_ROLES = ("frontline", "leader")
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# ---- units -----------------------------------------------------------------


def unit_by_slug(db, slug: str) -> dict:
    row = next(db.query("SELECT * FROM unit WHERE slug = ?", [slug]), None)
    if row is None:
        raise NotFound(f"No unit with slug {slug!r}")
    return row


def get_unit(db, unit_id: int) -> dict:
    row = next(db.query("SELECT * FROM unit WHERE id = ?", [unit_id]), None)
    if row is None:
        raise NotFound(f"No unit {unit_id}")
    return row


def _validate_unit(name: str, slug: str) -> tuple[str, str]:
    name, slug = (name or "").strip(), (slug or "").strip()
    if not name:
        raise DomainError("A unit needs a name.", "name")
    if len(name) > 200:
        raise DomainError("A unit name can be at most 200 characters.", "name")
    if not SLUG_PATTERN.match(slug):
        raise DomainError(
            "The short name %(slug)s may only hold a-z, 0-9 and single hyphens.", "slug", slug=slug
        )
    return name, slug


def _kind_below(db, parent: dict | None) -> str:
    if parent is None:
        return "municipality"
    position = KINDS.index(parent["kind"])
    if position == len(KINDS) - 1:
        raise DomainError("A team cannot have units beneath it.", "parent")
    return KINDS[position + 1]


def create_unit(
    db,
    name: str,
    slug: str,
    parent_slug: str | None = None,
    kind: str | None = None,
    actor_id: int | None = None,
) -> dict:
    """Add a unit under `parent_slug` (or a new municipality); kind follows the depth."""
    name, slug = _validate_unit(name, slug)
    with db.atomic():
        try:
            parent = unit_by_slug(db, parent_slug) if parent_slug else None
        except NotFound:
            raise DomainError("There is no unit %(slug)s.", "parent", slug=parent_slug) from None
        expected = _kind_below(db, parent)
        if kind and kind != expected:
            raise DomainError(
                "A unit under this parent is a %(expected)s, not a %(kind)s.",
                "kind",
                expected=expected,
                kind=kind,
            )
        if next(db.query("SELECT 1 FROM unit WHERE slug = ?", [slug]), None):
            raise DomainError("The short name %(slug)s is already taken.", "slug", slug=slug)
        unit = {
            "name": name,
            "slug": slug,
            "kind": expected,
            "parent_id": parent["id"] if parent else None,
            "created_at": utc_now(),
        }
        unit["id"] = db["unit"].insert(unit).last_pk
        audit.record(
            db,
            actor_id=actor_id,
            action="unit.create",
            object_type="unit",
            object_id=unit["id"],
            after=unit,
        )
    return unit


def rename_unit(db, unit_id: int, name: str, actor_id: int | None) -> dict:
    """Give a unit a new display name (its slug stays, scripts rely on it)."""
    with db.atomic():
        before = get_unit(db, unit_id)
        name, _ = _validate_unit(name, before["slug"])
        db.execute("UPDATE unit SET name = ? WHERE id = ?", [name, unit_id])
        after = get_unit(db, unit_id)
        audit.record(
            db,
            actor_id=actor_id,
            action="unit.rename",
            object_type="unit",
            object_id=unit_id,
            before={"name": before["name"]},
            after={"name": name},
        )
    return after


def unit_tree(db) -> list[dict]:
    """All units in tree order, each with its `depth` and `path` of names."""
    return list(
        db.query(
            """
            WITH RECURSIVE tree(id, depth, sort_path) AS (
                SELECT id, 0, name FROM unit WHERE parent_id IS NULL
                UNION ALL
                SELECT u.id, t.depth + 1, t.sort_path || ' / ' || u.name
                FROM unit u JOIN tree t ON u.parent_id = t.id
            )
            SELECT u.*, t.depth, t.sort_path AS path,
                   (SELECT count(*) FROM role r WHERE r.unit_id = u.id) AS role_count
            FROM tree t JOIN unit u ON u.id = t.id
            ORDER BY t.sort_path"""
        )
    )


def unit_and_below(db, unit_id: int) -> list[int]:
    """The ids of a unit and every unit beneath it (a leader's reach)."""
    return [
        row["id"]
        for row in db.query(
            """WITH RECURSIVE below(id) AS (
                   SELECT ? UNION ALL SELECT u.id FROM unit u JOIN below b ON u.parent_id = b.id
               ) SELECT id FROM below""",
            [unit_id],
        )
    ]


def teams(db) -> list[dict]:
    return list(db.query("SELECT * FROM unit WHERE kind = 'team' ORDER BY name"))


# ---- people and roles -------------------------------------------------------


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def get_user(db, user_id: int) -> dict:
    row = next(db.query("SELECT * FROM users WHERE id = ?", [user_id]), None)
    if row is None:
        raise NotFound(f"No user {user_id}")
    return row


def user_by_email(db, email: str) -> dict | None:
    return next(db.query("SELECT * FROM users WHERE email = ?", [normalise_email(email)]), None)


def _validate_person(name: str, email: str) -> tuple[str, str]:
    name, email = (name or "").strip(), normalise_email(email)
    if not name:
        raise DomainError("A person needs a name.", "name")
    if not EMAIL_PATTERN.match(email):
        raise DomainError("%(email)s is not an e-mail address.", "email", email=email)
    return name, email


def parse_role(text: str) -> tuple[str, str | None]:
    """Read `frontline:TEAM`, `leader:UNIT`, `analyst`, `case_handler` or `admin`."""
    role, _, unit_slug = (text or "").partition(":")
    role = role.strip().replace("-", "_")
    if role not in ROLES:
        raise DomainError(
            "Unknown role %(role)s; use one of %(roles)s.",
            "role",
            role=role,
            roles=", ".join(ROLES),
        )
    if role in UNIT_ROLES and not unit_slug:
        raise DomainError("The role %(role)s needs a unit: %(role)s:SLUG.", "role", role=role)
    if role not in UNIT_ROLES and unit_slug:
        raise DomainError(
            "The role %(role)s is organisation-wide; give no unit.", "role", role=role
        )
    return role, unit_slug or None


def create_user(
    db,
    email: str,
    name: str,
    password_hash: str,
    roles: list[tuple[str, str | None]] = (),
    language: str | None = None,
    actor_id: int | None = None,
) -> dict:
    """Add a person with their roles, in one unit of work."""
    name, email = _validate_person(name, email)
    with db.atomic():
        if user_by_email(db, email):
            raise DomainError(
                "There is already a user with e-mail %(email)s.", "email", email=email
            )
        user = {
            "email": email,
            "name": name,
            "password_hash": password_hash,
            "language": language,
            "active": 1,
            "session_version": 1,
            "created_at": utc_now(),
        }
        user_id = db["users"].insert(user).last_pk
        for role, unit_slug in roles:
            _insert_role(db, user_id, role, unit_slug)
        audit.record(
            db,
            actor_id=actor_id,
            action="user.create",
            object_type="user",
            object_id=user_id,
            after={"email": email, "name": name, "roles": [list(r) for r in roles]},
        )
    return get_user(db, user_id)


def update_user(db, user_id: int, name: str, email: str, actor_id: int | None) -> dict:
    """Change a person's name or e-mail address."""
    name, email = _validate_person(name, email)
    with db.atomic():
        before = get_user(db, user_id)
        other = user_by_email(db, email)
        if other and other["id"] != user_id:
            raise DomainError(
                "There is already a user with e-mail %(email)s.", "email", email=email
            )
        db.execute("UPDATE users SET name = ?, email = ? WHERE id = ?", [name, email, user_id])
        audit.record(
            db,
            actor_id=actor_id,
            action="user.update",
            object_type="user",
            object_id=user_id,
            before={"name": before["name"], "email": before["email"]},
            after={"name": name, "email": email},
        )
    return get_user(db, user_id)


def set_active(db, user_id: int, active: bool, actor_id: int | None) -> dict:
    """Disable or enable an account; disabling ends every session it has."""
    with db.atomic():
        before = get_user(db, user_id)
        if actor_id == user_id and not active:
            raise DomainError("You cannot disable your own account.", "active")
        db.execute(
            "UPDATE users SET active = ?, session_version = session_version + ? WHERE id = ?",
            [int(active), 0 if active else 1, user_id],
        )
        audit.record(
            db,
            actor_id=actor_id,
            action="user.enable" if active else "user.disable",
            object_type="user",
            object_id=user_id,
            before={"active": bool(before["active"])},
            after={"active": active},
        )
    return get_user(db, user_id)


def add_role(db, user_id: int, role: str, unit_slug: str | None, actor_id: int | None) -> dict:
    """Give a person a role (at a unit, for frontline and leader)."""
    with db.atomic():
        get_user(db, user_id)
        row = _insert_role(db, user_id, role, unit_slug)
        audit.record(
            db,
            actor_id=actor_id,
            action="role.add",
            object_type="user",
            object_id=user_id,
            after={"role": role, "unit": unit_slug},
        )
    return row


def _insert_role(db, user_id: int, role: str, unit_slug: str | None) -> dict:
    if role not in ROLES:
        raise DomainError("Unknown role %(role)s.", "role", role=role)
    unit = None
    if role in UNIT_ROLES:
        if not unit_slug:
            raise DomainError("The role %(role)s needs a unit.", "unit", role=role)
        try:
            unit = unit_by_slug(db, unit_slug)
        except NotFound:
            raise DomainError("There is no unit %(slug)s.", "unit", slug=unit_slug) from None
        if role == "frontline" and unit["kind"] != "team":
            raise DomainError(
                "Frontline roles belong to a team; %(unit)s is not a team.",
                "unit",
                unit=unit["name"],
            )
    unit_id = unit["id"] if unit else None
    exists = next(
        db.query(
            "SELECT id FROM role WHERE user_id = ? AND role = ? AND unit_id IS ?",
            [user_id, role, unit_id],
        ),
        None,
    )
    if exists:
        raise DomainError("The person already holds this role.", "role")
    row = {"user_id": user_id, "role": role, "unit_id": unit_id}
    row["id"] = db["role"].insert(row).last_pk
    return row


def remove_role(db, role_id: int, actor_id: int | None) -> None:
    """Take a role away from a person."""
    with db.atomic():
        row = next(
            db.query(
                """SELECT r.*, u.slug FROM role r LEFT JOIN unit u ON u.id = r.unit_id
                   WHERE r.id = ?""",
                [role_id],
            ),
            None,
        )
        if row is None:
            raise NotFound(f"No role {role_id}")
        if row["role"] == "admin" and row["user_id"] == actor_id:
            raise DomainError("You cannot remove your own admin role.", "role")
        db.execute("DELETE FROM role WHERE id = ?", [role_id])
        audit.record(
            db,
            actor_id=actor_id,
            action="role.remove",
            object_type="user",
            object_id=row["user_id"],
            before={"role": row["role"], "unit": row["slug"]},
        )


def roles_of(db, user_id: int) -> list[dict]:
    """A person's roles with the unit's name and slug."""
    return list(
        db.query(
            """SELECT r.id, r.role, r.unit_id, u.name AS unit_name, u.slug AS unit_slug
               FROM role r LEFT JOIN unit u ON u.id = r.unit_id
               WHERE r.user_id = ? ORDER BY r.role, u.name""",
            [user_id],
        )
    )


def search_users(db, query: str = "", limit: int = 20, offset: int = 0) -> tuple[list, int]:
    """People whose name or e-mail contains `query`, a page of them and the total."""
    pattern = f"%{(query or '').strip().casefold()}%"
    where = "WHERE casefold(name) LIKE ? OR email LIKE ?"
    total = next(db.query(f"SELECT count(*) AS n FROM users {where}", [pattern, pattern]))["n"]  # noqa: S608
    rows = list(
        db.query(
            f"SELECT * FROM users {where} ORDER BY name LIMIT ? OFFSET ?",  # noqa: S608
            [pattern, pattern, limit, offset],
        )
    )
    for row in rows:
        row["roles"] = roles_of(db, row["id"])
    return rows, total
