"""The `impact` console script as a user runs it: one-line errors with exit 2, deterministic data."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pandas as pd
import pytest

from tests.helpers import IMPACT, make_small_panel


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([IMPACT, *args], capture_output=True, text=True, timeout=120)


def test_validate_bad_file_is_one_line_and_exit_2(tmp_path):
    panel = make_small_panel()
    panel.loc[7, "rollout_share"] = 1.5
    panel.to_csv(tmp_path / "bad.csv", index=False)
    result = run("validate", str(tmp_path / "bad.csv"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "rule 'rollout_share_range'" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_validate_missing_file_and_bad_option(tmp_path):
    result = run("validate", str(tmp_path / "absent.parquet"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert run("simulate", "--seed", "-3").returncode == 2


def test_validate_good_file(tmp_path):
    make_small_panel().to_csv(tmp_path / "good.csv", index=False)
    result = run("validate", str(tmp_path / "good.csv"))
    assert result.returncode == 0, result.stderr
    assert "440 rows" in result.stdout and "15 rules passed" in result.stdout


def test_simulate_is_deterministic_for_a_seed_and_validates(tmp_path):
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((first, "4"), (second, "4"), (other, "5")):
        result = run("simulate", "--out", str(out), "--seed", seed)
        assert result.returncode == 0, result.stderr
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(first / "panel.csv") == digest(second / "panel.csv")
    assert digest(first / "truth.json") == digest(second / "truth.json")
    assert digest(first / "panel.csv") != digest(other / "panel.csv")
    assert run("validate", str(first / "panel.parquet")).returncode == 0
    assert run("validate", str(first / "panel.csv")).returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(first / "panel.parquet"),
                                  pd.read_csv(first / "panel.csv", parse_dates=["week"]).assign(
                                      week=lambda d: d["week"].dt.date), check_dtype=False)


def test_simulate_null_world_has_no_effect(tmp_path):
    result = run("simulate", "--out", str(tmp_path), "--seed", "2", "--null")
    assert result.returncode == 0, result.stderr
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["null"] is True
    for app in ("facebook", "instagram", "whatsapp"):
        assert truth["incremental"][app]["minutes"] == 0.0
        assert truth["incremental"][app]["ad_revenue_usd"] == 0.0
    assert pd.read_parquet(tmp_path / "panel.parquet")["rollout_share"].max() > 0.8   # rollout still happens


def test_simulate_a_cross_design_writes_each_apps_own_and_cross_truth_or_refuses_a_bad_name(tmp_path):
    result = run("simulate", "--out", str(tmp_path), "--seed", "3", "--cross", "complementary")
    assert result.returncode == 0, result.stderr
    assert "cross complementary" in result.stdout.splitlines()[0]
    cross = json.loads((tmp_path / "truth.json").read_text())["cross"]
    assert cross["design"] == "complementary" and cross["identified"] is True
    assert cross["log_time_per_dau"]["instagram"]["whatsapp"] > 0 and cross["log_time_per_dau"]["instagram"]["instagram"] == 0
    for app, parts in cross["incremental"].items():
        assert parts["cross_minutes"] > 0, app
    bad = run("simulate", "--out", str(tmp_path / "x"), "--cross", "stealing")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("error: --cross stealing: unknown cross design 'stealing'")
    assert not (tmp_path / "x").exists()


def test_validate_prints_the_warnings_of_a_short_series(tmp_path):
    make_small_panel(weeks=60).to_csv(tmp_path / "short.csv", index=False)
    result = run("validate", str(tmp_path / "short.csv"))
    assert result.returncode == 0, result.stderr
    assert "14 rules passed" in result.stdout and "warning rule 'min_history' (warning)" in result.stdout


@pytest.mark.parametrize("setting, message", [
    ("n_bootstrap=many", "n_bootstrap needs a whole number"),
    ("n_bootstrap=5", "The 'n_bootstrap' parameter of ImpactModel must be an int in the range [20, 10000]"),
    ("backtest_horizon=20.5", "backtest_horizon needs a whole number"),
    ("backtest_horizon=8", "The 'backtest_horizon' parameter of ImpactModel must be an int in the range [13, 104]"),
    ("backtest_horizon=60", "The 'backtest_horizon' parameter of ImpactModel (60) must not exceed max_horizon (52)"),
    ("backtest_origins=0", "backtest_origins=0: training needs at least 2 backtest origins"),
    ("shared_shape=banana", "shared_shape needs true or false"),
    ("grid=[[0.5,0.35]]", "grid needs a JSON list of [carryover, half_saturation, hill_exponent] triples"),
    ("grid=[[1.5,0.35,1.0]]", "The 'grid' parameter of ImpactModel must be a non-empty sequence"),
    ("grid=[]", "The 'grid' parameter of ImpactModel must be a non-empty sequence"),
    ("known_breaks=whatsapp:ad_revenue_usd:2025-06-16", "known break 'whatsapp:ad_revenue_usd:2025-06-16' must be"),
    ("seed=3", "seed is not set with --set (use --seed)"),
    ("colour=blue", "use key=value with key one of backtest_horizon, backtest_origins, baseline_fit_weeks"),
    ("n_bootstrap", "use key=value"),
])
def test_a_bad_set_value_of_every_kind_exits_2_with_one_line(tmp_path, setting, message):
    """Before any data is read or any run is opened: int, bool, grid and cross-parameter checks."""
    extra = ["--set", "max_horizon=52"] if "max_horizon" in message else []
    env = {**os.environ, "IMPACT_HOME": str(tmp_path / "impact"), "BENTOML_HOME": str(tmp_path / "bentoml")}
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run([IMPACT, "train", "--data", str(tmp_path / "absent.parquet"), "--quiet", "--set", setting,
                             *extra], capture_output=True, text=True, timeout=120, env=env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: --set") and message in lines[0], lines[0]
    assert not (tmp_path / "impact").exists()              # nothing was opened or written


def test_a_known_break_of_an_app_the_data_lacks_exits_2_with_one_line_and_registers_nothing(tmp_path):
    """The app of a known break can only be checked against the data: after it is read, before any fitting."""
    assert run("simulate", "--out", str(tmp_path / "world")).returncode == 0
    env = {**os.environ, "IMPACT_HOME": str(tmp_path / "impact"), "BENTOML_HOME": str(tmp_path / "bentoml")}
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run([IMPACT, "train", "--data", str(tmp_path / "world" / "panel.parquet"), "--quiet",
                             "--set", "known_breaks=tiktok:minutes:2025-06-16:2025-12-08"],
                            capture_output=True, text=True, timeout=300, env=env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "names app(s) tiktok that the panel does not model (it has facebook, instagram, whatsapp)" in lines[0]
    assert not (tmp_path / "bentoml" / "models").exists()           # nothing was imported as a champion


@pytest.fixture(scope="module")
def saved_small_model(small_model, tmp_path_factory):
    from training.model.persist import save_model
    return save_model(small_model["model"], tmp_path_factory.mktemp("optimise") / "model")


def test_optimise_prints_the_plan_and_writes_it_as_a_forecast_request(saved_small_model, small_model, tmp_path):
    """`impact optimise` answers what /optimise answers: the written file is a /forecast body whose
    incremental revenue is the one printed and stored in the answer."""
    from training import answers
    from training.requests import ForecastRequest
    out, whole = tmp_path / "plan.json", tmp_path / "answer.json"
    result = run("optimise", "--model", str(saved_small_model), "--app", "instagram", "--horizon-weeks", "13",
                 "--max-launches-per-week", "1", "--cost-low", "0.001", "--cost-high", "0.003", "--earliest",
                 "DE=2026-12-07", "--out", str(out), "--answer", str(whole))
    assert result.returncode == 0, result.stderr
    assert "largest_first" in result.stdout and "optimal" in result.stdout
    request, answer = json.loads(out.read_text()), json.loads(whole.read_text())
    assert request == answer["forecast_request"] and request["plan"]
    assert all(p["week"] >= "2026-12-07" for p in request["plan"] if p["markets"] == ["DE"])
    forecast = answers.forecast(small_model["model"], "x", ForecastRequest(**request))
    assert forecast["totals"]["ad_revenue_usd"]["incremental"]["mean"] == pytest.approx(
        answer["value"]["incremental"]["mean"], rel=1e-9)


@pytest.mark.parametrize("args,fragment", [
    (["--target-shares", "1.5"], "constraints.target_shares[0]: Input should be less than or equal to 1"),
    (["--earliest", "DE"], "--earliest DE: expected MARKET=YYYY-MM-DD"),
    (["--earliest", "XX=2026-12-07"], "constraints.earliest: XX is not among the markets"),
    (["--cost-low", "0.1"], "--cost-low and --cost-high go together"),
    (["--risk", "worst"], "--risk: 'worst' is neither mean nor a quantile"),
    (["--time-limit-seconds", "99"], "time_limit_seconds"),
])
def test_optimise_refuses_bad_options_in_one_line(saved_small_model, tmp_path, args, fragment):
    result = run("optimise", "--model", str(saved_small_model), "--app", "instagram", "--out", str(tmp_path / "p.json"),
                 *args)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert not (tmp_path / "p.json").exists()


def test_optimise_without_a_champion_says_how_to_get_one(tmp_path):
    env = {**os.environ, "IMPACT_HOME": str(tmp_path / "impact")}
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run([IMPACT, "optimise", "--app", "instagram"], capture_output=True, text=True, timeout=120,
                            env=env, cwd=tmp_path)
    assert result.returncode == 2 and "no champion model" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_simulate_grows_the_world_to_more_markets_and_refuses_too_many_in_one_line(tmp_path):
    result = run("simulate", "--markets", "40", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "3 apps x 40 markets" in result.stdout
    assert pd.read_parquet(tmp_path / "panel.parquet")["market"].nunique() == 40
    refused = run("simulate", "--markets", "300", "--out", str(tmp_path / "no"))
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: --markets 300: markets must be between 32 (the named ones) and 249 (every assigned country code), "
        "not 300"]
    assert not (tmp_path / "no").exists()
