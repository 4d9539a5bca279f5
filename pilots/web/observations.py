"""A pilot's data page: quick entry, file upload with preview, stored rows, exports.

Everyone who may see the pilot reads and exports its data; members of its team enter
and upload it. Reading and storing are the domain's (observation_files, observations):
here a grid or a file becomes rows, errors come back next to the cell or listed with
line and column, and an upload waits between preview and storing in a file under the
instance folder whose name ties it to the person and the pilot and is random, so no
client-supplied path is ever opened.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import secrets
import time
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from pilots.domain import DomainError, NotFound, audit
from pilots.domain import observations as domain
from pilots.domain import pilots as pilot_domain
from pilots.domain.observation_files import (
    FileRefused,
    period_start,
    preview,
    read_records,
)
from pilots.web import get_db
from pilots.web.access import SIGNED_IN, allow, is_htmx
from pilots.web.i18n import format_day
from pilots.web.pages import Paging, page, page_number, see_other

bp = Blueprint("observations", __name__, url_prefix="/pilots")

GRID_PERIODS = 12
PAGE_SIZE = 25
UPLOADS_SHOWN = 20  # the latest uploads listed (and offered for undo) on the data page
STAGED_FOR = 24 * 3600  # seconds an upload waits for its "store" before it is swept
TOKEN = re.compile(r"[0-9a-f]{32}")
# Encodings a user may name for a CSV file; UTF-8 (with or without BOM) is the default.
ENCODINGS = ("", "windows-1252", "iso-8859-1", "iso-8859-15", "mac-roman")
DELIMITERS = {";": "semicolon", ",": "comma", "\t": "tab"}


# ---- shared ------------------------------------------------------------------------


def _visible(pilot_id: int) -> dict:
    try:
        return pilot_domain.visible_pilot(get_db(), pilot_id, current_user.id)
    except NotFound:
        abort(404)


def _editable(pilot_id: int) -> dict:
    try:
        return pilot_domain.editable_pilot(get_db(), pilot_id, current_user.id)
    except NotFound:
        abort(404)


def _is_member(pilot: dict) -> bool:
    return pilot_domain.is_team_member(get_db(), current_user.id, pilot["team_id"]) or (
        pilot["created_by"] == current_user.id
    )


def _metrics(pilot: dict) -> list[dict]:
    return [m for m in pilot["metrics"] if m["dropped_in_version"] is None]


def _chosen_metric(metrics: list[dict], slug: str | None) -> dict | None:
    for metric in metrics:
        if metric["slug"] == slug:
            return metric
    return metrics[0] if metrics else None


def _mark() -> str:
    """The reader's decimal mark: a comma in Norwegian, a point in English."""
    from flask_babel import get_locale

    return "," if str(get_locale() or "nb") == "nb" else "."


def error_text(error) -> str:
    """A reader's RowError in the reader's language."""
    return _(error.message, **error.params) if error.params else _(error.message)


def _arm_labels() -> dict[str, str]:
    return {"pilot": _("Pilot group"), "comparison": _("Comparison group")}


def _source_labels() -> dict[str, str]:
    return {
        "csv": _("CSV file"),
        "xlsx": _("Excel file"),
        "json": _("JSON"),
        "entry": _("Quick entry"),
        "api": _("API"),
        None: "—",
    }


# ---- the grid ------------------------------------------------------------------------


def _step_back(day: dt.date, period: str) -> dt.date:
    if period == "day":
        return day - dt.timedelta(days=1)
    if period == "week":
        return day - dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    month = day.month - 1 - months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1, day=1)


def grid_periods(period: str, until: dt.date, count: int = GRID_PERIODS) -> list[str]:
    """The `count` periods up to and including the one holding `until`, oldest first."""
    day = period_start(until, period)
    days = [day]
    for _step in range(count - 1):
        day = _step_back(day, period)
        days.append(day)
    return [d.isoformat() for d in reversed(days)]


def _until() -> dt.date:
    try:
        return dt.date.fromisoformat(request.values.get("until", ""))
    except ValueError:
        return dt.date.today()


def _number_text(value, mark: str) -> str:
    return "" if value is None else domain.format_number(value, mark)


def _grid(pilot: dict, metric: dict, until: dt.date, form=None, errors=None) -> dict:
    """Everything the entry grid and its chart show: rows, cells, messages, chart data."""
    arms = domain.arms_for(get_db(), pilot["id"])
    periods = grid_periods(metric["period"], until)
    stored = domain.period_values(
        get_db(), pilot["id"], metric["metric_id"], periods[0], periods[-1]
    )
    mark = _mark()
    counted = metric["type"] in ("proportion", "rate")
    rows = []
    for period in periods:
        cells = []
        for arm in arms:
            value, n = stored.get((period, arm), (None, None))
            cell = {
                "arm": arm,
                "id": f"{metric['slug']}-{period}-{arm}",
                "value": _number_text(value, mark),
                "n": _number_text(n, mark),
                "error": (errors or {}).get((period, arm)),
            }
            if form is not None:
                cell["value"] = form.get(f"v|{period}|{arm}", "")
                cell["n"] = form.get(f"n|{period}|{arm}", "")
            cells.append(cell)
        rows.append({"period": period, "cells": cells})
    start = pilot.get("start_date") or ""
    chart = {
        "labels": [format_day(p) for p in periods],
        "arms": [{"arm": arm, "label": _arm_labels()[arm]} for arm in arms],
        "counted": counted,
        "percent": metric["type"] == "proportion",
        # A rate is drawn per the catalogue's amount of exposure (events / n x rate_per).
        "per": metric["rate_per"] if metric["type"] == "rate" else 1,
        "start": next((i for i, p in enumerate(periods) if p >= start), None) if start else None,
        "start_label": _("Pilot starts"),
        "title": metric["name"],
    }
    earlier = _step_back(dt.date.fromisoformat(periods[0]), metric["period"])
    later = dt.date.fromisoformat(periods[-1])
    for _step in range(GRID_PERIODS):
        later = _next_period(later, metric["period"])
    return {
        "rows": rows,
        "arms": arms,
        "counted": counted,
        "chart": chart,
        "until": until.isoformat(),
        "earlier": earlier.isoformat(),
        "later": later.isoformat() if later <= dt.date.today() + dt.timedelta(days=400) else None,
        "mark": mark,
    }


def _next_period(day: dt.date, period: str) -> dt.date:
    if period == "day":
        return day + dt.timedelta(days=1)
    if period == "week":
        return day + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1, day=1)


_SIMPLE = {",": re.compile(r"-?[0-9]+(?:,[0-9]+)?"), ".": re.compile(r"-?[0-9]+(?:\.[0-9]+)?")}
_GROUPED = re.compile(r"-?[0-9]{1,3}(?:[ \u00a0\u202f][0-9]{3})+(?:[.,][0-9]+)?")


def _cell_number(text: str, mark: str):
    """A typed number: plain ones in the page's decimal mark become numbers here (`1,234`
    typed on a Norwegian page is one and a bit); anything else goes to the reader as
    text, which knows every rule and names what is wrong."""
    text = text.strip()
    if _GROUPED.fullmatch(text):  # 1 200,5: spaces between groups of three digits
        text = re.sub(r"[ \u00a0\u202f]", "", text)
    if _SIMPLE[mark].fullmatch(text):
        return float(text.replace(",", "."))
    return text


def _records(metric: dict, periods: list[str], arms, form, stored, mark: str):
    """The grid's changed cells as records, and which cell each record came from."""
    records, cells = [], []
    for period in periods:
        for arm in arms:
            value = form.get(f"v|{period}|{arm}", "").strip()
            n = form.get(f"n|{period}|{arm}", "").strip()
            if not value and not n:
                continue
            record = {
                "metric": metric["slug"],
                "period": period,
                "arm": arm,
                "unit": "",
                "value": _cell_number(value, mark),
                "n": _cell_number(n, mark) if n else None,
            }
            if stored.get((period, arm)) == (record["value"], record["n"]):
                continue  # unchanged: saving again would only count it as updated
            records.append(record)
            cells.append((period, arm))
    return records, cells


def _cell_errors(refusal: FileRefused, cells: list) -> tuple[dict, list[str]]:
    """Errors by cell (period, arm), and those that belong to no cell."""
    by_cell: dict = {}
    other = []
    for error in refusal.errors:
        if error.line and 0 < error.line <= len(cells):
            by_cell.setdefault(cells[error.line - 1], []).append(error_text(error))
        else:
            other.append(error_text(error))
    return {cell: " ".join(messages) for cell, messages in by_cell.items()}, other


# ---- the page ------------------------------------------------------------------------


def _context(pilot: dict, metric: dict | None, **extra) -> dict:
    db = get_db()
    member = _is_member(pilot)
    context = {
        "pilot": pilot,
        "metrics": _metrics(pilot),
        "metric": metric,
        "member": member,
        "uploads": domain.uploads_for(db, pilot["id"], limit=UPLOADS_SHOWN),
        "uploads_shown": UPLOADS_SHOWN,
        "may_undo": member and current_user.has_any_role(("frontline",)),
        "encodings": ENCODINGS,
        "delimiters": DELIMITERS,
        "arm_labels": _arm_labels(),
        "max_bytes": current_app.config["MAX_CONTENT_LENGTH"],
        "max_megabytes": current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024),
        "grid": None,
        "saved": None,
        "entry_errors": [],
        "preview": None,
        "upload_errors": {},
        "source_labels": _source_labels(),
        "stored": None,
    }
    if metric is not None:
        total = domain.count_observations(db, pilot["id"], metric["metric_id"])
        paging = Paging(page_number(), PAGE_SIZE, total)
        context["paging"] = paging
        context["observations"] = domain.observation_page(
            db, pilot["id"], metric["metric_id"], limit=PAGE_SIZE, offset=paging.offset
        )
        if member and "grid" not in extra:
            context["grid"] = _grid(pilot, metric, _until())
        context["unit_rows"] = (
            domain.count_observations(db, pilot["id"], metric["metric_id"], per_unit=True)
            if member
            else 0
        )
    context.update(extra)
    return context


@bp.route("/<int:pilot_id>/data")
@allow(SIGNED_IN)
def index(pilot_id: int):
    """The pilot's data: entry grid and chart, upload, stored rows, uploads and exports."""
    pilot = _visible(pilot_id)
    metric = _chosen_metric(_metrics(pilot), request.args.get("metric"))
    block = request.args.get("block", "observations")
    if block not in ("observations", "entry", "uploads"):
        block = "observations"
    return page("observations/index.html", block, **_context(pilot, metric))


@bp.route("/<int:pilot_id>/data/check")
@allow("frontline")
def check(pilot_id: int):
    """Check one grid cell as it is typed: 422 with the message, or an empty message."""
    pilot = _editable(pilot_id)
    db = get_db()
    metric = _chosen_metric(_metrics(pilot), request.args.get("metric"))
    period, arm = request.args.get("period", ""), request.args.get("arm", "")
    if metric is None or metric["slug"] != request.args.get("metric"):
        abort(404)
    mark = _mark()
    value = request.args.get(f"v|{period}|{arm}", "").strip()
    n = request.args.get(f"n|{period}|{arm}", "").strip()
    message = ""
    if value or n:
        record = {
            "metric": metric["slug"],
            "period": period,
            "arm": arm,
            "unit": "",
            "value": _cell_number(value, mark),
            "n": _cell_number(n, mark) if n else None,
        }
        reader = read_records(
            [record],
            domain.metric_specs(db, pilot_id),
            arms=domain.arms_for(db, pilot_id),
            max_rows=1,
        )
        try:
            list(reader)
        except FileRefused as refusal:
            message = " ".join(error_text(error) for error in refusal.errors)
    return page(
        "observations/_cell_error.html",
        status=422 if message else 200,
        cell_id=f"{metric['slug']}-{period}-{arm}",
        message=message,
    )


@bp.route("/<int:pilot_id>/data/entry", methods=["POST"])
@allow("frontline")
def save_entry(pilot_id: int):
    """Save the grid's changed cells, all or nothing (an entry upload, audited)."""
    pilot = _editable(pilot_id)
    db = get_db()
    metric = _chosen_metric(_metrics(pilot), request.form.get("metric"))
    if metric is None or metric["slug"] != request.form.get("metric"):
        abort(404)
    until = _until()
    periods = grid_periods(metric["period"], until)
    arms = domain.arms_for(db, pilot_id)
    stored = domain.period_values(db, pilot_id, metric["metric_id"], periods[0], periods[-1])
    records, cells = _records(metric, periods, arms, request.form, stored, _mark())
    if not records:
        grid = _grid(pilot, metric, until)
        context = _context(pilot, metric, grid=grid, saved=_("Nothing has changed."))
        return page("observations/index.html", "entry", **context)
    try:
        result = domain.import_records(
            db,
            pilot_id,
            records,
            actor_id=current_user.id,
            source="entry",
            max_rows=len(periods) * len(arms),
        )
    except FileRefused as refusal:
        by_cell, other = _cell_errors(refusal, cells)
        grid = _grid(pilot, metric, until, form=request.form, errors=by_cell)
        context = _context(pilot, metric, grid=grid, entry_errors=other or [])
        if not other:
            context["entry_errors"] = [
                _("Nothing was saved: correct the marked cells and save again.")
            ]
        return page("observations/index.html", "entry", status=422, **context)
    message = _(
        "Saved: %(inserted)s new and %(updated)s changed values.",
        inserted=result["inserted"],
        updated=result["updated"],
    )
    if not is_htmx():
        flash(message, "success")
        return see_other(url_for("observations.index", pilot_id=pilot_id, metric=metric["slug"]))
    grid = _grid(pilot, metric, until)
    response = page(
        "observations/index.html", "entry", **_context(pilot, metric, grid=grid, saved=message)
    )
    response.headers["HX-Trigger"] = "observations-changed"
    return response


# ---- upload: preview, then store ---------------------------------------------------------


def staging_folder() -> Path:
    folder = current_app.config.get("UPLOAD_FOLDER") or os.path.join(
        current_app.instance_path, "uploads"
    )
    return Path(folder)


def _staged_path(folder: Path, user_id: int, pilot_id: int, token: str) -> Path | None:
    """The staged file for this person, pilot and token; None for anything else."""
    if not TOKEN.fullmatch(token or ""):
        return None
    path = folder / f"{int(user_id)}-{int(pilot_id)}-{token}.upload"
    return path if path.is_file() else None


def sweep(folder: Path, now: float | None = None) -> None:
    """Delete uploads that waited more than a day."""
    now = time.time() if now is None else now
    for path in folder.glob("*.upload*"):
        try:
            if now - path.stat().st_mtime > STAGED_FOR:
                path.unlink()
        except FileNotFoundError:
            pass


def stage(folder: Path, user_id: int, pilot_id: int, source, meta: dict) -> str:
    """Keep an uploaded file (a FileStorage or bytes) until it is stored; its token."""
    folder.mkdir(parents=True, exist_ok=True)
    sweep(folder)
    token = secrets.token_hex(16)
    path = folder / f"{int(user_id)}-{int(pilot_id)}-{token}.upload"
    if isinstance(source, bytes):
        path.write_bytes(source)
    else:
        source.save(str(path))
    (folder / f"{path.name}.json").write_text(json.dumps(meta), encoding="utf-8")
    return token


def _unstage(path: Path) -> None:
    for name in (path, path.with_name(path.name + ".json")):
        name.unlink(missing_ok=True)


def _options(form, specs: dict) -> tuple[dict, dict]:
    """The upload form's choices, checked; and errors by field."""
    errors = {}
    encoding = form.get("encoding", "")
    if encoding not in ENCODINGS:
        errors["encoding"] = _("Choose one of the encodings in the list.")
        encoding = ""
    mark = form.get("decimal_mark", "")
    if mark not in ("", ",", "."):
        errors["decimal_mark"] = _("Choose comma, point, or let the file show it.")
        mark = ""
    target = form.get("metric", "")
    if target and target not in specs:
        errors["metric"] = _("Choose one of this pilot's metrics.")
        target = ""
    return {"encoding": encoding, "decimal_mark": mark, "metric": target}, errors


def _reader_options(options: dict) -> dict:
    return {
        "encoding": options["encoding"] or None,
        "decimal_mark": options["decimal_mark"] or None,
        "target_metric": options["metric"] or None,
    }


@bp.route("/<int:pilot_id>/data/upload", methods=["POST"])
@allow("frontline")
def upload(pilot_id: int):
    """Step 1: read the whole file and show its format, first rows and every error.

    Nothing is stored in the database; the file waits for step 2 (audited, since a file
    that may hold personal data now sits on the server for up to a day).
    """
    pilot = _editable(pilot_id)
    db = get_db()
    specs = domain.metric_specs(db, pilot_id)
    options, errors = _options(request.form, specs)
    file = request.files.get("file")
    if file is None or not file.filename:
        errors["file"] = _("Choose a CSV or Excel (.xlsx) file.")
    metric = _chosen_metric(_metrics(pilot), request.form.get("metric") or None)
    if errors:
        context = _context(pilot, metric, upload_errors=errors, upload_form=options)
        return page("observations/index.html", "upload", status=422, **context)
    filename = os.path.basename(file.filename.replace("\\", "/"))[:200]
    folder = staging_folder()
    token = stage(folder, current_user.id, pilot_id, file, {"filename": filename, **options})
    path = _staged_path(folder, current_user.id, pilot_id, token)
    with path.open("rb") as staged:
        result = preview(
            staged,
            specs,
            filename=filename,
            arms=domain.arms_for(db, pilot_id),
            max_rows=current_app.config["UPLOAD_MAX_ROWS"],
            **_reader_options(options),
        )
    with db.atomic():
        audit.record(
            db,
            actor_id=current_user.id,
            action="observations.preview",
            object_type="pilot",
            object_id=pilot_id,
            after={
                "filename": filename,
                "bytes": path.stat().st_size,
                "rows": result.row_count,
                "errors": result.error_count,
            },
        )
    if not result.ok:
        _unstage(path)  # nothing to store: do not keep the file
        token = None
    context = _context(
        pilot,
        metric,
        preview=result,
        token=token,
        filename=filename,
        upload_form=options,
        preview_errors=[(e, error_text(e)) for e in result.errors],
    )
    return page("observations/index.html", "upload", status=200 if result.ok else 422, **context)


@bp.route("/<int:pilot_id>/data/upload/<token>", methods=["POST"])
@allow("frontline")
def store(pilot_id: int, token: str):
    """Step 2: store the previewed file, all or nothing, and forget it."""
    pilot = _editable(pilot_id)
    db = get_db()
    path = _staged_path(staging_folder(), current_user.id, pilot_id, token)
    metric = _chosen_metric(_metrics(pilot), None)
    if path is None:
        message = _("The uploaded file is no longer here (files wait one day). Upload it again.")
        context = _context(pilot, metric, upload_errors={"file": message})
        return page("observations/index.html", "upload", status=422, **context)
    meta = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
    options, _errors = _options(meta, domain.metric_specs(db, pilot_id))
    try:
        with path.open("rb") as staged:
            result = domain.import_file(
                db,
                pilot_id,
                staged,
                actor_id=current_user.id,
                filename=meta.get("filename"),
                max_rows=current_app.config["UPLOAD_MAX_ROWS"],
                **_reader_options(options),
            )
    except FileRefused as refusal:
        context = _context(
            pilot,
            metric,
            upload_errors={"file": _("Nothing was stored.")},
            preview_errors=[(e, error_text(e)) for e in refusal.errors],
            error_total=refusal.total,
        )
        return page("observations/index.html", "upload", status=422, **context)
    _unstage(path)
    message = _(
        "Stored %(filename)s: %(inserted)s new and %(updated)s updated rows.",
        filename=meta.get("filename") or "",
        inserted=result["inserted"],
        updated=result["updated"],
    )
    if not is_htmx():
        flash(message, "success")
        return see_other(url_for("observations.index", pilot_id=pilot_id))
    response = page("observations/index.html", "upload", **_context(pilot, metric, stored=message))
    # the lists below reload, and so does the grid, which the file may have filled
    response.headers["HX-Trigger"] = "observations-changed, observations-uploaded"
    return response


# ---- undo an upload -------------------------------------------------------------------


@bp.route("/<int:pilot_id>/data/uploads/<int:upload_id>/undo", methods=["GET", "POST"])
@allow("frontline")
def undo(pilot_id: int, upload_id: int):
    """Undo an upload: GET asks for confirmation, POST deletes the rows still carrying it."""
    pilot = _editable(pilot_id)  # who may enter data may take it back
    db = get_db()
    try:
        upload = domain.upload_for(db, pilot_id, upload_id)
    except NotFound:
        abort(404)
    context = {"pilot": pilot, "upload": upload, "source_labels": _source_labels()}
    if request.method == "GET":
        return page("observations/undo.html", **context)
    try:
        result = domain.undo_upload(db, pilot_id, upload_id, current_user.id)
    except DomainError as error:
        context["error"] = _(error.message, **error.params)
        return page("observations/undo.html", status=409, **context)
    flash(
        ngettext(
            "Upload undone: %(num)s row removed.",
            "Upload undone: %(num)s rows removed.",
            result["removed"],
        ),
        "success",
    )
    return see_other(url_for("observations.index", pilot_id=pilot_id))


# ---- exports ---------------------------------------------------------------------------


def safe_filename(*parts: str) -> str:
    """An ASCII file name from ids and slugs: nothing a header or a path could misread."""
    text = "-".join(str(p) for p in parts if p)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "export"


def csv_options(args) -> tuple[str, str, str]:
    """The CSV export choices: delimiter, decimal mark and date style. A comma-separated
    file keeps the decimal point, whatever mark was chosen (the default is the comma)."""
    delimiter = {"semicolon": ";", "comma": ",", "tab": "\t"}.get(
        args.get("delimiter", "semicolon"), ";"
    )
    mark = {"comma": ",", "point": "."}.get(args.get("decimal_mark", "comma"), ",")
    if delimiter == ",":
        mark = "."
    dates = "iso" if args.get("dates") == "iso" else "dmy"
    return delimiter, mark, dates


def streamed(export, *args, **kwargs):
    """An export's chunks, streamed. The request's connection is closed when the view
    returns, so the rows are read on a connection opened when streaming starts."""

    def chunks():
        yield from export(get_db(), *args, **kwargs)

    return stream_with_context(chunks())


def attachment(body, mimetype: str, filename: str) -> Response:
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_response(write, filename: str) -> Response:
    buffer = io.BytesIO()
    write(buffer)
    buffer.seek(0)
    return send_file(
        buffer,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=filename,
    )


@bp.route("/<int:pilot_id>/data/export")
@allow(SIGNED_IN)
def export(pilot_id: int):
    """The pilot's observations (all, or one metric's) as CSV, .xlsx or JSON."""
    pilot = _visible(pilot_id)
    db = get_db()
    metrics = _metrics(pilot)
    slug = request.args.get("metric") or ""
    metric = next((m for m in pilot["metrics"] if m["slug"] == slug), None)
    metric_id = metric["metric_id"] if metric else None
    name = safe_filename(f"pilot-{pilot_id}", metric["slug"] if metric else "", "observations")
    kind = request.args.get("format", "csv")
    if kind == "xlsx":
        return xlsx_response(
            lambda f: domain.export_observations_xlsx(db, pilot_id, f, metric_id=metric_id),
            name + ".xlsx",
        )
    if kind == "json":
        chunks = streamed(domain.export_observations_json, pilot_id, metric_id=metric_id)
        return attachment(chunks, "application/json", name + ".json")
    delimiter, mark, dates = csv_options(request.args)
    options = {"metric_id": metric_id, "delimiter": delimiter, "decimal_mark": mark}
    try:  # the format is checked before the first byte goes out
        domain.export_observations_csv(db, pilot_id, date_format=dates, **options)
    except DomainError as error:
        context = _context(
            pilot, _chosen_metric(metrics, slug), export_error=_(error.message, **error.params)
        )
        return page("observations/index.html", status=422, **context)
    chunks = streamed(domain.export_observations_csv, pilot_id, date_format=dates, **options)
    return attachment(chunks, "text/csv; charset=utf-8", name + ".csv")
