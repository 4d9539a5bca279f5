"""Passwords, server-side sessions and the hash-chained audit trail."""

import sqlite3

import pytest

from pilots.demo import DEMO_PASSWORD
from pilots.domain import DomainError, accounts, audit
from pilots.domain import organisation as org


def test_passwords_are_hashed_with_argon2id(db):
    user = org.user_by_email(db, "kari@fjordvik.example")
    assert user["password_hash"].startswith("$argon2id$")
    assert accounts.authenticate(db, "KARI@fjordvik.example", DEMO_PASSWORD)["id"] == user["id"]
    assert accounts.authenticate(db, "kari@fjordvik.example", "wrong password") is None
    assert accounts.authenticate(db, "nobody@fjordvik.example", DEMO_PASSWORD) is None


def test_short_passwords_are_refused():
    with pytest.raises(DomainError, match="at least 12"):
        accounts.hash_password("short")


def test_logout_revokes_only_that_session(db):
    user = org.user_by_email(db, "kari@fjordvik.example")
    first, second = accounts.start_session(db, user["id"]), accounts.start_session(db, user["id"])
    assert first != second
    accounts.end_session(db, first, user["id"])
    assert accounts.session_user(db, first) is None
    assert accounts.session_user(db, second)["id"] == user["id"]


def test_password_change_and_disable_end_every_session(db):
    user = org.user_by_email(db, "kari@fjordvik.example")
    token = accounts.start_session(db, user["id"])
    accounts.change_password(db, user["id"], DEMO_PASSWORD, "a brand new passphrase")
    assert accounts.session_user(db, token) is None
    token = accounts.start_session(db, user["id"])
    org.set_active(db, user["id"], False, actor_id=None)
    assert accounts.session_user(db, token) is None
    assert accounts.authenticate(db, "kari@fjordvik.example", "a brand new passphrase") is None


def test_wrong_current_password_is_refused(db):
    user = org.user_by_email(db, "kari@fjordvik.example")
    with pytest.raises(DomainError) as error:
        accounts.change_password(db, user["id"], "not it at all", "another passphrase here")
    assert error.value.field == "current_password"


def test_every_state_change_writes_one_audit_event(db):
    before = db["audit_event"].count
    unit = org.create_unit(db, "Ny enhet", "ny-enhet", "helse-velferd")
    org.rename_unit(db, unit["id"], "Nytt navn", actor_id=None)
    assert db["audit_event"].count == before + 2
    last = audit.events(db, limit=1)[0]
    assert last["action"] == "unit.rename" and "Nytt navn" in last["after"]


def test_the_audit_trail_refuses_update_and_delete(db):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with db.atomic():
            db.execute("UPDATE audit_event SET reason = 'x' WHERE id = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with db.atomic():
            db.execute("DELETE FROM audit_event WHERE id = 1")


def test_verify_names_the_first_tampered_event(db, runner):
    checked, broken = audit.verify_chain(db)
    assert broken is None and checked == db["audit_event"].count
    with db.atomic():
        db.execute("DROP TRIGGER audit_event_no_update")
        db.execute('UPDATE audit_event SET after = \'{"name": "forged"}\' WHERE id = 3')
    assert audit.verify_chain(db) == (2, 3)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "broken at event 3" in result.output
