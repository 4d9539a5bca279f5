"""The pilot lifecycle as domain functions: drafts, submission, trust-by-default
approval with a fixed clock, pre-registration, amendments, PDSA and conclusion."""

from datetime import UTC, datetime, timedelta

import pytest

from pilots.domain import DomainError, NotFound, audit, pilots
from pilots.domain import metrics as catalogue
from pilots.domain import organisation as org

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _user(db, email):
    return org.user_by_email(db, email)["id"]


@pytest.fixture
def people(db):
    return {
        "kari": _user(db, "kari@fjordvik.example"),  # frontline, bosted-forst
        "ola": _user(db, "ola@fjordvik.example"),  # frontline, another team
        "ingrid": _user(db, "ingrid@fjordvik.example"),  # leader of helse-velferd
        "per": _user(db, "per@fjordvik.example"),  # leader of oppvekst
    }


@pytest.fixture
def housed(db, people):
    return catalogue.create_metric(
        db,
        {
            "slug": "housed-test",
            "name": "Housed after six months",
            "type": "proportion",
            "direction": "up",
            "period": "month",
        },
        people["kari"],
    )


@pytest.fixture
def ready_draft(db, people, housed):
    team = org.unit_by_slug(db, "bosted-forst")["id"]
    pilot = pilots.create_pilot(db, team_id=team, title="Bosted først", actor_id=people["kari"])
    return pilots.update_draft(
        db,
        pilot["id"],
        {
            "title": "Bosted først",
            "hypothesis": "A home first makes treatment work.",
            "start_date": "01.03.2026",
            "end_date": "2026-08-31",
            "design": "two_group",
            "comparison": "Ordinary housing queue",
            "citizens_involved": "20",
            "cost": "50000",
        },
        [{"metric_id": housed["id"], "role": "primary", "minimal_important_difference": "0,15"}],
        people["kari"],
    )


def test_a_draft_is_hidden_from_other_teams(db, people, ready_draft):
    assert pilots.visible_pilot(db, ready_draft["id"], people["kari"])["title"] == "Bosted først"
    with pytest.raises(NotFound):
        pilots.visible_pilot(db, ready_draft["id"], people["ola"])
    with pytest.raises(NotFound):
        pilots.update_draft(db, ready_draft["id"], {"title": "x"}, [], people["ola"])
    rows, _total = pilots.search_pilots(db, people["ola"], limit=100)
    assert ready_draft["id"] not in [row["id"] for row in rows]
    rows, _total = pilots.search_pilots(db, people["kari"], limit=100)
    assert ready_draft["id"] in [row["id"] for row in rows]


def test_submission_needs_a_complete_plan(db, people, housed):
    team = org.unit_by_slug(db, "bosted-forst")["id"]
    pilot = pilots.create_pilot(db, team_id=team, title="Half a plan", actor_id=people["kari"])
    with pytest.raises(DomainError) as error:
        pilots.submit(db, pilot["id"], people["kari"])
    assert error.value.field == "start_date"
    assert pilots.get_pilot(db, pilot["id"])["status"] == "draft"
    assert "hypothesis" in [field for field, _ in pilots.advice_before_submission(pilot)]


def test_approval_freezes_a_numbered_hashed_version(db, people, ready_draft):
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    with pytest.raises(DomainError, match="Nobody approves their own"):
        # Kari proposed it; even as a leader she could not approve it.
        org.add_role(db, people["kari"], "leader", "bosted-forst", actor_id=None)
        pilots.approve(db, ready_draft["id"], people["kari"], 1)
    with pytest.raises(NotFound):
        pilots.approve(db, ready_draft["id"], people["per"], 1)  # leads another sector
    approved = pilots.approve(db, ready_draft["id"], people["ingrid"], 1)
    assert approved["status"] == "approved" and approved["approved_version"] == 1
    (version,) = pilots.versions(db, ready_draft["id"])
    assert version["state"] == "approved"
    assert version["hash"] == pilots.plan_hash(pilots.plan_of(approved))
    with pytest.raises(DomainError, match="amendment"):
        pilots.update_draft(db, ready_draft["id"], {"title": "Quietly changed"}, [], people["kari"])


def test_an_approval_applies_to_one_version(db, people, ready_draft):
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    pilots.withdraw(db, ready_draft["id"], people["kari"])
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    with pytest.raises(DomainError, match="version 2 is waiting"):
        pilots.approve(db, ready_draft["id"], people["ingrid"], 1)
    assert pilots.approve(db, ready_draft["id"], people["ingrid"], 2)["approved_version"] == 2


def test_returning_needs_a_comment_and_goes_back_to_draft(db, people, ready_draft):
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    with pytest.raises(DomainError):
        pilots.return_to_team(db, ready_draft["id"], people["ingrid"], " ")
    returned = pilots.return_to_team(db, ready_draft["id"], people["ingrid"], "Name the comparison")
    assert returned["status"] == "draft"
    assert pilots.versions(db, ready_draft["id"])[0]["comment"] == "Name the comparison"


def _envelope(db, people, **limits):
    unit = org.unit_by_slug(db, "sosialtjenesten")["id"]
    fields = {
        "trust_max_days": 200,
        "trust_max_citizens": 30,
        "trust_max_cost": 100000,
        "trust_auto_days": 7,
        "trust_excluded_risks": ["medication"],
        **limits,
    }
    pilots.set_trust_envelope(db, unit, fields, people["ingrid"])


def test_trust_by_default_approves_after_n_days_with_a_fixed_clock(db, people, ready_draft):
    _envelope(db, people)
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    queue = pilots.leader_queue(db, people["ingrid"], NOW + timedelta(days=2))
    assert [q["days_left"] for q in queue if q["id"] == ready_draft["id"]] == [5]
    assert pilots.approve_due(db, NOW + timedelta(days=6, hours=23)) == []
    assert pilots.approve_due(db, NOW + timedelta(days=7)) == [ready_draft["id"]]
    pilot = pilots.get_pilot(db, ready_draft["id"])
    assert pilot["status"] == "approved"
    assert pilots.versions(db, pilot["id"])[0]["automatic"] == 1
    assert audit.events(db, limit=1)[0]["actor_role"] == "system"


def test_a_written_objection_stops_the_countdown(db, people, ready_draft):
    _envelope(db, people)
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    with pytest.raises(DomainError):
        pilots.object_to(db, ready_draft["id"], people["ingrid"], "")
    pilots.object_to(db, ready_draft["id"], people["ingrid"], "Talk to the landlord first")
    assert pilots.approve_due(db, NOW + timedelta(days=30)) == []
    assert pilots.get_pilot(db, ready_draft["id"])["status"] == "submitted"


@pytest.mark.parametrize(
    "limits",
    [
        {"trust_max_days": 100},
        {"trust_max_citizens": 10},
        {"trust_max_cost": 1000},
        {"trust_excluded_risks": ["children"]},
    ],
)
def test_a_pilot_outside_the_envelope_waits_for_a_leader(db, people, ready_draft, limits):
    if "trust_excluded_risks" in limits:
        pilot = pilots.get_pilot(db, ready_draft["id"])
        fields = {**pilot, "start_date": pilot["start_date"], "risk_flags": ["children"]}
        choices = [
            {
                "metric_id": m["metric_id"],
                "role": m["role"],
                "minimal_important_difference": m["minimal_important_difference"],
            }
            for m in pilot["metrics"]
        ]
        pilots.update_draft(db, pilot["id"], fields, choices, people["kari"])
    _envelope(db, people, **limits)
    assert pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)["auto_approve_at"] is None


def test_an_amendment_is_a_new_version_and_a_dropped_metric_stays_marked(db, people, ready_draft):
    secondary = catalogue.create_metric(
        db,
        {
            "slug": "er-visits-test",
            "name": "ER visits",
            "type": "rate",
            "direction": "down",
            "period": "month",
        },
        people["kari"],
    )
    pilot = pilots.get_pilot(db, ready_draft["id"])
    fields = dict(pilot)
    choices = [
        {"metric_id": m["metric_id"], "role": "primary", "minimal_important_difference": "0.15"}
        for m in pilot["metrics"]
    ]
    choices.append({"metric_id": secondary["id"], "role": "secondary"})
    pilots.update_draft(db, pilot["id"], fields, choices, people["kari"])
    pilots.submit(db, pilot["id"], people["kari"], now=NOW)
    pilots.approve(db, pilot["id"], people["ingrid"], 1)
    pilots.change_status(db, pilot["id"], "start", people["kari"])
    with pytest.raises(DomainError, match="Say why"):
        pilots.propose_amendment(db, pilot["id"], fields, choices[:1], "", people["kari"])
    pilots.propose_amendment(
        db,
        pilot["id"],
        {**fields, "end_date": "2026-09-30"},
        choices[:1],
        "The landlord needs a month more",
        people["kari"],
    )
    # Until approved, the running plan is the approved one.
    assert pilots.get_pilot(db, pilot["id"])["end_date"] == "2026-08-31"
    latest = pilots.versions(db, pilot["id"])[0]
    assert {c["field"] for c in latest["diff"]} == {"end_date", "metrics"}
    pilots.approve(db, pilot["id"], people["ingrid"], 2)
    amended = pilots.get_pilot(db, pilot["id"])
    assert amended["status"] == "running" and amended["end_date"] == "2026-09-30"
    dropped = [m for m in amended["metrics"] if m["dropped_in_version"] == 2]
    assert [m["slug"] for m in dropped] == ["er-visits-test"]


def test_pdsa_cycles_and_a_decision(db, people, ready_draft):
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    pilots.approve(db, ready_draft["id"], people["ingrid"], 1)
    pilots.change_status(db, ready_draft["id"], "start", people["kari"])
    cycle = pilots.add_cycle(
        db,
        ready_draft["id"],
        {"plan": "Two flats", "prediction": "Both keep the flat"},
        people["kari"],
    )
    pilots.update_cycle(
        db,
        ready_draft["id"],
        cycle["id"],
        {
            "plan": "Two flats",
            "prediction": "Both keep the flat",
            "done": "Moved in",
            "studied": "One kept it",
            "act": "adapt",
        },
        people["kari"],
    )
    assert pilots.cycles(db, ready_draft["id"])[0]["act"] == "adapt"
    with pytest.raises(DomainError):
        pilots.change_status(db, ready_draft["id"], "pause", people["kari"], "")
    with pytest.raises(DomainError, match="learned"):
        pilots.conclude(db, ready_draft["id"], people["kari"], "adopt", "", "")
    done = pilots.conclude(db, ready_draft["id"], people["kari"], "adopt", "Homes work", "Scale")
    assert done["status"] == "concluded" and done["decision"] == "adopt"


def test_a_pilot_past_its_end_without_a_decision_is_flagged(db, people, ready_draft):
    from datetime import date

    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    pilot = pilots.approve(db, ready_draft["id"], people["ingrid"], 1)
    assert not pilots.is_overdue(pilot, date(2026, 8, 31))
    assert pilots.is_overdue(pilot, date(2026, 9, 1))


def test_every_change_writes_exactly_one_audit_event(db, people, ready_draft):
    before = db["audit_event"].count
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    pilots.approve(db, ready_draft["id"], people["ingrid"], 1)
    pilots.change_status(db, ready_draft["id"], "start", people["kari"])
    assert db["audit_event"].count == before + 3
    assert audit.verify_chain(db)[1] is None
