"""The OpenAPI 3.1 document for /api/v1, written by hand beside the views it describes.

A test validates it against the OpenAPI 3.1 schema, checks that every API route is in
it, and schemathesis calls every operation to find server errors.
"""

from __future__ import annotations

ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "line": {"type": "integer"},
                    "column": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "required": ["error"],
}

METRIC = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "slug": {"type": "string"},
        "name": {"type": "string"},
        "type": {"enum": ["mean", "proportion", "rate"]},
        "direction": {"enum": ["up", "down"]},
        "unit": {"type": "string"},
        "period": {"enum": ["day", "week", "month", "quarter", "year"]},
        "min": {"type": ["number", "null"]},
        "max": {"type": ["number", "null"]},
        "rate_per": {
            "type": "number",
            "description": "A rate is shown per this much exposure (1 for other kinds)",
        },
        "status": {"enum": ["active", "retired"]},
    },
}

NEW_METRIC = {
    "type": "object",
    "required": ["slug", "name", "type", "direction"],
    "properties": {
        "slug": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$"},
        "name": {"type": "string", "minLength": 1},
        "type": {"enum": ["mean", "proportion", "rate"]},
        "direction": {"enum": ["up", "down"]},
        "unit": {"type": "string"},
        "period": {"enum": ["day", "week", "month", "quarter", "year"]},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "rate_per": {"type": "number", "exclusiveMinimum": 0, "default": 1},
        "definition": {"type": "string"},
        "decision": {"type": "string"},
    },
}

PILOT_METRIC = {
    "type": "object",
    "required": ["slug", "role"],
    "properties": {
        "slug": {"type": "string"},
        "role": {"enum": ["primary", "secondary", "balancing"]},
        "minimal_important_difference": {"type": ["number", "null"]},
        "dropped": {"type": "boolean"},
    },
}

PILOT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "team": {"type": "string"},
        "status": {
            "enum": ["draft", "submitted", "approved", "running", "paused", "stopped", "concluded"]
        },
        "design": {"enum": ["spc", "pre_post", "two_group", "did", None]},
        "start_date": {"type": ["string", "null"], "format": "date"},
        "end_date": {"type": ["string", "null"], "format": "date"},
        "cadence": {"enum": ["weekly", "monthly", "custom"]},
        "approved_version": {"type": ["integer", "null"]},
        "metrics": {"type": "array", "items": {"$ref": "#/components/schemas/PilotMetric"}},
        "versions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "number": {"type": "integer"},
                    "state": {"enum": ["proposed", "approved", "returned", "withdrawn"]},
                    "hash": {"type": "string"},
                },
            },
        },
    },
}

NEW_PILOT = {
    "type": "object",
    "required": ["title", "team", "design", "start_date", "end_date", "metrics"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "team": {"type": "string", "description": "Slug of a team the caller is on."},
        "design": {"enum": ["spc", "pre_post", "two_group", "did"]},
        "start_date": {"type": "string", "format": "date"},
        "end_date": {"type": "string", "format": "date"},
        "cadence": {"enum": ["weekly", "monthly", "custom"]},
        "comparison": {"type": "string"},
        "baseline": {"type": "string"},
        "hypothesis": {"type": "string"},
        "metrics": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["slug", "role"],
                "properties": {
                    "slug": {"type": "string"},
                    "role": {"enum": ["primary", "secondary", "balancing"]},
                    "minimal_important_difference": {"type": "number"},
                },
            },
        },
    },
}


def _json(schema_ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}


def _responses(ok: int, schema: str | dict, description: str, extra=()) -> dict:
    content = _json(schema) if isinstance(schema, str) else {"application/json": {"schema": schema}}
    responses = {str(ok): {"description": description, "content": content}}
    for code, text in (("401", "No valid bearer token."), *extra):
        responses[code] = {"description": text, "content": _json("Error")}
    return responses


PILOT_ID = {
    "name": "pilot_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "format": "int64"},
}


def document() -> dict:
    """The whole document; other areas' API modules contribute `paths()` and `schemas()`."""
    paths = {
        "/metrics": {
            "get": {
                "operationId": "listMetrics",
                "summary": "The metric catalogue",
                "responses": _responses(200, {"type": "array", "items": METRIC}, "Metrics"),
            },
            "post": {
                "operationId": "createMetric",
                "summary": "Add a metric",
                "requestBody": {"required": True, "content": _json("NewMetric")},
                "responses": _responses(
                    201,
                    "Metric",
                    "Created",
                    (("403", "Role not allowed."), ("422", "Invalid metric.")),
                ),
            },
        },
        "/pilots": {
            "get": {
                "operationId": "listPilots",
                "summary": "Pilots the caller may see",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": _responses(
                    200,
                    {
                        "type": "object",
                        "properties": {
                            "total": {"type": "integer"},
                            "pilots": {"type": "array", "items": PILOT},
                        },
                    },
                    "A page of pilots",
                ),
            },
            "post": {
                "operationId": "createPilot",
                "summary": "Create a draft pilot with its plan",
                "requestBody": {"required": True, "content": _json("NewPilot")},
                "responses": _responses(
                    201,
                    "Pilot",
                    "Created",
                    (("403", "Only frontline staff create pilots."), ("422", "Invalid plan.")),
                ),
            },
        },
        "/pilots/{pilot_id}": {
            "get": {
                "operationId": "getPilot",
                "summary": "One pilot with its plan versions",
                "parameters": [PILOT_ID],
                "responses": _responses(200, "Pilot", "The pilot", (("404", "Not found."),)),
            }
        },
        "/pilots/{pilot_id}/submit": {
            "post": {
                "operationId": "submitPilot",
                "summary": "Submit a draft for approval (team member)",
                "parameters": [PILOT_ID],
                "responses": _responses(
                    200,
                    "Pilot",
                    "Submitted",
                    (("403", "Role not allowed."), ("404", "Not found."), ("422", "Not ready.")),
                ),
            }
        },
        "/pilots/{pilot_id}/approve": {
            "post": {
                "operationId": "approvePilot",
                "summary": "Approve the waiting plan version (a leader who did not propose it)",
                "parameters": [PILOT_ID],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"version": {"type": "integer"}},
                            }
                        }
                    },
                },
                "responses": _responses(
                    200,
                    "Pilot",
                    "Approved",
                    (("403", "Role not allowed."), ("404", "Not found."), ("422", "Refused.")),
                ),
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document"}},
            }
        },
    }
    schemas = {}
    for area in _areas():
        paths.update(area.paths())
        schemas.update(area.schemas())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pilots API",
            "version": "1",
            "description": "Scripting access to pilots, with the web's access rules.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": ERROR,
                "Metric": METRIC,
                "NewMetric": NEW_METRIC,
                "Pilot": PILOT,
                "PilotMetric": PILOT_METRIC,
                "NewPilot": NEW_PILOT,
                **schemas,
            },
        },
    }


def _areas():
    """The API modules beside api.py that describe their own paths."""
    from pilots.web import api_evaluations, api_observations, api_stories

    return (api_stories, api_observations, api_evaluations)
