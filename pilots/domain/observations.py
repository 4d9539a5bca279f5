"""Observations: the data points of a pilot's metrics, stored, and exported again.

An import is one unit of work: the rows a reader (observation_files) yields go into the
`observation` table with one UPSERT per row on the key (pilot, metric, period, arm,
unit), so importing the same rows again updates them instead of adding copies, and
any error, in the file or found by the database (a key twice in one import), rolls
everything back, the `upload` row too. A period is stored as a total (unit '') or as
rows per unit, never both: the statistics add what is stored, so an import that would
mix them is refused the same way. `undo_upload` takes an import back. Exports write the
observation contract back out as CSV (the user's delimiter and decimal mark, formula
injection neutralised), .xlsx and JSON, streaming, for observations and for the metric
catalogue.

Formula neutralisation: a text cell that starts with = + - @, a tab or a carriage
return gets a leading apostrophe, so a spreadsheet shows it as text instead of running
it; the CSV and .xlsx readers drop that apostrophe again, so an export re-imports
unchanged. JSON is never neutralised, so a JSON list (the API) is read as sent. Numbers
are never neutralised: they are written by this module from stored REAL values, so
they can only be digits, a minus sign and the decimal mark (`-1,5` stays a number).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from pilots.db import utc_now
from pilots.domain import DomainError, NotFound, audit, translatable
from pilots.domain.observation_files import (
    ARMS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ERRORS,
    DEFAULT_MAX_ROWS,
    FORMULA_STARTS,
    ErrorList,
    FileRefused,
    MetricSpec,
    Observation,
    RowError,
    duplicate,
    local_today,
    read_observations,
    read_records,
)

SOURCES = ("csv", "xlsx", "json", "entry", "api")
OBSERVATION_COLUMNS = ("metric", "period", "arm", "unit", "value", "n")
METRIC_COLUMNS = (
    "slug",
    "name",
    "definition",
    "unit",
    "type",
    "direction",
    "period",
    "min_value",
    "max_value",
    "owner",
    "data_source",
    "burden_minutes",
    "decision",
    "status",
    "rate_per",
)
_NUMERIC_METRIC_COLUMNS = {"min_value", "max_value", "burden_minutes", "rate_per"}
_CSV_CHUNK_ROWS = 1000

# The parameters are an Observation (metric, period, arm, unit, value, n, line) and then
# (pilot_id, metric_id, upload_id, now): numbered, so the reader's rows bind as they are.
_UPSERT = """
    INSERT INTO observation (pilot_id, metric_id, period, arm, unit, value, n, source_line,
                             upload_id, created_at, updated_at)
    VALUES (?8, ?9, ?2, ?3, ?4, ?5, ?6, ?7, ?10, ?11, ?11)
    ON CONFLICT (pilot_id, metric_id, period, arm, unit) DO UPDATE SET
        value = excluded.value, n = excluded.n, upload_id = excluded.upload_id,
        source_line = excluded.source_line, updated_at = excluded.updated_at
    -- A row this import already wrote is a key given twice: change nothing, so the
    -- import sees no change for that row and reports it.
    WHERE observation.upload_id IS NOT excluded.upload_id
"""


class ImportRefused(FileRefused):
    """The import stored nothing; `errors` (first ones, line order) and `total` say why."""

    def __init__(self, errors: list[RowError], total: int | None = None):
        super().__init__(errors, total)


# -- what a pilot takes ----------------------------------------------------------------


def metric_specs(db, pilot_id: int) -> dict[str, MetricSpec]:
    """The pilot's metrics by slug, as the file readers need them."""
    return {row["slug"]: MetricSpec.from_row(row) for row in _pilot_metrics(db, pilot_id)}


def arms_for(db, pilot_id: int) -> tuple[str, ...]:
    """The arms a pilot's design takes: one-series designs have no comparison arm."""
    row = next(db.query("SELECT design FROM pilot WHERE id = ?", [pilot_id]), None)
    if row is None:
        raise NotFound(pilot_id)
    return ("pilot",) if row["design"] in ("spc", "pre_post") else ARMS


def _pilot_metrics(db, pilot_id: int) -> list[dict]:
    """The pilot's metrics, those an amendment dropped included: their rows stay on the
    pilot and are still evaluated (marked as dropped), so a file holding them, such as
    the pilot's own export, imports as it was exported."""
    return list(
        db.query(
            """SELECT m.id, m.slug, m.type, m.min_value, m.max_value, m.period, m.rate_per
               FROM pilot_metric pm JOIN metric m ON m.id = pm.metric_id
               WHERE pm.pilot_id = ?""",
            [pilot_id],
        )
    )


# -- importing -----------------------------------------------------------------------


def import_observations(
    db,
    pilot_id: int,
    rows: Iterable[Observation],
    *,
    source: str,
    actor_id: int | None,
    filename: str | None = None,
    file_format: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
    now: str | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
) -> dict:
    """Store `rows` for the pilot, all or nothing; return {inserted, updated, rows, upload_id}.

    `rows` are `Observation`s (or tuples in that order), e.g. from `read_observations`;
    their metric slugs must be the pilot's metrics. A key already stored is updated; a
    key given twice in `rows` is an error. If `rows` raises `FileRefused` (a bad file),
    or anything is wrong, `ImportRefused` is raised and nothing is stored, not even the
    upload row; so is an import that would leave a metric, period and arm with both a
    total and per-unit rows (one error per such period). `file_format` ({encoding,
    delimiter, decimal_mark}, or a callable giving it once the rows are read) goes into
    the upload record.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    now = now or utc_now()
    metric_ids = {row["slug"]: row["id"] for row in _pilot_metrics(db, pilot_id)}
    errors = ErrorList(max_errors)
    conn = db.conn
    with db.atomic():
        if next(db.query("SELECT 1 FROM pilot WHERE id = ?", [pilot_id]), None) is None:
            raise NotFound(pilot_id)
        upload_id = conn.execute(
            """INSERT INTO upload (pilot_id, user_id, source, filename, created_at)
               VALUES (?, ?, ?, ?, ?)""",
            (pilot_id, actor_id, source, filename, now),
        ).lastrowid
        (last_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM observation").fetchone()
        refused: list[FileRefused] = []
        repeated: list[Observation] = []
        extras = {slug: (pilot_id, id_, upload_id, now) for slug, id_ in metric_ids.items()}
        count, previous = 0, None

        def params():
            # executemany pulls a row, runs it, pulls the next: a row after which the
            # database's change count stands still changed nothing (see _UPSERT), so its
            # key was given twice. Found without holding any keys.
            nonlocal count, previous
            changes = conn.total_changes
            try:
                for row in rows:
                    total = conn.total_changes
                    if total == changes and previous is not None:
                        _repeated(repeated, errors, previous)
                    changes, previous = total, None
                    extra = extras.get(row[0])
                    if extra is None:
                        _unknown_metric(errors, row, metric_ids)
                        continue
                    count += 1
                    previous = row
                    yield row + extra
            except FileRefused as refusal:
                refused.append(refusal)
            # executemany asks for one more row after running the last one
            if previous is not None and conn.total_changes == changes:
                _repeated(repeated, errors, previous)
                previous = None

        changed = 0
        try:
            # The statement's own row count: rows that triggers write (the pilot's data
            # revision) are not observations.
            changed = conn.executemany(_UPSERT, params()).rowcount
        except sqlite3.IntegrityError as exc:
            errors.add(
                previous[6] if previous else None,
                None,
                "database_rule",
                "The row breaks a rule of the database: %(problem)s.",
                problem=str(exc),
            )
        for row in repeated:
            first = conn.execute(
                """SELECT source_line FROM observation WHERE pilot_id = ? AND metric_id = ?
                   AND period = ? AND arm = ? AND unit = ?""",
                (pilot_id, metric_ids[row[0]], row[1], row[2], row[3]),
            ).fetchone()
            duplicate(errors, Observation(*row), first[0] if first else None)
        if not (refused or errors.total):
            _refuse_mixing(conn, errors, pilot_id, upload_id)
        if refused or errors.total:
            raise _refusal(refused, errors, max_errors)
        (inserted,) = conn.execute(
            "SELECT count(*) FROM observation WHERE id > ?", (last_id,)
        ).fetchone()
        result = {
            "upload_id": upload_id,
            "rows": count,
            "inserted": inserted,
            "updated": changed - inserted,
        }
        details = file_format() if callable(file_format) else (file_format or {})
        conn.execute(
            """UPDATE upload SET rows = ?, inserted = ?, updated = ?, delimiter = ?,
               decimal_mark = ?, encoding = ? WHERE id = ?""",
            (
                result["rows"],
                result["inserted"],
                result["updated"],
                details.get("delimiter"),
                details.get("decimal_mark"),
                details.get("encoding"),
                upload_id,
            ),
        )
        audit.record(
            db,
            actor_id=actor_id,
            action="observations.import",
            object_type="pilot",
            object_id=pilot_id,
            after={"source": source, "filename": filename, **result},
            at=now,
        )
    return result


def import_file(
    db,
    pilot_id: int,
    file,
    *,
    actor_id: int | None,
    filename: str | None = None,
    kind: str | None = None,
    encoding: str | None = None,
    decimal_mark: str | None = None,
    target_metric: str | None = None,
    source: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    now: str | None = None,
) -> dict:
    """Read a CSV or .xlsx file for the pilot and import it, all or nothing.

    The database finds keys given twice, so the reader skips its own (slower) check.
    """
    reader = read_observations(
        file,
        metric_specs(db, pilot_id),
        kind=kind,
        filename=filename,
        encoding=encoding,
        decimal_mark=decimal_mark,
        target_metric=target_metric,
        arms=arms_for(db, pilot_id),
        max_rows=max_rows,
        max_bytes=max_bytes,
        check_duplicates=False,
        today=local_today(now),
    )
    return import_observations(
        db,
        pilot_id,
        reader,
        source=source or reader.kind or "csv",
        actor_id=actor_id,
        filename=filename,
        file_format=reader.file_format,
        now=now,
    )


def import_records(
    db,
    pilot_id: int,
    records: Iterable[Mapping[str, Any]],
    *,
    actor_id: int | None,
    source: str = "json",
    target_metric: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    now: str | None = None,
) -> dict:
    """Import a JSON list (or quick-entry rows) of observation objects, all or nothing."""
    reader = read_records(
        records,
        metric_specs(db, pilot_id),
        target_metric=target_metric,
        arms=arms_for(db, pilot_id),
        max_rows=max_rows,
        check_duplicates=False,
        today=local_today(now),
    )
    return import_observations(db, pilot_id, reader, source=source, actor_id=actor_id, now=now)


def _repeated(repeated: list, errors: ErrorList, row):
    if len(repeated) < errors.limit:
        repeated.append(tuple(row))
    else:
        errors.total += 1


def _unknown_metric(errors: ErrorList, row, metric_ids: Mapping[str, int]):
    errors.add(
        row[6],
        "metric",
        "unknown_metric",
        "Unknown metric “%(value)s”; this pilot's metrics are %(allowed)s.",
        value=row[0],
        allowed=", ".join(sorted(metric_ids)),
    )


# The (metric, period, arm) groups of the pilot that hold a total (unit '') beside rows
# per named unit, where this import (?2) wrote either side: the statistics would add
# both, counting the period twice. One pass over the pilot's key index picks the totals
# (few); only for those are the per-unit rows looked up.
_MIXED = """
    WITH mixed AS (
        SELECT t.metric_id, t.period, t.arm, t.upload_id AS total_upload,
               t.source_line AS total_line,
               (SELECT min(u.source_line) FROM observation u
                WHERE u.pilot_id = ?1 AND u.metric_id = t.metric_id AND u.period = t.period
                  AND u.arm = t.arm AND u.unit > '' AND u.upload_id = ?2) AS unit_line,
               (SELECT count(*) FROM observation u
                WHERE u.pilot_id = ?1 AND u.metric_id = t.metric_id AND u.period = t.period
                  AND u.arm = t.arm AND u.unit > '' AND u.upload_id IS NOT ?2) AS units_before,
               (SELECT max(u.upload_id) FROM observation u
                WHERE u.pilot_id = ?1 AND u.metric_id = t.metric_id AND u.period = t.period
                  AND u.arm = t.arm AND u.unit > '' AND u.upload_id IS NOT ?2) AS units_upload
        FROM observation t
        WHERE t.pilot_id = ?1 AND t.unit = ''
          AND EXISTS (SELECT 1 FROM observation u
                      WHERE u.pilot_id = ?1 AND u.metric_id = t.metric_id
                        AND u.period = t.period AND u.arm = t.arm AND u.unit > '')
    )
    SELECT m.slug AS metric, x.period, x.arm, x.total_upload, x.total_line, x.unit_line,
           x.units_before, up.source, up.filename, up.created_at
    FROM mixed x JOIN metric m ON m.id = x.metric_id
    LEFT JOIN upload up
           ON up.id = CASE WHEN x.total_upload IS ?2 THEN x.units_upload ELSE x.total_upload END
    WHERE x.total_upload IS ?2 OR x.unit_line IS NOT NULL
"""

# One message per way a period comes to hold both; the advice ends each of them.
_MIXED_IN_ONE_IMPORT = translatable(
    "%(period)s of %(metric)s, %(arm)s arm: line %(first)s gives a total and line %(line)s"
    " per-person rows; they would be counted twice. Give the period as per-person rows"
    " only, or as a total only."
)
_TOTAL_BESIDE_UNITS = translatable(
    "%(period)s of %(metric)s, %(arm)s arm, already has %(count)s per-person rows, the"
    " latest from %(upload)s on %(day)s; a total would be counted twice. Give the period as"
    " per-person rows only, or as a total only; undo the earlier upload first if it was"
    " wrong."
)
_UNITS_BESIDE_ENTRY = translatable(
    "%(period)s of %(metric)s, %(arm)s arm, already has a total from quick entry on"
    " %(day)s; per-person rows would be counted twice. Give the period as per-person rows"
    " only, or as a total only; undo the earlier upload first if it was wrong."
)
_UNITS_BESIDE_TOTAL = translatable(
    "%(period)s of %(metric)s, %(arm)s arm, already has a total from %(upload)s on"
    " %(day)s; per-person rows would be counted twice. Give the period as per-person rows"
    " only, or as a total only; undo the earlier upload first if it was wrong."
)


def _refuse_mixing(conn, errors: ErrorList, pilot_id: int, upload_id: int):
    """An error per period that would hold both a total and per-person rows."""
    found = []
    for row in conn.execute(_MIXED, (pilot_id, upload_id)):
        metric, period, arm, total_upload, total_line, unit_line, units_before = row[:7]
        source, filename, created_at = row[7:]
        params = {"period": _day(period), "metric": metric, "arm": arm, "day": "—"}
        params["upload"] = filename or (source or "—").upper()
        if created_at:  # rows stored before uploads were recorded have none
            params["day"] = _day(local_today(created_at).isoformat())
        if total_upload == upload_id and unit_line is not None:
            first, line = sorted((total_line, unit_line))
            params.update(first=first, line=line)
            found.append((line, "mixed_total_and_units", _MIXED_IN_ONE_IMPORT, params))
        elif total_upload == upload_id:
            params["count"] = units_before
            found.append((total_line, "total_beside_units", _TOTAL_BESIDE_UNITS, params))
        elif source == "entry":
            found.append((unit_line, "units_beside_total", _UNITS_BESIDE_ENTRY, params))
        else:
            found.append((unit_line, "units_beside_total", _UNITS_BESIDE_TOTAL, params))
    for line, code, message, params in sorted(found, key=lambda error: error[0] or 0):
        errors.add(line, "unit", code, message, **params)


def _day(iso: str) -> str:
    """A date as users write it in files: DD.MM.YYYY."""
    return f"{iso[8:10]}.{iso[5:7]}.{iso[0:4]}"


def _refusal(refused: list[FileRefused], errors: ErrorList, limit: int) -> ImportRefused:
    """One refusal from the file's errors and the import's, in line order."""
    found = [*(refused[0].errors if refused else []), *errors.kept]
    found.sort(key=lambda error: error.line or 0)
    total = (refused[0].total if refused else 0) + errors.total
    return ImportRefused(found[:limit], total)


# -- reading back ----------------------------------------------------------------------


def observations_for(db, pilot_id: int, metric_id: int | None = None) -> Iterator[dict]:
    """The pilot's observations (of one metric, if given), in a stable order, streamed."""
    where, params = "o.pilot_id = ?", [pilot_id]
    if metric_id is not None:
        where, params = where + " AND o.metric_id = ?", [*params, metric_id]
    return db.query(
        f"""SELECT m.slug AS metric, o.period, o.arm, o.unit, o.value, o.n,
                   o.metric_id, o.upload_id, o.source_line, o.created_at, o.updated_at
            FROM observation o JOIN metric m ON m.id = o.metric_id
            WHERE {where}
            ORDER BY m.slug, o.period, o.arm, o.unit""",  # noqa: S608 - where is fixed text
        params,
    )


def uploads_for(db, pilot_id: int, limit: int | None = None) -> list[dict]:
    """The pilot's imports, newest first (the latest `limit`), with who made them, how
    many stored rows still carry each, and whether it was undone."""
    uploads = list(
        db.query(
            """SELECT up.*, u.name AS user_name FROM upload up
               LEFT JOIN users u ON u.id = up.user_id
               WHERE up.pilot_id = ? ORDER BY up.id DESC LIMIT ?""",
            [pilot_id, -1 if limit is None else limit],
        )
    )
    if not uploads:
        return uploads
    # observation.upload_id has no index: one pass over the pilot's rows counts them all.
    carrying = {
        row["upload_id"]: row["n"]
        for row in db.query(
            """SELECT upload_id, count(*) AS n FROM observation
               WHERE pilot_id = ? AND upload_id >= ? GROUP BY upload_id""",
            [pilot_id, uploads[-1]["id"]],
        )
    }
    undone = _undone_uploads(db, pilot_id)
    for upload in uploads:
        upload["carrying"] = carrying.get(upload["id"], 0)
        upload["undone"] = upload["id"] in undone
    return uploads


def upload_for(db, pilot_id: int, upload_id: int) -> dict:
    """One of the pilot's imports, as `uploads_for` gives it; NotFound if not the pilot's."""
    upload = next(
        db.query(
            """SELECT up.*, u.name AS user_name,
                      (SELECT count(*) FROM observation o
                       WHERE o.pilot_id = up.pilot_id AND o.upload_id = up.id) AS carrying
               FROM upload up LEFT JOIN users u ON u.id = up.user_id
               WHERE up.pilot_id = ? AND up.id = ?""",
            [pilot_id, upload_id],
        ),
        None,
    )
    if upload is None:
        raise NotFound(upload_id)
    upload["undone"] = upload_id in _undone_uploads(db, pilot_id)
    return upload


def _undone_uploads(db, pilot_id: int) -> set[int]:
    # The upload table has no column for it (and gets no migration for it): the audit
    # trail, which is append-only anyway, is where an undo is recorded.
    return {
        row["upload_id"]
        for row in db.query(
            """SELECT json_extract(after, '$.upload_id') AS upload_id FROM audit_event
               WHERE action = ? AND object_type = 'pilot' AND object_id = ?""",
            [UNDO_ACTION, str(pilot_id)],
        )
    }


UNDO_ACTION = "observations.undo_upload"


def undo_upload(db, pilot_id: int, upload_id: int, actor_id: int | None, now=None) -> dict:
    """Take back an import: delete the observations that still carry `upload_id`.

    Rows a later import rewrote carry that later upload and stay. The upload row stays
    as the record of what came; the undo is one audit event with the rows removed.
    Returns {upload_id, removed}. NotFound if the upload is not the pilot's; an upload
    undone before is refused (DomainError).
    """
    now = now or utc_now()
    with db.atomic():
        upload = upload_for(db, pilot_id, upload_id)
        if upload["undone"]:
            raise DomainError("This upload has already been undone.")
        removed = db.conn.execute(
            "DELETE FROM observation WHERE pilot_id = ? AND upload_id = ?",
            (pilot_id, upload_id),
        ).rowcount
        result = {"upload_id": upload_id, "removed": removed}
        audit.record(
            db,
            actor_id=actor_id,
            action=UNDO_ACTION,
            object_type="pilot",
            object_id=pilot_id,
            before={
                "source": upload["source"],
                "filename": upload["filename"],
                "created_at": upload["created_at"],
            },
            after=result,
            at=now,
        )
    return result


# -- exporting -----------------------------------------------------------------------


def neutralise(text: str) -> str:
    """Make a text cell safe to open in a spreadsheet (OWASP: CSV injection)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def format_number(value: float | None, decimal_mark: str = ".") -> str:
    """A stored number as export text, which the importer reads back the same.

    No exponent and no thousands separator; a number with exactly three decimals gets
    a fourth (1.2340), so it can never be mistaken for 1234 with a thousands separator.
    """
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    whole, _, fraction = text.partition(".")
    if len(fraction) == 3 and len(whole.lstrip("-")) <= 3 and whole.lstrip("-") != "0":
        fraction += "0"
    return f"{whole}{decimal_mark}{fraction}" if fraction else whole


def _check_csv_format(delimiter: str, decimal_mark: str, date_format: str):
    if delimiter not in (";", ",", "\t"):
        raise DomainError("The delimiter must be a semicolon, a comma or a tab.", "delimiter")
    if decimal_mark not in (",", "."):
        raise DomainError("The decimal mark must be a comma or a point.", "decimal_mark")
    if delimiter == "," and decimal_mark == ",":
        raise DomainError(
            "A comma-separated file needs the decimal point; choose semicolons or tabs for"
            " decimal commas.",
            "decimal_mark",
        )
    if date_format not in ("iso", "dmy"):
        raise ValueError("date_format must be 'iso' or 'dmy'")


def _csv_lines(header, rows: Iterable[Iterable[str]], delimiter: str, bom: bool):
    """RFC 4180 CSV (CRLF, quotes doubled), in chunks of text for a streaming response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if bom:  # Excel reads UTF-8 only with it; our reader accepts it
        buffer.write("\ufeff")
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % _CSV_CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_observations_csv(
    db,
    pilot_id: int,
    *,
    metric_id: int | None = None,
    delimiter: str = ";",
    decimal_mark: str = ",",
    date_format: str = "dmy",
    bom: bool = True,
) -> Iterator[str]:
    """The pilot's observations as CSV text chunks, in the observation contract's columns."""
    _check_csv_format(delimiter, decimal_mark, date_format)

    def rows():
        for row in observations_for(db, pilot_id, metric_id):
            period = row["period"]
            if date_format == "dmy" and len(period) == 10:
                period = f"{period[8:10]}.{period[5:7]}.{period[0:4]}"
            yield (
                neutralise(row["metric"]),
                neutralise(period),
                neutralise(row["arm"]),
                neutralise(row["unit"]),
                format_number(row["value"], decimal_mark),
                format_number(row["n"], decimal_mark),
            )

    return _csv_lines(OBSERVATION_COLUMNS, rows(), delimiter, bom)


def export_observations_json(db, pilot_id: int, *, metric_id: int | None = None) -> Iterator[str]:
    """The pilot's observations as a JSON list (the API's shape), in text chunks."""
    rows = (
        {column: row[column] for column in OBSERVATION_COLUMNS}
        for row in observations_for(db, pilot_id, metric_id)
    )
    return _json_chunks(rows)


def export_observations_xlsx(db, pilot_id: int, file, *, metric_id: int | None = None) -> None:
    """Write the pilot's observations to `file` as .xlsx (periods as real dates)."""
    import datetime as dt

    def rows():
        for row in observations_for(db, pilot_id, metric_id):
            yield (
                row["metric"],
                dt.date.fromisoformat(row["period"]),
                row["arm"],
                row["unit"],
                row["value"],
                row["n"],
            )

    write_xlsx(file, "observations", OBSERVATION_COLUMNS, rows())


def _metric_rows(db) -> Iterator[dict]:
    columns = ", ".join(METRIC_COLUMNS)
    return db.query(f"SELECT {columns} FROM metric ORDER BY slug")  # noqa: S608 - fixed names


def export_metrics_csv(
    db, *, delimiter: str = ";", decimal_mark: str = ",", bom: bool = True
) -> Iterator[str]:
    """The metric catalogue as CSV text chunks."""
    _check_csv_format(delimiter, decimal_mark, "iso")

    def rows():
        for row in _metric_rows(db):
            yield [
                format_number(row[c], decimal_mark)
                if c in _NUMERIC_METRIC_COLUMNS
                else neutralise(row[c] or "")
                for c in METRIC_COLUMNS
            ]

    return _csv_lines(METRIC_COLUMNS, rows(), delimiter, bom)


def export_metrics_json(db) -> Iterator[str]:
    """The metric catalogue as a JSON list, in text chunks."""
    return _json_chunks(_metric_rows(db))


def export_metrics_xlsx(db, file) -> None:
    """Write the metric catalogue to `file` as .xlsx."""
    rows = ([row[c] for c in METRIC_COLUMNS] for row in _metric_rows(db))
    write_xlsx(file, "metrics", METRIC_COLUMNS, rows)


def _json_chunks(rows: Iterable[Mapping]) -> Iterator[str]:
    yield "["
    for count, row in enumerate(rows):
        yield ("," if count else "") + json.dumps(dict(row), ensure_ascii=False)
    yield "]"


def write_xlsx(file, title: str, header, rows: Iterable[Iterable]) -> None:
    """A write-only workbook (rows go to a temporary file, not memory).

    Text is always written as a text cell, never as a formula, so `=...` shows as text;
    characters XML cannot hold are dropped. A date is a date cell, shown DD.MM.YYYY.
    """
    import datetime as dt

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(list(header))
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, str):
                cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", value))
                cell.data_type = "s"
            else:
                cell = WriteOnlyCell(sheet, value)
                if isinstance(value, dt.date):
                    cell.number_format = "DD.MM.YYYY"
            cells.append(cell)
        sheet.append(cells)
    workbook.save(file)


# -- for the data page -------------------------------------------------------------------


def count_observations(db, pilot_id: int, metric_id: int, *, per_unit: bool = False) -> int:
    """How many observations the pilot holds for one metric (`per_unit`: only the rows
    of a person, case or other unit, which quick entry's totals do not show)."""
    units = " AND unit != ''" if per_unit else ""
    return db.execute(
        f"SELECT count(*) FROM observation WHERE pilot_id = ? AND metric_id = ?{units}",  # noqa: S608
        [pilot_id, metric_id],
    ).fetchone()[0]


def observation_page(db, pilot_id: int, metric_id: int, *, limit: int, offset: int) -> list:
    """One page of a metric's observations, newest period first, with the upload's source."""
    return list(
        db.query(
            """SELECT o.period, o.arm, o.unit, o.value, o.n, o.source_line, o.updated_at,
                      up.source, up.filename, u.name AS user_name
               FROM observation o LEFT JOIN upload up ON up.id = o.upload_id
               LEFT JOIN users u ON u.id = up.user_id
               WHERE o.pilot_id = ? AND o.metric_id = ?
               ORDER BY o.period DESC, o.arm DESC, o.unit LIMIT ? OFFSET ?""",
            [pilot_id, metric_id, limit, offset],
        )
    )


def period_values(db, pilot_id: int, metric_id: int, first: str, last: str) -> dict:
    """Rows without a unit (one value per period and arm), keyed by (period, arm).

    These are what the quick-entry grid shows and writes; rows per person or case come
    by file and are not summed into the grid.
    """
    rows = db.query(
        """SELECT period, arm, value, n FROM observation
           WHERE pilot_id = ? AND metric_id = ? AND unit = '' AND period BETWEEN ? AND ?""",
        [pilot_id, metric_id, first, last],
    )
    return {(row["period"], row["arm"]): (row["value"], row["n"]) for row in rows}
