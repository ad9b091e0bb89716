"""The rollout-plan optimiser (issue 14): optimal on the paths, right against the world played
forward, consistent with /forecast, and refusing what it cannot answer.

The model is the default world's less its last 26 weeks (`heldback_model`), so the simulator can
play any plan forward over the weeks the model never saw.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from data.simulator import WorldSpec
from training import answers
from testkit.evaluation import exposure_cap, optimised_against_truth, value_per_exposed_dau_week
from training.model.scenario import plan_shares
from training.requests import ForecastRequest, OptimiseRequest, PlanPoint, RequestError, parse
from training.optimiser import optimise
from training.optimiser.candidates import MAX_CANDIDATES, build_candidates, ramp_weeks, share_row
from training.optimiser.optimiser import prepare
from training.optimiser.program import cvar

SIX = ["US", "BR", "IN", "DE", "JP", "GB"]


def chosen_starts(answer: dict) -> dict[str, str]:
    return {row["market"]: row["start_week"] for row in answer["by_market"] if row["start_week"] is not None}


# ---------------------------------------------------------------------- candidates

def test_a_candidate_ramps_at_the_allowed_pace_and_its_plan_points_rebuild_its_shares(heldback_model):
    assert ramp_weeks(0.2, 1.0, 0.25) == 4 and ramp_weeks(0.2, 1.0, 1.0) == 1 and ramp_weeks(0.9, 0.5, 0.1) == 1
    np.testing.assert_allclose(share_row(0.2, 1.0, 2, 4, 8), [0.2, 0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0])
    markets = ["BR", "IN"]
    weeks = heldback_model.forecast_weeks("instagram", 10)
    quo = heldback_model.status_quo("instagram", 10, markets)
    candidates = build_candidates(markets, quo[:, 0], 10, [0.5, 1.0], 0.1, True, {"IN": 3}, set())
    assert (candidates.start[candidates.market == 1] >= 3).all()            # IN: no rise before its earliest week
    for c in range(len(candidates)):
        assert (np.diff(np.concatenate([[quo[candidates.market[c], 0]], candidates.shares[c]])) <= 0.1 + 1e-12).all() \
            or candidates.level[c] < quo[candidates.market[c], 0]            # rises at most max_step a week
        points = candidates.points(np.array([c]), weeks)
        rebuilt = plan_shares(quo, markets, weeks, points)
        np.testing.assert_array_equal(rebuilt[candidates.market[c]], candidates.shares[c])
    no_decrease = build_candidates(markets, quo[:, 0], 10, [0.5, 1.0], 1.0, False, {}, {"BR"})
    assert set(no_decrease.level) == {1.0} and set(no_decrease.market) == {1}   # BR fixed; 0.5 is below IN's share


def test_start_weeks_thin_out_when_markets_weeks_and_levels_exceed_the_candidate_budget():
    markets = [f"M{i}" for i in range(32)]
    candidates = build_candidates(markets, np.zeros(32), 104, [0.25, 0.5, 1.0], 1.0, False, {}, set())
    assert candidates.start_every == 3 and len(candidates) <= MAX_CANDIDATES
    assert candidates.start.min() == 0


# ---------------------------------------------------------------------- the model query behind it

def test_a_plans_value_is_the_sum_of_its_markets_rows_path_by_path(heldback_model):
    """plan_values on each market's row adds up to /forecast's incremental totals: the point mean
    exactly, the band to float32 precision (the same joint paths; the paths' levels are float32,
    about 1e-7 relative, and an increment is about a hundredth of its level, so 3e-4 relative)."""
    app, markets, horizon = "instagram", ["BR", "IN", "JP"], 13
    weeks = heldback_model.forecast_weeks(app, horizon)
    shares = plan_shares(heldback_model.status_quo(app, horizon, markets), markets, weeks,
                         [PlanPoint(week=str(weeks[2].date()), share=1.0)])
    rows = heldback_model.plan_values(app, shares, markets, 0.8)
    forecast = heldback_model.forecast(app, shares, markets, 0.8).totals
    for quantity in ("minutes", "ad_revenue_usd"):
        incremental = forecast[quantity]["incremental"]
        assert rows.incremental[quantity].sum() == pytest.approx(incremental["mean"], rel=1e-12)
        lo, hi = np.quantile(rows.incremental_paths[quantity].sum(axis=0), [0.1, 0.9])
        assert lo == pytest.approx(incremental["lo"], rel=3e-4) and hi == pytest.approx(incremental["hi"], rel=3e-4)


# ---------------------------------------------------------------------- optimality

def _enumerate_best(ready, risk) -> tuple[float, dict[str, int]]:
    """Every plan of the candidates (each market: one candidate or none) under the launch limit; the
    best objective and its start weeks."""
    candidates, valuation, limit = ready.candidates, ready.valuation, ready.limits.max_launches_per_week
    options = [np.concatenate([[-1], candidates.of_market(i)]) for i in range(len(candidates.markets))]
    plans = np.array(list(itertools.product(*options)))
    rises = np.vstack([candidates.rises, np.zeros(candidates.rises.shape[1], bool)])    # row -1: no candidate
    feasible = plans[(rises[plans].sum(axis=1) <= limit).all(axis=1)]
    value = np.append(valuation.net, 0.0)
    paths = np.vstack([valuation.net_paths, np.zeros(valuation.net_paths.shape[1])])
    best, best_plan = -np.inf, None
    for chunk in np.array_split(feasible, max(1, len(feasible) // 20_000)):
        scores = value[chunk].sum(axis=1) if risk == "mean" else cvar(paths[chunk].sum(axis=1), risk)
        if scores.max() > best:
            best, best_plan = scores.max(), chunk[scores.argmax()]
    return best, {candidates.markets[candidates.market[c]]: int(candidates.start[c]) for c in best_plan if c >= 0}


@pytest.mark.parametrize("risk", ["mean", 0.1])
def test_the_solvers_plan_is_the_best_of_every_plan_on_the_same_paths(heldback_model, risk):
    """6 markets x 8 start weeks x 1 level (9^6 = 531,441 plans) under a launch limit of 2 a week,
    with a cost that makes some markets not worth it: the solver's plan is exhaustive enumeration's."""
    cost = value_per_exposed_dau_week(heldback_model, "instagram")
    request = OptimiseRequest(app="instagram", markets=SIX, horizon_weeks=8, risk=risk,
                              cost={"per_exposed_dau_week_usd": {"low": 0.5 * cost, "high": 1.5 * cost}},
                              constraints={"max_launches_per_week": 2})
    ready = prepare(heldback_model, request)
    assert len(ready.candidates) == 6 * 8
    best, best_starts = _enumerate_best(ready, risk)
    answer = optimise(heldback_model, request)
    weeks = ready.problem.weeks
    assert chosen_starts(answer) == {m: str(weeks[s].date()) for m, s in best_starts.items()}
    achieved = answer["value"]["net"]["mean"] if risk == "mean" else answer["value"]["net_at_risk"]["cvar"]
    assert achieved == pytest.approx(best, rel=1e-9)
    assert 0 < len(best_starts) < 6 and answer["solver"]["status"] == "optimal"


def test_a_cost_above_every_markets_value_keeps_the_status_quo_and_zero_cost_launches_everything_at_once(heldback_model):
    expensive = 10 * value_per_exposed_dau_week(heldback_model, "facebook", quantile=1.0)
    answer = optimise(heldback_model, OptimiseRequest(
        app="facebook", cost={"per_exposed_dau_week_usd": {"low": expensive, "high": 2 * expensive}}))
    assert answer["plan"] == [] and answer["value"]["net"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0}
    free = optimise(heldback_model, OptimiseRequest(app="facebook"))
    open_markets = [m for m, s in zip(heldback_model.markets("facebook", forecastable=True),
                                      heldback_model.status_quo("facebook", 1)[:, 0]) if s < 1]
    first = free["first_week"]
    assert chosen_starts(free) == {m: first for m in open_markets}
    everything = next(a for a in free["alternatives"] if a["name"] == "everything_now")
    assert everything["plan"] == free["plan"] and everything["regret"]["mean"] == 0.0


def test_forecast_on_the_returned_plan_gives_the_optimisers_incremental_mean(heldback_model):
    cost = value_per_exposed_dau_week(heldback_model, "instagram")
    answer = answers.optimise(heldback_model, "1", OptimiseRequest(
        app="instagram", horizon_weeks=39, constraints={"max_launches_per_week": 3, "max_step": 0.25},
        cost={"per_exposed_dau_week_usd": {"low": cost, "high": cost}}))
    assert any(row["ramp_weeks"] and row["ramp_weeks"] > 1 for row in answer["by_market"])
    request = answer["forecast_request"]
    forecast = answers.forecast(heldback_model, "1", ForecastRequest(**request))
    incremental = forecast["totals"]["ad_revenue_usd"]["incremental"]
    assert incremental["mean"] == pytest.approx(answer["value"]["incremental"]["mean"], rel=0.005)
    assert incremental["lo"] == pytest.approx(answer["value"]["incremental"]["lo"], rel=0.005)
    assert answer["value"]["net"]["mean"] == pytest.approx(incremental["mean"] - answer["value"]["cost"]["mean"])


def test_a_cautious_planner_gets_a_plan_with_a_better_bad_case(heldback_model):
    """Maximising the worst 10% of the paths' mean (CVaR) never does worse there than the mean's plan."""
    cost = value_per_exposed_dau_week(heldback_model, "instagram")
    body = dict(app="instagram", horizon_weeks=13, cost={"per_exposed_dau_week_usd": {"low": 0.5 * cost, "high": 2 * cost}})
    by_mean = optimise(heldback_model, OptimiseRequest(**body))
    cautious = optimise(heldback_model, OptimiseRequest(**body, risk=0.1))
    ready = prepare(heldback_model, OptimiseRequest(**body))
    of_mean = np.array([c for c in range(len(ready.candidates))
                        if chosen_starts(by_mean).get(ready.candidates.markets[ready.candidates.market[c]])
                        == str(ready.problem.weeks[ready.candidates.start[c]].date())])
    assert cautious["value"]["net_at_risk"]["cvar"] >= cvar(ready.valuation.net_paths[of_mean].sum(axis=0), 0.1) - 1e-6
    assert cautious["value"]["net"]["mean"] <= by_mean["value"]["net"]["mean"] + 1e-6
    assert 0.0 <= cautious["probability_best"] <= 1.0


# ---------------------------------------------------------------------- against the truth

CONSTRAINT_SETS = {
    "launch limit": lambda model, app: {"constraints": {"max_launches_per_week": 2}},
    "capacity cap": lambda model, app: {"constraints": {"max_exposed_dau": exposure_cap(model, app)}},
    "costly": lambda model, app: {"cost": {"per_exposed_dau_week_usd": {
        "low": 0.8 * (value := value_per_exposed_dau_week(model, app)), "high": 1.2 * value}}},
}


@pytest.mark.parametrize("app", ["facebook", "instagram"])
@pytest.mark.parametrize("constraint_set", list(CONSTRAINT_SETS))
def test_the_chosen_plan_played_forward_is_near_the_true_best_and_beats_every_alternative(heldback_model, app,
                                                                                          constraint_set):
    """The simulator plays the chosen plan forward over the 26 held-back weeks (same noise): its true
    net value is at least 95% of the true best plan's (every candidate valued by the world's own
    response, the same program) and above every feasible alternative's. The true serving cost is the
    middle of the range."""
    request = OptimiseRequest(app=app, horizon_weeks=26, **CONSTRAINT_SETS[constraint_set](heldback_model, app))
    held = optimised_against_truth(heldback_model, request, 0, WorldSpec())
    rivals = {name: a["true_net"] for name, a in held["alternatives"].items() if a["feasible"]}
    print(f"\n{app} {constraint_set}: chosen {held['chosen']:,.0f} = {held['share_of_best']:.4f} of the true best "
          f"{held['best']:,.0f}; " + ", ".join(f"{k} {v:,.0f}" for k, v in rivals.items()))
    assert held["share_of_best"] >= 0.95
    assert all(held["chosen"] > value for value in rivals.values()), rivals
    assert len(rivals) >= 2


# ---------------------------------------------------------------------- what it refuses

@pytest.mark.parametrize("body,fragment", [
    ({"app": "instagram", "constraints": {"earliest": {"XX": "2026-06-01"}}}, "constraints.earliest: XX is not among"),
    ({"app": "instagram", "constraints": {"earliest": {"DE": "2026-06-02"}}}, "constraints.earliest.DE: 2026-06-02 is a Tuesday"),
    ({"app": "instagram", "horizon_weeks": 4, "constraints": {"earliest": {"DE": "2026-09-07"}}},
     "is after the horizon's last week"),
    ({"app": "instagram", "constraints": {"fixed": ["ZZ"]}}, "constraints.fixed: ZZ is not among"),
    ({"app": "instagram", "markets": ["BR", "XX"]}, "markets: unknown market(s) XX"),
    ({"app": "tiktok"}, "app: unknown app 'tiktok'"),
    ({"app": "instagram", "markets": ["BR"], "constraints": {"fixed": ["BR"]}}, "no market can change"),
    ({"app": "instagram", "constraints": {"max_exposed_dau": 1000.0}}, "constraints.max_exposed_dau: 1,000 is below"),
])
def test_requests_the_model_cannot_answer_name_the_field(heldback_model, body, fragment):
    with pytest.raises(RequestError, match=None) as raised:
        optimise(heldback_model, OptimiseRequest(**body))
    assert fragment in str(raised.value), str(raised.value)


@pytest.mark.parametrize("body,fragment", [
    ({"constraints": {"target_shares": [1.2]}}, "constraints.target_shares[0]"),
    ({"constraints": {"target_shares": [0.5, 0.5]}}, "a share is listed twice"),
    ({"constraints": {"fixed": ["DE"], "earliest": {"DE": "2027-03-01"}}}, "fixed and earliest both name DE"),
    ({"constraints": {"max_step": 0.01}}, "constraints.max_step"),
    ({"cost": {"per_exposed_dau_week_usd": {"low": 0.3, "high": 0.1}}}, "low (0.3) is above high (0.1)"),
    ({"time_limit_seconds": 60}, "time_limit_seconds"),
    ({"risk": 0.9}, "risk"),
    ({"objective": "dau"}, "objective"),
])
def test_malformed_requests_are_refused_before_any_work(body, fragment):
    with pytest.raises(RequestError) as raised:
        parse(OptimiseRequest, {"app": "instagram", **body})
    assert fragment in str(raised.value)


def test_a_time_limit_returns_the_best_plan_found_with_its_status(heldback_model):
    cost = value_per_exposed_dau_week(heldback_model, "whatsapp")
    request = OptimiseRequest(app="whatsapp", horizon_weeks=52, risk=0.05, time_limit_seconds=0.1,
                              cost={"per_exposed_dau_week_usd": {"low": 0.5 * cost, "high": cost}},
                              constraints={"max_launches_per_week": 2, "max_exposed_dau": exposure_cap(heldback_model, "whatsapp")})
    answer = optimise(heldback_model, request)
    assert answer["solver"]["status"] == "time_limit"
    assert answer["solver"]["seconds"] < 5
    chosen = answer["value"]["net"]["mean"]
    feasible = [a["net"]["mean"] for a in answer["alternatives"] if a["feasible"]]
    assert chosen >= 0.0 and answer["plan"] is not None and feasible


def test_the_informed_planner_takes_only_the_never_exposed_markets_at_their_apps_effect(heldback_model):
    """The reference the optimiser is held to where markets' effects differ (testkit): a market the
    history exposed keeps its true gains; one it never exposed has them divided by its true effect
    multiplier, as a planner who cannot see that market's effect would value it."""
    from data.simulator import response_effects, simulate_world
    from testkit.evaluation import unseen_scale
    spec = WorldSpec(effects=response_effects("market_varied"))
    effect = simulate_world(seed=0, spec=spec).truth["market_effect"]["whatsapp"]
    markets = heldback_model.markets("whatsapp", forecastable=True)
    exposed = heldback_model.history("whatsapp", markets).groupby("market")["rollout_share"].max()
    scale = unseen_scale(heldback_model, "whatsapp", 0, spec)
    never = [m for m in markets if exposed.get(m, 0.0) == 0]
    assert 0 < len(never) < len(markets)
    assert all(scale[markets.index(m)] == pytest.approx(1 / effect[m]) for m in never)
    assert all(scale[markets.index(m)] == 1 for m in markets if m not in never)
    assert len({round(effect[m], 6) for m in never}) == len(never)      # the effects differ, so the scale matters
