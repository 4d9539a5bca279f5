"""Accounts: passwords (argon2id), sessions held server-side, language choice.

A browser holds only a random session token; the database keeps its hash, the
user's session version at login, and whether it was revoked. Logging out revokes
the token; changing the password or disabling the account bumps the version, so
every older token stops working at its next request.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pilots.db import utc_now
from pilots.domain import DomainError, audit
from pilots.domain.organisation import get_user, roles_of, user_by_email

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
LANGUAGES = ("nb", "en")

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile.
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def check_password_rules(password: str) -> None:
    """ASVS length rules: at least 12 characters once runs of spaces count as one (so
    twelve spaces are not a password), long passphrases allowed."""
    if len(re.sub(" {2,}", " ", password or "")) < MIN_PASSWORD_LENGTH:
        raise DomainError(
            "A password needs at least %(n)s characters.", "password", n=MIN_PASSWORD_LENGTH
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise DomainError(
            "A password can be at most %(n)s characters.", "password", n=MAX_PASSWORD_LENGTH
        )


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def generate_password() -> str:
    """A random password to print once (about 96 bits)."""
    return secrets.token_urlsafe(12)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(db, email: str, password: str) -> dict | None:
    """The active user with this e-mail and password, or None."""
    user = user_by_email(db, email)
    if user is None:
        _verify(_DUMMY_HASH, password or "")
        return None
    if not _verify(user["password_hash"], password or "") or not user["active"]:
        return None
    if _hasher.check_needs_rehash(user["password_hash"]):
        with db.atomic():
            db.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?",
                [_hasher.hash(password), user["id"]],
            )
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def start_session(db, user_id: int, record: bool = True) -> str:
    """A new session for the user (a sign-in, audited); returns the token for the cookie.

    `record=False` is for the fresh session that replaces one after a password change,
    which the password change's own event already covers.
    """
    token = secrets.token_urlsafe(32)
    with db.atomic():
        user = get_user(db, user_id)
        db["user_session"].insert(
            {
                "token_hash": _token_hash(token),
                "user_id": user_id,
                "session_version": user["session_version"],
                "created_at": utc_now(),
            }
        )
        db.execute("UPDATE users SET last_login_at = ? WHERE id = ?", [utc_now(), user_id])
        if record:
            audit.record(
                db, actor_id=user_id, action="user.sign_in", object_type="user", object_id=user_id
            )
    return token


def session_user(db, token: str | None) -> dict | None:
    """The user behind a session token, if the session is still valid."""
    if not token:
        return None
    user = next(
        db.query(
            """SELECT u.* FROM user_session s JOIN users u ON u.id = s.user_id
               WHERE s.token_hash = ? AND s.revoked_at IS NULL AND u.active = 1
                 AND s.session_version = u.session_version""",
            [_token_hash(token)],
        ),
        None,
    )
    if user is not None:
        user["roles"] = roles_of(db, user["id"])
    return user


def end_session(db, token: str, user_id: int) -> None:
    """Sign out: revoke this session token."""
    with db.atomic():
        db.execute(
            "UPDATE user_session SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
            [utc_now(), _token_hash(token)],
        )
        audit.record(
            db, actor_id=user_id, action="user.sign_out", object_type="user", object_id=user_id
        )


def change_password(db, user_id: int, current: str, new: str) -> None:
    """Change one's own password; every existing session of the user ends."""
    user = get_user(db, user_id)
    if not _verify(user["password_hash"], current or ""):
        raise DomainError("The current password is not right.", "current_password")
    if new == current:
        raise DomainError("The new password must differ from the current one.", "new_password")
    try:
        new_hash = hash_password(new)
    except DomainError as error:
        raise DomainError(error.message, "new_password", **error.params) from None
    with db.atomic():
        db.execute(
            """UPDATE users SET password_hash = ?, session_version = session_version + 1
               WHERE id = ?""",
            [new_hash, user_id],
        )
        audit.record(
            db,
            actor_id=user_id,
            action="user.password_change",
            object_type="user",
            object_id=user_id,
        )


def set_password(db, user_id: int, new: str, actor_id: int | None) -> None:
    """An admin or the CLI sets a password; the user's sessions end."""
    new_hash = hash_password(new)
    with db.atomic():
        db.execute(
            """UPDATE users SET password_hash = ?, session_version = session_version + 1
               WHERE id = ?""",
            [new_hash, user_id],
        )
        audit.record(
            db,
            actor_id=actor_id,
            action="user.password_reset",
            object_type="user",
            object_id=user_id,
        )


def set_language(db, user_id: int, language: str) -> None:
    """Remember the language a person chose."""
    if language not in LANGUAGES:
        raise DomainError("Unknown language %(language)s.", "language", language=language)
    with db.atomic():
        db.execute("UPDATE users SET language = ? WHERE id = ?", [language, user_id])
        audit.record(
            db,
            actor_id=user_id,
            action="user.language",
            object_type="user",
            object_id=user_id,
            after={"language": language},
        )
