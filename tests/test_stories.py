"""Citizen stories: the guard through the web, consent and withdrawal, search with æøå
and compound words, the story of the week and its printable page."""

import pytest
from sessions import DEMO_EMAIL, Auth

from pilots.domain import DomainError, NotFound, personal_data, stories
from pilots.domain import ideas as ideas_domain
from pilots.domain import organisation as org

NOW = "2026-05-04T09:00:00Z"  # a Monday


def user(db, email):
    return org.user_by_email(db, email)["id"]


def unit(db, slug):
    return org.unit_by_slug(db, slug)["id"]


def story_values(db, **overrides):
    values = {
        "title": "Ventet på bolig i tre måneder",
        "account": "Jeg bodde på hospits og ventet på et boligtilbud. Ingen spurte meg.",
        "needed": "Et sted å bo først, så resten.",
        "happened": "Søknaden ble liggende.",
        "services": "NAV, sosialtjenesten",
        "source": "conversation",
        "consent_how": "oral",
        "consent_on": "2026-05-01",
        "tags": "Bolig, venting",
        "unit_id": unit(db, "bosted-forst"),
    }
    return {**values, **overrides}


def counts(db):
    return (
        db["story"].count,
        db["story_tag"].count,
        db["audit_event"].count,
    )


# ---- domain ------------------------------------------------------------------


def test_a_story_is_saved_with_consent_tags_and_one_audit_event(db):
    kari = user(db, DEMO_EMAIL["frontline"])
    before = db["audit_event"].count
    story = stories.create_story(db, actor_id=kari, now=NOW, **story_values(db))
    assert story["consent_how"] == "oral" and story["consent_on"] == "2026-05-01"
    assert story["tag_list"] == ["bolig", "venting"]
    assert db["audit_event"].count == before + 1
    event = next(db.query("SELECT * FROM audit_event ORDER BY id DESC LIMIT 1"))
    assert event["action"] == "story.create"
    assert "hospits" not in (event["after"] or "")  # the words stay out of the audit log


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("account", "Fødselsnummeret hans er 01019012480."),
        ("needed", "Ring 912 34 567"),
        ("happened", "Hun skrev til ola@eksempel.no"),
        ("title", "Bor i Storgata 12"),
        ("tags", "bolig, 811218-9876"),
    ],
)
def test_personal_data_is_refused_and_nothing_is_stored(db, field, text):
    kari = user(db, DEMO_EMAIL["frontline"])
    before = counts(db)
    with pytest.raises(personal_data.PersonalDataError) as caught:
        stories.create_story(db, actor_id=kari, now=NOW, **story_values(db, **{field: text}))
    assert field in caught.value.findings
    assert counts(db) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"account": "  "}, "account"),
        ({"source": "gossip"}, "source"),
        ({"consent_how": ""}, "consent_how"),
        ({"consent_on": "31.02.2026"}, "consent_on"),
        ({"consent_on": "2026-06-01"}, "consent_on"),  # in the future
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(db, overrides, field):
    kari = user(db, DEMO_EMAIL["frontline"])
    before = counts(db)
    with pytest.raises(DomainError) as caught:
        stories.create_story(db, actor_id=kari, now=NOW, **story_values(db, **overrides))
    assert caught.value.field == field
    assert counts(db) == before


def test_a_story_is_only_recorded_for_ones_own_units(db):
    kari = user(db, DEMO_EMAIL["frontline"])
    with pytest.raises(DomainError, match="own teams"):
        stories.create_story(
            db, actor_id=kari, now=NOW, **story_values(db, unit_id=unit(db, "hjemme-nord"))
        )


def test_withdrawal_erases_the_words_and_links_say_so(db):
    kari = user(db, DEMO_EMAIL["frontline"])
    ola = user(db, DEMO_EMAIL["frontline"].replace("kari", "ola"))
    story = stories.create_story(db, actor_id=kari, now=NOW, **story_values(db))
    idea = ideas_domain.create_idea(
        db,
        actor_id=kari,
        story_ids=[story["id"]],
        title="Bolig først",
        need="Et sted å bo",
        proposal="Gi bolig uten krav",
        unit_id=unit(db, "bosted-forst"),
        now=NOW,
    )
    with pytest.raises(DomainError):
        stories.withdraw_story(db, story["id"], ola)  # not the author, not a leader
    withdrawn = stories.withdraw_story(db, story["id"], kari, now=NOW)
    assert withdrawn["withdrawn"] and withdrawn["account"] == "" and withdrawn["title"] == ""
    assert db["story_tag"].count_where("story_id = ?", [story["id"]]) == 0
    found, _total = stories.search_stories(db, "hospits", limit=500)
    assert story["id"] not in [row["id"] for row in found]
    linked = ideas_domain.get_idea(db, idea["id"], kari)["stories"]
    assert linked[0]["withdrawn_at"] == NOW


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("bolig", True),  # the start of the compound "boligtilbud"
        ("BOLIG", True),
        ("hosp", True),
        ("tilbud", False),  # the middle of a compound is not a word start
        ("øyeblikk", True),
        ("ØYEBLIKK", True),
        ("være", True),
        ("åpen", True),
        ("apen", False),  # å is its own letter, not a
        ("bolig ærlig", True),
        ("bolig katt", False),
        ('"bolig*', True),  # FTS syntax in the input is harmless
    ],
)
def test_search_handles_norwegian_letters_and_compound_words(db, query, found):
    kari = user(db, DEMO_EMAIL["frontline"])
    story = stories.create_story(
        db,
        actor_id=kari,
        now=NOW,
        **story_values(
            db,
            title="Et øyeblikk å være ærlig",
            account="Jeg trengte et boligtilbud og en åpen dør, ikke et hospits.",
        ),
    )
    rows, _total = stories.search_stories(db, query)
    assert (story["id"] in [r["id"] for r in rows]) is found


def test_search_filters_by_unit_and_tag(db):
    kari = user(db, DEMO_EMAIL["frontline"])
    story = stories.create_story(db, actor_id=kari, now=NOW, **story_values(db, tags="husleie"))
    ids = lambda **kw: [r["id"] for r in stories.search_stories(db, "", limit=500, **kw)[0]]  # noqa: E731
    assert story["id"] in ids(tag="Husleie")
    assert story["id"] not in ids(tag="ensomhet")
    assert story["id"] in ids(unit_id=unit(db, "helse-velferd"))  # a unit above
    assert story["id"] not in ids(unit_id=unit(db, "oppvekst"))


def test_story_of_the_week_is_chosen_by_a_leader_for_a_unit_they_lead(db):
    kari = user(db, DEMO_EMAIL["frontline"])
    ingrid = user(db, DEMO_EMAIL["leader"])
    story = stories.create_story(db, actor_id=kari, now=NOW, **story_values(db))
    with pytest.raises(DomainError):
        stories.pick_of_the_week(db, story["id"], unit(db, "oppvekst"), ingrid, now=NOW)
    stories.pick_of_the_week(db, story["id"], unit(db, "helse-velferd"), ingrid, "Les høyt", NOW)
    picks = stories.stories_of_the_week(db, ingrid, now=NOW)
    assert [p["story"]["id"] for p in picks] == [story["id"]] and picks[0]["current"]
    # Choosing again the same week replaces the pick.
    other = stories.create_story(db, actor_id=kari, now=NOW, **story_values(db, title="Annen"))
    stories.pick_of_the_week(db, other["id"], unit(db, "helse-velferd"), ingrid, now=NOW)
    assert [p["story"]["id"] for p in stories.stories_of_the_week(db, ingrid, now=NOW)] == [
        other["id"]
    ]


def test_get_story_of_a_missing_id_is_not_found(db):
    with pytest.raises(NotFound):
        stories.get_story(db, 999999)


# ---- web ---------------------------------------------------------------------


def form(db, **overrides):
    return story_values(db, **overrides)


def test_the_form_refuses_a_national_id_and_marks_it_escaped(app, client, auth, db):
    auth.login(DEMO_EMAIL["frontline"])
    before = counts(db)
    response = auth.post(
        "/stories",
        form(db, account="<script>x</script> fnr 01019012480, ellers greit."),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    html = response.text
    assert "<html" not in html
    assert "<mark>01019012480</mark>" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    assert 'aria-invalid="true"' in html and "account-marked" in html
    assert "fødselsnummer" in html  # the explanation, in either language
    assert counts(db) == before


def test_an_ordinary_eleven_digit_number_is_saved(client, auth, db):
    auth.login(DEMO_EMAIL["frontline"])
    response = auth.post("/stories", form(db, account="Saksnummer 12345678901 lå i arkivet."))
    assert response.status_code == 303
    assert "/stories/" in response.headers["Location"]


def test_a_name_needs_confirmation_then_saves(client, auth, db):
    auth.login(DEMO_EMAIL["frontline"])
    values = form(db, account="Kari trengte et sted å bo.")
    response = auth.post("/stories", values)
    assert response.status_code == 422 and 'name="names_confirmed"' in response.text
    assert "<mark>Kari</mark>" in response.text
    response = auth.post("/stories", {**values, "names_confirmed": "1"})
    assert response.status_code == 303


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_list_searches_as_one_types_and_pages(client, auth, db, language):
    kari = user(db, DEMO_EMAIL["frontline"])
    for number in range(25):
        stories.create_story(
            db, actor_id=kari, now=NOW, **story_values(db, title=f"Boligsak {number}")
        )
    auth.login(DEMO_EMAIL["leader"])
    auth.post("/language", {"language": language, "next": "/"})
    page = client.get("/stories?q=boligs")
    assert page.status_code == 200 and "<html" in page.text
    assert page.text.count('class="item"') == 20 and "page=2" in page.text
    fragment = client.get("/stories?q=boligs", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'id="story-items"' in fragment.text
    more = client.get("/stories?q=boligs&page=2&more=1", headers={"HX-Request": "true"})
    assert "<html" not in more.text and more.text.count('class="item"') == 5
    # Without JavaScript, page 2 shows everything so far.
    assert client.get("/stories?q=boligs&page=2").text.count('class="item"') == 25


def test_story_page_says_what_became_of_it_and_withdrawal_is_shown(client, auth, db):
    kari = user(db, DEMO_EMAIL["frontline"])
    story = stories.create_story(db, actor_id=kari, now=NOW, **story_values(db))
    auth.login(DEMO_EMAIL["frontline"])
    page = client.get(f"/stories/{story['id']}")
    assert "You said, we did" in page.text or "Du sa, vi gjorde" in page.text
    assert auth.post(f"/stories/{story['id']}/withdraw").status_code == 303
    page = client.get(f"/stories/{story['id']}")
    assert "hospits" not in page.text
    assert client.get("/stories/999999").status_code == 404


def test_leader_picks_the_story_of_the_week_and_it_shows_on_the_start_page(client, auth, db):
    kari = user(db, DEMO_EMAIL["frontline"])
    story = stories.create_story(db, actor_id=kari, **story_values(db, consent_on="2026-01-01"))
    auth.login(DEMO_EMAIL["leader"])
    response = auth.post(
        f"/stories/{story['id']}/week", {"unit_id": unit(db, "helse-velferd"), "note": ""}
    )
    assert response.status_code == 303
    home = client.get("/")
    assert story["title"] in home.text
    printable = client.get(f"/stories/{story['id']}/print")
    assert printable.status_code == 200 and story["account"] in printable.text
    assert 'class="nav-list"' not in printable.text


def test_frontline_cannot_pick_the_story_of_the_week(app, db):
    from sessions import signed_in_client

    client, token = signed_in_client(app, DEMO_EMAIL["frontline"])
    response = client.post("/stories/1/week", data={"csrf_token": token})
    assert response.status_code == 403
    assert Auth  # the helper is shared with the other web tests


# ---- API ---------------------------------------------------------------------


def bearer(db, email):
    from pilots.domain import tokens

    token, _row = tokens.create_token(db, user(db, email), "test")
    return {"Authorization": f"Bearer {token}"}


def api_story(db, **overrides):
    values = story_values(db, **overrides)
    values["tags"] = ["bolig", "venting"]
    return values


@pytest.mark.parametrize(
    ("field", "text", "kind"),
    [
        ("account", "fnr 15076500565", "national_id"),
        ("account", "D-nummer 41019012393", "national_id"),
        ("needed", "ring +47 912 34 567", "phone"),
        ("services", "svensk 19121212-1212", "swedish_id"),
        ("happened", "flyttet til Kirkeveien 5", "address"),
        ("title", "skriv til x@y.no", "email"),
    ],
)
def test_the_api_refuses_personal_data_naming_field_and_reason(client, db, field, text, kind):
    headers = bearer(db, DEMO_EMAIL["frontline"])
    before = counts(db)
    response = client.post("/api/v1/stories", json=api_story(db, **{field: text}), headers=headers)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [(e["field"], e["kind"]) for e in errors] == [(field, kind)]
    assert text.split()[-1] in errors[0]["message"]
    assert counts(db) == before


def test_the_api_records_and_returns_a_story(client, db):
    headers = bearer(db, DEMO_EMAIL["frontline"])
    response = client.post(
        "/api/v1/stories",
        json=api_story(db, account="Saksnr. 12345678901; ventet på boligtilbud."),
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    story = response.get_json()
    assert story["tags"] == ["bolig", "venting"] and story["withdrawn"] is False
    found = client.get("/api/v1/stories?q=bolig", headers=headers).get_json()
    assert story["id"] in [s["id"] for s in found["stories"]]
    one = client.get(f"/api/v1/stories/{story['id']}", headers=headers)
    assert one.get_json()["account"].startswith("Saksnr.")
    assert client.get("/api/v1/stories/999999", headers=headers).status_code == 404
    assert client.get("/api/v1/stories").status_code == 401
    analyst = bearer(db, DEMO_EMAIL["analyst"])
    assert client.post("/api/v1/stories", json=api_story(db), headers=analyst).status_code == 403
    bad = client.post("/api/v1/stories", json=api_story(db, source="rumour"), headers=headers)
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "source"
