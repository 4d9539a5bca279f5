"""Stories and ideas in the JSON API: list, read one, and create, with the web's rules.

Routes hang on api.py's blueprint and use its bearer-token rule. A text refused by
the personal-data guard answers 422 with one `{field, kind, message}` per finding,
so a script can say exactly what to remove. Drafts are 404 to all but their authors,
as on the web. `paths()` and `schemas()` describe these routes for the OpenAPI document.
"""

from __future__ import annotations

from flask import g, jsonify, request

from pilots.domain import ideas as idea_domain
from pilots.domain import personal_data
from pilots.domain import stories as story_domain
from pilots.web import get_db
from pilots.web.access import SIGNED_IN
from pilots.web.api import api_allow, arg_int, bp, json_body, page_args, problem

AUTHORS = ("frontline", "leader")
STORY_KEYS = (*story_domain.LIMITS, "source", "consent_how", "consent_on", "unit_id")
IDEA_KEYS = (*idea_domain.LIMITS, "unit_id")


def _refused(error: personal_data.PersonalDataError):
    return problem(422, str(error), error.reasons())


def _text(body: dict, key: str) -> str:
    value = body.get(key)
    return "" if value is None else str(value)


def _tags(body: dict):
    tags = body.get("tags") or []
    return tags if isinstance(tags, list) else str(tags)


def story_json(story: dict) -> dict:
    if story.get("withdrawn_at"):
        return {"id": story["id"], "withdrawn": True, "withdrawn_at": story["withdrawn_at"]}
    out = {
        key: story.get(key)
        for key in (
            "id", "title", "account", "needed", "happened", "services", "source",
            "consent_how", "consent_on", "unit_id", "created_at",
        )
    }  # fmt: skip
    out["unit"] = story.get("unit_name")
    out["tags"] = story.get("tag_list", [])
    out["withdrawn"] = False
    return out


def idea_json(idea: dict) -> dict:
    out = {
        key: idea.get(key)
        for key in (
            "id", "title", "need", "whose_need", "proposal", "stop_doing", "benefit", "risks",
            "co_creators", "unit_id", "status", "proposed_at", "answer_due", "answered_at",
            "answer_reason", "look_again_on", "pilot_id", "created_at",
        )
    }  # fmt: skip
    out["unit"] = idea.get("unit_name")
    out["tags"] = idea.get("tag_list", [])
    if "stories" in idea:
        out["stories"] = [s["id"] for s in idea["stories"]]
    if "support_count" in idea:
        out["supports"] = idea["support_count"]
    return out


# ---- stories -------------------------------------------------------------------


@bp.route("/stories")
@api_allow(SIGNED_IN)
def list_stories():
    """Stories, newest first; ?q= (word starts), ?unit=, ?tag=, ?limit=, ?offset=."""
    limit, offset = page_args()
    rows, total = story_domain.search_stories(
        get_db(),
        request.args.get("q", ""),
        unit_id=arg_int("unit"),
        tag=request.args.get("tag") or None,
        limit=limit,
        offset=offset,
    )
    return jsonify({"total": total, "stories": [story_json(row) for row in rows]})


@bp.route("/stories/<int:story_id>")
@api_allow(SIGNED_IN)
def get_story(story_id: int):
    """One story (a withdrawn one says only that it was withdrawn)."""
    return jsonify(story_json(story_domain.get_story(get_db(), story_id)))


@bp.route("/stories", methods=["POST"])
@api_allow(*AUTHORS)
def create_story():
    """Record a story; personal data is refused with 422 naming field and reason."""
    body = json_body()
    fields = {key: _text(body, key) for key in STORY_KEYS}
    try:
        story = story_domain.create_story(
            get_db(),
            actor_id=g.api_user.id,
            names_confirmed=body.get("names_confirmed") is True,
            tags=_tags(body),
            **fields,
        )
    except personal_data.PersonalDataError as error:
        return _refused(error)
    return jsonify(story_json(story)), 201


# ---- ideas ---------------------------------------------------------------------


@bp.route("/ideas")
@api_allow(SIGNED_IN)
def list_ideas():
    """Ideas the token's person may see; ?q=, ?status=, ?unit=, ?tag=, ?overdue=1."""
    limit, offset = page_args()
    rows, total = idea_domain.search_ideas(
        get_db(),
        g.api_user.id,
        request.args.get("q", ""),
        status=request.args.get("status") or None,
        unit_id=arg_int("unit"),
        tag=request.args.get("tag") or None,
        overdue=request.args.get("overdue") == "1",
        limit=limit,
        offset=offset,
    )
    for row in rows:
        row.pop("support_count", None)
    return jsonify({"total": total, "ideas": [idea_json(row) for row in rows]})


@bp.route("/ideas/<int:idea_id>")
@api_allow(SIGNED_IN)
def get_idea(idea_id: int):
    """One idea, with its stories and supports; a draft is 404 to all but its authors."""
    return jsonify(idea_json(idea_domain.get_idea(get_db(), idea_id, g.api_user.id)))


@bp.route("/ideas", methods=["POST"])
@api_allow(*AUTHORS)
def create_idea():
    """Write a draft idea ({..., stories: [ids], co_authors: [emails], propose?: true})."""
    db = get_db()
    body = json_body()
    fields = {key: _text(body, key) for key in IDEA_KEYS}
    stories = body.get("stories") or []
    co_authors = body.get("co_authors") or []
    if not isinstance(stories, list):
        stories = [stories]
    if isinstance(co_authors, list):
        co_authors = ", ".join(str(e) for e in co_authors)
    try:
        with db.atomic():
            idea = idea_domain.create_idea(
                db,
                actor_id=g.api_user.id,
                story_ids=stories,
                co_authors=str(co_authors),
                names_confirmed=body.get("names_confirmed") is True,
                tags=_tags(body),
                **fields,
            )
            if body.get("propose") is True:
                idea = idea_domain.propose_idea(db, idea["id"], g.api_user.id)
    except personal_data.PersonalDataError as error:
        return _refused(error)
    return jsonify(idea_json(idea)), 201


# ---- the OpenAPI description --------------------------------------------------------

_ERRORS = (("403", "Role not allowed."), ("422", "Refused: the reasons name each field."))
_ID = {"in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_LIST_PARAMS = [
    {"name": "q", "in": "query", "schema": {"type": "string"}},
    {"name": "unit", "in": "query", "schema": {"type": "integer"}},
    {"name": "tag", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _response(code: str, description: str, schema: dict | None = None) -> dict:
    ref = schema or _ref("Error")
    return {code: {"description": description, "content": {"application/json": {"schema": ref}}}}


def paths() -> dict:
    """The OpenAPI paths of stories and ideas."""
    return {
        "/stories": {
            "get": {
                "operationId": "listStories",
                "summary": "Stories, searched by word starts and filtered",
                "parameters": _LIST_PARAMS,
                "responses": {
                    **_response("200", "Stories", _ref("StoryList")),
                    **_response("401", "No valid bearer token."),
                },
            },
            "post": {
                "operationId": "createStory",
                "summary": "Record a citizen's story (the personal-data guard applies)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewStory")}},
                },
                "responses": {
                    **_response("201", "Recorded", _ref("Story")),
                    **_response("401", "No valid bearer token."),
                    **{k: v for c, d in _ERRORS for k, v in _response(c, d).items()},
                },
            },
        },
        "/stories/{story_id}": {
            "get": {
                "operationId": "getStory",
                "summary": "One story",
                "parameters": [{"name": "story_id", **_ID}],
                "responses": {
                    **_response("200", "The story", _ref("Story")),
                    **_response("401", "No valid bearer token."),
                    **_response("404", "Not found."),
                },
            }
        },
        "/ideas": {
            "get": {
                "operationId": "listIdeas",
                "summary": "Ideas you may see (drafts only your own)",
                "parameters": [
                    *_LIST_PARAMS,
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"enum": list(idea_domain.STATUSES)},
                    },
                    {"name": "overdue", "in": "query", "schema": {"enum": ["0", "1"]}},
                ],
                "responses": {
                    **_response("200", "Ideas", _ref("IdeaList")),
                    **_response("401", "No valid bearer token."),
                },
            },
            "post": {
                "operationId": "createIdea",
                "summary": "Write a draft idea, or propose it at once",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewIdea")}},
                },
                "responses": {
                    **_response("201", "Saved", _ref("Idea")),
                    **_response("401", "No valid bearer token."),
                    **{k: v for c, d in _ERRORS for k, v in _response(c, d).items()},
                },
            },
        },
        "/ideas/{idea_id}": {
            "get": {
                "operationId": "getIdea",
                "summary": "One idea",
                "parameters": [{"name": "idea_id", **_ID}],
                "responses": {
                    **_response("200", "The idea", _ref("Idea")),
                    **_response("401", "No valid bearer token."),
                    **_response("404", "Not found (or a draft that is not yours)."),
                },
            }
        },
    }


def schemas() -> dict:
    """The OpenAPI schemas of stories and ideas."""
    text = {"type": "string"}
    nullable = {"type": ["string", "null"]}
    tags = {"type": "array", "items": text}
    story = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "withdrawn": {"type": "boolean"},
            "withdrawn_at": nullable,
            **{k: text for k in ("title", "account", "needed", "happened", "services")},
            "source": {"enum": list(story_domain.SOURCES)},
            "consent_how": {"enum": list(story_domain.CONSENT_HOW)},
            "consent_on": text,
            "unit_id": {"type": "integer"},
            "unit": text,
            "tags": tags,
            "created_at": text,
        },
        "required": ["id", "withdrawn"],
    }
    new_story = {
        "type": "object",
        "properties": {
            **{k: text for k in ("title", "account", "needed", "happened", "services")},
            "source": {"enum": list(story_domain.SOURCES)},
            "consent_how": {"enum": list(story_domain.CONSENT_HOW)},
            "consent_on": {"type": "string", "description": "YYYY-MM-DD or DD.MM.YYYY"},
            "unit_id": {"type": "integer"},
            "tags": tags,
            "names_confirmed": {"type": "boolean"},
        },
        "required": ["title", "account", "source", "consent_how", "consent_on", "unit_id"],
    }
    idea_text = ("title", "need", "whose_need", "proposal", "stop_doing", "benefit", "risks")
    idea = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            **{k: text for k in (*idea_text, "co_creators", "answer_reason")},
            "status": {"enum": list(idea_domain.STATUSES)},
            **{k: nullable for k in ("proposed_at", "answer_due", "answered_at", "look_again_on")},
            "pilot_id": {"type": ["integer", "null"]},
            "unit_id": {"type": "integer"},
            "unit": text,
            "tags": tags,
            "stories": {"type": "array", "items": {"type": "integer"}},
            "supports": {"type": "integer"},
            "created_at": text,
        },
        "required": ["id", "title", "status"],
    }
    new_idea = {
        "type": "object",
        "properties": {
            **{k: text for k in (*idea_text, "co_creators")},
            "unit_id": {"type": "integer"},
            "tags": tags,
            "stories": {"type": "array", "items": {"type": "integer"}},
            "co_authors": {"type": "array", "items": {"type": "string", "format": "email"}},
            "propose": {"type": "boolean"},
            "names_confirmed": {"type": "boolean"},
        },
        "required": ["title", "need", "proposal", "unit_id"],
    }

    def listing(key: str, item: str) -> dict:
        return {
            "type": "object",
            "properties": {
                "total": {"type": "integer"},
                key: {"type": "array", "items": _ref(item)},
            },
            "required": ["total", key],
        }

    return {
        "Story": story,
        "NewStory": new_story,
        "StoryList": listing("stories", "Story"),
        "Idea": idea,
        "NewIdea": new_idea,
        "IdeaList": listing("ideas", "Idea"),
    }
