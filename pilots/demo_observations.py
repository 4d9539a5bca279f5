"""Demo data behind the demo pilots, and indicators for the clean-up register.

Each design gets enough data to show a real result: the home-care run chart has weekly
points from 5 January 2026 and a drop after the start on 1 June; self-chosen admission
has monthly inpatient days from January 2024 with a lower level from January 2026;
Housing First has one row per participant and month (housed or not) in both groups
from March 2026; the NAV pilot has monthly counts for eight caseworkers in each group
before and after 1 April 2026. A seeded generator makes the demo the same every time.
Everything goes through the domain's import functions, so the uploads, provenance and
audit trail are what the app would have written; the Housing First rows come as the
semicolon file with decimal commas a Norwegian system would export.
"""

from __future__ import annotations

import datetime as dt
import io
import random

from pilots.domain import observations, organisation
from pilots.domain import register as indicator_register

SEED = 2026
LAST_DAY = dt.date(2026, 11, 23)  # the demo's "today": data up to the week before


def _months(first: dt.date, last: dt.date):
    day = first
    while day <= last:
        yield day
        day = day.replace(year=day.year + day.month // 12, month=day.month % 12 + 1)


def _weeks(first: dt.date, last: dt.date):
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=7)


def _pilot(db, title: str) -> dict:
    return next(db.query("SELECT id, created_by FROM pilot WHERE title = ?", [title]))


def _user(db, email: str) -> int:
    return organisation.user_by_email(db, email)["id"]


def _store(db, title: str, records: list[dict], actor: int, at: str | None, source: str = "entry"):
    pilot = _pilot(db, title)
    observations.import_records(db, pilot["id"], records, actor_id=actor, source=source, now=at)


def _housing(db, rng: random.Random, kari: int):
    """Two groups: a row per participant and month, 1 = still in their own home."""
    lines = ["metric;period;arm;unit;value;n"]
    for arm, prefix, chance in (("pilot", "BF", 0.86), ("comparison", "KØ", 0.55)):
        for person in range(1, 13):
            unit = f"{prefix}-{person:02d}"
            housed = 1
            for month in _months(dt.date(2026, 3, 1), dt.date(2026, 10, 1)):
                if housed and rng.random() > chance ** (1 / 6):
                    housed = 0
                lines.append(f"housed-6m;{month:%d.%m.%Y};{arm};{unit};{housed};")
    for month in _months(dt.date(2026, 3, 1), dt.date(2026, 10, 1)):
        for arm, rate in (("pilot", 0.9), ("comparison", 1.6)):
            days = rng.randint(280, 372)
            visits = sum(1 for _day in range(days) if rng.random() < rate / 100)
            lines.append(f"er-visits;{month:%d.%m.%Y};{arm};;{visits};{days}")
            sick = f"{max(0.0, rng.gauss(6.5, 1.2)):.1f}".replace(".", ",")
            lines.append(f"staff-sick-leave;{month:%d.%m.%Y};{arm};;{sick};")
    text = "\ufeff" + "\r\n".join(lines) + "\r\n"
    pilot = _pilot(db, "Bosted først for ti personer")
    observations.import_file(
        db,
        pilot["id"],
        io.BytesIO(text.encode("utf-8")),
        actor_id=kari,
        filename="bosted-forst-mars-oktober.csv",
        now="2026-11-02T08:15:00Z",
    )


def _admission(db, rng: random.Random, amir: int):
    """Before and after: inpatient days a month, lower from the start in January 2026."""
    records = []
    for t, month in enumerate(_months(dt.date(2024, 1, 1), dt.date(2026, 10, 1))):
        level = 118 + 0.3 * t if month < dt.date(2026, 1, 1) else 96 + 0.2 * t
        records.append(
            {
                "metric": "inpatient-days",
                "period": month.isoformat(),
                "value": round(max(0.0, rng.gauss(level, 6)), 0),
            }
        )
    _store(db, "Brukerstyrt innleggelse", records, amir, "2026-11-03T10:00:00Z", "json")


def _home_care(db, rng: random.Random, ola: int):
    """Run chart: unplanned visits a week from Monday 5 January, fewer after 1 June."""
    records = [
        {
            "metric": "unplanned-visits",
            "period": week.isoformat(),
            "value": round(max(0.0, rng.gauss(31 if week < dt.date(2026, 6, 1) else 21, 2.5))),
        }
        for week in _weeks(dt.date(2026, 1, 5), LAST_DAY - dt.timedelta(days=7))
    ]
    records += [
        {
            "metric": "staff-sick-leave",
            "period": month.isoformat(),
            "value": round(max(0.0, rng.gauss(7.5, 1.0)), 1),
        }
        for month in _months(dt.date(2026, 1, 1), dt.date(2026, 10, 1))
    ]
    _store(db, "Færre uplanlagte besøk i sone nord", records, ola, "2026-11-23T15:30:00Z")


def _nav(db, rng: random.Random, kari: int):
    """Difference in differences: per caseworker and month, users in activity of n.

    Twelve caseworkers a side: with ten or more units in each arm the engine can use
    errors clustered by unit, which scheduled looks need for their sequential interval
    (with fewer, it switches to permutation inference and a scheduled look says so).
    """
    records = []
    for month in _months(dt.date(2025, 10, 1), dt.date(2026, 10, 1)):
        after = month >= dt.date(2026, 4, 1)
        for arm, prefix, chance in (
            ("pilot", "veileder", 0.63 if after else 0.40),
            ("comparison", "nabo", 0.43 if after else 0.41),
        ):
            for worker in range(1, 13):
                users = rng.randint(5, 12)
                worker_effect = (worker - 6.5) * 0.01
                active = sum(1 for _u in range(users) if rng.random() < chance + worker_effect)
                records.append(
                    {
                        "metric": "in-activity",
                        "period": month.isoformat(),
                        "arm": arm,
                        "unit": f"{prefix}-{worker}",
                        "value": active,
                        "n": users,
                    }
                )
    _store(db, "Fast kontaktperson i NAV", records, kari, "2026-11-05T09:00:00Z", "json")


def _other_pilots(db, rng: random.Random, amir: int, ola: int):
    night = [
        {
            "metric": "inpatient-days",
            "period": month.isoformat(),
            "value": round(rng.gauss(64 if month < dt.date(2026, 2, 1) else 55, 4)),
        }
        for month in _months(dt.date(2025, 1, 1), dt.date(2026, 7, 1))
    ]
    _store(db, "Likeperson på nattevakt", night, amir, "2026-08-04T08:00:00Z")
    booking = [
        {
            "metric": "unplanned-visits",
            "period": week.isoformat(),
            "value": round(max(0.0, rng.gauss(24, 3))),
        }
        for week in _weeks(dt.date(2025, 9, 1), dt.date(2026, 4, 6))
    ]
    _store(db, "Selvbetjent timebestilling", booking, ola, "2026-04-10T12:00:00Z")
    alarm = [
        {
            "metric": "unplanned-visits",
            "period": week.isoformat(),
            "value": round(max(0.0, rng.gauss(17, 2.5))),
        }
        for week in _weeks(dt.date(2026, 6, 1), LAST_DAY - dt.timedelta(days=7))
    ]
    # entered with the plan, which was just submitted (see demo_pilots): stamped now
    _store(db, "Trygghetsalarm med fast svarer", alarm, ola, None)


# (fields, created at); several are clean-up candidates on purpose.
INDICATORS = [
    (
        {
            "slug": "startlan-vedtak",
            "name": "Vedtak om startlån per måned",
            "definition": "Antall innvilgede og avslåtte søknader om startlån.",
            "reported_in": "KOSTRA; Budsjettoppfølging",
            "decision": "Rammen for startlån i neste års budsjett",
            "owner": "Sosialtjenesten",
            "period": "month",
            "burden_minutes": "30",
            "teams_collecting": "2",
        },
        "2024-02-01T09:00:00Z",
    ),
    (
        {
            "slug": "ventetid-forste-samtale",
            "name": "Ventetid til første samtale",
            "definition": (
                "Dager fra henvendelse til første samtale med veileder eller saksbehandler."
            ),
            "reported_in": "Månedsrapport til kommunedirektøren",
            "decision": "",
            "owner": "Helse og velferd",
            "period": "month",
            "burden_minutes": "45",
            "teams_collecting": "6",
        },
        "2024-03-01T09:00:00Z",
    ),
    (
        {
            "slug": "ventetid-forste-samtale-uke",
            "name": "Ventetid til første samtale (uke)",
            "definition": "Dager fra henvendelse til første samtale, talt hver uke.",
            "reported_in": "",
            "decision": "Bemanning i mottaket",
            "owner": "NAV Fjordvik",
            "period": "week",
            "burden_minutes": "20",
            "teams_collecting": "3",
        },
        "2024-09-01T09:00:00Z",
    ),
    (
        {
            "slug": "brukermoter-registrert",
            "name": "Brukermøter registrert i fagsystemet",
            "definition": "Antall møter med bruker ført i fagsystemet, talt for hånd.",
            "reported_in": "",
            "decision": "",
            "owner": "Hjemmetjenesten",
            "period": "week",
            "burden_minutes": "15",
            "teams_collecting": "8",
        },
        "2023-06-01T09:00:00Z",
    ),
    (
        {
            "slug": "brukertilfredshet",
            "name": "Brukertilfredshet (brukerundersøkelsen)",
            "definition": "Andel svært fornøyde eller fornøyde i den årlige brukerundersøkelsen.",
            "reported_in": "Årsmelding",
            "decision": "Hvilke tjenester som får utviklingsmidler",
            "owner": "Kommunedirektørens stab",
            "period": "year",
            "burden_minutes": "600",
            "teams_collecting": "1",
        },
        "2023-01-15T09:00:00Z",
    ),
    (
        {
            "slug": "trappetrinn-beboere",
            "name": "Trappetrinnsrapport: beboere per trinn",
            "definition": "Antall beboere på hvert trinn i trappetrinnsmodellen for bolig.",
            "reported_in": "Månedlig trappetrinnsrapport",
            "decision": "Hvem som får rykke opp til egen bolig",
            "owner": "Sosialtjenesten",
            "period": "month",
            "burden_minutes": "60",
            "teams_collecting": "2",
        },
        "2022-05-01T09:00:00Z",
    ),
]


def _indicators(db, kari: int, ingrid: int):
    ids = {}
    for fields, at in INDICATORS:
        ids[fields["slug"]] = indicator_register.create_indicator(db, fields, kari, now=at)["id"]
    indicator_register.retire(
        db,
        ids["trappetrinn-beboere"],
        "Bosted først gir bolig uten trappetrinn; rapporten faller bort, som piloten lovet.",
        ingrid,
        now="2026-05-04T10:00:00Z",
    )


def load(db) -> None:
    """Add the demo observations and indicators; the demo pilots must be loaded first."""
    rng = random.Random(SEED)
    kari = _user(db, "kari@fjordvik.example")
    amir = _user(db, "amir@fjordvik.example")
    ola = _user(db, "ola@fjordvik.example")
    ingrid = _user(db, "ingrid@fjordvik.example")
    _housing(db, rng, kari)
    _admission(db, rng, amir)
    _home_care(db, rng, ola)
    _nav(db, rng, kari)
    _other_pilots(db, rng, amir, ola)
    _indicators(db, kari, ingrid)
