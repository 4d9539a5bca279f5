"""Notifications: the in-app inbox, and each leader's daily or weekly digest.

Layer: domain (no Flask). A notification is a title, a link into the app and a short
summary: never the content of a report, a story or a comment, so an inbox or a mail
that reaches the wrong eyes says little. `send_digests(db, now, mail)` is the job:
for every leader whose digest is due (daily: once per UTC day; weekly: once per ISO
week, on the first run from Monday), it gathers the signals since their last digest
and the decisions due in their units, puts a notification in their inbox and sends
the same text by e-mail when SMTP is configured (`mail` holds the SMTP_* settings),
otherwise keeps it in the outbox that admins see. The `digest` table's UNIQUE
(user, period) key is the claim, so two runs, or a rerun, send a digest once.
The text is written here in the person's language (nb or en), as the statistics
engine writes its summaries, so the job runs without a web request.

`tell(db, people, ...)` is the same for the answers frontline staff wait for: an
idea answered, a pilot approved (by a leader or by trust), returned or objected to.
The domain function that makes the change calls it inside its own unit of work, so
the notification exists exactly when the change does. Its words are written once,
in each recipient's language, from `_EVENT_WORDS`: titles, names and version
numbers only, never the leader's reason, comment or objection (the link leads there).
"""

from __future__ import annotations

import smtplib
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

from babel.dates import format_date

from pilots.db import to_utc_text
from pilots.domain import DomainError, NotFound, audit
from pilots.domain import results as results_domain

FREQUENCIES = ("daily", "weekly", "off")
DEFAULT_FREQUENCY = "weekly"

_WORDS = {
    "nb": {
        "subject": "Pilotoversikt: {signals}, {decisions}",
        "signal_count": ("{n} nytt signal", "{n} nye signaler"),
        "decision_count": ("{n} beslutning venter", "{n} beslutninger venter"),
        "intro": "Hei {name}. Dette har skjedd i pilotene i enhetene dine siden {since}.",
        "signals": "Nye signaler",
        "decisions": "Piloter forbi sluttdato uten beslutning",
        "approvals": "Planer som venter på godkjenning: {n}",
        "concern": "balanserende mål: mulig skade",
        "improved": "forbedret",
        "worsened": "forverret",
        "no_clear_change": "ingen tydelig endring",
        "insufficient_data": "for lite data",
        "ended": "sluttet {day}",
        "outro": "Se hele oversikten: {link}",
        "settings": "Du får denne oppsummeringen {frequency}. Endre det på profilsiden din.",
        "daily": "hver dag",
        "weekly": "hver uke",
        "title": "Oppsummering: {signals}, {decisions}",
    },
    "en": {
        "subject": "Pilots digest: {signals}, {decisions}",
        "signal_count": ("{n} new signal", "{n} new signals"),
        "decision_count": ("{n} decision due", "{n} decisions due"),
        "intro": "Hello {name}. This happened in the pilots of your units since {since}.",
        "signals": "New signals",
        "decisions": "Pilots past their end date without a decision",
        "approvals": "Plans waiting for approval: {n}",
        "concern": "balancing metric: possible harm",
        "improved": "improved",
        "worsened": "worsened",
        "no_clear_change": "no clear change",
        "insufficient_data": "not enough data",
        "ended": "ended {day}",
        "outro": "See the whole portfolio: {link}",
        "settings": "You get this digest {frequency}. Change that on your profile page.",
        "daily": "every day",
        "weekly": "every week",
        "title": "Digest: {signals}, {decisions}",
    },
}


# ---- the inbox -----------------------------------------------------------------------


def notify(db, user_id: int, kind: str, title: str, link: str, summary: str, now: str) -> int:
    """Put one notification in a person's inbox (inside the caller's transaction)."""
    return db.conn.execute(
        """INSERT INTO notification (user_id, kind, title, link, summary, created_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (user_id, kind, title[:200], link, summary[:500], now),
    ).lastrowid


# What happened to a person's idea or pilot: a title and a one-line summary per event,
# in each language. The values filled in are titles, names, numbers and dates; the
# reasons and comments themselves stay behind the link.
_EVENT_WORDS = {
    "nb": {
        "idea.answered.author": "Svar på ideen din: «{title}»",
        "idea.answered.follower": "Svar på en idé du følger: «{title}»",
        "idea.dialogue": "{actor} har svart: i dialog. Åpne ideen for å lese svaret.",
        "idea.accepted": (
            "{actor} har godtatt ideen for en pilot i {team}. Åpne ideen for å følge piloten."
        ),
        "idea.parked": (
            "{actor} har parkert ideen og ser på den igjen {day}. "
            "Åpne ideen for å lese begrunnelsen."
        ),
        "idea.declined": "{actor} har avslått ideen. Åpne ideen for å lese begrunnelsen.",
        "pilot.approved.title": "Godkjent: «{title}»",
        "pilot.approved": (
            "{actor} har godkjent versjon {version} av planen. Teamet kan starte piloten."
        ),
        "pilot.approved_by_trust.title": "Godkjent på tillit: «{title}»",
        "pilot.approved_by_trust": (
            "Versjon {version} av planen var innenfor tillitsrammen, og ingen leder hadde "
            "innsigelser. Teamet kan starte piloten."
        ),
        "pilot.amendment_approved.title": "Endringssøknad godkjent: «{title}»",
        "pilot.amendment_approved": (
            "{actor} har godkjent endringssøknaden (versjon {version}). "
            "Piloten følger nå den nye planen."
        ),
        "pilot.returned.title": "Sendt tilbake: «{title}»",
        "pilot.returned": (
            "{actor} har sendt versjon {version} av planen tilbake til teamet med kommentarer. "
            "Åpne piloten for å lese dem."
        ),
        "pilot.amendment_returned.title": "Endringssøknad sendt tilbake: «{title}»",
        "pilot.amendment_returned": (
            "{actor} har sendt endringssøknaden (versjon {version}) tilbake med kommentarer. "
            "Den godkjente planen gjelder fortsatt."
        ),
        "pilot.submitted.title": "Venter på en leder: «{title}»",
        "pilot.submitted": (
            "{actor} har sendt versjon {version} av planen. Den er utenfor tillitsrammen, "
            "eller ingen ramme er satt, så den venter på en leders beslutning."
        ),
        "pilot.submitted_by_trust.title": "Godkjennes på tillit {day}: «{title}»",
        "pilot.submitted_by_trust": (
            "{actor} har sendt versjon {version} av planen. Den er innenfor tillitsrammen og "
            "godkjennes automatisk {day} hvis ingen leder har innsigelser."
        ),
        "pilot.objected.title": "Innsigelse: «{title}»",
        "pilot.objected": (
            "{actor} har innsigelser mot automatisk godkjenning, så planen venter på en "
            "leders beslutning. Åpne piloten for å lese innsigelsen."
        ),
    },
    "en": {
        "idea.answered.author": "Your idea has an answer: “{title}”",
        "idea.answered.follower": "An idea you follow has an answer: “{title}”",
        "idea.dialogue": "{actor} answered: in dialogue. Open the idea to read the answer.",
        "idea.accepted": (
            "{actor} accepted the idea for a pilot in {team}. Open the idea to follow the pilot."
        ),
        "idea.parked": (
            "{actor} parked the idea, to look at it again on {day}. Open the idea to read why."
        ),
        "idea.declined": "{actor} declined the idea. Open the idea to read why.",
        "pilot.approved.title": "Approved: “{title}”",
        "pilot.approved": (
            "{actor} approved version {version} of the plan. The team can start the pilot."
        ),
        "pilot.approved_by_trust.title": "Approved by trust: “{title}”",
        "pilot.approved_by_trust": (
            "Version {version} of the plan was inside the trust limits and no leader "
            "objected. The team can start the pilot."
        ),
        "pilot.amendment_approved.title": "Amendment approved: “{title}”",
        "pilot.amendment_approved": (
            "{actor} approved the amendment (version {version}). "
            "The pilot now follows the new plan."
        ),
        "pilot.returned.title": "Returned: “{title}”",
        "pilot.returned": (
            "{actor} returned version {version} of the plan to the team with comments. "
            "Open the pilot to read them."
        ),
        "pilot.amendment_returned.title": "Amendment returned: “{title}”",
        "pilot.amendment_returned": (
            "{actor} returned the amendment (version {version}) with comments. "
            "The approved plan still holds."
        ),
        "pilot.submitted.title": "Waiting for a leader: “{title}”",
        "pilot.submitted": (
            "{actor} sent version {version} of the plan. It is outside the trust limits, or "
            "none are set, so it waits for a leader's decision."
        ),
        "pilot.submitted_by_trust.title": "Approved by trust on {day}: “{title}”",
        "pilot.submitted_by_trust": (
            "{actor} sent version {version} of the plan. It is inside the trust limits and "
            "is approved automatically on {day} unless a leader objects."
        ),
        "pilot.objected.title": "Objection: “{title}”",
        "pilot.objected": (
            "{actor} objected to automatic approval, so the plan waits for a leader's "
            "decision. Open the pilot to read the objection."
        ),
    },
}


def _day_in(language: str, day: str) -> str:
    """An ISO date as the app shows it: 26.11.2026 in Norwegian, 26 Nov 2026 in English."""
    value = date.fromisoformat(day[:10])
    if language == "nb":
        return value.strftime("%d.%m.%Y")
    return format_date(value, "d MMM y", locale="en")


def tell(db, user_ids, *, kind: str, texts: tuple[str, str], link: str, now: str, **values) -> int:
    """Notify each of these people of one event, in their own language; returns how many.

    `texts` names the title and the summary in `_EVENT_WORDS`, filled from `values` (a `day`
    is an ISO date, written as the language writes dates). People no longer active
    are left out. Call it inside the unit of work that made the change.
    """
    ids = sorted({int(i) for i in user_ids if i is not None})
    if not ids:
        return 0
    marks = ",".join("?" * len(ids))
    people = list(
        db.query(
            f"SELECT id, language FROM users WHERE active = 1 AND id IN ({marks}) ORDER BY id",  # noqa: S608
            ids,
        )
    )
    for person in people:
        language = person["language"] if person["language"] in _EVENT_WORDS else "nb"
        words = _EVENT_WORDS[language]
        filled = dict(values)
        if filled.get("day"):
            filled["day"] = _day_in(language, filled["day"])
        notify(
            db,
            person["id"],
            kind,
            words[texts[0]].format(**filled),
            link,
            words[texts[1]].format(**filled),
            now,
        )
    return len(people)


def unread_count(db, user_id: int) -> int:
    return next(
        db.query(
            "SELECT count(*) AS n FROM notification WHERE user_id = ? AND read_at IS NULL",
            [user_id],
        )
    )["n"]


def inbox(db, user_id: int, limit: int = 20, offset: int = 0) -> tuple[list[dict], int]:
    """A page of the person's notifications, newest first, and how many there are."""
    total = next(db.query("SELECT count(*) AS n FROM notification WHERE user_id = ?", [user_id]))[
        "n"
    ]
    rows = list(
        db.query(
            # by the moment shown beside each (rows written for a moment past, as the
            # demo's are, come in after later ones)
            """SELECT * FROM notification WHERE user_id = ?
               ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?""",
            [user_id, limit, offset],
        )
    )
    return rows, total


def mark_read(db, notification_id: int, user_id: int, now: str) -> dict:
    """Mark one of the person's own notifications read; someone else's is NotFound."""
    with db.atomic():
        row = next(
            db.query(
                "SELECT * FROM notification WHERE id = ? AND user_id = ?",
                [notification_id, user_id],
            ),
            None,
        )
        if row is None:
            raise NotFound(f"No notification {notification_id}")
        db.execute(
            "UPDATE notification SET read_at = coalesce(read_at, ?) WHERE id = ?",
            [now, notification_id],
        )
        audit.record(
            db,
            actor_id=user_id,
            action="notification.read",
            object_type="notification",
            object_id=notification_id,
            at=now,
        )
    return row


def mark_all_read(db, user_id: int, now: str) -> int:
    """Mark all the person's notifications read; returns how many were unread."""
    with db.atomic():
        count = db.conn.execute(
            "UPDATE notification SET read_at = ? WHERE user_id = ? AND read_at IS NULL",
            (now, user_id),
        ).rowcount
        audit.record(
            db,
            actor_id=user_id,
            action="notification.read_all",
            object_type="user",
            object_id=user_id,
            after={"count": count},
            at=now,
        )
    return count


# ---- digest settings ------------------------------------------------------------------


def digest_frequency(db, user_id: int) -> str:
    row = next(db.query("SELECT frequency FROM digest_setting WHERE user_id = ?", [user_id]), None)
    return row["frequency"] if row else DEFAULT_FREQUENCY


def set_digest_frequency(db, user_id: int, frequency: str, now: str) -> str:
    if frequency not in FREQUENCIES:
        raise DomainError("Choose daily, weekly or no digest.", "frequency")
    with db.atomic():
        before = digest_frequency(db, user_id)
        db.execute(
            """INSERT INTO digest_setting (user_id, frequency, updated_at) VALUES (?, ?, ?)
               ON CONFLICT (user_id) DO UPDATE SET frequency = excluded.frequency,
                                                  updated_at = excluded.updated_at""",
            [user_id, frequency, now],
        )
        audit.record(
            db,
            actor_id=user_id,
            action="user.digest",
            object_type="user",
            object_id=user_id,
            before={"frequency": before},
            after={"frequency": frequency},
            at=now,
        )
    return frequency


# ---- the digest job ------------------------------------------------------------------


def period_key(frequency: str, now: datetime) -> str:
    """The period a digest covers: a UTC day, or an ISO week."""
    day = now.astimezone(UTC).date()
    if frequency == "daily":
        return f"D{day.isoformat()}"
    year, week, _ = day.isocalendar()
    return f"W{year}-{week:02d}"


def _leaders(db) -> list[dict]:
    return list(
        db.query(
            """SELECT DISTINCT u.id, u.name, u.email, u.language,
                      coalesce(s.frequency, ?) AS frequency
               FROM users u JOIN role r ON r.user_id = u.id AND r.role = 'leader'
               LEFT JOIN digest_setting s ON s.user_id = u.id
               WHERE u.active = 1 ORDER BY u.id""",
            [DEFAULT_FREQUENCY],
        )
    )


def _since(db, leader: dict, now: datetime) -> str:
    row = next(
        db.query(
            "SELECT max(created_at) AS at FROM digest WHERE user_id = ? AND channel != 'failed'",
            [leader["id"]],
        )
    )
    if row["at"]:
        return row["at"]
    days = 1 if leader["frequency"] == "daily" else 7
    return to_utc_text(now - timedelta(days=days))


def _counted(forms: tuple[str, str], n: int) -> str:
    """ "1 new signal", "2 new signals": the singular for one, as both languages say it."""
    return (forms[0] if n == 1 else forms[1]).format(n=n)


def compose(leader: dict, since: str, signals, decisions, approvals: int, base_url: str):
    """The digest's title, short summary and mail text, in the leader's language.

    Pilot titles, metric names and verdict words only: no report text.
    """
    language = leader.get("language") if leader.get("language") in _WORDS else "nb"
    words = _WORDS[language]
    counts = {
        "signals": _counted(words["signal_count"], len(signals)),
        "decisions": _counted(words["decision_count"], len(decisions)),
    }
    lines = [words["intro"].format(name=leader["name"], since=_day_in(language, since)), ""]
    if signals:
        lines.append(words["signals"] + ":")
        for s in signals:
            what = words["concern"] if s["concern"] else words.get(s["verdict"], s["verdict"])
            lines.append(
                f"- {s['title']}: {s['metric_name']} ({what}) {base_url}/pilots/{s['pilot_id']}"
            )
        lines.append("")
    if decisions:
        lines.append(words["decisions"] + ":")
        for d in decisions:
            ended = words["ended"].format(day=_day_in(language, d["end_date"]))
            lines.append(f"- {d['title']} ({ended}) {base_url}/pilots/{d['id']}")
        lines.append("")
    if approvals:
        lines += [words["approvals"].format(n=approvals), ""]
    lines.append(words["outro"].format(link=f"{base_url}/portfolio"))
    lines.append(words["settings"].format(frequency=words[leader["frequency"]]))
    title = words["title"].format(**counts)
    summary_parts = [s["title"] for s in signals[:3]] + [d["title"] for d in decisions[:2]]
    return {
        "subject": words["subject"].format(**counts),
        "title": title,
        "summary": "; ".join(summary_parts)[:300],
        "body": "\n".join(lines),
    }


def _approvals_waiting(db, leader_id: int, now: datetime) -> int:
    from pilots.domain.pilots import leader_queue

    return sum(1 for row in leader_queue(db, leader_id, now) if not row["own"])


def send_mail(mail: dict, recipient: str, subject: str, body: str) -> None:
    """Send one plain-text mail through the configured SMTP server."""
    message = EmailMessage()
    message["From"] = mail.get("SMTP_FROM") or "pilots@localhost"
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(body)
    port = int(mail.get("SMTP_PORT") or 25)
    with smtplib.SMTP(mail["SMTP_HOST"], port, timeout=15) as server:
        server.ehlo()
        if server.has_extn("starttls"):
            server.starttls()
            server.ehlo()
        if mail.get("SMTP_USER"):
            server.login(mail["SMTP_USER"], mail.get("SMTP_PASSWORD") or "")
        server.send_message(message)


def send_digests(db, now: datetime, mail: dict | None = None) -> dict:
    """Send every due digest once; returns what was done, per channel.

    `mail`: the SMTP_* settings and BASE_URL (a Flask config will do); without an
    SMTP_HOST the digests go to the outbox. A leader with nothing to report gets no
    mail, but the period is still marked done.
    """
    mail = mail or {}
    base_url = (mail.get("BASE_URL") or "").rstrip("/")
    stamp = to_utc_text(now)
    today = now.astimezone(UTC).date()
    done = {"smtp": 0, "outbox": 0, "none": 0, "failed": 0, "skipped": 0}
    for leader in _leaders(db):
        frequency = leader["frequency"]
        if frequency == "off":
            continue
        key = period_key(frequency, now)
        since = _since(db, leader, now)
        signals = results_domain.signals_since(db, leader["id"], since)
        decisions = results_domain.decisions_due(db, leader["id"], today)
        approvals = _approvals_waiting(db, leader["id"], now)
        channel = "none"
        if signals or decisions:
            channel = "smtp" if mail.get("SMTP_HOST") else "outbox"
        text = compose(leader, since, signals, decisions, approvals, base_url)
        with db.atomic():
            claimed = db.conn.execute(
                """INSERT INTO digest (user_id, period_key, frequency, since, signals,
                                       decisions, channel, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, period_key) DO NOTHING""",
                (leader["id"], key, frequency, since, len(signals), len(decisions), channel, stamp),
            ).rowcount
            if not claimed:
                done["skipped"] += 1
                continue
            if channel != "none":
                notify(
                    db, leader["id"], "digest", text["title"], "/portfolio", text["summary"], stamp
                )
            if channel == "outbox":
                _to_outbox(db, leader, text, stamp)
        if channel == "smtp":
            try:
                send_mail(mail, leader["email"], text["subject"], text["body"])
            except (OSError, smtplib.SMTPException):
                channel = "failed"
                with db.atomic():
                    db.execute(
                        "UPDATE digest SET channel = 'failed' WHERE user_id = ? AND period_key = ?",
                        [leader["id"], key],
                    )
                    _to_outbox(db, leader, text, stamp)
        done[channel] += 1
    return done


def _to_outbox(db, leader: dict, text: dict, stamp: str) -> None:
    db.execute(
        """INSERT INTO outbox (user_id, recipient, subject, body, created_at)
           VALUES (?, ?, ?, ?, ?)""",
        [leader["id"], leader["email"], text["subject"], text["body"], stamp],
    )


def outbox(db, limit: int = 20, offset: int = 0) -> tuple[list[dict], int]:
    total = next(db.query("SELECT count(*) AS n FROM outbox"))["n"]
    rows = list(db.query("SELECT * FROM outbox ORDER BY id DESC LIMIT ? OFFSET ?", [limit, offset]))
    return rows, total


def job_runs(db, *, failed_only: bool = False, limit: int = 50, offset: int = 0):
    """The scheduler's job-run log, newest first, and how many rows match."""
    where = "WHERE status = 'failed'" if failed_only else ""
    total = next(db.query(f"SELECT count(*) AS n FROM job_run {where}"))["n"]  # noqa: S608
    rows = list(
        db.query(
            f"SELECT * FROM job_run {where} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",  # noqa: S608
            [limit, offset],
        )
    )
    return rows, total
