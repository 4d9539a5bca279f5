"""The JSON API with personal tokens: the automation contract in DESIGN.md, with the
web's rules, an OpenAPI 3.1 document that validates, and schemathesis finding no 5xx."""

import pytest
from openapi_spec_validator import validate
from sessions import DEMO_EMAIL

from pilots.domain import organisation as org
from pilots.domain import tokens


def _token(db, email):
    return tokens.create_token(db, org.user_by_email(db, email)["id"], "test")[0]


@pytest.fixture
def as_user(client, db):
    def call(email, method, url, **kwargs):
        headers = {"Authorization": f"Bearer {_token(db, email)}"}
        return client.open(url, method=method, headers=headers, **kwargs)

    return call


NEW_PILOT = {
    "title": "Kveldsåpent NAV",
    "team": "bosted-forst",
    "design": "two_group",
    "start_date": "2027-01-01",
    "end_date": "2027-06-30",
    "comparison": "Dagåpent kontor",
    "metrics": [{"slug": "housed-api", "role": "primary", "minimal_important_difference": 0.1}],
}


def test_the_contract_from_metric_to_approved_pilot(as_user, db):
    kari, ingrid = DEMO_EMAIL["frontline"], DEMO_EMAIL["leader"]
    metric = as_user(
        kari,
        "POST",
        "/api/v1/metrics",
        json={"slug": "housed-api", "name": "Housed", "type": "proportion", "direction": "up"},
    )
    assert metric.status_code == 201 and metric.json["min"] == 0 and metric.json["max"] == 1
    created = as_user(kari, "POST", "/api/v1/pilots", json=NEW_PILOT)
    assert created.status_code == 201, created.json
    pilot_id = created.json["id"]
    assert created.json["status"] == "draft" and created.json["team"] == "bosted-forst"
    submitted = as_user(kari, "POST", f"/api/v1/pilots/{pilot_id}/submit")
    assert submitted.status_code == 200 and submitted.json["status"] == "submitted"
    own = as_user(kari, "POST", f"/api/v1/pilots/{pilot_id}/approve")
    assert own.status_code == 403  # kari is no leader at all
    wrong_version = as_user(
        ingrid, "POST", f"/api/v1/pilots/{pilot_id}/approve", json={"version": 7}
    )
    assert wrong_version.status_code == 422
    approved = as_user(ingrid, "POST", f"/api/v1/pilots/{pilot_id}/approve", json={"version": 1})
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert approved.json["versions"][0]["state"] == "approved"
    fetched = as_user(DEMO_EMAIL["analyst"], "GET", f"/api/v1/pilots/{pilot_id}")
    assert fetched.json["approved_version"] == 1


def test_a_bad_pilot_is_refused_whole(as_user, db):
    before = db["pilot"].count
    response = as_user(
        DEMO_EMAIL["frontline"],
        "POST",
        "/api/v1/pilots",
        json={**NEW_PILOT, "metrics": [{"slug": "nope", "role": "primary"}]},
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "metrics"
    response = as_user(
        DEMO_EMAIL["frontline"],
        "POST",
        "/api/v1/pilots",
        json={**NEW_PILOT, "metrics": [], "end_date": "2026-01-01"},
    )
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "end_date"
    assert db["pilot"].count == before


def test_a_team_one_is_not_on_is_refused(as_user):
    response = as_user(
        DEMO_EMAIL["frontline"],
        "POST",
        "/api/v1/pilots",
        json={**NEW_PILOT, "team": "hjemme-nord", "metrics": []},
    )
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "team"


def test_drafts_of_other_teams_are_404_through_the_api(as_user, db):
    draft = next(db.query("SELECT id FROM pilot WHERE status = 'draft' LIMIT 1"))["id"]
    assert as_user("ola@fjordvik.example", "GET", f"/api/v1/pilots/{draft}").status_code == 404
    assert as_user(DEMO_EMAIL["frontline"], "GET", f"/api/v1/pilots/{draft}").status_code == 200
    listed = as_user("ola@fjordvik.example", "GET", "/api/v1/pilots").json
    assert draft not in [p["id"] for p in listed["pilots"]]


def test_tokens_are_hashed_revocable_and_record_their_last_use(client, db, auth):
    token, row = tokens.create_token(db, org.user_by_email(db, DEMO_EMAIL["analyst"])["id"], "x")
    assert token not in str(list(db.query("SELECT * FROM api_token")))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/metrics", headers=headers).status_code == 200
    assert next(db.query("SELECT last_used_at FROM api_token WHERE id = ?", [row["id"]]))[
        "last_used_at"
    ]
    tokens.revoke_token(db, row["user_id"], row["id"])
    assert client.get("/api/v1/metrics", headers=headers).status_code == 401
    assert (
        client.get("/api/v1/metrics", headers={"Authorization": "Bearer nonsense"}).status_code
        == 401
    )


def test_tokens_from_the_profile_page_and_the_cli(auth, client, runner, db):
    auth.login(DEMO_EMAIL["analyst"])
    page = auth.post("/profile/tokens", {"name": "report script"})
    token = page.text.split('id="new-token">')[1].split("<")[0]
    assert (
        client.get("/api/v1/pilots", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    result = runner.invoke(args=["create-token", DEMO_EMAIL["leader"], "--name", "cli"])
    assert result.exit_code == 0
    cli_token = result.output.strip()
    assert (
        client.get("/api/v1/pilots", headers={"Authorization": f"Bearer {cli_token}"}).status_code
        == 200
    )


def test_the_openapi_document_is_valid_and_covers_every_api_route(app, client):
    document = client.get("/api/v1/openapi.json").json
    validate(document)
    assert document["openapi"].startswith("3.1")
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.removeprefix("/api/v1").replace("<int:", "{").replace(">", "}")
            path = path.replace("<", "{")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method) in documented, f"{method} {path} is not in openapi.json"


def test_a_pilot_with_several_faults_gets_them_all_named(as_user, db):
    """The 422 lists every fault of the plan, not only the first (DESIGN.md's problem
    body: `errors`, a list), so a script's author mends them in one go."""
    before = db["pilot"].count
    response = as_user(
        DEMO_EMAIL["frontline"],
        "POST",
        "/api/v1/pilots",
        json={**NEW_PILOT, "metrics": [], "end_date": "2026-01-01", "cadence": "hourly"},
    )
    assert response.status_code == 422
    fields = [error["field"] for error in response.json["errors"]]
    assert fields == ["end_date", "cadence"], response.json
    assert "hourly" in response.json["errors"][1]["message"]
    assert db["pilot"].count == before
