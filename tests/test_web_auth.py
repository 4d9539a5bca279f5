"""Signing in and out through the web: sessions, throttling, headers and error pages."""

from sessions import DEMO_EMAIL, csrf_token

from pilots.demo import DEMO_PASSWORD


def test_sign_in_gives_a_new_session_and_sign_out_kills_the_old_cookie(client, auth):
    client.get("/login")
    before = client.get_cookie("session").value
    assert auth.login().status_code == 303
    after = client.get_cookie("session").value
    assert after != before
    assert client.get("/").status_code == 200
    auth.logout()
    # Replaying the cookie from before sign-out gets nowhere.
    client.set_cookie("session", after)
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_wrong_password_names_no_field_and_stores_no_session(client):
    response = client.post(
        "/login",
        data={"email": DEMO_EMAIL["admin"], "password": "wrong", "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 401
    assert "The e-mail address or password is not right." in response.get_data(as_text=True) or (
        "E-postadressen eller passordet er ikke riktig." in response.get_data(as_text=True)
    )
    assert client.get("/").status_code == 302


def test_password_change_makes_other_sessions_useless(app, auth, client):
    other = app.test_client()
    from sessions import Auth

    Auth(other).login()
    auth.login()
    response = auth.post(
        "/profile/password",
        {
            "current_password": DEMO_PASSWORD,
            "new_password": "a long new passphrase",
            "repeat_password": "a long new passphrase",
        },
    )
    assert response.status_code == 303
    assert client.get("/").status_code == 200  # this session continues
    assert other.get("/").status_code == 302  # the other one is signed out


def test_password_change_errors_come_back_next_to_the_field(auth):
    auth.login()
    response = auth.post(
        "/profile/password",
        {"current_password": "wrong one", "new_password": "x" * 12, "repeat_password": "x" * 12},
        headers={"HX-Request": "true"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<html" not in body
    assert 'id="current_password-error"' in body


def test_disabling_an_account_signs_it_out(app, auth):
    from sessions import signed_in_client

    kari, _ = signed_in_client(app, DEMO_EMAIL["frontline"])
    assert kari.get("/").status_code == 200
    auth.login()
    kari_id = next(
        row["id"]
        for row in __import__("pilots.db", fromlist=["connect"])
        .connect(app.config["DATABASE"])
        .query("SELECT id FROM users WHERE email = ?", [DEMO_EMAIL["frontline"]])
    )
    assert auth.post(f"/admin/users/{kari_id}/active", {"active": "0"}).status_code == 303
    assert kari.get("/").status_code == 302


def test_failed_sign_ins_are_throttled_per_account(app):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per minute"
    statuses = []
    for _ in range(5):
        client = app.test_client()  # a new client each time: the limit is per account
        statuses.append(
            client.post(
                "/login",
                data={
                    "email": DEMO_EMAIL["leader"],
                    "password": "guess",
                    "csrf_token": csrf_token(client),
                },
            ).status_code
        )
    assert statuses == [401, 401, 401, 429, 429]


def test_failed_sign_ins_are_throttled_per_address(app, client):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "4 per minute"
    statuses = [
        client.post(
            "/login",
            data={
                "email": f"person{i}@x.no",
                "password": "guess",
                "csrf_token": csrf_token(client),
            },
        ).status_code
        for i in range(6)
    ]
    assert statuses[:4] == [401] * 4 and statuses[4:] == [429, 429]


def test_successful_sign_ins_are_not_counted(app):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "2 per minute"
    from sessions import Auth

    for _ in range(4):
        assert Auth(app.test_client()).login(DEMO_EMAIL["analyst"]).status_code == 303


def test_next_cannot_redirect_off_site(client):
    response = client.post(
        "/login",
        data={
            "email": DEMO_EMAIL["admin"],
            "password": DEMO_PASSWORD,
            "next": "//evil.example/",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.headers["Location"] == "/"


REQUIRED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _assert_secure_headers(response):
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    for name, value in REQUIRED_HEADERS.items():
        assert response.headers[name] == value


def test_security_headers_on_pages_and_error_pages(client):
    _assert_secure_headers(client.get("/login"))
    not_found = client.get("/no-such-page")
    assert not_found.status_code == 404
    _assert_secure_headers(not_found)
    assert "Reference:" in not_found.get_data(as_text=True) or "Referanse:" in not_found.get_data(
        as_text=True
    )


def test_a_crash_shows_a_generic_page_with_a_reference_and_no_traceback(app, caplog):
    from pilots.web.access import ANYONE, allow

    @app.route("/crash")
    @allow(ANYONE)
    def crash():
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/crash", headers={"Accept-Language": "en"})
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    _assert_secure_headers(response)
    assert "Something went wrong" in body and "Reference:" in body
    assert "secret internals" not in body and "Traceback" not in body
    assert "secret internals" in caplog.text  # the traceback is in the log


def test_cookies_are_httponly_and_lax(client, auth):
    response = auth.login()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_mode_refuses_the_default_secret(tmp_path):
    import pytest

    from pilots import create_app
    from pilots.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="default secret"):
        create_app({"MODE": "production", "DATABASE": str(tmp_path / "x.db")})
    app = create_app({"MODE": "production", "SECRET_KEY": "s3cret", "DATABASE": "x"})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    from pilots import create_app

    monkeypatch.setenv("PILOTS_DATABASE", str(tmp_path / "env.sqlite3"))
    monkeypatch.setenv("PILOTS_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("PILOTS_PAGE_SIZE", "7")
    app = create_app()
    assert app.config["DATABASE"] == str(tmp_path / "env.sqlite3")
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["PAGE_SIZE"] == 7
