"""The database layer: one SQLite connection per request or job, set up the same way.

Every connection runs in WAL mode with foreign keys on and a 5 s busy timeout.
Every write transaction begins IMMEDIATE, so two writers queue on the lock at
BEGIN instead of failing half-way with SQLITE_BUSY on a read-to-write upgrade.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from datetime import UTC, datetime

import sqlite_utils

BUSY_TIMEOUT_MS = 5000
# Savepoint names need only differ from those still open on the connection, so a
# counter will do: it costs less than random bytes, and a scheduled evaluation opens
# one savepoint per pilot.
_SAVEPOINTS = itertools.count()


class Database(sqlite_utils.Database):
    """sqlite-utils' Database whose outermost `atomic()` begins IMMEDIATE."""

    @contextlib.contextmanager
    def atomic(self):
        if self.conn.in_transaction:
            savepoint = f"sp_{next(_SAVEPOINTS)}"
            self.conn.execute(f"SAVEPOINT {savepoint}")
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                    self.conn.execute(f"RELEASE SAVEPOINT {savepoint}")
                raise
            self.conn.execute(f"RELEASE SAVEPOINT {savepoint}")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def connect(path: str) -> Database:
    """Open `path` with the pragmas every connection of this app must have."""
    # isolation_level IMMEDIATE makes the implicit transactions that sqlite-utils
    # opens for single inserts start IMMEDIATE too.
    conn = sqlite3.connect(path, isolation_level="IMMEDIATE", check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # NORMAL is durable against a killed process in WAL mode (only power loss can drop
    # the last commits), which is the failure SECURITY.md asks us to survive.
    conn.execute("PRAGMA synchronous = NORMAL")
    # SQLite's lower() folds ASCII only; names here have æ, ø and å.
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    return Database(conn)


def _casefold(text):
    return text.casefold() if isinstance(text, str) else text


def utc_now() -> str:
    """The current time as stored: ISO 8601 in UTC with a Z."""
    return to_utc_text(datetime.now(UTC))


def to_utc_text(moment: datetime) -> str:
    """Store a timezone-aware moment as ISO 8601 UTC text, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_utc_text(text: str) -> datetime:
    """Read a stored UTC moment back as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
