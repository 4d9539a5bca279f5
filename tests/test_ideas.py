"""Ideas: drafts seen only by their authors (404 to others, even by guessing ids),
proposing, supports, comments, follows, the obligation to answer with its deadline
and overdue flag, and accepting an idea into a pilot draft linked to its stories."""

import pytest
from sessions import DEMO_EMAIL, signed_in_client

from pilots.domain import DomainError, NotFound, accounts, ideas, personal_data, stories
from pilots.domain import organisation as org

NOW = "2026-05-04T09:00:00Z"
OLA = "ola@fjordvik.example"
PER = "per@fjordvik.example"
AMIR = "amir@fjordvik.example"


def user(db, email):
    return org.user_by_email(db, email)["id"]


def unit(db, slug):
    return org.unit_by_slug(db, slug)["id"]


def a_story(db):
    return stories.create_story(
        db,
        actor_id=user(db, DEMO_EMAIL["frontline"]),
        title="Ventet på bolig",
        account="Jeg ventet på boligtilbud i tre måneder.",
        source="conversation",
        consent_how="oral",
        consent_on="2026-05-01",
        tags="bolig",
        unit_id=unit(db, "bosted-forst"),
        now=NOW,
    )


def a_draft(db, story_ids=(), **overrides):
    values = {
        "title": "Bolig først, så resten",
        "need": "Et trygt sted å bo",
        "whose_need": "Folk som står uten bolig",
        "proposal": "Gi en leilighet uten krav om rusfrihet først",
        "stop_doing": "Trappetrinnsmodellen",
        "benefit": "Ro til å ta tak i resten",
        "risks": "Naboklager",
        "co_creators": "To erfaringskonsulenter",
        "tags": "bolig",
        "unit_id": unit(db, "bosted-forst"),
    }
    values.update(overrides)
    return ideas.create_idea(
        db, actor_id=user(db, DEMO_EMAIL["frontline"]), story_ids=story_ids, now=NOW, **values
    )


def snapshot(db):
    tables = ("idea", "idea_author", "idea_story", "idea_tag", "idea_support", "idea_comment")
    return tuple(db[t].count for t in tables) + (db["audit_event"].count,)


# ---- domain ------------------------------------------------------------------


def test_a_draft_is_seen_only_by_its_authors(db):
    kari, ola = user(db, DEMO_EMAIL["frontline"]), user(db, OLA)
    draft = a_draft(db, co_authors="")
    with pytest.raises(NotFound):
        ideas.get_idea(db, draft["id"], ola)
    assert ideas.search_ideas(db, ola, "bolig")[1] == 0 or draft["id"] not in [
        r["id"] for r in ideas.search_ideas(db, ola, "bolig", limit=500)[0]
    ]
    assert ideas.get_idea(db, draft["id"], kari)["status"] == "draft"
    with_ola = a_draft(db, co_authors=OLA)
    assert ideas.get_idea(db, with_ola["id"], ola)["title"] == with_ola["title"]


def test_proposing_sets_the_deadline_from_the_unit(db):
    kari = user(db, DEMO_EMAIL["frontline"])
    db.execute("UPDATE unit SET answer_days = 14 WHERE slug = 'bosted-forst'")
    idea = ideas.propose_idea(db, a_draft(db)["id"], kari, now=NOW)
    assert idea["status"] == "proposed" and idea["answer_due"] == "2026-05-18"
    assert ideas.has(db, "idea_follow", idea["id"], kari)
    assert not ideas.is_overdue(idea, "2026-05-18T10:00:00Z")
    assert ideas.is_overdue(idea, "2026-05-19T10:00:00Z")
    ingrid = user(db, DEMO_EMAIL["leader"])
    late = ideas.search_ideas(db, ingrid, overdue=True, now="2026-05-19T10:00:00Z", limit=500)[0]
    assert idea["id"] in [r["id"] for r in late]
    assert ideas.waiting_for(db, ingrid, "2026-05-19T10:00:00Z")["overdue"] >= 1


def test_one_support_per_person_and_comments_pass_the_guard(db):
    kari, ola = user(db, DEMO_EMAIL["frontline"]), user(db, OLA)
    draft = a_draft(db)
    with pytest.raises(NotFound):
        ideas.set_support(db, draft["id"], ola, True)
    idea = ideas.propose_idea(db, draft["id"], kari, now=NOW)
    ideas.set_support(db, idea["id"], ola, True)
    ideas.set_support(db, idea["id"], ola, True)
    assert ideas.get_idea(db, idea["id"], ola)["support_count"] == 1
    ideas.set_support(db, idea["id"], ola, False)
    assert ideas.get_idea(db, idea["id"], ola)["support_count"] == 0
    before = snapshot(db)
    with pytest.raises(personal_data.PersonalDataError):
        ideas.add_comment(db, idea["id"], ola, "Ring henne på 22 12 34 56")
    assert snapshot(db) == before
    ideas.add_comment(db, idea["id"], ola, "Vi har sett det samme i sone nord.")
    assert len(ideas.comments(db, idea["id"])) == 1


def test_an_author_cannot_support_her_own_idea_but_may_take_an_old_support_back(db):
    kari, ola = user(db, DEMO_EMAIL["frontline"]), user(db, OLA)
    idea = ideas.propose_idea(db, a_draft(db, co_authors=OLA)["id"], kari, now=NOW)
    before = snapshot(db)
    for author in (kari, ola):  # the one who wrote it and a co-author
        with pytest.raises(DomainError) as caught:
            ideas.set_support(db, idea["id"], author, True)
        assert "your own idea" in caught.value.message
    assert snapshot(db) == before
    db["idea_support"].insert({"idea_id": idea["id"], "user_id": kari, "created_at": NOW})
    assert ideas.set_support(db, idea["id"], kari, False) is False
    assert ideas.get_idea(db, idea["id"], kari)["support_count"] == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"need": ""}, "need"),
        ({"proposal": ""}, "proposal"),
        ({"unit_id": ""}, "unit_id"),
        ({"proposal": "Ring 912 34 567"}, "proposal"),
        ({"stop_doing": "Møtet i Storgata 3"}, "stop_doing"),
        ({"co_authors": "nobody@nowhere.example"}, "co_authors"),
    ],
)
def test_bad_ideas_name_the_field_and_store_nothing(db, overrides, field):
    before = snapshot(db)
    with pytest.raises(DomainError) as caught:
        a_draft(db, **overrides)
    assert caught.value.field == field
    assert snapshot(db) == before


def test_only_a_leader_of_the_unit_answers_and_reasons_are_required(db):
    kari, ingrid, per = (
        user(db, DEMO_EMAIL["frontline"]),
        user(db, DEMO_EMAIL["leader"]),
        user(db, PER),
    )
    idea = ideas.propose_idea(db, a_draft(db)["id"], kari, now=NOW)
    with pytest.raises(DomainError, match="leader"):
        ideas.answer_idea(db, idea["id"], actor_id=per, kind="dialogue")
    with pytest.raises(DomainError) as caught:
        ideas.answer_idea(db, idea["id"], actor_id=ingrid, kind="declined")
    assert caught.value.field == "reason"
    with pytest.raises(DomainError) as caught:
        ideas.answer_idea(
            db,
            idea["id"],
            actor_id=ingrid,
            kind="parked",
            reason="Budsjett",
            now=NOW,
            look_again_on="2026-01-01",
        )
    assert caught.value.field == "look_again_on"
    parked = ideas.answer_idea(
        db,
        idea["id"],
        actor_id=ingrid,
        kind="parked",
        reason="Venter på budsjett",
        look_again_on="01.09.2026",
        now=NOW,
    )
    assert parked["status"] == "parked" and parked["look_again_on"] == "2026-09-01"
    assert not ideas.is_overdue(parked, "2027-01-01T00:00:00Z")


def test_accepting_creates_a_pilot_draft_linked_to_the_idea_and_its_stories(db):
    kari, ingrid = user(db, DEMO_EMAIL["frontline"]), user(db, DEMO_EMAIL["leader"])
    story = a_story(db)
    idea = ideas.propose_idea(db, a_draft(db, story_ids=[story["id"]])["id"], kari, now=NOW)
    before = db["pilot"].count
    with pytest.raises(DomainError) as caught:
        ideas.answer_idea(
            db, idea["id"], actor_id=ingrid, kind="accepted", team_id=unit(db, "skolehelse")
        )
    assert caught.value.field == "team_id" and db["pilot"].count == before
    accepted = ideas.answer_idea(
        db, idea["id"], actor_id=ingrid, kind="accepted", team_id=unit(db, "bosted-forst")
    )
    pilot = next(db.query("SELECT * FROM pilot WHERE id = ?", [accepted["pilot_id"]]))
    assert pilot["status"] == "draft" and pilot["idea_id"] == idea["id"]
    assert pilot["team_id"] == unit(db, "bosted-forst")
    assert "Ventet på bolig" in pilot["idea_text"]
    trace = stories.trace(db, story["id"], kari)
    assert trace[0]["status"] == "accepted" and trace[0]["pilots"][0]["id"] == pilot["id"]


def told(db, user_id, idea_id):
    """The person's notifications about this idea (the demo's own are left out)."""
    return list(
        db.query(
            "SELECT * FROM notification WHERE user_id = ? AND link = ? ORDER BY id",
            [user_id, f"/ideas/{idea_id}"],
        )
    )


def test_an_answer_reaches_the_authors_and_followers_but_not_the_leader(db):
    kari, ola, amir = user(db, DEMO_EMAIL["frontline"]), user(db, OLA), user(db, AMIR)
    ingrid = user(db, DEMO_EMAIL["leader"])
    idea = ideas.propose_idea(db, a_draft(db, co_authors=OLA)["id"], kari, now=NOW)
    # A co-author who stops following is still told: the idea is theirs.
    ideas.set_follow(db, idea["id"], ola, False)
    ideas.set_follow(db, idea["id"], amir, True)
    ideas.set_follow(db, idea["id"], ingrid, True)
    ideas.set_support(db, idea["id"], user(db, PER), True)
    accounts.set_language(db, amir, "en")
    ideas.answer_idea(
        db,
        idea["id"],
        actor_id=ingrid,
        kind="parked",
        reason="Venter på budsjettet fra rådmann Hansen",
        look_again_on="01.09.2026",
        now=NOW,
    )
    (to_kari,) = told(db, kari, idea["id"])
    assert to_kari["kind"] == "idea.answered" and to_kari["created_at"] == NOW
    assert to_kari["title"] == "Svar på ideen din: «Bolig først, så resten»"
    assert to_kari["summary"] == (
        "Ingrid Solberg har parkert ideen og ser på den igjen 01.09.2026. "
        "Åpne ideen for å lese begrunnelsen."
    )
    assert [n["title"] for n in told(db, ola, idea["id"])] == [to_kari["title"]]
    (to_amir,) = told(db, amir, idea["id"])
    assert to_amir["title"] == "An idea you follow has an answer: “Bolig først, så resten”"
    assert "1 Sep 2026" in to_amir["summary"]
    # The reason stays on the idea's page; the leader who answered and a supporter
    # who does not follow the idea hear nothing.
    assert all("Hansen" not in n["summary"] for n in told(db, kari, idea["id"]))
    assert told(db, ingrid, idea["id"]) == []
    assert told(db, user(db, PER), idea["id"]) == []


def test_an_accepted_idea_tells_its_authors_which_team_runs_the_pilot(db):
    kari, ingrid = user(db, DEMO_EMAIL["frontline"]), user(db, DEMO_EMAIL["leader"])
    idea = ideas.propose_idea(db, a_draft(db)["id"], kari, now=NOW)
    before = db["notification"].count
    with pytest.raises(DomainError):
        ideas.answer_idea(db, idea["id"], actor_id=user(db, PER), kind="dialogue")
    assert db["notification"].count == before
    ideas.answer_idea(
        db, idea["id"], actor_id=ingrid, kind="accepted", team_id=unit(db, "bosted-forst")
    )
    (note,) = told(db, kari, idea["id"])
    assert note["summary"] == (
        "Ingrid Solberg har godtatt ideen for en pilot i Bosted først-teamet. "
        "Åpne ideen for å følge piloten."
    )


# ---- web ---------------------------------------------------------------------


def test_drafts_are_404_to_others_by_guessing_ids(app, db):
    draft = a_draft(db)
    author, token = signed_in_client(app, DEMO_EMAIL["frontline"])
    assert author.get(f"/ideas/{draft['id']}").status_code == 200
    for email in (OLA, DEMO_EMAIL["leader"], DEMO_EMAIL["analyst"], DEMO_EMAIL["admin"]):
        other, token = signed_in_client(app, email)
        assert other.get(f"/ideas/{draft['id']}").status_code == 404
        assert other.get(f"/ideas/{draft['id']}/edit").status_code in (403, 404)
        for action in ("support", "follow", "comments", "propose", "answer"):
            response = other.post(
                f"/ideas/{draft['id']}/{action}", data={"csrf_token": token, "body": "x"}
            )
            assert response.status_code in (403, 404), (email, action)
        listing = other.get("/ideas?show=mine").text + other.get("/ideas?q=bolig").text
        assert f'/ideas/{draft["id"]}"' not in listing
    assert db["idea_support"].count_where("idea_id = ?", [draft["id"]]) == 0


def test_the_whole_walk_through_the_web(app, client, auth, db):
    story = a_story(db)
    kari, token = signed_in_client(app, DEMO_EMAIL["frontline"])
    response = kari.post(
        "/ideas",
        data={
            "csrf_token": token,
            "title": "Bolig først",
            "need": "Et sted å bo",
            "proposal": "Leilighet først",
            "unit_id": unit(db, "bosted-forst"),
            "stories": [story["id"]],
        },
    )
    assert response.status_code == 303
    idea_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert kari.post(f"/ideas/{idea_id}/propose", data={"csrf_token": token}).status_code == 303
    ola, ola_token = signed_in_client(app, OLA)
    fragment = ola.post(
        f"/ideas/{idea_id}/support",
        data={"csrf_token": ola_token, "on": "1"},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "Ola Haugen" in fragment.text
    comment = ola.post(
        f"/ideas/{idea_id}/comments",
        data={"csrf_token": ola_token, "body": "Mail meg: ola@x.no"},
        headers={"HX-Request": "true"},
    )
    assert comment.status_code == 422 and "<mark>ola@x.no</mark>" in comment.text
    assert "<html" not in comment.text
    comment = ola.post(
        f"/ideas/{idea_id}/comments",
        data={"csrf_token": ola_token, "body": "Godt forslag."},
        headers={"HX-Request": "true"},
    )
    assert comment.status_code == 200 and "Godt forslag." in comment.text
    ingrid, leader_token = signed_in_client(app, DEMO_EMAIL["leader"])
    refused = ingrid.post(
        f"/ideas/{idea_id}/answer",
        data={"csrf_token": leader_token, "kind": "declined", "reason": ""},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 422 and "<html" not in refused.text
    answered = ingrid.post(
        f"/ideas/{idea_id}/answer",
        data={"csrf_token": leader_token, "kind": "accepted", "team_id": unit(db, "bosted-forst")},
    )
    assert answered.status_code == 303
    pilot = next(db.query("SELECT * FROM pilot WHERE idea_id = ?", [idea_id]))
    page = ola.get(f"/stories/{story['id']}").text
    assert f"/pilots/{pilot['id']}" in page


def test_the_author_has_no_support_button_and_her_support_is_refused(app, db):
    kari = user(db, DEMO_EMAIL["frontline"])
    idea_id = ideas.propose_idea(db, a_draft(db)["id"], kari, now=NOW)["id"]
    support = f"/ideas/{idea_id}/support"
    author, token = signed_in_client(app, DEMO_EMAIL["frontline"])
    assert support not in author.get(f"/ideas/{idea_id}").text
    other, _ = signed_in_client(app, OLA)
    assert support in other.get(f"/ideas/{idea_id}").text
    refused = author.post(
        support, data={"csrf_token": token, "on": "1"}, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 422 and "<html" not in refused.text
    assert "Du kan ikke støtte din egen idé" in refused.text
    plain = author.post(support, data={"csrf_token": token, "on": "1"}, follow_redirects=True)
    assert "Du kan ikke støtte din egen idé" in plain.text
    assert db["idea_support"].count_where("idea_id = ?", [idea_id]) == 0


def test_frontline_cannot_answer(app, db):
    kari = user(db, DEMO_EMAIL["frontline"])
    idea = ideas.propose_idea(db, a_draft(db)["id"], kari, now=NOW)
    client, token = signed_in_client(app, OLA)
    response = client.post(
        f"/ideas/{idea['id']}/answer", data={"csrf_token": token, "kind": "dialogue"}
    )
    assert response.status_code == 403


def test_a_leader_of_another_unit_gets_an_error_not_an_answer(app, db):
    kari = user(db, DEMO_EMAIL["frontline"])
    idea = ideas.propose_idea(db, a_draft(db)["id"], kari, now=NOW)
    client, token = signed_in_client(app, PER)
    response = client.post(
        f"/ideas/{idea['id']}/answer", data={"csrf_token": token, "kind": "dialogue"}
    )
    assert response.status_code == 422
    assert ideas.get_idea(db, idea["id"], kari)["status"] == "proposed"


def test_leaders_set_the_deadline_for_their_units(app, db):
    client, token = signed_in_client(app, DEMO_EMAIL["leader"])
    unit_id = unit(db, "bosted-forst")
    assert (
        client.post(
            f"/ideas/deadlines/{unit_id}", data={"csrf_token": token, "answer_days": "0"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"/ideas/deadlines/{unit_id}", data={"csrf_token": token, "answer_days": "21"}
        ).status_code
        == 303
    )
    assert org.get_unit(db, unit_id)["answer_days"] == 21
    other = unit(db, "skolehelse")
    assert (
        client.post(
            f"/ideas/deadlines/{other}", data={"csrf_token": token, "answer_days": "21"}
        ).status_code
        == 404
    )


def test_overdue_list_and_filters(app, db):
    kari = user(db, DEMO_EMAIL["frontline"])
    idea = ideas.propose_idea(db, a_draft(db)["id"], kari, now="2025-01-01T09:00:00Z")
    client, _token = signed_in_client(app, DEMO_EMAIL["leader"])
    page = client.get("/ideas?show=overdue")
    assert f'/ideas/{idea["id"]}"' in page.text
    fragment = client.get("/ideas?show=waiting&q=bolig", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and f'/ideas/{idea["id"]}"' in fragment.text
    assert f'/ideas/{idea["id"]}"' not in client.get("/ideas?status=declined").text


# ---- API ---------------------------------------------------------------------


def bearer(db, email):
    from pilots.domain import tokens

    token, _row = tokens.create_token(db, user(db, email), "test")
    return {"Authorization": f"Bearer {token}"}


def test_api_drafts_are_404_to_others_and_proposing_shows_them(client, db):
    kari, ola = bearer(db, DEMO_EMAIL["frontline"]), bearer(db, OLA)
    body = {
        "title": "Bolig først",
        "need": "Et sted å bo",
        "proposal": "Leilighet først",
        "unit_id": unit(db, "bosted-forst"),
        "stories": [a_story(db)["id"]],
        "tags": ["bolig"],
    }
    draft = client.post("/api/v1/ideas", json=body, headers=kari)
    assert draft.status_code == 201 and draft.get_json()["status"] == "draft"
    draft_id = draft.get_json()["id"]
    assert client.get(f"/api/v1/ideas/{draft_id}", headers=ola).status_code == 404
    assert draft_id not in [i["id"] for i in client.get("/api/v1/ideas", headers=ola).json["ideas"]]
    assert client.get(f"/api/v1/ideas/{draft_id}", headers=kari).json["stories"]
    proposed = client.post("/api/v1/ideas", json={**body, "propose": True}, headers=kari)
    assert proposed.json["status"] == "proposed" and proposed.json["answer_due"]
    assert client.get(f"/api/v1/ideas/{proposed.json['id']}", headers=ola).status_code == 200


def test_api_refuses_personal_data_in_ideas_and_stores_nothing(client, db):
    kari = bearer(db, DEMO_EMAIL["frontline"])
    before = snapshot(db)
    response = client.post(
        "/api/v1/ideas",
        json={
            "title": "Ring 22 12 34 56",
            "need": "x",
            "proposal": "Bo i Storgata 7",
            "unit_id": unit(db, "bosted-forst"),
        },
        headers=kari,
    )
    assert response.status_code == 422
    assert {(e["field"], e["kind"]) for e in response.json["errors"]} == {
        ("title", "phone"),
        ("proposal", "address"),
    }
    assert snapshot(db) == before


def test_an_ideas_draft_pilot_is_listed_only_to_those_who_may_open_it(app, db):
    """A draft pilot is its team's (and their leaders'): a case handler reading the idea
    gets no link that would answer 404."""
    draft = next(
        db.query("SELECT id, idea_id FROM pilot WHERE status = 'draft' AND idea_id IS NOT NULL")
    )
    link = f'href="/pilots/{draft["id"]}"'
    team, _ = signed_in_client(app, DEMO_EMAIL["frontline"])
    assert link in team.get(f"/ideas/{draft['idea_id']}").text
    assert team.get(f"/pilots/{draft['id']}").status_code == 200
    sara, _ = signed_in_client(app, DEMO_EMAIL["case_handler"])
    assert sara.get(f"/pilots/{draft['id']}").status_code == 404
    assert link not in sara.get(f"/ideas/{draft['idea_id']}").text
