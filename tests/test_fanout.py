"""A fit fanned out over apps gives the serial fit bit for bit: on local worker processes, and on
a real Dask cluster (scheduler and worker processes on loopback) reached by its address."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from data import simulate_world
from tests.helpers import IMPACT, small_spec
from training.model.estimator import ImpactModel
from training.model.fanout import ClusterError, cluster, in_background
from testkit.compare import same_content, saved_content
from training.model.persist import save_model
from testkit.local import free_port


@pytest.fixture(scope="module")
def panel():
    return simulate_world(seed=3, spec=small_spec()).panel


def saved(model: ImpactModel, folder: Path) -> tuple[dict, dict]:
    return saved_content(save_model(model, folder))


def assert_same_fit(one: tuple[dict, dict], other: tuple[dict, dict]) -> None:
    assert len(one[0]) > 30 and same_content(one, other) == []


def test_a_fit_on_worker_processes_and_on_a_dask_cluster_equals_the_serial_fit_bit_for_bit(panel, tmp_path):
    from distributed import Client, LocalCluster, get_task_stream
    serial = saved(ImpactModel(n_bootstrap=50, backtest_origins=3, n_jobs=1).fit(panel), tmp_path / "serial")
    processes = saved(ImpactModel(n_bootstrap=50, backtest_origins=3, n_jobs=2).fit(panel), tmp_path / "processes")
    assert_same_fit(serial, processes)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as local, Client(local) as watcher:
        with get_task_stream(watcher) as stream, cluster(local.scheduler_address) as address:
            assert address == local.scheduler_address
            on_dask = ImpactModel(n_bootstrap=50, backtest_origins=3, n_jobs=-1).fit(panel)
        with get_task_stream(watcher) as background_stream:     # as `impact train` fits: in a thread of its own
            fitting = in_background(local.scheduler_address, ImpactModel(n_bootstrap=50, backtest_origins=3,
                                                                         n_jobs=-1).fit, panel)
            in_a_thread = fitting.result(timeout=300)
        workers = set(watcher.scheduler_info()["workers"])
    apps = panel["app"].nunique()
    for tasks in (stream.data, background_stream.data):    # per app: its bootstrap table, its searched max-t, its fit
        assert len(tasks) == 3 * apps and {task["worker"] for task in tasks} <= workers
    assert_same_fit(serial, saved(on_dask, tmp_path / "dask"))
    assert_same_fit(serial, saved(in_a_thread, tmp_path / "dask_in_a_thread"))


def test_an_unreachable_scheduler_is_one_error_before_anything_runs(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ClusterError, match=f"the Dask scheduler at {address} is unreachable"):
        with cluster(address):
            pass
    env = {**os.environ, "IMPACT_HOME": str(tmp_path / "impact"), "BENTOML_HOME": str(tmp_path / "bentoml"),
           "DASK_SCHEDULER_ADDRESS": address}
    env.pop("MLFLOW_TRACKING_URI", None)
    panel_file = tmp_path / "panel.parquet"
    simulate_world(seed=1, spec=small_spec()).panel.to_parquet(panel_file)
    result = subprocess.run([IMPACT, "train", "--data", str(panel_file), "--quiet"], capture_output=True, text=True,
                            timeout=120, env=env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: the Dask scheduler at {address} is unreachable") and "nothing was trained" in lines[0]
