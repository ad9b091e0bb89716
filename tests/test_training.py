"""`impact train` end to end: MLflow run, registry, promotion gate, BentoML import, rollback.

Every command runs as a real process against a throwaway tracking store and BentoML home.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import IMPACT, small_spec
from testkit.local import free_port, stop, wait_ready

FAST = ["--set", "n_bootstrap=50", "--set", "backtest_origins=3"]
NO_PUBLISH = "--no-publish"     # publishing has its own tests (tests/test_warehouse.py); a server run keeps it


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    from data import simulate_world
    paths = simulate_world(seed=3, spec=small_spec()).write(tmp_path_factory.mktemp("world"))
    broken = paths["csv"].parent / "broken.csv"
    lines = paths["csv"].read_text().splitlines()
    header = lines[0].split(",")
    row = lines[500].split(",")
    row[header.index("rollout_share")] = "1.7"
    broken.write_text("\n".join(lines[:500] + [",".join(row)] + lines[501:]) + "\n")
    return {"good": paths["parquet"], "broken": broken}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("state")
    env = {**os.environ, "IMPACT_HOME": str(root / "impact"), "BENTOML_HOME": str(root / "bentoml")}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def impact(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([IMPACT, *args], env=env, capture_output=True, text=True, timeout=600)


def mlflow_client(env: dict):
    import mlflow
    uri = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{env['IMPACT_HOME']}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient()


def champion(env: dict) -> str:
    return str(mlflow_client(env).get_model_version_by_alias("engagement-impact", "champion").version)


def bento_tags(env: dict) -> list[str]:
    out = subprocess.run([sys.executable, "-c", "import bentoml; print('\\n'.join(str(m.tag) for m in bentoml.models.list()))"],
                         env=env, capture_output=True, text=True, timeout=120)
    return sorted(out.stdout.split())


def test_train_registers_promotes_and_guards_the_champion(small_world, home):
    first = impact(home, "train", "--data", str(small_world["good"]), "--quiet", *FAST, NO_PUBLISH)
    assert first.returncode == 0, first.stderr
    assert "model version 1" in first.stdout and "promoted to champion" in first.stdout
    assert "mlflow ui --backend-store-uri" in first.stdout
    client = mlflow_client(home)
    assert champion(home) == "1"
    run = client.get_run(client.get_model_version("engagement-impact", "1").run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["gate.promote"] == "true" and "seasonal-naive" in run.data.tags["gate.reason"]
    assert run.data.params["data_sha256"] and run.data.params["rows"] == str(2 * 12 * 304)
    assert run.data.metrics["facebook.backtest_mase_minutes_13w"] < run.data.metrics["facebook.seasonal_naive_mase_minutes_13w"]
    assert "instagram.effect_log_time_lo90" in run.data.metrics and "fit_seconds.backtest" in run.data.metrics
    logged = client.search_logged_models([run.info.experiment_id])      # the run's metrics, linked to its model
    assert len(logged) == 1 and {m.key for m in logged[0].metrics} == set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    drawn = Path(client.download_artifacts(run.info.run_id, "plots", str(Path(home["IMPACT_HOME"]).parent)))
    assert all(png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000 for png in drawn.iterdir())
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {f"plots/{app}_{kind}.png" for app in ("facebook", "instagram")
            for kind in ("dose_response", "event_study", "attribution", "backtest")} <= artifacts
    tables = {a.path for a in client.list_artifacts(run.info.run_id, "tables")}
    assert "tables/facebook_event_study.csv" in tables and "tables/instagram_attribution_by_market.csv" in tables
    assert "tables/step_backtest.csv" in tables and "plots/step_backtest.png" in artifacts   # the rollout-step backtest
    assert "rollout steps" in run.data.tags["gate.step_backtest"] and "rollout steps" in first.stdout
    assert bento_tags(home) == ["engagement-impact:1"]
    check_run_reads_like_what_was_trained(client, run, small_world["good"])

    # bad data: one line, exit 2, a FAILED run, nothing registered, the champion untouched
    broken = impact(home, "train", "--data", str(small_world["broken"]), "--quiet", *FAST, NO_PUBLISH)
    assert broken.returncode == 2
    assert broken.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "rollout_share_range" in broken.stderr and "Traceback" not in broken.stderr
    failed = client.search_runs([run.info.experiment_id], "attributes.status = 'FAILED'")
    assert len(failed) == 1 and failed[0].data.tags["data.valid"] == "false"
    assert len(client.search_model_versions("name='engagement-impact'")) == 1 and champion(home) == "1"

    # a good run that backtests worse (a 60-week baseline window) is registered, not promoted
    worse = impact(home, "train", "--data", str(small_world["good"]), "--quiet", *FAST, NO_PUBLISH,
                   "--set", "baseline_fit_weeks=60")
    assert worse.returncode == 0, worse.stderr
    assert "model version 2" in worse.stdout and "not promoted" in worse.stdout
    tags = client.get_run(client.get_model_version("engagement-impact", "2").run_id).data.tags
    assert tags["gate.promote"] == "false" and float(tags["gate.new_mase"]) > float(tags["gate.champion_mase_on_new_data"])
    assert champion(home) == "1" and bento_tags(home) == ["engagement-impact:1"]

    # by hand: promote version 2, then roll back to 1
    assert impact(home, "promote", "2", NO_PUBLISH).returncode == 0
    assert champion(home) == "2" and bento_tags(home) == ["engagement-impact:1", "engagement-impact:2"]
    listing = impact(home, "models")
    assert listing.returncode == 0 and "0." in listing.stdout
    assert impact(home, "promote", "1", NO_PUBLISH).returncode == 0 and champion(home) == "1"
    missing = impact(home, "promote", "9")
    assert missing.returncode == 2 and "cannot promote version 9" in missing.stderr
    check_pyfunc(home)


def check_run_reads_like_what_was_trained(client, run, data: Path) -> None:
    """In the MLflow UI: the run is named after its data and window, its description states the
    gate's decision and headline figures, and the panel is its training dataset."""
    import hashlib
    import json
    assert run.info.run_name == f"{data.name} 2021-01-04..2026-10-26"
    description = run.data.tags["mlflow.note.content"]
    assert description.startswith("**Model version 1: promoted to champion**") and "backtest MASE at 13 weeks" in description
    [dataset_input] = run.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.name == data.name and dataset.digest == hashlib.sha256(data.read_bytes()).hexdigest()[:16]
    assert str(data.resolve()) in dataset.source
    assert json.loads(dataset.profile)["num_rows"] == 2 * 12 * 304
    assert {c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]} >= {"week", "app", "market", "dau"}
    assert dataset_input.tags[0].value == "training"
    report = json.loads(Path(client.download_artifacts(run.info.run_id, "validation_report.json")).read_text())
    assert report["ok"] and report["left_out"] == []


def check_pyfunc(env: dict) -> None:
    """The champion as an MLflow pyfunc forecasts scenario rows, one output row per input row."""
    import mlflow
    import pandas as pd
    mlflow_client(env)
    model = mlflow.pyfunc.load_model("models:/engagement-impact@champion")
    rows = pd.DataFrame({"app": ["instagram", "instagram", "facebook"], "market": ["BR", "BR", "US"],
                         "week": ["2026-11-09", "2026-11-16", "2026-11-02"], "rollout_share": [1.0, 1.0, 0.0]})
    out = model.predict(rows, params={"interval": 0.8})
    assert list(out["market"]) == ["BR", "BR", "US"] and len(out) == 3
    assert (out["minutes_lo"] < out["minutes_scenario"]).all() and (out["minutes_scenario"] < out["minutes_hi"]).all()
    assert out.loc[2, "minutes_scenario"] < out.loc[2, "minutes_status_quo"]        # a withdrawal lowers minutes


def test_train_against_a_real_mlflow_server(small_world, tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(tmp_path / "artifacts"),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if not wait_ready(f"http://127.0.0.1:{port}", server, path="/health"):
            pytest.fail("mlflow server did not start")
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}",
               "IMPACT_HOME": str(tmp_path / "impact"), "BENTOML_HOME": str(tmp_path / "bentoml")}
        result = impact(env, "train", "--data", str(small_world["good"]), "--quiet", *FAST)
        assert result.returncode == 0, result.stderr
        assert champion(env) == "1" and "published version 1" in result.stdout     # the model read back from the server
        assert not (tmp_path / "impact" / "mlflow.db").exists()            # nothing went to the embedded store
        assert any((tmp_path / "artifacts").rglob("arrays.npz"))             # the server stored the model files
    finally:
        stop(server)


def test_a_database_tracking_uri_keeps_artifacts_under_impact_home(small_world, tmp_path):
    """MLFLOW_TRACKING_URI naming a database (not the embedded one, not a server): the artifacts
    go to IMPACT_HOME/mlartifacts, never to mlruns/ in the folder the command runs in."""
    workdir = tmp_path / "somewhere"
    workdir.mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'elsewhere.db'}",
           "IMPACT_HOME": str(tmp_path / "impact"), "BENTOML_HOME": str(tmp_path / "bentoml")}
    result = subprocess.run([IMPACT, "train", "--data", str(small_world["good"]), "--quiet", "--no-promote", *FAST],
                            env=env, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert list(workdir.iterdir()) == []
    assert any((tmp_path / "impact" / "mlartifacts").rglob("arrays.npz"))


def test_a_failed_import_leaves_the_registry_and_the_store_agreeing(small_world, tmp_path):
    """Promotion moves the alias, then imports; when the import fails the alias moves back and the
    store keeps what it had, so a restart serves the champion the registry names."""
    root = tmp_path / "state"
    env = {**os.environ, "IMPACT_HOME": str(root / "impact"), "BENTOML_HOME": str(root / "bentoml")}
    env.pop("MLFLOW_TRACKING_URI", None)
    assert impact(env, "train", "--data", str(small_world["good"]), "--quiet", *FAST, NO_PUBLISH).returncode == 0
    assert impact(env, "train", "--data", str(small_world["good"]), "--quiet", "--no-promote", *FAST,
                  NO_PUBLISH).returncode == 0
    assert champion(env) == "1" and bento_tags(env) == ["engagement-impact:1"]
    blocked = {**env, "BENTOML_HOME": str(tmp_path / "not-a-folder")}
    (tmp_path / "not-a-folder").write_text("a file where the store should be")
    failed = impact(blocked, "promote", "2")
    assert failed.returncode != 0
    assert champion(env) == "1" and bento_tags(env) == ["engagement-impact:1"]
    missing = impact(env, "promote", "9")                  # the alias cannot move: the store is untouched
    assert missing.returncode == 2 and bento_tags(env) == ["engagement-impact:1"] and champion(env) == "1"

    # the registry can be read but not written (another writer holds it): the alias cannot move,
    # so nothing is imported and a restarted service still serves the champion the registry names
    lock = sqlite3.connect(root / "impact" / "mlflow.db", check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")
    try:
        locked = impact(env, "promote", "2")
    finally:
        lock.rollback()
        lock.close()
    assert locked.returncode != 0 and "Traceback" not in locked.stderr, locked.stderr[-2000:]
    assert len(locked.stderr.strip().splitlines()) == 1 and "locked" in locked.stderr
    assert champion(env) == "1" and bento_tags(env) == ["engagement-impact:1"]
