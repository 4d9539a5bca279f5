"""The pilot page and the leader portfolio under load, beside a trivial route of the
same server (issue 6, benchmark 7b).

Run: .venv/bin/python bench/bench_pages.py [--pilots 1000] [--seconds 20] [--keep DIR]
(with --keep, a database already built there is reused)

Builds the benchmark 7a database (bench/bench_evaluation.py: 1,000 running pilots x 5
metrics over 1,000,000 observations), evaluates every pilot once (`evaluate_due`), adds
a leader of the unit that holds all 1,000 pilots (so the portfolio covers them all),
serves it with gunicorn (2 sync workers on 127.0.0.1, a free port) and loads each URL
with wrk (16 connections, 2 threads, `--seconds` each, signed in with a session cookie
made through the login form): `/healthz` (the trivial route), a pilot page with its
results and charts, and `/portfolio`. wrk is installed with apt-get when missing.
Prints a markdown table: p50, p95, requests per second, and the share of the trivial
route's throughput. Targets: p95 <= 100 ms and >= 25 % of the trivial route's rate.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_evaluation import build  # noqa: E402

from pilots import migrations  # noqa: E402
from pilots.db import connect  # noqa: E402
from pilots.domain import accounts  # noqa: E402
from pilots.evaluation.cadence import evaluate_due  # noqa: E402

EMAIL, PASSWORD = "leder@example.no", "a long benchmark passphrase"
REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT p50=%.3f p95=%.3f rps=%.2f requests=%d errors=%d\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    summary.requests / (summary.duration / 1e6), summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk")


def prepare(path: str, pilots: int) -> dict:
    """The 7a database, evaluated once, with a leader of the pilots' unit."""
    started = time.perf_counter()
    rows = build(path, pilots)
    built = time.perf_counter() - started
    db = connect(path)
    started = time.perf_counter()
    evaluate_due(db, datetime(2026, 6, 1, 3, 0, tzinfo=UTC))
    evaluated = time.perf_counter() - started
    with db.atomic():
        db.execute(
            """INSERT INTO users (email, name, password_hash, created_at)
               VALUES (?, 'Leder', ?, '2026-01-01T00:00:00Z')""",
            [EMAIL, accounts.hash_password(PASSWORD)],
        )
        user = next(db.query("SELECT id FROM users WHERE email = ?", [EMAIL]))["id"]
        db.execute("INSERT INTO role (user_id, role, unit_id) VALUES (?, 'leader', 1)", [user])
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = {t: db[t].count for t in ("pilot", "evaluation", "observation")}
    db.close()
    return {"rows": rows, "built": built, "evaluated": evaluated, **counts}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(path: str, port: int):
    env = {
        **os.environ,
        "PILOTS_DATABASE": path,
        "PILOTS_SECRET_KEY": "bench-secret-" + "x" * 20,
        # development: the session cookie is not Secure, so it travels over plain http.
        "PILOTS_MODE": "development",
    }
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "pilots:create_app()",
        ],
        cwd=str(ROOT),
        env=env,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start")


def session_cookie(base: str) -> str:
    """Sign in through the login form, as a browser does; return the Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    opener.open(f"{base}/login", data=data.encode()).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    check = urllib.request.Request(f"{base}/portfolio", headers={"Cookie": cookie})
    answer = urllib.request.build_opener(NoRedirect).open(check)
    if answer.status != 200:
        raise SystemExit(f"signing in failed: {answer.status}")
    return cookie


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def load(wrk: str, url: str, cookie: str, seconds: int, script: str) -> dict:
    out = subprocess.run(
        [
            wrk,
            "-t2",
            "-c16",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            script,
            "-H",
            f"Cookie: {cookie}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(
        r"RESULT p50=([\d.]+) p95=([\d.]+) rps=([\d.]+) requests=(\d+) errors=(\d+)", out
    )
    p50, p95, rps, requests, errors = found.groups()
    return {
        "p50": float(p50),
        "p95": float(p95),
        "rps": float(rps),
        "requests": int(requests),
        "errors": int(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilots", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--keep", help="build the database in this folder and keep it")
    args = parser.parse_args()
    wrk = ensure_wrk()
    folder = args.keep or tempfile.mkdtemp(prefix="pilots-bench-pages-")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "bench.sqlite3")
    if args.keep and os.path.exists(path):
        print(f"Reusing {path} (delete it to rebuild)")
        db = connect(path)
        applied = migrations.apply(db)  # a database kept from before a new migration
        db.close()
        if applied:
            print(f"Applied {', '.join(applied)}")
    else:
        facts = prepare(path, args.pilots)
        print(
            f"Database: {facts['pilot']} pilots, {facts['observation']:,} observations,"
            f" {facts['evaluation']:,} stored results (built in {facts['built']:.0f} s,"
            f" evaluated in {facts['evaluated']:.0f} s)"
        )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = serve(path, port)
    script = os.path.join(folder, "report.lua")
    Path(script).write_text(REPORT, encoding="utf-8")
    try:
        cookie = session_cookie(base)
        pilot = args.pilots // 2 + 2  # a spc pilot in the middle of the database
        urls = [
            ("trivial route `/healthz`", f"{base}/healthz"),
            (f"pilot page `/pilots/{pilot}`", f"{base}/pilots/{pilot}"),
            ("leader portfolio `/portfolio`", f"{base}/portfolio"),
        ]
        for _label, url in urls:  # warm both workers
            load(wrk, url, cookie, 2, script)
        figures = [(label, load(wrk, url, cookie, args.seconds, script)) for label, url in urls]
    finally:
        server.terminate()
        server.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    trivial = figures[0][1]["rps"]
    print()
    print("| URL | p50 (ms) | p95 (ms) | requests/s | share of trivial | requests | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, f in figures:
        share = f["rps"] / trivial if trivial else 0
        print(
            f"| {label} | {f['p50']:.1f} | {f['p95']:.1f} | {f['rps']:.0f} | {share:.0%}"
            f" | {f['requests']} | {f['errors']} |"
        )
    misses = [
        label
        for label, f in figures[1:]
        if f["p95"] > 100 or (trivial and f["rps"] / trivial < 0.25) or f["errors"]
    ]
    print()
    print(
        "Targets (p95 <= 100 ms, >= 25 % of the trivial route):",
        "missed by " + ", ".join(misses) if misses else "met",
    )


if __name__ == "__main__":
    main()
