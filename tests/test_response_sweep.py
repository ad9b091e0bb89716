"""Issue 26's acceptance over 24 worlds of six response designs (slow: `make test-slow`; the same
sweep with its tables is `python bench/response_curves.py`).

Per world the last 26 weeks are held back and played forward by the simulator: (a) every market
to share 1, (b) each partially rolled-out market alone to 1, each also fitted as an oracle given
the true shape; the rollout-step backtest on the history; and the optimiser with a serving cost
between the 25th and 75th percentiles of the markets' true value per exposed DAU-week.
The points the model does not meet yet are strict expected failures, their measured figures in
the reason: they fail loudly the day they pass.
"""

from __future__ import annotations

import pandas as pd
import pytest
from joblib import Parallel, delayed

from data.simulator import RESPONSES, WorldSpec, response_effects
from testkit.evaluation import optimiser_on_response_world, response_cases, step_backtest_cases

pytestmark = pytest.mark.slow
SEEDS = (1, 2, 3, 4)
STEP_SEEDS = tuple(range(1, 13))     # every history holds the same four steps: seeds multiply the distinct cases


def worlds(score, seeds: tuple[int, ...] = SEEDS, **kwargs) -> pd.DataFrame:
    return pd.concat(Parallel(n_jobs=2)(delayed(score)(seed, WorldSpec(effects=response_effects(name)), **kwargs)
                                        for name in RESPONSES for seed in seeds), ignore_index=True)


@pytest.fixture(scope="module")
def cases():
    both = pd.concat([worlds(response_cases), worlds(response_cases, oracle=True)], ignore_index=True)
    return both.assign(held=(both["lo_90"] <= both["truth"]) & (both["truth"] <= both["hi_90"]),
                       centred=(both["lo_50"] <= both["point"]) & (both["point"] <= both["hi_50"]),
                       abs_error=both["error"].abs())


def median_errors(cases: pd.DataFrame, case: str) -> pd.DataFrame:
    rows = cases[cases["case"] == case]
    table = rows.groupby(["response", "quantity", "oracle"])["abs_error"].median().unstack("oracle")
    return table.rename(columns={False: "model", True: "oracle"})


def test_every_point_lies_inside_its_own_50_percent_band(cases):
    model = cases[~cases["oracle"]]
    assert model["centred"].mean() >= 0.9, model.groupby("response")["centred"].mean()


@pytest.mark.xfail(strict=True, reason="case (a) is within 10% but for ad revenue on default worlds (13.9%) and "
                                      "market_varied (16.6% / 17.5%): bench/RESULTS.md 'Response curves'")
def test_every_market_to_1_is_within_10_percent_per_design(cases):
    errors = median_errors(cases, "all")
    assert (errors["model"] <= 0.10).all(), errors


@pytest.mark.xfail(strict=True, reason="case (b) is within 10% on threshold worlds only (default 27-29%, saturating "
                                      "15-25%, linear 15-18%, slow_carryover 10-12%); the oracle gets 1.5-4.8%")
def test_one_partial_market_to_1_is_within_10_percent_or_1_5_times_the_oracle_per_design(cases):
    errors = median_errors(cases, "step").drop(index="market_varied", level="response")
    assert ((errors["model"] <= 0.10) | (errors["model"] <= 1.5 * errors["oracle"])).all(), errors


def test_the_90_percent_band_of_every_market_to_1_holds_85_to_95_percent(cases):
    held = cases[(cases["case"] == "all") & ~cases["oracle"]]["held"].mean()
    assert 0.85 <= held <= 0.95, held


def test_the_90_percent_band_of_one_partial_market_to_1_holds_at_least_80_percent(cases):
    rows = cases[(cases["case"] == "step") & ~cases["oracle"]]
    assert rows["held"].mean() >= 0.8, rows.groupby("response")["held"].mean()


@pytest.fixture(scope="module")
def steps():
    return worlds(step_backtest_cases, STEP_SEEDS)


def test_the_rollout_step_backtest_holds_its_own_coverage_for_minutes(steps):
    minutes = steps[steps["quantity"] == "minutes"]
    held = minutes["covered"].mean()
    assert len(minutes) >= 72 * 4 and 0.8 <= held <= 0.97, minutes.groupby("response")["covered"].mean()


def test_the_rollout_step_backtest_holds_its_own_coverage(steps):
    """Pooled over both quantities and 72 worlds (on 24, 16 distinct steps per design: 97.4%)."""
    held = steps["covered"].mean()
    assert len(steps) >= 72 * 8 and 0.8 <= held <= 0.97, steps.groupby(["response", "quantity"])["covered"].mean()


@pytest.mark.xfail(strict=True, reason="market_varied seed 2, WhatsApp: 86.9% of the true best, which the informed "
                                      "planner reaches (99.9%): the finishing steps of partially launched markets "
                                      "(DE, FR, ES, IT) are undervalued, case (b)'s error. Seed 1's 88.5% is an "
                                      "information limit (the informed planner earns 89.1%). Every other design: "
                                      "worst 91.2%, medians at least 99.7%")
def test_the_optimiser_earns_at_least_90_percent_of_what_can_be_known_in_every_design():
    """At least 90% of the true best plan's net value in every design (median 95%); where markets'
    effects differ, of the informed planner's (every true effect but those of the markets the
    history never exposed, which no history shows)."""
    plans = worlds(optimiser_on_response_world)
    plans = plans.assign(of_knowable=plans["share_of_best"] / plans["informed_share_of_best"])
    by_design = plans.groupby("response")["of_knowable"]
    assert (by_design.min() >= 0.9).all() and (by_design.median() >= 0.95).all(), by_design.describe()
    assert (plans.loc[plans["response"] != "market_varied", "informed_share_of_best"] == 1).all()
