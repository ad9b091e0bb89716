"""Held-out evaluation of forecast bands against a simulated world's own future.

A world's last `horizon` weeks are held back, the model is trained on the rest, and the status
quo (every share held at its last value) is forecast for every forecastable market. The same
world, with the same noise, is then played forward at that status quo by the simulator: that
is the truth the bands are held against, per market and week, for the markets together
(`ALL`) per week, and for the horizon's total (the `/forecast` totals): the rows planners and
dashboards read. Total minutes and ad revenue are both scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.calendar import DAYS_PER_WEEK
from data.simulator import WorldSpec, run_experiments, simulate_world
from training.model.backtest import SCALE_LEVELS, WEEKS_AHEAD
from training.design_test import design_test
from training.model.effects import ResponseShape
from training.model.estimator import ImpactModel
from training.model.paths import VALUED
from training.model.scenario import plan_shares
from training.model.stepbacktest import rollout_step_backtest
from training.optimiser.optimiser import optimise, plan_points, prepare
from training.optimiser.program import solve
from training.requests import DesignTestRequest, OptimiseRequest, PlanPoint


def status_quo_truth(model: ImpactModel, app: str, seed: int, spec: WorldSpec, horizon: int) -> dict[str, np.ndarray]:
    """Weekly total minutes and ad revenue (forecastable markets x horizon) of the world played
    forward at the status quo."""
    played = plan_truth(model, app, seed, spec, model.status_quo(app, horizon))
    return {q: played[q] for q in VALUED}


def plan_truth(model: ImpactModel, app: str, seed: int, spec: WorldSpec, shares: np.ndarray) -> dict[str, np.ndarray]:
    """Weekly total minutes, ad revenue and DAU (forecastable markets x weeks) of the world played
    forward, with the same noise, at `shares` (every forecastable market x the forecast weeks)."""
    markets = model.markets(app, forecastable=True)
    weeks = model.forecast_weeks(app, shares.shape[1])
    rows = pd.DataFrame({"app": app, "market": np.repeat(markets, len(weeks)), "week": np.tile(weeks, len(markets)),
                         "rollout_share": shares.reshape(-1)})
    played = simulate_world(seed=seed, spec=spec, rollout=rows).panel
    played = played[(played["app"] == app) & played["week"].isin(weeks)]
    played = played.assign(minutes=played["dau"] * played["time_spent_min"] * DAYS_PER_WEEK)
    return {q: played.pivot(index="market", columns="week", values=q).loc[markets, weeks].to_numpy()
            for q in (*VALUED, "dau")}


def band_scores(model: ImpactModel, app: str, truth: dict[str, np.ndarray], level: float) -> list[dict]:
    """Per quantity and weeks ahead ("1-26", the whole horizon, then each bucket of WEEKS_AHEAD
    within it): coverage of the `level` band for market rows and ALL rows, the median absolute
    percentage error of both, and their median |error| / half-width (about 0.4 for a calibrated
    90% band of normal errors); for the whole horizon also whether the band of its total holds."""
    horizon = next(iter(truth.values())).shape[1]
    forecast = model.forecast(app, model.status_quo(app, horizon), level=level)
    buckets = [(1, horizon)] + [(first, last) for first, last in WEEKS_AHEAD if last <= horizon]
    rows = []
    for quantity, actual in truth.items():
        market = {k: forecast.per_market[quantity][k] for k in ("status_quo", "lo", "hi")}
        combined = {k: forecast.combined[quantity][k][0] for k in ("status_quo", "lo", "hi")}
        total = forecast.totals[quantity]["status_quo"]
        everything = actual.sum(axis=0)
        for first, last in buckets:
            weeks = slice(first - 1, last)
            market_w = {k: v[:, weeks] for k, v in market.items()}
            combined_w = {k: v[weeks] for k, v in combined.items()}
            rows.append({
                "quantity": quantity, "weeks_ahead": f"{first}-{last}",
                "market_coverage": _held(actual[:, weeks], market_w),
                "all_coverage": _held(everything[weeks], combined_w),
                "total_covered": float(total["lo"] <= everything.sum() <= total["hi"])
                                 if (first, last) == (1, horizon) else float("nan"),
                "market_ape": float(np.median(np.abs(market_w["status_quo"] / actual[:, weeks] - 1))),
                "all_ape": float(np.median(np.abs(combined_w["status_quo"] / everything[weeks] - 1))),
                "market_error_per_halfwidth": _error_per_halfwidth(actual[:, weeks], market_w),
                "all_error_per_halfwidth": _error_per_halfwidth(everything[weeks], combined_w),
            })
    return rows


def _held(actual: np.ndarray, band: dict) -> float:
    return float(((band["lo"] <= actual) & (actual <= band["hi"])).mean())


def _error_per_halfwidth(actual: np.ndarray, band: dict) -> float:
    return float(np.median(np.abs(actual - band["status_quo"]) / ((band["hi"] - band["lo"]) / 2)))


def _true_gains(model: ImpactModel, request: OptimiseRequest, seed: int, spec: WorldSpec, shares: np.ndarray,
                base: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per forecastable market, `shares` against the status quo, both played forward with the same
    noise: the objective's true gain over the horizon and the exposed DAU-weeks it adds. `base`:
    the status quo already played forward (`plan_truth`), so a caller playing many plans plays it once."""
    quo = model.status_quo(request.app, shares.shape[1])
    base = base if base is not None else plan_truth(model, request.app, seed, spec, quo)
    played = plan_truth(model, request.app, seed, spec, shares)
    return ((played[request.objective] - base[request.objective]).sum(axis=1),
            (shares * played["dau"] - quo * base["dau"]).sum(axis=1))


def _net(request: OptimiseRequest, gain: np.ndarray, added: np.ndarray, unit_cost: float) -> np.ndarray:
    """The net value as the optimiser counts it: the cost is subtracted from ad revenue only."""
    return gain - unit_cost * added if request.objective == "ad_revenue_usd" else gain


def _plan_matrix(model: ImpactModel, app: str, horizon: int, plan: list[dict]) -> np.ndarray:
    """The shares of a plan (points in the /forecast format), every forecastable market x horizon."""
    return plan_shares(model.status_quo(app, horizon), model.markets(app, forecastable=True),
                       model.forecast_weeks(app, horizon), [PlanPoint(**point) for point in plan])


def value_per_exposed_dau_week(model: ImpactModel, app: str, quantile: float = 0.5, horizon: int = 26) -> float:
    """A serving cost at which about `quantile` of the markets are not worth launching: that
    quantile over markets of the incremental revenue per added exposed DAU-week of launching
    each one fully in the first forecast week (the model's point forecast)."""
    ready = prepare(model, OptimiseRequest(app=app, horizon_weeks=horizon))
    first = ready.candidates.start == 0
    per_user_week = ready.valuation.incremental[first] / ready.valuation.added_exposure[first].sum(axis=1)
    return float(np.quantile(per_user_week, quantile))


def exposure_cap(model: ImpactModel, app: str, room: float = 0.3, horizon: int = 26) -> float:
    """An exposed-DAU cap that leaves room for `room` of the exposure launching every market fully
    in the first week would add, over the status quo's peak (the model's point forecast)."""
    ready = prepare(model, OptimiseRequest(app=app, horizon_weeks=horizon))
    first = ready.candidates.start == 0
    return float(ready.quo_exposure.max() + room * ready.valuation.added_exposure[first].sum(axis=0).max())


def true_plan_value(model: ImpactModel, request: OptimiseRequest, plan: list[dict], seed: int, spec: WorldSpec,
                    unit_cost: float) -> float:
    """The true net value of a plan (points in the /forecast format), the world played forward."""
    shares = _plan_matrix(model, request.app, request.horizon_weeks, plan)
    return float(_net(request, *_true_gains(model, request, seed, spec, shares), unit_cost).sum())


def true_best_plan(model: ImpactModel, request: OptimiseRequest, seed: int, spec: WorldSpec,
                   unit_cost: float, unseen_at_app_effect: bool = False,
                   planning: tuple[WorldSpec, np.ndarray] | None = None) -> tuple[list[dict], float]:
    """The best plan under the request's constraints by the world's own response: every
    candidate the optimiser considers, valued by the simulator playing it forward (one run per
    start week and target, every market at once: markets do not interact), then the same
    mixed-integer program on those true values. Returns its plan points and true net value.

    `unseen_at_app_effect`: the plan of a planner who knows every market's true effect but those
    of the markets the history never exposed (share 0 throughout), which it takes at the app's
    effect, the best any estimator can know of them: their true gains are divided by their
    market's effect multiplier (`truth["market_effect"]`; effects are small on the log scale, so
    gains are proportional to it). The value returned is then the plan's true net value.

    `planning` = (a world's spec, a multiplier per forecastable market): the plan of a planner who
    values every candidate in that world instead (its gains times the multipliers), its value again
    taken in the true world (`testkit.bound.efficient_planner`)."""
    ready = prepare(model, request)
    candidates, markets = ready.candidates, model.markets(request.app, forecastable=True)
    row_of = np.array([markets.index(m) for m in ready.problem.markets])[candidates.market]
    quo = model.status_quo(request.app, request.horizon_weeks)
    base = plan_truth(model, request.app, seed, spec, quo)
    truth, planned = np.zeros(len(candidates)), np.zeros(len(candidates))
    scale = unseen_scale(model, request.app, seed, spec) if unseen_at_app_effect else np.ones(len(markets))
    if planning is not None:
        planned_base, scale = plan_truth(model, request.app, seed, planning[0], quo), scale * planning[1]
    moves = pd.DataFrame({"start": candidates.start, "level": candidates.level})
    for _, group in moves.groupby(["start", "level"]):
        shares = quo.copy()
        shares[row_of[group.index]] = candidates.shares[group.index]
        gain, added = _true_gains(model, request, seed, spec, shares, base)
        truth[group.index] = _net(request, gain, added, unit_cost)[row_of[group.index]]
        if planning is not None:
            gain, added = _true_gains(model, request, seed, planning[0], shares, planned_base)
        planned[group.index] = _net(request, gain * scale, added, unit_cost)[row_of[group.index]]
    solution = solve(planned, planned[:, None], candidates.market, len(ready.problem.markets), candidates.rises,
                     ready.valuation.added_exposure, ready.limits, "mean", time_limit=60.0, gap=1e-4)
    return plan_points(candidates, solution.selection, ready.problem.weeks), float(truth[solution.selection].sum())


def unseen_scale(model: ImpactModel, app: str, seed: int, spec: WorldSpec) -> np.ndarray:
    """Per forecastable market: 1 / its true effect multiplier where the history never exposed it
    (share 0 in every week the model saw), 1 elsewhere."""
    markets = model.markets(app, forecastable=True)
    effect = simulate_world(seed=seed, spec=spec).truth["market_effect"][app]
    exposed = model.history(app, markets).groupby("market")["rollout_share"].max().reindex(markets).fillna(0.0)
    return np.where(exposed.to_numpy() > 0, 1.0, 1.0 / np.array([effect[m] for m in markets]))


def optimised_against_truth(model: ImpactModel, request: OptimiseRequest, seed: int, spec: WorldSpec) -> dict:
    """The optimiser's plan for `request` and its alternatives, each played forward by the world
    (same noise), against the true best plan under the same constraints. The true serving cost
    is the middle of the request's range. Returns the answer, the true net values (`chosen`,
    `best`, and per alternative with whether it is feasible), `share_of_best` and, where markets'
    effects differ, `informed_share_of_best`: the true value of the best plan of a planner who
    knows every effect but the never-exposed markets' (`true_best_plan(unseen_at_app_effect=True)`)."""
    price = request.cost.per_exposed_dau_week_usd if request.cost is not None else None
    unit_cost = 0.0 if price is None else (price.low + price.high) / 2
    answer = optimise(model, request)
    chosen = true_plan_value(model, request, answer["plan"], seed, spec, unit_cost)
    _, best = true_best_plan(model, request, seed, spec, unit_cost)
    informed = (true_best_plan(model, request, seed, spec, unit_cost, unseen_at_app_effect=True)[1]
                if spec.effects.market_spread else best)
    alternatives = {a["name"]: {"true_net": true_plan_value(model, request, a["plan"], seed, spec, unit_cost),
                                "forecast_net": a["net"]["mean"], "feasible": a["feasible"]}
                    for a in answer["alternatives"]}
    return {"answer": answer, "chosen": chosen, "best": best, "share_of_best": chosen / best if best else float("nan"),
            "informed_share_of_best": informed / best if best else float("nan"), "alternatives": alternatives}


@dataclass
class HeldOutWorld:
    """A world with its last `horizon` weeks held back: the history, the model trained on it, and
    per app the truth played forward at the status quo (quantity -> forecastable markets x weeks)."""

    design: str
    seed: int
    history: pd.DataFrame
    model: ImpactModel
    truth: dict[str, dict[str, np.ndarray]]


def held_out_world(seed: int, spec: WorldSpec | None = None, horizon: int = 26,
                   experiments: pd.DataFrame | None = None, **params) -> HeldOutWorld:
    """Simulate, hold back, train (`params` go to ImpactModel, `experiments` to its fit) and play
    the status quo forward.

    The model is told the world's known one-off breaks (`WorldSpec.known_breaks`), as a user who
    knows of WhatsApp's ads launch would tell it, unless `params` say otherwise."""
    spec = spec or WorldSpec()
    panel = simulate_world(seed=seed, spec=spec).panel
    cutoff = np.sort(panel["week"].unique())[-horizon]
    history = panel[panel["week"] < cutoff]
    model = ImpactModel(**{"seed": seed, "known_breaks": spec.known_breaks, **params}).fit(history,
                                                                                          experiments=experiments)
    truth = {app: status_quo_truth(model, app, seed, spec, horizon) for app in model.apps}
    return HeldOutWorld(spec.design, seed, history, model, truth)


def optimised_value_coverage(seed: int, spec: WorldSpec | None = None, horizon: int = 26, level: float = 0.9,
                             **params) -> pd.DataFrame:
    """One world: the optimiser's value bands against the world playing its plan forward.

    Per app and objective (ad revenue net of a serving cost around the median market's value
    per exposed DAU-week, under a launch limit of 2 a week; total minutes under the same limit),
    the plan is chosen on the history, then played forward with the same noise. A row per
    (app, objective, market changed or ALL, quantity): the band's `mean`, `lo`, `hi`, the
    `truth` and whether the band holds it. `incremental` is the objective over the status quo;
    `net` also subtracts the serving cost (true cost: the middle of the range).
    """
    spec = spec or WorldSpec()
    world = held_out_world(seed, spec, horizon, **params)
    model, rows = world.model, []
    for app in model.apps:
        cost = value_per_exposed_dau_week(model, app, horizon=horizon)
        for objective in ("ad_revenue_usd", "minutes"):
            priced = {"cost": {"per_exposed_dau_week_usd": {"low": 0.8 * cost, "high": 1.2 * cost}}} \
                if objective == "ad_revenue_usd" else {}
            request = OptimiseRequest(app=app, horizon_weeks=horizon, interval=level, objective=objective,
                                      constraints={"max_launches_per_week": 2}, **priced)
            answer = optimise(model, request)
            markets = model.markets(app, forecastable=True)
            gain, added = _true_gains(model, request, seed, spec, _plan_matrix(model, app, horizon, answer["plan"]))
            truth = {"incremental": gain, "net": _net(request, gain, added, cost if priced else 0.0)}
            changed = [(r["market"], r) for r in answer["by_market"] if r["start_week"] is not None]
            for scope, values in changed + [("ALL", answer["value"])]:
                for quantity in ("incremental", "net"):
                    true = truth[quantity].sum() if scope == "ALL" else truth[quantity][markets.index(scope)]
                    band = values[quantity]
                    rows.append({"design": world.design, "seed": seed, "app": app, "objective": objective,
                                 "market": scope, "quantity": quantity, **band, "truth": float(true),
                                 "covered": bool(band["lo"] <= true <= band["hi"])})
    return pd.DataFrame(rows)


def held_out_band_coverage(seed: int, spec: WorldSpec | None = None, horizon: int = 26,
                           levels: tuple[float, ...] = SCALE_LEVELS, **params) -> pd.DataFrame:
    """One world: a row per (app, quantity, level) with `band_scores`; `params` go to ImpactModel."""
    world = held_out_world(seed, spec, horizon, **params)
    return pd.DataFrame([{"design": world.design, "seed": seed, "app": app, "level": level, **scores}
                         for app, truth in world.truth.items()
                         for level in levels for scores in band_scores(world.model, app, truth, level)])


def partial_markets(model: ImpactModel, app: str, low: float = 0.05, high: float = 0.95) -> list[str]:
    """The forecastable markets whose rollout stands part-way at the end of the history: last share in [low, high]."""
    last = model.status_quo(app, 1)[:, 0]
    markets = model.markets(app, forecastable=True)
    return [m for m, s in zip(markets, last) if low <= s <= high]


def response_cases(seed: int, spec: WorldSpec | None = None, horizon: int = 26, oracle: bool = False,
                   levels: tuple[float, ...] = (0.5, 0.9), experiments: pd.DataFrame | None = None,
                   **params) -> pd.DataFrame:
    """One world: the marginal gain of rollout steps against the world played forward.

    The last `horizon` weeks are held back and the model trained on the rest (`oracle`: with the
    world's true response shape as its only shape, effect sizes still estimated). Case "all": every
    forecastable market to share 1 from the first forecast week (the `/forecast` totals' incremental);
    case "step": each partially rolled-out market alone to 1 (`plan_values`, a row per market).
    A row per (app, case, market or ALL, quantity): the point, the band at each of `levels`
    (`lo_50`, `hi_50`, ...), the truth (same noise, the plan against the status quo) and `error`
    (point / truth - 1).
    """
    spec = spec or WorldSpec()
    if oracle:
        truth = spec.effects
        params = {**params, "grid": (ResponseShape(truth.carryover, truth.half_saturation, truth.hill_exponent),)}
    world = held_out_world(seed, spec, horizon, experiments, **params)
    model, rows = world.model, []
    for app in model.apps:
        markets = model.markets(app, forecastable=True)
        quo = model.status_quo(app, horizon)
        base = plan_truth(model, app, seed, spec, quo)
        full = plan_truth(model, app, seed, spec, np.ones_like(quo))
        answers = {level: model.forecast(app, np.ones_like(quo), level=level) for level in levels}
        for q in VALUED:
            true = float((full[q] - base[q]).sum())
            point = answers[levels[0]].totals[q]["incremental"]["mean"]
            bands = {f"{side}_{round(level * 100)}": answers[level].totals[q]["incremental"][side]
                     for level in levels for side in ("lo", "hi")}
            rows.append({"case": "all", "app": app, "market": "ALL", "quantity": q, "point": point, **bands,
                         "truth": true})
        steps = partial_markets(model, app)
        if steps:
            index = [markets.index(m) for m in steps]
            values = {level: model.plan_values(app, np.ones((len(steps), horizon)), steps, level=level)
                      for level in levels}
            for q in VALUED:
                true = (full[q] - base[q]).sum(axis=1)[index]
                for k, market in enumerate(steps):
                    bands = {}
                    for level in levels:
                        lo, hi = np.quantile(values[level].incremental_paths[q][k], [(1 - level) / 2, (1 + level) / 2])
                        bands |= {f"lo_{round(level * 100)}": float(lo), f"hi_{round(level * 100)}": float(hi)}
                    rows.append({"case": "step", "app": app, "market": market, "quantity": q,
                                 "point": float(values[levels[0]].incremental[q][k]), **bands, "truth": float(true[k])})
    frame = pd.DataFrame(rows).assign(design=spec.design, response=spec.effects.response, seed=seed, oracle=oracle)
    return frame.assign(error=frame["point"] / frame["truth"] - 1)


def high_share_tests(seed: int, spec: WorldSpec | None = None, horizon: int = 26, n: int = 3,
                     weeks: int = 8) -> tuple[pd.DataFrame, list[dict]]:
    """`n` lift tests at high shares the world ran in the last `weeks` weeks before the last
    `horizon` (the history `response_cases` trains on): in the partially rolled-out markets
    (share 0.05-0.95 when the test starts) with the most daily active users, whose tests are the
    most precise, a test arm at share 1 against the market's own share. Rows and truth as
    `data.simulator.run_experiments` gives them."""
    spec = spec or WorldSpec()
    world = simulate_world(seed=seed, spec=spec)
    calendar = np.sort(world.panel["week"].unique())
    first = pd.Timestamp(calendar[-horizon - weeks])
    start = world.panel[world.panel["week"] == first]
    partial = start[(start["rollout_share"] >= 0.05) & (start["rollout_share"] <= 0.95)]
    chosen = partial.sort_values("dau", ascending=False).head(n)
    return run_experiments(world, spec, [{"app": r.app, "market": r.market, "first_week": first, "weeks": weeks}
                                         for r in chosen.itertuples()], seed)


def designed_tests(seed: int, spec: WorldSpec | None = None, horizon: int = 26, n: int = 3,
                   weeks: int = 8, decision: str = "finish") -> tuple[pd.DataFrame, list[dict]]:
    """Per app, the `n` lift tests `design_test` chooses to run together to narrow the value of a
    decision: finishing every partial rollout (`decision="finish"`), or the plan of the /optimise
    request `optimiser_on_response_world` asks (`"optimise"`). Planned on the history less its last
    `weeks` weeks (before the last `horizon`), each a test arm at share 1 against the market's
    current share for `weeks` weeks, then run in the world's next `weeks` weeks (the end of the
    history `response_cases` trains on). Rows and truth as `data.simulator.run_experiments` gives them."""
    spec = spec or WorldSpec()
    world = simulate_world(seed=seed, spec=spec)
    first = pd.Timestamp(np.sort(world.panel["week"].unique())[-horizon - weeks])
    model = ImpactModel(seed=seed, known_breaks=spec.known_breaks).fit(world.panel[world.panel["week"] < first])
    chosen = []
    for app in model.apps:
        partial = partial_markets(model, app)
        if not partial:
            continue
        if decision == "optimise":
            low, high = np.nanquantile(true_value_per_exposed_dau_week(model, app, seed, spec, horizon), [0.25, 0.75])
            asked = {"optimise": {"app": app, "horizon_weeks": horizon, "objective": "ad_revenue_usd",
                                  "cost": {"per_exposed_dau_week_usd": {"low": float(low), "high": float(high)}},
                                  "constraints": {"max_launches_per_week": 2}}}
        else:
            asked = {"finish": partial}
        answer = design_test(model, DesignTestRequest(app=app, test_shares=[1.0], durations_weeks=[weeks], tests=n,
                                                      decision=asked))
        chosen += [{"app": app, "market": t["market"], "first_week": first, "weeks": weeks,
                    "test_share": t["test_share"], "reference_share": t["reference_share"]}
                   for t in answer["chosen"]["tests"]]
    return run_experiments(world, spec, chosen, seed)


def family_plan_truth(model: ImpactModel, seed: int, spec: WorldSpec, plans: dict[str, np.ndarray],
                      horizon: int) -> dict[str, dict[str, float]]:
    """Every app's true incremental minutes and ad revenue over `horizon` weeks, summed over its
    forecastable markets, when the apps in `plans` (app -> forecastable markets x horizon shares) run
    them and every app holds its status quo otherwise, against every app at its status quo: the
    world played forward twice with the same noise. Cross-app effects included; "family" sums the apps."""
    def played(shares_of: dict[str, np.ndarray]) -> pd.DataFrame:
        rows = []
        for app in model.apps:
            markets, weeks = model.markets(app, forecastable=True), model.forecast_weeks(app, horizon)
            shares = shares_of.get(app, model.status_quo(app, horizon))
            rows.append(pd.DataFrame({"app": app, "market": np.repeat(markets, len(weeks)),
                                      "week": np.tile(weeks, len(markets)), "rollout_share": shares.reshape(-1)}))
        rows = pd.concat(rows, ignore_index=True)
        panel = simulate_world(seed=seed, spec=spec, rollout=rows).panel
        panel = panel.merge(rows[["app", "market", "week"]], on=["app", "market", "week"])
        return panel.assign(minutes=panel["dau"] * panel["time_spent_min"] * DAYS_PER_WEEK).groupby("app")[
            list(VALUED)].sum()
    quo, plan = played({}), played(plans)
    out = {app: {q: float(plan.loc[app, q] - quo.loc[app, q]) for q in VALUED} for app in model.apps}
    out["family"] = {q: sum(out[app][q] for app in model.apps) for q in VALUED}
    return out


def family_cases(seed: int, spec: WorldSpec | None = None, horizon: int = 26, **params) -> pd.DataFrame:
    """One world's family questions against its truth, as today's per-app model answers them.

    Plans over the held-back `horizon` weeks: each app alone to share 1 everywhere, each app alone
    in the larger half of its markets (by DAU), every app everywhere. The model's family increment
    is the sum of each moved app's /forecast increment (every app is its own model, so a plan of
    one app moves only that app); the truth plays the plan forward in the world, the other apps at
    their status quo, cross-app effects included. A row per plan, app (and "family") and quantity."""
    spec = spec or WorldSpec()
    world = held_out_world(seed, spec, horizon, **params)
    model = world.model
    everywhere = {app: np.ones_like(model.status_quo(app, horizon)) for app in model.apps}
    half = {}
    for app in model.apps:
        dau = model.forecast(app, model.status_quo(app, 1)).per_market["dau"]["status_quo"][:, 0]
        larger = np.argsort(-dau)[:len(dau) // 2]
        shares = model.status_quo(app, horizon)
        shares[larger] = 1.0
        half[app] = shares
    plans = {f"{app} everywhere": {app: everywhere[app]} for app in model.apps}
    plans |= {f"{app} in half": {app: half[app]} for app in model.apps}
    plans["all apps everywhere"] = everywhere
    rows = []
    for name, plan in plans.items():
        truth = family_plan_truth(model, seed, spec, plan, horizon)
        answered = {app: model.forecast(app, shares).totals for app, shares in plan.items()}
        for app in [*model.apps, "family"]:
            for q in VALUED:
                if app == "family":          # a sum of separate answers has no band of its own
                    point, lo, hi = sum(t[q]["incremental"]["mean"] for t in answered.values()), np.nan, np.nan
                elif app in answered:
                    point, lo, hi = (answered[app][q]["incremental"][k] for k in ("mean", "lo", "hi"))
                else:
                    point = lo = hi = 0.0
                rows.append({"cross": spec.cross, "seed": seed, "plan": name, "app": app, "quantity": q,
                             "point": point, "lo": lo, "hi": hi, "truth": truth[app][q]})
    frame = pd.DataFrame(rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        return frame.assign(error=frame["point"] / frame["truth"] - 1.0)


def attribution_cases(seed: int, spec: WorldSpec | None = None, **params) -> pd.DataFrame:
    """One world's history attributed by today's per-app model against the truth: per app and for
    the family, the incremental minutes and ad revenue, with each app's true own and cross parts."""
    spec = spec or WorldSpec()
    world = simulate_world(seed=seed, spec=spec)
    model = ImpactModel(**{"seed": seed, "known_breaks": spec.known_breaks, "backtest_origins": 2, **params}).fit(
        world.panel)
    truth = world.truth["cross"]["incremental"]
    rows = []
    for app in model.apps:
        totals = model.attribute(app).totals
        for q, key in (("minutes", "minutes"), ("ad_revenue_usd", "ad_revenue_usd")):
            band = totals[q]["incremental"]
            rows.append({"cross": spec.cross, "seed": seed, "app": app, "quantity": q, "point": band["mean"],
                         "lo": band["lo"], "hi": band["hi"], "truth": truth[app][key],
                         "own": truth[app][f"own_{key}"], "cross_part": truth[app][f"cross_{key}"]})
    frame = pd.DataFrame(rows)
    family = frame.groupby("quantity", sort=False)[["point", "lo", "hi", "truth", "own", "cross_part"]].sum().reset_index()
    frame = pd.concat([frame, family.assign(cross=spec.cross, seed=seed, app="family")], ignore_index=True)
    return frame.assign(error=frame["point"] / frame["truth"] - 1.0)


def step_backtest_cases(seed: int, spec: WorldSpec | None = None, horizon: int = 26, **params) -> pd.DataFrame:
    """One world's rollout-step backtest (`stepbacktest.rollout_step_backtest`) on its history less
    the last `horizon` weeks (the history `response_cases` trains on): a row per step and quantity."""
    spec = spec or WorldSpec()
    panel = simulate_world(seed=seed, spec=spec).panel
    history = panel[panel["week"] < np.sort(panel["week"].unique())[-horizon]]
    model = ImpactModel(**{"seed": seed, "known_breaks": spec.known_breaks, **params})
    rows = rollout_step_backtest(model, history, weeks=horizon).rows
    return rows.assign(design=spec.design, response=spec.effects.response, seed=seed)


def true_value_per_exposed_dau_week(model: ImpactModel, app: str, seed: int, spec: WorldSpec,
                                    horizon: int = 26) -> np.ndarray:
    """Per forecastable market, the world's own incremental ad revenue per added exposed DAU-week of
    launching it fully in the first forecast week (NaN where that adds no exposure)."""
    quo = model.status_quo(app, horizon)
    request = OptimiseRequest(app=app, horizon_weeks=horizon)
    gain, added = _true_gains(model, request, seed, spec, np.ones_like(quo))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(added > 0, gain / added, np.nan)


def optimiser_on_response_world(seed: int, spec: WorldSpec | None = None, horizon: int = 26,
                                experiments: pd.DataFrame | None = None, beside: Callable | None = None,
                                **params) -> pd.DataFrame:
    """One world: per app, `/optimise` for ad revenue with a serving cost between the 25th and 75th
    percentiles of the markets' true value per exposed DAU-week and a launch limit of 2 a week,
    the chosen plan played forward against the true best plan under the same constraints (true
    cost: the middle of the range). A row per app: `chosen`, `best`, `share_of_best`, and the
    columns `beside(model, request, seed, spec, unit_cost, result)` returns (e.g.
    `testkit.bound.beside_efficient_planner`)."""
    spec = spec or WorldSpec()
    world = held_out_world(seed, spec, horizon, experiments, **params)
    rows = []
    for app in world.model.apps:
        value = true_value_per_exposed_dau_week(world.model, app, seed, spec, horizon)
        low, high = np.nanquantile(value, [0.25, 0.75])
        request = OptimiseRequest(app=app, horizon_weeks=horizon, objective="ad_revenue_usd",
                                  cost={"per_exposed_dau_week_usd": {"low": float(low), "high": float(high)}},
                                  constraints={"max_launches_per_week": 2})
        result = optimised_against_truth(world.model, request, seed, spec)
        rows.append({"design": spec.design, "response": spec.effects.response, "seed": seed, "app": app,
                     "cost_low": float(low), "cost_high": float(high), "chosen": result["chosen"],
                     "best": result["best"], "share_of_best": result["share_of_best"],
                     "informed_share_of_best": result["informed_share_of_best"],
                     "forecast_net": result["answer"]["value"]["net"]["mean"],
                     "markets_moved": sum(r["start_week"] is not None for r in result["answer"]["by_market"]),
                     **({} if beside is None else beside(world.model, request, seed, spec, (low + high) / 2, result))})
    return pd.DataFrame(rows)
