"""Rendering a page or, for htmx, one named block of it, keeping rendered parts that
are costly and rarely change, and paging through lists."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import abort, current_app, make_response, redirect, render_template, request
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block

from pilots.domain import each_error
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


class Kept:
    """Rendered parts of pages kept in this process by key; the least recently used go
    first once `size` are kept. The key must hold everything the part was made from
    (who may see it included): a changed input is a new key, never a stale part."""

    def __init__(self, size: int):
        self.size = size
        self.parts: OrderedDict[tuple, str] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple):
        with self.lock:
            part = self.parts.get(key)
            if part is not None:
                self.parts.move_to_end(key)
            return part

    def put(self, key: tuple, part) -> None:
        with self.lock:
            self.parts[key] = part
            self.parts.move_to_end(key)
            while len(self.parts) > self.size:
                self.parts.popitem(last=False)


def kept(name: str, size: int = 256) -> Kept:
    """This app's kept parts called `name` (each worker process has its own)."""
    store = current_app.extensions.get(f"pilots.kept.{name}")
    if store is None:
        store = current_app.extensions.setdefault(f"pilots.kept.{name}", Kept(size))
    return store


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
    """A DomainError as {field: message in the reader's language}, in the form's order;
    several errors of one field (a table's rows) read one after the other."""
    messages: dict[str, str] = {}
    for one in each_error(error):
        field, text = one.field or "form", _(one.message, **one.params)
        messages[field] = f"{messages[field]} {text}" if field in messages else text
    return messages


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
