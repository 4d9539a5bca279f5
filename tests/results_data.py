"""Observations for the four demo pilots, one per design, and their evaluation.

Tests of the result pages need a real stored result for each chart type: this fills
the demo pilots with believable, deterministic data (a fixed random seed) and
evaluates them as of a fixed date, through the colleague's evaluation service.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from pilots.evaluation import evaluate_pilot

AS_OF = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TITLES = {
    "two_group": "Bosted først for ti personer",
    "pre_post": "Brukerstyrt innleggelse",
    "spc": "Færre uplanlagte besøk i sone nord",
    "did": "Fast kontaktperson i NAV",
}


def _id(db, sql, *params):
    return next(db.query(sql, list(params)))["id"]


def pilot_id(db, design: str) -> int:
    return _id(db, "SELECT id FROM pilot WHERE title = ?", TITLES[design])


def _metric(db, slug: str) -> int:
    return _id(db, "SELECT id FROM metric WHERE slug = ?", slug)


def _months(first: date, count: int) -> list[date]:
    out, year, month = [], first.year, first.month
    for _ in range(count):
        out.append(date(year, month, 1))
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return out


def _store(db, pilot: int, rows: list[tuple]) -> None:
    stamp = "2026-11-20T08:00:00Z"
    db.conn.execute("DELETE FROM observation WHERE pilot_id = ?", (pilot,))
    db.conn.execute("DELETE FROM evaluation WHERE pilot_id = ?", (pilot,))
    db.conn.executemany(
        """INSERT INTO observation (pilot_id, metric_id, period, arm, unit, value, n,
                                    created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            (pilot, m, p.isoformat(), arm, unit, v, n, stamp, stamp)
            for m, p, arm, unit, v, n in rows
        ],
    )
    db.conn.commit()


def fill(db) -> dict[str, int]:
    """Observations for each demo design; returns {design: pilot id}."""
    rng = random.Random(6)
    ids = {design: pilot_id(db, design) for design in TITLES}

    housed, er, sick = (
        _metric(db, "housed-6m"),
        _metric(db, "er-visits"),
        _metric(db, "staff-sick-leave"),
    )
    rows = []
    for k, period in enumerate(_months(date(2026, 3, 1), 8)):
        for arm, chance in (("pilot", 0.85), ("comparison", 0.45)):
            for u in range(6):
                unit = f"{arm[0]}{k}-{u}"
                rows.append((housed, period, arm, unit, float(rng.random() < chance), None))
            rows.append(
                (
                    er,
                    period,
                    arm,
                    "",
                    float(rng.randint(3, 9) if arm == "pilot" else rng.randint(8, 15)),
                    100.0,
                )
            )
            rows.append(
                (
                    sick,
                    period,
                    arm,
                    "",
                    round(rng.gauss(6.5 if arm == "pilot" else 5.0, 0.6), 2),
                    None,
                )
            )
    _store(db, ids["two_group"], rows)

    days = _metric(db, "inpatient-days")
    rows = []
    for k, period in enumerate(_months(date(2024, 1, 1), 34)):
        post = period >= date(2026, 1, 1)
        level = 60 - 0.2 * k - (12 if post else 0)
        rows.append((days, period, "pilot", "", round(level + rng.gauss(0, 2.5), 1), None))
    _store(db, ids["pre_post"], rows)

    visits = _metric(db, "unplanned-visits")
    rows, week = [], date(2026, 1, 5)
    for k in range(46):
        post = week >= date(2026, 6, 1)
        value = 40 + rng.gauss(0, 2.0) - (9 if post and k > 26 else 0) + (12 if k == 24 else 0)
        rows.append((visits, week, "pilot", "", round(value, 1), None))
        rows.append(
            (sick, week, "pilot", "", round(5 + rng.gauss(0, 0.4) + (1.2 if post else 0), 2), None)
        )
        week += timedelta(weeks=1)
    _store(db, ids["spc"], rows)

    active = _metric(db, "in-activity")
    rows = []
    for k, period in enumerate(_months(date(2025, 10, 1), 13)):
        post = period >= date(2026, 4, 1)
        for arm in ("pilot", "comparison"):
            for u in range(5):
                share = (
                    0.35 + 0.01 * k + (0.15 if post and arm == "pilot" else 0) + rng.gauss(0, 0.04)
                )
                rows.append(
                    (active, period, arm, f"{arm}-{u}", round(min(1, max(0, share)) * 20), 20.0)
                )
    _store(db, ids["did"], rows)
    return ids


def evaluate_all(db, ids: dict[str, int], as_of: date = AS_OF, scheduled: bool = True) -> None:
    for pilot in ids.values():
        evaluate_pilot(db, pilot, as_of, scheduled=scheduled, now=NOW)


def build(path) -> dict[str, int]:
    """Fill the database file at `path` and take two scheduled looks (20.10 and 20.11)."""
    from pilots import migrations
    from pilots.db import connect
    from pilots.domain import pilots as pilot_domain

    db = connect(str(path))
    try:
        migrations.apply(db)
        ids = fill(db)
        ola = next(db.query("SELECT id FROM users WHERE email = 'ola@fjordvik.example'"))["id"]
        pilot_domain.add_cycle(
            db,
            ids["spc"],
            {"plan": "Brukerne velger tid selv", "started_on": "2026-08-03"},
            ola,
        )
        evaluate_all(db, ids, date(2026, 10, 20))
        evaluate_all(db, ids)
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return ids


@pytest.fixture(scope="session")
def evaluated_template(demo_template, tmp_path_factory):
    """The demo database with observations and two looks at each design, built once."""
    import shutil

    path = tmp_path_factory.mktemp("evaluated") / "evaluated.sqlite3"
    shutil.copy(demo_template, path)
    ids = build(path)
    return path, ids


@pytest.fixture
def db_path(tmp_path, evaluated_template):
    """Overrides conftest's `db_path` where imported: the evaluated demo database."""
    import shutil

    path = tmp_path / "pilots.sqlite3"
    shutil.copy(evaluated_template[0], path)
    return path


@pytest.fixture
def ids(evaluated_template):
    return evaluated_template[1]
