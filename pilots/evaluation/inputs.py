"""What each design reads of a pilot's observations, summed where it can be by SQLite.

Observation rows follow the contract (period, arm, unit, value, n). Each design reads
them its own way, as DESIGN.md fixes it:

- `two_group`: both arms, periods on or after the start; one value per unit (a unit
  measured in several periods counts once: the mean of its values for `mean`
  metrics, its latest 0/1 state for a proportion without `n`, else its summed counts
  and summed `n`). A row without a unit is a value of its own.
- `pre_post` and `spc`: the pilot arm, every period; one point per period (the mean
  of the values, or the summed value over the summed `n`). Comparison-arm rows are
  counted, to be named in a warning, and left out.
- `did`: both arms, every period; every row (unit, arm, period, value/n), summed per
  unit for the fit (`pilots.stats.did.UnitPanel`): rows and values before and after
  the start, and the moments of the period number before it, for the pre-trend.

A row without `n` counts `n = 1`. The designs that chart values over time (all but
`two_group`, whose chart is each arm's estimate) also get `series`: per period and
arm, rows, summed value, summed `n` and the value a chart shows; `two_group` does not
read it (it was a fifth of its reading, for a chart it does not have). A rate's exposure
counts in units of the catalogue's `rate_per` (`exposure`), so its values are shown
per that amount ("visits per 100 days"); the sums as read, and their hash, stay as
counted.

SQLite does the summing (`GROUP BY` per period and arm, and per unit), so an
evaluation reads a few rows per period or unit rather than every observation.
`from_rows` computes the same inputs from rows in Python: the tests hold the two
together, and the engine can be called on rows without a database.

The data hash of a metric is the SHA-256 of the rows SQLite returned for it (as
`marshal` writes them, every float exactly): the inputs the engine got. The same hash
means the same inputs, hence the same result.

Often the hashes are known without reading (`known_hashes`): a pilot's observation
state (its row count, and a revision that triggers raise on every update and delete)
tells whether anything was written since the last reading, which `remember_reading`
keeps in `observation_reading`.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from itertools import groupby

import numpy as np

from pilots.evaluation.plan import FrozenPlan, MetricPlan
from pilots.stats.did import UnitPanel
from pilots.stats.its import period_grid

# (period, arm, unit, value, n), as stored in the observation table.
Row = tuple[str, str, str, float, float | None]

_SERIES = """SELECT metric_id, period, arm, count(*), sum(value), sum(coalesce(n, 1))
             FROM observation
             WHERE pilot_id = :pilot AND period <= :cutoff AND period >= :first
             GROUP BY metric_id, period, arm ORDER BY metric_id, period, arm"""
# One row per (arm, unit), or per row where there is no unit. With max(period),
# SQLite takes the bare `value` from the row holding the latest period. The rows come
# in the grouping's own order (a row without a unit is one period, its own latest), so
# SQLite sorts once, for the grouping, not a second time for an ORDER BY.
_UNITS = """SELECT metric_id, arm, unit, count(*), sum(value), sum(n), count(n),
                   max(period), value
            FROM observation
            WHERE pilot_id = :pilot AND period <= :cutoff AND period >= :first
            GROUP BY metric_id, arm, unit, CASE WHEN unit = '' THEN period END
            ORDER BY metric_id, arm, unit, CASE WHEN unit = '' THEN period END"""
# did: per unit and arm, rows and sums before and after the start, and the moments of
# t (the period's number on the metric's grid) before it. The grid (period, t, before
# the start) comes as VALUES (three parameters a period: SQLite allows 32,766, so up to
# 10,922 periods, 30 years of days), so SQLite looks each period's rows up by the index.
_DID_SUMS = """WITH grid(period, t, pre) AS (VALUES {grid})
               SELECT unit, arm, sum(pre), sum(pre * y), sum(1 - pre), sum((1 - pre) * y),
                      sum(pre * t), sum(pre * t * t), sum(pre * t * y)
               FROM (SELECT CASE WHEN o.unit = '' THEN '(' || o.arm || ')' ELSE o.unit END
                              AS unit,
                            o.arm AS arm, g.t AS t, g.pre AS pre,
                            CASE WHEN :mean OR o.n IS NULL THEN o.value ELSE o.value / o.n END
                              AS y
                     FROM grid g JOIN observation o
                       ON o.pilot_id = :pilot AND o.metric_id = :metric AND o.period = g.period)
               GROUP BY unit, arm ORDER BY unit, arm"""


@dataclass(frozen=True)
class Side:
    """One arm of a two-group comparison: one value per unit, with its `n` (or None)."""

    values: list[float] = field(default_factory=list)
    n: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class MetricInputs:
    """What the engine needs for one metric, as its design reads the observations.

    Holds the summed rows as read (`cells` per period and arm; `detail`: units for
    two_group, rows for did) and their `data_hash`; the engine's forms are built on
    first use, so recognising unchanged inputs costs only the reading and the hash.
    """

    design: str
    metric_type: str
    start: date
    cells: tuple = ()
    detail: tuple = ()
    data_hash: str = ""
    rate_per: float = 1.0  # a rate's exposure counts in units of this (see `exposure`)

    @cached_property
    def series(self) -> list[dict]:
        arms = ("pilot",) if self.design in ("pre_post", "spc") else ("pilot", "comparison")
        return _chart_series(self.cells, self.metric_type, arms, self.rate_per)

    @cached_property
    def sides(self) -> tuple[Side, Side]:
        """two_group: the pilot and comparison arms, one value per unit."""
        return _sides(self.metric_type, self.detail, self.rate_per)

    @cached_property
    def panel(self) -> UnitPanel:
        """did: the rows summed per unit."""
        return _panel(self.detail, self.rate_per)

    @property
    def ignored_rows(self) -> int:
        """One-series designs: the comparison-arm rows left out."""
        if self.design not in ("pre_post", "spc"):
            return 0
        return sum(cell[2] for cell in self.cells if cell[1] != "pilot")


def first_period(plan: FrozenPlan) -> str:
    """The earliest period the design reads: the start for two_group, else any."""
    return plan.start_date.isoformat() if plan.design == "two_group" else ""


def exposure(n: float, rate_per: float) -> float:
    """Exposure `n` counted in units of `rate_per`, so that events / exposure is the rate
    per `rate_per` ("visits per 100 days": days / 100). `rate_per` is 1 for every metric
    that is not a rate, and n / 1.0 is n exactly."""
    return n / rate_per


def _chart_series(
    cells, metric_type: str, arms: tuple[str, ...], rate_per: float = 1.0
) -> list[dict]:
    """Per period and arm (cells in that order): rows, sums and the value shown."""
    return [
        {
            "period": period,
            "arm": arm,
            "rows": count,
            "sum": total,
            "n": weight,
            "value": total / count if metric_type == "mean" else total / exposure(weight, rate_per),
        }
        for period, arm, count, total, weight in cells
        if arm in arms
    ]


def _unit_value(metric_type: str, count, total, n_total, n_count, latest_value):
    """A unit's single value and n for the two-group tests (see the module text)."""
    if metric_type == "mean":
        return total / count, None
    if metric_type == "proportion" and n_count == 0:
        return latest_value, None
    return total, n_total if n_count else 0.0


def _sides(metric_type: str, units, rate_per: float = 1.0) -> tuple[Side, Side]:
    sides = {"pilot": Side(), "comparison": Side()}
    for arm, unit, count, total, n_total, n_count, _latest, value in units:
        side = sides[arm]
        if unit:
            shown, n = _unit_value(metric_type, count, total, n_total, n_count, value)
        else:
            shown, n = total, n_total
        side.values.append(shown)
        side.n.append(n if n is None or metric_type != "rate" else exposure(n, rate_per))
    return sides["pilot"], sides["comparison"]


@dataclass(frozen=True)
class Grid:
    """A metric's periods numbered as `period_grid` numbers them, and how to count so.

    t = (raw - first) // step, raw being months (`by_month`) or days; `start` is the
    number of the first period on or after the pilot's start.
    """

    by_month: bool
    first: int
    step: int
    start: int

    def number(self, period: date) -> int:
        raw = _month(period) if self.by_month else period.toordinal()
        return (raw - self.first) // self.step


def _month(day: date) -> int:
    return day.year * 12 + day.month - 1


def metric_grid(periods: list[str], start: date) -> Grid:
    """The grid `period_grid` puts the metric's distinct periods on (see its rule)."""
    return _grid(tuple(sorted(set(periods))), start)


# Pilots that report the same months share a grid; a scheduled run meets few kinds.
@lru_cache(maxsize=1024)
def _grid(periods: tuple[str, ...], start: date) -> Grid:
    days = [date.fromisoformat(p) for p in periods]
    grid = period_grid(days, start)
    by_month = len({d.day for d in days}) == 1 and len({_month(d) for d in days}) == len(days)
    raw = [_month(d) if by_month else d.toordinal() for d in days]
    steps = [(r - raw[0]) // k for r, k in zip(raw, grid.numbers, strict=True) if k]
    return Grid(by_month, raw[0] if raw else 0, steps[0] if steps else 1, grid.start)


def _panel(sums, rate_per: float = 1.0) -> UnitPanel:
    """The did panel from per-(unit, arm) sums, units in name order; a rate's values
    (events / exposure per row) shown per `rate_per`."""
    units = sorted({row[0] for row in sums})
    index = {unit: i for i, unit in enumerate(units)}
    table = np.zeros((len(units), 8))
    for unit, arm, *values in sums:
        row = table[index[unit]]
        row[1:] += values
        row[0] += 1 if arm == "pilot" else 2  # 1 pilot, 2 comparison, 3 both
    if rate_per != 1.0:
        table[:, [2, 4, 7]] *= rate_per  # the sums of values, before and after, and of t x value
    arms = table[:, 0]
    return UnitPanel(
        arm=(arms % 2 == 1).astype(float),
        n_pre=table[:, 1],
        sum_pre=table[:, 2],
        n_post=table[:, 3],
        sum_post=table[:, 4],
        t_pre=table[:, 5],
        tt_pre=table[:, 6],
        ty_pre=table[:, 7],
        both_arms=int(np.sum(arms == 3)),
    )


# marshal format 2: binary (exact) floats and no back-references, so equal rows give
# equal bytes whichever objects happen to be shared. (The format is Python's own; were
# it to change, hashes would differ and results be computed afresh, never reused.)
_MARSHAL_VERSION = 2


def _digest(*parts) -> str:
    """SHA-256 of the rows as `marshal` writes them (much faster than `repr`)."""
    return hashlib.sha256(marshal.dumps(parts, _MARSHAL_VERSION)).hexdigest()


def _inputs(plan: FrozenPlan, metric: MetricPlan, cells: list, detail: list) -> MetricInputs:
    """A metric's inputs from its series cells and its units (two_group) or rows (did)."""
    cells, detail = tuple(cells), tuple(detail)
    return MetricInputs(
        plan.design,
        metric.type,
        plan.start_date,
        cells,
        detail,
        _digest(cells, detail),
        metric.rate_per,
    )


def _by_metric(cursor) -> dict[int, list[tuple]]:
    return {metric_id: [row[1:] for row in rows] for metric_id, rows in groupby(cursor, key=_first)}


def _first(row):
    return row[0]


def read_inputs(db, plan: FrozenPlan, cutoff: date) -> dict[int, MetricInputs]:
    """Each metric's inputs (observations up to the cut-off), by metric id."""
    args = {"pilot": plan.pilot_id, "cutoff": cutoff.isoformat(), "first": first_period(plan)}
    cells: dict[int, list[tuple]] = {}
    detail: dict[int, list[tuple]] = {}
    if plan.design == "two_group":
        detail = _by_metric(db.conn.execute(_UNITS, args))
    else:
        cells = _by_metric(db.conn.execute(_SERIES, args))
    if plan.design == "did":
        for m in plan.metrics:
            if m.metric_id in cells:
                periods = sorted({cell[0] for cell in cells[m.metric_id]})
                detail[m.metric_id] = _did_sums(db, plan, m, periods)
    return {
        m.metric_id: _inputs(plan, m, cells.get(m.metric_id, []), detail.get(m.metric_id, []))
        for m in plan.metrics
    }


def _did_sums(db, plan: FrozenPlan, metric: MetricPlan, periods: list[str]) -> list[tuple]:
    grid = metric_grid(periods, plan.start_date)
    args: dict[str, object] = {
        "pilot": plan.pilot_id,
        "metric": metric.metric_id,
        "mean": metric.type == "mean",
    }
    marks = []
    for k, period in enumerate(periods):
        t = grid.number(date.fromisoformat(period))
        args.update({f"p{k}": period, f"t{k}": t, f"b{k}": t < grid.start})
        marks.append(f"(:p{k}, :t{k}, :b{k})")
    return db.conn.execute(_DID_SUMS.format(grid=", ".join(marks)), args).fetchall()


# ---- knowing the data hashes without reading ------------------------------------------


@dataclass(frozen=True)
class KnownHashes:
    """The pilot's data state now (see `observation_state`), and its metrics' data hashes when
    they are known without reading: `hashes` (metric id -> hash), else None."""

    state: tuple[int, int]
    hashes: dict[int, str] | None


_STATE = """SELECT (SELECT revision FROM observation_revision WHERE pilot_id = :pilot),
                   (SELECT count(*) FROM observation WHERE pilot_id = :pilot)"""


def observation_state(conn, pilot_id: int) -> tuple[int, int]:
    """(revision, rows) of the pilot's observations: updates and deletes raise the
    revision (triggers), inserts the row count, so any write changes the pair."""
    revision, rows = conn.execute(_STATE, {"pilot": pilot_id}).fetchone()
    return revision or 0, rows


_MARK = """SELECT (SELECT max(id) FROM observation),
                  (SELECT sum(revision) FROM observation_revision)"""


def observations_mark(conn) -> tuple:
    """The write state of all observations: the highest row id and the sum of the
    pilots' revisions. Any write changes it: a new row gets an id above every row
    there is, and an update or a delete raises a revision (deleting the highest row,
    which would let its id be given again, raises one too)."""
    return tuple(conn.execute(_MARK).fetchone())


def _reading(plan: FrozenPlan) -> str:
    """Besides the rows and the cut-off, what decides how a pilot's rows are read."""
    metrics = ",".join(f"{m.metric_id}:{m.type}" for m in plan.metrics)
    return f"{plan.design}|{plan.start_date.isoformat()}|{metrics}"


def known_hashes(db, plan: FrozenPlan, cutoff: date) -> KnownHashes:
    """The data hashes the last reading found, when they still hold.

    They hold when no observation of the pilot was written since (the same data
    state), the reading is the same (design, start, metrics and their types), and no
    observation lies between that reading's cut-off and this one. The state is read
    first, so data written while a look reads can only make the next look read again.
    """
    conn = db.conn
    state = observation_state(conn, plan.pilot_id)
    last = conn.execute(
        """SELECT revision, row_count, cutoff, reading, hashes FROM observation_reading
           WHERE pilot_id = ?""",
        (plan.pilot_id,),
    ).fetchone()
    if last is None or tuple(last[:2]) != state or last[3] != _reading(plan):
        return KnownHashes(state, None)
    low, high = sorted((last[2], cutoff.isoformat()))
    if low != high and _rows_between(conn, plan, low, high):
        return KnownHashes(state, None)
    return KnownHashes(state, {int(k): v for k, v in json.loads(last[4]).items()})


def _rows_between(conn, plan: FrozenPlan, low: str, high: str) -> bool:
    """Whether the pilot has an observation of its metrics in (low, high]."""
    metric_ids = [m.metric_id for m in plan.metrics]
    marks = ",".join("?" * len(metric_ids)) or "NULL"
    (found,) = conn.execute(
        f"""SELECT EXISTS (SELECT 1 FROM observation WHERE pilot_id = ?
            AND metric_id IN ({marks}) AND period > ? AND period <= ?)""",  # noqa: S608
        (plan.pilot_id, *metric_ids, low, high),
    ).fetchone()
    return bool(found)


def remember_reading(
    db, plan: FrozenPlan, cutoff: date, known: KnownHashes, hashes: dict[int, str]
) -> None:
    """Keep what a reading of the rows found, for the next look (see `known_hashes`)."""
    db.conn.execute(
        """INSERT INTO observation_reading (pilot_id, revision, row_count, cutoff, reading, hashes)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (pilot_id) DO UPDATE SET revision = excluded.revision,
               row_count = excluded.row_count, cutoff = excluded.cutoff,
               reading = excluded.reading, hashes = excluded.hashes""",
        (
            plan.pilot_id,
            *known.state,
            cutoff.isoformat(),
            _reading(plan),
            json.dumps({str(k): v for k, v in sorted(hashes.items())}),
        ),
    )


# ---- the same from rows, in Python -------------------------------------------------


def from_rows(plan: FrozenPlan, metric: MetricPlan, rows: list[Row]) -> MetricInputs:
    """`read_inputs` for one metric from its rows (period, arm, unit, value, n) in Python."""
    first = first_period(plan)
    used = sorted(
        (row for row in rows if row[0] >= first), key=lambda row: (row[0], row[1], row[2])
    )
    cells: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0, 0.0])
    for period, arm, _unit, value, n in used:
        cell = cells[(period, arm)]
        cell[0] += 1
        cell[1] += value
        cell[2] += 1.0 if n is None else n
    series_cells = [(p, a, *cell) for (p, a), cell in sorted(cells.items())]
    if plan.design == "two_group":
        series_cells = []  # as read_inputs: no chart over time, so no series
        detail = _units_in_python(used)
    elif plan.design == "did":
        detail = _did_sums_in_python(metric.type, used, plan.start_date)
    else:
        detail = []
    return _inputs(plan, metric, series_cells, detail)


def _did_sums_in_python(metric_type: str, rows: list[Row], start: date) -> list[tuple]:
    """What `_DID_SUMS` returns, from rows."""
    grid = metric_grid([row[0] for row in rows], start) if rows else None
    sums: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0, 0, 0.0, 0, 0, 0.0])
    for period, arm, unit, value, n in rows:
        t = grid.number(date.fromisoformat(period))
        y = value if metric_type == "mean" or n is None else value / n
        cell = sums[(unit or f"({arm})", arm)]
        if t < grid.start:
            for k, add in enumerate((1, y, 0, 0.0, t, t * t, t * y)):
                cell[k] += add
        else:
            cell[2] += 1
            cell[3] += y
    return [(unit, arm, *cell) for (unit, arm), cell in sorted(sums.items())]


def _units_in_python(rows: list[Row]) -> list[tuple]:
    """What `_UNITS` returns, from rows: per (arm, unit), or per row without a unit."""
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for row in rows:
        period, arm, unit = row[0], row[1], row[2]
        groups[(arm, unit, "" if unit else period)].append(row)
    out = []
    for (arm, unit, _), members in groups.items():
        latest = max(members, key=lambda row: row[0])
        ns = [row[4] for row in members if row[4] is not None]
        out.append(
            (
                arm,
                unit,
                len(members),
                sum(row[3] for row in members),
                sum(ns) if ns else None,
                len(ns),
                latest[0],
                latest[3],
            )
        )
    return sorted(out, key=lambda u: (u[0], u[1], u[6]))


__all__ = [
    "KnownHashes",
    "MetricInputs",
    "Side",
    "observation_state",
    "first_period",
    "from_rows",
    "known_hashes",
    "read_inputs",
    "remember_reading",
]
