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
    # Intact: the newest event's hash is printed, to be kept elsewhere, since a chain
    # cannot show its newest events cut off.
    newest = db.execute("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1").fetchone()
    intact = runner.invoke(args=["audit", "verify"])
    assert intact.exit_code == 0
    assert f"Newest event: {newest[0]}, hash {newest[1]}" in intact.output
    with db.atomic():
        db.execute("DROP TRIGGER audit_event_no_update")
        db.execute('UPDATE audit_event SET after = \'{"name": "forged"}\' WHERE id = 3')
    assert audit.verify_chain(db) == (2, 3)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "broken at event 3" in result.output


def _other_unit_pilot_and_new_user(db):
    """The admin adds Hanne to the school nurses (Per's part of the tree), and she starts
    a pilot there: one user-administration event and one pilot event outside Ingrid's."""
    from pilots.domain import pilots

    admin = org.user_by_email(db, "admin@fjordvik.example")["id"]
    hanne = org.create_user(
        db,
        "hanne@fjordvik.example",
        "Hanne Helsesøster",
        accounts.hash_password(DEMO_PASSWORD),
        [("frontline", "helsesykepleiere")],
        actor_id=admin,
    )
    team = org.unit_by_slug(db, "helsesykepleiere")["id"]
    pilot = pilots.create_pilot(
        db, team_id=team, title="Drop-in etter skoletid", actor_id=hanne["id"]
    )
    return hanne["id"], pilot["id"]


def _expected_for_leader(db, viewer_id):
    """The leader's events by the rule written out row by row, with `leads` deciding."""
    from pilots.domain.pilots import leads

    unit_of = {
        "unit": lambda i: i,
        "pilot": lambda i: db["pilot"].get(i)["team_id"],
        "idea": lambda i: db["idea"].get(i)["unit_id"],
        "story": lambda i: db["story"].get(i)["unit_id"],
    }
    kept = []
    for event in db.query("SELECT * FROM audit_event ORDER BY id DESC"):
        find = unit_of.get(event["object_type"])
        if event["actor_id"] == viewer_id or (
            find and leads(db, viewer_id, find(int(event["object_id"])))
        ):
            kept.append(event["id"])
    return kept


@pytest.mark.parametrize("email", ["ingrid@fjordvik.example", "per@fjordvik.example"])
def test_a_leader_reads_the_trail_of_the_units_they_lead_and_their_own_actions(db, email):
    _other_unit_pilot_and_new_user(db)
    viewer = org.user_by_email(db, email)["id"]
    expected = _expected_for_leader(db, viewer)
    assert 0 < len(expected) < db["audit_event"].count

    seen, offset = [], 0
    while True:
        rows, total = audit.events_for(db, viewer, everything=False, limit=7, offset=offset)
        assert total == len(expected)
        if not rows:
            break
        seen += [row["id"] for row in rows]
        offset += 7
    assert seen == expected


def test_a_leader_does_not_read_other_units_or_user_administration(db):
    hanne, other_pilot = _other_unit_pilot_and_new_user(db)
    ingrid = org.user_by_email(db, "ingrid@fjordvik.example")["id"]
    rows, total = audit.events_for(db, ingrid, everything=False, limit=1000)
    assert total == len(rows)
    seen = {(row["object_type"], row["object_id"]) for row in rows}
    assert ("pilot", str(other_pilot)) not in seen
    assert ("user", str(hanne)) not in seen
    assert not any(
        row["object_type"] in {"user", "metric", "api_token"}
        for row in rows
        if row["actor_id"] != ingrid
    )
    # Her team's pilot deep below her unit, and her own retirement of a metric.
    housing = next(db.query("SELECT id FROM pilot WHERE title = 'Bosted først for ti personer'"))
    assert ("pilot", str(housing["id"])) in seen
    assert any(row["action"] == "metric.retire" and row["actor_id"] == ingrid for row in rows)


def test_an_admin_reads_the_whole_trail(db):
    hanne, other_pilot = _other_unit_pilot_and_new_user(db)
    admin = org.user_by_email(db, "admin@fjordvik.example")["id"]
    rows, total = audit.events_for(db, admin, everything=True, limit=10_000)
    assert total == db["audit_event"].count == len(rows)
    assert [row["id"] for row in rows] == sorted((row["id"] for row in rows), reverse=True)
    seen = {(row["object_type"], row["object_id"]) for row in rows}
    assert {("pilot", str(other_pilot)), ("user", str(hanne))} <= seen


def _trail_grown_by_other_objects(db, events: int) -> None:
    """`events` more events about objects nobody reads here, as years of scheduled looks
    at other pilots would leave (inserted directly: the chain is not what is tested)."""
    db.conn.executemany(
        """INSERT INTO audit_event (at, actor_id, action, object_type, object_id, prev_hash,
                                    hash) VALUES ('2026-01-01T00:00:00Z', NULL,
                                    'pilot.evaluate', 'pilot', ?, 'x', ?)""",
        [(str(100_000 + k), f"grown-{k}") for k in range(events)],
    )


def _steps(db, read) -> int:
    """Roughly how many SQLite VM steps `read()` takes (counted in hundreds)."""
    steps = [0]

    def count():
        steps[0] += 1
        return 0

    db.conn.set_progress_handler(count, 100)
    try:
        read()
    finally:
        db.conn.set_progress_handler(None, 100)
    return steps[0]


def test_reading_the_trail_by_pilot_or_leader_does_not_grow_with_the_rest_of_it(db):
    """The pilot page's timeline, its undone uploads, and a leader's view of the trail
    find their events by index (migration 0640): growing the trail by 20,000 events
    about other objects leaves their work nearly unchanged, where a scan would grow by
    hundreds of thousands of steps."""
    from pilots.domain import observations
    from pilots.domain import pilots as pilots_domain

    pilot_id = next(db.query("SELECT id FROM pilot ORDER BY id LIMIT 1"))["id"]
    ingrid = org.user_by_email(db, "ingrid@fjordvik.example")["id"]
    reads = {
        "timeline": lambda: pilots_domain.timeline(db, pilot_id),
        "undone uploads": lambda: observations._undone_uploads(db, pilot_id),
        "leader's trail": lambda: audit.events_for(db, ingrid, everything=False, limit=50),
    }
    before = {name: _steps(db, read) for name, read in reads.items()}
    _trail_grown_by_other_objects(db, 20_000)
    after = {name: _steps(db, read) for name, read in reads.items()}
    for name in reads:
        assert after[name] - before[name] < 100, (name, before[name], after[name])
