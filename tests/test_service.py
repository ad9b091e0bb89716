"""The forecast service against a real `bentoml serve` process, and its maths in process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from serving import answers
from serving.schemas import ForecastRequest, PlanPoint
from serving.local import free_port, start_service, stop, wait_ready

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
    assert minutes["baseline"]["lo"] < minutes["baseline"]["mean"] < minutes["baseline"]["hi"]
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
    sizes = {name: answers.weekly_rows(model, ForecastRequest(**body)) for name, body in (("small", small), ("large", large))}
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
    from serving.schemas import MAX_BATCH_ROWS
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
    ("/forecast", [1, 2, 3], 400, "validation error"),
    ("/forecast_batch", {"scenarios": []}, 400, "scenarios"),
    ("/forecast_batch", {"scenarios": [{"app": "instagram"}] * 101}, 400, "scenarios"),
    ("/forecast_batch", {"scenarios": [{"app": "instagram"}, {"app": "nope"}]}, 400, "scenarios[1].app"),
    ("/forecast_batch", {"scenarios": [{"app": "instagram", "horizon_weeks": 104}] * 100}, 400,
     "asks for 124,800 weekly rows"),
    ("/optimise", {"app": "instagram", "constraints": {"earliest": {"XX": "2026-06-01"}}}, 400,
     "constraints.earliest: XX is not among the markets"),
    ("/optimise", {"app": "instagram", "constraints": {"levels": [1.5]}}, 400, "levels"),
    ("/optimise", {"app": "instagram", "constraints": {"levels": [-0.1]}}, 400, "levels"),
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
        assert sum(row[quantity]["baseline"] for row in rows) == pytest.approx(totals["baseline"]["mean"], rel=1e-9)
        assert sum(row[quantity]["scenario"] for row in rows) == pytest.approx(totals["scenario"]["mean"], rel=1e-9)
        assert totals["incremental"]["mean"] == pytest.approx(totals["scenario"]["mean"] - totals["baseline"]["mean"])
        for part in ("baseline", "scenario"):
            assert totals[part]["lo"] < totals[part]["mean"] < totals[part]["hi"], (quantity, part)


def test_empty_plan_and_status_quo_plan_change_nothing(small_model):
    model = small_model["model"]
    empty = _forecast(model, app="instagram", horizon_weeks=13)
    for row in empty["weekly"]:
        for quantity in ("time_spent_min", "dau", "minutes", "ad_revenue_usd"):
            assert row[quantity]["baseline"] == row[quantity]["scenario"]
    markets = model.markets("instagram", forecastable=True)
    last = model.status_quo("instagram", 1)[:, 0]
    same = [PlanPoint(week="2026-11-02", share=float(s), markets=[m]) for m, s in zip(markets, last)]
    answer = _forecast(model, app="instagram", horizon_weeks=13, plan=same)
    assert answer["totals"]["minutes"]["incremental"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0}
    assert answer["totals"]["ad_revenue_usd"]["incremental"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0}
    assert np.isclose(empty["totals"]["minutes"]["baseline"]["mean"], answer["totals"]["minutes"]["baseline"]["mean"])


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
