"""Designing the next lift test (issue 30, part 4): candidates ranked by how much their result would
narrow a decision's interval, with their standard error, power and cost (the refits that check the
expected narrowing over many worlds are `python bench/design_test.py`)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from data.simulator import WorldSpec, run_experiments
from tests.helpers import IMPACT
from testkit.evaluation import partial_markets
from training import answers
from training.design_test import expected_narrowing, greedy_set, joint_narrowing, power
from training.model.persist import save_model
from training.requests import DesignTestRequest, OptimiseRequest, RequestError, parse

APP = "instagram"


def request(model, **fields) -> DesignTestRequest:
    body = {"app": APP, "decision": {"finish": partial_markets(model, APP)[:3]}, "durations_weeks": [6]} | fields
    return parse(DesignTestRequest, body)


@pytest.fixture(scope="module")
def designed(heldback_model):
    return answers.design_test(heldback_model, "1", request(heldback_model, test_shares=[0.5, 1.0],
                                                            durations_weeks=[4, 8], tests=3))


def test_expected_narrowing_is_the_gaussian_update_of_the_decision_on_the_result():
    """D = L + u with var L = var u = 1, read with se = 1: rho^2 = 1 / (2 x 2), so the interval narrows
    by 1 - sqrt(3/4); a test that says nothing of D narrows nothing; two tests of independent halves
    of D together narrow it more than either."""
    rng = np.random.default_rng(0)
    lift, other, noise = rng.standard_normal((3, 200_000))
    assert expected_narrowing(lift + noise, lift[None], np.array([1.0]))[0] == pytest.approx(1 - np.sqrt(0.75), abs=0.005)
    assert expected_narrowing(lift + noise, other[None], np.array([1.0]))[0] < 0.001
    both = np.stack([lift, other])
    decision = lift + other
    one = expected_narrowing(decision, both, np.array([0.1, 0.1]))
    together = joint_narrowing(decision, both, np.array([0.1, 0.1]))
    assert together > one.max() + 0.3 and together == pytest.approx(1 - np.sqrt(1 - 2 / 2 * (1 / 1.01)), abs=0.01)
    chosen, narrowing = greedy_set(decision, np.stack([lift, lift, other]), np.full(3, 0.1), np.array([0, 0, 1]),
                                   np.arange(3), 2)
    assert sorted(chosen) == [0, 2] and narrowing == pytest.approx(together, abs=1e-9)    # one test per market
    assert power(np.array([0.0]), np.array([1.0]))[0] == pytest.approx(0.05, abs=1e-9)
    assert power(np.array([2.8]), np.array([1.0]))[0] == pytest.approx(0.80, abs=0.01)


def test_candidates_are_ranked_by_narrowing_then_cost_with_the_best_set_in_distinct_markets(designed):
    table = designed["candidates"]
    assert [row["rank"] for row in table] == list(range(1, len(table) + 1))
    narrowing = [round(row["narrowing"], 4) for row in table]
    assert narrowing == sorted(narrowing, reverse=True) and narrowing[0] > 0.05
    assert designed["best"] == table[0] and designed["runner_up"] == table[1]
    chosen = designed["chosen"]
    assert len({t["market"] for t in chosen["tests"]}) == 3 and chosen["narrowing"] >= table[0]["narrowing"]
    assert chosen["expected_width"] == pytest.approx(designed["decision"]["width"] * (1 - chosen["narrowing"]))
    for row in table:
        lift = row["predicted_lift"]
        assert lift["lo"] <= lift["mean"] <= lift["hi"] and 0 <= row["power"] <= 1 and row["standard_error"] > 0
        assert row["cost"]["lo"] <= row["cost"]["hi"]


def test_the_decision_and_a_tests_cost_are_the_response_curves_values(heldback_model, designed):
    """Finishing markets is worth the sum of their response curves at share 1; a test arm at 1 in a
    finished market forgoes nothing and its reference arm, at the current share, forgoes the value of
    share 1 over the test's weeks, so the test costs arm_share x that."""
    finish = designed["decision"]["markets"]
    curves = [heldback_model.response_curve(APP, m, 26, 0.9, 2)["ad_revenue_usd"]["mean"][-1] for m in finish]
    assert designed["decision"]["net"]["mean"] == pytest.approx(sum(curves), rel=1e-9)
    row = next(r for r in designed["candidates"] if r["market"] == finish[0] and r["test_share"] == 1.0)
    value = heldback_model.response_curve(APP, finish[0], row["weeks"], 0.9, 2)["ad_revenue_usd"]["mean"][-1]
    assert row["cost"]["mean"] == pytest.approx(0.01 * value, rel=1e-9)


def test_a_designed_test_reads_with_the_standard_error_it_expects(heldback_model, default_world):
    """The best candidate run 300 times in the world (the weeks after the model's history): its
    results spread as its standard error says (within 20%), and its predicted band holds the truth."""
    answer = answers.design_test(heldback_model, "1", request(heldback_model))
    best = answer["best"]
    test = {"app": APP, "market": best["market"], "first_week": pd.Timestamp(best["first_week"]), "weeks": best["weeks"],
            "test_share": best["test_share"], "reference_share": best["reference_share"]}
    results, truth = run_experiments(default_world, WorldSpec(), [test] * 300, 0)
    assert results["lift_log_time"].std() == pytest.approx(best["standard_error"], rel=0.2)
    assert best["predicted_lift"]["lo"] <= truth[0]["true_lift"]["log_time"] <= best["predicted_lift"]["hi"]


@pytest.mark.parametrize("fields, message", [
    ({"decision": {}}, "decision: give exactly one of finish (markets) and optimise (an /optimise body)"),
    ({"decision": {"finsh": ["BR"]}}, "decision.finsh: unknown field; did you mean finish?"),
    ({"decision": {"optimise": {"app": APP}, "horizon_weeks": 13}},
     "decision: horizon_weeks: belongs in optimise (the decision's own request) when optimise is given"),
    ({"durations_weeks": [30]}, "durations_weeks[0]: Input should be less than or equal to 26"),
    ({"test_shares": [1, 1]}, "body: test_shares: a value is listed twice"),
    ({"arm_share": 0.8}, "arm_share: Input should be less than or equal to 0.5"),
])
def test_a_bad_request_names_its_field(heldback_model, fields, message):
    with pytest.raises(RequestError) as caught:
        answers.design_test(heldback_model, "1", request(heldback_model, **fields))
    assert str(caught.value) == message


def test_a_request_the_model_cannot_answer_names_its_field(heldback_model):
    """Candidates whose test arm equals the reference arm are listed as skipped, not silently dropped;
    when every one is, the request is refused."""
    unlaunched = [m for m in heldback_model.markets(APP, forecastable=True)
                  if heldback_model.status_quo(APP, 1, [m])[0, 0] == 0.0][:2]
    with pytest.raises(RequestError, match="^decision.optimise.app: facebook is not the request's app"):
        answers.design_test(heldback_model, "1", request(heldback_model, decision={"optimise": {"app": "facebook"}}))
    with pytest.raises(RequestError, match="^test_shares: every candidate's test arm equals its reference arm"):
        answers.design_test(heldback_model, "1", request(heldback_model, markets=unlaunched, test_shares=[0.0]))
    answer = answers.design_test(heldback_model, "1", request(heldback_model, markets=unlaunched, test_shares=[0.0, 1.0]))
    assert {s["market"] for s in answer["skipped"]} == set(unlaunched) and len(answer["candidates"]) == 2
    assert all(row["reference_share"] == 0.0 and row["test_share"] == 1.0 for row in answer["candidates"])


def test_an_optimise_decision_tests_what_the_optimisers_plan_depends_on(heldback_model):
    body = {"app": APP, "horizon_weeks": 13, "constraints": {"max_launches_per_week": 2}, "time_limit_seconds": 5}
    answer = answers.design_test(heldback_model, "1", request(heldback_model, decision={"optimise": body}))
    plan = answers.optimise(heldback_model, "1", parse(OptimiseRequest, body))
    assert answer["decision"]["kind"] == "optimise"
    assert answer["decision"]["net"]["mean"] == pytest.approx(plan["value"]["net"]["mean"], rel=1e-9)
    assert sorted(answer["decision"]["markets"]) == sorted(m["market"] for m in plan["by_market"] if m["start_week"])


def test_impact_design_test_prints_the_best_and_writes_the_answer_or_exits_2(heldback_model, tmp_path):
    model_dir = save_model(heldback_model, tmp_path / "model")
    finish = ",".join(partial_markets(heldback_model, APP)[:3])
    out = tmp_path / "design.json"
    run = subprocess.run([IMPACT, "design-test", "--model", str(model_dir), "--app", APP, "--finish", finish,
                          "--durations-weeks", "6", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    written = json.loads(out.read_text())
    expected = answers.design_test(heldback_model, "1", request(heldback_model))
    assert written["best"] == json.loads(json.dumps(expected["best"]))
    assert f"run {expected['best']['market']} at" in run.stdout
    bad = subprocess.run([IMPACT, "design-test", "--model", str(model_dir), "--app", APP, "--finish", "ZZ"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("error: decision.finish: unknown market(s) ZZ for instagram")
    missing = subprocess.run([IMPACT, "design-test", "--model", str(model_dir), "--app", APP],
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "give --finish MARKETS or --optimise-request FILE" in missing.stderr
