"""The pilot data page and the observations API through the test client: quick entry,
upload preview then store, every bad-input class refused with the database unchanged
(web and API), exports, and the staged file's safety."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time

import pytest
from openpyxl import load_workbook
from sessions import DEMO_EMAIL, Auth

from pilots.domain import organisation as org
from pilots.domain import tokens
from pilots.web.observations import grid_periods, sweep

KARI, JONAS, OLA = DEMO_EMAIL["frontline"], DEMO_EMAIL["analyst"], "ola@fjordvik.example"
HTMX = {"HX-Request": "true"}
HEADER = "metric;period;arm;unit;value;n\r\n"
# As a Norwegian system exports it: a BOM, semicolons, decimal commas, DD.MM.YYYY.
NORWEGIAN = (
    "\ufeff" + HEADER + "er-visits;01.11.2026;pilot;;3;310,5\r\n"
    "er-visits;01.11.2026;comparison;;4;298,25\r\n"
    "staff-sick-leave;01.11.2026;pilot;;6,5;\r\n"
    "housed-6m;01.11.2026;pilot;Ny-1;1;\r\n"
)

# Each bad-input class of the issue: (file text, the column the error names).
BAD_FILES = {
    "impossible date": (HEADER + "housed-6m;31.02.2026;pilot;A;1;\r\n", "period"),
    "not the first of the period": (HEADER + "housed-6m;15.03.2026;pilot;A;1;\r\n", "period"),
    "ambiguous number": (HEADER + "staff-sick-leave;01.03.2026;pilot;;1,234;\r\n", "value"),
    "unknown metric": (HEADER + "nope;01.03.2026;pilot;A;1;\r\n", "metric"),
    "unknown arm": (HEADER + "housed-6m;01.03.2026;kontroll;A;1;\r\n", "arm"),
    "out of range": (HEADER + "staff-sick-leave;01.03.2026;pilot;;101;\r\n", "value"),
    "missing column": ("metric;period;arm;unit;n\r\nhoused-6m;01.03.2026;pilot;A;\r\n", "value"),
    "extra column": (
        "metric;period;arm;unit;value;n;note\r\nhoused-6m;01.03.2026;pilot;A;1;;x\r\n",
        "note",
    ),
    "national id": (HEADER + "housed-6m;01.03.2026;pilot;01010100050;1;\r\n", "unit"),
    "same key twice": (
        HEADER + "housed-6m;01.03.2026;pilot;A;1;\r\nhoused-6m;01.03.2026;pilot;A;0;\r\n",
        "period",
    ),
}


@pytest.fixture
def kari(app):
    auth = Auth(app.test_client())
    auth.login(KARI)
    return auth


@pytest.fixture
def jonas(app):
    auth = Auth(app.test_client())
    auth.login(JONAS)
    return auth


def _pilot(db, title="Bosted først for ti personer") -> int:
    return next(db.query("SELECT id FROM pilot WHERE title = ?", [title]))["id"]


def snapshot(db) -> tuple:
    """What an import could change: every observation, every upload, the audit count."""
    return (
        list(db.query("SELECT * FROM observation ORDER BY id")),
        list(db.query("SELECT * FROM upload ORDER BY id")),
    )


def _upload(auth, pilot_id, text, name="data.csv", file_encoding="utf-8", **form):
    data = text.encode(file_encoding) if isinstance(text, str) else text
    return auth.post(
        f"/pilots/{pilot_id}/data/upload",
        {"file": (io.BytesIO(data), name), **form},
        headers=HTMX,
        content_type="multipart/form-data",
    )


def _token(db, email):
    return tokens.create_token(db, org.user_by_email(db, email)["id"], "test")[0]


def _api(client, db, email, method, url, **kwargs):
    headers = {"Authorization": f"Bearer {_token(db, email)}", **kwargs.pop("headers", {})}
    return client.open(url, method=method, headers=headers, **kwargs)


# ---- the page ---------------------------------------------------------------------


def test_the_pilot_page_links_to_its_data(kari, db):
    assert f"/pilots/{_pilot(db)}/data" in kari.client.get(f"/pilots/{_pilot(db)}").text


def test_members_get_the_grid_and_upload_others_read_and_export(kari, jonas, db):
    pilot = _pilot(db)
    mine = kari.client.get(f"/pilots/{pilot}/data?metric=er-visits&until=2026-10-15").text
    assert 'class="entry-form"' in mine and 'name="file"' in mine
    assert 'name="v|2026-10-01|comparison"' in mine  # two groups: a column per arm
    assert "chart.umd.min.js" in mine and 'type="application/json"' in mine
    theirs = jonas.client.get(f"/pilots/{pilot}/data").text
    assert 'class="entry-form"' not in theirs and 'name="file"' not in theirs
    assert "/data/export" in theirs
    assert jonas.client.get(f"/pilots/{pilot}/data?metric=housed-6m&page=2").status_code == 200
    # a metric kept per person says why its grid of totals stays empty; one of totals not
    per_person = kari.client.get(f"/pilots/{pilot}/data?metric=housed-6m").text
    assert 'id="unit-rows-note"' in per_person and "rader per person eller sak" in per_person
    assert 'id="unit-rows-note"' not in mine


def test_fragments_are_blocks_not_pages(kari, db):
    pilot = _pilot(db)
    for block in ("observations", "uploads", "entry"):
        response = kari.client.get(f"/pilots/{pilot}/data?block={block}", headers=HTMX)
        assert response.status_code == 200 and "<html" not in response.text
        assert "HX-Request" in response.headers["Vary"]


def test_someone_off_the_team_cannot_enter_or_upload(app, db):
    ola = Auth(app.test_client())
    ola.login(OLA)
    pilot = _pilot(db)
    before = snapshot(db)
    response = ola.post(
        f"/pilots/{pilot}/data/entry", {"metric": "er-visits", "v|2026-11-01|pilot": "1"}
    )
    assert response.status_code == 404
    assert _upload(ola, pilot, NORWEGIAN).status_code == 404
    assert snapshot(db) == before


def test_a_draft_is_hidden_from_other_teams(app, db):
    ola = Auth(app.test_client())
    ola.login(OLA)
    draft = _pilot(db, "Husleiegaranti uten søknad")
    assert ola.client.get(f"/pilots/{draft}/data").status_code == 404
    assert ola.client.get(f"/pilots/{draft}/data/export").status_code == 404


# ---- quick entry ------------------------------------------------------------------


def test_grid_periods_start_their_period():
    weeks = grid_periods("week", dt.date(2026, 6, 3), 3)
    assert weeks == ["2026-05-18", "2026-05-25", "2026-06-01"]
    months = grid_periods("month", dt.date(2026, 1, 20), 2)
    assert months == ["2025-12-01", "2026-01-01"]


def test_quick_entry_saves_with_decimal_comma_and_counts_changes(kari, db):
    pilot = _pilot(db)
    form = {
        "metric": "er-visits",
        "until": "2026-11-10",
        "v|2026-11-01|pilot": "3",
        "n|2026-11-01|pilot": "300,5",
        "v|2026-11-01|comparison": "5",
        "n|2026-11-01|comparison": "1 200,25",
    }
    audit_before = db["audit_event"].count
    response = kari.post(f"/pilots/{pilot}/data/entry", form, headers=HTMX)
    assert response.status_code == 200 and "<html" not in response.text
    assert response.headers["HX-Trigger"] == "observations-changed"
    assert db["audit_event"].count == audit_before + 1
    rows = {
        (r["arm"], r["value"], r["n"])
        for r in db.query(
            "SELECT * FROM observation WHERE pilot_id = ? AND period = '2026-11-01' AND unit = ''",
            [pilot],
        )
    }
    assert ("pilot", 3.0, 300.5) in rows and ("comparison", 5.0, 1200.25) in rows
    assert next(db.query("SELECT source FROM upload ORDER BY id DESC"))["source"] == "entry"
    # The grid shows them again with the page's decimal comma; saving unchanged is a no-op.
    again = kari.post(f"/pilots/{pilot}/data/entry", form, headers=HTMX)
    assert again.status_code == 200 and db["audit_event"].count == audit_before + 1
    changed = kari.post(
        f"/pilots/{pilot}/data/entry", {**form, "v|2026-11-01|pilot": "4"}, headers=HTMX
    )
    assert changed.status_code == 200
    assert "0 new and 1 changed" in changed.text or "0 nye og 1 endrede" in changed.text


def test_a_bad_cell_comes_back_next_to_the_cell_and_nothing_is_saved(kari, db):
    pilot = _pilot(db)
    before = snapshot(db)
    form = {
        "metric": "er-visits",
        "until": "2026-11-10",
        "v|2026-10-01|pilot": "3",
        "n|2026-10-01|pilot": "100",
        "v|2026-11-01|pilot": "2",
        "n|2026-11-01|pilot": "0",  # exposure must be more than 0
    }
    response = kari.post(
        f"/pilots/{pilot}/data/entry", form, headers={**HTMX, "Accept-Language": "en"}
    )
    assert response.status_code == 422 and "<html" not in response.text
    cell = response.text.split('id="err-er-visits-2026-11-01-pilot"')[1][:200]
    assert "n must be more than 0" in cell
    assert 'value="0"' in response.text  # what was typed stays
    assert snapshot(db) == before


def test_a_cell_is_checked_as_it_is_typed(kari, db):
    pilot = _pilot(db)
    base = f"/pilots/{pilot}/data/check?metric=staff-sick-leave&period=2026-11-01&arm=pilot"
    bad = kari.client.get(
        base + "&v|2026-11-01|pilot=101", headers={**HTMX, "Accept-Language": "en"}
    )
    assert bad.status_code == 422 and "outside the metric" in bad.text
    assert 'id="err-staff-sick-leave-2026-11-01-pilot"' in bad.text and "<html" not in bad.text
    good = kari.client.get(base + "&v|2026-11-01|pilot=6,5", headers=HTMX)
    assert good.status_code == 200 and "cell-error" in good.text
    wrong_day = kari.client.get(
        base.replace("2026-11-01", "2026-11-03") + "&v|2026-11-03|pilot=6", headers=HTMX
    )
    assert wrong_day.status_code == 422


# ---- upload: preview, then store ------------------------------------------------------


def test_a_norwegian_file_is_previewed_then_stored(kari, db, app):
    pilot = _pilot(db)
    before = snapshot(db)
    response = _upload(kari, pilot, NORWEGIAN, "uttrekk.csv")
    text = response.text
    assert response.status_code == 200 and "<html" not in text
    assert "semikolon (;)" in text and "komma (,)" in text and "utf-8" in text
    assert "310,5<" in text and "01.11.2026" in text  # as the file wrote it
    assert snapshot(db) == before  # a preview stores nothing
    token = text.split("/data/upload/")[1][:32]
    staged = os.listdir(app.config["UPLOAD_FOLDER"])
    assert len(staged) == 2 and all(
        name.startswith(f"{org.user_by_email(db, KARI)['id']}-{pilot}-") for name in staged
    )
    stored = kari.post(f"/pilots/{pilot}/data/upload/{token}", headers=HTMX)
    assert stored.status_code == 200 and "4" in stored.text
    assert os.listdir(app.config["UPLOAD_FOLDER"]) == []  # forgotten once stored
    upload = next(db.query("SELECT * FROM upload ORDER BY id DESC"))
    assert (upload["filename"], upload["delimiter"], upload["decimal_mark"]) == (
        "uttrekk.csv",
        ";",
        ",",
    )
    assert upload["inserted"] == 4
    again = kari.post(f"/pilots/{pilot}/data/upload/{token}", headers=HTMX)
    assert again.status_code == 422  # the file is gone: no second import


def test_a_windows_1252_file_needs_its_encoding_named(kari, db):
    pilot = _pilot(db)
    text = HEADER + "housed-6m;01.03.2026;pilot;Bodø-1;1;\r\n"
    before = snapshot(db)
    refused = _upload(kari, pilot, text, file_encoding="windows-1252")
    assert refused.status_code == 422 and "/data/upload/" not in refused.text
    named = _upload(kari, pilot, text, file_encoding="windows-1252", encoding="windows-1252")
    assert named.status_code == 200 and "Bodø-1" in named.text
    assert snapshot(db) == before


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_each_bad_input_class_is_refused_by_the_web_and_the_api(app, kari, db, case):
    text, column = BAD_FILES[case]
    pilot = _pilot(db)
    before = snapshot(db)
    response = _upload(kari, pilot, text)
    assert response.status_code == 422, case
    assert "/data/upload/" not in response.text  # no way to store it
    assert f"<td>{column}</td>" in response.text
    assert os.listdir(app.config["UPLOAD_FOLDER"]) == []  # nor is it kept
    api = _api(
        app.test_client(),
        db,
        KARI,
        "POST",
        f"/api/v1/pilots/{pilot}/observations",
        data=text.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert api.status_code == 422
    assert any(e["column"] == column and e["line"] for e in api.json["errors"]), api.json
    assert snapshot(db) == before


def test_too_many_rows_is_refused_with_the_limit(app, kari, db):
    app.config["UPLOAD_MAX_ROWS"] = 2
    pilot = _pilot(db)
    before = snapshot(db)
    response = _upload(kari, pilot, NORWEGIAN)
    assert response.status_code == 422
    assert "mer enn 2 rader" in response.text or "more than 2 rows" in response.text
    assert snapshot(db) == before


def test_an_oversized_upload_gets_413_naming_the_limit(app, kari, db):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    before = snapshot(db)
    big = NORWEGIAN + "housed-6m;01.11.2026;pilot;X;1;\r\n" * 200
    response = _upload(kari, _pilot(db), big)
    assert response.status_code == 413
    assert "2 KB" in response.text
    api = _api(
        app.test_client(),
        db,
        KARI,
        "POST",
        f"/api/v1/pilots/{_pilot(db)}/observations",
        data=big.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert api.status_code == 413 and "2 KB" in api.json["message"]
    assert snapshot(db) == before


def test_a_staged_file_belongs_to_its_person_and_pilot(app, kari, db):
    pilot = _pilot(db)
    token = _upload(kari, pilot, NORWEGIAN).text.split("/data/upload/")[1][:32]
    before = snapshot(db)
    other = Auth(app.test_client())
    other.login("amir@fjordvik.example")
    assert other.post(f"/pilots/{pilot}/data/upload/{token}").status_code == 404
    for bad in ("..%2F..%2Fpilots.sqlite3", "0" * 31 + "g", token.upper()):
        assert kari.post(f"/pilots/{pilot}/data/upload/{bad}").status_code in (404, 422)
    assert snapshot(db) == before


def test_uploads_waiting_more_than_a_day_are_swept(tmp_path):
    old, new = tmp_path / "1-1-a.upload", tmp_path / "1-1-b.upload"
    old.write_text("x")
    new.write_text("y")
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    sweep(tmp_path)
    assert not old.exists() and new.exists()


# ---- exports ---------------------------------------------------------------------------


def test_exports_csv_xlsx_json_with_safe_names_and_neutralised_cells(app, jonas, db):
    pilot = _pilot(db)
    _api(
        app.test_client(),
        db,
        KARI,
        "POST",
        f"/api/v1/pilots/{pilot}/observations",
        json=[{"metric": "housed-6m", "period": "01.11.2026", "unit": "=1+2", "value": 1}],
    )
    csv_response = jonas.client.get(
        f"/pilots/{pilot}/data/export?metric=housed-6m&delimiter=semicolon&decimal_mark=comma"
    )
    assert csv_response.status_code == 200
    assert (
        csv_response.headers["Content-Disposition"]
        == f'attachment; filename="pilot-{pilot}-housed-6m-observations.csv"'
    )
    text = csv_response.data.decode("utf-8-sig")
    assert text.startswith("metric;period;arm;unit;value;n\r\n")
    assert "housed-6m;01.11.2026;pilot;'=1+2;1;" in text
    points = jonas.client.get(
        f"/pilots/{pilot}/data/export?metric=er-visits&delimiter=tab&decimal_mark=point&dates=iso"
    ).data.decode("utf-8-sig")
    assert "\t2026-03-01\t" in points and "," not in points.split("\r\n")[1]
    # A comma-separated file keeps the decimal point, whatever the mark chosen (the
    # form's default is the comma), as the page says.
    commas = jonas.client.get(f"/pilots/{pilot}/data/export?metric=er-visits&delimiter=comma")
    assert commas.status_code == 200
    lines = [line for line in commas.data.decode("utf-8-sig").split("\r\n") if line]
    assert len(lines) > 2 and {len(line.split(",")) for line in lines} == {6}
    workbook = jonas.client.get(f"/pilots/{pilot}/data/export?format=xlsx")
    sheet = load_workbook(io.BytesIO(workbook.data)).worksheets[0]
    assert [c.value for c in next(sheet.iter_rows())] == [
        "metric",
        "period",
        "arm",
        "unit",
        "value",
        "n",
    ]
    rows = json.loads(jonas.client.get(f"/pilots/{pilot}/data/export?format=json").data)
    assert {"metric", "period", "arm", "unit", "value", "n"} == set(rows[0])


def test_the_metric_catalogue_exports(jonas):
    csv_text = jonas.client.get("/metrics/export?format=csv").data.decode("utf-8-sig")
    assert csv_text.startswith("slug;name;definition")
    assert "housed-6m" in csv_text
    assert json.loads(jonas.client.get("/metrics/export?format=json").data)[0]["slug"]
    assert jonas.client.get("/metrics/export?format=xlsx").data.startswith(b"PK")
    assert "/metrics/export" in jonas.client.get("/metrics").text


# ---- the API ---------------------------------------------------------------------------


def test_the_api_posts_csv_and_json_and_gets_them_back(app, db):
    client = app.test_client()
    pilot = _pilot(db)
    url = f"/api/v1/pilots/{pilot}/observations"
    first = _api(
        client, db, KARI, "POST", url, data=NORWEGIAN.encode(), headers={"Content-Type": "text/csv"}
    )
    assert first.status_code == 200 and first.json["inserted"] == 4 and first.json["updated"] == 0
    again = _api(
        client, db, KARI, "POST", url, data=NORWEGIAN.encode(), headers={"Content-Type": "text/csv"}
    )
    assert again.json == {"inserted": 0, "updated": 4, "rows": 4}
    records = [{"period": "2026-11-01", "arm": "comparison", "value": 0, "unit": "K-9"}]
    one = _api(client, db, KARI, "POST", url + "?metric=housed-6m", json=records)
    assert one.status_code == 200 and one.json["inserted"] == 1
    got = _api(client, db, JONAS, "GET", url + "?metric=er-visits")
    assert got.status_code == 200 and all(r["metric"] == "er-visits" for r in got.json)
    as_csv = _api(client, db, JONAS, "GET", url, headers={"Accept": "text/csv"})
    assert as_csv.mimetype == "text/csv"
    assert as_csv.data.decode().startswith("metric,period,arm,unit,value,n\r\n")
    # A wrong choice is named with its value and what would do.
    piped = _api(client, db, JONAS, "GET", url + "?delimiter=pipe", headers={"Accept": "text/csv"})
    assert piped.status_code == 422
    assert "delimiter “pipe” is not one of semicolon, comma, tab" in piped.json["error"]
    marked = _api(
        client, db, JONAS, "GET", url + "?decimal_mark=dot", headers={"Accept": "text/csv"}
    )
    assert marked.status_code == 422 and "decimal_mark “dot”" in marked.json["error"]
    unknown = _api(client, db, JONAS, "GET", url + "?metric=nope")
    assert unknown.status_code == 422
    assert "metric “nope” is not one of this pilot's metrics: er-visits," in unknown.json["error"]


def test_the_api_stores_a_json_unit_with_a_leading_apostrophe_as_sent(app, db):
    client, pilot = app.test_client(), _pilot(db)
    url = f"/api/v1/pilots/{pilot}/observations"
    record = {"metric": "housed-6m", "period": "01.11.2026", "unit": "'=x", "value": 1}
    assert _api(client, db, KARI, "POST", url, json=[record]).status_code == 200
    got = _api(client, db, JONAS, "GET", url + "?metric=housed-6m").json
    assert any(row["unit"] == "'=x" for row in got)
    assert not any(row["unit"] == "=x" for row in got)


def test_the_api_refuses_with_line_and_column_and_stores_nothing(app, db):
    client = app.test_client()
    pilot = _pilot(db)
    url = f"/api/v1/pilots/{pilot}/observations"
    before = snapshot(db)
    bad = NORWEGIAN + "housed-6m;31.11.2026;pilot;Ny-2;1;\r\n"
    response = _api(
        client, db, KARI, "POST", url, data=bad.encode(), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["line"] == 6
    assert response.json["errors"][0]["column"] == "period"
    assert response.json["errors"][0]["message"]
    listed = _api(
        client, db, KARI, "POST", url, json=[{"metric": "housed-6m", "period": "x", "value": 1}]
    )
    assert listed.status_code == 422 and listed.json["errors"][0]["line"] == 1
    assert _api(client, db, KARI, "POST", url, json={"not": "a list"}).status_code == 422
    assert (
        _api(
            client, db, KARI, "POST", url, data=b"x", headers={"Content-Type": "image/png"}
        ).status_code
        == 415
    )
    assert (
        _api(
            client,
            db,
            KARI,
            "POST",
            url + "?encoding=rot13",
            data=bad.encode(),
            headers={"Content-Type": "text/csv"},
        ).status_code
        == 422
    )
    assert _api(client, db, OLA, "POST", url, json=[]).status_code == 404  # not on the team
    assert _api(client, db, JONAS, "POST", url, json=[]).status_code == 403
    assert snapshot(db) == before


# ---- a period as a total or as per-person rows, never both ------------------------------


def test_quick_entry_beside_per_person_rows_is_refused_next_to_the_cell(kari, db):
    pilot = _pilot(db)  # the demo stored housed-6m as rows per person, by file
    before = snapshot(db)
    form = {
        "metric": "housed-6m",
        "until": "2026-10-15",
        "v|2026-10-01|pilot": "3",
        "n|2026-10-01|pilot": "10",
    }
    response = kari.post(
        f"/pilots/{pilot}/data/entry", form, headers={**HTMX, "Accept-Language": "en"}
    )
    assert response.status_code == 422 and "<html" not in response.text
    cell = response.text.split('id="err-housed-6m-2026-10-01-pilot"')[1][:600]
    assert (
        "01.10.2026 of housed-6m, pilot arm, already has 12 per-person rows, the latest from"
        " bosted-forst-mars-oktober.csv on 02.11.2026; a total would be counted twice."
    ) in cell
    assert snapshot(db) == before
    norwegian = kari.post(f"/pilots/{pilot}/data/entry", form, headers=HTMX)
    assert "ville blitt telt to ganger" in norwegian.text


def test_a_file_of_per_person_rows_beside_stored_totals_is_refused_when_stored(kari, db):
    pilot = _pilot(db)
    before = snapshot(db)
    text = HEADER + "er-visits;01.09.2026;pilot;;3;300\r\ner-visits;01.10.2026;pilot;P1;1;10\r\n"
    preview = _upload(kari, pilot, text, "per-person.csv")
    assert preview.status_code == 200  # the preview reads the file; storing checks the data
    token = preview.text.split("/data/upload/")[1][:32]
    stored = kari.post(
        f"/pilots/{pilot}/data/upload/{token}", headers={**HTMX, "Accept-Language": "en"}
    )
    assert stored.status_code == 422 and "Nothing was stored" in stored.text
    row = stored.text.split("<td>3</td>")[1][:400]
    assert "unit" in row and "01.10.2026 of er-visits, pilot arm, already has a total from" in row
    assert snapshot(db) == before


# ---- undo an upload -----------------------------------------------------------------


def _undo_url(db, pilot):
    upload = next(db.query("SELECT id FROM upload WHERE pilot_id = ? ORDER BY id", [pilot]))
    return f"/pilots/{pilot}/data/uploads/{upload['id']}/undo", upload["id"]


def test_undo_asks_first_then_removes_the_rows_still_carrying_the_upload(kari, db):
    pilot = _pilot(db)
    url, upload_id = _undo_url(db, pilot)
    # one row of the demo file is rewritten by quick entry: it now belongs to that entry
    kari.post(
        f"/pilots/{pilot}/data/entry",
        {
            "metric": "er-visits",
            "until": "2026-10-15",
            "v|2026-10-01|pilot": "9",
            "n|2026-10-01|pilot": "300",
        },
        headers=HTMX,
    )
    carrying = db.execute(
        "SELECT count(*) FROM observation WHERE upload_id = ?", [upload_id]
    ).fetchone()[0]
    total = db["observation"].count
    page = kari.client.get(f"/pilots/{pilot}/data", headers={"Accept-Language": "en"}).text
    assert url in page and "bosted-forst-mars-oktober.csv" in page
    confirm = kari.client.get(url, headers={"Accept-Language": "en"})
    assert confirm.status_code == 200 and "Undo the upload" in confirm.text
    assert f"deletes the {carrying} stored rows" in confirm.text
    assert db["observation"].count == total  # asking changes nothing
    assert kari.client.post(url).status_code == 400  # no CSRF token, no undo
    assert db["observation"].count == total
    audit_before = db["audit_event"].count
    done = kari.post(url, headers={"Accept-Language": "en"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/pilots/{pilot}/data")
    assert db["observation"].count == total - carrying
    kept = list(db.query("SELECT * FROM observation WHERE pilot_id = ?", [pilot]))
    assert [(r["value"], r["period"]) for r in kept] == [(9.0, "2026-10-01")]
    event = next(db.query("SELECT * FROM audit_event ORDER BY id DESC"))
    assert db["audit_event"].count == audit_before + 1
    assert event["action"] == "observations.undo_upload" and event["object_id"] == str(pilot)
    assert json.loads(event["after"]) == {"upload_id": upload_id, "removed": carrying}
    after = kari.client.get(f"/pilots/{pilot}/data", headers={"Accept-Language": "en"}).text
    assert f"Upload undone: {carrying} rows removed." in after
    assert url not in after  # undone once; the list says so
    again = kari.post(url, headers={"Accept-Language": "en"})
    assert again.status_code == 409 and db["audit_event"].count == audit_before + 1


def test_undo_is_refused_to_whoever_may_not_enter_data_for_the_pilot(app, jonas, db):
    pilot = _pilot(db)
    url, _upload_id = _undo_url(db, pilot)
    ola = Auth(app.test_client())
    ola.login(OLA)  # frontline, on another team
    before = snapshot(db)
    assert ola.client.get(url).status_code == 404
    assert ola.post(url).status_code == 404
    assert jonas.client.get(url).status_code == 403  # an analyst enters no data
    assert jonas.post(url).status_code == 403
    assert url not in jonas.client.get(f"/pilots/{pilot}/data").text
    other = _pilot(db, "Husleiegaranti uten søknad")  # an upload of one pilot, another's URL
    kari = Auth(app.test_client())
    kari.login(KARI)
    assert kari.client.get(url.replace(f"/pilots/{pilot}/", f"/pilots/{other}/")).status_code == 404
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("period", "day", "words"),
    [
        ("month", "15.11.2026", "første dag i en måned; skriv 01.11.2026"),
        ("quarter", "15.11.2026", "første dag i et kvartal; skriv 01.10.2026"),
        ("week", "26.11.2026", "ikke en mandag"),
    ],
)
def test_a_date_that_does_not_start_its_period_is_named_in_norwegian(app, period, day, words):
    """The period is worded in the reader's language ("en måned", not "en month")."""
    from pilots.domain.observation_files import FileRefused, MetricSpec, read_observations
    from pilots.web.observations import error_text

    metrics = {"wait": MetricSpec("mean", 0, 365, period)}
    text = f"metric;period;value\nwait;{day};1\n".encode()
    with pytest.raises(FileRefused) as caught:
        list(read_observations(io.BytesIO(text), metrics))
    with app.test_request_context(headers={"Accept-Language": "nb"}):
        message = error_text(caught.value.errors[0])
    assert words in message and period not in message
