"""Units, people and roles, as domain functions without Flask."""

import pytest

from pilots import migrations
from pilots.db import connect
from pilots.domain import DomainError
from pilots.domain import organisation as org


@pytest.fixture
def empty_db(tmp_path):
    db = connect(str(tmp_path / "o.sqlite3"))
    migrations.apply(db)
    return db


def test_units_form_a_tree_whose_kind_follows_depth(empty_db):
    kinds = [
        org.create_unit(empty_db, "Fjordvik", "fjordvik")["kind"],
        org.create_unit(empty_db, "Helse", "helse", "fjordvik")["kind"],
        org.create_unit(empty_db, "Hjemmetjenesten", "hjemme", "helse")["kind"],
        org.create_unit(empty_db, "Sone nord", "nord", "hjemme")["kind"],
    ]
    assert kinds == ["municipality", "sector", "service", "team"]
    with pytest.raises(DomainError, match="team cannot have units"):
        org.create_unit(empty_db, "Under", "under", "nord")
    tree = org.unit_tree(empty_db)
    assert [(u["slug"], u["depth"]) for u in tree] == [
        ("fjordvik", 0),
        ("helse", 1),
        ("hjemme", 2),
        ("nord", 3),
    ]
    helse = org.unit_by_slug(empty_db, "helse")
    below = org.unit_and_below(empty_db, helse["id"])
    assert len(below) == 3


@pytest.mark.parametrize(
    ("name", "slug", "field"),
    [
        ("", "ok", "name"),
        ("Ok", "Not OK", "slug"),
        ("Ok", "a--b", "slug"),
        ("x" * 201, "ok", "name"),
    ],
)
def test_a_bad_unit_is_refused_naming_the_field(empty_db, name, slug, field):
    with pytest.raises(DomainError) as error:
        org.create_unit(empty_db, name, slug)
    assert error.value.field == field
    assert empty_db["unit"].count == 0


def test_slugs_are_unique_and_unknown_parents_named(empty_db):
    org.create_unit(empty_db, "A", "a")
    with pytest.raises(DomainError, match="already taken"):
        org.create_unit(empty_db, "B", "a")
    with pytest.raises(DomainError, match="no unit nowhere"):
        org.create_unit(empty_db, "C", "c", "nowhere")


def test_a_person_holds_several_roles_and_frontline_needs_a_team(empty_db):
    org.create_unit(empty_db, "K", "k")
    org.create_unit(empty_db, "S", "s", "k")
    org.create_unit(empty_db, "V", "v", "s")
    org.create_unit(empty_db, "T", "t", "v")
    user = org.create_user(
        empty_db,
        "Kari@Example.no ",
        "Kari",
        "hash",
        roles=[org.parse_role("frontline:t"), org.parse_role("leader:s"), ("analyst", None)],
    )
    assert user["email"] == "kari@example.no"
    assert {r["role"] for r in org.roles_of(empty_db, user["id"])} == {
        "frontline",
        "leader",
        "analyst",
    }
    with pytest.raises(DomainError, match="not a team"):
        org.add_role(empty_db, user["id"], "frontline", "s", actor_id=None)
    with pytest.raises(DomainError, match="already holds"):
        org.add_role(empty_db, user["id"], "analyst", None, actor_id=None)


def test_a_failed_user_creation_leaves_no_user_behind(empty_db):
    with pytest.raises(DomainError, match="no unit"):
        org.create_user(empty_db, "a@b.no", "A", "hash", roles=[("frontline", "missing")])
    assert empty_db["users"].count == 0


@pytest.mark.parametrize("text", ["boss", "frontline", "analyst:x", "leader:"])
def test_role_text_is_parsed_strictly(text):
    with pytest.raises(DomainError):
        org.parse_role(text)


def test_search_folds_norwegian_letters(empty_db):
    org.create_user(empty_db, "ase@x.no", "Åse Ødegård", "h")
    org.create_user(empty_db, "bo@x.no", "Bo Berg", "h")
    rows, total = org.search_users(empty_db, "åse ø")
    assert total == 1 and rows[0]["name"] == "Åse Ødegård"
    rows, total = org.search_users(empty_db, "ÅSE")
    assert total == 1
    rows, total = org.search_users(empty_db, "", limit=1, offset=1)
    assert total == 2 and len(rows) == 1


def test_nobody_disables_themselves(empty_db):
    user = org.create_user(empty_db, "a@b.no", "A", "h")
    with pytest.raises(DomainError):
        org.set_active(empty_db, user["id"], False, actor_id=user["id"])
