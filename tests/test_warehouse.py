"""The warehouse end to end: `impact train` twice on panels 13 weeks apart, each champion published
by the command itself to an embedded DuckDB file, then the same versions to a real PostgreSQL
server started here; the rows read back and held against `/forecast`'s own answers and against
the panels.

The second panel is the first plus 13 weeks in which Facebook's JP (never launched) starts a
ramp to 50%: the first vintage is held to its forecast of that realised plan there, and to its
status quo elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from testkit.local import postgres_server
from tests.helpers import IMPACT, small_spec
from training.warehouse.tables import METADATA, VIEWS, migrate

FAST = ["--set", "n_bootstrap=50", "--set", "backtest_origins=3"]
LATER_WEEKS = 13
RAMP = {"app": "facebook", "market": "JP", "weeks": 8, "shares": np.linspace(0.25, 0.5, 8)}
KEYS = {"model_versions": ["version"], "scenarios": ["model_version", "scenario_id"],
        "forecast_rows": ["model_version", "scenario_id", "market", "week", "quantity", "level"],
        "forecasts": ["model_version", "scenario_id", "market", "week", "quantity", "level"],      # the view
        "attribution": ["model_version", "app", "market", "week"],
        "forecast_accuracy": ["model_version", "actuals_version", "app", "market", "week", "quantity", "level"]}
ADDITIVE = ("dau", "minutes", "ad_revenue_usd")
QUANTITIES = ("time_spent_min", *ADDITIVE)


def impact(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([IMPACT, *args], env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def read(url: str, query: str, **params) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql(sa.text(query), conn, params=params)
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, pd.DataFrame]:
    """Every table, sorted by its key: what "the tables as they were" means."""
    return {name: read(url, f"SELECT * FROM {name}").sort_values(keys, ignore_index=True)
            for name, keys in KEYS.items()}


@pytest.fixture(scope="module")
def vintages(tmp_path_factory):
    """Two champions, v1 on panel A and v2 on A + 13 weeks, each published by `impact train`."""
    from data import simulate_world
    root = tmp_path_factory.mktemp("warehouse")
    panel = simulate_world(seed=3, spec=small_spec()).panel
    weeks = np.sort(panel["week"].unique())
    last = weeks[-RAMP["weeks"]:]
    ramp = (panel["app"] == RAMP["app"]) & (panel["market"] == RAMP["market"]) & panel["week"].isin(last)
    panel.loc[ramp, "rollout_share"] = RAMP["shares"][np.searchsorted(last, panel.loc[ramp, "week"])]
    first, second = root / "first.parquet", root / "second.parquet"
    panel[panel["week"] <= weeks[-LATER_WEEKS - 1]].to_parquet(first)
    panel.to_parquet(second)
    env = {**os.environ, "IMPACT_HOME": str(root / "impact"), "BENTOML_HOME": str(root / "bentoml")}
    for name in ("MLFLOW_TRACKING_URI", "IMPACT_WAREHOUSE_URL"):
        env.pop(name, None)
    trained = [impact(env, "train", "--data", str(path), "--quiet", *FAST) for path in (first, second)]
    if "not promoted" in trained[1].stdout:      # the gate's call; the views must follow whichever is champion
        promoted = impact(env, "promote", "2", "--quiet")     # publishes v2 as train would have
        trained[1] = subprocess.CompletedProcess(trained[1].args, 0, trained[1].stdout + promoted.stdout, "")
    return {"env": env, "url": f"duckdb:///{root / 'impact' / 'warehouse.duckdb'}", "root": root,
            "panels": (pd.read_parquet(first), pd.read_parquet(second)), "trained": trained}


def load_version(env: dict, version: str):
    import mlflow

    from training.registry import load_version as load
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = f"sqlite:///{env['IMPACT_HOME']}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return load(version)


def test_each_new_champion_is_published_by_train_and_both_vintages_are_kept(vintages):
    url = vintages["url"]
    assert all("published version" in t.stdout for t in vintages["trained"])
    versions = read(url, "SELECT * FROM model_versions ORDER BY version")
    assert versions["version"].tolist() == ["1", "2"]
    assert versions["is_champion"].tolist() == [False, True]
    assert [str(w) for w in versions["data_last_week"]] == ["2026-07-27", "2026-10-26"]
    assert versions["levels"].tolist() == ["0.5,0.9"] * 2 and (versions["backtest_mase_13w"] > 0).all()
    per_version = read(url, "SELECT model_version, COUNT(*) AS n FROM forecasts GROUP BY model_version ORDER BY 1")
    latest = read(url, "SELECT DISTINCT model_version FROM forecasts_latest")
    assert per_version["model_version"].tolist() == ["1", "2"] and per_version["n"].min() > 50_000
    assert latest["model_version"].tolist() == ["2"]
    kinds = read(url, "SELECT kind, COUNT(*) AS n FROM scenarios WHERE model_version = '2' GROUP BY kind")
    last = vintages["panels"][1].sort_values("week").groupby(["app", "market"]).last()
    below_full = int((last["rollout_share"] < 1.0).sum())       # every market reports to the last week here
    assert dict(zip(kinds["kind"], kinds["n"])) == {"status_quo": 2, "full_now": 2, "market_full_now": below_full}
    horizons = read(url, "SELECT MIN(horizon) AS lo, MAX(horizon) AS hi, MIN(week) AS first, MAX(as_of) AS as_of "
                         "FROM forecasts WHERE model_version = '2'")
    assert (horizons["lo"][0], horizons["hi"][0]) == (1, 26)
    assert str(horizons["as_of"][0]) == "2026-10-26" and str(horizons["first"][0]) == "2026-11-02"


def test_forecast_accuracy_holds_the_first_vintages_13_weeks_with_mase_and_coverage_computed_from_the_panels(vintages):
    """Direct computation: actuals from the second panel file, the MASE scale from the first
    panel file (its in-sample seasonal-naive MAE), the forecast from v1's model on the shares
    that happened; against the view's figures per app, quantity, horizon, level and series."""
    url, (first, second) = vintages["url"], vintages["panels"]
    rows = read(url, "SELECT * FROM forecast_accuracy")
    assert set(rows["model_version"]) == {"1"} and set(rows["actuals_version"]) == {"2"}
    assert sorted(rows["horizon"].unique()) == list(range(1, 14)) and rows["week"].nunique() == 13
    market = rows[(rows["market"] != "ALL") & (rows["level"] == 0.9)]     # what the second training printed
    assert (f"vintage 1 against this training panel: 13 weeks, market rows MASE "
            f"{market['scaled_abs_error'].mean():.3f}, 90% band held {market['covered'].mean():.1%}"
            in vintages["trained"][1].stdout), vintages["trained"][1].stdout
    labels = rows.groupby(["app", "market"])["plan"].first()
    assert labels[("facebook", "JP")] == "realised_plan" and labels[("facebook", "ALL")] == "realised_plan"
    assert (labels.drop([("facebook", "JP"), ("facebook", "ALL")]) == "status_quo").all()

    model = load_version(vintages["env"], "1")
    expected = []
    for app in model.apps:
        markets = model.markets(app, forecastable=True)
        weeks = model.forecast_weeks(app, LATER_WEEKS)
        actual = _wide(second, app, markets, weeks)
        shares = actual.pop("rollout_share")
        history = _wide(first, app, markets, pd.DatetimeIndex(sorted(first["week"].unique())))
        for level in (0.5, 0.9):
            result = model.forecast(app, shares, markets, level)
            for quantity in QUANTITIES:
                scale = np.nanmean(np.abs(history[quantity][:, 52:] - history[quantity][:, :-52]), axis=1)
                for series, rows_ in (("markets", slice(0, -1)), ("ALL", slice(-1, None))):
                    part = result.per_market if series == "markets" else result.combined
                    truth, point = actual[quantity][rows_], part[quantity]["scenario"]
                    lo, hi = part[quantity]["lo"], part[quantity]["hi"]
                    scaled = np.abs(truth - point) / scale[rows_, None]
                    covered = (lo <= truth) & (truth <= hi)
                    for h in range(LATER_WEEKS):
                        seen = ~np.isnan(truth[:, h])
                        expected.append({"app": app, "quantity": quantity, "horizon": h + 1, "level": level,
                                         "series": series, "n": int(seen.sum()), "mase": scaled[seen, h].mean(),
                                         "coverage": covered[seen, h].mean()})
    expected = pd.DataFrame(expected).sort_values(["app", "quantity", "horizon", "level", "series"], ignore_index=True)
    view = read(url, "SELECT * FROM forecast_accuracy_by_horizon").sort_values(
        ["app", "quantity", "horizon", "level", "series"], ignore_index=True)
    assert len(view) == len(expected) == 2 * 4 * 13 * 2 * 2
    assert (view["n"].to_numpy() == expected["n"].to_numpy()).all() and (view["vintages"] == 1).all()
    np.testing.assert_allclose(view["mase"], expected["mase"], rtol=1e-9)
    np.testing.assert_allclose(view["coverage"], expected["coverage"], rtol=1e-12)


def _wide(panel: pd.DataFrame, app: str, markets: list[str], weeks: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """quantity -> markets x weeks from a panel file, and the markets together as the last row."""
    rows = panel[panel["app"] == app].assign(minutes=lambda d: d["dau"] * d["time_spent_min"] * 7.0)
    out = {}
    for column in ("rollout_share", "time_spent_min", "dau", "minutes", "ad_revenue_usd"):
        out[column] = rows.pivot(index="market", columns="week", values=column).reindex(
            index=markets, columns=weeks).to_numpy(dtype=float)
    for quantity in ADDITIVE:
        out[quantity] = np.vstack([out[quantity], out[quantity].sum(axis=0, keepdims=True)])  # NaN if any is missing
    out["time_spent_min"] = np.vstack([out["time_spent_min"], out["minutes"][-1:] / (7.0 * out["dau"][-1:])])
    return out


def test_all_rows_are_the_sum_of_the_market_rows(vintages):
    url = vintages["url"]
    sums = read(url, f"""
        SELECT f.model_version, f.scenario_id, f.week, f.quantity, f.level,
               MAX(CASE WHEN market = 'ALL' THEN status_quo END) AS all_status_quo,
               SUM(CASE WHEN market <> 'ALL' THEN status_quo END) AS sum_status_quo,
               MAX(CASE WHEN market = 'ALL' THEN scenario END) AS all_scenario,
               SUM(CASE WHEN market <> 'ALL' THEN scenario END) AS sum_scenario
        FROM forecasts f WHERE quantity IN ({", ".join(f"'{q}'" for q in ADDITIVE)})
        GROUP BY 1, 2, 3, 4, 5""")
    scenarios = read(url, "SELECT COUNT(*) AS n FROM scenarios")["n"][0]
    assert len(sums) == scenarios * 26 * len(ADDITIVE) * 2      # every (scenario, week, quantity, level)
    np.testing.assert_allclose(sums["all_status_quo"], sums["sum_status_quo"], rtol=1e-9)
    np.testing.assert_allclose(sums["all_scenario"], sums["sum_scenario"], rtol=1e-9)
    attribution = read(url, """
        SELECT model_version, app, week,
               MAX(CASE WHEN market = 'ALL' THEN observed_minutes END) AS all_observed,
               SUM(CASE WHEN market <> 'ALL' THEN observed_minutes END) AS sum_observed,
               MAX(CASE WHEN market = 'ALL' THEN incremental_ad_revenue_usd END) AS all_revenue,
               SUM(CASE WHEN market <> 'ALL' THEN incremental_ad_revenue_usd END) AS sum_revenue,
               MAX(CASE WHEN market = 'ALL' THEN ad_revenue_usd_via_engagement + ad_revenue_usd_direct END) AS split
        FROM attribution GROUP BY 1, 2, 3""")
    np.testing.assert_allclose(attribution["all_observed"], attribution["sum_observed"], rtol=1e-9)
    np.testing.assert_allclose(attribution["all_revenue"], attribution["sum_revenue"], rtol=1e-9, atol=1e-3)
    np.testing.assert_allclose(attribution["split"], attribution["all_revenue"], rtol=1e-9, atol=1e-3)


def test_published_forecasts_equal_forecast_for_the_same_request_and_version(vintages):
    """The stored definition, sent to /forecast's answer with `interval` set to the row's level."""
    from training import answers
    from training.requests import ForecastRequest
    url = vintages["url"]
    model = load_version(vintages["env"], "2")
    chosen = read(url, "SELECT scenario_id, definition FROM scenarios WHERE model_version = '2' AND "
                       "scenario_id IN ('instagram.status_quo', 'facebook.full_now', 'facebook.full_now.JP')")
    assert len(chosen) == 3
    for scenario_id, definition in chosen.itertuples(index=False):
        stored = read(url, "SELECT * FROM forecasts WHERE model_version = '2' AND scenario_id = :s AND level = 0.9",
                      s=scenario_id)
        answer = answers.forecast(model, "2", ForecastRequest(**json.loads(definition), interval=0.9))
        served = pd.DataFrame([{"market": row["market"], "week": row["week"], "quantity": q,
                                "rollout_share": row["rollout_share"], "status_quo": row[q]["status_quo"],
                                "scenario": row[q]["scenario"], "lo": row[q]["lo"], "hi": row[q]["hi"]}
                               for row in answer["weekly"] for q in QUANTITIES])
        stored["week"] = stored["week"].astype(str)
        merged = served.merge(stored, on=["market", "week", "quantity"], suffixes=("_api", "_table"))
        assert len(merged) == len(served) == len(stored) == 13 * 26 * 4
        for column in ("status_quo", "scenario", "lo", "hi"):
            np.testing.assert_allclose(merged[f"{column}_table"], merged[f"{column}_api"], rtol=1e-12)
        np.testing.assert_allclose(merged["rollout_share_table"], merged["rollout_share_api"], atol=1e-6)


def test_duckdb_and_postgresql_hold_the_same_rows_for_the_same_publishes(vintages, small_model, tmp_path):
    """And an old PostgreSQL warehouse migrates in place as a DuckDB one does."""
    env = vintages["env"]
    with postgres_server() as postgres:
        impact(env, "publish", "--version", "1", "--warehouse", postgres, "--quiet")
        impact(env, "publish", "--warehouse", postgres, "--quiet")
        theirs, ours = snapshot(postgres), snapshot(vintages["url"])
        views = {name: read(postgres, f"SELECT * FROM {name}") for name in VIEWS}
        engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for database in ("fresh", "old_layout"):
                conn.exec_driver_sql(f"CREATE DATABASE {database}")
        engine.dispose()
        base = postgres.rsplit("/", 1)[0]
        migrates_to_the_same_forecasts(small_model["model"], f"{base}/fresh", f"{base}/old_layout")
    for name, frame in ours.items():
        other = theirs[name]
        assert len(frame) == len(other) and list(frame.columns) == list(other.columns), name
        for column in frame.columns:
            if column in ("published_at",):
                continue
            if pd.api.types.is_float_dtype(frame[column]):
                np.testing.assert_allclose(other[column], frame[column], rtol=1e-12, err_msg=f"{name}.{column}")
            else:
                assert (other[column].astype(str) == frame[column].astype(str)).all(), f"{name}.{column}"
    assert views["forecasts_latest"]["model_version"].unique().tolist() == ["2"]
    assert len(views["forecast_accuracy_by_horizon"]) == 2 * 4 * 13 * 2 * 2


def test_a_repeated_publish_replaces_only_its_own_rows_and_custom_scenarios_are_published(vintages, tmp_path):
    env, url = vintages["env"], vintages["url"]
    before = snapshot(url)
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text("brazil_india_january:\n  description: Instagram to 100% in BR and IN from January\n"
                         "  request: {app: instagram, horizon_weeks: 13,\n"
                         "            plan: [{week: 2027-01-04, share: 1.0, markets: [BR, IN]}]}\n")
    for _ in range(2):
        impact(env, "publish", "--scenarios", str(scenarios), "--quiet")
    after = snapshot(url)
    for name, keys in KEYS.items():
        old = before[name].loc[lambda d: d[keys[0]] == "1"]
        new = after[name].loc[lambda d: d[keys[0]] == "1"]
        if name != "model_versions":
            pd.testing.assert_frame_equal(old.reset_index(drop=True), new.reset_index(drop=True), obj=name)
        assert not after[name].duplicated(keys).any(), name
    assert after["model_versions"].query("version == '1'")["published_at"].tolist() == \
        before["model_versions"].query("version == '1'")["published_at"].tolist()
    custom = after["forecasts"].query("scenario_id == 'brazil_india_january'")
    assert len(custom) == 2 * (13 * 13 * 4) and set(custom["model_version"]) == {"2"}
    assert len(after["forecasts"]) == len(before["forecasts"]) + len(custom)
    stored = after["forecast_rows"].query("scenario_id == 'brazil_india_january'")     # BR, IN and ALL
    assert sorted(stored["market"].unique()) == ["ALL", "BR", "IN"] and len(stored) == 2 * (3 * 13 * 4)
    jan = custom.query("market == 'BR' and quantity == 'dau' and level == 0.9").sort_values("week")
    assert jan["rollout_share"].iloc[-1] == 1.0 and jan["rollout_share"].iloc[0] < 1.0


def test_a_publish_killed_midway_leaves_the_tables_as_they_were(vintages, tmp_path):
    """Killed once half its batches are done (forecast rows written by then: 40 custom scenarios of
    every market over 104 weeks are over 400,000 rows, ROWS_PER_WRITE at a time), uncommitted."""
    env, url = vintages["env"], vintages["url"]
    before = snapshot(url)
    markets = read(url, "SELECT DISTINCT market FROM forecast_rows WHERE scenario_id = 'facebook.status_quo' "
                        "AND market <> 'ALL' AND model_version = '2'")["market"].tolist()
    many = tmp_path / "many.json"
    many.write_text(json.dumps({f"every_market_{n}": {"request": {"app": "facebook", "markets": markets,
                                                                   "horizon_weeks": 104}} for n in range(40)}))
    process = subprocess.Popen([IMPACT, "publish", "--scenarios", str(many)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    seen, deadline, half = b"", time.time() + 120, None
    while time.time() < deadline and half is None:
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
        bar = re.search(rb"(\d+)/(\d+) \[[^]]*forecast_rows\]$", seen.split(b"\r")[-1])
        half = bar if bar and 2 * int(bar[1]) >= int(bar[2]) else None
    assert half is not None, seen.decode(errors="replace")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    after = snapshot(url)
    for name in KEYS:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def test_an_unreachable_warehouse_or_a_bad_scenario_file_fails_in_one_line_and_writes_nothing(vintages, tmp_path):
    from testkit.local import free_port
    env, url = vintages["env"], vintages["url"]
    before = snapshot(url)
    down = impact(env, "publish", "--warehouse", f"postgresql+psycopg://impact@127.0.0.1:{free_port()}/x", check=False)
    assert down.returncode == 1 and down.stderr.count("\n") == 1, down.stderr
    assert down.stderr.startswith("error: warehouse postgresql+psycopg://impact@127.0.0.1:")
    assert "is unavailable" in down.stderr and "nothing was published" in down.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"launch": {"request": {"app": "facebook", "horizon_weeks": 200}}}))
    refused = impact(env, "publish", "--scenarios", str(bad), check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "launch.request.horizon_weeks: Input should be less than or equal to 104" in refused.stderr
    for name in KEYS:
        pd.testing.assert_frame_equal(before[name], snapshot(url)[name], obj=name)


def test_a_scenario_the_model_cannot_answer_is_refused_by_name_before_anything_is_written(small_model, tmp_path):
    from training.warehouse.scenarios import ScenarioFileError, read_scenarios
    path = tmp_path / "scenarios.yaml"
    path.write_text("launch:\n  request: {app: facebook, markets: [ZZ]}\n"
                    "late:\n  request: {app: facebook, horizon_weeks: 4, plan: [{week: 2030-01-07, share: 1}]}\n")
    with pytest.raises(ScenarioFileError, match=r"launch\.request\.markets: unknown market\(s\) ZZ for facebook"):
        read_scenarios(path, small_model["model"])
    path.write_text("late:\n  request: {app: facebook, horizon_weeks: 4, plan: [{week: 2030-01-07, share: 1}]}\n")
    with pytest.raises(ScenarioFileError, match=r"late\.request\.plan\[0\]\.week: 2030-01-07 is after the last "
                                                 r"forecast week"):
        read_scenarios(path, small_model["model"])


def test_an_older_schema_is_migrated_in_place_keeping_its_rows(tmp_path):
    url = f"duckdb:///{tmp_path / 'old.duckdb'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE model_versions (version TEXT PRIMARY KEY, run_id TEXT)")
        conn.exec_driver_sql("INSERT INTO model_versions VALUES ('0', 'old-run')")
        changes = migrate(conn)
    with engine.connect() as conn:
        columns = [r[0] for r in conn.execute(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'model_versions'"))]
        kept = conn.execute(sa.text("SELECT version, run_id, levels FROM model_versions")).all()
        views = conn.execute(sa.text("SELECT COUNT(*) FROM forecast_accuracy_by_horizon")).scalar()
    engine.dispose()
    assert "added model_versions.levels" in changes and "created forecast_rows" in changes
    assert set(columns) == {c.name for c in METADATA.tables["model_versions"].columns}
    assert kept == [("0", "old-run", None)] and views == 0


def test_rows_grow_linearly_a_one_market_scenario_stores_its_market_and_all_and_the_view_gives_every_market(vintages):
    url = vintages["url"]
    stored = read(url, """SELECT s.kind, s.stored_markets, COUNT(DISTINCT r.market) AS series, COUNT(*) AS n
                          FROM forecast_rows r JOIN scenarios s USING (model_version, scenario_id)
                          WHERE r.model_version = '2' GROUP BY 1, 2, r.scenario_id""")
    one_market = stored.query("kind == 'market_full_now'")
    assert (one_market["stored_markets"] == "moved").all() and (one_market["series"] == 2).all()
    assert (one_market["n"] == 2 * 26 * 4 * 2).all()          # the market and ALL, 26 weeks, 4 quantities, 2 levels
    every = stored.query("kind == 'status_quo'")["series"]          # the forecastable markets and ALL
    assert every.nunique() == 1 and every.iloc[0] > 10
    viewed = read(url, """SELECT f.scenario_id, MAX(s.horizon_weeks) AS weeks, COUNT(DISTINCT f.market) AS series,
                                 COUNT(*) AS n
                          FROM forecasts f JOIN scenarios s USING (model_version, scenario_id)
                          WHERE f.model_version = '2' GROUP BY 1""")
    assert (viewed["series"] == every.iloc[0]).all()
    assert (viewed["n"] == every.iloc[0] * viewed["weeks"] * 4 * 2).all()


def old_warehouse(url: str, forecasts: pd.DataFrame, scenarios: pd.DataFrame) -> None:
    """A warehouse as releases before `forecast_rows` wrote it: every market's rows of every
    scenario in a table `forecasts` (its values named `baseline` and `planned`, as before issue
    29), and scenarios without `stored_markets` and `horizon_weeks`."""
    from training.warehouse.publish import write
    from training.warehouse.tables import FORECAST_ROWS, RENAMED_COLUMNS, SCENARIOS
    old = sa.MetaData()
    before = {new: old_name for old_name, new in RENAMED_COLUMNS["forecast_rows"].items()}
    forecasts = forecasts.rename(columns=before)
    tables = [sa.Table("forecasts", old, *[sa.Column(before.get(c.name, c.name), c.type, primary_key=c.primary_key)
                                           for c in FORECAST_ROWS.columns]),
              sa.Table("scenarios", old, *[sa.Column(c.name, c.type, primary_key=c.primary_key) for c in SCENARIOS.columns
                                           if c.name not in ("stored_markets", "horizon_weeks")])]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        old.create_all(conn)
        for table, rows in zip(tables, (forecasts, scenarios)):
            write(conn, table, rows)
    engine.dispose()


def migrates_to_the_same_forecasts(model, new_url: str, old_url: str) -> None:
    """Publish `model` to `new_url`; write its every-market rows the old way to `old_url`; migrate
    that: the table is renamed, the full-rollout scenarios' rows equal to the status quo's go, and
    `forecasts` and `scenarios` read as the new publish's."""
    import datetime as dt

    from training.warehouse.publish import VersionInfo, publish
    publish(new_url, model, VersionInfo("1", "run-1", dt.datetime(2026, 11, 1), "1"), levels=(0.9,), horizon_weeks=4)
    every_row = read(new_url, "SELECT * FROM forecasts")
    scenarios = read(new_url, "SELECT * FROM scenarios")
    old_warehouse(old_url, every_row, scenarios.drop(columns=["stored_markets", "horizon_weeks"]))
    engine = sa.create_engine(old_url)
    with engine.begin() as conn:
        changes = migrate(conn)
    engine.dispose()
    stored = read(new_url, "SELECT COUNT(*) AS n FROM forecast_rows")["n"][0]
    assert "renamed forecasts to forecast_rows" in changes
    assert {"renamed forecast_rows.baseline to status_quo", "renamed forecast_rows.planned to scenario"} <= set(changes)
    assert f"compacted forecast_rows: {len(every_row) - stored:,} rows equal to the status quo's deleted" in changes
    assert read(old_url, "SELECT COUNT(*) AS n FROM forecast_rows")["n"][0] == stored < len(every_row) / 3
    pd.testing.assert_frame_equal(read(old_url, "SELECT * FROM scenarios").sort_values("scenario_id", ignore_index=True),
                                  scenarios.sort_values("scenario_id", ignore_index=True))
    keys = KEYS["forecasts"]
    pd.testing.assert_frame_equal(read(old_url, "SELECT * FROM forecasts").sort_values(keys, ignore_index=True),
                                  every_row.sort_values(keys, ignore_index=True))


def test_a_warehouse_of_every_market_rows_is_migrated_in_place_to_the_same_forecasts(small_model, tmp_path):
    migrates_to_the_same_forecasts(small_model["model"], f"duckdb:///{tmp_path / 'new.duckdb'}",
                                   f"duckdb:///{tmp_path / 'old.duckdb'}")


def test_a_rollback_moves_the_latest_views_to_the_promoted_vintage(small_model, tmp_path):
    """Publishing an older version as champion again (what `impact promote` does on a rollback)
    points `forecasts_latest` at it and leaves the newer vintage's rows in place."""
    import datetime as dt

    from training.warehouse.publish import VersionInfo, publish
    url = f"duckdb:///{tmp_path / 'rollback.duckdb'}"
    model = small_model["model"]
    for version, champion in (("1", "1"), ("2", "2"), ("1", "1")):
        publish(url, model, VersionInfo(version, f"run-{version}", dt.datetime(2026, 11, int(version)), champion),
                levels=(0.9,), horizon_weeks=4)
    flags = read(url, "SELECT version, is_champion FROM model_versions ORDER BY version")
    assert flags["is_champion"].tolist() == [True, False]
    assert read(url, "SELECT DISTINCT model_version FROM forecasts_latest")["model_version"].tolist() == ["1"]
    counts = read(url, "SELECT model_version, COUNT(*) AS n FROM forecasts GROUP BY 1 ORDER BY 1")
    assert counts["n"].tolist()[0] == counts["n"].tolist()[1] > 0
