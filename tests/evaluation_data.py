"""Generated observations for the demo pilots, one set per design, through the domain.

Seeded, so every test run sees the same numbers: Housing First (two_group), self-chosen
admission (pre_post), home-care visits (spc, weekly) and the NAV contact person (did).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from pilots.domain.observations import import_records
from pilots.evaluation.plan import FrozenPlan

HOUSING = "Bosted først for ti personer"
ADMISSION = "Brukerstyrt innleggelse"
VISITS = "Færre uplanlagte besøk i sone nord"
NAV = "Fast kontaktperson i NAV"
DESIGNS = {HOUSING: "two_group", ADMISSION: "pre_post", VISITS: "spc", NAV: "did"}


def pilot_id(db, title: str) -> int:
    return next(db.query("SELECT id FROM pilot WHERE title = ?", [title]))["id"]


def months(first: str, count: int) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}-01")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def weeks(first: str, count: int) -> list[str]:
    day = date.fromisoformat(first)
    return [(day + timedelta(weeks=k)).isoformat() for k in range(count)]


def housing_records(rng) -> list[dict]:
    records = []
    for period in months("2026-03-01", 8):
        for arm, p_housed, rate in (("pilot", 0.85, 0.02), ("comparison", 0.45, 0.04)):
            for k in range(30):
                unit = f"{arm[0]}{k:02d}"
                records.append(
                    {
                        "metric": "housed-6m",
                        "period": period,
                        "arm": arm,
                        "unit": unit,
                        "value": int(rng.random() < p_housed),
                    }
                )
            exposure = float(rng.integers(250, 350))
            records.append(
                {
                    "metric": "er-visits",
                    "period": period,
                    "arm": arm,
                    "value": int(rng.poisson(rate * exposure)),
                    "n": exposure,
                }
            )
            records.append(
                {
                    "metric": "staff-sick-leave",
                    "period": period,
                    "arm": arm,
                    "value": round(float(rng.normal(6.0, 1.5)), 2),
                }
            )
    return records


def admission_records(rng) -> list[dict]:
    periods = months("2024-01-01", 34)  # to October 2026; the start is 2026-01-01
    return [
        {
            "metric": "inpatient-days",
            "period": period,
            "value": round(
                float(120 + 0.3 * t - 25 * (period >= "2026-01-01") + rng.normal(0, 5)), 1
            ),
        }
        for t, period in enumerate(periods)
    ]


def visits_records(rng) -> list[dict]:
    records = [
        {
            "metric": "unplanned-visits",
            "period": period,
            "value": round(float(40 - 12 * (period >= "2026-06-01") + rng.normal(0, 3)), 1),
        }
        for period in weeks("2026-01-05", 46)
    ]
    records += [
        {"metric": "staff-sick-leave", "period": period, "value": round(float(rng.normal(7, 1)), 2)}
        for period in months("2026-01-01", 10)
    ]
    return records


def nav_records(rng) -> list[dict]:
    records = []
    for period in months("2025-10-01", 13):
        after = period >= "2026-04-01"
        for arm in ("pilot", "comparison"):
            for k in range(6):
                p = 0.35 + (0.2 if arm == "pilot" and after else 0.0) + 0.02 * k
                trials = int(rng.integers(15, 25))
                records.append(
                    {
                        "metric": "in-activity",
                        "period": period,
                        "arm": arm,
                        "unit": f"{arm[0]}-kontor-{k}",
                        "value": int(rng.binomial(trials, p)),
                        "n": trials,
                    }
                )
    return records


BUILDERS = {
    HOUSING: housing_records,
    ADMISSION: admission_records,
    VISITS: visits_records,
    NAV: nav_records,
}


def records_for(title: str, seed: int = 2026) -> list[dict]:
    """The generated rows of one demo pilot (the same every time for a seed)."""
    return BUILDERS[title](np.random.default_rng([seed, list(BUILDERS).index(title)]))


def add_observations(db, titles=tuple(BUILDERS), seed: int = 2026) -> dict[str, int]:
    """Replace the demo pilots' observations by generated ones; return {title: pilot id}."""
    ids = {}
    for title in titles:
        ids[title] = pilot_id(db, title)
        with db.atomic():
            db.execute("DELETE FROM observation WHERE pilot_id = ?", [ids[title]])
        import_records(db, ids[title], records_for(title, seed), actor_id=None, source="api")
    return ids


def frozen_plan(design: str, start: date, pilot_id: int = 1, metrics=()) -> FrozenPlan:
    """A running pilot's approved plan with these metrics, for calling the engine directly."""
    return FrozenPlan(
        pilot_id=pilot_id,
        status="running",
        preview=False,
        version=1,
        plan_hash="x",
        design=design,
        start_date=start,
        end_date=None,
        planned_n=None,
        cadence="monthly",
        cadence_rule="",
        metrics=metrics,
    )
