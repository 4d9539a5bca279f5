"""Citizen stories: what a citizen told us, in their own words, de-identified.

Stories are where the product starts (DESIGN.md, step 3): they are read by the whole
organisation, leaders included, and they are the evidence ideas point to. Every
text passes the personal-data guard before it is saved. Consent is recorded (how
and when) and can be withdrawn: the story's content is then erased, and everything
that links to it says that it was withdrawn. Audit events therefore hold only a
story's metadata, never its text, so a withdrawal really removes it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from pilots.db import utc_now
from pilots.domain import DomainError, NotFound, audit, personal_data
from pilots.domain.organisation import unit_and_below

SOURCES = ("conversation", "user_council", "complaint", "leader_gathering", "survey")
CONSENT_HOW = ("oral", "written", "digital")
TEXT_FIELDS = ("title", "account", "needed", "happened", "services", "tags")
LIMITS = {"title": 200, "account": 10000, "needed": 4000, "happened": 4000, "services": 1000}
MAX_TAGS = 12


# ---- small readers -----------------------------------------------------------


def parse_day(text: str, field: str) -> str:
    """`YYYY-MM-DD` or `DD.MM.YYYY` as ISO text; an impossible date is an error."""
    text = (text or "").strip()
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    raise DomainError("Give a date as DD.MM.YYYY, for example 03.02.2026.", field)


def parse_tags(text) -> list[str]:
    """Need tags from a comma-separated text or a list: lower-case, unique, in order."""
    items = text if isinstance(text, list | tuple) else re.split(r"[,;\n]", text or "")
    tags = []
    for item in items:
        tag = " ".join(str(item).split()).casefold()[:40]
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise DomainError("Use at most %(n)s tags.", "tags", n=MAX_TAGS)
    return tags


def today_of(now: str | None) -> date:
    return date.fromisoformat((now or utc_now())[:10])


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def leader_units(db, user_id: int) -> set[int]:
    """Every unit a person leads, directly or beneath a unit they lead."""
    reach: set[int] = set()
    for row in db.query(
        "SELECT unit_id FROM role WHERE user_id = ? AND role = 'leader'", [user_id]
    ):
        reach.update(unit_and_below(db, row["unit_id"]))
    return reach


def author_units(db, user_id: int) -> set[int]:
    """Units a person may record stories and ideas for: their teams and what they lead."""
    teams = {
        row["unit_id"]
        for row in db.query(
            "SELECT unit_id FROM role WHERE user_id = ? AND role = 'frontline'", [user_id]
        )
    }
    return teams | leader_units(db, user_id)


def unit_choices(db, user_id: int) -> list[dict]:
    ids = author_units(db, user_id)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return list(
        db.query(f"SELECT id, name, kind FROM unit WHERE id IN ({marks}) ORDER BY name", list(ids))  # noqa: S608
    )


# ---- stories -----------------------------------------------------------------


def _clean(values: dict) -> dict:
    story = {name: str(values.get(name) or "").strip() for name in LIMITS}
    if not story["title"]:
        raise DomainError("Give the story a short title.", "title")
    if not story["account"]:
        raise DomainError("Write the citizen's account, in their own words.", "account")
    for name, limit in LIMITS.items():
        if len(story[name]) > limit:
            raise DomainError("At most %(n)s characters here.", name, n=limit)
    if values.get("source") not in SOURCES:
        raise DomainError("Choose where the story was heard.", "source")
    if values.get("consent_how") not in CONSENT_HOW:
        raise DomainError("Record how the citizen gave consent.", "consent_how")
    story["source"] = values["source"]
    story["consent_how"] = values["consent_how"]
    return story


def create_story(
    db,
    *,
    actor_id: int,
    unit_id,
    names_confirmed: bool = False,
    now: str | None = None,
    **values,
) -> dict:
    """Record a citizen's story, after the personal-data guard has read every text."""
    story = _clean(values)
    consent_on = parse_day(values.get("consent_on", ""), "consent_on")
    if consent_on > today_of(now).isoformat():
        raise DomainError("Consent cannot be given in the future.", "consent_on")
    tags = parse_tags(values.get("tags"))
    try:
        unit_id = int(unit_id)
    except (TypeError, ValueError):
        raise DomainError("Choose the unit that heard the story.", "unit_id") from None
    personal_data.check({**{k: story[k] for k in LIMITS}, "tags": ", ".join(tags)}, names_confirmed)
    at = now or utc_now()
    with db.atomic():
        if unit_id not in author_units(db, actor_id):
            raise DomainError("You can record stories for your own teams and units.", "unit_id")
        row = {
            **story,
            "consent_on": consent_on,
            "tags": ", ".join(tags),
            "unit_id": unit_id,
            "created_by": actor_id,
            "created_at": at,
            "updated_at": at,
        }
        story_id = db["story"].insert(row).last_pk
        for tag in tags:
            db["story_tag"].insert({"story_id": story_id, "tag": tag})
        audit.record(
            db,
            actor_id=actor_id,
            action="story.create",
            object_type="story",
            object_id=story_id,
            # Metadata only: a withdrawal must be able to remove the story's words.
            after={"unit_id": unit_id, "source": story["source"], "consent": story["consent_how"]},
            at=at,
        )
    return get_story(db, story_id)


def get_story(db, story_id: int) -> dict:
    row = next(
        db.query(
            """SELECT s.*, u.name AS unit_name, p.name AS author_name
               FROM story s JOIN unit u ON u.id = s.unit_id
               JOIN users p ON p.id = s.created_by WHERE s.id = ?""",
            [story_id],
        ),
        None,
    )
    if row is None:
        raise NotFound(f"No story {story_id}")
    row["tag_list"] = [t for t in row["tags"].split(", ") if t]
    row["withdrawn"] = row["withdrawn_at"] is not None
    return row


def may_withdraw(db, story: dict, user_id: int) -> bool:
    return story["created_by"] == user_id or story["unit_id"] in leader_units(db, user_id)


def withdraw_story(db, story_id: int, actor_id: int, now: str | None = None) -> dict:
    """The citizen withdrew consent: erase the story's words; links say it is withdrawn."""
    at = now or utc_now()
    with db.atomic():
        story = get_story(db, story_id)
        if story["withdrawn"]:
            raise DomainError("This story is already withdrawn.", "story")
        if not may_withdraw(db, story, actor_id):
            raise DomainError(
                "Only the person who recorded the story, or a leader of its unit, can withdraw it.",
                "story",
            )
        db.execute(
            """UPDATE story SET title = '', account = '', needed = '', happened = '',
                   services = '', tags = '', withdrawn_at = ?, withdrawn_by = ?,
                   updated_at = ? WHERE id = ?""",
            [at, actor_id, at, story_id],
        )
        db.execute("DELETE FROM story_tag WHERE story_id = ?", [story_id])
        audit.record(
            db,
            actor_id=actor_id,
            action="story.withdraw",
            object_type="story",
            object_id=story_id,
            after={"withdrawn_at": at},
            reason="consent withdrawn",
            at=at,
        )
    return get_story(db, story_id)


# ---- search ------------------------------------------------------------------


def fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query: every word as a quoted prefix, all required.

    Quoting makes FTS5 syntax in the input harmless; the prefix `*` lets "bolig"
    find the Norwegian compound "boligtilbud".
    """
    words = re.findall(r"\w+", text or "")
    return " ".join(f'"{word}"*' for word in words[:12]) or None


def search_stories(
    db,
    query: str = "",
    *,
    unit_id: int | None = None,
    tag: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """Stories matching the words, unit (and beneath) and need tag; newest first."""
    where, params = ["s.withdrawn_at IS NULL"], []
    match = fts_query(query)
    if match:
        where.append("s.id IN (SELECT rowid FROM story_fts WHERE story_fts MATCH ?)")
        params.append(match)
    if unit_id:
        ids = unit_and_below(db, unit_id)
        where.append(f"s.unit_id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    if tag:
        where.append("s.id IN (SELECT story_id FROM story_tag WHERE tag = ?)")
        params.append(tag.casefold())
    clause = " AND ".join(where)
    total = next(db.query(f"SELECT count(*) AS n FROM story s WHERE {clause}", params))["n"]  # noqa: S608
    rows = list(
        db.query(
            f"""SELECT s.*, u.name AS unit_name,
                   (SELECT count(*) FROM idea_story i JOIN idea d ON d.id = i.idea_id
                    WHERE i.story_id = s.id AND d.status != 'draft') AS idea_count
                FROM story s JOIN unit u ON u.id = s.unit_id
                WHERE {clause} ORDER BY s.created_at DESC, s.id DESC LIMIT ? OFFSET ?""",  # noqa: S608
            [*params, limit, offset],
        )
    )
    for row in rows:
        row["tag_list"] = [t for t in row["tags"].split(", ") if t]
    return rows, total


def all_tags(db, table: str = "story_tag") -> list[str]:
    if table not in ("story_tag", "idea_tag"):
        raise ValueError(table)
    return [r["tag"] for r in db.query(f"SELECT DISTINCT tag FROM {table} ORDER BY tag")]  # noqa: S608


# ---- what became of it -------------------------------------------------------


def trace(db, story_id: int, viewer_id: int) -> list[dict]:
    """The ideas this story is evidence for (drafts only for their authors), with
    each idea's answer and pilot: status and, when concluded, decision and lesson."""
    ideas = list(
        db.query(
            """SELECT d.id, d.title, d.status, d.answer_reason, d.answered_at,
                      d.look_again_on, d.pilot_id
               FROM idea_story i JOIN idea d ON d.id = i.idea_id
               WHERE i.story_id = ? AND (d.status != 'draft' OR EXISTS (
                   SELECT 1 FROM idea_author a WHERE a.idea_id = d.id AND a.user_id = ?))
               ORDER BY d.id""",
            [story_id, viewer_id],
        )
    )
    for idea in ideas:
        idea["pilots"] = pilots_of_idea(db, idea["id"])
    return ideas


def pilots_of_idea(db, idea_id: int) -> list[dict]:
    return list(
        db.query(
            """SELECT p.id, p.title, p.status, p.decision, p.learned, u.name AS team_name
               FROM pilot p JOIN unit u ON u.id = p.team_id
               WHERE p.idea_id = ? ORDER BY p.id""",
            [idea_id],
        )
    )


# ---- story of the week -------------------------------------------------------


def pick_of_the_week(
    db, story_id: int, unit_id, actor_id: int, note: str = "", now: str | None = None
) -> dict:
    """A leader brings a story into the room: this week's story for their unit."""
    note = (note or "").strip()[:500]
    personal_data.check({"note": note}, names_confirmed=False)
    at = now or utc_now()
    week = iso_week(today_of(at))
    try:
        unit_id = int(unit_id)
    except (TypeError, ValueError):
        raise DomainError("Choose the unit whose story of the week this is.", "unit_id") from None
    with db.atomic():
        story = get_story(db, story_id)
        if story["withdrawn"]:
            raise DomainError("A withdrawn story cannot be the story of the week.", "story")
        direct = {
            r["unit_id"]
            for r in db.query(
                "SELECT unit_id FROM role WHERE user_id = ? AND role = 'leader'", [actor_id]
            )
        }
        if unit_id not in direct:
            raise DomainError("Choose a unit you lead.", "unit_id")
        before = next(
            db.query(
                "SELECT story_id FROM story_pick WHERE unit_id = ? AND week = ?", [unit_id, week]
            ),
            None,
        )
        db.execute("DELETE FROM story_pick WHERE unit_id = ? AND week = ?", [unit_id, week])
        row = {
            "story_id": story_id,
            "unit_id": unit_id,
            "week": week,
            "note": note,
            "chosen_by": actor_id,
            "chosen_at": at,
        }
        row["id"] = db["story_pick"].insert(row).last_pk
        audit.record(
            db,
            actor_id=actor_id,
            action="story.pick_of_week",
            object_type="story",
            object_id=story_id,
            before=before,
            after={"unit_id": unit_id, "week": week},
            at=at,
        )
    return row


def stories_of_the_week(db, user_id: int, now: str | None = None) -> list[dict]:
    """This week's picks for the units a leader leads or sits beneath, newest first;
    if none this week, the latest earlier pick, so the page is never empty for long."""
    direct = [
        r["unit_id"]
        for r in db.query(
            "SELECT unit_id FROM role WHERE user_id = ? AND role = 'leader'", [user_id]
        )
    ]
    if not direct:
        return []
    # A leader sees picks made for their own units and for the units above them.
    above: set[int] = set()
    for unit_id in direct:
        for row in db.query(
            """WITH RECURSIVE up(id, parent_id) AS (
                   SELECT id, parent_id FROM unit WHERE id = ?
                   UNION ALL SELECT u.id, u.parent_id FROM unit u JOIN up ON u.id = up.parent_id
               ) SELECT id FROM up""",
            [unit_id],
        ):
            above.add(row["id"])
    marks = ",".join("?" * len(above))
    picks = list(
        db.query(
            f"""SELECT k.*, u.name AS unit_name, p.name AS chosen_by_name
                FROM story_pick k JOIN unit u ON u.id = k.unit_id
                JOIN users p ON p.id = k.chosen_by
                WHERE k.unit_id IN ({marks}) ORDER BY k.week DESC, k.chosen_at DESC""",  # noqa: S608
            list(above),
        )
    )
    week = iso_week(today_of(now))
    current = [p for p in picks if p["week"] == week] or picks[:1]
    for pick in current:
        pick["story"] = get_story(db, pick["story_id"])
        pick["current"] = pick["week"] == week
    return current


def add_days(day: date, days: int) -> str:
    return (day + timedelta(days=days)).isoformat()
