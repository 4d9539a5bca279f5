"""Reading the audit trail as it grows: a pilot's timeline, its undone uploads, and a
leader's page of the trail, with and without the trail's indexes (migration 0640).

Run: .venv/bin/python bench/bench_audit.py [--sizes 10000,100000,300000] [--pilots 1000]

Builds a migrated database in a temporary folder with one unit of `--pilots` pilots and
a second, small unit of ten pilots led by one leader, then grows the trail with events
spread over the pilots (as the scheduler's looks leave one event per pilot per look,
written by `audit.record`, so the hash chain is real). At each size it times, best of
five, the three reads the pages make for the small unit's pilot and leader: on the
database as migrated, and on a copy without the two indexes (the ceiling of how bad it
was). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pilots import migrations  # noqa: E402
from pilots.db import connect  # noqa: E402
from pilots.domain import audit, observations  # noqa: E402
from pilots.domain import pilots as pilots_domain  # noqa: E402

STAMP = "2026-01-01T00:00:00Z"
SMALL_UNIT_PILOTS = 10


def build(path: str, pilots: int) -> tuple[int, int]:
    """The database: units, a leader of the small unit, pilots; (a pilot, the leader)."""
    db = connect(path)
    migrations.apply(db)
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO unit (id, name, slug, kind, created_at) VALUES (?, ?, ?, 'team', ?)",
            [(1, "Big", "big", STAMP), (2, "Small", "small", STAMP)],
        )
        db.conn.execute(
            """INSERT INTO users (id, email, name, password_hash, created_at)
               VALUES (1, 'leader@example.no', 'Leader', 'x', ?)""",
            (STAMP,),
        )
        db.conn.execute("INSERT INTO role (user_id, role, unit_id) VALUES (1, 'leader', 2)")
        db.conn.executemany(
            """INSERT INTO pilot (id, title, team_id, status, created_by, created_at,
                                  updated_at) VALUES (?, 'Pilot', ?, 'running', 1, ?, ?)""",
            [
                (k, 2 if k <= SMALL_UNIT_PILOTS else 1, STAMP, STAMP)
                for k in range(1, pilots + SMALL_UNIT_PILOTS + 1)
            ],
        )
    db.close()
    return 1, 1


def grow(path: str, events: int, pilots: int) -> None:
    """Add `events` look events, one pilot after another, through `audit.record`."""
    db = connect(path)
    (count,) = db.conn.execute("SELECT count(*) FROM audit_event").fetchone()
    with db.atomic():
        for k in range(count, count + events):
            pilot = k % (pilots + SMALL_UNIT_PILOTS) + 1
            audit.record(
                db,
                actor_id=None,
                actor_role="scheduler",
                action="pilot.evaluate",
                object_type="pilot",
                object_id=pilot,
                after={"as_of": "2026-01-01", "results": 5},
            )
    db.close()


def best_ms(read, times: int = 5) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        read()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def timings(path: str, pilot_id: int, leader_id: int) -> dict[str, float]:
    db = connect(path)
    reads = {
        "timeline": lambda: pilots_domain.timeline(db, pilot_id),
        "undone uploads": lambda: observations._undone_uploads(db, pilot_id),
        "leader's trail": lambda: audit.events_for(db, leader_id, everything=False, limit=50),
    }
    result = {name: best_ms(read) for name, read in reads.items()}
    db.close()
    return result


def without_indexes(path: str, copy: str) -> str:
    shutil.copy(path, copy)
    db = connect(copy)
    db.conn.execute("DROP INDEX audit_event_object")
    db.conn.execute("DROP INDEX audit_event_actor")
    db.close()
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,300000")
    parser.add_argument("--pilots", type=int, default=1000)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    folder = tempfile.mkdtemp(prefix="bench-audit-")
    path = os.path.join(folder, "audit.sqlite3")
    pilot_id, leader_id = build(path, args.pilots)
    print("| events in the trail | read | indexed (ms) | without the indexes (ms) |")
    print("|---:|---|---:|---:|")
    grown = 0
    for size in sizes:
        grow(path, size - grown, args.pilots)
        grown = size
        fast = timings(path, pilot_id, leader_id)
        slow = timings(without_indexes(path, path + ".noindex"), pilot_id, leader_id)
        for name in fast:
            print(f"| {size:,} | {name} | {fast[name]:.2f} | {slow[name]:.2f} |")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
