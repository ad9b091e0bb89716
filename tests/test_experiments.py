"""Lift tests (issue 30): experiments as data, tests the simulated world really ran, and the
curve calibrated with them (the sweep over the response designs is `python bench/lift_tests.py`)."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from data.experiments import ExperimentsError, check_experiments, read_experiments
from data.exposure import lift_response
from data.simulator import WorldSpec, run_experiments, simulate_world
from tests.helpers import IMPACT, small_spec
from testkit.evaluation import held_out_world, high_share_tests, response_cases
from training.answers import experiments as listed_experiments
from training.model.persist import load_model, save_model

GOOD = {"app": "facebook", "market": "BR", "first_week": "2026-03-02", "last_week": "2026-04-20",
        "test_share": 1.0, "reference_share": 0.6, "lift_log_time": 0.004, "se_log_time": 0.001}


def write(tmp_path, rows: list[dict], name: str = "tests.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("change, message", [
    ({"market": "ZZ"}, "row 2, market: 'ZZ' is not one of facebook's markets"),
    ({"first_week": "2019-01-07"}, "row 2, first_week: 2019-01-07 is outside facebook BR's weeks in the panel (2021-01-04..2026-10-26)"),
    ({"se_log_time": -0.001}, "row 2, se_log_time: -0.001 is not a positive standard error"),
    ({"test_share": 1.2}, "row 2, test_share: 1.2 is outside 0..1"),
    ({"reference_share": 1.0}, "row 2, test_share: equals reference_share (1.0): the test compares nothing"),
    ({"first_week": "2026-03-03"}, "row 2, first_week: 2026-03-03 is a Tuesday; weeks start on Mondays"),
    ({"lift_log_dau": 0.001}, "row 2, se_log_dau: lift_log_dau and se_log_dau go together"),
    ({"lift_log_time": "high"}, "row 2, lift_log_time: 'high' is not a number"),
])
def test_a_bad_experiments_file_names_the_row_and_the_field(tmp_path, default_world, change, message):
    path = write(tmp_path, [GOOD, {**GOOD, **change}])
    with pytest.raises(ExperimentsError) as refused:
        check_experiments(read_experiments(path), default_world.panel, str(path))
    assert str(refused.value) == f"{path}: {message}"


def test_unknown_or_missing_columns_are_refused_and_yaml_reads_like_csv(tmp_path):
    with pytest.raises(ExperimentsError, match="unknown column lift_time"):
        read_experiments(write(tmp_path, [{**GOOD, "lift_time": 1}]))
    with pytest.raises(ExperimentsError, match="missing column se_log_time"):
        read_experiments(write(tmp_path, [{k: v for k, v in GOOD.items() if k != "se_log_time"}]))
    yaml_path = tmp_path / "tests.yaml"
    yaml_path.write_text("- " + "\n  ".join(f"{k}: {v}" for k, v in GOOD.items()) + "\n")
    pd.testing.assert_frame_equal(read_experiments(yaml_path), read_experiments(write(tmp_path, [GOOD])))


def test_impact_train_refuses_a_bad_file_with_exit_2_and_logs_nothing(tmp_path):
    world = simulate_world(seed=3, spec=small_spec()).write(tmp_path / "world")
    env = {**os.environ, "IMPACT_HOME": str(tmp_path / "impact"), "BENTOML_HOME": str(tmp_path / "bentoml")}
    env.pop("MLFLOW_TRACKING_URI", None)
    bad = write(tmp_path, [{**GOOD, "market": "ZZ"}])
    run = subprocess.run([IMPACT, "train", "--data", str(world["parquet"]), "--experiments", str(bad), "--quiet"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"error: --experiments {bad}: row 1, market: 'ZZ' is not one of "
                                               "facebook's markets"]
    assert not (tmp_path / "impact" / "mlflow.db").exists() and not (tmp_path / "bentoml").exists()


def test_a_simulated_test_measures_what_the_world_does_when_its_arms_are_played(tmp_path):
    """The truth of a simulated test is the world itself: the market played with the test arm's
    shares less the same market played with the reference's (same noise), log time per DAU
    averaged over the test's weeks; the measured lift is that plus noise of the reported size."""
    spec = WorldSpec()
    world = simulate_world(seed=2, spec=spec)
    first = pd.Timestamp("2026-05-04")
    tests, truth = run_experiments(world, spec, [{"app": "instagram", "market": "ES", "first_week": first, "weeks": 8}],
                                   seed=2)
    row = tests.iloc[0]
    weeks = pd.date_range(first, periods=8, freq="7D")
    played = {}
    for arm, share in (("test", row["test_share"]), ("reference", row["reference_share"])):
        rollout = pd.DataFrame({"app": "instagram", "market": "ES", "week": weeks, "rollout_share": share})
        panel = simulate_world(seed=2, spec=spec, rollout=rollout).panel
        one = panel[(panel["app"] == "instagram") & (panel["market"] == "ES") & panel["week"].isin(weeks)]
        played[arm] = np.log(one["time_spent_min"].to_numpy())
    true_lift = float(np.mean(played["test"] - played["reference"]))
    assert truth[0]["true_lift"]["log_time"] == pytest.approx(true_lift, abs=2e-5)   # the panel rounds to 4 decimals
    panel = world.panel
    share_then = panel[(panel["app"] == "instagram") & (panel["market"] == "ES") & (panel["week"] == first)]
    assert row["reference_share"] == round(float(share_then["rollout_share"].iloc[0]), 2) and row["test_share"] == 1.0
    draws = [run_experiments(world, spec, [{"app": "instagram", "market": "ES", "first_week": first, "weeks": 8}],
                             seed=s)[0].iloc[0] for s in range(200)]
    z = np.array([(d["lift_log_time"] - truth[0]["true_lift"]["log_time"]) / d["se_log_time"] for d in draws])
    assert abs(z.mean()) < 0.25 and 0.8 < z.std() < 1.2, (z.mean(), z.std())


def test_the_response_a_test_adds_is_what_the_curve_gives_its_two_arms():
    from data.exposure import rollout_response
    share = np.r_[np.zeros(20), np.full(40, 0.5)]
    arms = np.array([np.r_[share[:50], np.ones(10)], share])
    response = rollout_response(arms, 0.75, 0.35, 1.5)
    added = lift_response(np.array([share, share]), [50, 50], [57, 57], [1.0, 0.5], [0.5, 0.5], 0.75, 0.35, 1.5)
    assert added[0] == pytest.approx(np.mean(response[0, 50:58] - response[1, 50:58]), rel=1e-12)
    assert 0 < added[0] < 1 and added[1] == 0.0


@pytest.fixture(scope="module")
def calibrated():
    """The default world of seed 3, whose history puts the shape's truth at its posterior's edge,
    with three lift tests at high shares in the history's last 8 weeks."""
    spec = WorldSpec()
    tests, truth = high_share_tests(3, spec)
    return spec, tests, truth


def test_three_tests_at_high_shares_bring_finishing_a_rollout_close_to_the_truth(calibrated):
    """Case (b) of the response sweep (each partial market alone to 1, 26 weeks, played forward):
    without the tests its median error is over 25%; with them at most a third of that, and the
    90% bands still hold at least 80% of the cases."""
    spec, tests, _ = calibrated
    errors = {}
    for label, experiments in (("without", None), ("with", tests)):
        cases = response_cases(3, spec, experiments=experiments, n_bootstrap=100, backtest_origins=0)
        steps = cases[cases["case"] == "step"]
        errors[label] = float(steps["error"].abs().median())
        held = ((steps["lo_90"] <= steps["truth"]) & (steps["truth"] <= steps["hi_90"])).mean()
        assert held >= 0.8, (label, held)
    assert errors["without"] > 0.25 and errors["with"] <= errors["without"] / 3, errors


def test_a_test_five_standard_errors_off_is_left_out_reported_and_kept_in_the_model_file(calibrated, tmp_path):
    spec, tests, _ = calibrated
    wrong = tests.copy()
    wrong.loc[0, "lift_log_time"] += 5 * wrong.loc[0, "se_log_time"]
    model = held_out_world(3, spec, experiments=wrong, n_bootstrap=100, backtest_origins=0).model
    app = wrong.loc[0, "app"]
    listed = listed_experiments(model, app)
    first = next(t for t in listed if t["row"] == 1)
    assert abs(first["z"]) > 3 and first["used"] is False
    assert all(t["used"] for t in listed if t["row"] != 1)
    for test in listed:            # what the model predicts for each measured lift, with its band
        for band in test["after"].values():
            assert band["lo90"] <= band["estimate"] <= band["hi90"]
    loaded = load_model(save_model(model, tmp_path / "model"))
    pd.testing.assert_frame_equal(loaded.experiment_predictions(app), model.experiment_predictions(app))


def test_impact_train_logs_the_tests_as_a_dataset_with_their_predictions(tmp_path):
    """`impact simulate --experiments` writes tests the world ran; `impact train --experiments`
    logs the file as the run's second dataset, a table of each test's predictions, and tags."""
    import mlflow
    env = {**os.environ, "IMPACT_HOME": str(tmp_path / "impact"), "BENTOML_HOME": str(tmp_path / "bentoml")}
    env.pop("MLFLOW_TRACKING_URI", None)
    simulated = subprocess.run([IMPACT, "simulate", "--out", str(tmp_path / "world"), "--seed", "3", "--experiments", "4"],
                               env=env, capture_output=True, text=True, timeout=300)
    assert simulated.returncode == 0, simulated.stderr
    tests = tmp_path / "world" / "experiments.csv"
    assert len(read_experiments(tests)) == 4
    run = subprocess.run([IMPACT, "train", "--data", str(tmp_path / "world" / "panel.parquet"), "--experiments", str(tests),
                          "--quiet", "--no-publish", "--set", "n_bootstrap=50", "--set", "backtest_origins=2"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/impact/mlflow.db")
    client = mlflow.MlflowClient()
    (logged,) = client.search_runs([client.get_experiment_by_name("engagement-impact").experiment_id])
    contexts = {tag.value for d in logged.inputs.dataset_inputs for tag in d.tags if tag.key == "mlflow.data.context"}
    assert contexts == {"training", "experiments"}
    assert logged.data.tags["experiments.count"] == "4" and logged.data.tags["experiments.used"] == "4"
    table = pd.read_csv(client.download_artifacts(logged.info.run_id, "tables/experiments.csv", str(tmp_path)))
    assert len(table) == 4 and {"before", "z", "after_log_time", "after_log_time_lo", "after_log_time_hi"} <= set(table.columns)
