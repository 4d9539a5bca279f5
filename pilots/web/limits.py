"""Rate limits for sign-in: per address and per account, counting failures only.

Only failed attempts count, so a person who signs in and out all day is never
locked out, while guessing is slowed to a crawl. The storage is in memory per
process by default (`RATELIMIT_STORAGE_URI` may point elsewhere).
"""

from __future__ import annotations

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from pilots.domain.organisation import normalise_email

limiter = Limiter(key_func=get_remote_address)


def account_key() -> str:
    return "account:" + normalise_email(request.form.get("email", ""))


def failed_sign_in(response) -> bool:
    return response.status_code != 303


def per_address() -> str:
    return current_app.config["LOGIN_LIMIT_PER_ADDRESS"]


def per_account() -> str:
    return current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]
