"""Results on the pilot page, evaluate now, the analyst's overview and its exports,
the leader's portfolio, the inbox, digests (outbox and SMTP), and the admin pages."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import UTC, datetime
from html import unescape

import pytest
import results_data
from openpyxl import load_workbook
from sessions import DEMO_EMAIL, Auth

from pilots.domain import notifications
from pilots.domain import organisation as org
from pilots.domain import results as results_domain
from pilots.evaluation.cadence import evaluate_due

# Fixtures from results_data: the evaluated demo database and its pilot ids.
db_path = results_data.db_path
evaluated_template = results_data.evaluated_template
ids = results_data.ids

HTMX = {"HX-Request": "true"}


def _login(client, email):
    assert Auth(client).login(email).status_code == 303


def _user(db, email):
    return org.user_by_email(db, email)["id"]


# ---- the pilot page --------------------------------------------------------------------


def test_pilot_page_shows_verdict_numbers_concerns_and_history(client, ids):
    _login(client, DEMO_EMAIL["analyst"])
    html = client.get(f"/pilots/{ids['two_group']}", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert 'id="results"' in html
    assert "verdict-improved" in html and "verdict-worsened" in html
    assert "Balancing concerns" in html
    assert "p-value, Holm-adjusted" in html  # er-visits is secondary
    assert "events in the pilot group" in html  # a rate's n counts its events
    assert "Interval for repeated looks" in html  # a scheduled look
    assert html.count('data-chart-key="history-') == 3
    # the history follows the cards: primary first (the catalogue added it first or not)
    cards = re.findall(r'id="result-([a-z0-9-]+)"', html)
    histories = re.findall(r'data-chart-key="history-([a-z0-9-]+)"', html)
    assert histories == cards, (cards, histories)
    assert "style=" not in html and "<script>" not in html
    # look by look, a difference of shares reads in points, as on its result card
    assert _chart_data(html, "history-housed-6m")["percent"] is True
    assert _chart_data(html, "history-er-visits")["percent"] is False


def test_look_by_look_table_writes_each_look_as_the_result_card_does(client, db, ids):
    """A difference of shares reads in percentage points in the table of looks, as on
    its result card (58.3 pp, not 0.583)."""
    _login(client, DEMO_EMAIL["analyst"])
    html = client.get(f"/pilots/{ids['two_group']}", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    looks = html.split('id="history-heading"', 1)[1]
    estimates = [
        row["estimate"]
        for row in db.query(
            """SELECT e.estimate FROM evaluation e JOIN metric m ON m.id = e.metric_id
               WHERE e.pilot_id = ? AND m.slug = 'housed-6m'""",
            [ids["two_group"]],
        )
    ]
    assert estimates
    for estimate in estimates:
        assert f"{estimate * 100:.1f} pp" in looks
        assert f">{estimate:.3f}<" not in looks


_NUMBER = re.compile(r"\d(?:[\d\u00a0 ]*\d)?(?:,\d+)?")


@pytest.mark.parametrize("design", ["two_group", "pre_post"])  # did's results: too little data
def test_a_result_cards_figures_are_rounded_as_its_sentence(client, ids, design):
    """The card writes the effect and the interval the verdict used with the sentence's
    decimals, so a leader does not read "0,2" in the sentence and "0,21" beside it."""
    _login(client, DEMO_EMAIL["analyst"])
    html = unescape(
        client.get(f"/pilots/{ids[design]}", headers={"Accept-Language": "nb"}).get_data(
            as_text=True
        )
    )
    cards = html.split('<article class="metric-result')[1:]
    checked = 0
    for card in cards:
        sentence = card.split('<p class="verdict">', 1)[1].split("</p>", 1)[0]
        facts = re.findall(r"<dt>([^<]*)</dt><dd>(.*?)</dd>", card, re.S)
        shown = dict(facts)
        interval = shown.get("Intervall for gjentatte kikk") or shown.get("95 % konfidensintervall")
        if interval is None or "Estimat" not in shown or "insufficient_data" in sentence:
            continue  # a sentence without figures
        figures = _NUMBER.findall(shown["Estimat"].split("(")[0]) + _NUMBER.findall(
            interval.split("<span")[0]
        )
        assert figures and all(figure in sentence for figure in figures), (figures, sentence)
        checked += 1
    assert checked >= 1


def test_an_effect_that_rounds_to_zero_has_no_sign(app):
    """A small negative effect reads "0,00 døgn", not "-0,00 døgn", as its sentence does."""
    from pilots.web.results import effect_text

    with app.test_request_context(headers={"Accept-Language": "nb"}):
        assert effect_text(-0.001, "mean", "døgn") == "0,00 døgn"
        assert effect_text(-0.0001, "proportion", "", 1).startswith("0,0 ")
        assert effect_text(-0.3, "mean", "døgn", 1) == "-0,3 døgn"


def test_a_difference_of_a_measure_in_per_cent_reads_in_points():
    """Sick leave is kept in per cent: its difference is percentage points, not %."""
    result = {"details": {"metric_type": "mean"}}
    assert results_domain.effect_kind(result, "%") == "points"
    assert results_domain.effect_kind(result, "prosent") == "points"
    assert results_domain.effect_kind(result, "døgn") == "mean"
    assert results_domain.effect_kind({"details": {"metric_type": "proportion"}}, "%") == (
        "proportion"
    )
    assert results_domain.effect_kind({"details": {"scale": "log"}}, "%") == "ratio"


def _chart_data(html: str, key: str) -> dict:
    """The JSON a chart's canvas carries in its data-chart attribute."""
    tag = html.split(f'data-chart-key="{key}"', 1)[1].split(">", 1)[0]
    return json.loads(unescape(tag.split("data-chart='", 1)[1].split("'", 1)[0]))


def test_warnings_are_plain_words_and_previews_are_labelled(client, db, ids):
    _login(client, DEMO_EMAIL["analyst"])
    html = client.get(f"/pilots/{ids['did']}").get_data(as_text=True)
    # few_clusters, in the reader's words (the analyst reads Norwegian by default)
    assert "few_clusters" not in html
    assert html.count('class="data-warnings"') == 1
    db.execute("UPDATE evaluation SET preview = 1 WHERE pilot_id = ?", [ids["did"]])
    db.conn.commit()
    html = client.get(f"/pilots/{ids['did']}", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "preview-label" in html
    # The did pilot's plan is approved: the preview says it came before that.
    assert "before the plan was approved" in html
    db.execute("UPDATE pilot SET approved_version = NULL WHERE id = ?", [ids["did"]])
    db.conn.commit()
    html = client.get(f"/pilots/{ids['did']}", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "the plan is not approved, so the metrics" in html


def test_a_draft_and_its_results_are_404_for_other_teams(client, db):
    draft = next(db.query("SELECT id FROM pilot WHERE title = 'Husleiegaranti uten søknad'"))["id"]
    _login(client, "ola@fjordvik.example")
    assert client.get(f"/pilots/{draft}").status_code == 404
    assert (
        client.post(
            f"/pilots/{draft}/evaluate", data={"csrf_token": Auth(client).token()}
        ).status_code
        == 404
    )


def test_evaluate_now_returns_the_results_block_and_one_audit_event(client, db, ids):
    _login(client, DEMO_EMAIL["frontline"])
    before = db["audit_event"].count
    response = client.post(
        f"/pilots/{ids['two_group']}/evaluate",
        data={"csrf_token": Auth(client).token()},
        headers=HTMX,
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and 'id="results"' in body
    assert db["audit_event"].count == before + 1


def test_looks_in_a_row_are_one_line_of_the_timeline(client, db, ids):
    _login(client, DEMO_EMAIL["frontline"])
    pilot = ids["two_group"]
    for _ in range(3):
        client.post(f"/pilots/{pilot}/evaluate", data={"csrf_token": Auth(client).token()})
    page = client.get(f"/pilots/{pilot}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    timeline = page.split('id="timeline-heading"', 1)[1].split("</ol>", 1)[0]
    (kari,) = db.execute(
        "SELECT name FROM users WHERE email = ?", [DEMO_EMAIL["frontline"]]
    ).fetchone()
    lines = [line for line in timeline.split("</li>") if f"{kari} evaluated the results" in line]
    assert len(lines) == 1 and "(3 times in a row)" in lines[0]
    # the audit trail keeps every press
    (events,) = db.execute(
        "SELECT count(*) FROM audit_event WHERE object_id = ? AND action = 'pilot.evaluate'"
        " AND actor_id = (SELECT id FROM users WHERE email = ?)",
        [str(pilot), DEMO_EMAIL["frontline"]],
    ).fetchone()
    assert events == 3


def test_the_timeline_tells_a_look_from_the_command_line_from_a_scheduled_one(
    client, db, ids, runner
):
    pilot = ids["did"]
    cli = runner.invoke(args=["evaluate", "--pilot", str(pilot), "--as-of", "2026-11-22"])
    assert cli.exit_code == 0, cli.output
    evaluate_due(db, datetime(2026, 11, 25, 2, 30, tzinfo=UTC))
    _login(client, DEMO_EMAIL["frontline"])
    page = client.get(f"/pilots/{pilot}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    timeline = unescape(page.split('id="timeline-heading"', 1)[1].split("</ol>", 1)[0])
    lines = [" ".join(line.split()) for line in timeline.split("</li>")]
    assert any("from the command line evaluated the results" in line for line in lines)
    assert any("automatically evaluated the results" in line for line in lines)


def test_evaluate_now_is_refused_to_outsiders(client, ids):
    _login(client, "amir@fjordvik.example")  # frontline in another team
    response = client.post(
        f"/pilots/{ids['two_group']}/evaluate", data={"csrf_token": Auth(client).token()}
    )
    assert response.status_code == 403


# ---- the analyst's overview and exports -------------------------------------------


def test_overview_lists_results_with_a_forest_plot_and_filters(client, ids):
    _login(client, DEMO_EMAIL["analyst"])
    html = client.get("/results").get_data(as_text=True)
    assert 'data-chart-key="forest"' in html
    assert "Bosted først for ti personer" in html
    fragment = client.get("/results?design=spc", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment
    assert "Færre uplanlagte besøk" in fragment and "Bosted først for ti" not in fragment


def test_the_overviews_metric_filter_offers_the_metrics_pilots_measure(client, db, ids):
    """Not the whole catalogue: an indicator no pilot measures would only filter to
    nothing."""
    _login(client, DEMO_EMAIL["analyst"])
    html = client.get("/results").get_data(as_text=True)
    choices = html.split('<select id="metric" name="metric">', 1)[1].split("</select>", 1)[0]
    offered = set(re.findall(r'<option value="(\d+)"', choices))
    measured = {str(r["metric_id"]) for r in db.query("SELECT metric_id FROM pilot_metric")}
    assert offered == measured
    unused = db.execute(
        "SELECT count(*) FROM metric WHERE id NOT IN (SELECT metric_id FROM pilot_metric)"
    ).fetchone()[0]
    assert unused > 0  # the demo's catalogue holds some


def test_relative_effects_put_units_on_one_axis(db, ids):
    rows = {r["design"]: r for r in results_domain.overview(db)}
    assert rows["two_group"]["relative"][0] == pytest.approx(105.0)  # (0.854-0.417)/0.417
    spc = rows["spc"]
    assert spc["relative"][0] == pytest.approx(100 * spc["estimate"] / spc["details"]["mean"])
    ratio = next(r for r in results_domain.overview(db, primary_only=False) if r["kind"] == "ratio")
    assert ratio["relative"][0] == pytest.approx(100 * (ratio["estimate"] - 1))


def _lift_row(lift, se, quantile=2.0):
    details = {
        "relative_lift": lift,
        "relative_lift_se": se,
        "relative_lift_ci_low": lift - quantile * se,
        "relative_lift_ci_high": lift + quantile * se,
    }
    return {"estimate": 0.5, "ci_low": 0.2, "ci_high": 0.8, "details": details}


def test_a_two_group_lift_is_drawn_on_the_log_scale_of_its_ratio():
    # 75 % housed against a reference of 16.7 %: a lift of 350 %, whose symmetric
    # interval (-286 % to 986 %) said a share could fall by more than all of it
    estimate, low, high = results_domain.relative_effect(_lift_row(3.5, 3.18))
    assert estimate == pytest.approx(350.0)
    ratio, spread = 4.5, 2.0 * 3.18 / 4.5
    expected = (100 * (ratio / math.exp(spread) - 1), 100 * (ratio * math.exp(spread) - 1))
    assert (low, high) == pytest.approx(expected)
    assert 0 < low < 350 < high  # above zero, as the absolute interval and the verdict
    # a modest lift keeps nearly its symmetric interval
    _, low, high = results_domain.relative_effect(_lift_row(0.10, 0.02))
    assert (low, high) == pytest.approx((6.1, 14.1), abs=0.1)
    # a lift of -100 % or below has no ratio to take the log of: the engine's interval
    assert results_domain.relative_effect(_lift_row(-1.5, 0.2))[1:] == pytest.approx(
        (-190.0, -110.0)
    )


def test_csv_export_neutralises_formulas_and_uses_the_decimal_comma(client, db, ids):
    db.execute("UPDATE pilot SET title = '=HYPERLINK(1)' WHERE id = ?", [ids["spc"]])
    db.conn.commit()
    _login(client, DEMO_EMAIL["analyst"])
    response = client.get("/results/export.csv?delimiter=semicolon&decimal_mark=comma")
    assert response.status_code == 200
    text = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert any(r["pilot"] == "'=HYPERLINK(1)" for r in rows)
    estimate = next(r["estimate"] for r in rows if r["metric"] == "inpatient-days")
    assert "," in estimate and "." not in estimate
    points = client.get("/results/export.csv?delimiter=comma&decimal_mark=comma").get_data(
        as_text=True
    )
    assert "0.43" in points  # a comma-separated file keeps the point
    text = client.get("/results/export.csv?decimal_mark=point").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    estimate = next(r["estimate"] for r in rows if r["metric"] == "inpatient-days")
    assert "." in estimate and "," not in estimate


def test_xlsx_and_json_exports(client, ids):
    _login(client, DEMO_EMAIL["leader"])
    book = load_workbook(io.BytesIO(client.get("/results/export.xlsx").data), read_only=True)
    sheet = list(book["results"].values)
    assert sheet[0][0] == "pilot_id" and len(sheet) > 4
    # The look's day is a date cell (a spreadsheet can sort and filter by it), not text.
    as_of = sheet[0].index("as_of")
    assert all(isinstance(row[as_of], datetime) for row in sheet[1:])
    data = json.loads(client.get("/results/export.json?design=pre_post").data)
    assert {row["design"] for row in data} == {"pre_post"}
    assert client.get("/results/export.pdf").status_code == 404


# ---- the leader's portfolio ---------------------------------------------------------


def test_portfolio_shows_what_is_new_since_the_last_visit(client, db, ids):
    ingrid = _user(db, DEMO_EMAIL["leader"])
    # The last sitting ended after the 20.10 look but before the 20.11 one.
    db.execute(
        "INSERT INTO page_visit (user_id, page, previous_at, current_at) VALUES (?, ?, ?, ?)",
        [ingrid, "portfolio", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"],
    )
    db.execute(
        "UPDATE evaluation SET computed_at = '2026-10-20T09:00:00Z' WHERE as_of = '2026-10-20'"
    )
    db.execute(
        "UPDATE evaluation SET computed_at = '2026-10-20T09:00:00Z' WHERE pilot_id = ?",
        [ids["pre_post"]],
    )
    db.conn.commit()
    _login(client, DEMO_EMAIL["leader"])
    html = client.get("/portfolio", headers={"Accept-Language": "en"}).get_data(as_text=True)
    new = html[html.index('id="signals-heading"') : html.index('id="approvals-heading"')]
    assert "Balancing concern" in new
    assert new.index("Sykefravær") < new.index("Bor fortsatt")  # concerns first
    assert "Liggedøgn" not in new  # stored before the last visit
    assert "Fast kontaktperson i NAV" in html  # a decision due
    # Reloading in the same sitting keeps the same "since".
    again = client.get("/portfolio").get_data(as_text=True)
    assert "Sykefravær" in again[again.index('id="signals-heading"') :]


def test_record_visit_starts_a_new_sitting_after_an_hour(db):
    user = _user(db, DEMO_EMAIL["leader"])
    assert results_domain.record_visit(db, user, "p", "2026-11-20T10:00:00Z") is None
    assert results_domain.record_visit(db, user, "p", "2026-11-20T10:30:00Z") is None
    assert (
        results_domain.record_visit(db, user, "p", "2026-11-20T12:00:00Z") == "2026-11-20T10:30:00Z"
    )
    assert (
        results_domain.record_visit(db, user, "p", "2026-11-20T12:10:00Z") == "2026-11-20T10:30:00Z"
    )


# ---- notifications and digests ---------------------------------------------------------

MONDAY = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


def test_weekly_digest_once_per_week_daily_once_per_day(db, ids):
    ingrid = _user(db, DEMO_EMAIL["leader"])
    unread = notifications.unread_count(db, ingrid)  # the demo's plan counting down
    first = notifications.send_digests(db, MONDAY)
    assert first["outbox"] == 1  # Ingrid; Per leads a unit without pilots
    assert notifications.send_digests(db, TUESDAY)["outbox"] == 0  # same ISO week
    notifications.set_digest_frequency(db, ingrid, "daily", "2026-11-24T06:00:00Z")
    db.execute(
        "UPDATE evaluation SET computed_at = '2026-11-24T03:00:00Z' WHERE pilot_id = ?",
        [ids["spc"]],
    )
    db.conn.commit()
    assert notifications.send_digests(db, TUESDAY)["outbox"] == 1  # a new daily period
    assert notifications.send_digests(db, TUESDAY)["skipped"] >= 1
    mails = list(db.query("SELECT * FROM outbox ORDER BY id"))
    assert len(mails) == 2 and mails[0]["recipient"] == DEMO_EMAIL["leader"]
    assert "/pilots/" in mails[0]["body"]
    assert notifications.unread_count(db, ingrid) == unread + 2


@pytest.mark.parametrize(
    ("language", "one", "two", "dates"),
    [
        (
            "nb",
            "1 nytt signal, 1 beslutning venter",
            "2 nye signaler, 2 beslutninger venter",
            ("siden 20.11.2026", "(sluttet 31.10.2026)"),
        ),
        (
            "en",
            "1 new signal, 1 decision due",
            "2 new signals, 2 decisions due",
            ("since 20 Nov 2026", "(ended 31 Oct 2026)"),
        ),
    ],
)
def test_a_digest_counts_in_words_and_writes_days_as_the_app_does(language, one, two, dates):
    leader = {"name": "Ingrid", "language": language, "frequency": "weekly"}
    signal = {
        "title": "P",
        "metric_name": "M",
        "verdict": "improved",
        "concern": False,
        "pilot_id": 1,
    }
    decision = {"title": "Q", "end_date": "2026-10-31", "id": 2}
    since, link = "2026-11-20T05:00:00Z", "https://pilots.example"
    single = notifications.compose(leader, since, [signal], [decision], 0, link)
    assert single["subject"].endswith(one) and single["title"].endswith(one)
    double = notifications.compose(leader, since, [signal] * 2, [decision] * 2, 0, link)
    assert double["subject"].endswith(two)
    assert all(text in single["body"] for text in dates), single["body"]


def test_outbox_and_inbox_pages(client, db, ids):
    ingrid = _user(db, DEMO_EMAIL["leader"])
    # the demo's plan counting down to approval by trust, told to her as it was sent
    assert notifications.unread_count(db, ingrid) == 1
    notifications.send_digests(db, MONDAY)
    _login(client, DEMO_EMAIL["leader"])
    page = client.get("/").get_data(as_text=True)
    assert 'class="unread-count">2' in page
    inbox = client.get("/notifications").get_data(as_text=True)
    assert "/notifications/" in inbox
    # The demo's approvals and answers put notifications in the frontline's inboxes too.
    note = next(
        db.query(
            "SELECT id FROM notification WHERE user_id = ? AND read_at IS NULL ORDER BY id",
            [ingrid],
        )
    )["id"]
    fragment = client.post(
        f"/notifications/{note}/read", data={"csrf_token": Auth(client).token()}, headers=HTMX
    ).get_data(as_text=True)
    assert "<html" not in fragment
    assert notifications.unread_count(db, ingrid) == 1
    Auth(client).logout()
    _login(client, "per@fjordvik.example")
    token = Auth(client).token()
    assert client.post(f"/notifications/{note}/read", data={"csrf_token": token}).status_code == 404
    Auth(client).logout()
    _login(client, DEMO_EMAIL["admin"])
    outbox = client.get("/admin/outbox").get_data(as_text=True)
    assert DEMO_EMAIL["leader"] in outbox


def test_digests_go_by_smtp_when_configured(db, ids, smtp_server):
    mail = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_server.server_address[1],
        "SMTP_FROM": "pilots@fjordvik.example",
        "BASE_URL": "https://pilots.fjordvik.example",
    }
    done = notifications.send_digests(db, MONDAY, mail)
    assert done["smtp"] == 1 and done["outbox"] == 0
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert f"To: {DEMO_EMAIL['leader']}" in message
    assert "https://pilots.fjordvik.example/portfolio" in message
    assert db["outbox"].count == 0


def test_digest_cli_and_failed_smtp_falls_back_to_the_outbox(app, runner, db, ids):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nobody listens there
    result = runner.invoke(args=["digest", "--now", "2026-11-23T05:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "1 failed" in result.output
    assert db["outbox"].count == 1


# ---- admin pages ------------------------------------------------------------------------


def test_job_log_pages_and_failures(client, db):
    db.execute(
        """INSERT INTO job_run (job, scheduled_for, started_at, finished_at, status, message)
           VALUES ('evaluate_due', '2026-11-20T02:30:00Z', '2026-11-20T02:30:01Z',
                   '2026-11-20T02:30:05Z', 'failed', 'EvaluationsFailed: pilot 3')"""
    )
    db.execute(
        """INSERT INTO job_run (job, scheduled_for, started_at, finished_at, status, catch_up)
           VALUES ('backup', '2026-11-20T01:00:00Z', '2026-11-20T01:00:01Z',
                   '2026-11-20T01:00:02Z', 'ok', 1)"""
    )
    db.conn.commit()
    _login(client, DEMO_EMAIL["admin"])
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert "EvaluationsFailed: pilot 3" in html and "backup" in html
    failed = client.get("/admin/jobs?failed=1", headers=HTMX).get_data(as_text=True)
    assert "<html" not in failed and "backup" not in failed


def test_healthz_is_trivial(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.data == b"ok"


def test_digest_setting_on_the_profile(client, db):
    _login(client, DEMO_EMAIL["leader"])
    assert 'name="frequency"' in client.get("/profile/").get_data(as_text=True)
    response = client.post(
        "/profile/digest", data={"frequency": "daily", "csrf_token": Auth(client).token()}
    )
    assert response.status_code == 303
    assert notifications.digest_frequency(db, _user(db, DEMO_EMAIL["leader"])) == "daily"


def test_a_warning_says_which_group_and_each_sentence_shows_once(app):
    from pilots.web.results import _decorate

    warnings = [
        {"code": "too_few_units", "params": {"arm": "pilot", "n": 3, "minimum": 5}},
        {"code": "too_few_units", "params": {"arm": "comparison", "n": 0, "minimum": 5}},
        {"code": "zero_trials", "params": {"arm": "pilot"}},
        {"code": "zero_trials", "params": {"arm": "comparison"}},
    ]
    result = {
        "warnings": warnings,
        "chart": None,
        "metric": "m",
        "metric_type": "mean",
        "kind": "mean",
        "unit": "",
    }
    with app.test_request_context(headers={"Accept-Language": "en"}):
        shown = _decorate({"results": [result], "history": []})["results"][0]["warnings_text"]
    assert shown == [
        "Too few units in the pilot group to compare (3; at least 5 are needed).",
        "Too few units in the comparison group to compare (0; at least 5 are needed).",
        "A group has no trials, so its share cannot be computed.",
    ]


def test_the_inbox_is_newest_first_by_the_moment_shown(db):
    kari = _user(db, DEMO_EMAIL["frontline"])
    db.execute("DELETE FROM notification WHERE user_id = ?", [kari])
    for moment in ("2026-11-27T08:00:00Z", "2026-03-05T08:00:00Z", "2026-05-02T08:00:00Z"):
        db.execute(
            "INSERT INTO notification (user_id, kind, title, created_at) VALUES (?, 'x', ?, ?)",
            [kari, moment, moment],
        )
    db.conn.commit()
    rows, total = notifications.inbox(db, kari)
    assert total == 3
    assert [r["created_at"][:10] for r in rows] == ["2026-11-27", "2026-05-02", "2026-03-05"]
