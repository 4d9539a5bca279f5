"""Observations in the JSON API: post a CSV file, an .xlsx workbook or a JSON list, get them back.

The automation contract in DESIGN.md: `POST /pilots/{id}/observations` stores all rows
or none and answers `{inserted, updated}`, or 422 with `{errors: [{line, column,
message}]}` (and a stable `code` per error); `GET` answers the observation contract as a
JSON list, or as CSV for `Accept: text/csv`. Team members post; anyone who may see the
pilot reads. The rules are the web's: the same domain functions, the same reader.
"""

from __future__ import annotations

import shutil
import tempfile

from flask import Response, g, jsonify, request, stream_with_context

from pilots.domain import DomainError
from pilots.domain import observations as domain
from pilots.domain import pilots as pilot_domain
from pilots.domain.observation_files import FileRefused
from pilots.web import get_db
from pilots.web.access import SIGNED_IN
from pilots.web.api import api_allow, bp, problem
from pilots.web.openapi import PILOT_ID

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "text/tab-separated-values")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ENCODINGS = ("utf-8", "windows-1252", "iso-8859-1", "iso-8859-15", "mac-roman")
DELIMITERS = {"semicolon": ";", "comma": ",", "tab": "\t"}
MARKS = {"comma": ",", "point": "."}


def _target(db, pilot_id: int) -> str | None:
    slug = request.args.get("metric") or None
    specs = domain.metric_specs(db, pilot_id)
    if slug is not None and slug not in specs:
        _unknown_metric(slug, specs)
    return slug


def _unknown_metric(slug: str, slugs) -> None:
    raise DomainError(
        "metric “%(value)s” is not one of this pilot's metrics: %(allowed)s.",
        "metric",
        value=slug,
        allowed=", ".join(sorted(slugs)),
    )


def _choice(name: str, default: str, choices: dict[str, str]) -> str:
    """The query parameter `name` as one of `choices`, or a 422 naming it and its value."""
    value = request.args.get(name, default)
    if value not in choices:
        raise DomainError(
            "%(name)s “%(value)s” is not one of %(allowed)s.",
            name,
            name=name,
            value=value,
            allowed=", ".join(choices),
        )
    return choices[value]


def _file_options() -> dict:
    encoding = request.args.get("encoding") or None
    if encoding is not None and encoding.lower() not in ENCODINGS:
        raise DomainError("encoding must be one of %(allowed)s.", "encoding", allowed=ENCODINGS)
    mark = request.args.get("decimal_mark") or None
    if mark is not None and mark not in MARKS:
        raise DomainError("decimal_mark must be comma or point.", "decimal_mark")
    return {
        "encoding": None if encoding in (None, "utf-8") else encoding.lower(),
        "decimal_mark": MARKS.get(mark),
    }


def _refused(refusal: FileRefused):
    errors = [error.as_dict() for error in refusal.errors]
    return problem(
        422,
        f"Nothing was stored: the data has {refusal.total} error(s).",
        errors,
    )


@bp.route("/pilots/<int:pilot_id>/observations", methods=["POST"])
@api_allow("frontline")
def post_observations(pilot_id: int):
    """Store observations (CSV, .xlsx or a JSON list), all or nothing."""
    db = get_db()
    pilot_domain.editable_pilot(db, pilot_id, g.api_user.id)
    target = _target(db, pilot_id)
    kind = request.mimetype
    try:
        if kind == "application/json":
            body = request.get_json(silent=True)
            if not isinstance(body, list):
                raise DomainError("The body must be a JSON list of observations.", "body")
            result = domain.import_records(
                db, pilot_id, body, actor_id=g.api_user.id, source="api", target_metric=target
            )
        elif kind in CSV_TYPES:
            result = domain.import_file(
                db,
                pilot_id,
                request.stream,
                actor_id=g.api_user.id,
                kind="csv",
                source="api",
                target_metric=target,
                **_file_options(),
            )
        elif kind == XLSX_TYPE:
            # A workbook is a zip file, read from its end: it waits in a temporary file.
            with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as workbook:
                shutil.copyfileobj(request.stream, workbook)
                workbook.seek(0)
                result = domain.import_file(
                    db,
                    pilot_id,
                    workbook,
                    actor_id=g.api_user.id,
                    kind="xlsx",
                    source="api",
                    target_metric=target,
                    **_file_options(),
                )
        else:
            return problem(415, "Send text/csv, an .xlsx workbook or application/json (a list).")
    except FileRefused as refusal:
        return _refused(refusal)
    return jsonify(
        {"inserted": result["inserted"], "updated": result["updated"], "rows": result["rows"]}
    )


@bp.route("/pilots/<int:pilot_id>/observations")
@api_allow(SIGNED_IN)
def get_observations(pilot_id: int):
    """The pilot's observations: JSON, or CSV for `Accept: text/csv`; ?metric= one metric."""
    db = get_db()
    pilot = pilot_domain.visible_pilot(db, pilot_id, g.api_user.id)
    slug = request.args.get("metric") or None
    metric_id = None
    if slug is not None:
        metric = next((m for m in pilot["metrics"] if m["slug"] == slug), None)
        if metric is None:
            _unknown_metric(slug, [m["slug"] for m in pilot["metrics"]])
        metric_id = metric["metric_id"]
    wanted = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    if wanted == "text/csv":
        delimiter = _choice("delimiter", "comma", DELIMITERS)
        mark = _choice("decimal_mark", "point", MARKS)
        options = {"metric_id": metric_id, "delimiter": delimiter, "decimal_mark": mark}
        date_format = "dmy" if request.args.get("dates") == "dmy" else "iso"
        domain.export_observations_csv(db, pilot_id, date_format=date_format, **options)
        body = _streamed(
            domain.export_observations_csv, pilot_id, date_format=date_format, bom=False, **options
        )
        return Response(body, mimetype="text/csv")
    body = _streamed(domain.export_observations_json, pilot_id, metric_id=metric_id)
    return Response(body, mimetype="application/json")


def _streamed(export, *args, **kwargs):
    # The view's connection is closed when it returns; streaming opens its own.
    def chunks():
        yield from export(get_db(), *args, **kwargs)

    return stream_with_context(chunks())


# ---- the OpenAPI description -------------------------------------------------------------

OBSERVATION = {
    "type": "object",
    "required": ["period", "value"],
    "properties": {
        "metric": {"type": "string", "description": "Metric slug; optional with ?metric="},
        "period": {
            "type": "string",
            "description": "First day of the period: YYYY-MM-DD or DD.MM.YYYY",
        },
        "arm": {"enum": ["pilot", "comparison"]},
        "unit": {"type": "string", "description": "Pseudonymous id; never a national id"},
        "value": {"type": ["number", "string"]},
        "n": {"type": ["number", "string", "null"]},
    },
}

_METRIC = {
    "name": "metric",
    "in": "query",
    "description": "One metric's slug: the rows need no metric column, or only it is read.",
    "schema": {"type": "string"},
}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def paths() -> dict:
    return {
        "/pilots/{pilot_id}/observations": {
            "get": {
                "operationId": "getObservations",
                "summary": "The pilot's observations (JSON list, or CSV with Accept: text/csv)",
                "parameters": [
                    PILOT_ID,
                    _METRIC,
                    {"name": "delimiter", "in": "query", "schema": {"enum": list(DELIMITERS)}},
                    {"name": "decimal_mark", "in": "query", "schema": {"enum": list(MARKS)}},
                    {"name": "dates", "in": "query", "schema": {"enum": ["iso", "dmy"]}},
                ],
                "responses": {
                    "200": {
                        "description": "The observations",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Observation"},
                                }
                            },
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "401": _error("No valid bearer token."),
                    "404": _error("Not found."),
                    "422": _error("Unknown metric or CSV option."),
                },
            },
            "post": {
                "operationId": "postObservations",
                "summary": "Store observations, all or nothing (team members)",
                "description": (
                    "A CSV file (comma, semicolon or tab; UTF-8 with or without BOM, or the"
                    " named encoding), an .xlsx workbook, or a JSON list of observations."
                    " Re-sent rows update the stored ones."
                ),
                "parameters": [
                    PILOT_ID,
                    _METRIC,
                    {"name": "encoding", "in": "query", "schema": {"enum": list(ENCODINGS)}},
                    {"name": "decimal_mark", "in": "query", "schema": {"enum": list(MARKS)}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Observation"},
                            }
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    "200": {
                        "description": "Stored",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["inserted", "updated"],
                                    "properties": {
                                        "inserted": {"type": "integer"},
                                        "updated": {"type": "integer"},
                                        "rows": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "401": _error("No valid bearer token."),
                    "403": _error("Role not allowed."),
                    "404": _error("Not found, or not on the pilot's team."),
                    "413": _error("The request is larger than the limit."),
                    "415": _error("Not CSV, .xlsx or JSON."),
                    "422": _error("Errors with line and column; nothing was stored."),
                },
            },
        }
    }


def schemas() -> dict:
    return {"Observation": OBSERVATION}
