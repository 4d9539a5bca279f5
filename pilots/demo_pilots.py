"""Demo pilots for Fjordvik kommune: the metric catalogue and pilots in every state.

Housing First (two groups, share housed after six months), self-chosen admission
(before and after, inpatient days per month), home care (run chart, unplanned
visits per week) and a NAV pilot against a comparison district (difference in
differences), plus a draft, one waiting inside the trust limits, a concluded and a
stopped pilot. Each goes through the real domain functions, so the versions, the
audit trail and the timeline are what the app itself would have written.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pilots.db import to_utc_text
from pilots.domain import metrics as catalogue
from pilots.domain import organisation as org
from pilots.domain import pilots

METRICS = [
    {
        "slug": "housed-6m",
        "name": "Bor fortsatt i egen bolig etter seks måneder",
        "type": "proportion",
        "direction": "up",
        "period": "month",
        "unit": "",
        "definition": "Andel deltakere som bor i egen bolig seks måneder etter innflytting.",
        "owner": "Sosialtjenesten",
        "data_source": "Fagsystemet",
        "burden_minutes": "30",
        "decision": "Om Bosted først skal bli fast tilbud",
    },
    {
        "slug": "er-visits",
        "name": "Besøk på legevakt per 100 oppfølgingsdøgn",
        "type": "rate",
        "direction": "down",
        "period": "month",
        "unit": "besøk",
        "definition": "Legevaktbesøk delt på antall døgn i oppfølging, ganger 100.",
        "rate_per": "100",
        "owner": "Sosialtjenesten",
        "data_source": "Legevaktens journal",
        "burden_minutes": "45",
        "decision": "Om oppfølgingen er tett nok",
    },
    {
        "slug": "inpatient-days",
        "name": "Liggedøgn per måned",
        "type": "mean",
        "direction": "down",
        "period": "month",
        "unit": "døgn",
        "min_value": "0",
        "definition": "Sum liggedøgn for pasienter med avtale om brukerstyrt innleggelse.",
        "owner": "Psykisk helse og rus",
        "data_source": "Pasientadministrativt system",
        "burden_minutes": "20",
        "decision": "Om brukerstyrt innleggelse skal utvides",
    },
    {
        "slug": "unplanned-visits",
        "name": "Uplanlagte besøk per uke",
        "type": "mean",
        "direction": "down",
        "period": "week",
        "unit": "besøk",
        "min_value": "0",
        "definition": "Besøk som ikke sto i ukeplanen, talt fredag ettermiddag.",
        "owner": "Hjemmetjenesten",
        "data_source": "Turplanleggeren",
        "burden_minutes": "15",
        "decision": "Bemanning av ettermiddagsturene",
    },
    {
        "slug": "in-activity",
        "name": "I arbeid eller utdanning etter tre måneder",
        "type": "proportion",
        "direction": "up",
        "period": "month",
        "definition": "Andel brukere i arbeid, tiltak eller utdanning tre måneder etter start.",
        "owner": "NAV Fjordvik",
        "data_source": "Arena",
        "burden_minutes": "60",
        "decision": "Om fast kontaktperson skal gjelde alle",
    },
    {
        "slug": "staff-sick-leave",
        "name": "Sykefravær i teamet (prosent)",
        "type": "mean",
        "direction": "down",
        "period": "month",
        "unit": "%",
        "min_value": "0",
        "max_value": "100",
        "definition": "Legemeldt og egenmeldt fravær i prosent av avtalte dagsverk.",
        "owner": "HR",
        "data_source": "Lønnssystemet",
        "burden_minutes": "10",
        "decision": "",
    },
]


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC)


def _on(day: str) -> str:
    """9 o'clock UTC on `day`, as stored: the demo's steps happen in the order of a year."""
    return to_utc_text(_at(day))


def _user(db, email: str) -> int:
    return org.user_by_email(db, email)["id"]


def _team(db, slug: str) -> int:
    return org.unit_by_slug(db, slug)["id"]


def _plan(
    db,
    pilot_id,
    actor,
    charter: dict,
    metrics: list[tuple[str, str, float | None]],
    on: str | None = None,
):
    choices = [
        {
            "metric_id": catalogue.metric_by_slug(db, slug)["id"],
            "role": role,
            "minimal_important_difference": mid,
        }
        for slug, role, mid in metrics
    ]
    now = _on(on) if on else None
    return pilots.update_draft(db, pilot_id, charter, choices, actor, now=now), choices


def load(db) -> None:
    """Add the demo catalogue and pilots; the organisation must be loaded first."""
    kari = _user(db, "kari@fjordvik.example")
    ola = _user(db, "ola@fjordvik.example")
    amir = _user(db, "amir@fjordvik.example")
    ingrid = _user(db, "ingrid@fjordvik.example")
    for metric in METRICS:
        catalogue.create_metric(db, metric, kari)
    pilots.set_trust_envelope(
        db,
        _team(db, "hjemmetjenesten"),
        {
            "trust_auto_days": "14",
            "trust_max_days": "200",
            "trust_max_citizens": "40",
            "trust_max_cost": "100000",
            "trust_excluded_risks": ["medication"],
        },
        ingrid,
    )

    housing = pilots.create_pilot(
        db,
        team_id=_team(db, "bosted-forst"),
        title="Bosted først for ti personer",
        actor_id=kari,
        idea_text="Gi bolig først, uten krav om rusfrihet eller botrening.",
        now="2026-01-10T09:00:00Z",
    )
    charter = {
        "title": "Bosted først for ti personer",
        "idea_text": "Gi bolig først, uten krav om rusfrihet eller botrening.",
        "need": "«Jeg klarer ikke å slutte å ruse meg når jeg ikke vet hvor jeg skal sove.»",
        "aim": "Flere bostedsløse får og beholder en egen bolig.",
        "hypothesis": "En trygg bolig først gjør at annen hjelp virker.",
        "prediction": "Vi spår at minst 7 av 10 bor i egen bolig etter seks måneder.",
        "stop_doing": "Kravet om botrening før tildeling, og den månedlige trappetrinnsrapporten.",
        "scope": "Ti bostedsløse med rusproblemer, valgt fra ventelisten.",
        "citizens_involved": "10",
        "cost": "250000",
        "co_creators": "To tidligere beboere på hospitset, en erfaringskonsulent.",
        "start_date": "2026-03-01",
        "end_date": "2027-02-28",
        "design": "two_group",
        "comparison": "Den ordinære boligkøen i samme periode.",
        "planned_n": "10",
        "cadence": "monthly",
    }
    housing, choices = _plan(
        db,
        housing["id"],
        kari,
        charter,
        [
            ("housed-6m", "primary", 0.2),
            ("er-visits", "secondary", None),
            ("staff-sick-leave", "balancing", None),
        ],
        on="2026-01-20",
    )
    pilots.submit(db, housing["id"], kari, now=_at("2026-02-01"))
    pilots.approve(db, housing["id"], ingrid, 1, now=_at("2026-02-10"))
    pilots.change_status(db, housing["id"], "start", kari, now=_on("2026-03-01"))
    pilots.add_cycle(
        db,
        housing["id"],
        {
            "plan": "To første innflyttinger med fast kontaktperson.",
            "prediction": "Begge bor der fortsatt etter en måned.",
            "started_on": "2026-03-01",
            "done": "Flyttet inn 3. og 10. mars.",
            "studied": "Begge bor der; en hadde husbråk.",
            "act": "adapt",
        },
        kari,
        now=_on("2026-04-02"),
    )
    pilots.propose_amendment(
        db,
        housing["id"],
        {**charter, "scope": charter["scope"] + " Inntil to ekstra plasser."},
        choices,
        "Naboskapsarbeidet trenger ett ekstra kontaktpunkt.",
        kari,
        now=_on("2026-04-20"),
    )
    pilots.approve(db, housing["id"], ingrid, 2, now=_at("2026-05-02"))

    admission = pilots.create_pilot(
        db,
        team_id=_team(db, "akuttposten"),
        title="Brukerstyrt innleggelse",
        actor_id=amir,
        idea_text="Pasienten bestemmer selv når en kort innleggelse trengs.",
        now=_on("2025-11-10"),
    )
    admission, _ = _plan(
        db,
        admission["id"],
        amir,
        {
            "title": "Brukerstyrt innleggelse",
            "idea_text": "Pasienten bestemmer selv når en kort innleggelse trengs.",
            "need": "«Når jeg kjenner at det går galt, må jeg vente til det er for sent.»",
            "hypothesis": "Tidlige, korte innleggelser forebygger lange.",
            "prediction": "Vi spår færre liggedøgn per måned etter start.",
            "stop_doing": "Vurderingssamtalen hos fastlegen før hver innleggelse.",
            "scope": "Pasienter med avtale om brukerstyrt innleggelse.",
            "citizens_involved": "25",
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "design": "pre_post",
            "baseline": "Liggedøgn per måned fra januar 2024.",
            "planned_n": "12",
            "cadence": "monthly",
        },
        [("inpatient-days", "primary", 10.0)],
        on="2025-11-20",
    )
    pilots.submit(db, admission["id"], amir, now=_at("2025-12-01"))
    pilots.approve(db, admission["id"], ingrid, 1, now=_at("2025-12-08"))
    pilots.change_status(db, admission["id"], "start", amir, now=_on("2026-01-01"))

    visits = pilots.create_pilot(
        db,
        team_id=_team(db, "hjemme-nord"),
        title="Færre uplanlagte besøk i sone nord",
        actor_id=ola,
        idea_text="Brukerne velger selv tidspunkt for faste besøk.",
        now=_on("2026-04-10"),
    )
    visits, _ = _plan(
        db,
        visits["id"],
        ola,
        {
            "title": "Færre uplanlagte besøk i sone nord",
            "idea_text": "Brukerne velger selv tidspunkt for faste besøk.",
            "hypothesis": "Besøk til riktig tid gjør at færre ringer etter hjelp.",
            "prediction": "Vi spår at uplanlagte besøk faller under nedre kontrollgrense.",
            "stop_doing": "Standard besøkstider satt av turplanleggeren.",
            "scope": "Alle brukere i sone nord.",
            "citizens_involved": "35",
            "start_date": "2026-06-01",
            "end_date": "2026-11-30",
            "design": "spc",
            "baseline": "Ukentlige tall fra januar 2026.",
            "cadence": "weekly",
        },
        [("unplanned-visits", "primary", 3.0), ("staff-sick-leave", "balancing", None)],
        on="2026-04-20",
    )
    pilots.submit(db, visits["id"], ola, now=_at("2026-05-01"))
    pilots.approve_due(db, _at("2026-05-16"))
    pilots.change_status(db, visits["id"], "start", ola, now=_on("2026-06-01"))

    nav = pilots.create_pilot(
        db,
        team_id=_team(db, "nav-oppfolging"),
        title="Fast kontaktperson i NAV",
        actor_id=kari,
        idea_text="Én fast kontaktperson i stedet for skiftende veiledere.",
        now=_on("2026-02-10"),
    )
    nav, _ = _plan(
        db,
        nav["id"],
        kari,
        {
            "title": "Fast kontaktperson i NAV",
            "idea_text": "Én fast kontaktperson i stedet for skiftende veiledere.",
            "hypothesis": "Kontinuitet gir tillit, og tillit gir fremdrift.",
            "prediction": "Vi spår 10 prosentpoeng flere i aktivitet enn i nabodistriktet.",
            "stop_doing": "Rotasjon av veiledere hver tredje måned.",
            "scope": "Nye brukere under 30 år.",
            "citizens_involved": "60",
            "start_date": "2026-04-01",
            "end_date": "2026-10-31",
            "design": "did",
            "baseline": "Månedstall fra oktober 2025.",
            "comparison": "Oppfølgingsteamet i nabodistriktet, som fortsetter som før.",
            "cadence": "monthly",
        },
        [("in-activity", "primary", 0.1)],
        on="2026-02-20",
    )
    pilots.submit(db, nav["id"], kari, now=_at("2026-03-01"))
    pilots.approve(db, nav["id"], ingrid, 1, now=_at("2026-03-05"))
    # past its end, no decision: flagged
    pilots.change_status(db, nav["id"], "start", kari, now=_on("2026-04-01"))

    pilots.create_pilot(
        db,
        team_id=_team(db, "bosted-forst"),
        title="Husleiegaranti uten søknad",
        actor_id=kari,
        idea_text="Kommunen stiller garanti automatisk for alle i Bosted først.",
    )

    alarm = pilots.create_pilot(
        db,
        team_id=_team(db, "hjemme-sor"),
        title="Trygghetsalarm med fast svarer",
        actor_id=ola,
        idea_text="Samme hjemmehjelper svarer alarmen på dagtid.",
        now=_on("2026-11-16"),
    )
    _plan(
        db,
        alarm["id"],
        ola,
        {
            "title": "Trygghetsalarm med fast svarer",
            "idea_text": "Samme hjemmehjelper svarer alarmen på dagtid.",
            "hypothesis": "Kjent stemme gir færre gjentatte alarmer.",
            "citizens_involved": "30",
            "start_date": "2027-01-04",
            "end_date": "2027-05-31",
            "design": "spc",
            "baseline": "Ukentlige alarmtall fra 2026.",
            "cadence": "weekly",
        },
        [("unplanned-visits", "primary", 2.0)],
        on="2026-11-18",
    )
    pilots.submit(db, alarm["id"], ola)  # inside the trust limits: counting down

    night = pilots.create_pilot(
        db,
        team_id=_team(db, "akuttposten"),
        title="Likeperson på nattevakt",
        actor_id=amir,
        now=_on("2025-12-20"),
    )
    _plan(
        db,
        night["id"],
        amir,
        {
            "title": "Likeperson på nattevakt",
            "hypothesis": "En likeperson gir ro om natten.",
            "start_date": "2026-02-01",
            "end_date": "2026-07-31",
            "design": "pre_post",
            "baseline": "Månedstall fra 2025.",
            "citizens_involved": "15",
            "cadence": "monthly",
        },
        [("inpatient-days", "primary", 5.0)],
        on="2026-01-05",
    )
    pilots.submit(db, night["id"], amir, now=_at("2026-01-10"))
    pilots.approve(db, night["id"], ingrid, 1, now=_at("2026-01-15"))
    pilots.change_status(db, night["id"], "start", amir, now=_on("2026-02-01"))

    booking = pilots.create_pilot(
        db,
        team_id=_team(db, "hjemme-nord"),
        title="Selvbetjent timebestilling",
        actor_id=ola,
        now=_on("2025-12-15"),
    )
    _plan(
        db,
        booking["id"],
        ola,
        {
            "title": "Selvbetjent timebestilling",
            "hypothesis": "Færre telefoner til kontoret.",
            "start_date": "2026-02-01",
            "end_date": "2026-06-30",
            "design": "spc",
            "baseline": "Ukentlige tall fra 2025.",
            "citizens_involved": "20",
            "cadence": "weekly",
        },
        [("unplanned-visits", "primary", 2.0)],
        on="2025-12-20",
    )
    pilots.submit(db, booking["id"], ola, now=_at("2026-01-05"))
    pilots.approve(db, booking["id"], ingrid, 1, now=_at("2026-01-09"))
    pilots.change_status(
        db,
        booking["id"],
        "stop",
        ola,
        "Brukerne fant ikke fram i løsningen; vi prøver igjen med opplæring.",
        now=_on("2026-03-20"),
    )


def decide(db) -> None:
    """The decisions taken once the data were in (after `demo_observations.load`), so
    each pilot's timeline runs in the order things happened."""
    night = next(db.query("SELECT id FROM pilot WHERE title = 'Likeperson på nattevakt'"))
    pilots.conclude(
        db,
        night["id"],
        _user(db, "amir@fjordvik.example"),
        "adopt",
        "Pasientene sov bedre og ba sjeldnere om skjerming.",
        "Likeperson på alle netter fra 2027.",
        now=_on("2026-08-14"),
    )
