"""Every state-changing route writes exactly one audit event (SECURITY.md, DESIGN.md).

The table below holds one valid request per POST endpoint; a new endpoint without an
entry fails `test_every_state_changing_route_is_listed`.
"""

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


def _id(db, sql, *params):
    return next(db.query(sql, list(params)))["id"]


def _user(db, email):
    return org.user_by_email(db, email)["id"]


def _pilot(db, title):
    return _id(db, "SELECT id FROM pilot WHERE title = ?", title)


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


@dataclass
class Case:
    endpoint: str
    who: str | None  # None: anonymous
    url: Callable
    data: Callable = field(default=lambda db: {})
    api: bool = False


HOUSING = "Bosted først for ti personer"
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
        "api.approve_pilot",
        INGRID,
        lambda db: f"/api/v1/pilots/{_pilot(db, ALARM)}/approve",
        lambda db: {"version": 1},
        api=True,
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
    assert db["audit_event"].count == before + 1
