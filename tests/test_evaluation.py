"""The evaluation service: each design's stored result is the engine's own answer, stored
once per (pilot, metric, as-of date), whatever reruns, crashes and kills happen."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from evaluation_data import (
    ADMISSION,
    DESIGNS,
    HOUSING,
    NAV,
    VISITS,
    add_observations,
    frozen_plan,
    records_for,
)
from sessions import DEMO_EMAIL

from pilots.db import connect
from pilots.domain import DomainError, tokens
from pilots.domain import organisation as org
from pilots.domain import pilots as pilot_domain
from pilots.domain.observations import import_records
from pilots.evaluation import (
    PREVIEW_LABEL,
    cadence,
    evaluate_pilot,
    evaluation_at,
    evaluation_history,
    latest_evaluation,
    load_plan,
    methods,
    service,
    workers,
)
from pilots.evaluation.cadence import (
    add_months,
    custom_interval,
    due_pilots,
    evaluate_due,
    next_look,
)
from pilots.evaluation.inputs import (
    from_rows,
    observation_state,
    observations_mark,
    read_inputs,
)
from pilots.evaluation.plan import MetricPlan
from pilots.evaluation.service import cutoff_for, prepare_look
from pilots.stats.did import difference_in_differences
from pilots.stats.its import interrupted_time_series
from pilots.stats.judgement import evaluate_two_group, judge
from pilots.stats.several import review_several
from pilots.stats.spc import xmr_chart

AS_OF = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
RESULT_FIELDS = {
    "metric",
    "role",
    "design",
    "method",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "n_pilot",
    "n_comparison",
    "probability_improved",
    "verdict",
    "summary",
    "details",
    "warnings",
}


def _registered(db, pilot_id):
    """Role, MID and catalogue facts of the pilot's metrics, straight from the tables."""
    return {
        row["slug"]: row
        for row in db.query(
            """SELECT m.slug, m.name, m.type, m.direction, m.unit, m.min_value, m.max_value,
                      pm.role, pm.minimal_important_difference AS mid
               FROM pilot_metric pm JOIN metric m ON m.id = pm.metric_id
               WHERE pm.pilot_id = ?""",
            [pilot_id],
        )
    }


def _judge(estimate, design, meta, planned_n):
    return judge(
        estimate,
        metric=meta["slug"],
        role=meta["role"],
        design=design,
        direction=meta["direction"],
        minimal_important_difference=meta["mid"],
        metric_type=meta["type"],
        tuning=float(planned_n or 100),
        metric_name=meta["name"],
        unit=meta["unit"] or None,
    )


def _direct(db, title, pilot_id):
    """The engine called by hand on the generated rows, as the design prescribes."""
    records = records_for(title)
    metas = _registered(db, pilot_id)
    pilot = pilot_domain.get_pilot(db, pilot_id)
    start = date.fromisoformat(pilot["start_date"])
    results = []
    for slug, meta in metas.items():
        rows = [r for r in records if r["metric"] == slug]
        if DESIGNS[title] == "two_group":
            arms = {
                arm: _latest_per_person(
                    [r for r in rows if r.get("arm", "pilot") == arm and r["period"] >= str(start)]
                )
                for arm in ("pilot", "comparison")
            }
            results.append(
                evaluate_two_group(
                    [r["value"] for r in arms["pilot"]],
                    [r["value"] for r in arms["comparison"]],
                    metric=slug,
                    role=meta["role"],
                    direction=meta["direction"],
                    metric_type=meta["type"],
                    minimal_important_difference=meta["mid"],
                    pilot_n=[r.get("n") for r in arms["pilot"]],
                    comparison_n=[r.get("n") for r in arms["comparison"]],
                    min_value=meta["min_value"],
                    max_value=meta["max_value"],
                    tuning=float(pilot["planned_n"] or 100),
                    metric_name=meta["name"],
                    unit=meta["unit"] or None,
                )
            )
        elif DESIGNS[title] == "pre_post":
            points = [(date.fromisoformat(r["period"]), r["value"]) for r in rows]
            estimate = interrupted_time_series(points, start)
            results.append(_judge(estimate, "pre_post", meta, pilot["planned_n"]))
        elif DESIGNS[title] == "spc":
            points = [(date.fromisoformat(r["period"]), r["value"]) for r in rows]
            estimate = xmr_chart(points, start, direction=meta["direction"])
            results.append(_judge(estimate, "spc", meta, pilot["planned_n"]))
        else:
            panel = [
                (r["unit"], r["arm"], date.fromisoformat(r["period"]), r["value"] / r["n"])
                for r in rows
            ]
            estimate = difference_in_differences(panel, start)
            results.append(_judge(estimate, "did", meta, pilot["planned_n"]))
    return {r.metric: r for r in review_several(results)}


def _latest_per_person(rows: list[dict]) -> list[dict]:
    """A person followed month after month counts once, in their latest state."""
    latest: dict[str, dict] = {}
    aggregates = []
    for row in rows:
        if row.get("unit"):
            if row["unit"] not in latest or row["period"] > latest[row["unit"]]["period"]:
                latest[row["unit"]] = row
        else:
            aggregates.append(row)
    return aggregates + list(latest.values())


@pytest.mark.parametrize("title", [HOUSING, ADMISSION, VISITS, NAV], ids=DESIGNS.get)
def test_each_design_stores_one_row_per_metric_and_the_engines_answer(db, title):
    pilot_id = add_observations(db, [title])[title]
    look = evaluate_pilot(db, pilot_id, AS_OF, now=NOW)
    expected = _direct(db, title, pilot_id)
    rows = list(db.query("SELECT * FROM evaluation WHERE pilot_id = ?", [pilot_id]))
    assert len(rows) == len(expected) == len(look["results"]) >= 1
    assert {row["as_of"] for row in rows} == {AS_OF.isoformat()}
    assert look["preview"] is False and look["label"] is None and look["scheduled"] is False
    for stored in look["results"]:
        assert set(stored) == RESULT_FIELDS
        direct = expected[stored["metric"]]
        assert stored["design"] == DESIGNS[title]
        assert (stored["role"], stored["method"], stored["verdict"]) == (
            direct.role,
            direct.method,
            direct.verdict,
        )
        for name in ("estimate", "ci_low", "ci_high", "p_value", "probability_improved"):
            expected_value = getattr(direct, name)
            if expected_value is None:
                assert stored[name] is None, name
            else:
                assert stored[name] == pytest.approx(expected_value, rel=1e-9, abs=1e-12)
        assert (stored["n_pilot"], stored["n_comparison"]) == (direct.n_pilot, direct.n_comparison)
        assert stored["summary"] == dict(direct.summary)
        assert [w["code"] for w in stored["warnings"]] == [w.code for w in direct.warnings]
        if title == VISITS and direct.verdict != "insufficient_data":
            assert stored["details"]["upper_limit"] == pytest.approx(direct.details["upper_limit"])
            assert len(stored["details"]["points"]) == len(direct.details["points"])
    row = rows[0]
    assert len(row["data_hash"]) == len(row["input_hash"]) == 64
    assert set(json.loads(row["versions"])) == {"pilots", "statsmodels", "numpy", "scipy", "pandas"}
    settings = json.loads(row["settings"])
    assert settings["design"] == DESIGNS[title] and settings["plan_version"] is not None


def test_only_the_designs_charted_over_time_keep_a_series(db):
    """two_group's chart is each arm's estimate: its results hold no series over time,
    and its reading skips it; the others chart theirs from it."""
    ids = add_observations(db, [HOUSING, NAV, ADMISSION])
    for title, charted in ((HOUSING, False), (NAV, True), (ADMISSION, True)):
        look = evaluate_pilot(db, ids[title], AS_OF, now=NOW)
        assert {("series" in r["details"]) for r in look["results"]} == {charted}, title


def test_several_metrics_are_reviewed_together(db):
    pilot_id = add_observations(db, [HOUSING])[HOUSING]
    results = {r["metric"]: r for r in evaluate_pilot(db, pilot_id, AS_OF, now=NOW)["results"]}
    assert "p_value_holm" in results["er-visits"]["details"]  # the secondary metric
    assert "balancing_concern" in results["staff-sick-leave"]["details"]
    assert results["housed-6m"]["verdict"] == "improved"


def test_a_rerun_changes_nothing_and_changed_data_replace_that_days_result(db):
    pilot_id = add_observations(db, [ADMISSION])[ADMISSION]
    events = db["audit_event"].count
    first = evaluate_pilot(db, pilot_id, AS_OF, now=NOW)
    assert first["changed"] == 1 and first["computed"] and db["audit_event"].count == events + 1
    before = list(db.query("SELECT * FROM evaluation WHERE pilot_id = ?", [pilot_id]))
    again = evaluate_pilot(db, pilot_id, AS_OF, now=datetime(2026, 11, 26, 15, 0, tzinfo=UTC))
    assert again["changed"] == 0 and not again["computed"]
    assert list(db.query("SELECT * FROM evaluation WHERE pilot_id = ?", [pilot_id])) == before
    assert db["audit_event"].count == events + 1

    with db.atomic():
        db.execute("UPDATE observation SET value = value + 40 WHERE pilot_id = ?", [pilot_id])
    changed = evaluate_pilot(db, pilot_id, AS_OF, now=NOW)
    rows = list(db.query("SELECT * FROM evaluation WHERE pilot_id = ?", [pilot_id]))
    assert changed["changed"] == 1 and len(rows) == 1
    assert rows[0]["id"] == before[0]["id"] and rows[0]["input_hash"] != before[0]["input_hash"]
    assert db["audit_event"].count == events + 2


def test_unchanged_data_on_a_later_day_is_copied_not_recomputed(db, monkeypatch):
    pilot_id = add_observations(db, [VISITS])[VISITS]
    first = evaluate_pilot(db, pilot_id, AS_OF, now=NOW)

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed identical inputs")

    monkeypatch.setattr(methods, "evaluate_metric", refuse)
    later = evaluate_pilot(db, pilot_id, date(2026, 11, 27), now=NOW)
    assert later["changed"] == len(first["results"]) and not later["computed"]
    assert later["results"] == first["results"] and later["as_of"] == "2026-11-27"
    assert [look["as_of"] for look in evaluation_history(db, pilot_id)] == [
        "2026-11-27",
        "2026-11-26",
    ]
    assert latest_evaluation(db, pilot_id)["as_of"] == "2026-11-27"


def _reading_rows(db) -> list[str]:
    """From now on, the statements that sum the observation rows (an evaluation reading)."""
    statements: list[str] = []
    db.conn.set_trace_callback(
        lambda sql: statements.append(sql) if "FROM observation" in sql and "sum(" in sql else None
    )
    return statements


def _hashes_as_read(db, pilot_id, as_of):
    """Each metric's data hash from a fresh reading of the rows: the ground truth."""
    plan = load_plan(db, pilot_id)
    read = read_inputs(db, plan, cutoff_for(plan, as_of))
    return {metric_id: inputs.data_hash for metric_id, inputs in read.items()}


def _stored_hashes(db, pilot_id, as_of):
    return {
        row["metric_id"]: row["data_hash"]
        for row in db.query(
            "SELECT metric_id, data_hash FROM evaluation WHERE pilot_id = ? AND as_of = ?",
            [pilot_id, as_of.isoformat()],
        )
    }


def test_a_pilot_with_observations_and_looks_can_still_be_deleted(db):
    pilot_id = add_observations(db, [NAV])[NAV]
    evaluate_pilot(db, pilot_id, AS_OF, now=NOW)
    with db.atomic():  # the foreign keys cascade; the revision trigger must not stop them
        db.execute("DELETE FROM pilot WHERE id = ?", [pilot_id])
    for table in ("observation", "evaluation", "observation_reading"):
        assert not list(db.query(f"SELECT 1 FROM {table} WHERE pilot_id = ?", [pilot_id]))  # noqa: S608


def test_a_later_look_without_new_data_does_not_read_the_rows_again(db):
    pilot_id = add_observations(db, [NAV])[NAV]
    first = evaluate_pilot(db, pilot_id, AS_OF, now=NOW)
    reading = _reading_rows(db)
    try:
        later = evaluate_pilot(db, pilot_id, date(2026, 12, 26), now=NOW)
    finally:
        db.conn.set_trace_callback(None)
    assert reading == [] and not later["computed"]
    assert later["results"] == first["results"]
    assert _stored_hashes(db, pilot_id, date(2026, 12, 26)) == _hashes_as_read(
        db, pilot_id, date(2026, 12, 26)
    )


@pytest.mark.parametrize(
    "write",
    [
        "UPDATE observation SET value = value + 1 WHERE id = (SELECT min(id) FROM observation"
        " WHERE pilot_id = :pilot)",
        "DELETE FROM observation WHERE id = (SELECT max(id) FROM observation"
        " WHERE pilot_id = :pilot)",
        "INSERT INTO observation (pilot_id, metric_id, period, arm, unit, value, n, created_at,"
        " updated_at) SELECT pilot_id, metric_id, period, arm, 'new-office', value, n,"
        " created_at, updated_at FROM observation WHERE pilot_id = :pilot LIMIT 1",
    ],
    ids=["update", "delete", "insert"],
)
def test_any_write_to_the_rows_makes_the_next_look_read_them(db, write):
    pilot_id = add_observations(db, [NAV])[NAV]
    first = evaluate_pilot(db, pilot_id, AS_OF, now=NOW)
    with db.atomic():  # written by hand, past the domain: the database itself counts it
        db.execute(write, {"pilot": pilot_id})
    reading = _reading_rows(db)
    try:
        later = evaluate_pilot(db, pilot_id, date(2026, 12, 26), now=NOW)
    finally:
        db.conn.set_trace_callback(None)
    assert reading and later["computed"]
    assert later["results"] != first["results"]
    assert _stored_hashes(db, pilot_id, date(2026, 12, 26)) == _hashes_as_read(
        db, pilot_id, date(2026, 12, 26)
    )


def test_rows_stored_ahead_are_read_once_the_cut_off_passes_them(db):
    pilot_id = add_observations(db, [ADMISSION])[ADMISSION]
    early, late = date(2026, 9, 15), date(2026, 10, 15)  # the rows run to 1 October
    evaluate_pilot(db, pilot_id, early, now=NOW)
    evaluate_pilot(db, pilot_id, late, now=NOW)
    assert _stored_hashes(db, pilot_id, late) == _hashes_as_read(db, pilot_id, late)
    assert _stored_hashes(db, pilot_id, late) != _stored_hashes(db, pilot_id, early)
    # and back: a look at the earlier date again finds the earlier inputs
    evaluate_pilot(db, pilot_id, date(2026, 9, 16), now=NOW)
    assert _stored_hashes(db, pilot_id, date(2026, 9, 16)) == _stored_hashes(db, pilot_id, early)


def test_the_data_state_changes_with_every_write_and_the_import_counts_stay_true(db):
    pilot_id = add_observations(db, [ADMISSION])[ADMISSION]
    states = [observation_state(db.conn, pilot_id)]
    marks = [observations_mark(db.conn)]  # all pilots' observations at once
    rows = len(records_for(ADMISSION))
    assert states[0][1] == rows  # (revision, rows)

    changed = [dict(r, value=r["value"] + 1) for r in records_for(ADMISSION)[:3]]
    result = import_records(db, pilot_id, changed, actor_id=None, source="api")
    assert (result["inserted"], result["updated"]) == (0, 3)
    states.append(observation_state(db.conn, pilot_id))
    assert states[-1] == (states[0][0] + 3, rows)  # three updates, as many revisions
    marks.append(observations_mark(db.conn))

    added = [dict(changed[0], period="2026-11-01")]
    result = import_records(db, pilot_id, added, actor_id=None, source="api")
    assert (result["inserted"], result["updated"]) == (1, 0)
    states.append(observation_state(db.conn, pilot_id))
    assert states[-1] == (states[-2][0], rows + 1)  # an insert: one row more
    marks.append(observations_mark(db.conn))

    with db.atomic():  # one row out, another in: the same count, a new revision
        db.execute(
            "DELETE FROM observation WHERE pilot_id = ? AND period = '2026-11-01'", [pilot_id]
        )
        db.execute(
            """INSERT INTO observation (pilot_id, metric_id, period, arm, unit, value,
               created_at, updated_at) SELECT pilot_id, metric_id, '2026-12-01', arm, unit,
               value, created_at, updated_at FROM observation WHERE pilot_id = ? LIMIT 1""",
            [pilot_id],
        )
    states.append(observation_state(db.conn, pilot_id))
    assert states[-1] == (states[-2][0] + 1, rows + 1)
    marks.append(observations_mark(db.conn))
    with db.atomic():  # the highest row out and a row in, which may be given its id
        db.execute("DELETE FROM observation WHERE id = (SELECT max(id) FROM observation)")
        db.execute(
            """INSERT INTO observation (pilot_id, metric_id, period, arm, unit, value,
               created_at, updated_at) SELECT pilot_id, metric_id, '2027-01-01', arm, unit,
               value, created_at, updated_at FROM observation WHERE pilot_id = ? LIMIT 1""",
            [pilot_id],
        )
    marks.append(observations_mark(db.conn))
    assert len(set(states)) == len(states)
    assert len(set(marks)) == len(marks) == 5
    assert observations_mark(db.conn) == marks[-1]  # reading changes nothing


def _stored_rows(db) -> list[tuple]:
    """Every stored evaluation row but its id, in key order."""
    columns = [c for c in db["evaluation"].columns_dict if c != "id"]
    return [
        tuple(row[c] for c in columns)
        for row in db.query("SELECT * FROM evaluation ORDER BY pilot_id, metric_id, as_of")
    ]


SCHEDULED_AT = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)


def test_the_stored_json_reads_back_as_the_canonical_json():
    value = {
        "b": float("nan"),
        "a": np.float64(1.5),
        "day": date(2026, 1, 2),
        "pair": (1, np.int64(2)),
        "kept": MappingProxyType({"x": float("inf"), "y": np.bool_(True)}),
        3: "a key that is a number",
        "big": 2**70,
        "name": "Tromsø",
    }
    stored = service._stored_json(value)
    assert json.loads(stored) == json.loads(service._json(value))
    assert "Tromsø" in service._stored_json({"name": "Tromsø"})  # not escaped


def test_a_looks_rows_upserted_in_one_statement_are_those_one_statement_a_row_stores(db):
    pilot_id = add_observations(db, [HOUSING])[HOUSING]
    records = prepare_look(db, pilot_id, AS_OF, scheduled=True, now=NOW).records
    assert len(records) > 1

    def stored(upsert) -> tuple[int, list[tuple], int]:
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            changed = upsert(records)
            rows = list(db.conn.execute("SELECT * FROM evaluation WHERE pilot_id = ?", [pilot_id]))
            return changed, rows, upsert(records)  # the same inputs again change nothing
        finally:
            db.conn.execute("ROLLBACK")

    def row_by_row(rows):
        return db.conn.executemany(service._upsert(1), rows).rowcount

    one_statement = stored(lambda rows: service._upsert_records(db.conn, rows))
    assert one_statement == stored(row_by_row)
    assert one_statement[0] == len(records) and one_statement[2] == 0
    assert service._upsert_records(db.conn, []) == 0


def test_a_run_where_many_pilots_fail_names_the_first_ten_and_counts_the_rest():
    failed = {k: "ValueError: bad" for k in range(1, 26)}
    message = cadence._failures(failed, 40)
    assert message.startswith("25 of 40 due pilots failed: pilot 1: ValueError: bad;")
    assert "pilot 10: " in message and "pilot 11: " not in message
    assert message.endswith("; and 15 more")
    assert (
        cadence._failures({3: "KeyError: 'x'"}, 4)
        == "1 of 4 due pilots failed: pilot 3: KeyError: 'x'"
    )


def test_looks_prepared_by_worker_processes_store_what_one_process_stores(db):
    add_observations(db)
    parallel = evaluate_due(db, SCHEDULED_AT, workers=2)
    stored = _stored_rows(db)
    with db.atomic():
        db.execute("DELETE FROM evaluation")
        db.execute("DELETE FROM observation_reading")
    serial = evaluate_due(db, SCHEDULED_AT, workers=1)
    assert len(parallel["evaluated"]) >= 4 and stored
    # every look stored came from a worker; one process prepares them all itself
    assert parallel.pop("prepared_by_workers") == len(parallel["evaluated"])
    assert serial.pop("prepared_by_workers") == 0
    assert parallel == serial and _stored_rows(db) == stored


def test_a_look_whose_data_changed_after_a_worker_read_them_is_prepared_again(db):
    pilot_id = add_observations(db, [NAV])[NAV]
    look = prepare_look(db, pilot_id, AS_OF, scheduled=True, now=NOW)  # as a worker would
    with db.atomic():
        db.execute(
            "UPDATE observation SET value = value + 1 WHERE id = (SELECT min(id)"
            " FROM observation WHERE pilot_id = ?)",
            [pilot_id],
        )
    with db.atomic():
        assert cadence.store_prepared(db, pilot_id, look, AS_OF, NOW)[1] is False
    stored = _stored_hashes(db, pilot_id, AS_OF)
    assert stored == _hashes_as_read(db, pilot_id, AS_OF) != look.hashes_read


def test_a_look_prepared_before_a_new_plan_was_approved_is_prepared_again(db):
    pilot_id = add_observations(db, [NAV])[NAV]
    look = prepare_look(db, pilot_id, AS_OF, scheduled=True, now=NOW)  # as a worker would
    with db.atomic():  # an amendment approved meanwhile (the same plan, a new version)
        db.execute(
            """INSERT INTO plan_version (pilot_id, number, plan, hash, state, proposed_by,
                   proposed_at)
               SELECT pilot_id, number + 1, plan, 'another hash', 'approved', proposed_by,
                   proposed_at FROM plan_version
               WHERE pilot_id = :pilot AND number = (SELECT approved_version FROM pilot
                                                     WHERE id = :pilot)""",
            {"pilot": pilot_id},
        )
        db.execute(
            "UPDATE pilot SET approved_version = approved_version + 1 WHERE id = ?", [pilot_id]
        )
    with db.atomic():
        assert cadence.store_prepared(db, pilot_id, look, AS_OF, NOW)[1] is False
    versions = {
        row["plan_version"]
        for row in db.query("SELECT plan_version FROM evaluation WHERE pilot_id = ?", [pilot_id])
    }
    assert versions == {look.plan.version + 1}


def test_a_look_on_its_way_is_waited_for_no_longer_than_asked():
    with ProcessPoolExecutor(2, mp_context=workers._context()) as pool:
        slow = workers.Pending(pool.submit(time.sleep, 1), 0)
        started = time.monotonic()
        assert slow.ready(within=0.05) is False
        assert time.monotonic() - started < 0.8
        quick = workers.Pending(pool.submit(int, "7"), 0)
        assert quick.ready(within=30) is True  # returns when it arrives, not after 30 s
    assert workers.Pending(None, 0).ready() is True  # none on its way: prepared here


def test_a_batch_holds_the_write_lock_for_its_time_only(db):
    batches = cadence._Batches(db, 0.2)
    assert batches.time_left() == 0.0  # none open
    assert batches.open() is True and batches.open() is False
    assert 0.0 < batches.time_left() <= 0.2
    time.sleep(0.25)
    assert batches.time_left() == 0.0
    batches.commit()
    assert batches.time_left() == 0.0 and batches.open() is True
    batches.commit()


def test_workers_run_at_a_lower_priority_than_the_writer(db):
    path = db.conn.execute("PRAGMA database_list").fetchone()[2]
    with ProcessPoolExecutor(
        1, mp_context=workers._context(), initializer=workers._open_worker, initargs=(path,)
    ) as pool:
        niceness = pool.submit(os.nice, 0).result()
    assert niceness == min(19, os.nice(0) + workers.WORKER_NICENESS) > os.nice(0)


def test_a_worker_that_dies_or_fails_leaves_its_looks_to_the_writer():
    with ProcessPoolExecutor(1, mp_context=workers._context()) as pool:
        failing = pool.submit(int, "not a number")  # the task itself raises
        assert workers.Pending(failing, 0).look() is None
        dying = pool.submit(os._exit, 3)  # a worker killed mid-task
        assert workers.Pending(dying, 0).look() is None


def test_workers_that_cannot_start_leave_every_look_to_the_writer_with_one_warning(caplog):
    missing = "/nonexistent-folder/pilots.sqlite3"  # the workers' connection fails
    with ProcessPoolExecutor(
        2, mp_context=workers._context(), initializer=workers._open_worker, initargs=(missing,)
    ) as pool:
        pending = workers.submitted(pool, list(range(1, 41)), AS_OF, NOW)
        assert [pilot_id for pilot_id, _ in pending] == list(range(1, 41))
        assert [waiting.look() for _, waiting in pending] == [None] * 40
    stopped = [r for r in caplog.records if "worker processes stopped" in r.getMessage()]
    assert len(stopped) == 1


def test_how_many_workers_prepare_the_looks():
    assert workers.worker_count(workers.PARALLEL_FROM - 1) == 1
    assert workers.worker_count(3, workers=2) == 2
    many = workers.worker_count(workers.PARALLEL_FROM)
    assert 1 <= many <= workers.WORKERS_MAX and many <= len(os.sched_getaffinity(0))


def test_a_look_that_still_holds_is_stored_as_prepared(db):
    pilot_id = add_observations(db, [NAV])[NAV]
    look = prepare_look(db, pilot_id, AS_OF, scheduled=True, now=NOW)
    with db.atomic():
        assert cadence.store_prepared(db, pilot_id, look, AS_OF, NOW) == (len(look.records), True)


def test_a_pilot_that_fails_in_a_worker_is_named_and_the_others_are_stored(db):
    ids = add_observations(db)
    with db.atomic():
        db.execute(
            """UPDATE plan_version SET plan = 'not a plan' WHERE pilot_id = ?
               AND number = (SELECT approved_version FROM pilot WHERE id = ?)""",
            [ids[NAV], ids[NAV]],
        )
    with pytest.raises(cadence.EvaluationsFailed, match=f"pilot {ids[NAV]}: JSONDecodeError"):
        evaluate_due(db, SCHEDULED_AT, workers=2)
    stored = {row["pilot_id"] for row in db.query("SELECT DISTINCT pilot_id FROM evaluation")}
    assert ids[NAV] not in stored and {ids[HOUSING], ids[ADMISSION], ids[VISITS]} <= stored


def test_a_crash_after_the_first_metric_stores_nothing_and_a_rerun_stores_each_once(
    db, monkeypatch
):
    pilot_id = add_observations(db, [HOUSING])[HOUSING]
    real, calls = methods.evaluate_metric, []

    def crash_after_first(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("killed mid-run")
        return real(*args, **kwargs)

    monkeypatch.setattr(methods, "evaluate_metric", crash_after_first)
    with pytest.raises(RuntimeError):
        evaluate_pilot(db, pilot_id, AS_OF, now=NOW)
    assert db["evaluation"].count == 0
    monkeypatch.setattr(methods, "evaluate_metric", real)
    evaluate_pilot(db, pilot_id, AS_OF, now=NOW)
    evaluate_pilot(db, pilot_id, AS_OF, now=NOW)
    keys = list(db.query("SELECT metric_id, count(*) AS n FROM evaluation GROUP BY metric_id"))
    assert len(keys) == 3 and {k["n"] for k in keys} == {1}
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


KILL_SCRIPT = """
import sys
from datetime import date, timedelta
from pilots.db import connect
from pilots.evaluation import evaluate_pilot
db = connect(sys.argv[1])
pilot_id = int(sys.argv[2])
print("started", flush=True)
day = date(2026, 1, 1)
while True:
    evaluate_pilot(db, pilot_id, day)
    day += timedelta(days=1)
"""


def test_a_process_killed_mid_evaluation_leaves_whole_looks_and_a_rerun_one_per_key(db, db_path):
    ids = add_observations(db, [HOUSING])
    pilot_id = ids[HOUSING]
    child = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(db_path), str(pilot_id)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 20
    while db["evaluation"].count < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    check = connect(str(db_path))
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    looks = list(check.query("SELECT as_of, count(*) AS n FROM evaluation GROUP BY as_of"))
    assert len(looks) >= 10 and {look["n"] for look in looks} == {3}  # whole looks only
    for look in looks:
        evaluate_pilot(check, pilot_id, date.fromisoformat(look["as_of"]))
    keys = next(check.query("SELECT count(*) AS n, count(DISTINCT as_of) AS d FROM evaluation"))
    assert keys["n"] == 3 * keys["d"] == 3 * len(looks)
    check.close()


def test_a_pilot_not_yet_approved_is_a_labelled_preview(db):
    alarm = next(db.query("SELECT id FROM pilot WHERE title = 'Trygghetsalarm med fast svarer'"))
    look = evaluate_pilot(db, alarm["id"], AS_OF, now=NOW)
    assert look["preview"] is True and look["label"] == PREVIEW_LABEL == "not pre-registered"
    assert look["plan_version"] is None and len(look["results"]) == 1
    assert look["results"][0]["verdict"] == "insufficient_data"
    draft = next(db.query("SELECT id FROM pilot WHERE title = 'Husleiegaranti uten søknad'"))
    with pytest.raises(DomainError):
        evaluate_pilot(db, draft["id"], AS_OF, now=NOW)


def test_a_metric_taken_out_of_a_preview_leaves_no_row_behind(db):
    alarm = next(db.query("SELECT id FROM pilot WHERE title = 'Trygghetsalarm med fast svarer'"))
    other = next(
        db.query(
            """SELECT id FROM metric WHERE id NOT IN
               (SELECT metric_id FROM pilot_metric WHERE pilot_id = ?) LIMIT 1""",
            [alarm["id"]],
        )
    )
    with db.atomic():
        db.execute(
            "INSERT INTO pilot_metric (pilot_id, metric_id, role) VALUES (?, ?, 'secondary')",
            [alarm["id"], other["id"]],
        )
    assert len(evaluate_pilot(db, alarm["id"], AS_OF, now=NOW)["results"]) == 2
    with db.atomic():
        db.execute(
            "DELETE FROM pilot_metric WHERE pilot_id = ? AND metric_id = ?",
            [alarm["id"], other["id"]],
        )
    look = evaluate_pilot(db, alarm["id"], AS_OF, now=NOW)
    assert len(look["results"]) == 1 and look["changed"] >= 1
    assert not list(
        db.query(
            "SELECT id FROM evaluation WHERE pilot_id = ? AND metric_id = ?",
            [alarm["id"], other["id"]],
        )
    )


def test_a_metric_dropped_after_approval_is_still_evaluated_and_marked(db):
    pilot_id = add_observations(db, [HOUSING])[HOUSING]
    kari = org.user_by_email(db, DEMO_EMAIL["frontline"])["id"]
    ingrid = org.user_by_email(db, DEMO_EMAIL["leader"])["id"]
    pilot = pilot_domain.get_pilot(db, pilot_id)
    fields = {name: pilot[name] for name in pilot_domain.CHARTER_TEXT}
    fields.update(
        {k: pilot[k] for k in ("start_date", "end_date", "design", "cadence", "risk_flags")}
    )
    fields.update({k: str(pilot[k] or "") for k in ("citizens_involved", "cost", "planned_n")})
    keep = [
        {"metric_id": m["metric_id"], "role": m["role"], "minimal_important_difference": None}
        for m in pilot["metrics"]
        if m["slug"] != "er-visits"
    ]
    version = pilot_domain.propose_amendment(
        db, pilot_id, fields, keep, "ER data are too late.", kari
    )
    pilot_domain.approve(db, pilot_id, ingrid, version["number"])
    plan = load_plan(db, pilot_id)
    assert [m.slug for m in plan.metrics][-1] == "er-visits"
    results = {r["metric"]: r for r in evaluate_pilot(db, pilot_id, AS_OF, now=NOW)["results"]}
    assert results["er-visits"]["details"]["dropped_in_version"] == version["number"]
    assert results["er-visits"]["verdict"] != "insufficient_data"
    assert "dropped_in_version" not in results["housed-6m"]["details"]
    stored = next(db.query("SELECT dropped_in_version FROM evaluation WHERE dropped_in_version"))
    assert stored["dropped_in_version"] == version["number"]


def test_a_pre_post_rate_is_judged_as_a_ratio_against_one():
    plan = _plan("pre_post", date(2025, 1, 1))
    metric = MetricPlan(1, "er", "ER visits", "rate", "down", "", None, None, "primary", 0.1)
    months = [f"{2023 + k // 12}-{k % 12 + 1:02d}-01" for k in range(36)]
    rows = [
        (p, "pilot", "", float(200 * (0.6 if p >= "2025-01-01" else 1.0) + k % 5), 1000.0)
        for k, p in enumerate(months)
    ]
    result = methods.evaluate_metric(plan, metric, from_rows(plan, metric, rows), False)
    assert result.method == "its_poisson_hac" and result.estimate == pytest.approx(0.6, abs=0.05)
    assert result.ci_low < result.estimate < result.ci_high < 1
    assert result.verdict == "improved" and result.probability_improved > 0.99


def test_scheduled_looks_use_the_sequential_interval_and_stay_scheduled(db):
    pilot_id = add_observations(db, [ADMISSION])[ADMISSION]
    look = evaluate_pilot(db, pilot_id, AS_OF, scheduled=True, now=NOW)
    details = look["results"][0]["details"]
    assert look["scheduled"] and details["verdict_interval"] == "sequential"
    assert details["sequential_ci_low"] < look["results"][0]["ci_low"]
    # An "evaluate now" later that day keeps the scheduled look (and changes nothing).
    again = evaluate_pilot(db, pilot_id, AS_OF, now=NOW)
    assert again["scheduled"] and again["changed"] == 0


def test_cadences():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert next_look(None, "weekly") is None
    assert next_look(date(2026, 3, 27), "weekly") == date(2026, 4, 3)
    assert next_look(date(2026, 1, 31), "monthly") == date(2026, 2, 28)
    assert next_look(date(2026, 1, 1), "custom", "hver 3. uke") == date(2026, 1, 22)
    assert next_look(date(2026, 1, 1), "custom", "every second Monday") == date(2026, 1, 15)
    assert next_look(date(2026, 1, 1), "custom", "when we feel like it") == date(2026, 2, 1)
    assert custom_interval("kvartalsvis").count == 3 and custom_interval("") is None


def test_due_pilots_follow_their_cadence(db):
    visits = next(db.query("SELECT id FROM pilot WHERE title = ?", [VISITS]))["id"]  # weekly
    admission = next(db.query("SELECT id FROM pilot WHERE title = ?", [ADMISSION]))["id"]
    due = {p["id"] for p in due_pilots(db, AS_OF)}
    assert {visits, admission} <= due
    evaluate_pilot(db, visits, AS_OF, scheduled=True, now=NOW)
    evaluate_pilot(db, admission, AS_OF, scheduled=True, now=NOW)
    for day, expected in ((date(2026, 12, 2), set()), (date(2026, 12, 3), {visits})):
        assert {p["id"] for p in due_pilots(db, day)} & {visits, admission} == expected
    assert admission in {p["id"] for p in due_pilots(db, date(2026, 12, 26))}


# ---- CLI and API ------------------------------------------------------------------------


def test_the_evaluate_command(runner, db):
    pilot_id = add_observations(db, [HOUSING])[HOUSING]
    args = ["evaluate", "--pilot", str(pilot_id), "--as-of", "2026-11-26"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "as of 2026-11-26: stored" in result.output and "housed-6m" in result.output
    assert "unchanged" in runner.invoke(args=args).output
    missing = runner.invoke(args=["evaluate", "--pilot", "99999"])
    assert missing.exit_code == 1 and "Error: No pilot 99999.\n" in missing.output
    everything = runner.invoke(args=["evaluate", "--as-of", "2026-11-26"])
    assert everything.exit_code == 0 and "Pilot" in everything.output


def test_the_evaluate_command_refuses_what_it_cannot_do(runner, db):
    stored = db["evaluation"].count
    mixed = runner.invoke(args=["evaluate", "--due", "--pilot", "1"])
    assert mixed.exit_code == 2 and "leave out --pilot and --as-of" in mixed.output
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    ahead = runner.invoke(args=["evaluate", "--pilot", "1", "--as-of", tomorrow])
    assert ahead.exit_code == 2 and f"--as-of {tomorrow} lies ahead" in ahead.output
    assert db["evaluation"].count == stored
    assert "--as-of YYYY-MM-DD" in runner.invoke(args=["evaluate", "--help"]).output


@pytest.fixture
def api(client, db):
    def call(email, method, url, **kwargs):
        token = tokens.create_token(db, org.user_by_email(db, email)["id"], "test")[0]
        headers = {"Authorization": f"Bearer {token}"}
        return client.open(url, method=method, headers=headers, **kwargs)

    return call


def test_evaluate_now_latest_and_history_through_the_api(api, db):
    pilot_id = add_observations(db, [HOUSING])[HOUSING]
    url = f"/api/v1/pilots/{pilot_id}/evaluations"
    assert api(DEMO_EMAIL["analyst"], "GET", url + "/latest").status_code == 404
    posted = api(DEMO_EMAIL["frontline"], "POST", url, json={"as_of": "2026-11-20"})
    assert posted.status_code == 200, posted.json
    assert posted.json["as_of"] == "2026-11-20" and posted.json["preview"] is False
    assert [set(r) for r in posted.json["results"]] == [RESULT_FIELDS] * 3
    latest = api(DEMO_EMAIL["analyst"], "GET", url + "/latest")
    assert latest.status_code == 200 and latest.json["results"] == posted.json["results"]
    assert api(DEMO_EMAIL["analyst"], "POST", url).status_code == 200  # today
    assert api(DEMO_EMAIL["leader"], "POST", url).status_code == 200  # leads the unit
    history = api(DEMO_EMAIL["leader"], "GET", url)
    assert history.status_code == 200
    assert len(history.json["evaluations"]) == 2
    assert history.json["evaluations"][-1]["as_of"] == "2026-11-20"


@pytest.mark.parametrize(
    ("email", "body", "status"),
    [
        ("per@fjordvik.example", None, 403),  # a leader of another unit
        (DEMO_EMAIL["admin"], None, 403),  # admins read no results
        ("ola@fjordvik.example", None, 403),  # frontline on another team
        (DEMO_EMAIL["frontline"], {"as_of": "2999-01-01"}, 422),
        (DEMO_EMAIL["frontline"], {"as_of": "26.11.2026"}, 422),
    ],
)
def test_evaluate_now_is_refused(api, db, email, body, status):
    pilot_id = next(db.query("SELECT id FROM pilot WHERE title = ?", [HOUSING]))["id"]
    response = api(email, "POST", f"/api/v1/pilots/{pilot_id}/evaluations", json=body)
    assert response.status_code == status
    assert db["evaluation"].count == 0


def test_a_draft_is_not_found_by_others(api, db):
    draft = next(db.query("SELECT id FROM pilot WHERE status = 'draft'"))["id"]
    response = api(DEMO_EMAIL["analyst"], "POST", f"/api/v1/pilots/{draft}/evaluations")
    assert response.status_code == 404


def test_evaluation_at_an_empty_date_has_no_results(db):
    look = evaluation_at(db, 1, "2020-01-01")
    assert look["results"] == [] and look["as_of"] == "2020-01-01"


def test_a_person_followed_every_month_counts_once():
    """Twelve people measured for eight months are twelve units, not 96."""
    plan = _plan("two_group", date(2026, 3, 1))
    housed = MetricPlan(2, "housed", "Housed", "proportion", "up", "", 0, 1, "primary", None)
    rows = [
        (f"2026-{month:02d}-01", "pilot", f"p{person}", float(month >= 6 and person < 9), None)
        for month in range(3, 11)
        for person in range(12)
    ]
    side, _ = from_rows(plan, housed, rows).sides
    assert len(side.values) == 12
    assert sum(side.values) == 9  # each person's latest state: housed in October


def _plan(design, start, pilot_id=1, metrics=()):
    return frozen_plan(design, start, pilot_id, tuple(metrics))


@pytest.mark.parametrize("design", ["two_group", "pre_post", "spc", "did"])
def test_sqlite_sums_equal_the_sums_in_python(db, design):
    """What SQLite sums for each design equals `from_rows` on the same rows.

    Ragged data on purpose: units missing months, rows without a unit, rows with and
    without n, a comparison arm in one-series designs, and rows after the cut-off.
    """
    import random

    rng = random.Random(design)
    pilot_id = (
        db["pilot"]
        .insert(
            {
                "title": "Sums",
                "team_id": db.execute("SELECT min(id) FROM unit").fetchone()[0],
                "status": "running",
                "created_by": db.execute("SELECT min(id) FROM users").fetchone()[0],
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            }
        )
        .last_pk
    )
    metrics = []
    for kind in ("mean", "proportion", "rate"):
        metric_id = db.execute(
            "SELECT id FROM metric WHERE type = ? ORDER BY id LIMIT 1", [kind]
        ).fetchone()[0]
        metrics.append(
            MetricPlan(metric_id, kind, kind, kind, "up", "", None, None, "secondary", None)
        )
    months = [f"2025-{m:02d}-01" for m in range(1, 13)] + ["2026-01-01", "2026-02-01"]
    rows = {m.metric_id: [] for m in metrics}
    for metric in metrics:
        for period in months:
            for arm in ("pilot", "comparison"):
                for unit in ["", *(f"u{k}" for k in range(5))]:
                    if rng.random() < 0.3:
                        continue
                    n = None if rng.random() < 0.5 else float(rng.randint(1, 9))
                    value = (
                        float(rng.randint(0, 1))
                        if metric.type == "proportion"
                        else rng.random() * 9
                    )
                    rows[metric.metric_id].append((period, arm, unit, value, n))
    db["observation"].insert_all(
        {
            "pilot_id": pilot_id,
            "metric_id": metric_id,
            "period": period,
            "arm": arm,
            "unit": unit,
            "value": value,
            "n": n,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        for metric_id, metric_rows in rows.items()
        for period, arm, unit, value, n in metric_rows
    )
    plan = _plan(design, date(2025, 7, 15), pilot_id, tuple(metrics))
    cutoff = date(2025, 12, 31)
    read = read_inputs(db, plan, cutoff)
    for metric in metrics:
        kept = [row for row in rows[metric.metric_id] if row[0] <= cutoff.isoformat()]
        python = from_rows(plan, metric, kept)
        sql = read[metric.metric_id]
        # two_group charts each arm's estimate: it reads no series over time
        assert len(sql.series) == len(python.series) > 0 or design == "two_group"
        assert sql.series == python.series == [] or design != "two_group"
        for a, b in zip(sql.series, python.series, strict=True):
            assert (a["period"], a["arm"], a["rows"]) == (b["period"], b["arm"], b["rows"])
            assert [a[k] for k in ("sum", "n", "value")] == pytest.approx(
                [b[k] for k in ("sum", "n", "value")], rel=1e-12
            )
        assert sql.ignored_rows == python.ignored_rows
        if design == "two_group":
            for ours, theirs in zip(sql.sides, python.sides, strict=True):
                assert ours.values == pytest.approx(theirs.values)
                assert ours.n == pytest.approx(theirs.n)
        if design == "did":
            for name in (
                "arm",
                "n_pre",
                "sum_pre",
                "n_post",
                "sum_post",
                "t_pre",
                "tt_pre",
                "ty_pre",
            ):
                assert getattr(sql.panel, name) == pytest.approx(getattr(python.panel, name))
