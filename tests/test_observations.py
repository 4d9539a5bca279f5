"""Storing observations: all or nothing, re-imports update, provenance, audit, exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import Workbook, load_workbook

from pilots import migrations
from pilots.db import connect
from pilots.domain import DomainError, NotFound, audit
from pilots.domain import observations as obs
from pilots.domain.observation_files import Observation

NOW = "2026-11-26T12:00:00Z"
HEADER = "metric;period;arm;unit;value;n\r\n"
GOOD = (
    HEADER + "wait;01.01.2026;pilot;P1;12,5;\r\n"
    "wait;01.01.2026;comparison;P2;-1,5;\r\n"
    "housed;01.01.2026;pilot;;3;4\r\n"
    "admissions;01.02.2026;comparison;site-1;2;1 234,5\r\n"
)


@pytest.fixture
def db(tmp_path):
    database = connect(str(tmp_path / "obs.sqlite3"))
    migrations.apply(database)
    with database.atomic():
        database.execute(
            "INSERT INTO unit (id, name, slug, kind, created_at) VALUES (1, 'T', 't', 'team', ?)",
            [NOW],
        )
        database.execute(
            "INSERT INTO users (id, email, name, password_hash, created_at)"
            " VALUES (1, 'kari@example.org', 'Kari', 'x', ?)",
            [NOW],
        )
        for pilot_id, design in [(1, "did"), (2, "spc")]:
            database.execute(
                "INSERT INTO pilot (id, title, team_id, design, created_by, created_at,"
                " updated_at) VALUES (?, 'P', 1, ?, 1, ?, ?)",
                [pilot_id, design, NOW, NOW],
            )
        metrics = [
            (1, "wait", "mean", -10, 365, "month"),
            (2, "housed", "proportion", 0, 1, "month"),
            (3, "admissions", "rate", None, None, "month"),
            (4, "other", "mean", None, None, "month"),
        ]
        for metric_id, slug, kind, low, high, period in metrics:
            database.execute(
                "INSERT INTO metric (id, slug, name, type, direction, min_value, max_value,"
                " period, created_at) VALUES (?, ?, ?, ?, 'down', ?, ?, ?, ?)",
                [metric_id, slug, slug.title(), kind, low, high, period, NOW],
            )
        for metric_id in (1, 2, 3):
            database.execute(
                "INSERT INTO pilot_metric (pilot_id, metric_id, role) VALUES (1, ?, 'primary')",
                [metric_id],
            )
        database.execute(
            "INSERT INTO pilot_metric (pilot_id, metric_id, role) VALUES (2, 1, 'primary')"
        )
    yield database
    database.close()


def snapshot(db) -> dict:
    return {
        table: list(db.query(f"SELECT * FROM {table} ORDER BY id"))  # noqa: S608
        for table in ("observation", "upload", "audit_event")
    }


def import_text(db, text: str, pilot_id: int = 1, **options) -> dict:
    data = options.pop("data", None) or text.encode(options.pop("file_encoding", "utf-8"))
    return obs.import_file(
        db, pilot_id, io.BytesIO(data), actor_id=1, filename="data.csv", now=NOW, **options
    )


def stored(db) -> list[tuple]:
    return [
        (r["metric"], r["period"], r["arm"], r["unit"], r["value"], r["n"])
        for r in obs.observations_for(db, 1)
    ]


def test_a_norwegian_file_is_stored_with_its_upload_and_one_audit_event(db):
    result = import_text(db, "\ufeff" + GOOD)
    assert result == {"upload_id": 1, "rows": 4, "inserted": 4, "updated": 0}
    assert stored(db) == [
        ("admissions", "2026-02-01", "comparison", "site-1", 2.0, 1234.5),
        ("housed", "2026-01-01", "pilot", "", 3.0, 4.0),
        ("wait", "2026-01-01", "comparison", "P2", -1.5, None),
        ("wait", "2026-01-01", "pilot", "P1", 12.5, None),
    ]
    (upload,) = obs.uploads_for(db, 1)
    assert upload["source"] == "csv" and upload["user_name"] == "Kari"
    assert (upload["delimiter"], upload["decimal_mark"], upload["encoding"]) == (";", ",", "utf-8")
    assert (upload["rows"], upload["inserted"], upload["updated"]) == (4, 4, 0)
    lines = {r["source_line"] for r in db.query("SELECT source_line FROM observation")}
    assert lines == {2, 3, 4, 5}
    (event,) = db.query("SELECT * FROM audit_event")
    assert event["action"] == "observations.import" and event["object_id"] == "1"
    assert json.loads(event["after"])["inserted"] == 4
    assert audit.verify_chain(db) == (1, None)


def test_importing_the_same_rows_again_updates_instead_of_duplicating(db):
    import_text(db, GOOD)
    again = import_text(db, GOOD.replace("12,5", "13,5"))
    assert (again["inserted"], again["updated"]) == (0, 4)
    assert db["observation"].count == 4
    row = next(db.query("SELECT * FROM observation WHERE unit = 'P1'"))
    assert (row["value"], row["upload_id"]) == (13.5, again["upload_id"])
    more = import_text(db, GOOD + "wait;01.02.2026;pilot;P1;1;\r\n")
    assert (more["inserted"], more["updated"]) == (1, 4)


def test_a_period_must_have_begun_in_norway_at_the_import_moment(db):
    record = [{"metric": "wait", "period": "2026-04-01", "value": 2}]
    with pytest.raises(obs.ImportRefused) as caught:
        obs.import_records(db, 1, record, actor_id=1, now="2026-03-31T21:30:00Z")  # 23:30 Oslo
    assert [e.code for e in caught.value.errors] == ["future_period"]
    # 22:30 UTC is already 1 April in Oslo (summer time since 29 March)
    done = obs.import_records(db, 1, record, actor_id=1, now="2026-03-31T22:30:00Z")
    assert done["inserted"] == 1


def test_mixed_metric_types_in_one_file(db):
    text = HEADER + "".join(
        f"wait;01.{m:02d}.2025;pilot;u{u};{u},5;\r\n"
        f"housed;01.{m:02d}.2025;comparison;u{u};{u % 2};\r\n"
        f"admissions;01.{m:02d}.2025;pilot;u{u};{u};{u + 1}0,5\r\n"
        for m in range(1, 13)
        for u in range(5)
    )
    assert import_text(db, text)["inserted"] == 180


def test_xlsx_import(db):
    workbook = Workbook()
    workbook.active.append(["metric", "period", "value"])
    workbook.active.append(["wait", "01.03.2026", 4.25])
    out = io.BytesIO()
    workbook.save(out)
    result = obs.import_file(
        db, 1, io.BytesIO(out.getvalue()), actor_id=1, filename="data.xlsx", now=NOW
    )
    assert result["inserted"] == 1
    assert obs.uploads_for(db, 1)[0]["source"] == "xlsx"


def test_json_records_import_and_refusal(db):
    records = [{"metric": "wait", "period": "2026-01-01", "value": 2}]
    assert obs.import_records(db, 1, records, actor_id=1, now=NOW)["inserted"] == 1
    before = snapshot(db)
    with pytest.raises(obs.ImportRefused) as caught:
        obs.import_records(db, 1, [*records, {"metric": "wait", "value": 1}], actor_id=1)
    assert [(e.line, e.column, e.code) for e in caught.value.errors] == [
        (2, "period", "missing_column")
    ]
    assert snapshot(db) == before


BAD_FILES = {
    "impossible date": (HEADER + "wait;31.02.2026;pilot;u;1;\r\n", (6, "period")),
    "ambiguous number": (
        HEADER.replace("\r\n", "\n") + "wait;01.02.2026;pilot;u;1,234;\n",
        (2, "value"),
    ),
    "unknown metric": (HEADER + "waiting;01.02.2026;pilot;u;1;\r\n", (6, "metric")),
    "metric not in this pilot": (HEADER + "other;01.02.2026;pilot;u;1;\r\n", (6, "metric")),
    "unknown arm": (HEADER + "wait;01.02.2026;treatment;u;1;\r\n", (6, "arm")),
    "value out of range": (HEADER + "wait;01.02.2026;pilot;u;400;\r\n", (6, "value")),
    "proportion not 0 or 1": (HEADER + "housed;01.02.2026;pilot;u;2;\r\n", (6, "value")),
    "n not positive": (HEADER + "admissions;01.02.2026;pilot;u;2;0\r\n", (6, "n")),
    "successes over n": (HEADER + "housed;01.02.2026;pilot;u;5;4\r\n", (6, "value")),
    "missing column": ("metric;arm;value\r\nwait;pilot;1\r\n", (1, "period")),
    "extra column": ("metric;period;value;note\r\nwait;01.01.2026;1;x\r\n", (1, "note")),
    "duplicated key": (HEADER + "wait;01.01.2026;pilot;P1;7;\r\n", (6, "period")),
    "wrong field count": (HEADER + "wait;01.02.2026;pilot;u;1\r\n", (6, None)),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_each_bad_file_stores_nothing_and_names_line_and_column(db, case):
    text, (line, column) = BAD_FILES[case]
    if case not in ("missing column", "extra column", "ambiguous number"):
        text = GOOD + text[len(HEADER) :]  # good rows first: they must not stay behind
    import_text(db, GOOD.replace("12,5", "99"))
    before = snapshot(db)
    with pytest.raises(obs.ImportRefused) as caught:
        import_text(db, text)
    assert (line, column) in [(e.line, e.column) for e in caught.value.errors]
    assert caught.value.total >= 1
    assert snapshot(db) == before


def test_a_bad_row_after_many_good_ones_leaves_nothing_behind(db):
    body = "".join(f"wait;01.01.2026;pilot;u{i};{i % 300};\r\n" for i in range(20_000))
    before = snapshot(db)
    with pytest.raises(obs.ImportRefused) as caught:
        import_text(db, HEADER + body + "wait;01.13.2026;pilot;x;1;\r\n")
    assert [(e.line, e.code) for e in caught.value.errors] == [(20_002, "impossible_date")]
    assert snapshot(db) == before


def test_encoding_windows_1252_named_or_refused(db):
    text = HEADER + "wait;01.01.2026;pilot;Tromsø-7;1;\r\n"
    data = text.encode("windows-1252")
    before = snapshot(db)
    with pytest.raises(obs.ImportRefused) as caught:
        import_text(db, "", data=data)
    assert [(e.line, e.code) for e in caught.value.errors] == [(2, "encoding")]
    assert snapshot(db) == before
    assert import_text(db, "", data=data, encoding="windows-1252")["inserted"] == 1
    assert stored(db)[0][3] == "Tromsø-7"
    assert obs.uploads_for(db, 1)[0]["encoding"] == "cp1252"


def test_caps_refuse_with_nothing_stored(db):
    text = HEADER + "".join(f"wait;01.01.2026;pilot;u{i};1;\r\n" for i in range(10))
    before = snapshot(db)
    with pytest.raises(obs.ImportRefused) as caught:
        import_text(db, text, max_rows=5)
    assert caught.value.errors[-1].code == "too_many_rows"
    with pytest.raises(obs.ImportRefused) as caught:
        import_text(db, text, max_bytes=100)
    assert caught.value.errors[-1].code == "too_big"
    assert snapshot(db) == before


def test_the_design_decides_the_arms(db):
    before = snapshot(db)
    with pytest.raises(obs.ImportRefused) as caught:
        import_text(db, "metric;period;arm;value\nwait;01.01.2026;comparison;1\n", pilot_id=2)
    assert caught.value.errors[0].code == "arm_not_in_design"
    assert snapshot(db) == before


def test_the_database_finds_a_key_given_twice_in_rows_from_any_source(db):
    rows = [
        Observation("wait", "2026-01-01", "pilot", "a", 1.0, None, 1),
        Observation("wait", "2026-02-01", "pilot", "a", 1.0, None, 2),
        Observation("wait", "2026-01-01", "pilot", "a", 2.0, None, 3),
        Observation("wait", "2026-02-01", "pilot", "a", 2.0, None, 4),
    ]
    before = snapshot(db)
    with pytest.raises(obs.ImportRefused) as caught:
        obs.import_observations(db, 1, rows, source="entry", actor_id=1)
    assert [(e.line, e.params) for e in caught.value.errors] == [
        (3, {"first": 1}),
        (4, {"first": 2}),
    ]
    assert snapshot(db) == before


def test_rows_breaking_a_database_rule_are_refused_whole(db):
    rows = [
        Observation("wait", "2026-01-01", "pilot", "a", 1.0, None, 1),
        Observation("wait", "2026-02-01", "control", "a", 1.0, None, 2),
    ]
    before = snapshot(db)
    with pytest.raises(obs.ImportRefused) as caught:
        obs.import_observations(db, 1, rows, source="api", actor_id=1)
    assert caught.value.errors[0].line == 2
    assert snapshot(db) == before


def test_an_unknown_pilot_is_not_found(db):
    with pytest.raises(NotFound):
        obs.import_observations(db, 99, [], source="csv", actor_id=1)


# -- exports ---------------------------------------------------------------------------


def test_csv_export_neutralises_formulas_keeps_numbers_and_reimports_unchanged(db):
    text = GOOD + "wait;01.03.2026;pilot;=1+2;1,2345;\r\nwait;01.04.2026;pilot;@x;1,234;\r\n"
    import_text(db, text.replace("1,234;", "0,5;"), decimal_mark=",")
    db.execute("UPDATE observation SET value = 1.234 WHERE unit = '@x'")
    exported = "".join(obs.export_observations_csv(db, 1))
    assert exported.startswith("\ufeffmetric;period;arm;unit;value;n\r\n")
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff")), delimiter=";"))
    by_unit = {row[3]: row for row in rows[1:]}
    assert by_unit["'=1+2"][4] == "1,2345"
    assert by_unit["'@x"][4] == "1,2340"  # never readable as 1234
    assert by_unit["P2"][4] == "-1,5"  # a negative number stays a number
    assert by_unit["P2"][1] == "01.01.2026"
    again = import_text(db, exported)
    assert (again["inserted"], again["updated"]) == (0, 6)
    assert {r[3] for r in stored(db)} >= {"=1+2", "@x"}


def test_an_export_holding_a_dropped_metric_reimports_unchanged(db):
    """A metric an amendment dropped keeps its rows, which are still evaluated: the
    pilot's export holds them, and must import again as it was."""
    import_text(db, GOOD)
    db.execute(
        "UPDATE pilot_metric SET dropped_in_version = 2 WHERE pilot_id = 1 AND metric_id = 1"
    )
    exported = "".join(obs.export_observations_csv(db, 1))
    assert "\r\nwait;" in exported
    again = import_text(db, exported)
    assert again["inserted"] == 0 and again["updated"] == len(stored(db))


def test_csv_export_formats(db):
    import_text(db, GOOD)
    text = "".join(
        obs.export_observations_csv(
            db, 1, delimiter=",", decimal_mark=".", date_format="iso", bom=False
        )
    )
    assert text.splitlines()[1] == "admissions,2026-02-01,comparison,site-1,2,1234.5"
    with pytest.raises(DomainError):
        list(obs.export_observations_csv(db, 1, delimiter=",", decimal_mark=","))


def test_json_and_xlsx_exports(db):
    import_text(db, GOOD + "wait;01.03.2026;pilot;=cmd;1;\r\n")
    items = json.loads("".join(obs.export_observations_json(db, 1)))
    assert items[0] == {
        "metric": "admissions",
        "period": "2026-02-01",
        "arm": "comparison",
        "unit": "site-1",
        "value": 2.0,
        "n": 1234.5,
    }
    out = io.BytesIO()
    obs.export_observations_xlsx(db, 1, out)
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("metric", "period", "arm", "unit", "value", "n")
    formula_cell = next(c for row in sheet.iter_rows() for c in row if c.value == "=cmd")
    assert formula_cell.data_type == "s"  # text, never a formula
    again = obs.import_file(db, 1, io.BytesIO(out.getvalue()), actor_id=1, filename="x.xlsx")
    assert (again["inserted"], again["updated"]) == (0, 5)


def test_metric_catalogue_exports(db):
    db.execute("UPDATE metric SET name = '=HYPERLINK(\"http://x\")', burden_minutes = 2.5")
    text = "".join(obs.export_metrics_csv(db, bom=False))
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:3] == ["slug", "name", "definition"]
    assert rows[1][1].startswith("'=HYPERLINK") and rows[1][11] == "2,5"
    assert [m["slug"] for m in json.loads("".join(obs.export_metrics_json(db)))] == [
        "admissions",
        "housed",
        "other",
        "wait",
    ]
    out = io.BytesIO()
    obs.export_metrics_xlsx(db, out)
    assert load_workbook(io.BytesIO(out.getvalue())).active.max_row == 5


@pytest.mark.parametrize(
    ("value", "mark", "text"),
    [
        (12.0, ",", "12"),
        (-1.5, ",", "-1,5"),
        (1.234, ",", "1,2340"),
        (0.123, ".", "0.123"),
        (1234.5, ".", "1234.5"),
        (1e-7, ",", "0,0000001"),
        (1e20, ".", "100000000000000000000"),
        (None, ",", ""),
    ],
)
def test_numbers_are_written_so_the_importer_reads_them_back_the_same(value, mark, text):
    assert obs.format_number(value, mark) == text


def test_neutralise():
    assert [obs.neutralise(t) for t in ["=1", "+1", "-x", "@a", "\tx", "\rx", "a=1"]] == [
        "'=1",
        "'+1",
        "'-x",
        "'@a",
        "'\tx",
        "'\rx",
        "a=1",
    ]


# -- a period as a total or as per-person rows, never both ----------------------------


def test_per_person_rows_beside_a_stored_total_are_refused_naming_line_and_upload(db):
    entry = obs.import_records(
        db,
        1,
        [{"metric": "wait", "period": "2026-03-01", "unit": "", "value": 4}],
        actor_id=1,
        source="entry",
        now="2026-03-05T10:00:00Z",
    )
    before = snapshot(db)
    text = HEADER + "wait;01.02.2026;pilot;P1;3;\r\nwait;01.03.2026;pilot;P1;5;\r\n"
    with pytest.raises(obs.ImportRefused) as caught:
        import_text(db, text)
    (error,) = caught.value.errors
    assert (error.line, error.column, error.code) == (3, "unit", "units_beside_total")
    assert error.text == (
        "01.03.2026 of wait, pilot arm, already has a total from quick entry on 05.03.2026;"
        " per-person rows would be counted twice. Give the period as per-person rows only,"
        " or as a total only; undo the earlier upload first if it was wrong."
    )
    assert snapshot(db) == before  # no rows, no upload row, no audit event
    assert entry["inserted"] == 1 and db["upload"].count == 1


def test_a_total_beside_stored_per_person_rows_is_refused_by_quick_entry_and_records(db):
    import_text(
        db, HEADER + "wait;01.03.2026;comparison;P1;5;\r\nwait;01.03.2026;comparison;P2;7;\r\n"
    )
    before = snapshot(db)
    for source in ("entry", "json"):
        records = [
            {"metric": "wait", "period": "2026-02-01", "arm": "comparison", "value": 4},
            {"metric": "wait", "period": "2026-03-01", "arm": "comparison", "value": 6},
        ]
        with pytest.raises(obs.ImportRefused) as caught:
            obs.import_records(db, 1, records, actor_id=1, source=source, now=NOW)
        (error,) = caught.value.errors
        assert (error.line, error.column, error.code) == (2, "unit", "total_beside_units")
        assert error.text.startswith(
            "01.03.2026 of wait, comparison arm, already has 2 per-person rows, the latest"
            " from data.csv on 26.11.2026; a total would be counted twice."
        )
        assert snapshot(db) == before


def test_a_total_and_per_person_rows_in_one_file_are_refused(db):
    text = (
        HEADER + "wait;01.03.2026;pilot;;4;\r\n"
        "housed;01.03.2026;pilot;;1;2\r\n"
        "wait;01.03.2026;pilot;P1;5;\r\n"
    )
    with pytest.raises(obs.ImportRefused) as caught:
        import_text(db, text)
    (error,) = caught.value.errors
    assert (error.line, error.code) == (4, "mixed_total_and_units")
    assert "line 2 gives a total and line 4 per-person rows" in error.text
    assert db["observation"].count == 0 and db["upload"].count == 0


def test_totals_for_some_periods_and_per_person_rows_for_others_are_accepted(db):
    text = (
        HEADER + "wait;01.01.2026;pilot;;4;\r\n"
        "wait;01.02.2026;pilot;P1;5;\r\nwait;01.02.2026;pilot;P2;6;\r\n"
        "wait;01.02.2026;comparison;;3;\r\n"  # another arm of the same month
        "housed;01.02.2026;pilot;;1;2\r\n"  # another metric of the same month
    )
    assert import_text(db, text)["inserted"] == 5
    # and later: a total for a month with none, per-person rows for a month with none
    more = HEADER + "wait;01.03.2026;pilot;;4;\r\nwait;01.04.2026;pilot;P1;2;\r\n"
    assert import_text(db, more)["inserted"] == 2
    # the same file again only updates its own kind of row
    assert import_text(db, text)["updated"] == 5


def test_a_mix_stored_before_the_rule_does_not_block_other_periods(db):
    import_text(db, HEADER + "wait;01.01.2026;pilot;P1;5;\r\n")
    with db.atomic():  # as a database from before the rule could hold it
        db.execute(
            "INSERT INTO observation (pilot_id, metric_id, period, arm, unit, value,"
            " created_at, updated_at) VALUES (1, 1, '2026-01-01', 'pilot', '', 4, ?, ?)",
            [NOW, NOW],
        )
    assert import_text(db, HEADER + "wait;01.02.2026;pilot;P1;5;\r\n")["inserted"] == 1
    with pytest.raises(obs.ImportRefused) as caught:
        import_text(db, HEADER + "wait;01.01.2026;pilot;P2;5;\r\n")
    assert caught.value.errors[0].code == "units_beside_total"


# -- undoing an upload ----------------------------------------------------------------


def test_undo_removes_only_the_rows_still_carrying_the_upload_and_is_audited(db):
    first = import_text(db, GOOD)
    later = import_text(db, HEADER + "wait;01.01.2026;pilot;P1;20;\r\n")  # rewrites one row
    other = obs.import_records(
        db, 2, [{"metric": "wait", "period": "2026-01-01", "value": 1}], actor_id=1, now=NOW
    )
    result = obs.undo_upload(db, 1, first["upload_id"], 1, now=NOW)
    assert result == {"upload_id": first["upload_id"], "removed": 3}
    assert stored(db) == [("wait", "2026-01-01", "pilot", "P1", 20.0, None)]
    assert db["observation"].count == 2  # pilot 2's row stays
    event = next(db.query("SELECT * FROM audit_event ORDER BY id DESC"))
    assert (event["action"], event["object_type"], event["object_id"]) == (
        "observations.undo_upload",
        "pilot",
        "1",
    )
    assert json.loads(event["after"]) == {"upload_id": first["upload_id"], "removed": 3}
    assert audit.verify_chain(db)[1] is None
    uploads = {u["id"]: u for u in obs.uploads_for(db, 1)}
    assert uploads[first["upload_id"]]["undone"] and uploads[first["upload_id"]]["carrying"] == 0
    assert (
        not uploads[later["upload_id"]]["undone"] and uploads[later["upload_id"]]["carrying"] == 1
    )
    assert db["upload"].count == 3  # the upload stays as the record of what came
    with pytest.raises(DomainError):
        obs.undo_upload(db, 1, first["upload_id"], 1, now=NOW)
    with pytest.raises(NotFound):  # an upload of another pilot
        obs.undo_upload(db, 1, other["upload_id"], 1, now=NOW)


def test_after_an_undo_the_period_may_be_given_the_other_way(db):
    entry = obs.import_records(
        db,
        1,
        [{"metric": "wait", "period": "2026-03-01", "value": 4}],
        actor_id=1,
        source="entry",
        now=NOW,
    )
    obs.undo_upload(db, 1, entry["upload_id"], 1, now=NOW)
    assert import_text(db, HEADER + "wait;01.03.2026;pilot;P1;5;\r\n")["inserted"] == 1
