"""Reading observation files (CSV and .xlsx) strictly, as a stream.

This is the front door for pilot data: frontline staff paste Excel exports of Norwegian
systems (semicolons, decimal commas, `DD.MM.YYYY`, a BOM) and IT departments post files
to the API. Every row either becomes an `Observation` or an error naming its line and
column; nothing is guessed. The reader holds one row at a time, so memory does not grow
with the file; `observations.import_observations` stores what it yields in one unit of
work. The rules are written for users in docs/data-in-and-out.md.

Numbers: a comma-separated file uses the decimal point. Otherwise the decimal mark is
the first one a number shows unambiguously (`1,5`, `1.25`, `1 234,5`, `1.234,5`, ...),
or the one the caller names. A number with one `.` or `,` followed by exactly three
digits (`1,234`, `12.500`) reads as decimal or as thousands, so before the file's
decimal mark is known it is an error; after, it is read by that mark. A number whose
decimal mark contradicts the file's is an error.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import sqlite3
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from pilots.db import from_utc_text
from pilots.domain import DomainError, translatable

ARMS = ("pilot", "comparison")
COLUMNS = ("metric", "period", "arm", "unit", "value", "n")
METRIC_TYPES = ("mean", "proportion", "rate")
PERIODS = ("day", "week", "month", "quarter", "year")
DEFAULT_MAX_ROWS = 1_000_000
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_ERRORS = 200
MAX_LINE_BYTES = 64 * 1024
MAX_UNIT_LENGTH = 100
FIRST_YEAR, LAST_YEAR = 1900, 2199
# Where the app's users are: a period has begun when it has begun there.
LOCAL_TIMEZONE = "Europe/Oslo"
# Excel reads a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_BIGGEST = sys.float_info.max
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_SPACES = " \u00a0\u202f"  # Norwegian thousands: space, no-break space, narrow no-break
# Fast paths: a plain number in the file's decimal mark (or an integer while the mark is
# unknown). Anything else goes to `_number`, which knows every rule.
_FAST_NUMBER = {
    None: re.compile(r"-?[0-9]+").fullmatch,
    ",": re.compile(r"-?[0-9]+(?:,[0-9]+)?").fullmatch,
    ".": re.compile(r"-?[0-9]+(?:\.[0-9]+)?").fullmatch,
}
_NUMBER = re.compile(
    r"(?P<int>[0-9]+|[0-9]{1,3}(?P<sep>[ \u00a0\u202f.,])[0-9]{3}(?:(?P=sep)[0-9]{3})*)"
    r"(?:(?P<mark>[.,])(?P<frac>[0-9]+))?"
).fullmatch
_DMY = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})").fullmatch
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})").fullmatch
_PLAIN_UNIT = re.compile(r"[0-9A-Za-z_ÆØÅæøå][0-9A-Za-z_ÆØÅæøå./:#-]{0,99}").fullmatch
_FNR_WEIGHTS = ((3, 7, 6, 1, 8, 9, 4, 5, 2), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))


class Observation(NamedTuple):
    """One valid row: what `import_observations` stores, and the file line it came from."""

    metric: str
    period: str  # ISO date, the start of the metric's period
    arm: str
    unit: str  # '' when the row has no unit
    value: float
    n: float | None
    line: int


# A date that does not start the metric's period, one message per kind of period: each
# language words the period its own way (en måned, et kvartal, et år).
_NOT_PERIOD_START = {
    "week": translatable("%(value)s is not a Monday, the first day of a week; write %(expected)s."),
    "month": translatable("%(value)s is not the first day of a month; write %(expected)s."),
    "quarter": translatable("%(value)s is not the first day of a quarter; write %(expected)s."),
    "year": translatable("%(value)s is not the first day of a year; write %(expected)s."),
}


@dataclass(frozen=True)
class MetricSpec:
    """What the reader must know of a metric: its type, range and period."""

    type: str
    min_value: float | None = None
    max_value: float | None = None
    period: str | None = None  # when given, a row's date must start such a period
    rate_per: float = 1.0  # a rate shown per this much exposure needs n (see `_no_n`)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MetricSpec:
        return cls(
            row["type"],
            row.get("min_value"),
            row.get("max_value"),
            row.get("period"),
            row.get("rate_per") or 1.0,
        )


@dataclass(frozen=True)
class RowError:
    """One problem: the 1-based line (header = 1; None for the file) and column at fault.

    `message` is an English template with `%(name)s` placeholders filled from `params`,
    so the web can translate it; `code` is stable for programs and tests.
    """

    line: int | None
    column: str | None
    code: str
    message: str
    params: dict = field(default_factory=dict, hash=False)

    @property
    def text(self) -> str:
        return self.message % self.params if self.params else self.message

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "code": self.code, "message": self.text}


class FileRefused(DomainError):
    """The rows had errors; `errors` lists the first ones (line order), `total` counts all."""

    def __init__(self, errors: list[RowError], total: int | None = None):
        total = len(errors) if total is None else total
        super().__init__("The data has %(count)s errors; nothing was stored.", count=total)
        self.errors = errors
        self.total = total


class ErrorList:
    """Errors collected in line order; the first `limit` are kept, all are counted."""

    def __init__(self, limit: int):
        self.limit = limit
        self.kept: list[RowError] = []
        self.total = 0

    def add(self, line, column, code, message, /, **params):
        self.total += 1
        if len(self.kept) < self.limit:
            self.kept.append(RowError(line, column, code, message, params))

    def extend(self, errors: Iterable[RowError], total: int):
        for error in errors:
            if len(self.kept) < self.limit:
                self.kept.append(error)
        self.total += total


class _KeysSeen:
    """Finds keys (metric, period, arm, unit) repeated in a file, without holding them all.

    The keys go, in batches, into a private temporary SQLite database, which spills to a
    temporary file when it outgrows its small page cache: memory stays flat.
    """

    BATCH = 10_000

    def __init__(self, errors: ErrorList):
        self.errors = errors
        self.conn = sqlite3.connect("")
        self.conn.execute("PRAGMA cache_size = -16000")  # 16 MB, then a temporary file
        self.conn.execute(
            "CREATE TABLE seen (metric TEXT, period TEXT, arm TEXT, unit TEXT, line INTEGER,"
            " PRIMARY KEY (metric, period, arm, unit)) WITHOUT ROWID"
        )
        self.batch: list[tuple] = []

    def add(self, row: Observation):
        self.batch.append(row)
        if len(self.batch) >= self.BATCH:
            self.flush()

    def flush(self):
        batch, self.batch = self.batch, []
        if not batch:
            return
        before = self.conn.total_changes
        # ?7 is the row's line: the numbered parameters take the observations as they are.
        self.conn.executemany("INSERT OR IGNORE INTO seen VALUES (?1, ?2, ?3, ?4, ?7)", batch)
        if self.conn.total_changes - before == len(batch):
            return
        for row in batch:
            (first,) = self.conn.execute(
                "SELECT line FROM seen WHERE metric = ? AND period = ? AND arm = ? AND unit = ?",
                row[:4],
            ).fetchone()
            if first != row.line:
                duplicate(self.errors, row, first)

    def close(self):
        self.flush()
        self.conn.close()


def duplicate(errors: ErrorList, row: Observation, first_line: int | None):
    errors.add(
        row.line,
        "period",
        "duplicate",
        "Line %(first)s already has this metric, period, arm and unit.",
        first=first_line,
    )


class ObservationFile:
    """One file of observations, read lazily: iterating yields the valid rows.

    `file` is a binary file object. `kind` is 'csv' or 'xlsx' (None: from `filename`,
    else from the first bytes). `encoding` is None for UTF-8 (with or without BOM) or a
    name the user gave (e.g. 'windows-1252'). `decimal_mark` (',' or '.') fixes the
    decimal mark instead of detecting it. With `target_metric`, the `metric` column is
    optional. Errors are collected as the rows go by (`errors`, `error_count`); when the
    last row has been read and there were any, iterating raises `FileRefused`, so a
    caller can never mistake a bad file for a short good one.
    """

    def __init__(
        self,
        file,
        metrics: Mapping[str, MetricSpec],
        *,
        kind: str | None = None,
        filename: str | None = None,
        encoding: str | None = None,
        decimal_mark: str | None = None,
        target_metric: str | None = None,
        arms: Iterable[str] = ARMS,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_errors: int = DEFAULT_MAX_ERRORS,
        check_duplicates: bool = True,
        today: dt.date | None = None,
    ):
        if decimal_mark not in (None, ",", "."):
            raise ValueError("decimal_mark must be ',', '.' or None")
        if target_metric is not None and target_metric not in metrics:
            raise ValueError(f"target metric {target_metric!r} is not among the metrics")
        self._errors = ErrorList(max_errors)
        if target_metric is not None:  # a single-metric upload takes that metric only
            metrics = {target_metric: metrics[target_metric]}
        self._specs = _specs(metrics)
        self.arms = tuple(arms)
        self.target_metric = target_metric
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.check_duplicates = check_duplicates
        # A period must have begun: nobody has measured next month yet.
        self.today = today or local_today()
        self.filename = filename
        self.encoding = encoding
        self.decimal_mark = decimal_mark
        self.decimal_mark_line: int | None = 1 if decimal_mark else None
        self.delimiter: str | None = None
        self.header: list[str] = []
        self.rows_read = 0
        self.blank_lines = 0
        self._used = False
        self._source: Iterator | None = None
        self.kind = kind or _kind(file, filename, self._errors)
        if self.kind == "csv":
            self._open_csv(file)
        elif self.kind == "xlsx":
            self._open_xlsx(file)
        elif self.kind not in (None, "records"):
            raise ValueError("kind must be 'csv' or 'xlsx'")

    # -- what callers read -------------------------------------------------------------

    @property
    def errors(self) -> list[RowError]:
        return self._errors.kept

    @property
    def error_count(self) -> int:
        return self._errors.total

    def file_format(self) -> dict:
        """How the file was read, for the preview and the upload record."""
        return {
            "kind": self.kind,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "decimal_mark": self.decimal_mark,
        }

    def __iter__(self) -> Iterator[Observation]:
        if self._used:
            raise RuntimeError("an ObservationFile can be read once")
        self._used = True
        if self._source is None:
            return self._no_rows()
        rows = {"csv": self._csv_rows, "xlsx": self._xlsx_rows}.get(self.kind, self._record_rows)
        # The row generator is returned, not wrapped: one generator frame per row is enough.
        return rows(_KeysSeen(self._errors) if self.check_duplicates else None)

    def _no_rows(self) -> Iterator[Observation]:
        self._release(None)
        self._refuse_if_errors()
        yield from ()

    def _release(self, seen: _KeysSeen | None):
        """Close what the rows were read with (the duplicate check reports its last batch)."""
        if seen is not None:
            seen.close()
        workbook = getattr(self, "_workbook", None)
        if workbook is not None:
            workbook.close()
            self._workbook = None

    def _refuse_if_errors(self):
        if self._errors.total:
            raise FileRefused(self._errors.kept, self._errors.total)

    # -- CSV --------------------------------------------------------------------------

    def _open_csv(self, file):
        errors = self._errors
        named = self.encoding
        encoding = named or "utf-8"
        try:
            info = codecs.lookup(encoding)
        except LookupError:
            errors.add(None, None, "unknown_encoding", "Unknown encoding %(name)s.", name=named)
            return
        if "\n".encode(info.name) != b"\n" or ";,\t".encode(info.name) != b";,\t":
            errors.add(None, None, "unknown_encoding", "Unknown encoding %(name)s.", name=named)
            return
        self.encoding = "utf-8" if info.name == "utf-8-sig" else info.name
        first = file.readline(MAX_LINE_BYTES)
        if first.startswith(_UTF16_BOMS):
            errors.add(
                1,
                None,
                "utf16",
                "The file is UTF-16 (Excel's “Unicode text”); save it as “CSV UTF-8” instead.",
            )
            return
        if first.startswith(_UTF8_BOM):
            if self.encoding != "utf-8":
                errors.add(
                    1,
                    None,
                    "bom_mismatch",
                    "The file starts with a UTF-8 byte order mark, but %(name)s was named.",
                    name=named,
                )
                return
            first = first[len(_UTF8_BOM) :]
        if not first.strip():
            errors.add(1, None, "empty", "The first line must name the columns.")
            return
        self._bytes = len(first)
        self._damaged: list[int] = []  # lines that are not valid text in the encoding
        try:
            text = first.decode(self.encoding)
        except UnicodeDecodeError:
            self._decode_error(1)
            return
        line = text.rstrip("\r\n")
        found = [d for d in (";", "\t", ",") if d in line]
        if len(found) != 1:
            errors.add(
                1,
                None,
                "delimiter",
                "The first line must name the columns, separated by semicolons, commas or tabs"
                " (one kind only).",
            )
            return
        self.delimiter = found[0]
        if self.delimiter == "," and self.decimal_mark is None:
            self.decimal_mark, self.decimal_mark_line = ".", 1
        names = next(csv.reader([line], delimiter=self.delimiter))
        if self._read_header(names):
            self._source = self._lines(file)

    def _decode_error(self, line):
        self._errors.add(
            line,
            None,
            "encoding",
            "Line %(line)s is not valid %(encoding)s. Save the file as “CSV UTF-8”, or name"
            " its encoding (e.g. windows-1252).",
            line=line,
            encoding="UTF-8" if self.encoding == "utf-8" else self.encoding,
        )
        self._damaged.append(line)

    def _lines(self, file) -> Iterator[str]:
        """The file's text lines after the header; decoding errors are counted, not fatal."""
        readline, encoding, max_bytes = file.readline, self.encoding, self.max_bytes
        size, number = self._bytes, 1
        while raw := readline(MAX_LINE_BYTES):
            number += 1
            size += len(raw)
            if size > max_bytes:
                self._errors.add(
                    number,
                    None,
                    "too_big",
                    "The file is larger than %(limit)s MB.",
                    limit=max_bytes // (1024 * 1024),
                )
                return
            if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
                self._errors.add(
                    number,
                    None,
                    "line_too_long",
                    "Line %(line)s is longer than %(limit)s characters.",
                    line=number,
                    limit=MAX_LINE_BYTES,
                )
                return
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                self._decode_error(number)
                text = raw.decode(encoding, "replace")
            yield text

    def _csv_rows(self, seen: _KeysSeen | None) -> Iterator[Observation]:
        # The hot path of a large import: locals only, fast paths inline, the rules in
        # the slow-path methods they fall back to.
        reader = csv.reader(self._source, delimiter=self.delimiter, strict=True)
        next_row = reader.__next__
        errors = self._errors
        specs, target = self._specs, self.target_metric
        pad, width, core = self._pad, self._width, self._core
        fields = itemgetter(*self._indexes)
        direct = self._indexes == list(range(len(COLUMNS))) and width == len(COLUMNS)
        direct = direct and target is None
        arm_names = {name: name for name in self.arms}
        if "pilot" in self.arms:
            arm_names[""] = "pilot"
        max_rows = self.max_rows
        new = tuple.__new__
        plain_unit = _PLAIN_UNIT
        good_units: set[str] = set()
        fast = _FAST_NUMBER[self.decimal_mark]
        damaged = self._damaged
        count = 0
        previous = 1  # lines before the next row (the header is line 1)
        try:
            while True:
                try:
                    row = next_row()
                except StopIteration:
                    break
                except csv.Error as exc:
                    line = previous + 1
                    previous = reader.line_num + 1
                    errors.add(
                        line,
                        None,
                        "csv",
                        "Line %(line)s: %(problem)s.",
                        line=line,
                        problem=str(exc),
                    )
                    continue
                line = previous + 1
                previous = reader.line_num + 1
                if damaged and damaged[-1] >= line:
                    continue  # the line's text is damaged: its one error is enough
                if len(row) != width:
                    if not any(row):
                        self.blank_lines += 1
                        continue
                    count += 1  # read, if not usable: the preview counts it among the read
                    errors.add(
                        line,
                        None,
                        "fields",
                        "Line %(line)s has %(found)s fields; the first line names %(expected)s.",
                        line=line,
                        found=len(row),
                        expected=core,
                    )
                    continue
                if core != width:  # the header ended in empty names (trailing delimiters)
                    if any(row[core:]):
                        count += 1
                        self._trailing_values(line)
                        continue
                    if not any(row):
                        self.blank_lines += 1
                        continue
                count += 1
                if count > max_rows:
                    self._too_many_rows(line)
                    break
                if direct:
                    metric, period, arm, unit, value, n = row
                else:
                    if pad:
                        row += pad
                    metric, period, arm, unit, value, n = fields(row)
                    if not metric and target is not None:
                        if not any(row):
                            self.blank_lines += 1
                            continue
                        metric = target
                spec = specs.get(metric)
                if spec is None:
                    if not any(row):
                        self.blank_lines += 1
                        continue
                    metric, spec = self._metric(metric, line)
                    if spec is None:
                        continue
                kind, _, _, cache, _, _ = spec
                ok = True
                iso = cache.get(period)
                if iso is None:
                    iso = self._period(period, spec, line)
                    ok = iso is not None
                arm_name = arm_names.get(arm)
                if arm_name is None:
                    arm_name = self._arm(arm, line)
                    ok = ok and arm_name is not None
                if unit and unit not in good_units:
                    if plain_unit(unit) and len(unit) != 11:
                        if len(good_units) > 100_000:
                            good_units.clear()
                        good_units.add(unit)
                    else:
                        unit = self._unit(unit, line)
                        ok = ok and unit is not None
                if fast(value):
                    v = float(value.replace(",", "."))
                else:
                    v = self._number(value, line, "value")
                    fast = _FAST_NUMBER[self.decimal_mark]
                    if v is None:
                        continue
                if n:
                    if fast(n):
                        nv = float(n.replace(",", "."))
                    else:
                        nv = self._number(n, line, "n")
                        fast = _FAST_NUMBER[self.decimal_mark]
                        if nv is None:
                            continue
                    if not self._counts(kind, v, nv, spec, line):
                        continue
                else:
                    nv = None
                    if not self._no_n(kind, v, spec, line):
                        continue
                if ok:
                    observation = new(Observation, (metric, iso, arm_name, unit, v, nv, line))
                    if seen is not None:
                        seen.add(observation)
                    yield observation
            self.rows_read = min(count, max_rows)
        finally:
            self._release(seen)
        self._refuse_if_errors()

    # -- .xlsx ------------------------------------------------------------------------

    def _open_xlsx(self, file):
        import zipfile

        from openpyxl import load_workbook

        self.encoding = None
        try:
            with warnings.catch_warnings():
                # Files from other programs carry parts openpyxl ignores and warns about.
                warnings.simplefilter("ignore")
                self._workbook = load_workbook(file, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError):
            self._errors.add(None, None, "xlsx", "The file is not a readable .xlsx workbook.")
            return
        sheet = self._workbook.worksheets[0]
        sheet.reset_dimensions()  # some programs write a wrong size; read every row
        rows = sheet.iter_rows(values_only=True)
        for number, cells in enumerate(rows, start=1):
            if any(cell is not None and cell != "" for cell in cells):
                names = ["" if c is None else str(c) for c in cells]
                if self._read_header(names, line=number):
                    self._header_line = number
                    self._source = rows
                return
        self._errors.add(1, None, "empty", "The first line must name the columns.")

    def _xlsx_rows(self, seen: _KeysSeen | None) -> Iterator[Observation]:
        indexes, core = self._indexes, self._core
        count = 0
        try:
            for line, cells in enumerate(self._source, start=self._header_line + 1):
                if len(cells) > core and any(c is not None and c != "" for c in cells[core:]):
                    count += 1
                    self._trailing_values(line)
                    continue
                cells = list(cells[:core]) + [None] * (core - len(cells))
                if all(c is None or c == "" for c in cells):
                    self.blank_lines += 1
                    continue
                count += 1
                if count > self.max_rows:
                    self._too_many_rows(line)
                    break
                cells += [None] * len(self._pad)
                row = self._check_row(line, *[cells[i] for i in indexes])
                if row is not None:
                    if seen is not None:
                        seen.add(row)
                    yield row
            self.rows_read = min(count, self.max_rows)
        finally:
            self._release(seen)
        self._refuse_if_errors()

    # -- one row of any source --------------------------------------------------------

    def _check_row(self, line, metric, period, arm, unit, value, n) -> Observation | None:
        """Check one row whose cells may be text, numbers or dates (.xlsx, JSON)."""
        metric = self._text(metric, line, "metric")
        arm = self._text(arm, line, "arm")
        unit = self._unit_cell(unit, line)
        if metric is None or arm is None or unit is None:
            return None
        if not metric and self.target_metric is not None:
            metric = self.target_metric
        spec = self._specs.get(metric)
        if spec is None:
            metric, spec = self._metric(metric, line)
            if spec is None:
                return None
        iso = self._period_cell(period, spec, line)
        if arm not in self.arms:
            arm = self._arm(arm, line)
        if unit:
            unit = self._unit(unit, line)
        v = self._number_cell(value, line, "value")
        nv = None if n is None or n == "" else self._number_cell(n, line, "n")
        if v is None or (nv is None and n is not None and n != ""):
            return None
        kind = spec[0]
        if nv is not None:
            if not self._counts(kind, v, nv, spec, line):
                return None
        elif not self._no_n(kind, v, spec, line):
            return None
        if iso is None or arm is None or unit is None:
            return None
        return Observation(metric, iso, arm, unit, v, nv, line)

    def _text(self, cell, line, column) -> str | None:
        if cell is None:
            return ""
        if isinstance(cell, str):
            return cell
        self._errors.add(
            line,
            column,
            "not_text",
            "%(column)s must be text, not %(value)s.",
            column=column,
            value=str(cell),
        )
        return None

    def _unit_cell(self, cell, line) -> str | None:
        if isinstance(cell, bool):
            return self._text(cell, line, "unit")
        if isinstance(cell, int):
            return str(cell)
        if isinstance(cell, float) and cell.is_integer():
            return str(int(cell))
        return self._text(cell, line, "unit")

    def _number_cell(self, cell, line, column) -> float | None:
        if cell is None or isinstance(cell, str):
            return self._number(cell or "", line, column)
        if isinstance(cell, int | float) and not isinstance(cell, bool):
            return self._finite(float(cell), str(cell), line, column)
        self._errors.add(
            line, column, "not_a_number", "“%(value)s” is not a number.", value=str(cell)
        )
        return None

    def _period_cell(self, cell, spec, line) -> str | None:
        if isinstance(cell, dt.datetime):
            if cell.time() != dt.time():
                self._errors.add(
                    line,
                    "period",
                    "date_with_time",
                    "The period %(value)s has a time of day; give the date only.",
                    value=cell.isoformat(sep=" "),
                )
                return None
            cell = cell.date()
        if isinstance(cell, dt.date):
            return self._period(cell.strftime("%d.%m.%Y"), spec, line)
        if isinstance(cell, str):
            iso = spec[3].get(cell)
            return iso if iso is not None else self._period(cell, spec, line)
        if cell is None:
            return self._period("", spec, line)
        self._errors.add(
            line,
            "period",
            "not_a_date",
            "“%(value)s” is not a date; format the column as a date, or write DD.MM.YYYY"
            " or YYYY-MM-DD.",
            value=str(cell),
        )
        return None

    # -- the rules (slow paths) -------------------------------------------------------

    def _read_header(self, names: list[str], line: int = 1) -> bool:
        errors = self._errors
        before = errors.total
        names = [name.strip().lower() for name in names]
        width = core = len(names)
        while core and not names[core - 1]:
            core -= 1
        names = names[:core]
        self.header = names
        positions: dict[str, int] = {}
        for position, name in enumerate(names, start=1):
            if not name:
                errors.add(
                    line,
                    None,
                    "column_name",
                    "Column %(position)s has no name.",
                    position=position,
                )
            elif name in positions:
                errors.add(
                    line, name, "column_twice", "The column %(name)s appears twice.", name=name
                )
            elif name not in COLUMNS:
                errors.add(
                    line,
                    name,
                    "unknown_column",
                    "Unknown column %(name)s; the columns are %(allowed)s.",
                    name=name,
                    allowed=", ".join(COLUMNS),
                )
            else:
                positions[name] = position - 1
        required = ["period", "value"] if self.target_metric else ["metric", "period", "value"]
        for name in required:
            if name not in positions and name in COLUMNS:
                errors.add(
                    line, name, "missing_column", "The column %(name)s is missing.", name=name
                )
        if errors.total != before:
            return False
        # Absent optional columns read from padding appended to each row.
        pad, indexes = [], []
        for name in COLUMNS:
            if name in positions:
                indexes.append(positions[name])
            else:
                indexes.append(core + len(pad))
                pad.append("")
        self._indexes, self._pad = indexes, pad
        self._core = core
        # A CSV row has as many fields as the header, trailing empty names included.
        self._width = width
        return True

    def _cleaned(self, text: str) -> str:
        """The text stripped, and from a file also without the export's formula apostrophe.

        Only CSV and .xlsx files come back from a spreadsheet, where our CSV export's
        apostrophe may still stand; a JSON list (the API) or quick entry never had one, so
        there a leading apostrophe is part of what was sent and stays.
        """
        cleaned = text.strip()
        return cleaned if self.kind == "records" else _unquote(cleaned)

    def _metric(self, text: str, line: int):
        """Look a metric up more kindly than the fast path; None spec when unknown."""
        cleaned = self._cleaned(text)
        spec = self._specs.get(cleaned)
        if spec is not None:
            return cleaned, spec
        if not cleaned:
            self._errors.add(line, "metric", "missing_metric", "The metric is missing.")
        else:
            self._errors.add(
                line,
                "metric",
                "unknown_metric",
                "Unknown metric “%(value)s”; this pilot's metrics are %(allowed)s.",
                value=text,
                allowed=", ".join(sorted(self._specs)),
            )
        return None, None

    def _period(self, text: str, spec, line: int) -> str | None:
        errors = self._errors
        cleaned = text.strip()
        if not cleaned:
            errors.add(line, "period", "missing_period", "The period is missing.")
            return None
        match = _DMY(cleaned)
        dmy = match is not None
        if dmy:
            year, month, day = int(match[3]), int(match[2]), int(match[1])
        elif match := _ISO(cleaned):
            year, month, day = int(match[1]), int(match[2]), int(match[3])
        else:
            errors.add(
                line,
                "period",
                "not_a_date",
                "“%(value)s” is not a date; write DD.MM.YYYY or YYYY-MM-DD.",
                value=text,
            )
            return None
        try:
            date = dt.date(year, month, day)
        except ValueError:
            errors.add(
                line, "period", "impossible_date", "%(value)s is not a real date.", value=cleaned
            )
            return None
        if not FIRST_YEAR <= year <= LAST_YEAR:
            errors.add(
                line,
                "period",
                "year_out_of_range",
                "The year in %(value)s is not between %(first)s and %(last)s.",
                value=cleaned,
                first=FIRST_YEAR,
                last=LAST_YEAR,
            )
            return None
        kind = spec[4]
        start = period_start(date, kind) if kind else date
        if start != date:
            errors.add(
                line,
                "period",
                "not_period_start",
                _NOT_PERIOD_START[kind],
                value=cleaned,
                expected=start.strftime("%d.%m.%Y") if dmy else start.isoformat(),
            )
            return None
        if date > self.today:
            errors.add(
                line,
                "period",
                "future_period",
                "%(value)s has not begun yet; give data for periods up to today.",
                value=cleaned,
            )
            return None
        iso = date.isoformat()
        cache = spec[3]
        if len(cache) >= 100_000:  # a file of ever new date spellings must not grow memory
            cache.clear()
        cache[text] = iso
        return iso

    def _arm(self, text: str, line: int) -> str | None:
        cleaned = self._cleaned(text).lower()
        if not cleaned and "pilot" in self.arms:
            return "pilot"
        if cleaned in self.arms:
            return cleaned
        if cleaned in ARMS:
            self._errors.add(
                line,
                "arm",
                "arm_not_in_design",
                "This pilot's design has no %(value)s arm.",
                value=cleaned,
            )
        else:
            self._errors.add(
                line,
                "arm",
                "unknown_arm",
                "Unknown arm “%(value)s”; use %(allowed)s.",
                value=text,
                allowed=" or ".join(self.arms),
            )
        return None

    def _unit(self, text: str, line: int) -> str | None:
        cleaned = self._cleaned(text)
        if len(cleaned) > MAX_UNIT_LENGTH:
            self._errors.add(
                line,
                "unit",
                "unit_too_long",
                "The unit is longer than %(limit)s characters.",
                limit=MAX_UNIT_LENGTH,
            )
        elif not cleaned.isprintable():
            self._errors.add(
                line, "unit", "unit_characters", "The unit holds control or invisible characters."
            )
        elif looks_like_national_id(cleaned):
            self._errors.add(
                line,
                "unit",
                "national_id",
                "The unit looks like a national identity number; use a pseudonymous id.",
            )
        else:
            return cleaned
        return None

    def _number(self, text: str, line: int, column: str) -> float | None:
        """Read a number by every rule; learn the file's decimal mark from it if it shows it."""
        errors = self._errors
        cleaned = text.strip()
        if not cleaned:
            errors.add(line, column, "missing_number", "The %(column)s is missing.", column=column)
            return None
        negative = cleaned[0] in "-\u2212"
        match = _NUMBER(cleaned[1:] if negative else cleaned)
        whole, sep, mark, fraction = (
            match.group("int", "sep", "mark", "frac") if match else [""] * 4
        )
        if not match or (sep and whole[0] == "0") or (sep and mark == sep):
            errors.add(line, column, "not_a_number", "“%(value)s” is not a number.", value=text)
            return None
        known = self.decimal_mark
        if sep is None:
            if mark is None:
                return self._finite(float(whole) * (-1 if negative else 1), text, line, column)
            digits = whole
            if len(fraction) == 3 and len(whole) <= 3 and whole[0] != "0":
                if known is None:
                    errors.add(
                        line,
                        column,
                        "ambiguous_number",
                        "“%(value)s” could be read as %(whole)s (with a thousands separator) or"
                        " as a decimal number; no earlier number shows this file's decimal mark."
                        " Write %(whole)s without the separator, or choose the decimal mark.",
                        value=text,
                        whole=whole + fraction,
                    )
                    return None
                if mark != known:  # the other mark: a thousands separator
                    digits, fraction = whole + fraction, ""
            elif not self._decimal_mark(mark, text, line, column):
                return None
        else:
            digits = whole.replace(sep, "")
            implied = mark
            if sep in ".,":
                implied = "," if sep == "." else "."
            if implied is not None and not self._decimal_mark(implied, text, line, column):
                return None
        number = float(f"{digits}.{fraction}" if fraction else digits)
        return self._finite(-number if negative else number, text, line, column)

    def _decimal_mark(self, mark: str, text: str, line: int, column: str) -> bool:
        known = self.decimal_mark
        if known is None:
            self.decimal_mark, self.decimal_mark_line = mark, line
            return True
        if mark == known:
            return True
        self._errors.add(
            line,
            column,
            "decimal_mark",
            "“%(value)s” has “%(found)s” as decimal mark, but this file uses “%(mark)s”"
            " (from line %(since)s).",
            value=text,
            found=mark,
            mark=known,
            since=self.decimal_mark_line,
        )
        return False

    def _finite(self, number: float, text: str, line: int, column: str) -> float | None:
        if -_BIGGEST <= number <= _BIGGEST:
            return number
        self._errors.add(line, column, "too_large", "“%(value)s” is too large.", value=text)
        return None

    def _no_n(self, kind: str, value: float, spec, line: int) -> bool:
        """Check a row without n: one observation of one unit, within the metric's range
        (0 or 1 for a proportion). A rate shown per an amount of exposure ("per 100
        days") needs its exposure: counted as 1, the row's events would read as events
        per 1/100 of the amount, a hundredfold rate."""
        low, high = spec[1], spec[2]
        if kind == "rate" and spec[5].rate_per != 1.0:
            self._errors.add(
                line,
                "n",
                "n_needed_for_rate",
                "This rate is shown per %(amount)s of exposure: give the exposure in n (for"
                " example the days followed), with the events in value.",
                amount=_show(spec[5].rate_per),
            )
            return False
        if not low <= value <= high or (kind == "proportion" and value != 0 and value != 1):
            self._out_of_range(kind, value, spec, line)
            return False
        return True

    def _counts(self, kind: str, value: float, n: float, spec, line: int) -> bool:
        """Check a row with n: successes of n trials, or events in n exposure."""
        errors = self._errors
        if kind == "mean":
            errors.add(
                line,
                "n",
                "n_not_for_mean",
                "n is only for proportion and rate metrics (trials or exposure); leave it empty.",
            )
            return False
        if not n > 0:
            errors.add(line, "n", "n_not_positive", "n must be more than 0.")
            return False
        if value < 0:
            if kind == "proportion":
                errors.add(
                    line,
                    "value",
                    "negative_count",
                    "With n, the value counts successes and cannot be negative.",
                )
            else:
                errors.add(
                    line,
                    "value",
                    "negative_count",
                    "With n, the value counts events and cannot be negative.",
                )
            return False
        if kind == "proportion":
            if value > n:
                errors.add(
                    line,
                    "value",
                    "successes_over_n",
                    "The value (successes, %(value)s) is more than n (%(n)s).",
                    value=_show(value),
                    n=_show(n),
                )
                return False
            if not spec[1] <= value / n <= spec[2]:
                self._out_of_range(kind, value / n, spec, line, share=True)
                return False
        return True

    def _out_of_range(self, kind: str, value: float, spec, line: int, share: bool = False):
        low, high = spec[5].min_value, spec[5].max_value
        if not -_BIGGEST <= value <= _BIGGEST:
            self._errors.add(line, "value", "too_large", "%(value)s is too large.", value=value)
            return
        if kind == "proportion" and not share and value != 0 and value != 1:
            self._errors.add(
                line,
                "value",
                "proportion_not_0_or_1",
                "Without n, a row of a proportion metric is one unit: the value must be 0 or 1.",
            )
            return
        self._errors.add(
            line,
            "value",
            "out_of_range",
            "%(value)s is outside the metric's range (%(low)s to %(high)s).",
            value=_show(value),
            low="…" if low is None else _show(low),
            high="…" if high is None else _show(high),
        )

    def _too_many_rows(self, line: int):
        self._errors.add(
            line,
            None,
            "too_many_rows",
            "The file has more than %(limit)s rows; split it into smaller files.",
            limit=self.max_rows,
        )

    def _trailing_values(self, line: int):
        self._errors.add(
            line,
            None,
            "values_outside_columns",
            "Line %(line)s has values to the right of the named columns.",
            line=line,
        )

    # -- JSON lists and quick entry -------------------------------------------------------

    def _record_rows(self, seen: _KeysSeen | None) -> Iterator[Observation]:
        errors = self._errors
        count = 0
        required = ("period", "value") if self.target_metric else ("metric", "period", "value")
        try:
            for line, record in enumerate(self._source, start=1):
                count += 1
                if count > self.max_rows:
                    self._too_many_rows(line)
                    break
                if not isinstance(record, Mapping):
                    errors.add(
                        line, None, "not_an_object", "Item %(line)s is not an object.", line=line
                    )
                    continue
                unknown = [key for key in record if key not in COLUMNS]
                missing = [key for key in required if key not in record]
                for key in unknown:
                    errors.add(
                        line,
                        str(key),
                        "unknown_column",
                        "Unknown column %(name)s; the columns are %(allowed)s.",
                        name=str(key),
                        allowed=", ".join(COLUMNS),
                    )
                for key in missing:
                    errors.add(
                        line, key, "missing_column", "The column %(name)s is missing.", name=key
                    )
                if unknown or missing:
                    continue
                row = self._check_row(line, *[record.get(name) for name in COLUMNS])
                if row is not None:
                    if seen is not None:
                        seen.add(row)
                    yield row
            self.rows_read = min(count, self.max_rows)
        finally:
            self._release(seen)
        self._refuse_if_errors()


@dataclass(frozen=True)
class Preview:
    """A dry run of reading a file: how it was read, its first rows and every error."""

    kind: str | None
    encoding: str | None
    delimiter: str | None
    decimal_mark: str | None
    header: list[str]
    rows: list[Observation]
    row_count: int  # valid rows
    rows_read: int  # data rows read, valid or not
    blank_lines: int
    errors: list[RowError]
    error_count: int

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def read_observations(file, metrics: Mapping[str, MetricSpec], **options) -> ObservationFile:
    """Open a CSV or .xlsx file of observations for reading; see `ObservationFile`."""
    return ObservationFile(file, metrics, **options)


def read_records(
    records: Iterable[Mapping[str, Any]],
    metrics: Mapping[str, MetricSpec],
    *,
    target_metric: str | None = None,
    arms: Iterable[str] = ARMS,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_errors: int = DEFAULT_MAX_ERRORS,
    check_duplicates: bool = True,
    today: dt.date | None = None,
) -> ObservationFile:
    """Check a JSON list (or quick-entry rows) of objects by the same rules as a file.

    The `line` of a row is its 1-based position in the list. Values may be numbers or
    text; periods text (`YYYY-MM-DD` or `DD.MM.YYYY`) or dates. Text is taken as sent: a
    JSON export has no formula apostrophes, so none is dropped (`'=x` stays `'=x`).
    """
    reader = ObservationFile(
        None,
        metrics,
        kind="records",
        target_metric=target_metric,
        arms=arms,
        max_rows=max_rows,
        max_errors=max_errors,
        check_duplicates=check_duplicates,
        today=today,
    )
    reader._source = iter(records)
    return reader


def preview(file, metrics: Mapping[str, MetricSpec], *, rows: int = 20, **options) -> Preview:
    """Read the whole file without storing anything: its format, first rows and errors."""
    reader = ObservationFile(file, metrics, **options)
    first: list[Observation] = []
    count = 0
    try:
        for row in reader:
            count += 1
            if len(first) < rows:
                first.append(row)
    except FileRefused:
        pass
    return Preview(
        kind=reader.kind,
        encoding=reader.encoding,
        delimiter=reader.delimiter,
        decimal_mark=reader.decimal_mark,
        header=reader.header,
        rows=first,
        row_count=count,
        rows_read=reader.rows_read,
        blank_lines=reader.blank_lines,
        errors=reader.errors,
        error_count=reader.error_count,
    )


def local_today(now: str | None = None) -> dt.date:
    """The date where the app's users are (LOCAL_TIMEZONE) at `now` (UTC text; default:
    this moment)."""
    moment = from_utc_text(now) if now else dt.datetime.now(dt.UTC)
    return moment.astimezone(ZoneInfo(LOCAL_TIMEZONE)).date()


def period_start(date: dt.date, period: str) -> dt.date:
    """The first day of the `period` ('day', 'week' (Monday), 'month', ...) holding `date`."""
    if period == "week":
        return date - dt.timedelta(days=date.weekday())
    if period == "month":
        return date.replace(day=1)
    if period == "quarter":
        return date.replace(month=(date.month - 1) // 3 * 3 + 1, day=1)
    if period == "year":
        return date.replace(month=1, day=1)
    return date


def looks_like_national_id(text: str) -> bool:
    """True for a Norwegian national identity or D number (11 digits, both check digits)."""
    digits = text.replace(" ", "")
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        return False
    numbers = [int(c) for c in digits]
    for weights, position in zip(_FNR_WEIGHTS, (9, 10), strict=True):
        check = 11 - sum(w * d for w, d in zip(weights, numbers, strict=False)) % 11
        if check == 11:
            check = 0
        if check == 10 or check != numbers[position]:
            return False
    return True


def _specs(metrics: Mapping[str, MetricSpec]) -> dict[str, tuple]:
    """Per metric slug: (type, low, high, period cache, period, spec), for the hot loop."""
    caches: dict[str | None, dict[str, str]] = {}
    specs = {}
    for slug, spec in metrics.items():
        if spec.type not in METRIC_TYPES:
            raise ValueError(f"metric {slug!r} has an unknown type {spec.type!r}")
        if spec.period not in (None, *PERIODS):
            raise ValueError(f"metric {slug!r} has an unknown period {spec.period!r}")
        low = -_BIGGEST if spec.min_value is None else float(spec.min_value)
        high = _BIGGEST if spec.max_value is None else float(spec.max_value)
        cache = caches.setdefault(spec.period, {})
        specs[slug] = (spec.type, low, high, cache, spec.period, spec)
    return specs


def _kind(file, filename: str | None, errors: ErrorList) -> str | None:
    """'csv' or 'xlsx' from the file name, else from the first bytes."""
    suffix = (filename or "").lower().rpartition(".")[2] if "." in (filename or "") else ""
    head = b""
    if hasattr(file, "seekable") and file.seekable():
        position = file.tell()
        head = file.read(8)
        file.seek(position)
    if suffix == "xls" or head.startswith(b"\xd0\xcf\x11\xe0"):
        errors.add(
            None,
            None,
            "xls",
            "Old Excel files (.xls) cannot be read; save the sheet as .xlsx or “CSV UTF-8”.",
        )
        return None
    if suffix in ("xlsx", "xlsm") or (not suffix and head.startswith(b"PK\x03\x04")):
        return "xlsx"
    return "csv"


def _unquote(text: str) -> str:
    """Undo the CSV export's formula neutralisation: drop an apostrophe before = + - @."""
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@\t\r":
        return text[1:]
    return text


def _show(number: float) -> str:
    return f"{number:g}"
