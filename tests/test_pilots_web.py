"""The pilot pages through the test client: a draft to a decision, with the refusals."""

import re
from datetime import timedelta
from html import unescape

import pytest
from sessions import DEMO_EMAIL, Auth

from pilots.domain import organisation as org
from pilots.domain import pilots as domain
from pilots.domain.observation_files import local_today

EN = {"Accept-Language": "en"}


@pytest.fixture
def kari(app):
    auth = Auth(app.test_client())
    auth.login(DEMO_EMAIL["frontline"])
    return auth


@pytest.fixture
def ingrid(app):
    auth = Auth(app.test_client())
    auth.login(DEMO_EMAIL["leader"])
    return auth


def _new_metric(auth, slug="housed", kind="proportion"):
    response = auth.post(
        "/metrics",
        {
            "slug": slug,
            "name": f"Metric {slug}",
            "type": kind,
            "direction": "up",
            "period": "month",
        },
    )
    assert response.status_code == 303, response.text


def _metric_id(db, slug):
    return next(db.query("SELECT id FROM metric WHERE slug = ?", [slug]))["id"]


def _draft(kari, db, title="Bosted først"):
    team = org.unit_by_slug(db, "bosted-forst")["id"]
    response = kari.post("/pilots", {"title": title, "team": team})
    assert response.status_code == 303
    return int(re.search(r"/pilots/(\d+)/edit", response.headers["Location"]).group(1))


PLAN = {
    "title": "Bosted først",
    "hypothesis": "A home first",
    "start_date": "2026-03-01",
    "end_date": "2026-08-31",
    "design": "two_group",
    "comparison": "The ordinary queue",
    "citizens_involved": "20",
    "cadence": "monthly",
    "role-0": "primary",
    "mid-0": "0,15",
}


def _submitted(kari, db, **changes) -> tuple[int, dict]:
    """A pilot planned with PLAN (and `changes`) and submitted by Kari: its id and the
    plan form."""
    _new_metric(kari)
    pilot_id = _draft(kari, db)
    form = {**PLAN, "metric_id-0": _metric_id(db, "housed"), **changes}
    assert kari.post(f"/pilots/{pilot_id}/edit", form).status_code == 303
    assert kari.post(f"/pilots/{pilot_id}/submit").status_code == 303
    return pilot_id, form


def test_before_its_start_date_the_page_says_when_the_pilot_can_start(app, db, kari, ingrid):
    pilot_id, _ = _submitted(kari, db)
    assert ingrid.post(f"/pilots/{pilot_id}/approve", {"version": "1"}).status_code == 303
    later = local_today() + timedelta(days=10)
    with db.atomic():
        db.execute(
            "UPDATE pilot SET start_date = ?, end_date = ? WHERE id = ?",
            [later.isoformat(), (later + timedelta(days=90)).isoformat(), pilot_id],
        )
    page = kari.client.get(f"/pilots/{pilot_id}", headers=EN).text
    assert 'id="starts-later"' in page and later.strftime("%-d %b %Y") in page
    assert "Start the pilot" not in page
    assert kari.post(f"/pilots/{pilot_id}/status", {"action": "start"}).status_code == 303
    refused = kari.client.get(f"/pilots/{pilot_id}", headers=EN)
    # the refusal, as flashed in the language of the request that was refused
    assert f"starter {later.strftime('%d.%m.%Y')}: start den da" in refused.text
    assert domain.get_pilot(db, pilot_id)["status"] == "approved"
    # stopped before it started: the last look is still taken and kept
    stop = {"action": "stop", "reason": "Not needed after all"}
    assert kari.post(f"/pilots/{pilot_id}/status", stop).status_code == 303
    assert domain.get_pilot(db, pilot_id)["status"] == "stopped"
    looks = db.execute("SELECT count(*) FROM evaluation WHERE pilot_id = ?", [pilot_id])
    assert looks.fetchone()[0] == 1


def test_a_pilot_from_draft_to_decision(app, db, kari, ingrid):
    pilot_id, form = _submitted(kari, db, planned_n="40")
    page = ingrid.client.get(f"/pilots/{pilot_id}", headers=EN).text
    assert "Approve version 1" in page
    # The leader sees the planned size beside the plan (the planning help's answer to it
    # was the team's), and a cost with øre keeps them.
    assert "<dt>Planned size</dt><dd>40</dd>" in page
    assert ingrid.post(f"/pilots/{pilot_id}/approve", {"version": "1"}).status_code == 303
    assert kari.post(f"/pilots/{pilot_id}/status", {"action": "start"}).status_code == 303
    amended = {**form, "end_date": "2026-09-30", "reason": "One month more"}
    assert kari.post(f"/pilots/{pilot_id}/edit", amended).status_code == 303
    page = ingrid.client.get(f"/pilots/{pilot_id}", headers=EN).text
    assert "Decide on the amendment (version 2)" in page and "One month more" in page
    ingrid.post(f"/pilots/{pilot_id}/approve", {"version": "2"})
    concluded = kari.post(
        f"/pilots/{pilot_id}/conclude",
        {"decision": "adopt", "learned": "Homes first works", "next_steps": "Scale up"},
    )
    assert concluded.status_code == 303
    page = kari.client.get(f"/pilots/{pilot_id}", headers=EN).text
    assert "Concluded" in page and "Homes first works" in page
    statuses = [
        e["action"]
        for e in db.query(
            "SELECT action FROM audit_event WHERE object_type = 'pilot' AND object_id = ? "
            "ORDER BY id",
            [str(pilot_id)],
        )
    ]
    assert statuses == [
        "pilot.create",
        "pilot.edit",
        "pilot.submit",
        "pilot.approve",
        "pilot.start",
        "pilot.amend",
        "pilot.amendment_approve",
        "pilot.conclude",
        "pilot.evaluate",  # the last look, for the decision to be read beside its evidence
    ]
    looks = db.execute("SELECT count(*) FROM evaluation WHERE pilot_id = ?", [pilot_id])
    assert looks.fetchone()[0] == 1  # one metric, no data yet: insufficient, but on record


def test_a_last_look_that_fails_does_not_undo_the_decision(db, kari, ingrid):
    pilot_id, _ = _submitted(kari, db)
    assert ingrid.post(f"/pilots/{pilot_id}/approve", {"version": "1"}).status_code == 303
    with db.atomic():  # a plan the evaluation cannot read
        db.execute("UPDATE plan_version SET plan = 'not a plan' WHERE pilot_id = ?", [pilot_id])
    decision = {"decision": "abandon", "learned": "Not what they needed", "next_steps": "Stop"}
    assert kari.post(f"/pilots/{pilot_id}/conclude", decision).status_code == 303
    assert domain.get_pilot(db, pilot_id)["status"] == "concluded"
    looks = db.execute("SELECT count(*) FROM evaluation WHERE pilot_id = ?", [pilot_id])
    assert looks.fetchone()[0] == 0


def test_a_bad_plan_comes_back_with_the_field_named(db, kari):
    pilot_id = _draft(kari, db)
    response = kari.post(f"/pilots/{pilot_id}/edit", {**PLAN, "end_date": "2026-01-01"}, headers=EN)
    assert response.status_code == 422
    assert 'id="end_date-error"' in response.text and "must come after" in response.text
    assert next(db.query("SELECT end_date FROM pilot WHERE id = ?", [pilot_id]))["end_date"] is None


def test_a_plan_with_several_faults_comes_back_with_all_of_them(db, kari):
    """Every fault of a save is named at once, beside its field and in a list at the
    form's top that links to each; nothing of the save is kept."""
    _new_metric(kari)
    pilot_id = _draft(kari, db)
    form = {
        **PLAN,
        "title": "",
        "cost": "mye",
        "end_date": "2026-01-01",
        "metric_id-0": _metric_id(db, "housed"),
        "mid-0": "abc",
        "metric_id-1": _metric_id(db, "housed"),
        "role-1": "tertiary",
    }
    response = kari.post(f"/pilots/{pilot_id}/edit", form, headers=EN)
    assert response.status_code == 422
    page = unescape(response.text)
    start = page.index('class="error-summary"')
    summary = page[start : page.index("</ul>", start)]
    assert "Mend these before it is saved" in summary
    for field in ("title", "cost", "end_date"):  # each links to its field
        assert f'href="#{field}"' in summary and f'id="{field}-error"' in page
    assert 'href="#metrics-error"' in summary  # a table of fields: to its message
    assert "Title: A pilot needs a title." in summary
    assert "Extra cost (NOK): “mye” is not a number." in summary
    assert "Metric row 1: the smallest difference that matters, abc, is not a number." in page
    assert "Metric housed is chosen twice." in page
    assert "Metric row 2: choose primary, secondary or balancing." in page
    stored = next(db.query("SELECT title, cost, end_date FROM pilot WHERE id = ?", [pilot_id]))
    assert stored == {"title": "Bosted først", "cost": None, "end_date": None}


def test_a_metric_rows_field_at_fault_is_marked_and_counted_as_shown(db, kari):
    """The rows are shown again chosen ones first: a fault in the second row of the form,
    under an empty first, is row 1 in the message and marks that row's field."""
    _new_metric(kari)
    pilot_id = _draft(kari, db)
    form = {**PLAN, "metric_id-0": "", "metric_id-1": _metric_id(db, "housed"), "mid-1": "-2"}
    form["role-1"] = "primary"
    form.pop("mid-0")
    response = kari.post(f"/pilots/{pilot_id}/edit", form, headers=EN)
    assert response.status_code == 422
    page = unescape(response.text)
    assert "Metric row 1: the smallest difference that matters cannot be negative." in page
    mid = page[page.index('id="mid-0"') :].split(">", 1)[0]
    assert 'aria-invalid="true"' in mid and 'aria-describedby="metrics-error"' in mid
    role = page[page.index('id="role-0"') :].split(">", 1)[0]
    assert "aria-invalid" not in role


def test_a_single_fault_is_shown_where_it_is_without_a_list(db, kari):
    pilot_id = _draft(kari, db)
    response = kari.post(f"/pilots/{pilot_id}/edit", {**PLAN, "cost": "mye"}, headers=EN)
    assert response.status_code == 422
    assert 'id="cost-error"' in response.text and "error-summary" not in response.text


def test_other_teams_get_404_for_a_draft_and_cannot_edit(app, db, kari):
    pilot_id = _draft(kari, db, "Hemmelig utkast")
    ola = Auth(app.test_client())
    ola.login("ola@fjordvik.example")
    assert ola.client.get(f"/pilots/{pilot_id}").status_code == 404
    assert ola.client.get(f"/pilots/{pilot_id}/edit").status_code == 404
    assert ola.post(f"/pilots/{pilot_id}/edit", PLAN).status_code == 404
    assert ola.post(f"/pilots/{pilot_id}/submit").status_code == 404
    assert "Hemmelig utkast" not in ola.client.get("/pilots").text
    assert "Hemmelig utkast" in kari.client.get("/pilots").text


def test_self_approval_is_refused_on_the_page(app, db, kari):
    _new_metric(kari)
    org.add_role(
        db,
        org.user_by_email(db, DEMO_EMAIL["frontline"])["id"],
        "leader",
        "sosialtjenesten",
        actor_id=None,
    )
    pilot_id = _draft(kari, db)
    kari.post(f"/pilots/{pilot_id}/edit", {**PLAN, "metric_id-0": _metric_id(db, "housed")})
    kari.post(f"/pilots/{pilot_id}/submit")
    kari.login(DEMO_EMAIL["frontline"])  # roles are read at sign-in
    page = kari.client.get(f"/pilots/{pilot_id}", headers=EN).text
    assert "another leader must decide" in page
    response = kari.post(f"/pilots/{pilot_id}/approve", {"version": "1"}, headers=EN)
    assert response.status_code == 303
    assert next(db.query("SELECT status FROM pilot WHERE id = ?", [pilot_id]))["status"] == (
        "submitted"
    )


def _advice(kari, metric, headers, **asked):
    """The planning help for a two-group plan of `metric`, typically at 0.4."""
    question = {"design": "two_group", "metric_id-0": metric, "role-0": "primary"}
    return kari.client.get(
        "/pilots/planning",
        query_string={**question, "typical_value": "0,4", **asked},
        headers={**headers, "HX-Request": "true"},
    )


def test_planning_help_answers_in_plain_words(kari, db):
    _new_metric(kari)
    metric = _metric_id(db, "housed")
    response = _advice(kari, metric, EN, **{"mid-0": "0,15", "planned_n": "40"})
    assert "<html" not in response.text
    assert "With 40 in each group" in response.text
    assert "you need about 173 in each group" in response.text
    # a large number is grouped as the language writes it (14 984 in Norwegian)
    small = _advice(kari, metric, {}, **{"mid-0": "0,01"})
    needed = re.search(r"trenger dere omtrent ([\d\u00a0 ]+) i hver gruppe", small.text)
    assert needed and not needed.group(1).strip().isdigit(), small.text[:2000]


def test_planning_help_for_a_rate_speaks_in_the_metrics_own_terms(kari, db):
    """A rate shown per 100 days is planned per 100 days, in the metric's words; a fall
    reads as a fall, and a size too small for any change says so."""
    response = kari.post(
        "/metrics",
        {
            "slug": "visits",
            "name": "Visits per 100 days followed",
            "type": "rate",
            "direction": "down",
            "period": "month",
            "rate_per": "100",
        },
    )
    assert response.status_code == 303, response.text
    metric = _metric_id(db, "visits")
    asking = unescape(_advice(kari, metric, EN, typical_value="").text)
    assert "level per 100, as the metric “Visits per 100 days followed” is counted" in asking
    answer = unescape(_advice(kari, metric, EN, typical_value="3", planned_n="40").text)
    assert "can reliably detect a fall to 0.67 times today's rate (33 % fewer)" in answer
    assert "counts each citizen as followed for 100" in answer
    needed = unescape(_advice(kari, metric, EN, typical_value="3", **{"mid-0": "0,2"}).text)
    assert "a rate 20 % lower, you need about" in needed
    small = unescape(_advice(kari, metric, EN, typical_value="0,05", planned_n="10").text)
    assert "With 10 in each group, not even a large change can be detected" in small
    # a share's help asks for a share only
    _new_metric(kari)
    share = unescape(_advice(kari, _metric_id(db, "housed"), EN, typical_value="").text)
    assert "(a share between 0 and 1)" in share and "rate" not in share


def test_pilot_list_filters_and_searches(kari, db):
    _draft(kari, db, "Kveldsåpent kontor")
    _draft(kari, db, "Digital timebok")
    response = kari.client.get("/pilots?q=kveld", headers={**EN, "HX-Request": "true"})
    assert "Kveldsåpent kontor" in response.text and "Digital timebok" not in response.text
    assert "<html" not in response.text
    response = kari.client.get("/pilots?status=paused", headers=EN)
    assert "No pilot matches these filters." in response.text


def test_the_plan_form_names_every_trust_limit(db, kari):
    team = org.unit_by_slug(db, "bosted-forst")["id"]
    leader = org.user_by_email(db, DEMO_EMAIL["leader"])["id"]
    domain.set_trust_envelope(
        db,
        team,
        {
            "trust_auto_days": "10",
            "trust_max_days": "120",
            "trust_max_citizens": "25",
            "trust_max_cost": "250000",
            "trust_excluded_risks": ["medication", "children"],
        },
        leader,
    )
    page = kari.client.get(f"/pilots/{_draft(kari, db)}/edit", headers=EN).text
    summary = page.split('id="trust-summary">')[1].split("</p>")[0]
    assert "at most 120 days and 25 citizens is approved after 10 days" in summary
    assert "Its extra cost may be at most NOK 250,000." in summary
    risks = summary.split("always waits for a leader: ")[1]
    assert "Involves medication" in risks and "Involves children" in risks


def test_leader_queue_and_trust_envelope(app, db, kari, ingrid):
    unit = org.unit_by_slug(db, "sosialtjenesten")["id"]
    response = ingrid.post(
        f"/pilots/trust/{unit}",
        {"trust_auto_days": "7", "trust_max_days": "365", "trust_max_citizens": "50"},
    )
    assert response.status_code == 303
    _new_metric(kari)
    pilot_id = _draft(kari, db)
    kari.post(f"/pilots/{pilot_id}/edit", {**PLAN, "metric_id-0": _metric_id(db, "housed")})
    kari.post(f"/pilots/{pilot_id}/submit")
    queue = ingrid.client.get("/pilots/queue", headers=EN).text
    assert "Bosted først" in queue and "7 days" in queue
    per = Auth(app.test_client())
    per.login("per@fjordvik.example")
    assert per.client.get(f"/pilots/trust/{unit}").status_code == 404


def test_the_queue_and_the_pilot_page_say_which_trust_limit_a_plan_is_outside(
    app, db, kari, ingrid
):
    _new_metric(kari)
    pilot_id = _draft(kari, db)
    plan = {**PLAN, "metric_id-0": _metric_id(db, "housed")}
    kari.post(f"/pilots/{pilot_id}/edit", {**plan, "cost": "62500,5", "risk_flags": "children"})
    kari.post(f"/pilots/{pilot_id}/submit")
    # Nothing is set above Bosted først-teamet in the demo.
    no_envelope = "No trust limits are set for this team or the units above it."
    page = ingrid.client.get(f"/pilots/{pilot_id}", headers=EN).text
    assert no_envelope in page
    assert "<dt>Extra cost (NOK)</dt><dd>62,500.50</dd>" in page  # the øre kept
    assert no_envelope in ingrid.client.get("/pilots/queue", headers=EN).text
    kari.post(f"/pilots/{pilot_id}/withdraw")
    unit = org.unit_by_slug(db, "sosialtjenesten")["id"]
    ingrid.post(
        f"/pilots/trust/{unit}",
        {
            "trust_auto_days": "7",
            "trust_max_days": "100",
            "trust_max_citizens": "10",
            "trust_max_cost": "1000",
            "trust_excluded_risks": "children",
        },
    )
    kari.post(f"/pilots/{pilot_id}/submit")
    english = [
        "Runs 183 days; the trust limits allow at most 100.",
        "Involves 20 citizens; the trust limits allow at most 10.",
        "Extra cost NOK 62,500.50; the trust limits allow at most NOK 1,000.",
        "The risk “Involves children” is excluded by the trust limits: it always needs a leader.",
    ]
    norwegian = [
        "Varer i 183 dager; tillitsrammen tillater høyst 100.",
        "Gjelder 20 innbyggere; tillitsrammen tillater høyst 10.",
        "Ekstra kostnad 62\xa0500,50 kr; tillitsrammen tillater høyst 1\xa0000 kr.",
        "Risikoen «Gjelder barn» er unntatt fra tillitsrammen: den krever alltid en leders "
        "beslutning.",
    ]
    queue = ingrid.client.get("/pilots/queue", headers=EN).text
    assert all(f"<li>{reason}</li>" in queue for reason in english), queue
    assert no_envelope not in queue.split("Bosted først")[1].split("</tr>")[0]
    page = kari.client.get(f"/pilots/{pilot_id}", headers={"Accept-Language": "nb"}).text
    assert "Derfor må en leder ta stilling:" in page
    assert all(f"<li>{reason}</li>" in page for reason in norwegian), page
    # A plan inside the limits counts down instead, and names no limit.
    ingrid.post(f"/pilots/trust/{unit}", {"trust_auto_days": "7"})
    kari.post(f"/pilots/{pilot_id}/withdraw")
    kari.post(f"/pilots/{pilot_id}/submit")
    page = kari.client.get(f"/pilots/{pilot_id}", headers=EN).text
    assert "approved automatically on" in page and english[0] not in page
    assert "Why a leader must decide:" not in page


def test_the_team_finds_the_leaders_decision_in_its_inbox(app, db, kari, ingrid):
    _new_metric(kari)
    pilot_id = _draft(kari, db)
    kari.post(f"/pilots/{pilot_id}/edit", {**PLAN, "metric_id-0": _metric_id(db, "housed")})
    kari.post(f"/pilots/{pilot_id}/submit")
    # The leader hears that the plan waits for her (no trust limits above the team), and
    # per, who leads another sector, does not.
    # (in each person's own language, Norwegian here)
    waiting = unescape(ingrid.client.get("/notifications").text)
    assert "Venter på en leder: «Bosted først»" in waiting
    assert "så den venter på en leders beslutning" in waiting
    per = Auth(app.test_client())
    per.login("per@fjordvik.example")
    assert "Bosted først" not in unescape(per.client.get("/notifications").text)
    assert "Venter på en leder" not in unescape(kari.client.get("/notifications").text)
    ingrid.post(
        f"/pilots/{pilot_id}/return", {"comment": "Beskriv sammenligningen bedre", "version": 1}
    )
    inbox = kari.client.get("/notifications", headers={"Accept-Language": "nb"}).text
    assert "Sendt tilbake: «Bosted først»" in inbox
    assert "Beskriv sammenligningen" not in inbox
    assert "Sendt tilbake" not in ingrid.client.get("/notifications").text


def _pilot_id(db, title: str) -> int:
    return next(db.query("SELECT id FROM pilot WHERE title = ?", [title]))["id"]


def test_the_next_step_says_who_acts_when_this_person_has_nothing_to_do(app, db, ingrid):
    """A leader on a pilot past its end is told that its team concludes it (there is no
    button for her), and a reader outside the team gets a line, not an empty box."""
    overdue = _pilot_id(db, "Fast kontaktperson i NAV")
    html = ingrid.client.get(f"/pilots/{overdue}", headers=EN).get_data(as_text=True)
    assert "Its team concludes it: adopt, adapt or abandon." in html
    assert "Conclude it: adopt" not in html
    jonas = Auth(app.test_client())
    jonas.login(DEMO_EMAIL["analyst"])
    running = _pilot_id(db, "Bosted først for ti personer")
    html = jonas.client.get(f"/pilots/{running}", headers=EN).get_data(as_text=True)
    step = html.split('id="actions-heading"', 1)[1].split("</section>", 1)[0]
    assert "The team runs this pilot" in step


def test_a_leaders_objection_button_says_object_not_a_thing(db, ingrid):
    """In Norwegian the button reads "Protester" (object to), not "Objekt" (a thing)."""
    waiting = _pilot_id(db, "Trygghetsalarm med fast svarer")
    html = ingrid.client.get(f"/pilots/{waiting}", headers={"Accept-Language": "nb"}).get_data(
        as_text=True
    )
    assert ">Protester</button>" in html
    assert ">Objekt</button>" not in html


def test_a_running_pilots_data_page_says_when_it_started(db, kari):
    running = _pilot_id(db, "Bosted først for ti personer")
    html = kari.client.get(f"/pilots/{running}/data", headers=EN).get_data(as_text=True)
    assert "· started " in html and "· starts " not in html
