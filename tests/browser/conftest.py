"""Browser fixtures: a page that records console errors, and an axe-core check."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe

# Chromium logs every 4xx response as a console error. A 422 (a form sent back with
# its messages) or a 401 (a wrong password) is the app answering as designed.
EXPECTED_REFUSAL = re.compile(r"Failed to load resource: .*status of (401|422)\b")


@pytest.fixture
def console_errors(page):
    errors = []

    def record(message):
        if message.type == "error" and not EXPECTED_REFUSAL.search(message.text):
            errors.append(message.text)

    page.on("console", record)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture(scope="session")
def axe():
    return Axe()


@pytest.fixture(scope="session")
def artifacts():
    """Screenshots kept after the run (git-ignored), for a person to look at."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder
