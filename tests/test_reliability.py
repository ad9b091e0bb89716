"""Issue 7: fuzzed API, hostile training data, tampered model files, tracking-store faults.

Soak load and a worker killed under load take minutes: `bench/soak.py`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import IMPACT, small_spec
from testkit.local import free_port, start_service, stop

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
FAST = ["--quiet", "--no-publish", "--set", "n_bootstrap=50", "--set", "backtest_origins=3"]


def test_fuzzing_the_openapi_schema_never_gets_a_server_error_nor_accepts_an_unknown_field(small_model, tmp_path):
    """Schemathesis generates valid and invalid bodies from the served OpenAPI document (invalid
    ones include bodies with fields the schema does not declare): no 5xx, every status documented,
    and no 200 for a body the schema refuses. Its recorded traffic shows it did send unknown fields,
    and that each got a 400."""
    import json
    process, url = start_service({**os.environ, "BENTOML_HOME": str(small_model["home"])})
    try:
        run = subprocess.run([SCHEMATHESIS, "run", f"{url}/docs.json", "--mode", "all",
                              "--checks", "not_a_server_error,status_code_conformance,negative_data_rejection",
                              "--max-examples", "40", "--seed", "7", "--no-color", "--report", "har",
                              "--report-dir", str(tmp_path / "report")],
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)   # its cache stays out of the repo
        assert run.returncode == 0, run.stdout[-3000:]
        assert " passed" in run.stdout and "failures" not in run.stdout.split("Test cases:")[-1].split("\n")[1]
        assert httpx.get(f"{url}/readyz").status_code == 200
        document = httpx.get(f"{url}/docs.json").json()
        declared = {path: set(operation["post"]["requestBody"]["content"]["application/json"]["schema"].get(
                        "properties", {})) for path, operation in document["paths"].items()
                    if "requestBody" in operation.get("post", {})}
        unknown = []
        for har in (tmp_path / "report").iterdir():
            for entry in json.loads(har.read_text())["log"]["entries"]:
                path = "/" + entry["request"]["url"].rsplit("/", 1)[-1]
                try:
                    body = json.loads(entry["request"].get("postData", {}).get("text") or "null")
                except ValueError:
                    continue
                if path in declared and isinstance(body, dict) and set(body) - declared[path]:
                    unknown.append((path, entry["response"]["status"]))
        assert len({path for path, _ in unknown}) >= 3, unknown
        assert all(status == 400 for _, status in unknown), unknown
    finally:
        stop(process)


# ---------------------------------------------------------------------- hostile training data

@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tracking store with a champion (v1) trained on a small world, and that world's CSV."""
    from data import simulate_world
    root = tmp_path_factory.mktemp("hostile")
    paths = simulate_world(seed=4, spec=small_spec()).write(root / "world")
    env = {**os.environ, "IMPACT_HOME": str(root / "impact"), "BENTOML_HOME": str(root / "bentoml")}
    env.pop("MLFLOW_TRACKING_URI", None)
    first = subprocess.run([IMPACT, "train", "--data", str(paths["parquet"]), *FAST], env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    return {"env": env, "csv": paths["csv"], "root": root}


def hostile_files(csv: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, the rule its one-line error names)."""
    good = pd.read_csv(csv)
    lines = csv.read_text().splitlines()
    files = {}

    def write(name: str, frame: pd.DataFrame, rule: str) -> None:
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        files[name] = (path, rule)

    def edit(column: str, row: int, value) -> pd.DataFrame:
        frame = good.copy().astype({column: object})
        frame.loc[row, column] = value
        return frame

    (folder / "empty.csv").write_bytes(b"")
    files["empty file"] = (folder / "empty.csv", "file_format")
    (folder / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    files["not CSV or Parquet"] = (folder / "binary.csv", "file_format")
    write("missing column", good.drop(columns=["dau"]), "required_columns")
    write("mixed types", edit("dau", 100, "many"), "column_types")
    write("missing value", edit("time_spent_min", 100, None), "missing_or_infinite")
    write("bad app id", edit("app", 100, "Face Book!"), "app_id")
    write("unknown market", edit("market", 100, "XX"), "market_code")
    write("not a Monday", edit("week", 100, "2021-01-05"), "week_monday")
    write("share above 1", edit("rollout_share", 100, 1.7), "rollout_share_range")
    write("negative dau", edit("dau", 100, -5.0), "dau_range")
    write("huge time spent", edit("time_spent_min", 100, 1e12), "time_spent_range")
    write("huge revenue", edit("ad_revenue_usd", 100, 1e300), "ad_revenue_range")
    write("duplicate rows", pd.concat([good, good.iloc[[100]]]), "unique_rows")
    write("a missing week", good.drop(index=range(100, 101)), "contiguous_weeks")
    write("too short", good[good["week"] >= "2025-06-01"], "fewer than min_weeks=104")
    schema = pa.table({"week": pa.array([1, 2]), "app": pa.array([1.5, 2.5])})
    pq.write_table(schema, folder / "wrong_schema.parquet")
    files["Parquet with a wrong schema"] = (folder / "wrong_schema.parquet", "required_columns")
    big = folder / "big.csv"                     # about 50 MB of good rows, then one bad row near the end
    with open(big, "w") as out:
        out.write(lines[0] + "\n")
        body = "\n".join(lines[1:]) + "\n"
        while out.tell() < 50_000_000:
            out.write(body)
        row = lines[-1].split(",")
        row[lines[0].split(",").index("rollout_share")] = "-0.2"
        out.write(",".join(row) + "\n")
    files["50 MB with a bad row near the end"] = (big, "rollout_share_range")
    return files


def test_hostile_panels_end_in_one_line_and_leave_the_registry_alone(store, tmp_path):
    import mlflow
    env = store["env"]
    uri = f"sqlite:///{env['IMPACT_HOME']}/mlflow.db"
    client = mlflow.MlflowClient(uri, uri)
    for name, (path, rule) in hostile_files(store["csv"], tmp_path).items():
        run = subprocess.run([IMPACT, "train", "--data", str(path), *FAST], env=env, capture_output=True, text=True,
                             timeout=600)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2, (name, run.stderr[-2000:])
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in run.stderr, (name, lines)
        assert rule in lines[0], (name, lines[0])
    assert len(client.search_model_versions("name='engagement-impact'")) == 1
    assert client.get_model_version_by_alias("engagement-impact", "champion").version in ("1", 1)
    failed = client.search_runs([client.get_experiment_by_name("engagement-impact").experiment_id],
                                "attributes.status = 'FAILED'")
    assert len(failed) == 17


# ---------------------------------------------------------------------- faults

def test_tampered_model_files_are_refused_with_a_message(small_model, tmp_path):
    home = tmp_path / "bentoml"
    shutil.copytree(small_model["home"], home)
    arrays = next(home.rglob("arrays.npz"))
    data = bytearray(arrays.read_bytes())
    data[len(data) // 2] ^= 0xFF                                   # one flipped byte
    arrays.write_bytes(bytes(data))
    process, url = start_service({**os.environ, "BENTOML_HOME": str(home)})
    try:
        assert httpx.get(f"{url}/readyz").status_code == 503
        answer = httpx.post(f"{url}/forecast", json={"app": "facebook"})
        assert answer.status_code == 503 and "checksum mismatch" in answer.json()["error"]
    finally:
        stop(process)


def test_a_locked_or_unreachable_tracking_store_fails_cleanly_and_a_rerun_succeeds(store):
    env = store["env"]
    data = str(store["csv"])
    down = {**env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    run = subprocess.run([IMPACT, "train", "--data", data, *FAST], env=down, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1 and run.stderr.strip().splitlines()[-1].startswith("error: tracking store http://")
    assert "Traceback" not in run.stderr

    database = Path(env["IMPACT_HOME"]) / "mlflow.db"
    lock = sqlite3.connect(database, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(120, lock.rollback)
    release.start()
    try:
        run = subprocess.run([IMPACT, "train", "--data", data, *FAST], env=env, capture_output=True, text=True,
                             timeout=600)
    finally:
        release.cancel()
        lock.rollback()
        lock.close()
    assert run.returncode == 1, run.stderr[-2000:]
    assert "locked" in run.stderr and "Traceback" not in run.stderr
    import mlflow
    uri = f"sqlite:///{database}"
    client = mlflow.MlflowClient(uri, uri)
    before = len(client.search_model_versions("name='engagement-impact'"))
    rerun = subprocess.run([IMPACT, "train", "--data", data, *FAST], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert len(client.search_model_versions("name='engagement-impact'")) == before + 1
