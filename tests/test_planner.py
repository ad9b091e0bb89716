"""The planner page in a real headless Chromium (Debian's, through playwright) against a real
`bentoml serve`: what a planner types and clicks gives the API's numbers, nothing leaves the
machine, bad input is shown by its field, hostile text stays text, and the token flow works."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from testkit.local import headless_chromium, start_service, stop

TOKEN = "planner-s3cret"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).parent / "screenshots"
QUANTITIES = ("time_spent_min", "dau", "minutes", "ad_revenue_usd")


@pytest.fixture(scope="module")
def service(small_model):
    """The service without a token (the page as most teams run it inside their network)."""
    process, url = start_service({**os.environ, "BENTOML_HOME": str(small_model["home"])})
    yield url
    stop(process)


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser, service):
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto(service + "/")
    page.wait_for_selector("body[data-ready]", timeout=30_000)
    yield page
    assert page.problems == []
    context.close()


def api(service: str, path: str, body: dict, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(service + path, json=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def forecast_done(page) -> None:
    """Wait until the forecast in flight is drawn or refused (the page's policy forbids the eval
    behind wait_for_function, so the waiting is on selectors)."""
    page.wait_for_selector('#results[aria-busy="false"]')
    page.wait_for_selector("#run-forecast:not([disabled])")


def totals_on_page(page) -> dict[str, float]:
    """Every number of the totals table, by key (e.g. minutes.incremental.mean), as the page holds it."""
    cells = page.locator("#totals-body td[data-key]")
    values = {}
    for n in range(cells.count()):
        cell = cells.nth(n)
        key = cell.get_attribute("data-key")
        if key.endswith(".band"):
            values[key[:-5] + ".lo"] = float(cell.get_attribute("data-lo"))
            values[key[:-5] + ".hi"] = float(cell.get_attribute("data-hi"))
        else:
            values[key] = float(cell.get_attribute("data-value"))
    return values


def totals_of(answer: dict) -> dict[str, float]:
    flat = {}
    for quantity in ("minutes", "ad_revenue_usd"):
        total = answer["totals"][quantity]
        flat |= {f"{quantity}.status_quo.mean": total["status_quo"]["mean"], f"{quantity}.scenario.mean": total["scenario"]["mean"],
                 f"{quantity}.incremental.mean": total["incremental"]["mean"],
                 f"{quantity}.incremental.lo": total["incremental"]["lo"], f"{quantity}.incremental.hi": total["incremental"]["hi"]}
    return flat


def type_plan_row(page, n: int, market: str, week: str, share: str, ramp: str) -> None:
    row = page.locator("#plan-rows tr.plan-row").nth(n)
    row.locator("select[data-col=market]").select_option(market)
    row.locator("input[data-col=week]").fill(week)
    row.locator("input[data-col=share]").fill(share)
    row.locator("input[data-col=ramp]").fill(ramp)


def choose_by_hand(page, markets: list[str]) -> None:
    page.check("input[name=market-mode][value=hand]")
    for market in markets:
        page.check(f"#hand-box input[value={market}]")


# ---------------------------------------------------------------------- what the planner sees

def test_the_page_shows_the_served_model_and_a_first_forecast_of_every_market(page, service):
    model = api(service, "/model", {})
    assert page.title() == "engagement-impact planner"
    line = page.text_content("#model-line")
    window = model["apps"]["facebook"]["training_window"]
    assert f"Model version {model['model_version']}" in line and "run run-abc" in line
    assert f"facebook trained on {window['first_week']} to {window['last_week']}" in line
    assert f"forecasts from {model['apps']['facebook']['forecast_start']}" in line
    first = api(service, "/forecast", {"app": "facebook", "markets": [], "horizon_weeks": 13, "interval": 0.9,
                                       "plan": [{"week": model["apps"]["facebook"]["forecast_start"], "share": 1.0}]})
    assert totals_on_page(page) == totals_of(first)
    assert page.locator("#charts svg.chart").count() == 4
    assert page.locator("#view option").all_inner_texts()[1:] == model["apps"]["facebook"]["forecastable_markets"]


def test_the_forecast_charts_show_the_last_year_observed_before_the_forecast(page, service):
    """Each of the four charts draws 52 observed weeks (the answer's `history`) before the forecast's
    status quo, plan and band; the observed line ends where the forecast begins."""
    model = api(service, "/model", {})
    start = model["apps"]["facebook"]["forecast_start"]
    answer = api(service, "/forecast", {"app": "facebook", "markets": [], "horizon_weeks": 13, "interval": 0.9,
                                        "plan": [{"week": start, "share": 1.0}], "history_weeks": 52})
    observed = [row for row in answer["history"] if row["market"] == "ALL"]
    assert len(observed) == 52 and observed[-1]["week"] < start
    charts = page.locator("#charts svg.chart")
    assert charts.count() == 4
    for n in range(4):
        chart = charts.nth(n)
        assert len(chart.locator("polyline.hist").get_attribute("points").split()) == 52
        assert len(chart.locator("polyline.plan").get_attribute("points").split()) == 13
        history_end = float(chart.locator("polyline.hist").get_attribute("points").split()[-1].split(",")[0])
        forecast_start = float(chart.locator("polyline.plan").get_attribute("points").split()[0].split(",")[0])
        assert history_end < forecast_start
    assert "observed" in page.text_content("#charts .legend")


def test_one_market_under_show_draws_its_response_curve_as_the_api_answers_it(page, service):
    """Choosing DE under Show: /response_curve of DE over the forecast's horizon and interval, its
    target shares from DE's share to 1 and every point and band in the table, exactly."""
    assert "Choose one market" in page.text_content("#curve")
    page.select_option("#view", "DE")
    expect(page.locator("#curve-status")).to_contain_text("DE: from its share of")
    curve = api(service, "/response_curve", {"app": "facebook", "market": "DE", "horizon_weeks": 13,
                                             "interval": 0.9, "points": 11})
    rows = page.locator("#curve-table tbody tr")
    assert rows.count() == 11 and page.locator("#curve svg.chart").count() == 2
    for n, share in enumerate(curve["share"]):
        cells = rows.nth(n).locator("td")
        assert float(cells.nth(0).get_attribute("data-value")) == share
        for quantity in ("minutes", "ad_revenue_usd"):
            for column in ("mean", "lo", "hi"):
                cell = rows.nth(n).locator(f'td[data-key="{quantity}.{column}"]')
                assert float(cell.get_attribute("data-value")) == curve[quantity][column][n]
    page.select_option("#view", "ALL")
    assert "Choose one market" in page.text_content("#curve")


def test_a_plan_typed_into_the_editor_gives_the_totals_and_weekly_rows_of_forecast_for_the_same_plan(page, service):
    """Instagram, BR and IN by hand, 8 weeks at the 80% level: BR ramps to 1 over 3 weeks from the
    second week, every chosen market goes to 0.9 in the sixth; the totals and each weekly row on
    the page are /forecast's for that body, exactly."""
    page.select_option("#app", "instagram")
    forecast_done(page)
    choose_by_hand(page, ["BR", "IN"])
    page.fill("#horizon", "8")
    page.select_option("#interval", "0.8")
    type_plan_row(page, 0, "BR", "2026-11-09", "1", "3")
    page.click("#add-row")
    type_plan_row(page, 1, "", "2026-12-07", "0.9", "1")
    page.click("#run-forecast")
    forecast_done(page)
    body = {"app": "instagram", "markets": ["BR", "IN"], "horizon_weeks": 8, "interval": 0.8,
            "plan": [{"week": "2026-11-09", "share": 1.0, "markets": ["BR"], "ramp_weeks": 3},
                     {"week": "2026-12-07", "share": 0.9}]}
    answer = api(service, "/forecast", body)
    assert totals_on_page(page) == totals_of(answer)
    assert answer["totals"]["minutes"]["incremental"]["mean"] > 0
    assert "80% band" in page.text_content("#totals-band")
    page.select_option("#view", "BR")
    page.click("text=Weekly table")
    rows = page.locator("#weekly tbody tr")
    expected = [row for row in answer["weekly"] if row["market"] == "BR"]
    assert rows.count() == 8
    shares = [float(rows.nth(n).locator("td").nth(1).get_attribute("data-value")) for n in range(8)]
    assert shares == [row["rollout_share"] for row in expected]
    s0 = shares[0]
    assert shares[1:5] == pytest.approx([s0 + (1 - s0) / 3, s0 + 2 * (1 - s0) / 3, 1.0, 1.0], abs=1e-6)
    assert shares[5:] == [0.9, 0.9, 0.9]
    for n, row in enumerate(expected):
        cells = rows.nth(n).locator("td[data-key]")
        on_page = {cells.nth(k).get_attribute("data-key"): float(cells.nth(k).get_attribute("data-value"))
                   for k in range(cells.count())}
        assert on_page == {f"{q}.{c}": row[q][c] for q in QUANTITIES for c in ("status_quo", "scenario", "lo", "hi")}

    with page.expect_download() as download:
        page.click("#download-plan")
    saved = Path(download.value.path())
    assert json.loads(saved.read_text()) == body

    fresh = page.context.new_page()                      # the saved plan loads back into a new page's editor
    fresh.goto(service + "/")
    fresh.wait_for_selector("body[data-ready]")
    fresh.set_input_files("#load-plan", str(saved))
    expect(fresh.locator("#app")).to_have_value("instagram")
    forecast_done(fresh)
    expect(fresh.locator("#forecast-status")).to_have_text(re.compile("^Model 7 · instagram"))
    assert totals_on_page(fresh) == totals_of(answer)
    assert fresh.locator("#plan-rows tr.plan-row").count() == 2
    fresh.close()


def test_the_copied_curl_is_the_same_request(browser, service, page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=service)
    choose_by_hand(page, ["US", "DE"])
    type_plan_row(page, 0, "DE", "2026-11-16", "0.5", "2")
    page.click("#copy-curl")
    expect(page.locator("#curl-status")).not_to_be_empty()
    command = page.text_content("#curl")
    assert page.evaluate("navigator.clipboard.readText()") == command
    assert command.startswith(f"curl -s -X POST {service}/forecast") and "Authorization" not in command
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True).stdout
    assert json.loads(out) == api(service, "/forecast", {
        "app": "facebook", "markets": ["DE", "US"], "horizon_weeks": 13, "interval": 0.9,   # the boxes' order
        "plan": [{"week": "2026-11-16", "share": 0.5, "markets": ["DE"], "ramp_weeks": 2}]})


def test_the_weekly_csv_download_equals_the_api_answer_row_for_row(page, service):
    choose_by_hand(page, ["MX", "PH"])
    page.fill("#horizon", "6")
    page.click("#run-forecast")
    forecast_done(page)
    with page.expect_download() as download:
        page.click("#download-csv")
    assert download.value.suggested_filename == "forecast-facebook-v7.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    answer = api(service, "/forecast", {"app": "facebook", "markets": ["MX", "PH"], "horizon_weeks": 6, "interval": 0.9,
                                        "plan": [{"week": "2026-11-02", "share": 1.0}]})
    assert len(rows) == len(answer["weekly"]) == 3 * 6
    for got, want in zip(rows, answer["weekly"]):
        assert (got["week"], got["market"], float(got["rollout_share"])) == (want["week"], want["market"],
                                                                            want["rollout_share"])
        for q in QUANTITIES:
            for c in ("status_quo", "scenario", "lo", "hi"):
                assert float(got[f"{q}_{c}"]) == want[q][c]


def test_an_optimiser_plan_applied_to_the_editor_forecasts_as_the_optimisers_own_request(page, service):
    """Instagram, three markets, ramps of at most 0.05 a week, one launch a week and a cost range:
    the page shows /optimise's answer, and applying it fills the editor with each moved market's
    start, target and ramp, whose forecast is /forecast of the optimiser's `forecast_request`."""
    page.select_option("#app", "instagram")
    forecast_done(page)
    choose_by_hand(page, ["BR", "DE", "GB"])
    page.fill("#horizon", "13")
    page.fill("#cost-low", "0.001")
    page.fill("#cost-high", "0.003")
    page.fill("#max-launches", "1")
    page.fill("#max-step", "0.05")
    page.click("#run-optimiser")
    page.wait_for_selector("#optimiser-result:not([hidden])", timeout=60_000)
    request = {"app": "instagram", "markets": ["BR", "DE", "GB"], "horizon_weeks": 13, "interval": 0.9,
               "objective": "ad_revenue_usd", "risk": "mean", "time_limit_seconds": 10,
               "cost": {"per_exposed_dau_week_usd": {"low": 0.001, "high": 0.003}},
               "constraints": {"max_step": 0.05, "target_shares": [1], "fixed": [], "earliest": {}, "allow_decrease": False,
                               "max_launches_per_week": 1}}
    answer = api(service, "/optimise", request)
    assert float(page.get_attribute('#optimiser-value [data-key="value.net.mean"]', "data-value")) == answer["value"]["net"]["mean"]
    moved = [m for m in answer["by_market"] if m["start_week"] is not None]
    assert moved and any(m["ramp_weeks"] > 1 for m in moved)
    for m in answer["by_market"]:
        assert page.text_content(f'#optimiser-markets tr[data-market="{m["market"]}"] td[data-key=start_week]') == (
            m["start_week"] or "stays")
    assert page.locator("#optimiser-alternatives tbody tr").count() == len(answer["alternatives"])

    page.click("#apply-plan")
    expect(page.locator("#forecast-status")).to_have_text(re.compile("^Model"))
    forecast_done(page)
    rows = page.locator("#plan-rows tr.plan-row")
    typed = [(rows.nth(n).locator("select").input_value(), rows.nth(n).locator("input[data-col=week]").input_value(),
              float(rows.nth(n).locator("input[data-col=share]").input_value()),
              int(rows.nth(n).locator("input[data-col=ramp]").input_value())) for n in range(rows.count())]
    assert typed == [(m["market"], m["start_week"], m["target_share"], m["ramp_weeks"]) for m in moved]
    optimisers_own = totals_of(api(service, "/forecast", answer["forecast_request"]))
    on_page = totals_on_page(page)
    assert on_page.keys() == optimisers_own.keys()
    for key, value in optimisers_own.items():
        assert on_page[key] == pytest.approx(value, rel=1e-12, abs=1e-6), key


def test_the_lift_test_panel_shows_design_tests_ranking_and_names_a_bad_field(page, service, small_model):
    """Finishing two partial markets: the panel shows /design_test's answer for the page's request (the
    ten best candidates in its order, each narrowing as the API gives it, and the set to run); a share
    above 1 is refused next to its field."""
    from testkit.evaluation import partial_markets
    finish = partial_markets(small_model["model"], "instagram")[:2]
    page.select_option("#app", "instagram")
    forecast_done(page)
    page.fill("#finish", ", ".join(finish))
    page.fill("#test-shares", "0.5, 1")
    page.fill("#durations", "4, 8")
    page.fill("#tests-at-once", "2")
    page.click("#run-design")
    page.wait_for_selector("#design-result:not([hidden])", timeout=60_000)
    answer = api(service, "/design_test", {
        "app": "instagram", "markets": [], "test_shares": [0.5, 1], "durations_weeks": [4, 8], "arm_share": 0.01,
        "tests": 2, "interval": 0.9, "decision": {"finish": finish, "horizon_weeks": 13}})
    rows = page.locator("#design-candidates tbody tr")
    assert rows.count() == min(10, len(answer["candidates"]))
    for n in range(rows.count()):
        expected = answer["candidates"][n]
        assert rows.nth(n).get_attribute("data-market") == expected["market"]
        assert rows.nth(n).locator('[data-key="narrowing"]').text_content() == f"{expected['narrowing'] * 100:.2f}%"
    summary = page.text_content("#design-summary")
    assert all(t["market"] in summary for t in answer["chosen"]["tests"])
    assert f"{answer['chosen']['narrowing'] * 100:.2f}%" in summary

    page.fill("#test-shares", "0.5, 1.5")
    page.click("#run-design")
    page.wait_for_selector('[data-error-for="test_shares"]:not([hidden])')
    assert page.text_content('[data-error-for="test_shares"]') == "test_shares[1]: Input should be less than or equal to 1"


def test_attribution_by_region_shows_the_api_answer_with_the_revenue_split(page, service):
    model = api(service, "/model", {})
    region = "Latin America and the Caribbean"
    assert model["apps"]["facebook"]["regions"][region] == ["BR", "MX"]
    page.check("input[name=market-mode][value=region]")
    page.select_option("#region", region)
    assert page.text_content("#chosen-markets") == "2 markets: BR, MX"
    page.fill("#attr-start", "2025-01-06")
    page.click("#run-attribution")
    page.wait_for_selector("#attribution-result:not([hidden])")
    answer = api(service, "/attribution", {"app": "facebook", "markets": ["BR", "MX"], "start": "2025-01-06",
                                           "end": None, "interval": 0.9})
    for market in answer["by_market"]:
        row = page.locator(f'#attribution-markets tr[data-market="{market["market"]}"]')
        for key in ("observed_minutes", "incremental_minutes", "incremental_ad_revenue_usd",
                    "ad_revenue_usd_via_engagement", "ad_revenue_usd_direct"):
            assert float(row.locator(f'td[data-key="{key}"]').get_attribute("data-value")) == market[key]
    totals = answer["totals"]["ad_revenue_usd"]
    cell = lambda key: float(page.get_attribute(f'#attribution-totals td[data-key="{key}"]', "data-value"))  # noqa: E731
    assert cell("ad_revenue_usd.incremental.mean") == totals["incremental"]["mean"] > 0
    assert cell("ad_revenue_usd.via_engagement.mean") == totals["via_engagement"]["mean"]
    assert cell("ad_revenue_usd.direct.mean") == totals["direct"]["mean"]
    assert page.locator("#attribution-chart svg.chart").count() == 1


# ---------------------------------------------------------------------- errors and hostile text

def test_a_bad_input_shows_the_apis_message_next_to_the_field_it_names(page, service):
    type_plan_row(page, 0, "", "2026-11-03", "1", "1")
    page.click("#run-forecast")
    forecast_done(page)
    row_error = page.locator("#plan-rows tr.plan-row-error").first
    assert row_error.is_visible()
    assert row_error.text_content() == "plan[0].week: 2026-11-03 is a Tuesday; weeks start on Mondays"
    assert "invalid" in page.get_attribute("#plan-rows input[data-col=week]", "class")
    assert page.evaluate("document.activeElement.dataset.col") == "week"

    type_plan_row(page, 0, "", "2026-11-02", "1", "1")
    page.fill("#horizon", "0")
    page.click("#run-forecast")
    forecast_done(page)
    assert page.locator("#plan-rows tr.plan-row-error").first.is_hidden()
    assert page.text_content('[data-error-for="horizon_weeks"]') == (
        "horizon_weeks: Input should be greater than or equal to 1")

    page.fill("#horizon", "13")
    page.fill("#attr-start", "2026-06-01")
    page.fill("#attr-end", "2025-06-02")
    page.click("#run-attribution")
    page.wait_for_selector('[data-error-for="start"]:not([hidden])')
    assert page.text_content('[data-error-for="start"]') == "start: 2026-06-01 is after end 2025-06-02"

    page.fill("#target-shares", "1, 1.5")
    page.click("#run-optimiser")
    page.wait_for_selector('[data-error-for="constraints.target_shares"]:not([hidden])')
    assert page.text_content('[data-error-for="constraints.target_shares"]') == (
        "constraints.target_shares[1]: Input should be less than or equal to 1")


HOSTILE = '<img src=x onerror="window.p=1">'


def test_hostile_text_in_a_field_a_plan_file_and_the_apis_message_is_shown_as_text(page, service, tmp_path):
    assert len(HOSTILE) <= 32
    type_plan_row(page, 0, "", HOSTILE, "1", "1")
    page.click("#run-forecast")
    forecast_done(page)
    message = page.text_content("#plan-rows tr.plan-row-error")
    assert message == f"plan[0].week: '{HOSTILE}' is not a date (use YYYY-MM-DD)"
    page.click("#copy-curl")
    assert json.dumps(HOSTILE)[1:-1] in page.text_content("#curl")      # as JSON, inside the shell's quotes
    hostile_file = tmp_path / "plan.json"
    hostile_file.write_text(json.dumps({"app": "facebook", "markets": [HOSTILE], "plan": []}))
    page.set_input_files("#load-plan", str(hostile_file))
    expect(page.locator('[data-error-for="markets"]')).to_have_text(
        f"markets: {HOSTILE} in plan.json cannot be forecast by this model")
    hostile_file.write_text(json.dumps({"app": HOSTILE, "plan": []}))
    page.set_input_files("#load-plan", str(hostile_file))
    expect(page.locator('[data-error-for="plan"]')).to_have_text(
        f"plan: plan.json is for the app {HOSTILE}, which this model does not have")
    assert page.locator("img").count() == 0 and page.locator("script").count() == 1     # planner.js only
    assert page.evaluate("window.p") is None


# ---------------------------------------------------------------------- nothing leaves the machine

def test_the_page_and_the_api_docs_ask_for_nothing_outside_this_machine(browser, service):
    """With the page's Content-Security-Policy switched off, so that an outside request would be
    seen rather than blocked: every request of `/`, its first forecast, and of `/docs` (Swagger UI
    drawing every operation) goes to this loopback address. BentoML's own index embeds Google Tag
    Manager (GTM-WNPGWRM) and badges from outside; if an upgrade put it back at `/` or `/docs`, this fails."""
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    seen = []

    def record(route):
        seen.append(route.request.url)
        local = urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost") or route.request.url.startswith(("blob:", "data:"))
        return route.continue_() if local else route.abort()

    context.route("**/*", record)
    page = context.new_page()
    page.goto(service + "/")
    page.wait_for_selector("body[data-ready]")
    page.goto(service + "/docs")
    page.wait_for_selector("#operations-default-forecast_forecast_post, .opblock", timeout=30_000)
    assert page.locator(".opblock").count() >= 6
    page.wait_for_load_state("networkidle")
    context.close()
    outside = [url for url in seen if urlsplit(url).hostname not in ("127.0.0.1", "localhost")
               and not url.startswith(("blob:", "data:"))]
    assert outside == []
    assert f"{service}/static/planner/planner.js" in seen and f"{service}/docs.json" in seen
    for path in ("/", "/docs"):
        response = httpx.get(service + path)
        assert response.status_code == 200 and "googletagmanager" not in response.text
        assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "img.shields.io" not in httpx.get(service + "/docs.json").text


# ---------------------------------------------------------------------- keyboard, sizes, screenshots

def test_the_keyboard_alone_reaches_every_control_and_runs_a_forecast(page, service):
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the plan"
    reached = set()
    for _ in range(120):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.dataset.col || ''"))
        if page.evaluate("document.activeElement.id") == "horizon":
            break
    assert {"app", "horizon"} <= reached
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"   # the focus is seen
    page.keyboard.press("Control+A")
    page.keyboard.type("5")
    page.keyboard.press("Enter")                         # submits the plan form
    forecast_done(page)
    assert page.locator("#weekly tbody tr").count() == 5
    for _ in range(400):                                 # on through the page: every action is a Tab stop
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.dataset.col || ''"))
        if page.evaluate("document.activeElement.id") == "run-attribution":
            break
    assert {"week", "share", "ramp", "add-row", "run-forecast", "download-plan", "copy-curl", "view", "download-csv",
            "objective", "cost-low", "target-shares", "run-optimiser", "attr-start", "run-attribution"} <= reached


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
def test_at_desktop_and_phone_sizes_the_page_fits_without_sideways_scrolling(browser, service, size):
    context = browser.new_context(viewport=size)
    page = context.new_page()
    page.goto(service + "/")
    page.wait_for_selector("body[data-ready]")
    page.fill("#cost-low", "0.001")
    page.fill("#cost-high", "0.003")
    page.click("#run-optimiser")
    page.wait_for_selector("#optimiser-result:not([hidden])", timeout=60_000)
    page.click("#run-attribution")
    page.wait_for_selector("#attribution-result:not([hidden])")
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
    editor = page.locator("table.editor")                 # the plan editor fits too: no sideways scrolling to type
    assert editor.evaluate("table => table.scrollWidth <= table.parentElement.clientWidth")
    assert page.locator("#totals").is_visible() and page.locator("#run-forecast").is_visible()
    SCREENSHOTS.mkdir(exist_ok=True)
    name = f"planner-{size['width']}x{size['height']}"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=SCREENSHOTS / f"{name}.png")
    page.screenshot(path=SCREENSHOTS / f"{name}-full.png", full_page=True)
    assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
    context.close()


# ---------------------------------------------------------------------- the token

@pytest.fixture(scope="module")
def token_service(small_model):
    process, url = start_service({**os.environ, "BENTOML_HOME": str(small_model["home"]), "IMPACT_API_TOKEN": TOKEN})
    yield url
    stop(process)


def test_with_a_token_the_page_asks_for_it_and_the_api_stays_closed_without_it(browser, token_service):
    page_html = httpx.get(token_service + "/")
    assert page_html.status_code == 200
    assert page_html.text == (Path(__file__).parents[1] / "serving/planner/assets/planner.html").read_text()
    assert httpx.post(token_service + "/model", json={}).status_code == 401
    assert httpx.post(token_service + "/forecast", json={"app": "facebook"}).status_code == 401

    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    statuses = []
    page.on("response", lambda r: statuses.append((urlsplit(r.url).path, r.status)))
    page.goto(token_service + "/")
    page.wait_for_selector("#token-form:not([hidden])")
    assert page.locator("#main").is_hidden() and ("/model", 401) in statuses
    assert page.evaluate("document.activeElement.id") == "token"
    page.fill("#token", "wrong")
    page.press("#token", "Enter")
    page.wait_for_selector('[data-error-for="token"]:not([hidden])')
    assert page.text_content('[data-error-for="token"]') == "missing or wrong bearer token (set the Authorization header)"
    page.fill("#token", TOKEN)
    page.press("#token", "Enter")
    page.wait_for_selector("body[data-ready]")
    assert ("/forecast", 200) in statuses and page.locator("#token-form").is_hidden()
    assert float(page.get_attribute('#totals-body td[data-key="minutes.incremental.mean"]', "data-value")) > 0
    page.click("#copy-curl")
    assert '-H "Authorization: Bearer $IMPACT_API_TOKEN"' in page.text_content("#curl")
    assert TOKEN not in page.text_content("#curl")
    context.close()
