"""The forecast service against a real `bentoml serve` process, and its maths in process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from testkit.local import free_port, start_service, stop, wait_ready
from tests.helpers import as_served, without
from training import answers, requests
from training.requests import ForecastRequest, PlanPoint

TOKEN = "s3cret-token"
BENTOML = str(Path(sys.executable).parent / "bentoml")




@pytest.fixture(scope="module")
def server(small_model):
    env = {**os.environ, "BENTOML_HOME": str(small_model["home"]), "IMPACT_API_TOKEN": TOKEN,
           "IMPACT_MAX_BODY_BYTES": "200000"}
    process, url = start_service(env)
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    yield client
    client.close()
    stop(process)


# ---------------------------------------------------------------------- over HTTP

def test_model_lists_each_markets_window_and_a_market_that_ended_gets_a_400(server):
    """The served model was trained on a panel where VN enters late and KR stops 30 weeks early."""
    info = server.post("/model", json={}).json()["apps"]["facebook"]
    windows = {w["market"]: w for w in info["market_windows"]}
    assert windows["US"]["first_week"] == "2021-01-04" and windows["US"]["last_week"] == "2026-10-26"
    assert windows["VN"]["first_week"] == "2023-04-24" and windows["VN"]["forecastable"] is True
    assert windows["KR"]["last_week"] == "2026-03-30" and windows["KR"]["forecastable"] is False
    assert "KR" in info["markets"] and "KR" not in info["forecastable_markets"]
    assert info["forecast_start"] == "2026-11-02"
    assert info["regions"] == {"Asia": ["ID", "IN", "JP", "PH", "VN"], "Europe": ["DE", "FR", "GB"],
                               "Latin America and the Caribbean": ["BR", "MX"], "Northern America": ["US"]}
    assert info["effects"]["log_time"]["lo90"] < info["effects"]["log_time"]["estimate"] < info["effects"]["log_time"]["hi90"]
    shape = info["response_shape"]
    assert all(shape[p]["lo90"] < shape[p]["estimate"] < shape[p]["hi90"] for p in ("carryover", "half_saturation",
                                                                                  "hill_exponent"))
    markets = info["market_effects"]        # every market with its effect and 90% interval
    assert [row["market"] for row in markets["markets"]] == info["markets"]
    assert all(row["log_time"]["lo90"] <= row["log_time"]["estimate"] <= row["log_time"]["hi90"]
               for row in markets["markets"])
    r = server.post("/forecast", json={"app": "facebook", "markets": ["KR", "US"], "horizon_weeks": 4})
    assert r.status_code == 400
    assert r.json()["error"] == ("markets: market KR: its data ends on 2026-03-30, before facebook's last week "
                                 "(2026-10-26); it is kept for attribution but cannot be forecast")
    everything = server.post("/forecast", json={"app": "facebook", "horizon_weeks": 2}).json()
    assert {row["market"] for row in everything["weekly"]} == set(info["forecastable_markets"]) | {"ALL"}
    kept = server.post("/attribution", json={"app": "facebook", "markets": ["KR"]}).json()
    assert kept["by_market"][0]["observed_minutes"] > 0


def test_forecast_answers_weekly_rows_all_rows_and_totals(server):
    body = {"app": "instagram", "markets": ["BR", "IN"], "horizon_weeks": 8,
            "plan": [{"week": "2026-11-02", "share": 0.5}, {"week": "2026-11-16", "share": 1.0, "markets": ["BR"]}],
            "interval": 0.8}
    r = server.post("/forecast", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["model_version"] == "7" and answer["first_week"] == "2026-11-02" and answer["interval"] == 0.8
    rows = answer["weekly"]
    assert len(rows) == 8 * 3 and {row["market"] for row in rows} == {"BR", "IN", "ALL"}
    br = [row for row in rows if row["market"] == "BR"]
    assert [row["rollout_share"] for row in br[:3]] == [0.5, 0.5, 1.0]
    for row in rows:
        for quantity in ("time_spent_min", "dau", "minutes", "ad_revenue_usd"):
            assert row[quantity]["lo"] <= row[quantity]["hi"]
    minutes = answer["totals"]["minutes"]
    assert (sum(row["minutes"]["scenario"] for row in rows if row["market"] != "ALL")
            == pytest.approx(minutes["scenario"]["mean"]))
    assert minutes["status_quo"]["lo"] < minutes["status_quo"]["mean"] < minutes["status_quo"]["hi"]
    assert minutes["incremental"]["lo"] < minutes["incremental"]["mean"] < minutes["incremental"]["hi"]


def test_small_forecasts_on_the_event_loop_and_large_ones_in_a_thread_give_the_in_process_answers(server, small_model):
    """A /forecast of at most INLINE_WEEKLY_ROWS weekly rows is answered on the worker's event loop,
    a larger one in a worker thread: both equal `answers.forecast` in process exactly, also with
    24 of them in flight at once, and a bad small one still gets its 400."""
    import orjson
    from concurrent.futures import ThreadPoolExecutor
    from serving.service import INLINE_WEEKLY_ROWS
    model = small_model["model"]
    small = {"app": "instagram", "markets": ["BR"], "horizon_weeks": 26, "interval": 0.8,
             "plan": [{"week": "2026-11-09", "share": 1.0, "ramp_weeks": 3}]}
    large = {"app": "facebook", "horizon_weeks": 52, "plan": [{"week": "2026-11-16", "share": 0.7}]}
    sizes = {name: requests.weekly_rows(model, ForecastRequest(**body)) for name, body in (("small", small), ("large", large))}
    assert sizes["small"] <= INLINE_WEEKLY_ROWS < sizes["large"]
    expected = {name: orjson.loads(orjson.dumps(answers.forecast(model, "7", ForecastRequest(**body))))
                for name, body in (("small", small), ("large", large))}

    def ask(named: tuple[str, dict]) -> tuple[str, httpx.Response]:
        with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
            return named[0], client.post("/forecast", json=named[1])

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(ask, [("small", small), ("large", large)] * 12))
    for name, reply in replies:
        assert reply.status_code == 200, reply.text
        assert reply.json() == expected[name]
    bad = server.post("/forecast", json={**small, "plan": [{"week": "2026-11-10", "share": 1.0}]})
    assert bad.status_code == 400 and bad.json() == {"error": "plan[0].week: 2026-11-10 is a Tuesday; weeks start on Mondays"}


def test_batch_attribution_and_model_endpoints(server):
    scenarios = [{"app": "facebook", "horizon_weeks": 4}, {"app": "instagram", "markets": ["US"], "horizon_weeks": 8,
                                                           "plan": [{"week": "2026-11-02", "share": 0.0}]}]
    r = server.post("/forecast_batch", json={"scenarios": scenarios})
    assert r.status_code == 200, r.text
    batch = r.json()["answers"]
    assert [a["app"] for a in batch] == ["facebook", "instagram"]
    assert batch[0]["totals"]["minutes"]["incremental"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0}
    withdrawal = batch[1]["totals"]["minutes"]["incremental"]
    assert withdrawal["lo"] < withdrawal["mean"] < 0                        # withdrawing lowers minutes

    r = server.post("/attribution", json={"app": "facebook", "markets": ["US", "BR"], "start": "2025-01-06"})
    assert r.status_code == 200, r.text
    attribution = r.json()
    assert attribution["start"] == "2025-01-06" and len(attribution["by_market"]) == 2
    revenue = attribution["totals"]["ad_revenue_usd"]
    assert revenue["via_engagement"]["mean"] + revenue["direct"]["mean"] == pytest.approx(revenue["incremental"]["mean"])
    assert 0 < attribution["totals"]["minutes"]["relative_lift"] < 0.2

    r = server.post("/model", json={})
    assert r.status_code == 200
    info = r.json()
    assert info["model_version"] == "7" and info["run_id"] == "run-abc"
    assert set(info["apps"]) == {"facebook", "instagram"} and len(info["apps"]["facebook"]["markets"]) == 12


def test_a_batch_up_to_the_row_limit_is_answered_and_one_over_is_refused(server):
    from training.requests import MAX_BATCH_ROWS
    every_market = {"app": "facebook", "horizon_weeks": 104}   # 11 forecastable markets + ALL = 12 rows a week
    fits = MAX_BATCH_ROWS // (12 * 104)
    r = server.post("/forecast_batch", json={"scenarios": [every_market] * fits})
    assert r.status_code == 200, r.text
    assert [len(a["weekly"]) for a in r.json()["answers"]] == [12 * 104] * fits
    r = server.post("/forecast_batch", json={"scenarios": [every_market] * (fits + 1)})
    assert r.status_code == 400 and f"the limit is {MAX_BATCH_ROWS:,}" in r.json()["error"]


def test_health_metrics_and_openapi_stay_open_and_document_every_endpoint(server):
    bare = httpx.Client(base_url=str(server.base_url), timeout=30)
    for path in ("/healthz", "/readyz", "/livez", "/metrics"):
        assert bare.get(path).status_code == 200, path
    schema = bare.get("/docs.json").json()
    for path in ("/forecast", "/response_curve", "/forecast_batch", "/attribution", "/model", "/optimise"):
        assert path in schema["paths"]
    text = str(schema)
    assert "2026-11-02" in text and "instagram" in text        # the examples are in the schema
    assert bare.post("/forecast", json={"app": "instagram"}).status_code == 401
    wrong = bare.post("/forecast", json={"app": "instagram"}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "bearer token" in wrong.json()["error"]


BAD_REQUESTS = [
    ("/forecast", {"app": "tiktok"}, 400, "unknown app 'tiktok'"),
    ("/forecast", {"app": "instagram", "markets": ["XX"]}, 400, "unknown market(s) XX"),
    ("/forecast", {"app": "instagram", "markets": ["BR", "BR"]}, 400, "listed twice"),
    ("/forecast", {"app": "instagram", "horizon_weeks": 0}, 400, "horizon_weeks"),
    ("/forecast", {"app": "instagram", "horizon_weeks": 105}, 400, "horizon_weeks"),
    ("/forecast", {"app": "instagram", "horizon_weeks": "many"}, 400, "horizon_weeks"),
    ("/forecast", {"app": "instagram", "plan": [{"week": "2026-11-02", "share": 1.5}]}, 400, "share"),
    ("/forecast", {"app": "instagram", "plan": [{"week": "2026-11-03", "share": 1}]}, 400, "Tuesday"),
    ("/forecast", {"app": "instagram", "plan": [{"week": "2026-10-26", "share": 1}]}, 400, "before the forecast starts"),
    ("/forecast", {"app": "instagram", "horizon_weeks": 2, "plan": [{"week": "2027-06-07", "share": 1}]}, 400,
     "after the last forecast week"),
    ("/forecast", {"app": "instagram", "plan": [{"week": "next monday", "share": 1}]}, 400, "not a date"),
    ("/forecast", {"app": "instagram", "plan": [{"week": "2026-11-02", "share": 1, "markets": ["FR"]}],
                   "markets": ["BR"]}, 400, "FR not among the chosen markets"),
    ("/forecast", {"app": "instagram", "plan": [{"share": 1}]}, 400, "week"),
    ("/forecast", {"app": "instagram", "plan": [{"week": "2026-11-02", "share": 1, "ramp_weeks": 0}]}, 400,
     "ramp_weeks"),
    ("/forecast", {"app": "instagram", "plan": [{"week": "2026-11-02", "share": 1, "ramp_weeks": 53}]}, 400,
     "ramp_weeks"),
    ("/forecast", {"app": "instagram", "interval": 0.3}, 400, "interval"),
    ("/forecast", {"markets": ["BR"]}, 400, "app"),
    ("/forecast", {"app": 12}, 400, "app"),
    ("/attribution", {"app": "instagram", "start": ""}, 400, "start: '' is not a date"),
    ("/forecast", [1, 2, 3], 400, "body: Input should be an object"),
    ("/forecast_batch", {"scenarios": []}, 400, "scenarios"),
    ("/forecast_batch", {"scenarios": [{"app": "instagram"}] * 101}, 400, "scenarios"),
    ("/forecast_batch", {"scenarios": [{"app": "instagram"}, {"app": "nope"}]}, 400, "scenarios[1].app"),
    ("/forecast_batch", {"scenarios": [{"app": "instagram", "horizon_weeks": 104}] * 100}, 400,
     "asks for 124,800 weekly rows"),
    ("/optimise", {"app": "instagram", "constraints": {"earliest": {"XX": "2026-06-01"}}}, 400,
     "constraints.earliest: XX is not among the markets"),
    ("/optimise", {"app": "instagram", "constraints": {"target_shares": [1.5]}}, 400, "target_shares[0]"),
    ("/optimise", {"app": "instagram", "constraints": {"target_shares": [-0.1]}}, 400, "target_shares[0]"),
    ("/optimise", {"app": "instagram", "constraints": {"levels": [1.0]}}, 400,
     "constraints.levels: unknown field; it is now called target_shares"),
    ("/optimise", {"app": "instagram", "constraints": {"fixed": ["DE"], "earliest": {"DE": "2027-03-01"}}}, 400,
     "fixed and earliest both name DE"),
    ("/optimise", {"app": "instagram", "time_limit_seconds": 0}, 400, "time_limit_seconds"),
    ("/optimise", {"app": "instagram", "time_limit_seconds": 600}, 400, "time_limit_seconds"),
    ("/optimise", {"app": "instagram", "cost": {"per_exposed_dau_week_usd": {"low": 2, "high": 1}}}, 400, "above high"),
    ("/optimise", {"app": "instagram", "constraints": {"max_exposed_dau": 1000}}, 400,
     "constraints.max_exposed_dau: 1,000 is below the status quo's exposed DAU"),
    ("/optimise", {"app": "instagram", "markets": ["KR"]}, 400, "cannot be forecast"),
    ("/optimise", {"app": "instagram", "risk": "worst"}, 400, "risk"),
    ("/response_curve", {"app": "instagram"}, 400, "market"),
    ("/response_curve", {"app": "instagram", "market": "XX"}, 400, "unknown market(s) XX"),
    ("/response_curve", {"app": "instagram", "market": "KR"}, 400, "cannot be forecast"),
    ("/response_curve", {"app": "instagram", "market": "BR", "points": 1}, 400, "points"),
    ("/response_curve", {"app": "instagram", "market": "BR", "points": 52}, 400, "points"),
    ("/attribution", {"app": "facebook", "start": "2025-13-01"}, 400, "start"),
    ("/attribution", {"app": "facebook", "start": "2026-06-01", "end": "2025-06-02"}, 400, "after end"),
    ("/attribution", {"app": "facebook", "start": "2030-01-07"}, 400, "no modelled week"),
]


def test_optimise_answers_a_plan_that_forecast_reproduces(server):
    """The optimiser over HTTP: a plan under a launch limit and a cost range, its alternatives and
    solver report; /forecast on the returned request gives the same incremental revenue."""
    body = {"app": "instagram", "horizon_weeks": 13, "constraints": {"max_launches_per_week": 2},
            "cost": {"per_exposed_dau_week_usd": {"low": 0.001, "high": 0.004}}}
    r = server.post("/optimise", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["model_version"] == "7" and answer["solver"]["status"] == "optimal"
    assert [a["name"] for a in answer["alternatives"]] == ["status_quo", "everything_now", "largest_first"]
    launches = {}
    for point in answer["plan"]:
        launches[point["week"]] = launches.get(point["week"], 0) + 1
    assert answer["plan"] and max(launches.values()) <= 2
    forecast = server.post("/forecast", json=answer["forecast_request"]).json()
    assert forecast["totals"]["ad_revenue_usd"]["incremental"]["mean"] == pytest.approx(
        answer["value"]["incremental"]["mean"], rel=0.005)
    value = answer["value"]["net"]
    assert value["lo"] <= value["mean"] <= value["hi"] and 0.0 <= answer["probability_best"] <= 1.0


def test_a_markets_response_curve_runs_from_its_share_to_1_and_its_top_is_forecast_s_full_rollout(server):
    """/response_curve: target shares from the market's current share to 1; the first point adds
    nothing, the curve rises with the share, each point inside its band; its top equals /forecast
    of the market at share 1 from the first forecast week."""
    r = server.post("/response_curve", json={"app": "instagram", "market": "BR", "horizon_weeks": 13, "points": 5})
    assert r.status_code == 200, r.text
    curve = r.json()
    share, minutes = curve["share"], curve["minutes"]
    assert len(share) == 5 and share[0] == pytest.approx(curve["current_share"]) and share[-1] == 1.0
    assert minutes["mean"][0] == 0.0 and np.all(np.diff(minutes["mean"]) > 0)
    for quantity in ("minutes", "ad_revenue_usd"):
        band = curve[quantity]
        assert all(lo <= mean <= hi for lo, mean, hi in zip(band["lo"], band["mean"], band["hi"]))
    full = server.post("/forecast", json={"app": "instagram", "markets": ["BR"], "horizon_weeks": 13, "plan": [
        {"week": curve["first_week"], "share": 1.0}]}).json()["totals"]
    for quantity in ("minutes", "ad_revenue_usd"):
        assert curve[quantity]["mean"][-1] == pytest.approx(full[quantity]["incremental"]["mean"], rel=1e-6)


@pytest.mark.parametrize("path,body,status,fragment", BAD_REQUESTS, ids=[f"{p}-{i}" for i, (p, *_ ) in enumerate(BAD_REQUESTS)])
def test_bad_requests_get_a_4xx_that_names_the_problem(server, path, body, status, fragment):
    r = server.post(path, json=body)
    assert r.status_code == status, r.text
    assert fragment in r.text


def test_malformed_and_oversized_bodies_are_refused_and_the_server_stays_ready(server):
    r = server.post("/forecast", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    huge = {"app": "instagram", "markets": ["BR"] * 50000}
    r = server.post("/forecast", json=huge)
    assert r.status_code == 413 and "over the limit" in r.json()["error"]

    def chunks():
        yield b'{"app": "instagram", "markets": ['
        for _ in range(50000):
            yield b'"BR",'
        yield b'"BR"]}'
    r = server.post("/forecast", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert server.get("/readyz").status_code == 200


def test_no_model_starts_not_ready_and_explains_how_to_train(tmp_path):
    process, url = start_service({**os.environ, "BENTOML_HOME": str(tmp_path / "empty")})
    try:
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 503
        r = httpx.post(f"{url}/forecast", json={"app": "instagram"})
        assert r.status_code == 503 and "impact train" in r.json()["error"]
    finally:
        stop(process)


# ---------------------------------------------------------------------- in process

def _forecast(model, **fields):
    return answers.forecast(model, "7", ForecastRequest(**fields))


def test_totals_equal_the_sum_of_weekly_rows(small_model):
    answer = _forecast(small_model["model"], app="facebook", horizon_weeks=26,
                       plan=[PlanPoint(week="2026-11-30", share=1.0)])
    rows = [row for row in answer["weekly"] if row["market"] != "ALL"]
    for quantity in ("minutes", "ad_revenue_usd"):
        totals = answer["totals"][quantity]
        assert sum(row[quantity]["status_quo"] for row in rows) == pytest.approx(totals["status_quo"]["mean"], rel=1e-9)
        assert sum(row[quantity]["scenario"] for row in rows) == pytest.approx(totals["scenario"]["mean"], rel=1e-9)
        assert totals["incremental"]["mean"] == pytest.approx(totals["scenario"]["mean"] - totals["status_quo"]["mean"])
        for part in ("status_quo", "scenario"):
            assert totals[part]["lo"] < totals[part]["mean"] < totals[part]["hi"], (quantity, part)


def test_empty_plan_and_status_quo_plan_change_nothing(small_model):
    model = small_model["model"]
    empty = _forecast(model, app="instagram", horizon_weeks=13)
    for row in empty["weekly"]:
        for quantity in ("time_spent_min", "dau", "minutes", "ad_revenue_usd"):
            assert row[quantity]["status_quo"] == row[quantity]["scenario"]
    markets = model.markets("instagram", forecastable=True)
    last = model.status_quo("instagram", 1)[:, 0]
    same = [PlanPoint(week="2026-11-02", share=float(s), markets=[m]) for m, s in zip(markets, last)]
    answer = _forecast(model, app="instagram", horizon_weeks=13, plan=same)
    assert answer["totals"]["minutes"]["incremental"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0}
    assert answer["totals"]["ad_revenue_usd"]["incremental"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0}
    assert np.isclose(empty["totals"]["minutes"]["status_quo"]["mean"], answer["totals"]["minutes"]["status_quo"]["mean"])


def test_the_built_bento_is_self_contained(small_model, tmp_path):
    """`bentoml build` packs code and model; imported into an empty store and served from an
    empty folder (no MLflow database, no .impact/), it answers."""
    import json
    import shutil
    repo = Path(__file__).parents[1]
    build_home = tmp_path / "build_home"
    shutil.copytree(small_model["home"], build_home)
    env = {**os.environ, "BENTOML_HOME": str(build_home)}
    subprocess.run([BENTOML, "build", str(repo)], env=env, cwd=repo, check=True, capture_output=True, timeout=300)
    listing = subprocess.run([BENTOML, "list", "-o", "json"], env=env, capture_output=True, text=True, check=True)
    tag = json.loads(listing.stdout)[0]["tag"]
    source = build_home / "bentos" / tag.replace(":", "/") / "src"
    shipped = {str(path.relative_to(source)) for path in source.rglob("*.py")}
    assert {"serving/service.py", "serving/long.py", "training/requests.py", "training/answers.py",
            "training/cli/__init__.py", "data/contract.py"} <= shipped
    assert not {path for path in shipped if path.startswith(("testkit/", "tests/", "bench/"))}, shipped
    archive = tmp_path / "service.bento"
    subprocess.run([BENTOML, "export", tag, str(archive)], env=env, check=True, capture_output=True, timeout=120)

    clean = tmp_path / "clean"
    clean.mkdir()
    serve_env = {**os.environ, "BENTOML_HOME": str(tmp_path / "fresh_home")}
    serve_env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run([BENTOML, "import", str(archive)], env=serve_env, check=True, capture_output=True, timeout=120)
    port = free_port()
    process = subprocess.Popen([BENTOML, "serve", tag, "--host", "127.0.0.1", "--port", str(port)], env=serve_env,
                               cwd=clean, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_ready(url, process)
        r = httpx.post(f"{url}/forecast", json={"app": "facebook", "markets": ["US"], "horizon_weeks": 4}, timeout=60)
        assert r.status_code == 200 and r.json()["model_version"] == "7"
        page = httpx.get(f"{url}/", timeout=30)                 # the planner page and its files are in the Bento
        assert page.status_code == 200 and "<title>engagement-impact planner</title>" in page.text
        for asset in ("planner.js", "planner.css", "docs.js"):
            assert httpx.get(f"{url}/static/planner/{asset}", timeout=30).status_code == 200, asset
        assert list(clean.iterdir()) == []            # nothing needed (or written) in the working folder
    finally:
        stop(process)


def test_the_wheel_ships_the_service_and_the_command_line_but_no_test_support(tmp_path):
    """`pip wheel` of the project: every package the service and `impact` import, and neither the
    test-support package (testkit) nor the tests and bench scripts."""
    import shutil
    import zipfile
    repo = Path(__file__).parents[1]
    source = tmp_path / "source"          # a copy, so the build writes nothing into the working tree
    shutil.copytree(repo, source, ignore=shutil.ignore_patterns(".venv*", ".git", "*.egg-info", "build", ".impact",
                                                                "data/generated", "__pycache__", "node_modules"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet", "-w", str(tmp_path / "wheel")],
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "wheel").glob("engagement_impact-*.whl"))
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    assert {"serving/service.py", "serving/long.py", "training/requests.py", "training/answers.py",
            "training/cli/__init__.py", "training/cli/optimise.py", "training/optimiser/optimiser.py",
            "training/warehouse/publish.py", "data/contract.py"} <= shipped
    assert not {name for name in shipped if name.startswith(("testkit/", "tests/", "bench/"))}, shipped
    modules = {name.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for name in shipped}
    for path in list(repo.glob("training/**/*.py")) + list(repo.glob("serving/**/*.py")) + list(repo.glob("data/*.py")):
        module = str(path.relative_to(repo)).removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        assert module in modules, f"{module} is not in the wheel"


# ---------------------------------------------------------------------- every field used or refused

FORECAST_BODY = {"app": "facebook", "markets": ["US", "BR"], "horizon_weeks": 4,
                 "plan": [{"week": "2026-11-02", "share": 0.5}]}
FORECAST_CHANGES = {"app": "instagram", "markets": ["US"], "horizon_weeks": 5, "plan": [], "plan.week": "2026-11-09",
                    "plan.share": 0.9, "plan.markets": ["US"], "plan.ramp_weeks": 3, "interval": 0.8}
# endpoint -> (its request model, a valid body, field path -> a value that must change the answer)
FIELDS_USED = {
    "/forecast": ("ForecastHistoryRequest", FORECAST_BODY, {**FORECAST_CHANGES, "history_weeks": 3}),
    "/forecast_batch": ("BatchRequest", {"scenarios": [FORECAST_BODY]},
                        {"scenarios": [FORECAST_BODY, FORECAST_BODY],
                         **{f"scenarios.{path}": value for path, value in FORECAST_CHANGES.items()}}),
    "/response_curve": ("ResponseCurveRequest", {"app": "facebook", "market": "US", "horizon_weeks": 8},
                        {"app": "instagram", "market": "BR", "horizon_weeks": 9, "interval": 0.8, "points": 5}),
    "/attribution": ("AttributionRequest", {"app": "facebook", "markets": ["US", "BR"], "start": "2024-01-01",
                                            "end": "2025-12-29"},
                     {"app": "instagram", "markets": ["US"], "start": "2024-06-03", "end": "2025-06-02",
                      "interval": 0.8}),
    "/optimise": ("OptimiseRequest",
                  {"app": "facebook", "markets": ["US", "BR", "DE", "FR"], "horizon_weeks": 8, "time_limit_seconds": 5,
                   "cost": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.02}}, "constraints": {"max_step": 1.0}},
                  {"app": "instagram", "markets": ["US", "BR"], "horizon_weeks": 10, "interval": 0.8, "objective": "minutes",
                   "cost": {"per_exposed_dau_week_usd": {"low": 0.3, "high": 0.4}},
                   "cost.per_exposed_dau_week_usd": {"low": 0.2, "high": 0.3}, "cost.per_exposed_dau_week_usd.low": 0.015,
                   "cost.per_exposed_dau_week_usd.high": 0.05, "constraints": {"max_launches_per_week": 1},
                   "constraints.max_launches_per_week": 1, "constraints.max_step": 0.05, "constraints.target_shares": [0.95, 1.0],
                   "constraints.earliest": {"BR": "2026-11-16"}, "constraints.fixed": ["BR"],
                   "constraints.max_exposed_dau": 1e10, "constraints.allow_decrease": True, "risk": 0.1,
                   "time_limit_seconds": 4.0, "optimality_gap": 0.05}),
}
# fields whose effect this model and body cannot show (the solve ends long before any limit; no market
# is above its target share): the answer echoes them in the request it was given
ECHOED = {"/optimise": {"constraints.max_exposed_dau", "constraints.allow_decrease", "time_limit_seconds",
                        "optimality_gap"}}
VOLATILE = {"seconds", "total_seconds", "request"}


def _schema_at(document: dict, schema: dict, parts: list[str]) -> dict | None:
    """The schema of the field at `parts` under `schema` (through $ref, anyOf and array items)."""
    while "$ref" in schema or "anyOf" in schema or schema.get("type") == "array":
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in schema:
            schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        else:
            schema = schema["items"]
    if not parts:
        return schema
    inner = schema.get("properties", {}).get(parts[0])
    return None if inner is None else _schema_at(document, inner, parts[1:])


def _set(body: dict, path: str, value) -> dict:
    import copy
    body = copy.deepcopy(body)
    node = body
    for part in path.split(".")[:-1]:
        node = node.setdefault(part, {})
        node = node[0] if isinstance(node, list) else node
    node[path.rsplit(".", 1)[-1]] = value
    return body


def test_every_field_of_every_request_model_is_documented_used_and_refused_when_misspelt(server):
    """Walks the request models against the served OpenAPI document: each field (nested ones
    included) is in the endpoint's schema; setting it changes the answer (or, for the few listed in
    ECHOED, is echoed in it); misspelt, it is a 400 that names it and the field meant."""
    import training.requests as requests_module
    from tests.test_requests import container, field_paths
    document = server.get("/docs.json").json()
    for endpoint, (model_name, body, changes) in FIELDS_USED.items():
        paths = field_paths(getattr(requests_module, model_name))
        assert set(paths) == set(changes), f"{endpoint}: give every field a value that changes the answer"
        schema = document["paths"][endpoint]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema.get("additionalProperties") is False, endpoint
        before = server.post(endpoint, json=body)
        assert before.status_code == 200, (endpoint, before.text)
        for path in paths:
            assert _schema_at(document, schema, path.split(".")) is not None, f"{endpoint}: {path} is not documented"
            after = server.post(endpoint, json=_set(body, path, changes[path]))
            assert after.status_code == 200, (endpoint, path, after.text)
            if path in ECHOED.get(endpoint, ()):
                echoed = after.json()["request"]
                for part in path.split("."):
                    echoed = echoed[part]
                assert echoed == changes[path], (endpoint, path)
            else:
                assert without(after.json(), VOLATILE) != without(before.json(), VOLATILE), \
                    f"{endpoint}: setting {path} changed nothing"
            leaf = path.rpartition(".")[2]
            misspelt = _set(body, path, changes[path])
            holder = container(misspelt, path)
            holder[leaf + "s"] = holder.pop(leaf)
            refused = server.post(endpoint, json=misspelt)
            assert refused.status_code == 400, (endpoint, path, refused.text)
            assert f"{leaf}s: unknown field; did you mean {leaf}?" in refused.json()["error"], (endpoint, path)


def test_an_optimisation_runs_apart_one_more_gets_429_with_retry_after_and_the_answer_is_the_in_process_one(
        server, small_model):
    """While one /optimise runs (in its own process), /model is answered, a second /optimise is
    refused at once with 429 and Retry-After, and the first answer equals the in-process one."""
    from concurrent.futures import ThreadPoolExecutor

    from training.requests import OptimiseRequest
    body = {"app": "instagram", "horizon_weeks": 104, "risk": 0.05, "time_limit_seconds": 10,
            "cost": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.03}}}
    with ThreadPoolExecutor(2) as pool:
        long = pool.submit(server.post, "/optimise", json=body)
        time.sleep(0.5)
        model = server.post("/model", json={})
        second = server.post("/optimise", json=body)
        model_done = time.monotonic()
        answer = long.result()
        long_done = time.monotonic()
    assert model.status_code == 200 and model_done < long_done
    assert second.status_code == 429, second.text
    assert int(second.headers["retry-after"]) >= 1 and "retry in" in second.json()["error"]
    assert answer.status_code == 200, answer.text
    expected = answers.optimise(small_model["model"], "7", OptimiseRequest(**body))
    assert without(answer.json(), VOLATILE) == without(as_served(expected), VOLATILE)
    assert server.post("/optimise", json=body).status_code == 200      # free again



def test_design_test_answers_as_in_process_and_refuses_what_it_cannot_answer_with_400(server, small_model):
    """/design_test with a finish decision (answered in a thread) and with an /optimise decision
    (answered in the long-question process) equals the in-process answer; a bad decision is a 400
    naming the field."""
    from testkit.evaluation import partial_markets
    from training.requests import DesignTestRequest
    model = small_model["model"]
    finish = {"app": "instagram", "decision": {"finish": partial_markets(model, "instagram")[:2]},
              "test_shares": [0.5, 1.0], "durations_weeks": [4, 8], "tests": 2}
    planned = {"app": "instagram", "decision": {"optimise": {"app": "instagram", "horizon_weeks": 13,
                                                             "time_limit_seconds": 5}}}
    for body in (finish, planned):
        answer = server.post("/design_test", json=body)
        assert answer.status_code == 200, answer.text
        expected = answers.design_test(model, "7", DesignTestRequest(**body))
        assert answer.json() == as_served(expected)
        assert len(answer.json()["chosen"]["tests"]) == body.get("tests", 1)
    refused = server.post("/design_test", json={**finish, "decision": {"finish": ["ZZ"]}})
    assert refused.status_code == 400 and refused.json()["error"].startswith("decision.finish: unknown market(s) ZZ")
    typo = server.post("/design_test", json={**finish, "duration_weeks": [4]})
    assert typo.status_code == 400 and "duration_weeks: unknown field; did you mean durations_weeks?" in typo.text
