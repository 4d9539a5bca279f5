"""What only a browser shows: htmx swaps on the admin pages, keyboard use, and that
the accessibility check itself can fail."""

import pytest
from browser_support import serious_violations, sign_in
from sessions import DEMO_EMAIL

pytestmark = pytest.mark.browser


def test_the_axe_check_finds_a_real_violation(page, axe):
    page.set_content('<html lang="en"><body><main><img src="data:,"></main></body></html>')
    assert any(v.startswith("image-alt") for v in serious_violations(axe, page))


def test_rename_a_unit_inline_and_cancel(page, live_server, console_errors, axe, artifacts):
    sign_in(page, live_server, DEMO_EMAIL["admin"], "en")
    page.get_by_role("link", name="Units", exact=True).click()
    row = page.locator("tr", has_text="Bosted først-teamet")
    row.get_by_role("link", name="Rename").click()
    field = page.get_by_label("New name for bosted-forst")
    field.fill("")
    field.press("Enter")  # keyboard only: the browser's own required check stops it
    assert (
        page.locator("#unit-5 form").count() == 1 or page.locator("form.inline-edit").count() == 1
    )
    page.locator("form.inline-edit input[name=name]").fill("Housing First-teamet")
    page.locator("form.inline-edit input[name=name]").press("Enter")
    page.get_by_role("cell", name="Housing First-teamet", exact=True).wait_for()
    assert page.locator("form.inline-edit").count() == 0
    assert serious_violations(axe, page) == []
    page.screenshot(path=str(artifacts / "admin-units.png"), full_page=True)
    page.reload()
    assert page.get_by_role("cell", name="Housing First-teamet", exact=True).count() == 1
    assert console_errors == []


def test_active_search_narrows_people_as_one_types(page, live_server, console_errors):
    sign_in(page, live_server, DEMO_EMAIL["admin"], "nb")
    page.get_by_role("link", name="Personer", exact=True).click()
    page.get_by_label("Søk på navn eller e-post").press_sequentially("ingr", delay=30)
    page.wait_for_url("**/admin/users?q=ingr")
    rows = page.locator("#results tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1 and "Ingrid Solberg" in rows.first.inner_text()
    assert console_errors == []


def test_add_unit_form_shows_errors_in_place(page, live_server, console_errors):
    sign_in(page, live_server, DEMO_EMAIL["admin"], "en")
    page.goto(f"{live_server}/admin/units")
    page.fill("#name", "Sone vest")
    page.get_by_label("Short name").fill("Sone Vest")
    page.get_by_role("button", name="Add unit").click()
    error = page.locator("#slug-error")
    error.wait_for()
    assert "may only hold a-z" in error.inner_text()
    assert page.locator("#slug").evaluate("el => document.activeElement === el")
    page.get_by_label("Short name").fill("sone-vest")
    page.get_by_label("Part of").select_option("hjemmetjenesten")
    page.get_by_role("button", name="Add unit").click()
    page.get_by_text("The unit Sone vest was added.").wait_for()
    assert console_errors == []


def test_a_wrong_password_is_announced(page, live_server, console_errors, axe):
    page.goto(f"{live_server}/login")
    page.fill("#email", DEMO_EMAIL["admin"])
    page.fill("#password", "not the password")
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert serious_violations(axe, page) == []
    assert console_errors == []
