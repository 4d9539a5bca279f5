"""The demo's observations: every design has data to show a real result."""

import datetime as dt


def _rows(db, title, slug):
    return list(
        db.query(
            """SELECT o.* FROM observation o JOIN pilot p ON p.id = o.pilot_id
               JOIN metric m ON m.id = o.metric_id WHERE p.title = ? AND m.slug = ?""",
            [title, slug],
        )
    )


def test_every_demo_pilot_with_metrics_has_observations(db):
    empty = list(
        db.query(
            """SELECT title FROM pilot p WHERE EXISTS (SELECT 1 FROM pilot_metric WHERE
               pilot_id = p.id) AND NOT EXISTS (SELECT 1 FROM observation WHERE pilot_id = p.id)"""
        )
    )
    assert empty == []


def test_spc_weekly_on_mondays_with_a_drop_after_the_start(db):
    rows = _rows(db, "Færre uplanlagte besøk i sone nord", "unplanned-visits")
    assert min(r["period"] for r in rows) == "2026-01-05"
    assert all(dt.date.fromisoformat(r["period"]).weekday() == 0 for r in rows)
    before = [r["value"] for r in rows if r["period"] < "2026-06-01"]
    after = [r["value"] for r in rows if r["period"] >= "2026-06-01"]
    assert sum(after) / len(after) < sum(before) / len(before) - 5


def test_pre_post_monthly_from_2024_with_a_level_change(db):
    rows = _rows(db, "Brukerstyrt innleggelse", "inpatient-days")
    assert min(r["period"] for r in rows) == "2024-01-01"
    assert all(r["period"].endswith("-01") for r in rows)
    pre = [r["value"] for r in rows if r["period"] < "2026-01-01"]
    post = [r["value"] for r in rows if r["period"] >= "2026-01-01"]
    assert sum(post) / len(post) < sum(pre) / len(pre) - 10


def test_two_groups_and_did_have_both_arms_and_units(db):
    housed = _rows(db, "Bosted først for ti personer", "housed-6m")
    assert {r["arm"] for r in housed} == {"pilot", "comparison"}
    assert {r["value"] for r in housed} == {0.0, 1.0} and min(
        r["period"] for r in housed
    ) == "2026-03-01"
    nav = _rows(db, "Fast kontaktperson i NAV", "in-activity")
    for arm in ("pilot", "comparison"):
        units = {r["unit"] for r in nav if r["arm"] == arm}
        assert len(units) == 12  # ten or more a side: clustered errors, not permutation
        assert any(r["period"] < "2026-04-01" for r in nav if r["arm"] == arm)
        assert any(r["period"] >= "2026-04-01" for r in nav if r["arm"] == arm)


def test_each_demo_pilots_timeline_runs_in_the_order_it_happened(db):
    """The demo dates its steps (created, planned, submitted, approved, started, ...) in
    the order of a year, so a pilot's timeline does not jump back and forth."""
    events: dict[str, list[tuple[str, str]]] = {}
    for row in db.query(
        "SELECT object_id, at, action FROM audit_event WHERE object_type = 'pilot' ORDER BY id"
    ):
        events.setdefault(row["object_id"], []).append((row["at"], row["action"]))
    assert len(events) >= 8
    for steps in events.values():
        assert [at for at, _ in steps] == sorted(at for at, _ in steps), steps
    started = {
        row["title"]: row["at"][:10]
        for row in db.query(
            """SELECT p.title, e.at FROM audit_event e JOIN pilot p ON p.id = e.object_id
               WHERE e.action = 'pilot.start'"""
        )
    }
    assert started["Bosted først for ti personer"] == "2026-03-01"  # its planned start
