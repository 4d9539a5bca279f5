"""The pilot lifecycle as domain functions: drafts, submission, trust-by-default
approval with a fixed clock, pre-registration, amendments, PDSA and conclusion."""

from datetime import UTC, datetime, timedelta

import pytest

from pilots.domain import DomainError, NotFound, accounts, audit, pilots
from pilots.domain import metrics as catalogue
from pilots.domain import organisation as org
from pilots.domain.observation_files import local_today

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


def test_a_plan_whose_end_has_passed_is_flagged_before_it_is_sent(db, people, ready_draft):
    """A plan is fixed in advance: one ending before today is flagged to the team and the
    leaders (as advice: a script may still send it, as the automation contract allows)."""

    def advice_with_end(day: str) -> list[str]:
        db.execute("UPDATE pilot SET end_date = ? WHERE id = ?", [day, ready_draft["id"]])
        pilot = pilots.get_pilot(db, ready_draft["id"])
        return [field for field, _ in pilots.advice_before_submission(pilot)]

    assert "end_date" in advice_with_end((local_today() - timedelta(days=1)).isoformat())
    assert "end_date" not in advice_with_end(local_today().isoformat())


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


def test_the_leaders_hear_of_a_countdown_with_its_day(db, people, ready_draft):
    from pilots.domain import notifications

    _envelope(db, people)
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    rows, _ = notifications.inbox(db, people["ingrid"])
    (told,) = [r for r in rows if r["link"] == f"/pilots/{ready_draft['id']}"]
    # 02.03.2026 + 7 days, in Ingrid's language (Norwegian)
    assert told["title"] == "Godkjennes på tillit 09.03.2026: «Bosted først»"
    assert "hvis ingen leder har innsigelser" in told["summary"]
    kari_rows, _ = notifications.inbox(db, people["kari"])  # not the one who sent it
    assert f"/pilots/{ready_draft['id']}" not in [r["link"] for r in kari_rows]


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


ENVELOPE = {
    "trust_max_days": 90,
    "trust_max_citizens": 30,
    "trust_max_cost": 50000,
    "trust_excluded_risks": ["medication", "children"],
    "trust_auto_days": 7,
}
PLAN = {
    "start_date": "2026-01-01",
    "end_date": "2026-05-01",  # 120 days
    "citizens_involved": None,
    "cost": 250000,
    "risk_flags": ["physical_safety", "children", "medication"],
}


def test_each_limit_a_pilot_is_outside_is_named_with_its_value_and_the_limit():
    assert pilots.envelope_breaches(PLAN, ENVELOPE) == [
        {"limit": "days", "value": 120, "allowed": 90},
        {"limit": "citizens", "value": None, "allowed": 30},
        {"limit": "cost", "value": 250000, "allowed": 50000},
        # In the order the form lists risks, not the order they were ticked.
        {"limit": "risk", "value": "medication", "allowed": None},
        {"limit": "risk", "value": "children", "allowed": None},
    ]
    assert pilots.envelope_breaches(PLAN, None) == [
        {"limit": "envelope", "value": None, "allowed": None}
    ]
    inside = {**PLAN, "end_date": "2026-03-31", "citizens_involved": 30, "cost": None}
    inside["risk_flags"] = ["physical_safety"]
    assert pilots.envelope_breaches(inside, ENVELOPE) == []
    # No limit set is no limit; a plan without dates is outside a limit on days.
    open_envelope = {**ENVELOPE, "trust_max_days": None, "trust_max_citizens": None}
    assert pilots.envelope_breaches(PLAN, open_envelope)[0]["limit"] == "cost"
    undated = {**inside, "start_date": None, "end_date": None}
    assert pilots.envelope_breaches(undated, ENVELOPE) == [
        {"limit": "days", "value": None, "allowed": 90}
    ]


INSIDE = {"end_date": "2026-03-31", "citizens_involved": 30, "cost": None, "risk_flags": []}


@pytest.mark.parametrize(
    ("change", "inside"),
    [
        ({}, True),  # 89 days, 30 citizens, no extra cost, no risk
        ({"end_date": "2026-04-01"}, True),  # exactly 90 days
        ({"end_date": "2026-04-02"}, False),
        ({"citizens_involved": 31}, False),
        ({"citizens_involved": None}, False),
        ({"cost": 50000}, True),
        ({"cost": 50000.5}, False),
        ({"risk_flags": ["legal_rights"]}, True),
        ({"risk_flags": ["children"]}, False),
    ],
)
def test_inside_the_envelope_is_having_no_breach(change, inside):
    plan = {**PLAN, **INSIDE, **change}
    assert pilots.inside_envelope(plan, ENVELOPE) is inside
    assert (pilots.envelope_breaches(plan, ENVELOPE) == []) is inside
    assert pilots.inside_envelope(plan, None) is False


def test_the_queue_says_why_a_plan_waits_for_a_leader(db, people, ready_draft):
    # Bosted først has no envelope at first: that is the reason.
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    (row,) = [
        q for q in pilots.leader_queue(db, people["ingrid"], NOW) if q["id"] == ready_draft["id"]
    ]
    assert row["breaches"] == [{"limit": "envelope", "value": None, "allowed": None}]
    pilots.withdraw(db, ready_draft["id"], people["kari"])
    _envelope(db, people, trust_max_days=100, trust_max_cost=1000)
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    (row,) = [
        q for q in pilots.leader_queue(db, people["ingrid"], NOW) if q["id"] == ready_draft["id"]
    ]
    assert row["breaches"] == [
        {"limit": "days", "value": 183, "allowed": 100},
        {"limit": "cost", "value": 50000, "allowed": 1000},
    ]
    # Widened after it was sent: it still waits, but no limit is named any more.
    _envelope(db, people)
    (row,) = [
        q for q in pilots.leader_queue(db, people["ingrid"], NOW) if q["id"] == ready_draft["id"]
    ]
    assert row["breaches"] == [] and row["auto_approve_at"] is None


def test_a_plan_counting_down_or_objected_to_names_no_breach(db, people, ready_draft):
    _envelope(db, people)
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    # Tightened after it was sent: the countdown holds, and that is what the queue shows.
    _envelope(db, people, trust_max_days=10)
    queue = pilots.leader_queue(db, people["ingrid"], NOW)
    assert [q["breaches"] for q in queue if q["id"] == ready_draft["id"]] == [[]]
    pilots.object_to(db, ready_draft["id"], people["ingrid"], "Talk to the landlord first")
    assert not pilots.waits_outside_envelope(pilots.get_pilot(db, ready_draft["id"]))


# ---- notifications of a leader's decision ------------------------------------------


def _inbox(db, user_id, *pilot_ids):
    """The person's notifications about these pilots (the demo's own are left out)."""
    links = [f"/pilots/{pilot_id}" for pilot_id in pilot_ids]
    return [
        row
        for row in db.query("SELECT * FROM notification WHERE user_id = ? ORDER BY id", [user_id])
        if row["link"] in links
    ]


def test_the_team_hears_when_its_plan_is_returned_or_approved_but_the_leader_does_not(
    db, people, ready_draft
):
    org.add_role(db, people["ola"], "frontline", "bosted-forst", actor_id=None)
    # Ingrid is on the team too, so only the rule about the decider keeps her inbox empty.
    org.add_role(db, people["ingrid"], "frontline", "bosted-forst", actor_id=None)
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    # Submitting tells nobody on the team; the leaders hear of it (and see it in their queue).
    assert _inbox(db, people["kari"], ready_draft["id"]) == []
    pilots.return_to_team(
        db, ready_draft["id"], people["ingrid"], "Name the landlord Hansen in the plan"
    )
    (returned,) = _inbox(db, people["kari"], ready_draft["id"])
    assert returned["kind"] == "pilot.returned"
    assert returned["title"] == "Sendt tilbake: «Bosted først»"
    assert "Ingrid Solberg" in returned["summary"] and "versjon 1" in returned["summary"]
    # The comment stays behind the link.
    assert "Hansen" not in returned["title"] + returned["summary"]
    assert returned["link"] == f"/pilots/{ready_draft['id']}"
    assert [n["kind"] for n in _inbox(db, people["ola"], ready_draft["id"])] == ["pilot.returned"]
    pilots.submit(db, ready_draft["id"], people["ola"], now=NOW)
    pilots.approve(db, ready_draft["id"], people["ingrid"], 2)
    assert [n["kind"] for n in _inbox(db, people["kari"], ready_draft["id"])] == [
        "pilot.returned",
        "pilot.approved",
    ]
    # Ingrid decided, so she hears of no decision; she heard of each plan sent to her,
    # and each of those notices was done with once a decision was made.
    told = _inbox(db, people["ingrid"], ready_draft["id"])
    assert [n["kind"] for n in told] == ["pilot.submitted", "pilot.submitted"]
    assert all(n["read_at"] for n in told)
    assert _inbox(db, people["per"], ready_draft["id"]) == []  # he leads another sector


def test_an_amendment_decision_is_told_as_an_amendment(db, people, ready_draft):
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    pilots.approve(db, ready_draft["id"], people["ingrid"], 1)
    pilot = pilots.get_pilot(db, ready_draft["id"])
    choices = [
        {"metric_id": m["metric_id"], "role": m["role"], "minimal_important_difference": "0,15"}
        for m in pilot["metrics"]
    ]
    for number, decide in ((2, "return"), (3, "approve")):
        pilots.propose_amendment(
            db,
            pilot["id"],
            {**pilot, "end_date": f"2026-09-0{number}"},
            choices,
            "Later",
            people["kari"],
        )
        if decide == "return":
            pilots.return_to_team(db, pilot["id"], people["ingrid"], "Not yet", number)
        else:
            pilots.approve(db, pilot["id"], people["ingrid"], number)
    kinds = [n["kind"] for n in _inbox(db, people["kari"], ready_draft["id"])]
    assert kinds == ["pilot.approved", "pilot.amendment_returned", "pilot.amendment_approved"]
    assert "versjon 3" in _inbox(db, people["kari"], ready_draft["id"])[-1]["summary"]


def test_approval_by_trust_and_an_objection_reach_the_team_in_their_language(
    db, people, ready_draft
):
    accounts.set_language(db, people["kari"], "en")
    _envelope(db, people)
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    pilots.approve_due(db, NOW + timedelta(days=7))
    (trusted,) = _inbox(db, people["kari"], ready_draft["id"])
    assert trusted["kind"] == "pilot.approved_by_trust"
    assert trusted["title"] == "Approved by trust: “Bosted først”"
    assert trusted["created_at"] == "2026-03-09T08:00:00Z"

    team = org.unit_by_slug(db, "bosted-forst")["id"]
    other = pilots.create_pilot(db, team_id=team, title="Nattåpent", actor_id=people["kari"])
    pilot = pilots.get_pilot(db, ready_draft["id"])
    choices = [
        {"metric_id": m["metric_id"], "role": m["role"], "minimal_important_difference": "0,15"}
        for m in pilot["metrics"]
    ]
    pilots.update_draft(db, other["id"], {**pilot, "title": "Nattåpent"}, choices, people["kari"])
    pilots.submit(db, other["id"], people["kari"], now=NOW)
    pilots.object_to(db, other["id"], people["ingrid"], "Ask the night staff first")
    objected = _inbox(db, people["kari"], other["id"])[-1]
    assert objected["kind"] == "pilot.objected"
    assert objected["title"] == "Objection: “Nattåpent”"
    assert "night staff" not in objected["summary"]


def test_a_refused_decision_tells_nobody(db, people, ready_draft):
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    before = db["notification"].count
    with pytest.raises(DomainError):
        pilots.approve(db, ready_draft["id"], people["ingrid"], 7)  # not the waiting version
    with pytest.raises(NotFound):
        pilots.return_to_team(db, ready_draft["id"], people["per"], "No")
    with pytest.raises(DomainError):
        pilots.object_to(db, ready_draft["id"], people["ingrid"], "No")  # nothing counts down
    assert db["notification"].count == before


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


def test_a_pilot_starts_on_its_planned_start_date_at_the_earliest(db, people, ready_draft):
    pilots.submit(db, ready_draft["id"], people["kari"], now=NOW)
    pilots.approve(db, ready_draft["id"], people["ingrid"], 1)
    today = local_today()  # in Norway
    tomorrow = today + timedelta(days=1)
    with db.atomic():
        db.execute(
            "UPDATE pilot SET start_date = ? WHERE id = ?",
            [tomorrow.isoformat(), ready_draft["id"]],
        )
    events = db.execute("SELECT count(*) FROM audit_event").fetchone()[0]
    with pytest.raises(DomainError, match=tomorrow.strftime("%d.%m.%Y")) as refused:
        pilots.change_status(db, ready_draft["id"], "start", people["kari"])
    assert refused.value.field == "status"
    pilot = pilots.get_pilot(db, ready_draft["id"])
    assert pilot["status"] == "approved" and pilots.starts_later(pilot, today)
    assert db.execute("SELECT count(*) FROM audit_event").fetchone()[0] == events
    # on the day itself, it starts
    assert not pilots.starts_later(pilot, tomorrow)
    with db.atomic():
        db.execute(
            "UPDATE pilot SET start_date = ? WHERE id = ?",
            [today.isoformat(), ready_draft["id"]],
        )
    assert pilots.change_status(db, ready_draft["id"], "start", people["kari"])["status"] == (
        "running"
    )


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


def test_a_check_of_a_data_file_is_not_a_line_of_the_pilots_timeline(db):
    """Checking a file before storing it changes nothing: the timeline leaves it out
    (the import that follows is a line), while the audit trail keeps it."""
    pilot_id = next(db.query("SELECT id FROM pilot ORDER BY id LIMIT 1"))["id"]
    before = pilots.timeline(db, pilot_id)
    with db.atomic():
        for action in ("observations.preview", "observations.import"):
            audit.record(db, actor_id=None, action=action, object_type="pilot", object_id=pilot_id)
    after = pilots.timeline(db, pilot_id)
    assert [event["action"] for event in after[len(before) :]] == ["observations.import"]
    (kept,) = db.execute(
        "SELECT count(*) FROM audit_event WHERE object_id = ? AND action = 'observations.preview'",
        [str(pilot_id)],
    ).fetchone()
    assert kept >= 1
