"""Importing observations: rows per second and peak memory, beside the bare executemany.

Run: .venv/bin/python bench/bench_import.py [--rows 1000000] [--memory-rows 100000,3000000]

Writes a Norwegian-style CSV file (BOM, semicolons, decimal commas, DD.MM.YYYY; five
metrics of all three types x monthly periods x units), then runs each variant in its
own process on a fresh database, so that each peak memory figure (the process's
ru_maxrss) is real and no variant warms the cache for another:
- import: `observations.import_file`, the path the web and the API take: strict
  streaming read, UPSERT, duplicate detection, upload row and audit event, one
  transaction;
- reimport: the same file again into the same database (every row an update);
- ceiling: a bare `sqlite3.executemany` (plain INSERT, one transaction) of the same rows,
  already parsed into a list before the clock starts, into the same table;
- preview: the dry run (read and check everything, duplicates included, store nothing).
Import and ceiling run twice, alternating, and the best of each counts (the machine is
shared). Then import alone at other sizes shows that memory does not grow with the file.
Prints a markdown table for docs/benchmarks.md. Keeps under about three minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pilots import migrations  # noqa: E402
from pilots.db import connect  # noqa: E402
from pilots.domain import observations  # noqa: E402
from pilots.domain.observation_files import preview, read_observations  # noqa: E402

# (slug, type, period) - every type, with and without n
METRICS = [
    ("ventetid-dager", "mean", "month"),
    ("fornoyd", "proportion", "month"),
    ("reinnleggelser", "rate", "month"),
    ("kontakter", "mean", "month"),
    ("bestatt", "proportion", "month"),
]
PERIODS = 60
NOW = "2026-11-26T12:00:00Z"


def write_file(path: Path, rows: int) -> None:
    """A file as a Norwegian system exports it, ordered by period, metric and unit."""
    units = math.ceil(rows / (len(METRICS) * PERIODS))
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeffmetric;period;arm;unit;value;n\r\n")
        for month in range(PERIODS):
            period = dt.date(2021 + month // 12, month % 12 + 1, 1).strftime("%d.%m.%Y")
            for slug, kind, _ in METRICS:
                lines = []
                for unit in range(units):
                    arm = "pilot" if unit % 2 == 0 else "comparison"
                    seed = (unit * 7919 + month * 104729) % 10007
                    if slug == "bestatt":  # proportions with n: successes of trials
                        value, n = str(seed % 9), str(10 + seed % 5)
                    elif kind == "proportion":
                        value, n = str(seed % 2), ""
                    elif kind == "rate":
                        value, n = str(seed % 4), f"{30 + seed % 60},5"
                    else:
                        value, n = f"{seed % 400},{seed % 10}", ""
                    lines.append(f"{slug};{period};{arm};P{unit:06d};{value};{n}\r\n")
                    written += 1
                    if written == rows:
                        break
                out.write("".join(lines))
                if written == rows:
                    return


def fresh_database(path: Path):
    db = connect(str(path))
    migrations.apply(db)
    with db.atomic():
        db.execute(
            "INSERT INTO unit (id, name, slug, kind, created_at) VALUES (1, 'T', 't', 'team', ?)",
            [NOW],
        )
        db.execute(
            "INSERT INTO users (id, email, name, password_hash, created_at)"
            " VALUES (1, 'b@example.org', 'Bench', 'x', ?)",
            [NOW],
        )
        db.execute(
            "INSERT INTO pilot (id, title, team_id, design, created_by, created_at, updated_at)"
            " VALUES (1, 'Bench', 1, 'did', 1, ?, ?)",
            [NOW, NOW],
        )
        for number, (slug, kind, period) in enumerate(METRICS, start=1):
            db.execute(
                "INSERT INTO metric (id, slug, name, type, direction, period, created_at)"
                " VALUES (?, ?, ?, ?, 'up', ?, ?)",
                [number, slug, slug, kind, period, NOW],
            )
            db.execute(
                "INSERT INTO pilot_metric (pilot_id, metric_id, role) VALUES (1, ?, 'primary')",
                [number],
            )
    return db


def child(variant: str, csv_path: Path, db_path: Path) -> dict:
    """Run one variant in this (fresh) process; return its figures."""
    db = fresh_database(db_path)
    limits = {"max_rows": 10**9, "max_bytes": 10**12}
    result: dict = {"variant": variant}
    if variant in ("import", "reimport"):
        rounds = 2 if variant == "reimport" else 1
        for _ in range(rounds):
            start = time.perf_counter()
            with csv_path.open("rb") as file:
                outcome = observations.import_file(
                    db, 1, file, actor_id=1, filename=csv_path.name, now=NOW, **limits
                )
            result["seconds"] = time.perf_counter() - start
        result.update(rows=outcome["rows"], inserted=outcome["inserted"])
        result["updated"] = outcome["updated"]
    elif variant == "preview":
        start = time.perf_counter()
        with csv_path.open("rb") as file:
            outcome = preview(file, observations.metric_specs(db, 1), **limits)
        result["seconds"] = time.perf_counter() - start
        result["rows"] = outcome.row_count
        assert outcome.ok, outcome.errors[:3]
    elif variant == "ceiling":
        ids = {slug: number for number, (slug, _, _) in enumerate(METRICS, start=1)}
        with db.atomic():
            upload_id = db.conn.execute(
                "INSERT INTO upload (pilot_id, source, created_at) VALUES (1, 'csv', ?)", [NOW]
            ).lastrowid
        with csv_path.open("rb") as file:
            specs = observations.metric_specs(db, 1)
            reader = read_observations(file, specs, check_duplicates=False, **limits)
            parsed = [
                (1, ids[r.metric], r.period, r.arm, r.unit, r.value, r.n, r.line, upload_id)
                + (NOW, NOW)
                for r in reader
            ]
        start = time.perf_counter()
        with db.atomic():
            db.conn.executemany(
                "INSERT INTO observation (pilot_id, metric_id, period, arm, unit, value, n,"
                " source_line, upload_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                parsed,
            )
        result["seconds"] = time.perf_counter() - start
        result["rows"] = len(parsed)
    result["rate"] = result["rows"] / result["seconds"]
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    db.close()
    return result


def run(variant: str, csv_path: Path, workdir: Path) -> dict:
    db_path = workdir / f"{variant}-{time.monotonic_ns()}.sqlite3"
    command = [sys.executable, __file__, "--child", variant, str(csv_path), str(db_path)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    return json.loads(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", default="100000,3000000")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "CSV", "DB"))
    options = parser.parse_args()
    if options.child:
        variant, csv_path, db_path = options.child
        print(json.dumps(child(variant, Path(csv_path), Path(db_path))))
        return
    sizes = [int(size) for size in options.memory_rows.split(",") if size]
    with tempfile.TemporaryDirectory(prefix="bench-import-") as name:
        workdir = Path(name)
        main_file = workdir / f"observations-{options.rows}.csv"
        write_file(main_file, options.rows)
        size_mb = main_file.stat().st_size / 1e6
        best: dict[str, dict] = {}
        for variant in ["import", "ceiling", "import", "ceiling", "reimport", "preview"]:
            figures = run(variant, main_file, workdir)
            if variant not in best or figures["rate"] > best[variant]["rate"]:
                best[variant] = figures
        memory = [(options.rows, best["import"])]
        for rows in sizes:
            path = workdir / f"observations-{rows}.csv"
            write_file(path, rows)
            memory.append((rows, run("import", path, workdir)))
            path.unlink()
    ceiling = best["ceiling"]["rate"]
    print(f"CSV file: {options.rows:,} rows, {size_mb:.0f} MB; Python {sys.version.split()[0]}")
    print()
    print("| variant | rows | seconds | rows/s | share of ceiling | peak memory (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "import": "import (`import_file`, new rows)",
        "reimport": "re-import of the same file (all updates)",
        "preview": "preview (read and check only, duplicates too)",
        "ceiling": "ceiling: bare `executemany` of parsed rows",
    }
    for variant in ["import", "reimport", "preview", "ceiling"]:
        f = best[variant]
        share = f"{f['rate'] / ceiling:.0%}" if variant != "preview" else "-"
        note = " (holds all rows)" if variant == "ceiling" else ""
        print(
            f"| {labels[variant]} | {f['rows']:,} | {f['seconds']:.1f} | {f['rate']:,.0f} |"
            f" {share} | {f['peak_mb']:.0f}{note} |"
        )
    print()
    print("| import of | rows/s | peak memory (MB) |")
    print("|---:|---:|---:|")
    for rows, f in sorted(memory, key=lambda item: item[0]):
        print(f"| {rows:,} rows | {f['rate']:,.0f} | {f['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
