"""The pilot data page in a real browser: a Norwegian semicolon file with decimal commas
is previewed, stored and undone; values typed in the quick-entry grid with the keyboard
move the run chart and are saved with Enter; the indicator register. No console errors
and no serious axe-core violations, in Norwegian and in English."""

import pytest
from browser_support import serious_violations, sign_in
from sessions import DEMO_EMAIL

pytestmark = pytest.mark.browser

OLA = "ola@fjordvik.example"
NORWEGIAN = (
    "\ufeffmetric;period;arm;unit;value;n\r\n"
    "er-visits;01.11.2026;pilot;;3;310,5\r\n"
    "er-visits;01.11.2026;comparison;;4;298,25\r\n"
    "staff-sick-leave;01.11.2026;pilot;;6,5;\r\n"
)
WORDS = {
    "nb": {
        "preview": "Forhåndsvis",
        "store": "Lagre 3 rader",
        "semicolon": "semikolon (;)",
        "comma": "komma (,)",
        "stored": "Lagret uttrekk.csv: 3 nye",
        "value": "Verdi, 23.11.2026",
        "next": "Verdi, 16.11.2026",
        "saved": "Lagret: 1 nye",
        "range": "utenfor indikatorens område",
        "undo": "Angre opplastingen",
        "undone": "Opplastingen er angret: 3 rader fjernet.",
    },
    "en": {
        "preview": "Preview",
        "store": "Store 3 rows",
        "semicolon": "semicolon (;)",
        "comma": "comma (,)",
        "stored": "Stored uttrekk.csv: 3 new",
        "value": "Value, 23 Nov 2026",
        "next": "Value, 16 Nov 2026",
        "saved": "Saved: 1 new",
        "range": "outside the metric",
        "undo": "Undo the upload",
        "undone": "Upload undone: 3 rows removed.",
    },
}


def _pilot_id(live_server, page, title):
    page.goto(f"{live_server}/pilots?q={title}")
    href = page.get_by_role("link", name=title, exact=True).first.get_attribute("href")
    return int(href.rstrip("/").split("/")[-1])


def checked(page, axe, console_errors):
    assert serious_violations(axe, page) == [], page.url
    assert console_errors == [], page.url


@pytest.mark.parametrize("language", ["nb", "en"])
def test_a_norwegian_file_is_previewed_then_stored(
    page, live_server, console_errors, axe, language
):
    words = WORDS[language]
    sign_in(page, live_server, DEMO_EMAIL["frontline"], language)
    pilot = _pilot_id(live_server, page, "Bosted først for ti personer")
    page.goto(f"{live_server}/pilots/{pilot}")
    page.locator(f"a[href='/pilots/{pilot}/data']").click()
    page.wait_for_url(f"**/pilots/{pilot}/data")
    checked(page, axe, console_errors)
    page.set_input_files(
        "#upload-file",
        files=[{"name": "uttrekk.csv", "mimeType": "text/csv", "buffer": NORWEGIAN.encode()}],
    )
    page.get_by_role("button", name=words["preview"], exact=True).click()
    preview = page.locator(".preview")
    preview.wait_for()
    assert words["semicolon"] in preview.inner_text()
    assert words["comma"] in preview.inner_text()
    assert page.locator(".preview tbody tr").count() == 3
    checked(page, axe, console_errors)
    page.get_by_role("button", name=words["store"]).click()
    page.get_by_text(words["stored"]).wait_for()
    # The stored rows appear in the list without a reload (htmx, on the saved event).
    page.goto(f"{live_server}/pilots/{pilot}/data?metric=er-visits")
    stored = page.locator("table.observations tbody")
    assert "01.11.2026" in stored.inner_text() or "1 Nov 2026" in stored.inner_text()
    assert ("\t310,5\t" if language == "nb" else "\t310.5\t") in stored.inner_text()
    checked(page, axe, console_errors)
    # Undo it: the newest upload's link asks first, on a page of its own.
    page.locator("#uploads-area a[href$='/undo']").first.click()
    page.wait_for_url("**/undo")
    assert "uttrekk.csv" in page.locator("main").inner_text()
    checked(page, axe, console_errors)
    page.get_by_role("button", name=words["undo"]).click()
    page.get_by_text(words["undone"]).wait_for()
    checked(page, axe, console_errors)


@pytest.mark.parametrize("language", ["nb", "en"])
def test_typing_in_the_grid_moves_the_chart_and_enter_saves(
    page, live_server, console_errors, axe, language
):
    words = WORDS[language]
    sign_in(page, live_server, OLA, language)
    pilot = _pilot_id(live_server, page, "Færre uplanlagte besøk i sone nord")
    page.goto(f"{live_server}/pilots/{pilot}/data?metric=unplanned-visits&until=2026-11-23")
    page.wait_for_function("() => Chart.getChart(document.querySelector('canvas')) !== undefined")
    checked(page, axe, console_errors)

    def chart_values():
        return page.evaluate(
            "() => Chart.getChart(document.querySelector('canvas')).data.datasets[0].data"
        )

    assert chart_values()[-1] is None and chart_values()[-2] is not None
    previous = page.get_by_label(words["next"])
    previous.focus()
    page.keyboard.press("Tab")  # the keyboard walks down the grid to the next period
    cell = page.get_by_label(words["value"])
    assert cell.evaluate("el => document.activeElement === el")
    page.keyboard.type("12,5")
    page.wait_for_function(
        "() => Chart.getChart(document.querySelector('canvas'))"
        ".data.datasets[0].data.at(-1) === 12.5"
    )
    # A value outside the range is named next to the cell as soon as focus leaves it.
    previous.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("-4")
    page.keyboard.press("Tab")
    error = page.locator("#err-unplanned-visits-2026-11-16-pilot")
    error.filter(has_text=words["range"]).wait_for()
    assert chart_values()[-2] == -4
    previous.fill("20")
    page.keyboard.press("Tab")
    error.filter(has_text=words["range"]).wait_for(state="detached")
    cell.focus()
    page.keyboard.press("Enter")
    page.get_by_text(words["saved"]).wait_for()
    # The grid comes back from the server with the saved values, and a new chart of them.
    page.wait_for_function(
        "() => { const c = Chart.getChart(document.querySelector('canvas'));"
        " return c && c.data.datasets[0].data.at(-1) === 12.5; }"
    )
    assert chart_values()[-2] == 20
    checked(page, axe, console_errors)


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_register_page(page, live_server, console_errors, axe, language):
    sign_in(page, live_server, DEMO_EMAIL["leader"], language)
    page.goto(f"{live_server}/register")
    page.locator("table.register").wait_for()
    checked(page, axe, console_errors)
    page.select_option("#flag", "candidate")
    page.wait_for_url("**flag=candidate**")
    assert page.locator("table.register tbody tr").count() >= 3
    checked(page, axe, console_errors)


def test_a_rates_run_chart_is_per_the_catalogues_amount(page, live_server, console_errors):
    """The demo's emergency visits are shown per 100 follow-up days: the chart's point
    is the events over the days, times 100, and it follows what is typed."""
    sign_in(page, live_server, DEMO_EMAIL["frontline"], "en")
    pilot = _pilot_id(live_server, page, "Bosted først for ti personer")
    page.goto(f"{live_server}/pilots/{pilot}/data?metric=er-visits&until=2026-11-23")
    page.wait_for_function("() => Chart.getChart(document.querySelector('canvas')) !== undefined")

    def typed(row, part):
        selector = f'input[data-row="{row}"][data-arm="pilot"][data-part="{part}"]'
        return page.locator(selector)

    points = page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas')).data.datasets[0].data"
    )
    row = next(k for k, point in enumerate(points) if point)
    events = float(typed(row, "v").input_value().replace(",", "."))
    days = float(typed(row, "n").input_value().replace(",", "."))
    assert points[row] == pytest.approx(events / days * 100)
    typed(row, "v").fill("2")
    typed(row, "n").fill("250")
    page.wait_for_function(
        f"() => Math.abs(Chart.getChart(document.querySelector('canvas'))"
        f".data.datasets[0].data[{row}] - 0.8) < 1e-12"
    )
    # without its days the row is refused on saving, so it is not drawn (counted as one
    # day, 2 visits would have drawn 200 per 100 days)
    typed(row, "n").fill("")
    page.wait_for_function(
        f"() => Chart.getChart(document.querySelector('canvas')).data.datasets[0].data[{row}]"
        " === null"
    )
    assert console_errors == []


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_data_page_fits_a_phone_without_sideways_scrolling(page, live_server, language):
    """Two groups with a value and an n each make the entry grid wider than a phone: the
    grid scrolls inside itself, and the page (the upload form's long metric names, the
    uploads table's hidden link texts) stays as wide as the screen."""
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(page, live_server, DEMO_EMAIL["frontline"], language)
    pilot = _pilot_id(live_server, page, "Bosted først for ti personer")
    page.goto(f"{live_server}/pilots/{pilot}/data?metric=er-visits")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    grid = page.locator("table.entry-grid")
    assert grid.evaluate("el => el.scrollWidth > el.clientWidth")  # it scrolls itself


def test_a_stored_file_fills_the_grid_without_a_reload(page, live_server, console_errors):
    """The grid shows what a stored file wrote into its periods at once (it used to wait
    for a reload while the lists below it had already changed)."""
    sign_in(page, live_server, DEMO_EMAIL["frontline"], "nb")
    pilot = _pilot_id(live_server, page, "Bosted først for ti personer")
    page.goto(f"{live_server}/pilots/{pilot}/data?metric=staff-sick-leave&until=2026-11-23")
    cell = page.locator("#v-staff-sick-leave-2026-11-01-pilot")
    assert cell.input_value() == ""
    page.set_input_files(
        "#upload-file",
        files=[{"name": "uttrekk.csv", "mimeType": "text/csv", "buffer": NORWEGIAN.encode()}],
    )
    page.get_by_role("button", name=WORDS["nb"]["preview"], exact=True).click()
    page.locator(".preview").wait_for()
    page.get_by_role("button", name=WORDS["nb"]["store"]).click()
    page.get_by_text(WORDS["nb"]["stored"]).wait_for()
    page.wait_for_function(
        "() => document.querySelector('#v-staff-sick-leave-2026-11-01-pilot').value === '6,5'"
    )
    assert console_errors == []
