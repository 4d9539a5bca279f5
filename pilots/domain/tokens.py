"""Personal API tokens: how scripts act as a person, with that person's rights.

A token is shown once; only its SHA-256 is stored. It can be revoked, and its last
use is recorded so a forgotten one can be found and revoked.
"""

from __future__ import annotations

import hashlib
import secrets

from pilots.db import utc_now
from pilots.domain import DomainError, NotFound, audit
from pilots.domain.organisation import roles_of

PREFIX = "pil_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(db, user_id: int, name: str) -> tuple[str, dict]:
    """A new token for the person; returns the token (shown once) and its row."""
    name = (name or "").strip() or "API"
    if len(name) > 100:
        raise DomainError("A token name can be at most 100 characters.", "name")
    token = PREFIX + secrets.token_urlsafe(32)
    with db.atomic():
        row = {
            "user_id": user_id,
            "name": name,
            "token_hash": _hash(token),
            "created_at": utc_now(),
        }
        row["id"] = db["api_token"].insert(row).last_pk
        audit.record(
            db,
            actor_id=user_id,
            action="token.create",
            object_type="api_token",
            object_id=row["id"],
            after={"name": name},
        )
    return token, row


def tokens_of(db, user_id: int) -> list[dict]:
    return list(
        db.query(
            """SELECT id, name, created_at, last_used_at, revoked_at FROM api_token
               WHERE user_id = ? ORDER BY revoked_at IS NOT NULL, created_at DESC""",
            [user_id],
        )
    )


def revoke_token(db, user_id: int, token_id: int) -> None:
    """Revoke one of the person's own tokens."""
    with db.atomic():
        row = next(
            db.query(
                "SELECT * FROM api_token WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                [token_id, user_id],
            ),
            None,
        )
        if row is None:
            raise NotFound(f"No token {token_id}")
        db.execute("UPDATE api_token SET revoked_at = ? WHERE id = ?", [utc_now(), token_id])
        audit.record(
            db,
            actor_id=user_id,
            action="token.revoke",
            object_type="api_token",
            object_id=token_id,
            before={"name": row["name"]},
        )


def user_for_token(db, token: str | None) -> dict | None:
    """The active person behind a valid token, with roles; records the use."""
    if not token or not token.startswith(PREFIX):
        return None
    row = next(
        db.query(
            """SELECT t.id AS token_id, t.last_used_at, u.* FROM api_token t
               JOIN users u ON u.id = t.user_id
               WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.active = 1""",
            [_hash(token)],
        ),
        None,
    )
    if row is None:
        return None
    now = utc_now()
    # One write a minute at most: the last use is for people, not for billing.
    if (row["last_used_at"] or "")[:16] != now[:16]:
        with db.atomic():
            db.execute("UPDATE api_token SET last_used_at = ? WHERE id = ?", [now, row["token_id"]])
    row["roles"] = roles_of(db, row["id"])
    return row
