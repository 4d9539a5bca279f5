"""The database layer: pragmas, IMMEDIATE writes, migrations, atomic units of work."""

import sqlite3

import pytest

from pilots import migrations
from pilots.db import connect


def test_all_migrations_apply_to_an_empty_database(tmp_path):
    db = connect(str(tmp_path / "empty.sqlite3"))
    applied = migrations.apply(db)
    assert applied == [m.name for m in migrations.migrations._migrations]
    assert {"unit", "users", "role", "user_session", "audit_event"} <= set(db.table_names())
    assert migrations.apply(db) == []  # a second run finds nothing pending


def test_migration_names_are_numbered_and_unique():
    names = [m.name for m in migrations.migrations._migrations]
    assert len(set(names)) == len(names)
    assert all(name[:4].isdigit() and name[4] == "_" for name in names)


def test_every_connection_sets_wal_foreign_keys_and_busy_timeout(tmp_path):
    db = connect(str(tmp_path / "p.sqlite3"))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_foreign_keys_are_enforced(tmp_path):
    db = connect(str(tmp_path / "p.sqlite3"))
    migrations.apply(db)
    with pytest.raises(sqlite3.IntegrityError):
        with db.atomic():
            db.execute(
                "INSERT INTO unit (name, slug, kind, parent_id, created_at) "
                "VALUES ('x', 'x', 'sector', 999, 'now')"
            )


def test_atomic_begins_immediate_so_a_second_writer_waits_at_begin(tmp_path):
    path = str(tmp_path / "p.sqlite3")
    first, second = connect(path), connect(path)
    migrations.apply(first)
    second.conn.execute("PRAGMA busy_timeout = 50")
    with first.atomic():
        # No write yet: a deferred BEGIN would not hold the write lock here.
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            second.conn.execute("BEGIN IMMEDIATE")


def test_a_failed_unit_of_work_leaves_no_rows(tmp_path):
    db = connect(str(tmp_path / "p.sqlite3"))
    migrations.apply(db)
    with pytest.raises(RuntimeError):
        with db.atomic():
            db.execute(
                "INSERT INTO unit (name, slug, kind, created_at) "
                "VALUES ('a', 'a', 'municipality', 'n')"
            )
            raise RuntimeError("crash in the middle")
    assert db["unit"].count == 0


def test_nested_atomic_rolls_back_only_the_inner_part(tmp_path):
    db = connect(str(tmp_path / "p.sqlite3"))
    migrations.apply(db)
    with db.atomic():
        db.execute(
            "INSERT INTO unit (name, slug, kind, created_at) VALUES ('a', 'a', 'municipality', 'n')"
        )
        with pytest.raises(RuntimeError):
            with db.atomic():
                db.execute(
                    "INSERT INTO unit (name, slug, kind, created_at) "
                    "VALUES ('b', 'b', 'municipality', 'n')"
                )
                raise RuntimeError
    assert [r["slug"] for r in db.query("SELECT slug FROM unit")] == ["a"]
