"""Rendering a page or, for htmx, one named block of it, and paging through lists."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import abort, make_response, redirect, render_template, request
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block

from pilots.web.access import is_htmx


def page(template: str, block: str | None = None, status: int = 200, **context):
    """The full page, or just `block` of it when htmx asks; `Vary: HX-Request` either way."""
    if block and is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


@dataclass(frozen=True)
class Paging:
    """Which page of a list is shown, from `?page=`; 1-based."""

    number: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def page_number() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def found(function, *args, **kwargs):
    """`function(db, *args)` from the domain, or a 404 when it raises NotFound."""
    from pilots.domain import NotFound
    from pilots.web import get_db

    try:
        return function(get_db(), *args, **kwargs)
    except NotFound:
        abort(404)


def id_arg(name: str) -> int | None:
    """An id from the query string (?unit=3), or None when absent or not a stored id."""
    try:
        value = int(request.args.get(name) or 0)
    except ValueError:
        return None
    return value if 0 < value < 2**63 else None


def safe_next(target: str | None, fallback: str) -> str:
    """Only a path on this site may be a redirect target (no open redirects)."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


def translated(error) -> dict:
    """A DomainError as {field: message in the reader's language}."""
    return {error.field or "form": _(error.message, **error.params)}


def see_other(url: str):
    """After a change, go to `url`: a 303 for a plain form, HX-Redirect for htmx.

    htmx must get a 200 carrying HX-Redirect: the browser would follow a 303 itself,
    and htmx would then swap the whole next page into the form.
    """
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)
