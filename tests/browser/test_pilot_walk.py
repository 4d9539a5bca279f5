"""A pilot walks from draft to approved by a second person, through an amendment, to a
decision, in a real browser: the team in Norwegian, the leader in English."""

from datetime import timedelta

import pytest
from babel.dates import format_date
from browser_support import serious_violations, sign_in
from sessions import DEMO_EMAIL

from pilots.domain.observation_files import local_today

# It starts today (a pilot starts on its start date at the earliest) and runs half a year.
START = local_today()
END, LATER_END = START + timedelta(days=200), START + timedelta(days=231)

pytestmark = pytest.mark.browser


def _check(page, axe, console_errors):
    assert serious_violations(axe, page) == []
    assert console_errors == []


def test_draft_to_decision(browser, live_server, axe, artifacts):
    team = browser.new_context()
    kari = team.new_page()
    kari_errors = []
    kari.on("console", lambda m: kari_errors.append(m.text) if m.type == "error" else None)
    sign_in(kari, live_server, DEMO_EMAIL["frontline"], "nb")

    kari.get_by_role("navigation").get_by_role("link", name="Piloter", exact=True).click()
    kari.get_by_role("link", name="Start en pilot").click()
    kari.get_by_label("Tittel").fill("Kveldsåpen bolighjelp")
    kari.get_by_role("button", name="Lag utkastet").click()
    kari.wait_for_url("**/edit")
    _check(kari, axe, kari_errors)
    kari.fill("#hypothesis", "Kveldsåpent gir færre utkastelser.")
    kari.fill("#start_date", START.isoformat())
    kari.fill("#end_date", END.isoformat())
    kari.fill("#citizens_involved", "12")
    kari.locator("input[name=design][value=two_group]").check()
    kari.fill("#comparison", "Dagåpent kontor")
    kari.select_option("#metric_id-0", label="Bor fortsatt i egen bolig etter seks måneder")
    kari.select_option("#role-0", "primary")
    kari.fill("#mid-0", "0,15")
    kari.fill("#typical_value", "0,4")
    kari.fill("#planned_n", "40")
    # The planning help answers live, in Norwegian, as the numbers are typed.
    kari.locator("#planning-advice", has_text="Med 40 i hver gruppe").wait_for()
    kari.get_by_role("button", name="Lagre planen").click()
    kari.get_by_role("button", name="Send til godkjenning").click()
    kari.get_by_text("Venter på at en leder i enheten godkjenner versjon 1.").wait_for()
    _check(kari, axe, kari_errors)
    pilot_url = kari.url

    leader = browser.new_context().new_page()
    leader_errors = []
    leader.on("console", lambda m: leader_errors.append(m.text) if m.type == "error" else None)
    sign_in(leader, live_server, DEMO_EMAIL["leader"], "en")
    leader.get_by_role("link", name="Waiting for you", exact=True).click()
    # The queue says why the plan waits for a leader: no trust limits above the team.
    row = leader.get_by_role("row").filter(has_text="Kveldsåpen bolighjelp")
    row.get_by_role("listitem").filter(has_text="No trust limits are set").wait_for()
    _check(leader, axe, leader_errors)
    leader.get_by_role("link", name="Kveldsåpen bolighjelp").click()
    leader.get_by_text("Why a leader must decide:").wait_for()
    _check(leader, axe, leader_errors)
    leader.get_by_role("button", name="Approve version 1").click()
    leader.get_by_text("Version 1: Approved").wait_for()

    # Kari hears of it in her inbox, in Norwegian, and follows the link to the pilot.
    kari.goto(f"{live_server}/notifications")
    note = kari.get_by_role("listitem").filter(has_text="Godkjent: «Kveldsåpen bolighjelp»")
    note.wait_for()
    _check(kari, axe, kari_errors)
    note.get_by_role("button", name="Åpne").click()
    kari.wait_for_url(pilot_url)
    kari.get_by_role("button", name="Start piloten").click()
    kari.get_by_role("link", name="Foreslå en endring").click()
    kari.get_by_label("Hvorfor må planen endres?").fill("Vi trenger én måned til.")
    kari.fill("#end_date", LATER_END.isoformat())
    kari.get_by_role("button", name="Send endringssøknaden til godkjenning").click()
    kari.get_by_text("Endringssøknaden er sendt til lederne for godkjenning.").wait_for()

    leader.goto(pilot_url)
    leader.get_by_text("Decide on the amendment (version 2)").wait_for()
    ends = leader.get_by_role("row", name="End date").inner_text()
    assert all(format_date(day, "d MMM y", locale="en") in ends for day in (END, LATER_END))
    leader.screenshot(path=str(artifacts / "pilot-amendment.png"), full_page=True)
    leader.get_by_role("button", name="Approve version 2").click()
    leader.get_by_text("Version 2: Approved").wait_for()
    _check(leader, axe, leader_errors)

    kari.goto(pilot_url)
    kari.get_by_text("Avslutt piloten").click()
    kari.get_by_label("Videreføre", exact=False).check()
    kari.get_by_label("Hva vi lærte").fill("Kveldsåpent hjalp dem som jobber dagtid.")
    kari.get_by_role("button", name="Avslutt", exact=True).click()
    kari.get_by_text("Beslutning:").wait_for()
    assert "Videreføre" in kari.locator(".next-step").inner_text()
    _check(kari, axe, kari_errors)
    kari.screenshot(path=str(artifacts / "pilot-concluded.png"), full_page=True)


def _new_draft(page, live_server):
    """Kari starts a draft pilot and lands on its plan form."""
    sign_in(page, live_server, DEMO_EMAIL["frontline"], "nb")
    page.goto(f"{live_server}/pilots/new")
    page.get_by_label("Tittel").fill("Kveldsåpen bolighjelp")
    page.get_by_role("button", name="Lag utkastet").click()
    page.wait_for_url("**/edit")


def _save_with_smallest_difference(page, text: str):
    """Choose a primary metric with `text` as its smallest difference that matters, and
    save the plan."""
    page.select_option("#metric_id-0", label="Bor fortsatt i egen bolig etter seks måneder")
    page.select_option("#role-0", "primary")
    page.fill("#mid-0", text)
    page.get_by_role("button", name="Lagre planen").click()


def test_a_plan_sent_back_opens_at_its_first_problem(page, live_server, axe):
    """A wrong smallest difference is named at the metrics table, and the page, long as it
    is, opens there: the focus on the field at fault, the message in view."""
    _new_draft(page, live_server)
    _save_with_smallest_difference(page, "abc")
    message = page.locator("#metrics-error")
    message.wait_for()
    assert (
        "Måltallsrad 1: minste forskjell som betyr noe, abc, er ikke et tall."
        in message.inner_text()
    )
    assert "abc" in message.inner_text()
    # the field at fault has the focus, the message that describes it in view
    page.wait_for_function("() => document.activeElement.id === 'mid-0'")
    assert message.evaluate(
        "el => el.getBoundingClientRect().top >= 0"
        " && el.getBoundingClientRect().bottom < window.innerHeight"
    )
    assert serious_violations(axe, page) == []


def test_a_plan_with_several_faults_opens_at_the_list_of_them(page, live_server, axe):
    """Several faults in one save: the page opens at a list of them at the form's top,
    each named by its field and leading to it; typing on after that stays where one types
    (the planning help's reload used to pull the focus back to the first fault)."""
    _new_draft(page, live_server)
    page.get_by_label("Tittel").fill("")
    page.get_by_label("Ekstra kostnad (kr)").fill("mye")
    _save_with_smallest_difference(page, "abc")
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert "Rett dette før det kan lagres" in summary.inner_text()
    page.wait_for_function("() => document.activeElement.classList.contains('error-summary')")
    # a link leads to the field itself, its label in view
    summary.get_by_role("link", name="Ekstra kostnad (kr):", exact=False).press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'cost'")
    assert page.locator("label[for=cost]").evaluate("el => el.getBoundingClientRect().top >= 0")
    summary.get_by_role("link", name="abc", exact=False).click()
    page.wait_for_function("() => document.activeElement.id === 'metrics-error'")
    assert page.locator("#metrics-error").evaluate(
        "el => el.getBoundingClientRect().top < window.innerHeight"
    )
    # typing elsewhere (the planning help reloads as one types) keeps the focus there
    page.fill("#hypothesis", "")
    page.locator("#hypothesis").press_sequentially("Et hjem først", delay=150)
    page.wait_for_timeout(900)
    assert page.evaluate("() => document.activeElement.id") == "hypothesis"
    assert page.input_value("#hypothesis") == "Et hjem først"
    assert serious_violations(axe, page) == []


def test_a_plans_metric_rows_fit_a_phone(page, live_server):
    """On a phone each metric row stacks its cells under their column names: as a table,
    the third column (the smallest difference that matters) sat off-screen."""
    page.set_viewport_size({"width": 390, "height": 800})
    _new_draft(page, live_server)
    box = page.locator("#mid-0").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    cell = page.locator("td:has(#mid-0)")
    assert "Minste forskjell som betyr noe" in cell.evaluate(
        "el => getComputedStyle(el, '::before').content"
    )
