"""Demo stories and ideas for Fjordvik: the citizens' words behind every demo pilot,
and ideas in every state (a draft, waiting, overdue, in dialogue, parked, declined,
accepted), so each page has something true-to-life to show.

`load(db)` runs after the demo people (and, when present, the demo pilots) exist;
it links accepted ideas to demo pilots found by title and works without them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pilots.db import to_utc_text
from pilots.domain import audit, ideas, stories
from pilots.domain import organisation as org

# key: (author e-mail, unit slug, source, title, account, needed, happened, services, tags)
STORIES = {
    "housing": (
        "kari@fjordvik.example",
        "bosted-forst",
        "conversation",
        "Jeg måtte bli rusfri før jeg fikk et sted å bo",
        "Jeg fikk beskjed om at jeg måtte være rusfri i tre måneder før jeg kunne få bolig. "
        "Men hvordan skal jeg bli rusfri når jeg sover på hospits og i trappeoppganger? "
        "Det var som å bli bedt om å lære å svømme før jeg fikk gå i vannet.",
        "Et trygt sted å bo først, så hjelp med resten.",
        "Søknaden om kommunal bolig ble lagt på vent. Jeg ble flyttet mellom tre hospitser.",
        "Sosialtjenesten, NAV, rusomsorgen",
        "bolig, rus, venting",
    ),
    "housing2": (
        "kari@fjordvik.example",
        "bosted-forst",
        "user_council",
        "Boligtilbudet kom, men ingen fulgte opp",
        "Da jeg endelig fikk et boligtilbud, sto jeg alene med nøkkelen. Ingen kom innom. "
        "Etter to måneder mistet jeg leiligheten igjen.",
        "Noen som kommer hjem til meg de første ukene.",
        "Boligen ble tildelt uten oppfølging; husleien ble ikke betalt.",
        "Boligkontoret, sosialtjenesten",
        "bolig, oppfølging",
    ),
    "admission": (
        "amir@fjordvik.example",
        "akuttposten",
        "conversation",
        "Jeg vet selv når jeg trenger noen dager inne",
        "Når jeg kjenner at det begynner å gå galt, må jeg først gjennom legevakt og "
        "henvisning. Da er det ofte for sent. Hvis jeg kunne ringe posten selv og få "
        "komme inn noen døgn, ville jeg unngått de lange innleggelsene.",
        "Å kunne legge meg inn selv, tidlig, for noen få døgn.",
        "Tre tvangsinnleggelser i fjor, alle etter uker der det gikk nedover.",
        "Akuttposten, legevakten, fastlegen",
        "psykisk helse, selvbestemmelse, innleggelse",
    ),
    "homecare": (
        "ola@fjordvik.example",
        "hjemme-nord",
        "complaint",
        "Nye ansikter hver dag, og ingen visste at jeg hadde falt",
        "Det kommer en ny person nesten hver dag. Forrige uke falt jeg på badet, og den som "
        "kom dagen etter visste ikke om det. Jeg ringte alarmen fire ganger den uka.",
        "Å kjenne de som kommer, og at de vet hvordan jeg har det.",
        "Mange uplanlagte besøk etter alarmer; ingen fast kontakt.",
        "Hjemmetjenesten, trygghetsalarmen",
        "hjemmetjenester, kontinuitet, trygghet",
    ),
    "nav": (
        "ingrid@fjordvik.example",
        "nav-oppfolging",
        "leader_gathering",
        "Jeg har fortalt historien min til sju veiledere",
        "Hver gang jeg kommer til NAV, er det en ny veileder. Jeg må begynne på nytt hver "
        "gang, og det tar en halv time før vi kan snakke om det som er viktig.",
        "Én person som kjenner saken.",
        "Sju veiledere på to år.",
        "NAV",
        "kontinuitet, arbeid, venting",
    ),
    "night": (
        "amir@fjordvik.example",
        "akuttposten",
        "survey",
        "Om natten er det ingen å snakke med",
        "Det verste er nettene. Personalet er opptatt, og jeg ligger og tenker. "
        "Noen som selv har vært innlagt kunne ha sittet med meg litt.",
        "Noen å snakke med om natten.",
        "Ba om sovemedisin tre netter på rad.",
        "Akuttposten",
        "psykisk helse, ensomhet, natt",
    ),
    "school": (
        "per@fjordvik.example",
        "helsesykepleiere",
        "conversation",
        "Døra til helsesykepleier er stengt når jeg trenger den",
        "Helsesykepleieren er på skolen bare tirsdager. Det er ikke tirsdag når ting skjer.",
        "Å kunne snakke med noen samme dag.",
        "Ventet en uke på en samtale.",
        "Skolehelsetjenesten",
        "ungdom, tilgjengelighet, venting",
    ),
    "withdrawn": (
        "ola@fjordvik.example",
        "hjemme-sor",
        "conversation",
        "Trukket",
        "Denne historien blir trukket tilbake i demoen.",
        "",
        "",
        "",
        "",
    ),
}

# key: (author, unit slug, stories, title, need, whose_need, proposal, stop_doing, benefit,
#       risks, co-creators, tags, state, pilot title or None)
IDEAS = [
    (
        "kari@fjordvik.example",
        "bosted-forst",
        ["housing", "housing2"],
        "Bolig først, så resten",
        "Et trygt sted å bo, uten krav om å være rusfri først.",
        "Bostedsløse med rusproblemer",
        "Tilby en vanlig leilighet straks, med oppfølging hjemme.",
        "Kravet om tre måneders rusfrihet; trappetrinnsmodellen.",
        "Ro til å ta tak i rus og helse når man har et hjem.",
        "Naboklager; husleierestanser.",
        "To erfaringskonsulenter fra brukerrådet",
        "bolig, rus",
        "accepted",
        "Bosted først for ti personer",
    ),
    (
        "amir@fjordvik.example",
        "akuttposten",
        ["admission"],
        "Brukerstyrt innleggelse",
        "Å komme inn tidlig, før krisen, uten henvisning.",
        "Pasienter med lange forløp i psykisk helsevern",
        "Pasienten får avtale om å legge seg inn selv, inntil fem døgn.",
        "Henvisning fra legevakt for kjente pasienter.",
        "Færre tvangsinnleggelser, mer kontroll.",
        "Sengene kan bli fulle.",
        "Brukerrådet ved posten",
        "psykisk helse, selvbestemmelse",
        "accepted",
        "Brukerstyrt innleggelse",
    ),
    (
        "ola@fjordvik.example",
        "hjemme-nord",
        ["homecare"],
        "Fast team rundt hver bruker",
        "Å kjenne de som kommer.",
        "Eldre med hjemmetjenester",
        "Små faste team på fire-fem ansatte per bruker, som selv planlegger besøkene.",
        "Detaljerte vedtak på minutter per besøk.",
        "Trygghet og færre alarmer.",
        "Sårbart ved sykdom i teamet.",
        "Eldrerådet",
        "hjemmetjenester, kontinuitet",
        "accepted",
        "Færre uplanlagte besøk i sone nord",
    ),
    (
        "ingrid@fjordvik.example",
        "nav-oppfolging",
        ["nav"],
        "Én fast kontaktperson i NAV",
        "Å slippe å fortelle historien på nytt.",
        "Langtidsledige",
        "Hver bruker får én fast veileder gjennom hele løpet; et nabodistrikt sammenlignes.",
        "Rotasjon av saker mellom veiledere.",
        "Mindre tid på å starte på nytt.",
        "Skjev arbeidsmengde.",
        "",
        "kontinuitet, arbeid",
        "accepted",
        "Fast kontaktperson i NAV",
    ),
    (
        "amir@fjordvik.example",
        "akuttposten",
        ["night"],
        "Likeperson på nattevakt",
        "Noen å snakke med om natten.",
        "Innlagte på akuttposten",
        "En likeperson med egen erfaring er på jobb om natten.",
        "Rutinemessig tilbud om sovemedisin.",
        "Roligere netter.",
        "Belastning for likepersonen.",
        "Mental Helse lokallag",
        "psykisk helse, natt",
        "accepted",
        "Likeperson på nattevakt",
    ),
    (
        "ola@fjordvik.example",
        "hjemme-sor",
        ["homecare"],
        "Den som svarer på alarmen, kjenner meg",
        "Å bli møtt av noen som kjenner meg når jeg trykker på alarmen.",
        "Eldre med trygghetsalarm",
        "Alarmene i sone sør besvares av et fast team som kjenner brukerne.",
        "Sentral alarmmottak for alle soner.",
        "Tryggere svar, færre utrykninger.",
        "Sårbart om natten.",
        "Eldrerådet",
        "trygghet, kontinuitet",
        "accepted",
        "Trygghetsalarm med fast svarer",
    ),
    (
        "kari@fjordvik.example",
        "bosted-forst",
        ["housing2"],
        "Kommunen garanterer for husleien",
        "Å få leie uten depositum.",
        "Bostedsløse som finner en privat bolig",
        "Kommunen stiller husleiegaranti uten søknad når teamet anbefaler det.",
        "Søknadsskjemaet og vedtaket om garanti.",
        "Raskere inn i egen bolig.",
        "Tap på garantier.",
        "",
        "bolig, økonomi",
        "accepted",
        "Husleiegaranti uten søknad",
    ),
    (
        "ola@fjordvik.example",
        "hjemme-nord",
        ["homecare"],
        "Bestill tiden selv",
        "Å slippe å ringe kontoret for å flytte et besøk.",
        "Brukere av hjemmesykepleien",
        "Brukere og pårørende bestiller og flytter besøk selv på nett.",
        "Telefontiden på kontoret.",
        "Mindre venting i telefonen.",
        "Digitalt utenforskap.",
        "",
        "hjemmetjenester, selvbestemmelse",
        "accepted",
        "Selvbetjent timebestilling",
    ),
    (
        "kari@fjordvik.example",
        "bosted-forst",
        ["housing2"],
        "Husleie trukket automatisk",
        "Å ikke miste boligen på grunn av glemt husleie.",
        "Nye leietakere",
        "Husleien trekkes fra ytelsen før utbetaling, hvis leietakeren vil.",
        "",
        "Færre utkastelser.",
        "Kan oppleves som umyndiggjøring.",
        "",
        "bolig, økonomi",
        "draft",
        None,
    ),
    (
        "ola@fjordvik.example",
        "hjemme-sor",
        [],
        "Brukeren velger tidspunkt selv",
        "Besøk når det passer meg.",
        "Hjemmeboende eldre",
        "Brukeren får velge tidsvindu for morgenbesøket.",
        "Faste kjøreruter lagt av kontoret.",
        "Mer selvbestemmelse.",
        "Vanskeligere planlegging.",
        "",
        "hjemmetjenester, selvbestemmelse",
        "proposed",
        None,
    ),
    (
        "ola@fjordvik.example",
        "hjemme-nord",
        ["homecare"],
        "Dropp den ukentlige rapporten",
        "Mer tid hos brukerne.",
        "Ansatte og brukere i hjemmetjenesten",
        "Slutt med den ukentlige rapporten om besøkstider; bruk tiden hos brukerne.",
        "Ukerapporten om besøkstider.",
        "Mer tid hos brukerne.",
        "Ledelsen mister oversikt.",
        "",
        "hjemmetjenester, rapportering",
        "overdue",
        None,
    ),
    (
        "kari@fjordvik.example",
        "bosted-forst",
        ["housing"],
        "Nøkkel samme dag",
        "Å slippe hospits.",
        "Bostedsløse",
        "Nøkkel til en leilighet samme dag som man søker.",
        "Venteliste.",
        "Ingen netter ute.",
        "Få ledige boliger.",
        "",
        "bolig, venting",
        "overdue",
        None,
    ),
    (
        "amir@fjordvik.example",
        "akuttposten",
        ["admission"],
        "Pasientene skriver sin egen plan",
        "Å bli hørt om egen behandling.",
        "Innlagte pasienter",
        "Pasienten skriver selv kriseplanen, med hjelp.",
        "Standardskjemaet for kriseplan.",
        "Planer som faktisk brukes.",
        "Ujevn kvalitet.",
        "",
        "psykisk helse",
        "dialogue",
        None,
    ),
    (
        "per@fjordvik.example",
        "helsesykepleiere",
        ["school"],
        "Helsesykepleier på chat",
        "Å nå noen samme dag.",
        "Elever på ungdomsskolen",
        "Anonym chat med helsesykepleier hver skoledag.",
        "",
        "Raskere hjelp.",
        "Personvern.",
        "Elevrådet",
        "ungdom, tilgjengelighet",
        "parked",
        None,
    ),
    (
        "ola@fjordvik.example",
        "hjemme-sor",
        [],
        "Gratis taxi til alle avtaler",
        "Å komme seg til legen.",
        "Eldre uten bil",
        "Kommunen betaler taxi til alle avtaler.",
        "",
        "Færre uteblitte timer.",
        "Kostnad.",
        "",
        "transport",
        "declined",
        None,
    ),
]

ANSWER_TEXT = {
    "dialogue": "Spennende. La oss ta et møte med posten og brukerrådet før vi bestemmer oss.",
    "parked": "Vi venter på ny personvernvurdering for chat i skolehelsetjenesten.",
    "declined": (
        "For dyrt slik det er foreslått; se heller på pasientreiser og frivillige sjåfører."
    ),
}


def _ago(now: datetime, days: int) -> str:
    return to_utc_text(now - timedelta(days=days))


def load(db, now: datetime | None = None) -> None:
    """Add the demo stories and ideas; link accepted ideas to demo pilots by title."""
    now = now or datetime.now(UTC)
    people = {row["email"]: row["id"] for row in db.query("SELECT id, email FROM users")}
    ingrid, per = people["ingrid@fjordvik.example"], people["per@fjordvik.example"]
    with db.atomic():
        story_ids = {}
        for key, (
            email,
            slug,
            source,
            title,
            account,
            needed,
            happened,
            services,
            tags,
        ) in STORIES.items():
            story = stories.create_story(
                db,
                actor_id=people[email],
                unit_id=org.unit_by_slug(db, slug)["id"],
                title=title,
                account=account,
                needed=needed,
                happened=happened,
                services=services,
                source=source,
                consent_how="oral" if source == "conversation" else "written",
                consent_on=(now - timedelta(days=70)).date().isoformat(),
                tags=tags,
                now=_ago(now, 65),
            )
            story_ids[key] = story["id"]
        stories.withdraw_story(db, story_ids["withdrawn"], people["ola@fjordvik.example"])
        for (
            email,
            slug,
            keys,
            title,
            need,
            whose,
            proposal,
            stop,
            benefit,
            risks,
            co,
            tags,
            state,
            pilot_title,
        ) in IDEAS:
            author = people[email]
            created = _ago(now, 60 if state in ("overdue", "accepted") else 20)
            idea = ideas.create_idea(
                db,
                actor_id=author,
                unit_id=org.unit_by_slug(db, slug)["id"],
                story_ids=[story_ids[k] for k in keys],
                title=title,
                need=need,
                whose_need=whose,
                proposal=proposal,
                stop_doing=stop,
                benefit=benefit,
                risks=risks,
                co_creators=co,
                tags=tags,
                names_confirmed=True,
                now=created,
            )
            if state == "draft":
                continue
            ideas.propose_idea(db, idea["id"], author, now=created)
            for supporter in ("ola@fjordvik.example", "amir@fjordvik.example"):
                if people[supporter] != author:
                    ideas.set_support(db, idea["id"], people[supporter], True, now=created)
            leader = per if slug == "helsesykepleiere" else ingrid
            answered = _ago(now, 45)
            if state in ("dialogue", "parked", "declined"):
                ideas.answer_idea(
                    db,
                    idea["id"],
                    actor_id=leader,
                    kind=state,
                    reason=ANSWER_TEXT[state],
                    look_again_on=(now + timedelta(days=60)).date().isoformat(),
                    now=answered,
                )
            elif state == "accepted":
                _accept_into_existing_pilot(db, idea["id"], pilot_title, leader, answered)
        ideas.add_comment(
            db,
            next(
                r["id"]
                for r in db.query("SELECT id FROM idea WHERE title = 'Bolig først, så resten'")
            ),
            people["ola@fjordvik.example"],
            "Vi ser det samme i hjemmetjenesten: de som har et hjem, klarer mer.",
            now=_ago(now, 55),
        )
        stories.pick_of_the_week(
            db,
            story_ids["housing"],
            org.unit_by_slug(db, "helse-velferd")["id"],
            ingrid,
            "Hva krever vi av folk før de får hjelp?",
            now=to_utc_text(now),
        )


def _accept_into_existing_pilot(db, idea_id, pilot_title, leader_id, at) -> None:
    """Mark the idea accepted and link it to the demo pilot of that title, if there is one
    (the demo pilots were made before their ideas; a real acceptance makes the pilot)."""
    pilot = next(db.query("SELECT id FROM pilot WHERE title = ?", [pilot_title]), None)
    pilot_id = pilot["id"] if pilot else None
    db.execute(
        """UPDATE idea SET status = 'accepted', answered_at = ?, answered_by = ?, pilot_id = ?,
               answer_reason = '', updated_at = ? WHERE id = ?""",
        [at, leader_id, pilot_id, at, idea_id],
    )
    db["idea_answer"].insert(
        {
            "idea_id": idea_id,
            "kind": "accepted",
            "reason": "",
            "pilot_id": pilot_id,
            "answered_by": leader_id,
            "answered_at": at,
        }
    )
    if pilot_id:
        db.execute("UPDATE pilot SET idea_id = ? WHERE id = ?", [idea_id, pilot_id])
    audit.record(
        db,
        actor_id=leader_id,
        actor_role="leader",
        action="idea.answer",
        object_type="idea",
        object_id=idea_id,
        before={"status": "proposed"},
        after={"status": "accepted", "pilot_id": pilot_id},
        at=at,
    )
