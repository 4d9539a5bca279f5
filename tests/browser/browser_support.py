"""What browser tests share: signing in through the form, and the axe-core check."""

from __future__ import annotations

from pilots.demo import DEMO_PASSWORD

LANGUAGE_BUTTON = {"nb": "Norsk (bokmål)", "en": "English"}
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def serious_violations(axe, page) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page, described."""
    results = axe.run(page, options=WCAG_21_AA)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def sign_in(page, base_url, email, language="nb"):
    page.goto(f"{base_url}/login")
    if page.locator("html").get_attribute("lang") != language:
        page.get_by_role("button", name=LANGUAGE_BUTTON[language]).click()
    page.fill("#email", email)
    page.fill("#password", DEMO_PASSWORD)
    page.locator("form.stacked button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")
