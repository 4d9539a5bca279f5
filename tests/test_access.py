"""The access matrix, generated from `app.url_map`: every endpoint declares its rule,
and anonymous and wrong-role requests are refused on each (SECURITY.md, "Access").
"""

import pytest
from sessions import DEMO_EMAIL, csrf_token, signed_in_client

from pilots import create_app
from pilots.db import connect
from pilots.domain import organisation as org
from pilots.domain import tokens
from pilots.web.access import ANYONE, SIGNED_IN

ROLE_HOLDERS = DEMO_EMAIL


def _endpoints():
    app = create_app({"MODE": "testing", "SECRET_KEY": "x", "DATABASE": ":memory:"})
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, getattr(view, "access_rule", None)


def _url(rule) -> str:
    values = {arg: 1 for arg in rule.arguments}
    if rule.endpoint == "static":
        values = {"filename": "css/app.css"}
    return rule.build(values, append_unknown=False)[1]


ENDPOINTS = list(_endpoints())
PROTECTED = [e for e in ENDPOINTS if e[2] and ANYONE not in e[2]]
ROLE_BOUND = [e for e in PROTECTED if SIGNED_IN not in e[2]]


def _ids(endpoints):
    return [f"{method} {rule.rule}" for rule, method, _ in endpoints]


IDS = _ids(ENDPOINTS)


@pytest.mark.parametrize(("rule", "method", "access_rule"), ENDPOINTS, ids=IDS)
def test_every_endpoint_declares_an_access_rule(rule, method, access_rule):
    assert access_rule, f"{rule.endpoint} has no @allow(...) rule"
    known = {ANYONE, SIGNED_IN, "admin", "leader", "analyst", "frontline", "case_handler"}
    assert set(access_rule) <= known


@pytest.mark.parametrize(("rule", "method", "access_rule"), PROTECTED, ids=_ids(PROTECTED))
def test_anonymous_requests_are_sent_to_sign_in(client, rule, method, access_rule):
    token = csrf_token(client)
    response = client.open(_url(rule), method=method, data={"csrf_token": token})
    if rule.rule.startswith("/api/"):
        assert response.status_code == 401
    else:
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def _outsider(access_rule):
    """A demo role that holds none of the roles the rule asks for."""
    for role, email in ROLE_HOLDERS.items():
        if role not in access_rule:
            return email
    return None


def _request_as(app, email, rule, method):
    """Call the endpoint as this person: a signed-in browser, or a bearer token for the API."""
    if rule.rule.startswith("/api/"):
        db = connect(app.config["DATABASE"])
        token, _row = tokens.create_token(db, org.user_by_email(db, email)["id"], "matrix")
        headers = {"Authorization": f"Bearer {token}"}
        return app.test_client().open(_url(rule), method=method, headers=headers, json={})
    client, csrf = signed_in_client(app, email)
    return client.open(_url(rule), method=method, data={"csrf_token": csrf})


@pytest.mark.parametrize(("rule", "method", "access_rule"), ROLE_BOUND, ids=_ids(ROLE_BOUND))
def test_wrong_role_requests_are_forbidden(app, rule, method, access_rule):
    response = _request_as(app, _outsider(access_rule), rule, method)
    assert response.status_code == 403


@pytest.mark.parametrize(("rule", "method", "access_rule"), PROTECTED, ids=_ids(PROTECTED))
def test_the_right_role_gets_past_the_rule(app, rule, method, access_rule):
    role = "frontline" if SIGNED_IN in access_rule else access_rule[0]
    response = _request_as(app, ROLE_HOLDERS[role], rule, method)
    assert response.status_code not in (401, 403)
    assert response.status_code < 500


def test_the_api_ignores_session_cookies(auth, client):
    auth.login()
    assert client.get("/api/v1/pilots").status_code == 401


def test_state_changes_need_a_csrf_token(auth, client):
    auth.login()
    response = client.post("/admin/units", data={"name": "X", "slug": "x"})
    assert response.status_code == 400
    response = client.post(
        "/admin/units",
        data={"name": "X", "slug": "x"},
        headers={"X-CSRFToken": auth.token(), "HX-Request": "true"},
    )
    # The htmx way: the token in a header; success answers with HX-Redirect.
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/admin/units"
