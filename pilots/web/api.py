"""The JSON API under /api/v1, for analysts' scripts and IT departments.

Requests carry `Authorization: Bearer <token>` (a personal token from the profile
page or `flask --app pilots create-token`); cookies are ignored, so CSRF does not
apply. Every endpoint declares its rule with `@api_allow`, and the rules and the
domain functions are the web's own. Errors are JSON: 401/403/404, and 422 with
`{errors: [{field, message}]}` naming what was wrong.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, g, jsonify, request

from pilots.domain import DomainError, NotFound, each_error
from pilots.domain import metrics as catalogue
from pilots.domain import organisation as org
from pilots.domain import pilots as domain
from pilots.domain.tokens import user_for_token
from pilots.web import CurrentUser, csrf, get_db
from pilots.web.access import ANYONE, SIGNED_IN

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def problem(status: int, message: str, errors=None):
    body = {"error": message}
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="pilots"'
    return response


def api_allow(*rules: str):
    """Declare and enforce who may call an API view, by bearer token."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if ANYONE not in rules:
                row = user_for_token(get_db(), _bearer())
                if row is None:
                    return problem(401, "A valid bearer token is required.")
                g.api_user = CurrentUser(row, token="")
                if SIGNED_IN not in rules and not g.api_user.has_any_role(rules):
                    return problem(403, "Your roles do not allow this.")
            try:
                return view(*args, **kwargs)
            except NotFound:
                return problem(404, "Not found.")
            except DomainError as error:
                return problem(
                    422,
                    str(error),
                    [{"field": one.field or "", "message": str(one)} for one in each_error(error)],
                )

        guarded.access_rule = rules
        return guarded

    return decorate


SQLITE_MAX_INTEGER = 2**63 - 1


def arg_int(name: str, default: int | None = None, low: int = 0) -> int | None:
    """A whole-number query argument in SQLite's range; anything else is the default."""
    value = request.args.get(name, type=int)
    if value is None or not low <= value <= SQLITE_MAX_INTEGER:
        return default
    return value


def page_args(limit: int = 100, most: int = 1000) -> tuple[int, int]:
    """?limit= (1 to `most`) and ?offset= (0 or more) for list endpoints."""
    return min(arg_int("limit", limit, low=1), most), arg_int("offset", 0)


def json_body(kind=dict):
    """The request's JSON body, which must be of `kind`; else a DomainError."""
    body = request.get_json(silent=True)
    if not isinstance(body, kind):
        expected = "an object" if kind is dict else "a list"
        raise DomainError("The body must be JSON: %(kind)s.", "body", kind=expected)
    return body


# ---- representations ---------------------------------------------------------

METRIC_FIELDS = (
    "id",
    "slug",
    "name",
    "type",
    "direction",
    "unit",
    "period",
    "definition",
    "owner",
    "data_source",
    "burden_minutes",
    "decision",
    "status",
    "rate_per",
)


def metric_json(metric: dict) -> dict:
    out = {name: metric.get(name) for name in METRIC_FIELDS}
    out["min"], out["max"] = metric.get("min_value"), metric.get("max_value")
    return out


def pilot_json(pilot: dict, versions: list[dict] | None = None) -> dict:
    out = {
        name: pilot.get(name)
        for name in (
            "id",
            "title",
            "status",
            "design",
            "start_date",
            "end_date",
            "cadence",
            "cadence_rule",
            "hypothesis",
            "prediction",
            "baseline",
            "comparison",
            "planned_n",
            "approved_version",
            "auto_approve_at",
            "decision",
            "learned",
        )
    }
    out["team"] = pilot.get("team_slug")
    out["metrics"] = [
        {
            "slug": m["slug"],
            "role": m["role"],
            "minimal_important_difference": m["minimal_important_difference"],
            "dropped": m["dropped_in_version"] is not None,
        }
        for m in pilot["metrics"]
    ]
    if versions is not None:
        out["versions"] = [
            {"number": v["number"], "state": v["state"], "hash": v["hash"]} for v in versions
        ]
    return out


# ---- metrics -----------------------------------------------------------------------


@bp.route("/metrics")
@api_allow(SIGNED_IN)
def list_metrics():
    """The metric catalogue."""
    rows, _ = catalogue.search_metrics(get_db(), request.args.get("q", ""), limit=1000, status="")
    return jsonify([metric_json(row) for row in rows])


@bp.route("/metrics", methods=["POST"])
@api_allow("frontline", "leader", "analyst")
def create_metric():
    """Add a metric: {slug, name, type, direction, unit?, period?, min?, max?, rate_per?}."""
    body = json_body()
    fields = {k: v for k, v in body.items() if isinstance(v, str | int | float) or v is None}
    fields.setdefault("period", "month")
    fields = {k: ("" if v is None else str(v)) for k, v in fields.items()}
    metric = catalogue.create_metric(get_db(), fields, g.api_user.id)
    return jsonify(metric_json(metric)), 201


# ---- pilots ---------------------------------------------------------------------------


@bp.route("/pilots")
@api_allow(SIGNED_IN)
def list_pilots():
    """Pilots the token's person may see; ?q=, ?status=, ?limit=, ?offset=."""
    limit, offset = page_args()
    rows, total = domain.search_pilots(
        get_db(),
        g.api_user.id,
        query=request.args.get("q", ""),
        status=request.args.get("status", ""),
        limit=limit,
        offset=offset,
    )
    pilots = [pilot_json(domain.get_pilot(get_db(), row["id"])) for row in rows]
    return jsonify({"total": total, "pilots": pilots})


def _choices(db, metrics) -> list[dict]:
    if not isinstance(metrics, list):
        raise DomainError("metrics must be a list of {slug, role}.", "metrics")
    choices = []
    for item in metrics:
        if not isinstance(item, dict):
            raise DomainError("metrics must be a list of {slug, role}.", "metrics")
        metric = catalogue.metric_by_slug(db, str(item.get("slug", "")))
        if metric is None:
            raise DomainError("Unknown metric %(slug)s.", "metrics", slug=item.get("slug"))
        choices.append(
            {
                "metric_id": metric["id"],
                "role": item.get("role"),
                "minimal_important_difference": item.get("minimal_important_difference"),
            }
        )
    return choices


# The charter's text fields plus the ones it reads as numbers, dates and choices.
CHARTER_KEYS = (
    *domain.CHARTER_TEXT,
    "cadence",
    "start_date",
    "end_date",
    "design",
    "citizens_involved",
    "cost",
    "planned_n",
)


@bp.route("/pilots", methods=["POST"])
@api_allow("frontline")
def create_pilot():
    """Create a draft pilot with its plan, all or nothing."""
    db = get_db()
    body = json_body()
    team = org.unit_by_slug(db, str(body.get("team", ""))) if body.get("team") else None
    if team is None or team["id"] not in g.api_user.unit_ids("frontline"):
        raise DomainError("team must be the slug of a team you are on.", "team")
    fields = {k: ("" if body.get(k) is None else str(body[k])) for k in CHARTER_KEYS}
    fields["cadence"] = fields["cadence"] or "monthly"
    fields["risk_flags"] = body.get("risk_flags") or []
    pilot = domain.create_pilot(
        db,
        team_id=team["id"],
        title=fields["title"],
        actor_id=g.api_user.id,
        charter=fields,
        choices=_choices(db, body.get("metrics", [])),
    )
    return jsonify(pilot_json(pilot, [])), 201


@bp.route("/pilots/<int:pilot_id>")
@api_allow(SIGNED_IN)
def get_pilot(pilot_id: int):
    """One pilot, with its plan versions."""
    db = get_db()
    pilot = domain.visible_pilot(db, pilot_id, g.api_user.id)
    return jsonify(pilot_json(pilot, domain.versions(db, pilot_id)))


@bp.route("/pilots/<int:pilot_id>/submit", methods=["POST"])
@api_allow("frontline")
def submit_pilot(pilot_id: int):
    """Submit the draft for approval (a member of its team)."""
    db = get_db()
    pilot = domain.submit(db, pilot_id, g.api_user.id)
    return jsonify(pilot_json(pilot, domain.versions(db, pilot_id)))


@bp.route("/pilots/<int:pilot_id>/approve", methods=["POST"])
@api_allow("leader")
def approve_pilot(pilot_id: int):
    """Approve the waiting version ({version?}); a leader who did not propose it."""
    db = get_db()
    body = request.get_json(silent=True) or {}
    version = body.get("version") if isinstance(body, dict) else None
    if version is not None and not isinstance(version, int):
        raise DomainError("version must be a whole number.", "version")
    pilot = domain.approve(db, pilot_id, g.api_user.id, version)
    return jsonify(pilot_json(pilot, domain.versions(db, pilot_id)))


@bp.route("/openapi.json")
@api_allow(ANYONE)
def openapi():
    """The OpenAPI 3.1 description of this API."""
    from pilots.web.openapi import document

    return jsonify(document())


# Areas that add their routes to this blueprint, imported here so the routes exist
# before the blueprint is registered.
from pilots.web import (  # noqa: E402
    api_evaluations,  # noqa: F401
    api_observations,  # noqa: F401
)
