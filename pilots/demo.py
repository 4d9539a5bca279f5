"""Demo data: a believable, fictional Norwegian municipality to try the app in.

Fjordvik kommune has a Housing First team in social services, a psychiatric ward
that offers self-chosen admission, home care, a NAV office and a school health
service, and a demo person for every role. Later areas add their own demo data
here (stories, ideas, pilots, observations).
"""

from __future__ import annotations

from pilots import demo_observations, demo_pilots, demo_stories
from pilots.domain import accounts
from pilots.domain import organisation as org

DEMO_PASSWORD = "pilot-demo-2026"

# (name, slug, parent slug)
UNITS = [
    ("Fjordvik kommune", "fjordvik", None),
    ("Helse og velferd", "helse-velferd", "fjordvik"),
    ("Oppvekst", "oppvekst", "fjordvik"),
    ("Sosialtjenesten", "sosialtjenesten", "helse-velferd"),
    ("Bosted først-teamet", "bosted-forst", "sosialtjenesten"),
    ("Psykisk helse og rus", "psykisk-helse", "helse-velferd"),
    ("Akuttposten, brukerstyrt innleggelse", "akuttposten", "psykisk-helse"),
    ("Hjemmetjenesten", "hjemmetjenesten", "helse-velferd"),
    ("Hjemmetjenesten sone nord", "hjemme-nord", "hjemmetjenesten"),
    ("Hjemmetjenesten sone sør", "hjemme-sor", "hjemmetjenesten"),
    ("NAV Fjordvik", "nav-fjordvik", "helse-velferd"),
    ("Oppfølgingsteamet NAV", "nav-oppfolging", "nav-fjordvik"),
    ("Skolehelsetjenesten", "skolehelse", "oppvekst"),
    ("Helsesykepleierne Fjordvik skole", "helsesykepleiere", "skolehelse"),
]

# (e-mail, name, roles, what the demo person is for)
PEOPLE = [
    ("kari@fjordvik.example", "Kari Nordmann", ["frontline:bosted-forst"], "frontline"),
    (
        "ola@fjordvik.example",
        "Ola Haugen",
        ["frontline:hjemme-nord", "frontline:hjemme-sor"],
        "frontline",
    ),
    ("amir@fjordvik.example", "Amir Rahimi", ["frontline:akuttposten"], "frontline"),
    ("ingrid@fjordvik.example", "Ingrid Solberg", ["leader:helse-velferd"], "leader"),
    ("per@fjordvik.example", "Per Dahl", ["leader:oppvekst"], "leader"),
    ("jonas@fjordvik.example", "Jonas Berg", ["analyst"], "analyst"),
    ("sara@fjordvik.example", "Sara Lie", ["case_handler"], "case handler"),
    ("admin@fjordvik.example", "Åse Admin", ["admin"], "admin"),
]


def is_empty(db) -> bool:
    return not db["unit"].exists() or db["unit"].count == 0


def load(db) -> list[dict]:
    """Fill an empty database with the demo municipality; return the demo logins."""
    # One hash for all demo people: argon2 is deliberately slow.
    password_hash = accounts.hash_password(DEMO_PASSWORD)
    with db.atomic():
        for name, slug, parent in UNITS:
            org.create_unit(db, name, slug, parent)
        for email, name, roles, _purpose in PEOPLE:
            org.create_user(
                db, email, name, password_hash, roles=[org.parse_role(r) for r in roles]
            )
        demo_pilots.load(db)
        demo_observations.load(db)
        demo_pilots.decide(db)
        demo_stories.load(db)
    return logins()


def logins() -> list[dict]:
    """The demo logins, to print again at every `make run`."""
    return [
        {"email": email, "name": name, "role": purpose, "password": DEMO_PASSWORD}
        for email, name, _roles, purpose in PEOPLE
    ]
