"""Backups of the SQLite database with the online backup API, verified by restoring.

`backup_to` copies a live database (readers and writers carry on: WAL mode) into a
`.partial` file with `sqlite3.Connection.backup`, switches the copy to a plain
rollback journal so it is one self-contained file, then verifies it by opening it
read-only, running `PRAGMA integrity_check` and counting the rows of every table.
Only a verified copy gets its final name. `backup` is the scheduler's nightly job: a
timestamped file in the backup directory, keeping the newest `keep`.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from pilots.db import BUSY_TIMEOUT_MS

PREFIX = "pilots-"
SUFFIX = ".sqlite3"


class BackupFailed(RuntimeError):
    """The copy was made but did not verify; it was removed."""


def verify(path: str | os.PathLike) -> dict[str, int]:
    """Open the copy read-only, check its integrity; return row counts per table."""
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupFailed(f"integrity_check of {path}: {'; '.join(result[:5])}")
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {
            name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # noqa: S608
            for name in tables
        }
    finally:
        conn.close()


def backup_to(database: str | os.PathLike, target: str | os.PathLike) -> dict:
    """Copy `database` to `target` (a file) and verify it; return path and row counts."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # A plain connection: a read-only one cannot always open a WAL database.
    source = sqlite3.connect(database)
    source.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    copy = sqlite3.connect(partial)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")
    finally:
        copy.close()
        source.close()
    try:
        counts = verify(partial)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return {"path": str(target), "tables": counts, "rows": sum(counts.values())}


def backup(database: str, backup_dir: str, now: datetime, keep: int = 14) -> dict:
    """The nightly job: a verified, timestamped copy in `backup_dir`; keep the newest `keep`."""
    name = f"{PREFIX}{now.astimezone(UTC):%Y%m%dT%H%M%SZ}{SUFFIX}"
    made = backup_to(database, Path(backup_dir) / name)
    made["removed"] = prune(backup_dir, keep)
    return made


def prune(backup_dir: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` backups (names sort by their UTC timestamp)."""
    copies = sorted(Path(backup_dir).glob(f"{PREFIX}*{SUFFIX}"))
    doomed = copies[: max(len(copies) - max(keep, 1), 0)]
    for path in doomed:
        path.unlink()
    return [path.name for path in doomed]
