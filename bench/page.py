"""The planner page's first render, measured in the browser, and its screenshots for the README.

    python bench/page.py [--runs 9]

Fits the default world (as `make run` does) into a throwaway BentoML store, starts `bentoml
serve`, and opens `/` in Debian's headless Chromium (playwright), each time in a fresh browser
context (empty cache), at 1280x800 and 390x844. "First render with data" is the page's own
performance mark `impact:first-render`, set once the first /forecast answer (every market of the
first app, 13 weeks) is drawn, measured from navigation start; navigation timing gives the HTML's
response end and DOMContentLoaded, resource timing the /model and /forecast calls. Reports the
median over runs (target: under 1 s) and writes "planner_page" in RESULTS.md and the screenshots
bench/planner-1280x800.png and bench/planner-390x844.png.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import prepare_store, start  # noqa: E402
from bench.report import machine, write_section  # noqa: E402
from testkit.local import headless_chromium, stop  # noqa: E402

SIZES = {"1280x800": {"width": 1280, "height": 800}, "390x844": {"width": 390, "height": 844}}
TIMING = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const call = (path) => performance.getEntriesByType("resource").find((r) => r.name.endsWith(path));
  return {first_render: performance.getEntriesByName("impact:first-render")[0].startTime,
          html: nav.responseEnd, dom_ready: nav.domContentLoadedEventEnd,
          model_call: call("/model").duration, forecast_call: call("/forecast").duration,
          forecast_bytes: call("/forecast").encodedBodySize};
}"""


def visit(browser, url: str, viewport: dict, screenshot: Path | None = None) -> dict:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=30_000)
    timing = page.evaluate(TIMING)
    if screenshot is not None:
        page.screenshot(path=screenshot)
    context.close()
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, headless_chromium() as browser:
        home = Path(tmp) / "bentoml"
        prepare_store(home)
        env = {**os.environ, "BENTOML_HOME": str(home)}
        env.pop("IMPACT_API_TOKEN", None)
        process, url = start("serving.service:EngagementImpact", env, REPO, Path(tmp) / "serve.log")
        try:
            first = visit(browser, url + "/", SIZES["1280x800"])          # the first visit after the server started
            runs = {size: [visit(browser, url + "/", viewport) for _ in range(args.runs)]
                    for size, viewport in SIZES.items()}
            for size, viewport in SIZES.items():
                visit(browser, url + "/", viewport, screenshot=REPO / "bench" / f"planner-{size}.png")
        finally:
            stop(process)
    for size, timings in runs.items():
        for t in timings:
            print(size, {k: round(v, 1) for k, v in t.items()}, flush=True)

    def median(size: str, key: str) -> float:
        return statistics.median(t[key] for t in runs[size])

    rows = "\n".join(
        f"| {size} | **{median(size, 'first_render'):.0f}** | {min(t['first_render'] for t in runs[size]):.0f} - "
        f"{max(t['first_render'] for t in runs[size]):.0f} | {median(size, 'html'):.0f} | {median(size, 'dom_ready'):.0f} | "
        f"{median(size, 'model_call'):.0f} | {median(size, 'forecast_call'):.0f} | {median(size, 'forecast_bytes') / 1e3:.0f} |"
        for size in SIZES)
    worst = max(median(size, "first_render") for size in SIZES)
    body = f"""## Planner page: first render with data (issue 16)

`python bench/page.py --runs {args.runs}` on {machine()}; Debian's headless Chromium through playwright, the
service and the browser on the same machine, the default world's model (32 markets). Each visit is a fresh
browser context (empty cache) opening `/`; "first render" is the page's `impact:first-render` mark (the first
/forecast answer, every facebook market for 13 weeks, drawn as totals, four charts and the weekly table), from
navigation start. Medians over {args.runs} visits per size, times in ms.

| viewport | first render | range | HTML received | DOMContentLoaded | /model call | /forecast call | /forecast answer, kB |
|---|---|---|---|---|---|---|---|
{rows}

The first visit after the server started: first render {first['first_render']:.0f} ms. Target under 1,000 ms:
**{'met' if worst < 1000 else 'not met'}** (slowest median {worst:.0f} ms). Screenshots: `bench/planner-1280x800.png`,
`bench/planner-390x844.png`.
"""
    write_section("planner_page", body)
    print(body)


if __name__ == "__main__":
    main()
