"""Result charts in a real browser: each design's chart with its annotations and
signals, "evaluate now" with its progress, the analyst's forest plot and the leader's
portfolio; no console errors and no serious axe violations, in Norwegian and English.
Screenshots go to test-artifacts/."""

import pytest
import results_data
from browser_support import serious_violations, sign_in
from sessions import DEMO_EMAIL

# Fixtures from results_data: the evaluated demo database and its pilot ids.
db_path = results_data.db_path
evaluated_template = results_data.evaluated_template
ids = results_data.ids

pytestmark = pytest.mark.browser

CHART = """canvas => {
  const chart = Chart.getChart(canvas);
  if (!chart) return null;
  return {
    type: chart.config.type,
    datasets: chart.data.datasets.map(d => ({id: d.id, label: d.label, n: d.data.length,
      colours: Array.isArray(d.pointBackgroundColor) ? [...new Set(d.pointBackgroundColor)] : []})),
    annotations: Object.keys(chart.options.plugins.annotation.annotations),
    labels: chart.data.labels.length,
    ticks: (chart.options.indexAxis === "y" ? chart.scales.x : chart.scales.y).ticks
      .map(t => t.label),
  };
}"""


TICKS_OF_A_SMALL_RATE = """canvas => {
  const chart = Chart.getChart(canvas);
  const axis = chart.options.indexAxis === "y" ? "x" : "y";
  const ticks = [0, 0.002, 0.004].map(value => ({value: value}));
  return ticks.map((t, i) => chart.options.scales[axis].ticks.callback(t.value, i, ticks));
}"""


LOWEST_BESIDE_A_LARGE_LIFT = """canvas => {
  const chart = Chart.getChart(canvas);
  chart.data.datasets.forEach(d => {
    d.data = d.data.map(v => Array.isArray(v) ? [Math.min(v[0], -0.6), 17] : v);
  });
  chart.update("none");
  return chart.scales.x.min;
}"""


LOWEST_OF_SHARES_FROM_ZERO = """canvas => {
  const chart = Chart.getChart(canvas);
  chart.data.datasets.forEach(d => { d.data = d.data.map((v, i) => i % 2 ? 0.5 : 0); });
  chart.update("none");
  return chart.scales.y.min;
}"""


def _chart(page, key):
    selector = f'canvas[data-chart-key="{key}"]'
    page.locator(selector).wait_for()
    page.wait_for_function("s => !!Chart.getChart(document.querySelector(s))", arg=selector)
    chart = page.locator(selector).evaluate(CHART)
    # every value axis reads: no two ticks written alike (0 0 0 0,01 for a small rate)
    assert len(set(chart["ticks"])) == len(chart["ticks"]) > 1, chart["ticks"]
    return chart


def _clean(page, axe, console_errors):
    assert console_errors == []
    assert serious_violations(axe, page) == []


@pytest.mark.parametrize("language", ["nb", "en"])
def test_each_design_draws_its_chart(
    page, live_server, ids, axe, console_errors, artifacts, language
):
    sign_in(page, live_server, "ola@fjordvik.example", language)

    page.goto(f"{live_server}/pilots/{ids['spc']}")
    spc = _chart(page, "unplanned-visits")
    assert [d["id"] for d in spc["datasets"]] == ["values", "mean", "lower", "upper"]
    assert {"baseline", "start", "cycle-1"} <= set(spc["annotations"])
    # improvement (blue) and concern (orange) points besides the common-cause grey
    assert {"#0b63a5", "#b34700"} <= set(spc["datasets"][0]["colours"])
    concern = _chart(page, "staff-sick-leave")
    assert "#b34700" in concern["datasets"][0]["colours"]
    assert page.locator(".concern-box").count() == 1
    history = _chart(page, "history-unplanned-visits")
    assert history["labels"] == 2
    page.screenshot(path=str(artifacts / f"results-spc-{language}.png"), full_page=True)
    _clean(page, axe, console_errors)

    page.goto(f"{live_server}/pilots/{ids['two_group']}")
    two = _chart(page, "housed-6m")
    assert [d["id"] for d in two["datasets"]] == ["interval", "estimate"]
    assert two["annotations"] == ["comparisonLevel"]
    # a small rate's axis (0 0,002 0,004), written by the chart's own tick callback
    written = page.locator('canvas[data-chart-key="er-visits"]').evaluate(TICKS_OF_A_SMALL_RATE)
    mark = "," if language == "nb" else "."
    assert written == ["0", f"0{mark}002", f"0{mark}004"]
    page.locator("#result-housed-6m").screenshot(
        path=str(artifacts / f"results-two-group-{language}.png")
    )
    _clean(page, axe, console_errors)

    page.goto(f"{live_server}/pilots/{ids['did']}")
    did = _chart(page, "in-activity")
    assert [d["id"] for d in did["datasets"]] == ["pilot", "comparison"]
    # a share cannot fall below 0: the room under the lowest point stops there
    shares = page.locator('canvas[data-chart-key="in-activity"]')
    assert shares.evaluate(LOWEST_OF_SHARES_FROM_ZERO) == 0
    assert {"start", "baseline"} <= set(did["annotations"])
    page.locator("#result-in-activity").screenshot(
        path=str(artifacts / f"results-did-{language}.png")
    )
    _clean(page, axe, console_errors)

    page.goto(f"{live_server}/pilots/{ids['pre_post']}")
    its = _chart(page, "inpatient-days")
    assert [d["id"] for d in its["datasets"]] == ["values", "fitted_pre", "fitted_post"]
    assert "start" in its["annotations"]
    page.locator("#result-inpatient-days").screenshot(
        path=str(artifacts / f"results-pre-post-{language}.png")
    )
    _clean(page, axe, console_errors)


def test_evaluate_now_shows_progress_and_redraws(page, live_server, ids, axe, console_errors):
    sign_in(page, live_server, DEMO_EMAIL["frontline"], "en")
    page.goto(f"{live_server}/pilots/{ids['two_group']}")
    _chart(page, "housed-6m")
    page.get_by_role("button", name="Evaluate now").click()
    page.locator(".result-status .flash-success").wait_for()
    assert "Evaluated as of" in page.locator(".result-status").inner_text()
    # the swapped-in canvases are new elements, drawn again
    assert _chart(page, "housed-6m")["datasets"][0]["id"] == "interval"
    _clean(page, axe, console_errors)
    # by keyboard, the focus stays on the (new) button instead of falling to the page
    page.get_by_role("button", name="Evaluate now").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.textContent.trim() === 'Evaluate now'")
    assert page.evaluate("document.activeElement.closest('#results') !== null")
    _clean(page, axe, console_errors)


@pytest.mark.parametrize("language", ["nb", "en"])
def test_forest_plot_and_portfolio(page, live_server, axe, console_errors, artifacts, language):
    sign_in(page, live_server, DEMO_EMAIL["leader"], language)
    page.goto(f"{live_server}/results")
    forest = _chart(page, "forest")
    assert forest["annotations"] == ["zero"]
    assert forest["labels"] >= 3
    page.screenshot(path=str(artifacts / f"results-forest-{language}.png"), full_page=True)
    # A relative change stops at -100 %, even beside a lift of 1 700 % (where a nice
    # step would take the axis to -200 %), on a wide screen and on a phone's.
    canvas = page.locator('canvas[data-chart-key="forest"]')
    assert canvas.evaluate(LOWEST_BESIDE_A_LARGE_LIFT) >= -1
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert canvas.evaluate("c => Chart.getChart(c).scales.x.min") >= -1
    page.set_viewport_size({"width": 1280, "height": 900})
    _clean(page, axe, console_errors)
    # On a phone the pilots' and metrics' names come in short lines, not cut off.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/results")
    _chart(page, "forest")
    labels = canvas.evaluate("c => Chart.getChart(c).data.labels")
    assert max(len(line) for label in labels for line in label) <= 22
    shown = canvas.evaluate("c => Chart.getChart(c).scales.y.left")
    assert shown >= 0  # the axis's labels start on the screen
    page.screenshot(path=str(artifacts / f"results-forest-phone-{language}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/portfolio")
    assert page.locator(".signals li").count() >= 3
    page.screenshot(path=str(artifacts / f"portfolio-{language}.png"), full_page=True)
    _clean(page, axe, console_errors)


def test_export_choices_stay_as_chosen_while_filters_reload_the_overview(page, live_server):
    """Choosing the export's separator must not reload the overview (which would put
    the choice back to its default); choosing a filter does."""
    sign_in(page, live_server, DEMO_EMAIL["analyst"], "en")
    page.goto(f"{live_server}/results")
    reloads = []
    page.on("request", lambda r: reloads.append(r.url) if r.headers.get("hx-request") else None)
    page.select_option("#delimiter", "comma")
    page.select_option("#decimal_mark", "point")
    page.wait_for_timeout(500)
    assert reloads == []
    assert page.locator("#delimiter").input_value() == "comma"
    assert page.locator("#decimal_mark").input_value() == "point"
    with page.expect_response(lambda r: "design=did" in r.url):
        page.select_option("#design", "did")
