"""Signing test clients in through the real form, with real CSRF tokens."""

from __future__ import annotations

import re

from pilots.demo import DEMO_PASSWORD

CSRF_PATTERN = re.compile(r'name="csrf_token" value="([^"]+)"')

DEMO_EMAIL = {
    "frontline": "kari@fjordvik.example",
    "leader": "ingrid@fjordvik.example",
    "analyst": "jonas@fjordvik.example",
    "case_handler": "sara@fjordvik.example",
    "admin": "admin@fjordvik.example",
}


def csrf_token(client) -> str:
    """A valid CSRF token for this client's session, read from a page."""
    response = client.get("/login", follow_redirects=True)
    match = CSRF_PATTERN.search(response.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


class Auth:
    """Signs a test client in and out as a demo person, and posts like a browser form."""

    def __init__(self, client):
        self.client = client

    def login(self, email=DEMO_EMAIL["admin"], password=DEMO_PASSWORD):
        return self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_token(self.client)},
        )

    def logout(self):
        return self.client.post("/logout", data={"csrf_token": self.token()})

    def token(self) -> str:
        return csrf_token(self.client)

    def post(self, url, data=None, **kwargs):
        return self.client.post(url, data={**(data or {}), "csrf_token": self.token()}, **kwargs)


def signed_in_client(app, email):
    """A new test client signed in as `email`, and its CSRF token."""
    client = app.test_client()
    response = Auth(client).login(email)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return client, csrf_token(client)
