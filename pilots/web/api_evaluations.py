"""Evaluations in the JSON API: evaluate now, the latest evaluation, and past ones.

Routes hang on api.py's blueprint with its bearer-token rule. "Evaluate now" is for
the pilot's team, a leader of its unit (or above) and analysts; reading results is
for everyone who may see the pilot (drafts only for their team, as everywhere).
Each per-metric result carries exactly the field names of DESIGN.md's "Evaluation
result" (plus `warnings`, the data-quality warnings); a preview of a plan that is not
approved yet says so in `preview` and `label` ("not pre-registered").
`paths()` and `schemas()` describe these routes for the OpenAPI document.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from flask import g, jsonify, request

from pilots.domain import DomainError
from pilots.domain import pilots as pilot_domain
from pilots.evaluation import evaluate_pilot, evaluation_history, latest_evaluation
from pilots.evaluation.service import RESULT_FIELDS
from pilots.web import get_db
from pilots.web.access import SIGNED_IN
from pilots.web.api import api_allow, bp, problem
from pilots.web.openapi import PILOT_ID

EVALUATORS = ("frontline", "leader", "analyst")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def may_evaluate(db, user, pilot: dict) -> bool:
    """The pilot's team (or its proposer), a leader of its unit, or an analyst."""
    return (
        user.has_role("analyst")
        or pilot["created_by"] == user.id
        or pilot_domain.is_team_member(db, user.id, pilot["team_id"])
        or pilot_domain.leads(db, user.id, pilot["team_id"])
    )


def _as_of(body) -> date | None:
    value = body.get("as_of") if isinstance(body, dict) else None
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE.match(value):
        raise DomainError("as_of must be a date, YYYY-MM-DD.", "as_of")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise DomainError("as_of must be a date, YYYY-MM-DD.", "as_of") from None
    if day > datetime.now(UTC).date():
        raise DomainError("as_of cannot be in the future: data may still arrive.", "as_of")
    return day


def _look_json(look: dict) -> dict:
    return {k: v for k, v in look.items() if k not in ("computed",)}


@bp.route("/pilots/<int:pilot_id>/evaluations", methods=["POST"])
@api_allow(*EVALUATORS)
def evaluate(pilot_id: int):
    """Evaluate the pilot now ({as_of?}) and return the stored results."""
    db = get_db()
    pilot = pilot_domain.visible_pilot(db, pilot_id, g.api_user.id)
    if not may_evaluate(db, g.api_user, pilot):
        return problem(403, "Only the pilot's team, its leaders and analysts evaluate it.")
    as_of = _as_of(request.get_json(silent=True))
    role = next(r for r in EVALUATORS if g.api_user.has_role(r))
    look = evaluate_pilot(db, pilot_id, as_of, actor_id=g.api_user.id, actor_role=role)
    return jsonify(_look_json(look))


@bp.route("/pilots/<int:pilot_id>/evaluations/latest")
@api_allow(SIGNED_IN)
def latest(pilot_id: int):
    """The pilot's most recent stored evaluation."""
    db = get_db()
    pilot_domain.visible_pilot(db, pilot_id, g.api_user.id)
    look = latest_evaluation(db, pilot_id)
    if look is None:
        return problem(404, "This pilot has not been evaluated yet.")
    return jsonify(_look_json(look))


@bp.route("/pilots/<int:pilot_id>/evaluations")
@api_allow(SIGNED_IN)
def history(pilot_id: int):
    """Past evaluations, newest first; ?limit=, ?offset=."""
    db = get_db()
    pilot_domain.visible_pilot(db, pilot_id, g.api_user.id)
    limit = min(max(request.args.get("limit", 100, type=int), 1), 1000)
    offset = min(max(request.args.get("offset", 0, type=int), 0), 2**62)
    return jsonify(
        {"pilot_id": pilot_id, "evaluations": evaluation_history(db, pilot_id, limit, offset)}
    )


# ---- OpenAPI ---------------------------------------------------------------------------

_NUMBER = {"type": ["number", "null"]}
_VERDICT = {"enum": ["improved", "worsened", "no_clear_change", "insufficient_data"]}
_ROLE = {"enum": ["primary", "secondary", "balancing"]}

RESULT = {
    "type": "object",
    "description": "One metric's result, with the field names of the evaluation contract.",
    # The evaluation contract in DESIGN.md; warnings are extra and may be empty.
    "required": [name for name in RESULT_FIELDS if name != "warnings"],
    "properties": {
        "metric": {"type": "string"},
        "role": _ROLE,
        "design": {"enum": ["spc", "pre_post", "two_group", "did"]},
        "method": {"type": "string"},
        "estimate": _NUMBER,
        "ci_low": _NUMBER,
        "ci_high": _NUMBER,
        "p_value": _NUMBER,
        "n_pilot": {"type": "integer"},
        "n_comparison": {"type": "integer"},
        "probability_improved": _NUMBER,
        "verdict": _VERDICT,
        "summary": {
            "type": "object",
            "description": "One sentence per language (nb, en).",
            "additionalProperties": {"type": "string"},
        },
        "details": {
            "type": "object",
            "description": "Method-specific figures: sequential_ci_low/high on scheduled"
            " looks, the spc chart's points, pre_post coefficients, the per-period series.",
        },
        "warnings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "params": {"type": "object"}},
            },
        },
    },
}

EVALUATION = {
    "type": "object",
    "required": ["as_of", "results"],
    "properties": {
        "pilot_id": {"type": "integer"},
        "as_of": {"type": "string", "format": "date"},
        "preview": {"type": "boolean", "description": "The plan is not approved yet."},
        "label": {"type": ["string", "null"], "description": '"not pre-registered" on previews'},
        "scheduled": {
            "type": "boolean",
            "description": "A scheduled look: verdicts use the always-valid interval.",
        },
        "plan_version": {"type": ["integer", "null"]},
        "input_hash": {"type": ["string", "null"]},
        "computed_at": {"type": ["string", "null"]},
        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
        "balancing_concerns": {"type": "array", "items": {"type": "string"}},
        "changed": {"type": "integer", "description": "Rows this request stored (0: unchanged)."},
        "results": {"type": "array", "items": {"$ref": "#/components/schemas/EvaluationResult"}},
    },
}

HISTORY = {
    "type": "object",
    "properties": {
        "pilot_id": {"type": "integer"},
        "evaluations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "as_of": {"type": "string", "format": "date"},
                    "preview": {"type": "boolean"},
                    "scheduled": {"type": "boolean"},
                    "plan_version": {"type": ["integer", "null"]},
                    "computed_at": {"type": "string"},
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "metric": {"type": "string"},
                                "role": _ROLE,
                                "verdict": _VERDICT,
                                "estimate": _NUMBER,
                                "ci_low": _NUMBER,
                                "ci_high": _NUMBER,
                                "sequential_ci_low": _NUMBER,
                                "sequential_ci_high": _NUMBER,
                                "p_value": _NUMBER,
                                "probability_improved": _NUMBER,
                                "dropped": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
    },
}


def _error(code: str, text: str) -> tuple[str, dict]:
    return code, {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(schema: str, text: str, *errors) -> dict:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {
        "200": {"description": text, "content": content},
        **dict(_error(c, t) for c, t in (("401", "No valid bearer token."), *errors)),
    }


def paths() -> dict:
    return {
        "/pilots/{pilot_id}/evaluations": {
            "post": {
                "operationId": "evaluatePilot",
                "summary": "Evaluate now (team, leaders of its unit, analysts)",
                "parameters": [PILOT_ID],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"as_of": {"type": "string", "format": "date"}},
                            }
                        }
                    },
                },
                "responses": _ok(
                    "Evaluation",
                    "The stored evaluation",
                    ("403", "Role not allowed."),
                    ("404", "Not found."),
                    ("422", "No design or start date yet, or a bad as_of."),
                ),
            },
            "get": {
                "operationId": "listEvaluations",
                "summary": "Past evaluations, newest first",
                "parameters": [
                    PILOT_ID,
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": _ok("EvaluationHistory", "Evaluations", ("404", "Not found.")),
            },
        },
        "/pilots/{pilot_id}/evaluations/latest": {
            "get": {
                "operationId": "latestEvaluation",
                "summary": "The most recent stored evaluation",
                "parameters": [PILOT_ID],
                "responses": _ok(
                    "Evaluation", "The latest evaluation", ("404", "Not found or none yet.")
                ),
            }
        },
    }


def schemas() -> dict:
    return {"EvaluationResult": RESULT, "Evaluation": EVALUATION, "EvaluationHistory": HISTORY}
