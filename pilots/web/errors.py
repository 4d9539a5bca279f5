"""Security headers on every response, and generic error pages with a reference id.

Tracebacks go to the log under the reference id, never to the user. API paths
get the same errors as JSON.
"""

from __future__ import annotations

import logging
import secrets

from flask import current_app, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

TITLES = {
    400: "The request could not be understood",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "This action is not allowed here",
    413: "The upload is too large",
    429: "Too many attempts",
    500: "Something went wrong",
}


def _title(code: int) -> str:
    messages = {
        400: _("The request could not be understood"),
        403: _("You do not have access to this page"),
        404: _("Page not found"),
        405: _("This action is not allowed here"),
        413: _("The upload is too large"),
        429: _("Too many attempts"),
        500: _("Something went wrong"),
    }
    return messages.get(code, _("Something went wrong"))


def _too_large() -> str:
    """What a 413 says: the limit, so the person knows how far to split the file."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    size = f"{limit / 1024 / 1024:.0f} MB" if limit >= 1024 * 1024 else f"{limit / 1024:.0f} KB"
    return _(
        "The largest upload allowed is %(size)s. Split the file into smaller files and"
        " upload them one by one.",
        size=size,
    )


def _error_response(code: int, description: str | None = None):
    reference = secrets.token_hex(4)
    if code >= 500:
        log.exception("error reference %s on %s %s", reference, request.method, request.path)
    else:
        log.info("error %s reference %s on %s %s", code, reference, request.method, request.path)
    if request.path.startswith("/api/"):
        body = {"error": TITLES.get(code, "Error"), "reference": reference}
        if description and code < 500:
            body["message"] = description
        return jsonify(body), code
    return (
        render_template(
            "errors/error.html",
            code=code,
            title=_title(code),
            description=description if code < 500 else None,
            reference=reference,
        ),
        code,
    )


def init_app(app) -> None:
    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        # Our own aborts carry a useful description; Werkzeug's stock ones are generic.
        description = getattr(error, "user_message", None)
        if error.code == 413 and not description:
            description = _too_large()
        return _error_response(error.code, description)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        return _error_response(InternalServerError.code)
