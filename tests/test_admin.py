"""Admin pages: units, people and roles, with htmx fragments and plain fallbacks."""

import re

HX = {"HX-Request": "true", "Accept-Language": "en"}


def test_adding_a_unit_through_htmx_and_refusing_a_bad_one(auth, client, db):
    auth.login()
    bad = auth.post("/admin/units", {"name": "Ny", "slug": "Not Valid"}, headers=HX)
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "<html" not in body
    assert "may only hold a-z" in body and 'aria-invalid="true"' in body
    assert db["unit"].count == 14
    good = auth.post(
        "/admin/units", {"name": "Sone vest", "slug": "hjemme-vest", "parent": "hjemmetjenesten"}
    )
    assert good.status_code == 303
    assert next(db.query("SELECT kind FROM unit WHERE slug = 'hjemme-vest'"))["kind"] == "team"


def test_a_new_unit_belongs_under_the_municipality_unless_the_admin_says_otherwise(
    auth, client, db
):
    auth.login()
    page = client.get("/admin/units", headers={"Accept-Language": "en"}).get_data(as_text=True)
    (municipality,) = [
        row["slug"] for row in db.query("SELECT slug FROM unit WHERE parent_id IS NULL")
    ]
    selected = re.findall(r'<option value="([^"]*)" selected>', page)
    assert selected == [municipality]
    assert '<option value="">(none: a new municipality)</option>' in page  # still one choice away


def test_renaming_a_unit_inline(auth, client, db):
    auth.login()
    unit_id = next(db.query("SELECT id FROM unit WHERE slug = 'bosted-forst'"))["id"]
    form = client.get(f"/admin/units/{unit_id}/edit", headers=HX).get_data(as_text=True)
    assert "<html" not in form and f'id="unit-{unit_id}"' in form and "<form" in form
    saved = auth.post(f"/admin/units/{unit_id}", {"name": "Housing First"}, headers=HX)
    assert saved.status_code == 200
    assert "Housing First" in saved.get_data(as_text=True) and "<form" not in saved.get_data(
        as_text=True
    )
    empty = auth.post(f"/admin/units/{unit_id}", {"name": " "}, headers=HX)
    assert empty.status_code == 422 and "needs a name" in empty.get_data(as_text=True)
    # Without JavaScript the edit link opens the whole page with that row as a form.
    page = client.get(f"/admin/units/{unit_id}/edit", headers={"Accept-Language": "en"})
    assert "<html" in page.get_data(as_text=True)


def test_people_search_is_a_fragment_for_htmx_and_pages(auth, client, db):
    auth.login()
    full = client.get("/admin/users?q=ingrid", headers={"Accept-Language": "en"})
    assert "<html" in full.get_data(as_text=True) and "Ingrid Solberg" in full.get_data(
        as_text=True
    )
    fragment = client.get("/admin/users?q=åse", headers=HX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "Åse Admin" in body and "Kari" not in body
    assert "HX-Request" in fragment.headers["Vary"]
    for i in range(25):
        db["users"].insert(
            {
                "email": f"p{i}@x.no",
                "name": f"Person {i:02}",
                "password_hash": "x",
                "active": 1,
                "session_version": 1,
                "created_at": "2026-01-01T00:00:00Z",
            }
        )
    page_two = client.get("/admin/users?page=2", headers={"Accept-Language": "en"})
    assert "Page 2 of 2" in page_two.get_data(as_text=True)


def test_adding_a_person_shows_the_password_once_and_it_works(app, auth, client, db):
    auth.login()
    response = auth.post(
        "/admin/users",
        {"name": "Nina Nilsen", "email": "nina@fjordvik.example", "role": "frontline:hjemme-sor"},
    )
    password = re.search(r'id="new-password">([^<]+)<', response.get_data(as_text=True)).group(1)
    from sessions import Auth

    assert Auth(app.test_client()).login("nina@fjordvik.example", password).status_code == 303
    duplicate = auth.post("/admin/users", {"name": "Nina", "email": "nina@fjordvik.example"})
    assert duplicate.status_code == 422


def test_roles_are_added_and_removed(auth, client, db):
    auth.login()
    jonas = next(db.query("SELECT id FROM users WHERE email = 'jonas@fjordvik.example'"))["id"]
    added = auth.post(
        f"/admin/users/{jonas}/roles", {"role": "leader", "unit": "oppvekst"}, headers=HX
    )
    assert added.status_code == 200 and "Oppvekst" in added.get_data(as_text=True)
    refused = auth.post(f"/admin/users/{jonas}/roles", {"role": "frontline", "unit": "oppvekst"})
    assert refused.status_code == 422
    role_id = next(db.query("SELECT id FROM role WHERE user_id = ? AND role = 'leader'", [jonas]))[
        "id"
    ]
    removed = auth.post(f"/admin/users/{jonas}/roles/{role_id}/delete", headers=HX)
    assert removed.status_code == 200
    assert db["role"].count_where("user_id = ? AND role = 'leader'", [jonas]) == 0
    # A role of another person cannot be removed through this person's address.
    other = next(db.query("SELECT id FROM role WHERE user_id != ? LIMIT 1", [jonas]))["id"]
    assert auth.post(f"/admin/users/{jonas}/roles/{other}/delete").status_code == 404


def test_unknown_ids_are_404(auth, client):
    auth.login()
    assert client.get("/admin/users/9999").status_code == 404
    assert client.get("/admin/units/9999/edit").status_code == 404
