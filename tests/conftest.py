"""Fixtures in the manner of Flask's tutorial: `app`, `client`, `runner`, `auth`.

Each test gets a fresh SQLite file, copied from one migrated and demo-filled
database built once per session (argon2 is deliberately slow, so the demo people
are hashed once). Browser tests get the app served on a free port of 127.0.0.1
and Debian's chromium.
"""

from __future__ import annotations

import shutil
import socketserver
import threading

import pytest
from sessions import Auth
from werkzeug.serving import make_server

from pilots import create_app, demo, migrations
from pilots.db import connect


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "demo.sqlite3"
    db = connect(str(path))
    migrations.apply(db)
    demo.load(db)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


@pytest.fixture
def db_path(tmp_path, demo_template):
    path = tmp_path / "pilots.sqlite3"
    shutil.copy(demo_template, path)
    return path


@pytest.fixture
def app(db_path):
    return create_app(
        {
            "MODE": "testing",
            "SECRET_KEY": "test-secret",
            "DATABASE": str(db_path),
            "UPLOAD_FOLDER": str(db_path.parent / "uploads"),
        }
    )


@pytest.fixture
def db(app):
    database = connect(app.config["DATABASE"])
    yield database
    database.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def live_server(app):
    """The app served by a real HTTP server on 127.0.0.1, for the browser."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": shutil.which("chromium") or "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to take one message: a real socket, no mocks."""

    def handle(self):
        self.wfile.write(b"220 stub ESMTP\r\n")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250 stub\r\n")
            elif command.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
                self.wfile.write(b"250 ok\r\n")
            elif command == "DATA":
                self.wfile.write(b"354 go on\r\n")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data)
                self.server.messages.append(b"".join(lines).decode())
                self.wfile.write(b"250 queued\r\n")
            elif command == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"502 no\r\n")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
