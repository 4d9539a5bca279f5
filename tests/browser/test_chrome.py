"""Every demo role signs in, in Norwegian and English, and walks its navigation:
no console errors, no serious or critical axe-core violations (WCAG 2.1 AA)."""

import pytest
from browser_support import serious_violations, sign_in
from sessions import DEMO_EMAIL

pytestmark = pytest.mark.browser

WELCOME = {"nb": "Velkommen", "en": "Welcome"}


@pytest.mark.parametrize("language", ["nb", "en"])
@pytest.mark.parametrize("role", sorted(DEMO_EMAIL))
def test_each_role_signs_in_and_navigates(page, live_server, console_errors, axe, role, language):
    sign_in(page, live_server, DEMO_EMAIL[role], language)
    assert WELCOME[language] in page.locator("h1").inner_text()
    assert page.locator("html").get_attribute("lang") == language
    links = page.locator("nav[aria-label] a").evaluate_all("links => links.map(a => a.href)")
    links.append(f"{live_server}/profile/")
    violations = {}
    for href in links:
        page.goto(href)
        found = serious_violations(axe, page)
        if found:
            violations[href] = found
    assert violations == {}
    assert console_errors == []
