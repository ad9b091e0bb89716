"""The rollout-plan optimiser: which plan to run, net of its serving cost, and how sure it is.

`optimise(model, request)` reads a fitted `ImpactModel` through its public queries only:

1. `check_request`: the request against the model (markets, `earliest`, `fixed`, horizon).
2. `build_candidates`: every market's moves (start week, target share, ramp) as share rows.
3. `value_candidates`: `ImpactModel.plan_values` on every candidate row and the status quo's
   rows, in one call: what each candidate adds over its market's status quo, on the point
   forecast and on every joint sample path (plan and status quo on the same paths). The net
   value is the incremental objective less the serving cost of the exposure the plan adds over
   the status quo (cost per exposed DAU-week drawn per path, stratified, between low and high);
   with `minutes` the cost is reported but not subtracted.
4. `program.solve`: the mixed-integer program (HiGHS) on the point values (`risk="mean"`) or
   on the paths' CVaR (`risk=q`), under the launch limit and the exposure cap.
5. The plan held against the alternatives and a runner-up (the best other plan, by a no-good
   cut), path by path: regret, the probability that the plan is best.

Every `mean` in the answer is the point forecast's, as in /forecast (so /forecast on the plan
gives the same incremental mean); `lo` and `hi` are the `interval` band of the paths.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from training.model.estimator import ImpactModel
from training.model.queries import RowValues
from training.model.paths import interval
from training.model.scenario import parse_week
from training.optimiser import alternatives
from training.optimiser.candidates import Candidates, build_candidates
from training.optimiser.program import SOLVER, Limits, Solution, cvar, solve, violations
from training.requests import Cost, OptimiseRequest, RequestError, check_horizon, field, markets_of

RUNNER_UP_GAP = 0.01          # the runner-up is the best other plan proven within 1% (it only measures how close a call it is)
COST_SEED = 20261129          # the per-path cost draws are fixed, so a question always gets one answer
ALTERNATIVES = {
    "status_quo": "every market keeps its current share",
    "everything_now": "every market to the highest target share in its first allowed week",
    "largest_first": "markets in order of DAU, each as soon as the launch limit and the exposure cap allow",
}


@dataclass
class Problem:
    """A checked request: the markets a plan may change, the forecast weeks, their status quo."""

    request: OptimiseRequest
    markets: list[str]
    weeks: pd.DatetimeIndex
    status_quo: np.ndarray       # markets: the current share
    dau: np.ndarray              # markets: DAU in the first forecast week (status quo), the order of largest_first
    earliest: dict[str, int]     # market -> first week index a rise may start


@dataclass
class Valuation:
    """Per candidate: incremental objective, serving cost and net value (point: candidates;
    paths: candidates x paths), and the exposed DAU it adds per week (point forecast)."""

    incremental: np.ndarray
    incremental_paths: np.ndarray
    cost: np.ndarray
    cost_paths: np.ndarray
    added_exposure: np.ndarray
    net_subtracts_cost: bool

    @cached_property
    def net(self) -> np.ndarray:
        return self.incremental - self.cost if self.net_subtracts_cost else self.incremental

    @cached_property
    def net_paths(self) -> np.ndarray:
        return self.incremental_paths - self.cost_paths if self.net_subtracts_cost else self.incremental_paths

    def of(self, selection: np.ndarray) -> dict[str, tuple[float, np.ndarray]]:
        """A plan's (point, paths) of incremental, cost and net: the sums of its candidates."""
        return {name: (float(point[selection].sum()), paths[selection].sum(axis=0))
                for name, point, paths in (("incremental", self.incremental, self.incremental_paths),
                                           ("cost", self.cost, self.cost_paths),
                                           ("net", self.net, self.net_paths))}


def check_request(model: ImpactModel, request: OptimiseRequest) -> Problem:
    """The request checked against the fitted model, or RequestError naming the field."""
    markets = markets_of(model, request.app, request.markets, forecast=True)
    check_horizon(model, request.horizon_weeks)
    weeks = model.forecast_weeks(request.app, request.horizon_weeks)
    constraints = request.constraints
    outside = [m for m in [*constraints.fixed, *constraints.earliest] if m not in markets]
    if outside:
        name = "fixed" if outside[0] in constraints.fixed else "earliest"
        raise RequestError(f"constraints.{name}: {outside[0]} is not among the markets the plan may change "
                            f"({', '.join(markets)})")
    earliest = {}
    for market, text in constraints.earliest.items():
        with field(f"constraints.earliest.{market}"):
            week = parse_week(text, f"constraints.earliest.{market}")
        if week > weeks[-1]:
            raise RequestError(f"constraints.earliest.{market}: {week:%Y-%m-%d} is after the horizon's last week "
                                f"({weeks[-1]:%Y-%m-%d}), so {market} could not change: list it in constraints.fixed "
                                "or raise horizon_weeks")
        earliest[market] = int(weeks.searchsorted(week))
    status_quo = model.status_quo(request.app, 1, markets)
    dau = model.forecast(request.app, status_quo, markets).per_market["dau"]["status_quo"][:, 0]
    return Problem(request, markets, weeks, status_quo[:, 0], dau, earliest)


def candidates_of(problem: Problem) -> Candidates:
    constraints = problem.request.constraints
    candidates = build_candidates(problem.markets, problem.status_quo, len(problem.weeks), constraints.target_shares,
                                  constraints.max_step, constraints.allow_decrease, problem.earliest,
                                  set(constraints.fixed))
    if not len(candidates):
        raise RequestError(f"constraints: no market can change: every market is fixed, or every target share "
                            f"({', '.join(map(str, constraints.target_shares))}) is at or below its current share and "
                            "allow_decrease is false")
    return candidates


def unit_costs(low: float, high: float, n_paths: int) -> np.ndarray:
    """The cost per exposed DAU-week on each path: uniform on [low, high], stratified (one draw
    in each of n_paths equal slices, in a fixed random order)."""
    order = np.random.default_rng(COST_SEED).permutation(n_paths)
    return low + (high - low) * (order + 0.5) / n_paths


def value_candidates(model: ImpactModel, problem: Problem, candidates: Candidates) -> tuple[Valuation, np.ndarray]:
    """Every candidate valued on the point forecast and every path, and the status quo's exposed
    DAU per week summed over the markets."""
    request, n = problem.request, len(candidates)
    quo_rows = np.repeat(problem.status_quo[:, None], len(problem.weeks), axis=1)
    rows = np.vstack([candidates.shares, quo_rows])
    row_markets = [problem.markets[i] for i in candidates.market] + problem.markets
    values = model.plan_values(request.app, rows, row_markets, request.interval)
    return valuation_of(values, n + candidates.market, request.objective, request.cost), values.exposed_dau[n:].sum(axis=0)


def valuation_of(values: RowValues, quo_of: np.ndarray, objective: str, cost: Cost | None) -> Valuation:
    """The first len(quo_of) rows of `values` valued against the status-quo rows `quo_of`: the
    incremental `objective`, the serving cost of the exposed DAU they add (on each path at that
    path's unit cost, `unit_costs`) and, for revenue, the net of the two."""
    n = len(quo_of)
    added = values.exposed_dau[:n] - values.exposed_dau[quo_of]
    added_paths = values.exposed_dau_weeks_paths[:n] - values.exposed_dau_weeks_paths[quo_of]
    if cost is None:
        total, cost_paths = np.zeros(n), np.zeros_like(added_paths)
    else:
        price = cost.per_exposed_dau_week_usd
        total = (price.low + price.high) / 2 * added.sum(axis=1)
        cost_paths = added_paths * unit_costs(price.low, price.high, added_paths.shape[1])[None, :]
    return Valuation(values.incremental[objective][:n], values.incremental_paths[objective][:n], total, cost_paths,
                     added, objective == "ad_revenue_usd")


@dataclass
class Prepared:
    """A request ready for the solver: its candidates valued, its limits per week."""

    problem: Problem
    candidates: Candidates
    valuation: Valuation
    limits: Limits
    quo_exposure: np.ndarray     # weeks: the status quo's exposed DAU summed over the markets


def prepare(model: ImpactModel, request: OptimiseRequest) -> Prepared:
    """Steps 1-3: check the request, build and value the candidates, set the per-week limits
    (the exposure cap as room over the status quo's exposure, point forecast)."""
    problem = check_request(model, request)
    candidates = candidates_of(problem)
    valuation, quo_exposure = value_candidates(model, problem, candidates)
    cap = request.constraints.max_exposed_dau
    limits = Limits(request.constraints.max_launches_per_week, None if cap is None else cap - quo_exposure)
    return Prepared(problem, candidates, valuation, limits, quo_exposure)


def optimise(model: ImpactModel, request: OptimiseRequest) -> dict:
    """The best plan under the request's constraints, its value, the alternatives and the solver's
    report (see the module docstring); RequestError for a request that cannot be answered."""
    began = time.perf_counter()
    ready, solution = chosen_plan(model, request)
    remaining = max(0.1, request.time_limit_seconds - solution.seconds)
    runner = solve(*_arguments(ready), time_limit=remaining, gap=max(request.optimality_gap, RUNNER_UP_GAP),
                   exclude=solution.selection)
    return _answer(ready.problem, ready.candidates, ready.valuation, ready.limits, solution, runner,
                   time.perf_counter() - began)


def chosen_plan(model: ImpactModel, request: OptimiseRequest) -> tuple[Prepared, Solution]:
    """Steps 1-4: the request prepared and the plan the solver chooses (the best feasible
    alternative when it found none in time); RequestError when no plan is feasible."""
    ready = prepare(model, request)
    solution = solve(*_arguments(ready), time_limit=request.time_limit_seconds, gap=request.optimality_gap)
    if solution.status == "infeasible":
        raise RequestError(_clash(ready.problem, ready.quo_exposure))
    if not solution.found:
        solution = _best_feasible(ready, solution)
    return ready, solution


def _arguments(ready: Prepared) -> tuple:
    """The solver's arguments for a prepared request (`program.solve`)."""
    valuation = ready.valuation
    return (valuation.net, valuation.net_paths, ready.candidates.market, len(ready.problem.markets),
            ready.candidates.rises, valuation.added_exposure, ready.limits, ready.problem.request.risk)


# ---------------------------------------------------------------------- the answer

def _clash(problem: Problem, quo_exposure: np.ndarray) -> str:
    """Which constraints clash when no plan is feasible (the status quo always is, but for the cap)."""
    constraints = problem.request.constraints
    worst = int(np.argmax(quo_exposure))
    how = ("and allow_decrease is false" if not constraints.allow_decrease
           else f"and no allowed target share ({', '.join(map(str, constraints.target_shares))}) brings it down enough")
    return (f"constraints.max_exposed_dau: {constraints.max_exposed_dau:,.0f} is below the status quo's exposed DAU "
            f"in week {problem.weeks[worst]:%Y-%m-%d} ({quo_exposure[worst]:,.0f}), {how}: no plan fits")


def _best_feasible(ready: Prepared, solution: Solution) -> Solution:
    """When the solver ran out of time before finding any plan: the best feasible alternative
    (largest-first always is, unless the status quo itself breaks the cap)."""
    candidates, valuation, limits = ready.candidates, ready.valuation, ready.limits
    plans = [alternatives.status_quo(candidates), alternatives.everything_now(candidates),
             alternatives.largest_first(candidates, ready.problem.dau, valuation.added_exposure, limits)]
    feasible = [p for p in plans if not violations(p, candidates.rises, valuation.added_exposure, limits)]
    if not feasible:
        raise RequestError(_clash(ready.problem, ready.quo_exposure))
    best = max(feasible, key=lambda p: valuation.net[p].sum())
    return Solution(best, solution.status, None, solution.seconds)


def summary(point: float, paths: np.ndarray, level: float) -> dict[str, float]:
    """{mean, lo, hi}: the point forecast's value and the `level` band of the paths."""
    lo, hi = interval(paths, level)
    return {"mean": float(point), "lo": float(lo), "hi": float(hi)}


def _values(valuation: Valuation, selection: np.ndarray, level: float) -> dict:
    return {name: summary(point, paths, level) for name, (point, paths) in valuation.of(selection).items()}


def _plan_rows(problem: Problem, candidates: Candidates, valuation: Valuation, selection: np.ndarray) -> list[dict]:
    """Per market: what the plan does to it and what that is worth."""
    level, rows = problem.request.interval, []
    chosen = {int(candidates.market[c]): c for c in selection}
    for i, market in enumerate(problem.markets):
        c = chosen.get(i)
        rows.append({"market": market, "status_quo_share": round(float(problem.status_quo[i]), 6),
                     "start_week": None if c is None else str(problem.weeks[candidates.start[c]].date()),
                     "target_share": None if c is None else float(candidates.level[c]),
                     "ramp_weeks": None if c is None else int(candidates.ramp[c]),
                     **_values(valuation, np.array([] if c is None else [c], dtype=int), level)})
    return rows


def _answer(problem: Problem, candidates: Candidates, valuation: Valuation, limits: Limits, solution: Solution,
            runner: Solution, seconds: float) -> dict:
    request, level = problem.request, problem.request.interval
    chosen = solution.selection
    _, chosen_paths = valuation.of(chosen)["net"]
    plans = {"status_quo": alternatives.status_quo(candidates),
             "everything_now": alternatives.everything_now(candidates),
             "largest_first": alternatives.largest_first(candidates, problem.dau, valuation.added_exposure, limits)}
    chosen_point = float(valuation.net[chosen].sum())
    tolerance = 1e-9 * max(float(np.abs(chosen_paths).max(initial=0.0)), 1.0)
    rivals, alternatives_out = [], []
    for name, selection in plans.items():
        broken = violations(selection, candidates.rises, valuation.added_exposure, limits)
        point, paths = valuation.of(selection)["net"]
        if not broken:
            rivals.append(paths)
        alternatives_out.append({"name": name, "description": ALTERNATIVES[name], "feasible": not broken,
                                 "violates": broken, "plan": plan_points(candidates, selection, problem.weeks),
                                 "net": summary(point, paths, level),
                                 "regret": summary(chosen_point - point, chosen_paths - paths, level)})
    best_of_rivals = np.max(rivals, axis=0)
    runner_up = None
    if runner.found and runner.status != "infeasible" and not np.array_equal(runner.selection, chosen):
        point, paths = valuation.of(runner.selection)["net"]
        runner_up = {"plan": plan_points(candidates, runner.selection, problem.weeks),
                     "changes": _changes(problem, candidates, chosen, runner.selection),
                     "net": summary(point, paths, level),
                     "probability_better": float((paths > chosen_paths + tolerance).mean()),
                     "solver_status": runner.status}
    value = _values(valuation, chosen, level)
    if request.risk != "mean":
        value["net_at_risk"] = {"risk": float(request.risk), "quantile": float(np.quantile(chosen_paths, request.risk)),
                                "cvar": float(cvar(chosen_paths, float(request.risk)))}
    plan = plan_points(candidates, chosen, problem.weeks)
    return {
        "app": request.app, "objective": request.objective, "risk": request.risk, "interval": level,
        "horizon_weeks": request.horizon_weeks, "first_week": str(problem.weeks[0].date()),
        "plan": plan,
        "forecast_request": {"app": request.app, "markets": list(request.markets),
                             "horizon_weeks": request.horizon_weeks, "plan": plan, "interval": level},
        "by_market": _plan_rows(problem, candidates, valuation, chosen),
        "value": value,
        "alternatives": alternatives_out,
        "probability_best": float((chosen_paths >= best_of_rivals - tolerance).mean()),
        "runner_up": runner_up,
        "solver": {"name": SOLVER, "status": solution.status, "gap": solution.gap, "seconds": round(solution.seconds, 4),
                   "candidates": len(candidates), "start_every_weeks": candidates.start_every,
                   "paths": int(chosen_paths.shape[0]), "total_seconds": round(seconds, 4),
                   "time_limit_seconds": request.time_limit_seconds, "optimality_gap": request.optimality_gap},
    }


def _changes(problem: Problem, candidates: Candidates, chosen: np.ndarray, other: np.ndarray) -> list[dict]:
    """The markets two plans treat differently: what each does to them (None: the status quo)."""
    def decisions(selection: np.ndarray) -> dict[int, dict]:
        return {int(candidates.market[c]): {"start_week": str(problem.weeks[candidates.start[c]].date()),
                                            "target_share": float(candidates.level[c])} for c in selection}
    mine, theirs = decisions(chosen), decisions(other)
    return [{"market": problem.markets[i], "chosen": mine.get(i), "runner_up": theirs.get(i)}
            for i in sorted(set(mine) | set(theirs)) if mine.get(i) != theirs.get(i)]


def plan_points(candidates: Candidates, selection: np.ndarray, weeks: pd.DatetimeIndex) -> list[dict]:
    """The selected candidates as /forecast plan points (JSON-ready)."""
    return [point.model_dump(exclude_defaults=True) for point in candidates.points(selection, weeks)]
