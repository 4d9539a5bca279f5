"""Every state-changing route writes one audit event per state change (SECURITY.md,
DESIGN.md): one, or two when concluding a pilot also stores its last look.

The table below holds one valid request per POST endpoint; a new endpoint without an
entry fails `test_every_state_changing_route_is_listed`.
"""

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sessions import DEMO_EMAIL, Auth, csrf_token

from pilots import create_app
from pilots.db import connect
from pilots.demo import DEMO_PASSWORD
from pilots.domain import organisation as org
from pilots.domain import pilots, tokens

KARI, INGRID, OLA, ADMIN = (
    DEMO_EMAIL["frontline"],
    DEMO_EMAIL["leader"],
    "ola@fjordvik.example",
    DEMO_EMAIL["admin"],
)


ANALYST = DEMO_EMAIL["analyst"]


def _id(db, sql, *params):
    return next(db.query(sql, list(params)))["id"]


def _user(db, email):
    return org.user_by_email(db, email)["id"]


def _pilot(db, title):
    return _id(db, "SELECT id FROM pilot WHERE title = ?", title)


def _notification(db, email):
    from pilots.domain import notifications

    with db.atomic():
        return notifications.notify(
            db, _user(db, email), "digest", "Digest", "/portfolio", "", "2026-11-20T05:00:00Z"
        )


def _complete_draft(db):
    kari = _user(db, KARI)
    metric = _id(db, "SELECT id FROM metric WHERE slug = 'housed-6m'")
    pilot = pilots.create_pilot(
        db,
        team_id=org.unit_by_slug(db, "bosted-forst")["id"],
        title="Klar",
        actor_id=kari,
        charter={"start_date": "2027-01-01", "end_date": "2027-03-01", "design": "two_group"},
        choices=[{"metric_id": metric, "role": "primary"}],
    )
    return pilot["id"]


def _story(db):
    return {
        "title": "Ventet på bolig",
        "account": "Jeg ventet lenge på et boligtilbud.",
        "source": "conversation",
        "consent_how": "oral",
        "consent_on": "2026-05-01",
        "unit_id": org.unit_by_slug(db, "bosted-forst")["id"],
    }


def _idea(db):
    return {
        "title": "Bolig uten ventetid",
        "need": "Et sted å bo først",
        "proposal": "Gi nøkkelen første dag",
        "unit_id": org.unit_by_slug(db, "bosted-forst")["id"],
    }


@dataclass
class Case:
    endpoint: str
    who: str | None  # None: anonymous
    url: Callable
    data: Callable = field(default=lambda db: {})
    api: bool = False
    # State changes the request makes, one event each: concluding or stopping a pilot
    # also stores its last look (pilot.evaluate), a change of its own.
    events: int = 1


HOUSING = "Bosted først for ti personer"
HOUSING_ROWS = (
    "metric;period;arm;unit;value;n\r\n"
    "housed-6m;01.11.2026;pilot;Ny-1;1;\r\n"
    "er-visits;01.11.2026;pilot;;2;310,5\r\n"
)


def _staged_upload(db):
    """A file previewed by Kari and waiting to be stored, as the upload step leaves it."""
    from pathlib import Path

    from pilots.web.observations import stage

    database_file = db.conn.execute("PRAGMA database_list").fetchone()[2]
    folder = Path(database_file).parent / "uploads"
    meta = {"filename": "bosted.csv", "encoding": "", "decimal_mark": "", "metric": ""}
    token = stage(folder, _user(db, KARI), _pilot(db, HOUSING), HOUSING_ROWS.encode(), meta)
    return f"/pilots/{_pilot(db, HOUSING)}/data/upload/{token}"


def _undo_url(db):
    """Undoing the housing pilot's latest upload that still has rows stored."""
    pilot = _pilot(db, HOUSING)
    upload = _id(
        db,
        """SELECT max(u.id) AS id FROM upload u WHERE u.pilot_id = ?
           AND EXISTS (SELECT 1 FROM observation o WHERE o.upload_id = u.id)""",
        pilot,
    )
    return f"/pilots/{pilot}/data/uploads/{upload}/undo"


ALARM = "Trygghetsalarm med fast svarer"
CASES = [
    Case(
        "auth.login",
        None,
        lambda db: "/login",
        lambda db: {"email": KARI, "password": DEMO_PASSWORD},
    ),
    Case("auth.logout", KARI, lambda db: "/logout"),
    Case("home.language", KARI, lambda db: "/language", lambda db: {"language": "en"}),
    Case(
        "profile.password",
        KARI,
        lambda db: "/profile/password",
        lambda db: {
            "current_password": DEMO_PASSWORD,
            "new_password": "a new long passphrase",
            "repeat_password": "a new long passphrase",
        },
    ),
    Case("profile.create_token", KARI, lambda db: "/profile/tokens", lambda db: {"name": "x"}),
    Case(
        "profile.revoke_token",
        KARI,
        lambda db: "/profile/tokens/{}/revoke".format(
            tokens.create_token(db, _user(db, KARI), "old")[1]["id"]
        ),
    ),
    Case(
        "admin.create_unit",
        ADMIN,
        lambda db: "/admin/units",
        lambda db: {"name": "Sone vest", "slug": "vest", "parent": "hjemmetjenesten"},
    ),
    Case("admin.rename_unit", ADMIN, lambda db: "/admin/units/5", lambda db: {"name": "Nytt"}),
    Case(
        "admin.create_user",
        ADMIN,
        lambda db: "/admin/users",
        lambda db: {"name": "Ny", "email": "ny@fjordvik.example", "role": "analyst"},
    ),
    Case(
        "admin.update_user",
        ADMIN,
        lambda db: f"/admin/users/{_user(db, 'jonas@fjordvik.example')}",
        lambda db: {"name": "Jonas B", "email": "jonas@fjordvik.example"},
    ),
    Case(
        "admin.set_active",
        ADMIN,
        lambda db: f"/admin/users/{_user(db, 'jonas@fjordvik.example')}/active",
        lambda db: {"active": "0"},
    ),
    Case(
        "admin.reset_password",
        ADMIN,
        lambda db: f"/admin/users/{_user(db, 'jonas@fjordvik.example')}/password",
    ),
    Case(
        "admin.add_role",
        ADMIN,
        lambda db: f"/admin/users/{_user(db, 'jonas@fjordvik.example')}/roles",
        lambda db: {"role": "leader", "unit": "oppvekst"},
    ),
    Case(
        "admin.remove_role",
        ADMIN,
        lambda db: "/admin/users/{}/roles/{}/delete".format(
            _user(db, KARI), _id(db, "SELECT id FROM role WHERE user_id = ?", _user(db, KARI))
        ),
    ),
    Case(
        "metrics.create",
        KARI,
        lambda db: "/metrics",
        lambda db: {
            "slug": "ny",
            "name": "Ny",
            "type": "mean",
            "direction": "up",
            "period": "week",
        },
    ),
    Case(
        "metrics.update",
        KARI,
        lambda db: "/metrics/1",
        lambda db: {"name": "Nytt navn", "direction": "up", "period": "month"},
    ),
    Case(
        "pilots.create",
        KARI,
        lambda db: "/pilots",
        lambda db: {"title": "Ny", "team": org.unit_by_slug(db, "bosted-forst")["id"]},
    ),
    Case(
        "pilots.update",
        KARI,
        lambda db: f"/pilots/{_pilot(db, 'Husleiegaranti uten søknad')}/edit",
        lambda db: {"title": "Husleiegaranti", "cadence": "monthly"},
    ),
    Case("pilots.submit", KARI, lambda db: f"/pilots/{_complete_draft(db)}/submit"),
    Case("pilots.withdraw", OLA, lambda db: f"/pilots/{_pilot(db, ALARM)}/withdraw"),
    Case(
        "pilots.approve",
        INGRID,
        lambda db: f"/pilots/{_pilot(db, ALARM)}/approve",
        lambda db: {"version": "1"},
    ),
    Case(
        "pilots.return_to_team",
        INGRID,
        lambda db: f"/pilots/{_pilot(db, ALARM)}/return",
        lambda db: {"version": "1", "comment": "Snakk med brukerrådet"},
    ),
    Case(
        "pilots.object_to",
        INGRID,
        lambda db: f"/pilots/{_pilot(db, ALARM)}/object",
        lambda db: {"objection": "Vent"},
    ),
    Case(
        "pilots.change_status",
        KARI,
        lambda db: f"/pilots/{_pilot(db, HOUSING)}/status",
        lambda db: {"action": "pause", "reason": "Ferie"},
    ),
    Case(
        "pilots.conclude",
        KARI,
        lambda db: f"/pilots/{_pilot(db, HOUSING)}/conclude",
        lambda db: {"decision": "adopt", "learned": "Det virker"},
        events=2,
    ),
    Case(
        "pilots.add_cycle",
        KARI,
        lambda db: f"/pilots/{_pilot(db, HOUSING)}/cycles",
        lambda db: {"plan": "Tre nye"},
    ),
    Case(
        "pilots.update_cycle",
        KARI,
        lambda db: "/pilots/{}/cycles/{}".format(
            _pilot(db, HOUSING), _id(db, "SELECT id FROM pdsa_cycle LIMIT 1")
        ),
        lambda db: {"plan": "To første", "act": "adopt"},
    ),
    Case(
        "pilots.update_trust",
        INGRID,
        lambda db: f"/pilots/trust/{org.unit_by_slug(db, 'sosialtjenesten')['id']}",
        lambda db: {"trust_auto_days": "5"},
    ),
    Case("stories.create", KARI, lambda db: "/stories", lambda db: _story(db)),
    Case("stories.withdraw", KARI, lambda db: "/stories/1/withdraw"),
    Case(
        "stories.pick",
        INGRID,
        lambda db: "/stories/1/week",
        lambda db: {"unit_id": org.unit_by_slug(db, "helse-velferd")["id"], "note": "Til mandag"},
    ),
    Case("ideas.create", KARI, lambda db: "/ideas", lambda db: _idea(db)),
    Case("ideas.update", KARI, lambda db: "/ideas/9", lambda db: _idea(db)),
    Case("ideas.propose", KARI, lambda db: "/ideas/9/propose"),
    Case("ideas.support", ANALYST, lambda db: "/ideas/12/support", lambda db: {"on": "1"}),
    Case("ideas.follow", ANALYST, lambda db: "/ideas/12/follow", lambda db: {"on": "1"}),
    Case("ideas.comment", OLA, lambda db: "/ideas/12/comments", lambda db: {"body": "God idé"}),
    Case(
        "ideas.answer",
        INGRID,
        lambda db: "/ideas/12/answer",
        lambda db: {"kind": "dialogue", "reason": "La oss møtes på torsdag"},
    ),
    Case(
        "ideas.set_deadline",
        INGRID,
        lambda db: f"/ideas/deadlines/{org.unit_by_slug(db, 'helse-velferd')['id']}",
        lambda db: {"answer_days": "20"},
    ),
    Case("api.create_story", KARI, lambda db: "/api/v1/stories", lambda db: _story(db), api=True),
    Case("api.create_idea", KARI, lambda db: "/api/v1/ideas", lambda db: _idea(db), api=True),
    Case(
        "observations.save_entry",
        KARI,
        lambda db: f"/pilots/{_pilot(db, HOUSING)}/data/entry",
        lambda db: {
            "metric": "er-visits",
            "until": "2026-11-01",
            "v|2026-11-01|pilot": "3",
            "n|2026-11-01|pilot": "300,5",
        },
    ),
    Case(
        "observations.upload",
        KARI,
        lambda db: f"/pilots/{_pilot(db, HOUSING)}/data/upload",
        lambda db: {"file": (io.BytesIO(HOUSING_ROWS.encode()), "bosted.csv")},
    ),
    Case("observations.store", KARI, _staged_upload),
    Case("observations.undo", KARI, _undo_url),
    Case(
        "register.create",
        KARI,
        lambda db: "/register",
        lambda db: {"name": "Antall avvik", "slug": "avvik", "reported_in": "Kvalitetsrapport"},
    ),
    Case(
        "register.retire",
        INGRID,
        lambda db: "/register/{}/retire".format(
            _id(db, "SELECT id FROM metric WHERE slug = 'brukermoter-registrert'")
        ),
        lambda db: {"reason": "Ingen bruker tallet"},
    ),
    Case(
        "register.merge",
        INGRID,
        lambda db: "/register/{}/merge".format(
            _id(db, "SELECT id FROM metric WHERE slug = 'ventetid-forste-samtale-uke'")
        ),
        lambda db: {
            "into": _id(db, "SELECT id FROM metric WHERE slug = 'ventetid-forste-samtale'"),
            "reason": "Samme tall, to ganger",
        },
    ),
    Case(
        "api.create_metric",
        KARI,
        lambda db: "/api/v1/metrics",
        lambda db: {"slug": "api-ny", "name": "Ny", "type": "rate", "direction": "down"},
        api=True,
    ),
    Case(
        "api.create_pilot",
        KARI,
        lambda db: "/api/v1/pilots",
        lambda db: {
            "title": "Fra API",
            "team": "bosted-forst",
            "design": "spc",
            "start_date": "2027-01-01",
            "end_date": "2027-02-01",
            "metrics": [{"slug": "housed-6m", "role": "primary"}],
        },
        api=True,
    ),
    Case(
        "api.submit_pilot",
        KARI,
        lambda db: f"/api/v1/pilots/{_complete_draft(db)}/submit",
        api=True,
    ),
    Case(
        "api.post_observations",
        KARI,
        lambda db: f"/api/v1/pilots/{_pilot(db, HOUSING)}/observations",
        lambda db: [{"metric": "housed-6m", "period": "01.11.2026", "unit": "API-1", "value": 1}],
        api=True,
    ),
    Case(
        "api.approve_pilot",
        INGRID,
        lambda db: f"/api/v1/pilots/{_pilot(db, ALARM)}/approve",
        lambda db: {"version": 1},
        api=True,
    ),
    Case(
        "api.evaluate",
        KARI,
        lambda db: f"/api/v1/pilots/{_pilot(db, HOUSING)}/evaluations",
        api=True,
    ),
    Case(
        "results.evaluate",
        KARI,
        lambda db: f"/pilots/{_pilot(db, HOUSING)}/evaluate",
    ),
    Case(
        "notifications.read",
        INGRID,
        lambda db: f"/notifications/{_notification(db, INGRID)}/read",
    ),
    Case("notifications.read_all", INGRID, lambda db: "/notifications/read-all"),
    Case(
        "notifications.digest",
        INGRID,
        lambda db: "/profile/digest",
        lambda db: {"frequency": "daily"},
    ),
]


def _post_endpoints():
    app = create_app({"MODE": "testing", "SECRET_KEY": "x", "DATABASE": ":memory:"})
    return sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
    )


def test_every_state_changing_route_is_listed():
    listed = {case.endpoint for case in CASES}
    missing = [endpoint for endpoint in _post_endpoints() if endpoint not in listed]
    assert missing == [], "add a valid request for these to CASES"


@pytest.mark.parametrize("case", CASES, ids=[c.endpoint for c in CASES])
def test_each_state_change_writes_exactly_one_event(app, case):
    """One event per state change: one per request, two when it closes a pilot."""
    db = connect(app.config["DATABASE"])
    url, data = case.url(db), case.data(db)
    client = app.test_client()
    if case.api:
        token = tokens.create_token(db, _user(db, case.who), "audit")[0]
        before = db["audit_event"].count
        response = client.post(url, json=data, headers={"Authorization": f"Bearer {token}"})
    else:
        if case.who:
            assert Auth(client).login(case.who).status_code == 303
        data = {**data, "csrf_token": csrf_token(client)}
        before = db["audit_event"].count
        response = client.post(url, data=data)
    assert response.status_code < 400, response.get_data(as_text=True)[:500]
    assert db["audit_event"].count == before + case.events


# ---- who reads the trail ------------------------------------------------------------

ROW = re.compile(r"<td><code>([^<]+)</code></td><td>(\w+) ([^<]*)</td>")
PAGES = re.compile(r"Page (\d+) of (\d+)")
ENGLISH = {"Accept-Language": "en"}


def _trail(client) -> tuple[list[tuple[str, str, str]], int]:
    """Every (action, object type, object id) row of the audit page, walking its pager."""
    rows, number, pages = [], 1, 1
    while number <= pages:
        response = client.get(f"/admin/audit?page={number}", headers=ENGLISH)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        rows += ROW.findall(html)
        found = PAGES.search(html)
        pages = int(found.group(2)) if found else 1
        number += 1
    return rows, pages


def _outside_ingrids_units(db):
    """The admin adds Hanne to the school nurses (Per's part of the tree) and she starts
    a pilot there; Kari adds a cycle to her team's pilot, deep below Ingrid's unit."""
    hanne = org.create_user(
        db,
        "hanne@fjordvik.example",
        "Hanne Helsesøster",
        "x",
        [("frontline", "helsesykepleiere")],
        actor_id=_user(db, ADMIN),
    )["id"]
    other = pilots.create_pilot(
        db,
        team_id=org.unit_by_slug(db, "helsesykepleiere")["id"],
        title="Drop-in etter skoletid",
        actor_id=hanne,
    )["id"]
    pilots.add_cycle(db, _pilot(db, HOUSING), {"plan": "Tre nye"}, _user(db, KARI))
    return hanne, other


def test_a_leader_reads_their_units_and_their_own_actions(app):
    db = connect(app.config["DATABASE"])
    hanne, other = _outside_ingrids_units(db)
    client = app.test_client()
    assert Auth(client).login(INGRID).status_code == 303
    rows, pages = _trail(client)
    page = client.get("/admin/audit", headers=ENGLISH).get_data(as_text=True)
    assert "Showing changes in the units you lead and your own actions." in page

    assert ("pilot.cycle_add", "pilot", str(_pilot(db, HOUSING))) in rows
    assert ("user.sign_in", "user", str(_user(db, INGRID))) in rows  # her own
    assert not [row for row in rows if row[1:] == ("pilot", str(other))]
    assert not [row for row in rows if row[1:] == ("user", str(hanne))]
    assert not [row for row in rows if row[0] == "user.create"]

    total = len(rows)
    assert total < db["audit_event"].count
    assert pages == -(-total // 50) and pages > 1
    fragment = client.get("/admin/audit?page=2", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)


def test_an_admin_reads_the_whole_trail(app):
    db = connect(app.config["DATABASE"])
    hanne, other = _outside_ingrids_units(db)
    client = app.test_client()
    assert Auth(client).login(ADMIN).status_code == 303
    rows, pages = _trail(client)
    page = client.get("/admin/audit", headers=ENGLISH).get_data(as_text=True)
    assert "the units you lead" not in page
    assert ("pilot.create", "pilot", str(other)) in rows
    assert ("user.create", "user", str(hanne)) in rows
    assert len(rows) == db["audit_event"].count
    assert pages == -(-len(rows) // 50)
