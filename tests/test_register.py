"""The indicator clean-up register: uses, burden in hours a year, the three clean-up
flags, leaders retiring or merging with a reason (one audit event each), freed hours."""

from __future__ import annotations

import datetime as dt

import pytest
from sessions import DEMO_EMAIL, Auth

from pilots.domain import DomainError, register

TODAY = dt.date(2026, 11, 26)


@pytest.fixture
def ingrid(app):
    auth = Auth(app.test_client())
    auth.login(DEMO_EMAIL["leader"])
    return auth


def _id(db, slug):
    return next(db.query("SELECT id FROM metric WHERE slug = ?", [slug]))["id"]


def _row(db, slug):
    return next(r for r in register.register(db, today=TODAY)["rows"] if r["slug"] == slug)


def test_burden_adds_up_to_hours_a_year():
    row = {"burden_minutes": 15, "period": "week", "teams_collecting": 8}
    assert register.hours_per_year(row) == 15 * 52 * 8 / 60
    assert register.hours_per_year({"burden_minutes": 30, "period": "month"}) == 6


def test_near_duplicates_by_name_or_definition():
    a = {"name": "Ventetid til første samtale", "definition": ""}
    assert register.alike(a, {"name": "Ventetid til forste samtale", "definition": ""}) == "name"
    b = {
        "name": "Rask hjelp",
        "definition": "Dager fra henvendelse til første samtale med veileder",
    }
    c = {"name": "Tid til møte", "definition": "Dager fra henvendelse til første samtale"}
    assert register.alike(b, c) == "definition"
    assert register.alike(a, {"name": "Sykefravær", "definition": ""}) is None


def test_the_demo_register_flags_candidates(db):
    assert _row(db, "brukermoter-registrert")["flags"] == {"no_decision": True, "unused": True}
    assert _row(db, "ventetid-forste-samtale-uke")["flags"].get("duplicate")
    assert _row(db, "staff-sick-leave")["flags"] == {"no_decision": True}
    used = _row(db, "housed-6m")
    assert used["flags"] == {} and used["pilots"] and used["last_data"]
    assert _row(db, "startlan-vedtak")["reports"] == ["KOSTRA", "Budsjettoppfølging"]
    whole = register.register(db, today=TODAY)
    assert whole["hours_freed"] == 24  # the retired staircase report: 60 min x 12 x 2


def test_the_page_lists_filters_and_pages(client, auth, db):
    auth.login(DEMO_EMAIL["analyst"])
    page = client.get("/register").text
    assert "Brukermøter registrert i fagsystemet" in page and "24" in page
    candidates = client.get("/register?flag=candidate", headers={"HX-Request": "true"})
    assert candidates.status_code == 200 and "<html" not in candidates.text
    assert "Vedtak om startlån" not in candidates.text
    indicators = client.get("/register?kind=indicator&status=all").text
    assert "Trappetrinnsrapport" in indicators and "Liggedøgn" not in indicators
    empty = client.get("/register?q=finnesikke").text
    assert "empty-state" in empty
    assert 'action="/register/' not in page  # analysts do not retire


def test_a_leader_retires_with_a_reason_and_the_freed_hours_grow(ingrid, db):
    metric = _id(db, "brukermoter-registrert")
    before = db["audit_event"].count
    missing = ingrid.post(f"/register/{metric}/retire", {"reason": " "})
    assert missing.status_code == 422 and db["audit_event"].count == before
    done = ingrid.post(f"/register/{metric}/retire", {"reason": "Ingen bruker tallet"})
    assert done.status_code == 303 and db["audit_event"].count == before + 1
    event = next(db.query("SELECT * FROM audit_event ORDER BY id DESC LIMIT 1"))
    assert event["action"] == "metric.retire" and event["reason"] == "Ingen bruker tallet"
    assert register.register(db, today=TODAY)["hours_freed"] == 24 + 104
    again = ingrid.post(f"/register/{metric}/retire", {"reason": "igjen"})
    assert again.status_code == 422


def test_merging_keeps_the_other_and_refuses_itself(ingrid, db):
    week, month = _id(db, "ventetid-forste-samtale-uke"), _id(db, "ventetid-forste-samtale")
    assert ingrid.post(f"/register/{week}/merge", {"into": week, "reason": "x"}).status_code == 422
    done = ingrid.post(f"/register/{week}/merge", {"into": month, "reason": "Samme tall"})
    assert done.status_code == 303
    row = next(db.query("SELECT * FROM metric WHERE id = ?", [week]))
    assert (row["status"], row["merged_into_id"]) == ("retired", month)
    assert not _row(db, "ventetid-forste-samtale")["flags"].get("duplicate")


def test_a_metric_a_running_pilot_measures_cannot_be_retired(db):
    ingrid = next(db.query("SELECT id FROM users WHERE email = ?", [DEMO_EMAIL["leader"]]))["id"]
    with pytest.raises(DomainError):
        register.retire(db, _id(db, "housed-6m"), "Ferdig", ingrid)


def test_only_leaders_retire_and_editors_register_indicators(app, auth, client, db):
    auth.login(DEMO_EMAIL["frontline"])
    metric = _id(db, "brukermoter-registrert")
    assert auth.post(f"/register/{metric}/retire", {"reason": "x"}).status_code == 403
    before = db["audit_event"].count
    bad = auth.post("/register", {"name": "Avvik", "slug": "Avvik!"})
    assert bad.status_code == 422 and db["audit_event"].count == before
    made = auth.post(
        "/register",
        {"name": "Avvik", "slug": "avvik", "teams_collecting": "3", "burden_minutes": "10"},
    )
    assert made.status_code == 303
    row = next(db.query("SELECT * FROM metric WHERE slug = 'avvik'"))
    assert (row["kind"], row["teams_collecting"]) == ("indicator", 3)
