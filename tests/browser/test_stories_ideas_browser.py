"""The walk the issue asks for, in a real browser: a citizen's story (refused once by
the personal-data guard, with the text marked) -> an idea from it -> proposed ->
supported by a colleague -> answered by a leader -> a pilot draft. Norwegian for the
frontline worker, English for the others; no console errors and no serious axe-core
violations on any page."""

import re

import pytest
from browser_support import serious_violations, sign_in
from sessions import DEMO_EMAIL

pytestmark = pytest.mark.browser

OLA = "ola@fjordvik.example"


def checked(page, axe, console_errors):
    assert serious_violations(axe, page) == [], page.url
    assert console_errors == [], page.url


def test_story_to_idea_to_support_to_answer_to_pilot_draft(page, live_server, console_errors, axe):
    # A frontline worker writes down a story, in Norwegian.
    sign_in(page, live_server, DEMO_EMAIL["frontline"], "nb")
    page.get_by_role("link", name="Historier", exact=True).click()
    checked(page, axe, console_errors)
    page.get_by_role("link", name="Skriv ned en historie").click()
    page.fill("#title", "Ventet på bolig i tre måneder")
    page.fill("#account", "Jeg ventet på boligtilbud. Ring meg på 912 34 567.")
    page.select_option("#source", "conversation")
    page.select_option("#consent_how", "oral")
    page.locator("#story-form button[type=submit]").click()
    # htmx swaps the form back with the phone number marked, and focus on the field.
    page.locator("#account-marked mark").wait_for()
    assert page.locator("#account-marked mark").inner_text() == "912 34 567"
    assert page.locator("#account").evaluate("el => document.activeElement === el")
    checked(page, axe, console_errors)
    page.fill("#account", "Jeg ventet på boligtilbud i tre måneder og bodde på hospits.")
    page.locator("#story-form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/stories/\d+$"))
    story_url = page.url
    assert "Du sa, vi gjorde" in page.content()
    checked(page, axe, console_errors)

    # Search finds it by the start of a compound word, as one types.
    page.get_by_role("link", name="Historier", exact=True).click()
    page.get_by_label("Søk i historiene").press_sequentially("boligt", delay=30)
    page.wait_for_url("**/stories?q=boligt**")
    page.locator("#story-items a", has_text="Ventet på bolig i tre måneder").wait_for()
    checked(page, axe, console_errors)

    # ... and proposes an idea from it.
    page.goto(story_url)
    page.get_by_role("link", name="Foreslå en idé ut fra denne historien").click()
    page.fill("#title", "Bolig først")
    page.fill("#need", "Et trygt sted å bo, først.")
    page.fill("#proposal", "Gi en leilighet straks, med oppfølging hjemme.")
    checked(page, axe, console_errors)
    page.locator("#idea-form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/ideas/\d+$"))
    idea_url = page.url
    checked(page, axe, console_errors)
    page.get_by_role("button", name="Foreslå ideen").click()
    page.get_by_text("Ideen din er foreslått").wait_for()
    checked(page, axe, console_errors)

    # A colleague supports it, in English, with htmx.
    page.context.clear_cookies()
    sign_in(page, live_server, OLA, "en")
    page.goto(idea_url)
    page.get_by_role("button", name="Support the idea").click()
    page.get_by_role("button", name="Take back my support").wait_for()
    assert "Ola Haugen" in page.locator("#engagement").inner_text()
    page.get_by_label("Your comment").fill("We see the same in home care.")
    page.get_by_role("button", name="Add the comment").click()
    page.locator(".comments li", has_text="We see the same in home care.").wait_for()
    checked(page, axe, console_errors)

    # A leader answers: accepted for a pilot, run by the Housing First team.
    page.context.clear_cookies()
    sign_in(page, live_server, DEMO_EMAIL["leader"], "en")
    page.goto(idea_url)
    checked(page, axe, console_errors)
    page.get_by_label("Declined").check()
    page.get_by_role("button", name="Give the answer").click()
    page.locator("#reason-error").wait_for()  # a reason is needed to decline
    checked(page, axe, console_errors)
    page.get_by_label("Accepted for a pilot").check()
    page.select_option("#team_id", label="Bosted først-teamet")
    page.get_by_role("button", name="Give the answer").click()
    page.locator(".flash-success", has_text="A pilot draft is made").wait_for()
    checked(page, axe, console_errors)
    pilot_link = page.locator("main section a[href*='/pilots/']").first
    assert "Bolig først" in pilot_link.inner_text()

    # The story now says what became of it.
    page.goto(story_url)
    assert "the pilot is being planned" in page.locator(".trace").inner_text()
    checked(page, axe, console_errors)
    pilot_link = page.locator(".trace a[href*='/pilots/']").first
    pilot_link.click()
    page.wait_for_url(re.compile(r".*/pilots/\d+$"))
    assert "Bolig først" in page.content()


def test_the_story_of_the_week_and_its_printable_page(page, live_server, console_errors, axe):
    sign_in(page, live_server, DEMO_EMAIL["leader"], "nb")
    page.goto(f"{live_server}/stories/new")
    page.fill("#title", "Døra var stengt")
    page.fill("#account", "Jeg kom på tirsdag, men det var stengt.")
    page.select_option("#source", "leader_gathering")
    page.select_option("#consent_how", "written")
    page.select_option("#unit_id", label="Helse og velferd")
    page.locator("#story-form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/stories/\d+$"))
    page.get_by_role("button", name="Gjør den til ukens historie").click()
    page.get_by_role("link", name="Start", exact=True).click()
    page.locator(".story-of-the-week", has_text="Døra var stengt").wait_for()
    checked(page, axe, console_errors)
    page.locator(".story-of-the-week").get_by_role(
        "link", name="Utskriftsvennlig side"
    ).first.click()
    assert page.locator("h1").inner_text() == "Døra var stengt"
    assert page.locator("nav").count() == 0
    checked(page, axe, console_errors)
