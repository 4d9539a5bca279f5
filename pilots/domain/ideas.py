"""Ideas: proposals grounded in citizens' stories, and the obligation to answer them.

An idea starts as a draft that only its authors see (others get "not found", even
by guessing its id). Proposed, the whole organisation can read, support, comment
on and follow it, and a leader of its unit (or above) must answer within the
unit's deadline (30 days unless the unit sets another): in dialogue, accepted for
a pilot (which creates the pilot draft, linked to the idea and so to its stories),
parked with a reason and a date to look again, or declined with a reason that the
proposer and supporters see. This is DESIGN.md's step 2, an upward channel that
is actually answered.
"""

from __future__ import annotations

from datetime import date, timedelta

from pilots.db import utc_now
from pilots.domain import DomainError, NotFound, audit, notifications, personal_data
from pilots.domain import organisation as org
from pilots.domain.stories import (
    author_units,
    leader_units,
    parse_day,
    parse_tags,
    today_of,
)

STATUSES = ("draft", "proposed", "dialogue", "accepted", "parked", "declined")
ANSWERS = ("dialogue", "accepted", "parked", "declined")
# Answered ideas no longer wait for a leader; "dialogue" counts as an answer.
OPEN = ("proposed",)
LIMITS = {
    "title": 200,
    "need": 4000,
    "whose_need": 1000,
    "proposal": 6000,
    "stop_doing": 4000,
    "benefit": 4000,
    "risks": 4000,
    "co_creators": 1000,
}
GUARDED = (*LIMITS, "tags")


# ---- reading -----------------------------------------------------------------


def is_author(db, idea_id: int, user_id: int) -> bool:
    return bool(
        next(
            db.query(
                "SELECT 1 FROM idea_author WHERE idea_id = ? AND user_id = ?", [idea_id, user_id]
            ),
            None,
        )
    )


def get_idea(db, idea_id: int, viewer_id: int | None) -> dict:
    """The idea as `viewer_id` may see it; a draft is NotFound to all but its authors."""
    row = next(
        db.query(
            """SELECT d.*, u.name AS unit_name, u.answer_days, p.name AS author_name,
                      a.name AS answered_by_name
               FROM idea d JOIN unit u ON u.id = d.unit_id
               JOIN users p ON p.id = d.created_by
               LEFT JOIN users a ON a.id = d.answered_by WHERE d.id = ?""",
            [idea_id],
        ),
        None,
    )
    if row is None or (row["status"] == "draft" and not is_author(db, idea_id, viewer_id)):
        raise NotFound(f"No idea {idea_id}")
    row["tag_list"] = [t for t in row["tags"].split(", ") if t]
    row["authors"] = list(
        db.query(
            """SELECT u.id, u.name, u.email FROM idea_author a JOIN users u ON u.id = a.user_id
               WHERE a.idea_id = ? ORDER BY u.id = ? DESC, u.name""",
            [idea_id, row["created_by"]],
        )
    )
    row["stories"] = list(
        db.query(
            """SELECT s.id, s.title, s.withdrawn_at, u.name AS unit_name
               FROM idea_story i JOIN story s ON s.id = i.story_id
               JOIN unit u ON u.id = s.unit_id WHERE i.idea_id = ? ORDER BY s.id""",
            [idea_id],
        )
    )
    row["support_count"] = _count(db, "idea_support", idea_id)
    row["follow_count"] = _count(db, "idea_follow", idea_id)
    return row


def _count(db, table: str, idea_id: int) -> int:
    if table not in ("idea_support", "idea_follow"):
        raise ValueError(table)
    sql = f"SELECT count(*) AS n FROM {table} WHERE idea_id = ?"  # noqa: S608
    return next(db.query(sql, [idea_id]))["n"]


def has(db, table: str, idea_id: int, user_id: int) -> bool:
    if table not in ("idea_support", "idea_follow"):
        raise ValueError(table)
    sql = f"SELECT 1 FROM {table} WHERE idea_id = ? AND user_id = ?"  # noqa: S608
    return bool(next(db.query(sql, [idea_id, user_id]), None))


def supporters(db, idea_id: int) -> list[dict]:
    return list(
        db.query(
            """SELECT u.id, u.name FROM idea_support s JOIN users u ON u.id = s.user_id
               WHERE s.idea_id = ? ORDER BY s.created_at""",
            [idea_id],
        )
    )


def comments(db, idea_id: int) -> list[dict]:
    return list(
        db.query(
            """SELECT c.*, u.name AS author_name FROM idea_comment c
               JOIN users u ON u.id = c.user_id WHERE c.idea_id = ? ORDER BY c.id""",
            [idea_id],
        )
    )


def answers(db, idea_id: int) -> list[dict]:
    return list(
        db.query(
            """SELECT a.*, u.name AS answered_by_name FROM idea_answer a
               JOIN users u ON u.id = a.answered_by WHERE a.idea_id = ? ORDER BY a.id""",
            [idea_id],
        )
    )


def is_overdue(idea: dict, now: str | None = None) -> bool:
    return (
        idea["status"] in OPEN
        and idea["answer_due"] is not None
        and idea["answer_due"] < today_of(now).isoformat()
    )


def may_answer(db, idea: dict, user_id: int) -> bool:
    return idea["status"] != "draft" and idea["unit_id"] in leader_units(db, user_id)


def answer_teams(db, user_id: int) -> list[dict]:
    """Teams a leader may give an accepted idea to: the teams beneath what they lead."""
    ids = leader_units(db, user_id)
    return [t for t in org.teams(db) if t["id"] in ids]


# ---- writing: drafts ---------------------------------------------------------


def _clean(values: dict) -> dict:
    idea = {name: str(values.get(name) or "").strip() for name in LIMITS}
    if not idea["title"]:
        raise DomainError("Give the idea a short title.", "title")
    if not idea["need"]:
        raise DomainError("Say which need the idea answers.", "need")
    if not idea["proposal"]:
        raise DomainError("Describe what you propose to do differently.", "proposal")
    for name, limit in LIMITS.items():
        if len(idea[name]) > limit:
            raise DomainError("At most %(n)s characters here.", name, n=limit)
    return idea


def _story_ids(db, values) -> list[int]:
    ids = []
    for value in values or []:
        try:
            story_id = int(value)
        except (TypeError, ValueError):
            raise DomainError("Choose stories from the list.", "stories") from None
        row = next(db.query("SELECT withdrawn_at FROM story WHERE id = ?", [story_id]), None)
        if row is None:
            raise DomainError("There is no story %(id)s.", "stories", id=story_id)
        if row["withdrawn_at"]:
            raise DomainError(
                "Story %(id)s was withdrawn; it cannot be evidence.", "stories", id=story_id
            )
        if story_id not in ids:
            ids.append(story_id)
    return ids


def _co_authors(db, text: str, actor_id: int) -> list[int]:
    ids = []
    for email in [e.strip() for e in (text or "").replace(";", ",").split(",") if e.strip()]:
        person = org.user_by_email(db, email)
        if person is None or not person["active"]:
            raise DomainError(
                "Nobody here has the e-mail address %(email)s.", "co_authors", email=email
            )
        if person["id"] != actor_id and person["id"] not in ids:
            ids.append(person["id"])
    return ids


def _prepare(db, actor_id, values, names_confirmed):
    idea = _clean(values)
    tags = parse_tags(values.get("tags"))
    try:
        unit_id = int(values.get("unit_id"))
    except (TypeError, ValueError):
        raise DomainError("Choose the unit the idea is for.", "unit_id") from None
    personal_data.check({**{k: idea[k] for k in LIMITS}, "tags": ", ".join(tags)}, names_confirmed)
    return idea, tags, unit_id


def _write_links(db, idea_id, tags, story_ids, co_author_ids, author_id):
    db.execute("DELETE FROM idea_tag WHERE idea_id = ?", [idea_id])
    for tag in tags:
        db["idea_tag"].insert({"idea_id": idea_id, "tag": tag})
    db.execute("DELETE FROM idea_story WHERE idea_id = ?", [idea_id])
    for story_id in story_ids:
        db["idea_story"].insert({"idea_id": idea_id, "story_id": story_id})
    db.execute("DELETE FROM idea_author WHERE idea_id = ?", [idea_id])
    for user_id in [author_id, *co_author_ids]:
        db["idea_author"].insert({"idea_id": idea_id, "user_id": user_id})


def create_idea(
    db,
    *,
    actor_id: int,
    story_ids=(),
    co_authors: str = "",
    names_confirmed: bool = False,
    now: str | None = None,
    **values,
) -> dict:
    """Write down an idea as a draft, seen only by its authors until it is proposed."""
    idea, tags, unit_id = _prepare(db, actor_id, values, names_confirmed)
    at = now or utc_now()
    with db.atomic():
        if unit_id not in author_units(db, actor_id):
            raise DomainError("Choose one of your own teams or units.", "unit_id")
        stories = _story_ids(db, story_ids)
        co_author_ids = _co_authors(db, co_authors, actor_id)
        row = {
            **idea,
            "tags": ", ".join(tags),
            "unit_id": unit_id,
            "status": "draft",
            "created_by": actor_id,
            "created_at": at,
            "updated_at": at,
        }
        idea_id = db["idea"].insert(row).last_pk
        _write_links(db, idea_id, tags, stories, co_author_ids, actor_id)
        audit.record(
            db,
            actor_id=actor_id,
            action="idea.create",
            object_type="idea",
            object_id=idea_id,
            after={"title": idea["title"], "unit_id": unit_id, "stories": stories},
            at=at,
        )
    return get_idea(db, idea_id, actor_id)


def update_idea(
    db,
    idea_id: int,
    *,
    actor_id: int,
    story_ids=(),
    co_authors: str = "",
    names_confirmed: bool = False,
    now: str | None = None,
    **values,
) -> dict:
    """Change a draft; only its authors can, and only before it is proposed."""
    idea, tags, unit_id = _prepare(db, actor_id, values, names_confirmed)
    at = now or utc_now()
    with db.atomic():
        before = get_idea(db, idea_id, actor_id)
        if not is_author(db, idea_id, actor_id):
            raise NotFound(f"No idea {idea_id}")
        if before["status"] != "draft":
            raise DomainError("A proposed idea can no longer be changed; comment on it instead.")
        if unit_id not in author_units(db, actor_id) and unit_id != before["unit_id"]:
            raise DomainError("Choose one of your own teams or units.", "unit_id")
        stories = _story_ids(db, story_ids)
        co_author_ids = _co_authors(db, co_authors, before["created_by"])
        db["idea"].update(
            idea_id, {**idea, "tags": ", ".join(tags), "unit_id": unit_id, "updated_at": at}
        )
        _write_links(db, idea_id, tags, stories, co_author_ids, before["created_by"])
        audit.record(
            db,
            actor_id=actor_id,
            action="idea.update",
            object_type="idea",
            object_id=idea_id,
            before={"title": before["title"]},
            after={"title": idea["title"], "unit_id": unit_id, "stories": stories},
            at=at,
        )
    return get_idea(db, idea_id, actor_id)


def propose_idea(db, idea_id: int, actor_id: int, now: str | None = None) -> dict:
    """Show a draft to the whole organisation; the unit's answer deadline starts now."""
    at = now or utc_now()
    with db.atomic():
        idea = get_idea(db, idea_id, actor_id)
        if idea["status"] != "draft":
            raise DomainError("This idea is already proposed.")
        if not is_author(db, idea_id, actor_id):
            raise NotFound(f"No idea {idea_id}")
        due = (today_of(at) + timedelta(days=idea["answer_days"])).isoformat()
        db.execute(
            """UPDATE idea SET status = 'proposed', proposed_at = ?, answer_due = ?,
                   updated_at = ? WHERE id = ?""",
            [at, due, at, idea_id],
        )
        # The authors follow their own idea, so they hear of the answer.
        for author in idea["authors"]:
            db.execute(
                "INSERT OR IGNORE INTO idea_follow (idea_id, user_id, created_at) VALUES (?, ?, ?)",
                [idea_id, author["id"], at],
            )
        audit.record(
            db,
            actor_id=actor_id,
            action="idea.propose",
            object_type="idea",
            object_id=idea_id,
            before={"status": "draft"},
            after={"status": "proposed", "answer_due": due},
            at=at,
        )
    return get_idea(db, idea_id, actor_id)


# ---- writing: supports, follows, comments --------------------------------------


def _visible_proposed(db, idea_id: int, user_id: int) -> dict:
    idea = get_idea(db, idea_id, user_id)
    if idea["status"] == "draft":
        raise DomainError("Propose the idea first; then others can support and comment.")
    return idea


def set_support(db, idea_id: int, user_id: int, on: bool, now: str | None = None) -> bool:
    """Support an idea (once per person), or take the support back.

    Support counts the others who want the idea, so its authors cannot add theirs; they
    can still take back one given before this rule.
    """
    if on and is_author(db, idea_id, user_id):
        raise DomainError(
            "You cannot support your own idea: support counts the others who want it."
        )
    return _toggle(db, "idea_support", "idea.support", idea_id, user_id, on, now)


def set_follow(db, idea_id: int, user_id: int, on: bool, now: str | None = None) -> bool:
    """Follow an idea to hear of comments and its answer, or stop following."""
    return _toggle(db, "idea_follow", "idea.follow", idea_id, user_id, on, now)


def _toggle(db, table, action, idea_id, user_id, on, now) -> bool:
    at = now or utc_now()
    with db.atomic():
        _visible_proposed(db, idea_id, user_id)
        if has(db, table, idea_id, user_id) == on:
            return on  # already so: no change, no event
        if on:
            db[table].insert({"idea_id": idea_id, "user_id": user_id, "created_at": at})
        else:
            db.execute(
                f"DELETE FROM {table} WHERE idea_id = ? AND user_id = ?",  # noqa: S608
                [idea_id, user_id],
            )
        audit.record(
            db,
            actor_id=user_id,
            action=action if on else action.replace(".", ".un"),
            object_type="idea",
            object_id=idea_id,
            at=at,
        )
    return on


def add_comment(db, idea_id: int, user_id: int, body: str, names_confirmed=False, now=None) -> dict:
    """Add a comment that everyone can read (so it passes the guard too)."""
    body = (body or "").strip()
    if not body:
        raise DomainError("Write a comment first.", "body")
    if len(body) > 4000:
        raise DomainError("At most %(n)s characters here.", "body", n=4000)
    personal_data.check({"body": body}, names_confirmed)
    at = now or utc_now()
    with db.atomic():
        _visible_proposed(db, idea_id, user_id)
        row = {"idea_id": idea_id, "user_id": user_id, "body": body, "created_at": at}
        row["id"] = db["idea_comment"].insert(row).last_pk
        audit.record(
            db,
            actor_id=user_id,
            action="idea.comment",
            object_type="idea",
            object_id=idea_id,
            after={"comment_id": row["id"]},
            at=at,
        )
    return row


# ---- the obligation to answer --------------------------------------------------


def answer_idea(
    db,
    idea_id: int,
    *,
    actor_id: int,
    kind: str,
    reason: str = "",
    look_again_on: str = "",
    team_id=None,
    names_confirmed: bool = False,
    now: str | None = None,
) -> dict:
    """A leader of the idea's unit (or above) answers it; accepting creates a pilot draft."""
    if kind not in ANSWERS:
        raise DomainError("Choose an answer.", "kind")
    reason = (reason or "").strip()
    if len(reason) > 4000:
        raise DomainError("At most %(n)s characters here.", "reason", n=4000)
    if kind in ("parked", "declined") and not reason:
        raise DomainError(
            "Give the reason: the proposer and the supporters will read it.", "reason"
        )
    at = now or utc_now()
    look_again = None
    if kind == "parked":
        look_again = parse_day(look_again_on, "look_again_on")
        if look_again <= today_of(at).isoformat():
            raise DomainError("The date to look again must be in the future.", "look_again_on")
    personal_data.check({"reason": reason}, names_confirmed)
    with db.atomic():
        idea = get_idea(db, idea_id, actor_id)
        if idea["status"] == "draft":
            raise NotFound(f"No idea {idea_id}")
        if not may_answer(db, idea, actor_id):
            raise DomainError(
                "Only a leader of %(unit)s (or above) can answer this idea.", unit=idea["unit_name"]
            )
        if idea["status"] == "accepted":
            raise DomainError("This idea was accepted for a pilot; follow the pilot instead.")
        pilot_id = None
        if kind == "accepted":
            pilot_id = _create_pilot(db, idea, team_id, actor_id)
        db.execute(
            """UPDATE idea SET status = ?, answered_at = ?, answered_by = ?, answer_reason = ?,
                   look_again_on = ?, pilot_id = COALESCE(?, pilot_id), updated_at = ?
               WHERE id = ?""",
            [kind, at, actor_id, reason, look_again, pilot_id, at, idea_id],
        )
        db["idea_answer"].insert(
            {
                "idea_id": idea_id,
                "kind": kind,
                "reason": reason,
                "look_again_on": look_again,
                "pilot_id": pilot_id,
                "answered_by": actor_id,
                "answered_at": at,
            }
        )
        audit.record(
            db,
            actor_id=actor_id,
            actor_role="leader",
            action="idea.answer",
            object_type="idea",
            object_id=idea_id,
            before={"status": idea["status"]},
            after={"status": kind, "pilot_id": pilot_id, "look_again_on": look_again},
            reason=reason or None,
            at=at,
        )
        _tell_of_answer(db, idea, actor_id, kind, team_id if pilot_id else None, look_again, at)
    return get_idea(db, idea_id, actor_id)


def _tell_of_answer(db, idea: dict, actor_id: int, kind: str, team_id, look_again, at) -> None:
    """Tell the idea's authors, and the people following it, that it has an answer.

    Ideas belong to their authors (the proposer and co-authors), not to a team, so
    they are told; following an idea is how anyone else asks to hear of its answer
    (authors follow their own from the moment they propose). The leader who answered
    is not told. The reason itself stays on the idea's page, behind the link.
    """
    authors = {author["id"] for author in idea["authors"]} - {actor_id}
    followers = (
        {
            row["user_id"]
            for row in db.query("SELECT user_id FROM idea_follow WHERE idea_id = ?", [idea["id"]])
        }
        - authors
        - {actor_id}
    )
    actor = next(db.query("SELECT name FROM users WHERE id = ?", [actor_id]))["name"]
    team = org.get_unit(db, int(team_id))["name"] if team_id else ""
    for people, title in (
        (authors, "idea.answered.author"),
        (followers, "idea.answered.follower"),
    ):
        notifications.tell(
            db,
            people,
            kind="idea.answered",
            texts=(title, f"idea.{kind}"),
            link=f"/ideas/{idea['id']}",
            now=at,
            title=idea["title"],
            actor=actor,
            team=team,
            day=look_again or "",
        )


def _create_pilot(db, idea: dict, team_id, actor_id: int) -> int:
    try:
        team_id = int(team_id)
    except (TypeError, ValueError):
        raise DomainError("Choose the team that will run the pilot.", "team_id") from None
    if team_id not in {t["id"] for t in answer_teams(db, actor_id)}:
        raise DomainError("Choose a team within the unit you lead.", "team_id")
    from pilots.domain import pilots  # built alongside; imported late to keep areas apart

    evidence = "; ".join(s["title"] or f"#{s['id']}" for s in idea["stories"])
    need = idea["need"] + (f"\n\n{idea['whose_need']}" if idea["whose_need"] else "")
    pilot = pilots.create_pilot(
        db,
        team_id=team_id,
        title=idea["title"],
        actor_id=actor_id,
        idea_id=idea["id"],
        idea_text=idea["proposal"] + (f"\n\n(Stories: {evidence})" if evidence else ""),
        need=need,
    )
    return pilot["id"]


# ---- lists -----------------------------------------------------------------


def search_ideas(
    db,
    viewer_id: int,
    query: str = "",
    *,
    status: str | None = None,
    unit_id: int | None = None,
    tag: str | None = None,
    mine: bool = False,
    overdue: bool = False,
    for_leader: int | None = None,
    now: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """Ideas the viewer may see, filtered; drafts only for their authors."""
    from pilots.domain.stories import fts_query

    where = [
        "(d.status != 'draft' OR EXISTS (SELECT 1 FROM idea_author a "
        "WHERE a.idea_id = d.id AND a.user_id = ?))"
    ]
    params: list = [viewer_id]
    match = fts_query(query)
    if match:
        where.append("d.id IN (SELECT rowid FROM idea_fts WHERE idea_fts MATCH ?)")
        params.append(match)
    if status in STATUSES:
        where.append("d.status = ?")
        params.append(status)
    if unit_id:
        ids = org.unit_and_below(db, unit_id)
        where.append(f"d.unit_id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    if tag:
        where.append("d.id IN (SELECT idea_id FROM idea_tag WHERE tag = ?)")
        params.append(tag.casefold())
    if mine:
        where.append("d.id IN (SELECT idea_id FROM idea_author WHERE user_id = ?)")
        params.append(viewer_id)
    if overdue:
        where.append("d.status = 'proposed' AND d.answer_due < ?")
        params.append(today_of(now).isoformat())
    if for_leader:
        ids = sorted(leader_units(db, for_leader)) or [0]
        where.append(f"d.status = 'proposed' AND d.unit_id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    clause = " AND ".join(where)
    total = next(db.query(f"SELECT count(*) AS n FROM idea d WHERE {clause}", params))["n"]  # noqa: S608
    rows = list(
        db.query(
            f"""SELECT d.*, u.name AS unit_name,
                   (SELECT count(*) FROM idea_support s WHERE s.idea_id = d.id) AS support_count,
                   (SELECT count(*) FROM idea_comment c WHERE c.idea_id = d.id) AS comment_count
                FROM idea d JOIN unit u ON u.id = d.unit_id WHERE {clause}
                ORDER BY CASE WHEN d.status = 'proposed' THEN d.answer_due END IS NULL,
                         d.answer_due, d.updated_at DESC, d.id DESC
                LIMIT ? OFFSET ?""",  # noqa: S608
            [*params, limit, offset],
        )
    )
    for row in rows:
        row["tag_list"] = [t for t in row["tags"].split(", ") if t]
        row["overdue"] = is_overdue(row, now)
    return rows, total


def waiting_for(db, leader_id: int, now: str | None = None) -> dict:
    """How many proposed ideas wait for this leader's answer, and how many are late."""
    rows, total = search_ideas(db, leader_id, for_leader=leader_id, now=now, limit=1000)
    return {"total": total, "overdue": sum(1 for r in rows if r["overdue"])}


def set_answer_days(db, unit_id: int, days, actor_id: int) -> dict:
    """A leader sets how many days their unit has to answer a proposed idea."""
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise DomainError("Give a whole number of days.", "answer_days") from None
    if not 1 <= days <= 120:
        raise DomainError("Give between 1 and 120 days.", "answer_days")
    with db.atomic():
        unit = org.get_unit(db, unit_id)
        if unit_id not in leader_units(db, actor_id):
            raise DomainError("You can set deadlines only for units you lead.", "answer_days")
        db.execute("UPDATE unit SET answer_days = ? WHERE id = ?", [days, unit_id])
        audit.record(
            db,
            actor_id=actor_id,
            action="unit.answer_days",
            object_type="unit",
            object_id=unit_id,
            before={"answer_days": unit["answer_days"]},
            after={"answer_days": days},
        )
    return org.get_unit(db, unit_id)


def ideas_for_story_choice(db) -> list[dict]:
    """Stories that can be linked as evidence (not withdrawn), newest first."""
    return list(
        db.query(
            "SELECT id, title FROM story WHERE withdrawn_at IS NULL ORDER BY id DESC LIMIT 500"
        )
    )


def days_left(idea: dict, now: str | None = None) -> int | None:
    if not idea.get("answer_due"):
        return None
    return (date.fromisoformat(idea["answer_due"]) - today_of(now)).days
