"""What the web layer keeps between requests to make pages fast: borrowed database
connections, the pilot page's rendered results and the portfolio's signals. Each test
shows that what is kept never outlives the data it was made from, never crosses from
one reader to another, and looks exactly like a page rendered from scratch (a new app
on the same database, which has kept nothing yet)."""

from __future__ import annotations

import re
import sqlite3
from datetime import date

import pytest
import results_data
from sessions import CSRF_PATTERN, DEMO_EMAIL, signed_in_client

from pilots import create_app
from pilots.domain import pilots as pilot_domain
from pilots.domain import results as results_domain
from pilots.evaluation import evaluate_pilot
from pilots.web import get_db
from pilots.web.pages import Kept

# Fixtures from results_data: the evaluated demo database and its pilot ids.
db_path = results_data.db_path
evaluated_template = results_data.evaluated_template
ids = results_data.ids

EN = {"Accept-Language": "en"}
NB = {"Accept-Language": "nb"}


def _results(html: str) -> str:
    """The results section of a pilot page, CSRF tokens blanked."""
    section = html[html.index('<section id="results"') : html.index('aria-labelledby="charter')]
    return CSRF_PATTERN.sub('name="csrf_token" value=""', section)


def _blank_tokens(html: str) -> str:
    html = CSRF_PATTERN.sub('name="csrf_token" value=""', html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": ""', html)


def _from_scratch(app, email: str, url: str, headers: dict) -> str:
    """The page as a new app renders it: nothing kept."""
    fresh = create_app(dict(app.config))
    client, _token = signed_in_client(fresh, email)
    return client.get(url, headers=headers).get_data(as_text=True)


def _kept(app, name: str) -> int:
    store = app.extensions.get(f"pilots.kept.{name}")
    return len(store.parts) if store else 0


# ---- the pilot page's results --------------------------------------------------------


def test_a_newly_stored_evaluation_shows_at_once(app, db, ids):
    analyst = DEMO_EMAIL["analyst"]
    client, _token = signed_in_client(app, analyst)
    url = f"/pilots/{ids['spc']}"
    first = _results(client.get(url, headers=EN).get_data(as_text=True))
    assert "As of 20 Nov 2026" in first
    assert _results(client.get(url, headers=EN).get_data(as_text=True)) == first
    assert _kept(app, "results") == 1  # the second view was served from what was kept

    # A later look, as "evaluate now" or the scheduler stores it (another connection).
    evaluate_pilot(db, ids["spc"], date(2026, 11, 25), scheduled=False, now=results_data.NOW)
    second = _results(client.get(url, headers=EN).get_data(as_text=True))
    assert "As of 25 Nov 2026" in second and "evaluated on request" in second
    assert second == _results(_from_scratch(app, analyst, url, EN))

    # New data for the same look: the stored rows are rewritten in place, at the same
    # recorded time, and the page still follows.
    db.execute("UPDATE observation SET value = value * 3 WHERE pilot_id = ?", [ids["spc"]])
    db.conn.commit()
    evaluate_pilot(db, ids["spc"], date(2026, 11, 25), scheduled=False, now=results_data.NOW)
    third = _results(client.get(url, headers=EN).get_data(as_text=True))
    assert third != second
    assert third == _results(_from_scratch(app, analyst, url, EN))


def test_each_language_gets_its_own_results(app, ids):
    analyst = DEMO_EMAIL["analyst"]
    client, _token = signed_in_client(app, analyst)
    url = f"/pilots/{ids['two_group']}"
    norwegian = _results(client.get(url, headers=NB).get_data(as_text=True))
    english = _results(client.get(url, headers=EN).get_data(as_text=True))
    assert "Per 20.11.2026" in norwegian and "As of" not in norwegian
    assert "As of 20 Nov 2026" in english and "Per 20.11.2026" not in english
    assert _results(client.get(url, headers=NB).get_data(as_text=True)) == norwegian
    assert norwegian == _results(_from_scratch(app, analyst, url, NB))
    assert english == _results(_from_scratch(app, analyst, url, EN))


def test_a_renamed_metric_or_a_new_cycle_shows_at_once(app, db, ids):
    analyst = DEMO_EMAIL["analyst"]
    client, _token = signed_in_client(app, analyst)
    url = f"/pilots/{ids['spc']}"
    before = _results(client.get(url, headers=EN).get_data(as_text=True))
    db.execute(
        """UPDATE metric SET name = 'Renamed for the test'
           WHERE id = (SELECT metric_id FROM evaluation WHERE pilot_id = ? LIMIT 1)""",
        [ids["spc"]],
    )
    db.conn.commit()
    renamed = _results(client.get(url, headers=EN).get_data(as_text=True))
    assert "Renamed for the test" not in before and "Renamed for the test" in renamed

    ola = next(db.query("SELECT id FROM users WHERE email = 'ola@fjordvik.example'"))["id"]
    pilot_domain.add_cycle(
        db, ids["spc"], {"plan": "Kortere ventetid", "started_on": "2026-09-07"}, ola
    )
    with_cycle = _results(client.get(url, headers=EN).get_data(as_text=True))
    assert with_cycle != renamed  # the run chart marks the new cycle
    assert with_cycle == _results(_from_scratch(app, analyst, url, EN))


def _sessions_of_tokens(html: str) -> set[str]:
    """Whose CSRF tokens a page carries: a token is the session's own secret, signed
    with the time, so its first part names the session."""
    found = CSRF_PATTERN.findall(html) + re.findall(r'"X-CSRFToken": "([^"]+)"', html)
    return {token.split(".")[0] for token in found}


def test_readers_share_the_results_but_never_their_tokens_or_names(app, ids):
    url = f"/pilots/{ids['two_group']}"
    leader, leader_token = signed_in_client(app, DEMO_EMAIL["leader"])
    analyst, analyst_token = signed_in_client(app, DEMO_EMAIL["analyst"])
    seen_by_leader = leader.get(url, headers=EN).get_data(as_text=True)
    seen_by_analyst = analyst.get(url, headers=EN).get_data(as_text=True)
    assert _kept(app, "results") == 1  # one rendering served both
    assert _results(seen_by_leader) == _results(seen_by_analyst)
    # Every token on each page is that reader's own, the evaluate form's in the
    # results section included (both may evaluate).
    leader_session = {leader_token.split(".")[0]}
    analyst_session = {analyst_token.split(".")[0]}
    assert leader_session != analyst_session
    assert _sessions_of_tokens(seen_by_leader) == leader_session
    assert _sessions_of_tokens(seen_by_analyst) == analyst_session
    assert leader_token.split(".")[0] not in seen_by_analyst  # nor anywhere else
    assert analyst_token.split(".")[0] not in seen_by_leader
    for page in (seen_by_leader, seen_by_analyst):
        assert 'name="csrf_token"' in page[page.index('<section id="results"') :][:2000]
    assert '<a href="/profile/">Ingrid' in seen_by_leader
    assert "Ingrid" not in seen_by_analyst[: seen_by_analyst.index("<main")]


def test_kept_parts_are_bounded():
    store = Kept(2)
    store.put(("a",), "A")
    store.put(("b",), "B")
    assert store.get(("a",)) == "A"  # now the most recently used
    store.put(("c",), "C")
    assert store.get(("b",)) is None
    assert store.get(("a",)) == "A" and store.get(("c",)) == "C"


# ---- the portfolio's signals ---------------------------------------------------------------


def _signals(html: str) -> str:
    return html[html.index('id="signals-heading"') : html.index('id="approvals-heading"')]


def test_portfolio_signals_follow_the_data_and_stay_with_their_leader(app, db, ids):
    ingrid = DEMO_EMAIL["leader"]
    client, _token = signed_in_client(app, ingrid)
    first = client.get("/portfolio", headers=EN).get_data(as_text=True)
    assert results_data.TITLES["spc"] in _signals(first)
    assert _kept(app, "signals") == 1

    db.execute("UPDATE pilot SET title = 'Retitled for the test' WHERE id = ?", [ids["spc"]])
    db.conn.commit()
    retitled = client.get("/portfolio", headers=EN).get_data(as_text=True)
    assert "Retitled for the test" in _signals(retitled)
    assert _blank_tokens(retitled) == _blank_tokens(_from_scratch(app, ingrid, "/portfolio", EN))

    # Whoever changes the stored results (here by hand), the list follows.
    db.execute(
        "UPDATE evaluation SET verdict = 'no_clear_change', role = 'primary' WHERE pilot_id = ?",
        [ids["spc"]],
    )
    db.conn.commit()
    quiet = client.get("/portfolio", headers=EN).get_data(as_text=True)
    assert "Retitled for the test" not in _signals(quiet)
    assert _blank_tokens(quiet) == _blank_tokens(_from_scratch(app, ingrid, "/portfolio", EN))

    # Per leads a unit without pilots: Ingrid's kept list is never his.
    per, _token = signed_in_client(app, "per@fjordvik.example")
    assert "No new signals" in _signals(per.get("/portfolio", headers=EN).get_data(as_text=True))


# ---- what the counts behind the kept parts cover -----------------------------------------


def test_every_write_to_a_table_behind_a_kept_part_is_counted(db):
    tables = set(results_domain.RESULTS_READ) | set(results_domain.SIGNALS_READ)
    triggers = {
        (row["tbl_name"], row["sql"].split(" ON ")[0].split()[-1].upper())
        for row in db.query("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
        if "change_count" in row["sql"]
    }
    assert {(t, e) for t in tables for e in ("INSERT", "UPDATE", "DELETE")} <= triggers

    def counts():
        names = tuple(sorted(tables))
        return dict(zip(names, results_domain.change_counts(db, names), strict=True))

    before = counts()
    with db.atomic():
        db.execute("UPDATE unit SET name = name || '.' WHERE id = (SELECT min(id) FROM unit)")
    assert counts() == {**before, "unit": before["unit"] + 1}
    with db.atomic():
        user = next(db.query("SELECT min(id) AS id FROM users"))["id"]
        db.execute("INSERT INTO role (user_id, role, unit_id) VALUES (?, 'analyst', NULL)", [user])
        db.execute("DELETE FROM role WHERE user_id = ? AND role = 'analyst'", [user])
    assert counts() == {**before, "unit": before["unit"] + 1, "role": before["role"] + 2}


# ---- borrowed connections -------------------------------------------------------------------


def test_a_borrowed_connection_comes_back_with_nothing_left_open(app):
    with app.app_context():
        first = get_db()
        first.conn.execute("BEGIN IMMEDIATE")
        first.conn.execute("UPDATE unit SET name = 'never kept' WHERE id = 1")
    with app.app_context():
        again = get_db()
        assert again is first  # borrowed again, not opened anew
        assert not again.conn.in_transaction
        assert next(again.query("SELECT name FROM unit WHERE id = 1"))["name"] != "never kept"


def test_a_connection_that_saw_an_error_is_closed(app):
    with pytest.raises(RuntimeError), app.app_context():
        failed = get_db()
        raise RuntimeError("the request failed")
    with pytest.raises(sqlite3.ProgrammingError):
        failed.conn.execute("SELECT 1")
    with app.app_context():
        assert get_db() is not failed


# ---- the main navigation ------------------------------------------------------------------


def _nav(html: str) -> str:
    return html[html.index("<nav ") : html.index("</nav>")]


def test_the_kept_navigation_follows_roles_page_and_language(app):
    admin, _token = signed_in_client(app, DEMO_EMAIL["admin"])
    kari, _token = signed_in_client(app, DEMO_EMAIL["frontline"])
    views = [
        (admin, DEMO_EMAIL["admin"], "/pilots", EN),
        (kari, DEMO_EMAIL["frontline"], "/pilots", EN),
        (kari, DEMO_EMAIL["frontline"], "/stories", EN),
        (kari, DEMO_EMAIL["frontline"], "/stories", NB),
    ]
    for client, email, url, headers in views:
        nav = _nav(client.get(url, headers=headers).get_data(as_text=True))
        assert nav == _nav(_from_scratch(app, email, url, headers))
        assert ('href="/admin/units"' in nav) == (client is admin)
        assert f'href="{url}" aria-current="page"' in nav
    assert ">Historier<" in nav
    kept = _kept(app, "nav")
    assert admin.get("/pilots", headers=EN).status_code == 200
    assert _kept(app, "nav") == kept  # served from what was kept
