"""The schema, as named, append-only migrations (sqlite-utils' built-in `Migrations`).

A released migration is never edited: a change to the schema is a new function at
the end of this file. `flask --app pilots migrate` applies what is pending; a test
applies all of them to an empty database.
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("pilots")


@migrations(name="0001_organisation")
def organisation(db):
    db.execute(
        """
        CREATE TABLE unit (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            slug TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('municipality','sector','service','team')),
            parent_id INTEGER REFERENCES unit(id),
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX unit_parent ON unit(parent_id)")
    db.execute(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            language TEXT CHECK (language IN ('nb','en')),
            active INTEGER NOT NULL DEFAULT 1,
            session_version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            last_login_at TEXT
        )"""
    )
    db.execute(
        """
        CREATE TABLE role (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            role TEXT NOT NULL
                CHECK (role IN ('frontline','leader','analyst','case_handler','admin')),
            unit_id INTEGER REFERENCES unit(id),
            CHECK ((role IN ('frontline','leader')) = (unit_id IS NOT NULL))
        )"""
    )
    # NULL unit_ids are distinct in a UNIQUE index, so unit-less roles get their own.
    db.execute("CREATE UNIQUE INDEX role_unique ON role(user_id, role, unit_id)")
    db.execute(
        "CREATE UNIQUE INDEX role_unique_global ON role(user_id, role) WHERE unit_id IS NULL"
    )


@migrations(name="0002_user_session")
def user_session(db):
    db.execute(
        """
        CREATE TABLE user_session (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            session_version INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )"""
    )
    db.execute("CREATE INDEX user_session_user ON user_session(user_id)")


@migrations(name="0003_audit_event")
def audit_event(db):
    db.execute(
        """
        CREATE TABLE audit_event (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor_id INTEGER,
            actor_role TEXT,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT,
            before TEXT,
            after TEXT,
            reason TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        )"""
    )
    db.execute(
        """
        CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
        BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"""
    )
    db.execute(
        """
        CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
        BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"""
    )


def apply(db) -> list[str]:
    """Apply pending migrations; return the names applied."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
