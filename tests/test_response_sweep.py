"""Issue 26's acceptance over 24 worlds of six response designs (slow: `make test-slow`; the same
sweep with its tables is `python bench/response_curves.py`).

Per world the last 26 weeks are held back and played forward by the simulator: (a) every market
to share 1, (b) each partially rolled-out market alone to 1, each also fitted as an oracle given
the true shape; the rollout-step backtest on the history; and the optimiser with a serving cost
between the 25th and 75th percentiles of the markets' true value per exposed DAU-week. Where 10%
is beyond what a history allows, the median |error| is held to 1.5x an efficient estimate's on the
same cases (testkit/bound.py: the oracle the issue asks for, as its true-shape oracle knows what no
history tells).
The points the model does not meet yet are strict expected failures, their measured figures in
the reason: they fail loudly the day they pass.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest
from joblib import Parallel, delayed

from data.simulator import RESPONSES, WorldSpec, response_effects
from testkit.bound import beside_efficient_planner, bound_errors, information_bound, short_of_efficient
from testkit.evaluation import optimiser_on_response_world, response_cases, step_backtest_cases

pytestmark = pytest.mark.slow
SEEDS = (1, 2, 3, 4)
STEP_SEEDS = tuple(range(1, 13))     # every history holds the same four steps: seeds multiply the distinct cases
EFFICIENCY_SEEDS = tuple(range(1, 13))


def worlds(score, seeds: tuple[int, ...] = SEEDS, **kwargs) -> pd.DataFrame:
    return pd.concat(Parallel(n_jobs=2)(delayed(score)(seed, WorldSpec(effects=response_effects(name)), **kwargs)
                                        for name in RESPONSES for seed in seeds), ignore_index=True)


@pytest.fixture(scope="module")
def cases():
    both = pd.concat([worlds(response_cases), worlds(response_cases, oracle=True)], ignore_index=True)
    return both.assign(held=(both["lo_90"] <= both["truth"]) & (both["truth"] <= both["hi_90"]),
                       centred=(both["lo_50"] <= both["point"]) & (both["point"] <= both["hi_50"]),
                       abs_error=both["error"].abs())


def test_every_point_lies_inside_its_own_50_percent_band(cases):
    model = cases[~cases["oracle"]]
    assert model["centred"].mean() >= 0.9, model.groupby("response")["centred"].mean()


@pytest.fixture(scope="module")
def efficient(cases):
    """Per design, case and quantity over 12 worlds per design (a world has one shape, so its cases'
    errors move together and the worlds are the independent draws): the model's median |error|, an
    efficient estimate's on the same cases (what the history allows: testkit/bound.py), and the larger
    of 10% and 1.5x the latter."""
    more = worlds(response_cases, EFFICIENCY_SEEDS[len(SEEDS):])
    model = pd.concat([cases[~cases["oracle"]], more], ignore_index=True)
    errors = bound_errors(model, worlds(information_bound, EFFICIENCY_SEEDS))
    return errors.assign(held_to=np.maximum(0.10, 1.5 * errors["bound"]))


def by_design(expected_failures: dict[str, str], designs=tuple(RESPONSES)) -> list:
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=expected_failures[name]))
            if name in expected_failures else name for name in designs]


@pytest.mark.parametrize("response", by_design({}))
def test_every_market_to_1_is_within_10_percent_or_1_5_times_the_efficient_error(efficient, response):
    rows = efficient.xs(("all", response), level=("case", "response"))
    assert (rows["abs_error"] <= rows["held_to"]).all(), rows


@pytest.mark.parametrize("response", by_design({}, designs=tuple(name for name in RESPONSES if name != "market_varied")))
def test_one_partial_market_to_1_is_within_10_percent_or_1_5_times_the_efficient_error(efficient, response):
    """Where markets' effects differ, case (b) is held for its coverage only (as the issue asks)."""
    rows = efficient.xs(("step", response), level=("case", "response"))
    assert (rows["abs_error"] <= rows["held_to"]).all(), rows


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


@pytest.fixture(scope="module")
def plans():
    """The optimiser on every world, beside 16 planners with efficient estimates (testkit.bound.efficient_planner)
    where its plan earns under 90% of the true best, and in every case of the default response."""
    return pd.concat(Parallel(n_jobs=2)(
        delayed(optimiser_on_response_world)(seed, WorldSpec(effects=response_effects(name)), beside=partial(
            beside_efficient_planner, below=np.inf if name == "default" else 0.9))
        for name in RESPONSES for seed in SEEDS), ignore_index=True)


def test_the_optimiser_earns_at_least_90_percent_of_the_true_best_or_as_much_as_an_efficient_planner(plans):
    """At least 90% of the true best plan's net value in every case (median 95% per design); where a
    plan earns less, at least as much as a quarter of the efficient planners, where the history allows no better."""
    short = plans[plans["share_of_best"] < 0.9]
    assert (short["efficient_below_model"] >= 0.25).all(), short
    assert (plans.groupby("response")["share_of_best"].median() >= 0.95).all(), plans.groupby("response").median()


def test_the_optimiser_misses_95_percent_of_the_true_best_on_the_default_response_no_more_often_than_efficient_planners(plans):
    """The optimiser issue's 95% on default-response worlds. Plans made from efficient estimates miss it
    at some rate (1.9% over 12 worlds), so no estimator meets it in every case of a sweep: the cases under
    95% are held to the 95th percentile of a binomial count at the efficient planners' rate."""
    default = plans[plans["response"] == "default"]
    short = short_of_efficient(default)
    assert default["efficient_short"].notna().all() and short["missed"] <= short["allowed"], (short, default)
