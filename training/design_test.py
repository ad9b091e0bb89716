"""Designing the next lift test: which market, test share and length would most narrow the
interval of a decision, how precisely it would read, and what it costs.

`design_test(model, request)` reads a fitted `ImpactModel` through its public queries only:

1. The decision's net value D on every joint sample path: finishing rollouts (the markets to
   share 1 in the first forecast week), or the plan `/optimise` chooses (`training.optimiser`).
2. Each candidate's predicted result L (`ImpactModel.test_lifts`): the lift of log time per DAU
   between a test arm and a reference arm of `arm_share` of the market's users each, from the
   first forecast week, on the same paths (one per draw of the effects, the curve's shape and
   the market's own effect). Its standard error is `data.experiments.arm_standard_error` at the
   market's forecast DAU.
3. What the result would tell: the test reads L + e, e ~ N(0, se^2). Conditioning D on it (a
   Gaussian update on the paths' moments) leaves var D (1 - rho^2), rho^2 = cov(D, L)^2 /
   (var D (var L + se^2)), so the decision's interval is expected to narrow by
   1 - sqrt(1 - rho^2). Tests run together (distinct markets): rho^2 = c'(S + diag se^2)^-1 c /
   var D, c their covariances with D and S theirs; the set is built greedily. The paths are
   widened around their mean for the interval (`ImpactModel.path_widening`, f), so a result
   read with se counts as f x se on them. It is the update a refit with the result makes
   (`training.model.experiments.calibrate_draws`).
4. Power: the chance (5%, two-sided) that the result tells apart the model's predicted lift and
   one at the edge of its `interval` band (`power`), and that it tells the predicted lift from
   zero (`power_vs_zero`).
5. Cost: the decision's value the two arms forgo during the test (their users run at the arms'
   shares instead of the decision's), net of the serving cost, per path.

Candidates are ranked by expected narrowing, then by cost.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from data.experiments import arm_standard_error
from training.model.estimator import ImpactModel
from training.model.paths import interval
from training.optimiser.optimiser import chosen_plan, valuation_of
from training.requests import Cost, DesignTestRequest, RequestError, check_horizon, field, markets_of

Z_TWO_SIDED = float(norm.ppf(0.975))


@dataclass
class DecisionPaths:
    """The decision: the markets it moves and their shares over its horizon, what it is valued in
    (objective, serving cost), and its net value (point; paths)."""

    kind: str
    markets: list[str]
    shares: np.ndarray            # markets x horizon weeks
    objective: str
    cost: Cost | None
    net: float
    net_paths: np.ndarray

    def shares_of(self, market: str, status_quo: np.ndarray) -> np.ndarray:
        """The decision's shares of `market` over as many weeks as `status_quo`, its status quo,
        which is the answer where the decision leaves the market as it is."""
        if market not in self.markets:
            return status_quo
        return self.shares[self.markets.index(market), :len(status_quo)]


def expected_narrowing(decision: np.ndarray, lifts: np.ndarray, se: np.ndarray) -> np.ndarray:
    """1 - sqrt(1 - rho^2) per test: how much reading each test (lifts: tests x paths, se: tests)
    is expected to narrow the interval of `decision` (paths), by a Gaussian update on the paths."""
    d, centred, var_d = _centred(decision, lifts)
    rho2 = (centred @ d / len(d)) ** 2 / (var_d * (centred.var(axis=1) + se**2))
    return 1.0 - np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0))


def joint_narrowing(decision: np.ndarray, lifts: np.ndarray, se: np.ndarray) -> float:
    """`expected_narrowing` of reading several tests together (lifts: tests x paths)."""
    d, centred, var_d = _centred(decision, lifts)
    c = centred @ d / len(d)
    s = centred @ centred.T / len(d) + np.diag(se**2)
    rho2 = float(c @ np.linalg.solve(s, c)) / var_d
    return 1.0 - float(np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0)))


def _centred(decision: np.ndarray, lifts: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The decision's and the lifts' paths about their means, and the decision's variance (> 0)."""
    d = decision - decision.mean()
    return d, lifts - lifts.mean(axis=1, keepdims=True), max(float(d @ d / len(d)), 1e-300)


def greedy_set(decision: np.ndarray, lifts: np.ndarray, se: np.ndarray, market: np.ndarray, order: np.ndarray,
               size: int) -> tuple[list[int], float]:
    """`size` tests in distinct markets chosen one at a time, each the one that most raises the
    joint narrowing of the set (ties: the earlier in `order`), and the set's narrowing."""
    chosen: list[int] = []
    best = 0.0
    for _ in range(size):
        taken = {int(market[c]) for c in chosen}
        options = [int(c) for c in order if int(market[c]) not in taken]
        if not options:
            break
        gains = [joint_narrowing(decision, lifts[chosen + [c]], se[chosen + [c]]) for c in options]
        pick = int(np.argmax(gains))
        chosen.append(options[pick])
        best = gains[pick]
    return chosen, best


def power(difference: np.ndarray, se: np.ndarray, critical: float = Z_TWO_SIDED) -> np.ndarray:
    """The chance that a result read with `se` lies more than `critical` standard errors from a
    value `difference` away from the truth (two-sided; by default a 5% test)."""
    ratio = np.abs(difference) / se
    return norm.cdf(ratio - critical) + norm.cdf(-ratio - critical)


def decision_paths(model: ImpactModel, request: DesignTestRequest) -> DecisionPaths:
    """The request's decision valued on the `interval` paths (see the module docstring, step 1)."""
    decision = request.decision
    if decision.optimise is not None:
        asked = decision.optimise
        if asked.app != request.app:
            raise RequestError(f"decision.optimise.app: {asked.app} is not the request's app ({request.app})")
        asked = asked.model_copy(update={"interval": request.interval})
        try:
            ready, solution = chosen_plan(model, asked)
        except RequestError as exc:
            raise RequestError(f"decision.optimise.{exc}") from None
        candidates = ready.candidates
        net, net_paths = ready.valuation.of(solution.selection)["net"]
        return DecisionPaths("optimise", [candidates.markets[candidates.market[c]] for c in solution.selection],
                             candidates.shares[solution.selection], asked.objective, asked.cost, net, net_paths)
    markets = markets_of(model, request.app, decision.finish, forecast=True, name="decision.finish")
    check_horizon(model, decision.horizon_weeks)
    current = model.status_quo(request.app, 1, markets)[:, 0]
    done = [m for m, s in zip(markets, current) if s >= 1.0]
    if done:
        raise RequestError(f"decision.finish: {done[0]} is already at share 1; there is nothing to finish")
    shares = np.ones((len(markets), decision.horizon_weeks))
    rows = np.vstack([shares, model.status_quo(request.app, decision.horizon_weeks, markets)])
    values = model.plan_values(request.app, rows, markets * 2, request.interval)
    n = len(markets)
    net, net_paths = valuation_of(values, np.arange(n, 2 * n), "ad_revenue_usd", decision.cost).of(np.arange(n))["net"]
    return DecisionPaths("finish", markets, shares, "ad_revenue_usd", decision.cost, net, net_paths)


def test_costs(model: ImpactModel, request: DesignTestRequest, decision: DecisionPaths, markets: list[str],
               test: np.ndarray, reference: np.ndarray, weeks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate's cost (point; candidates x paths): arm_share times the net value each arm
    forgoes against the decision's shares of its market over the test's weeks (step 5)."""
    point, paths = np.zeros(len(markets)), None
    for length in np.unique(weeks):
        these = np.flatnonzero(weeks == length)
        names = [markets[c] for c in these]
        quo = model.status_quo(request.app, int(length), names)
        planned = np.array([decision.shares_of(m, q) for m, q in zip(names, quo)])
        rows = np.vstack([planned, np.repeat(test[these, None], length, axis=1),
                          np.repeat(reference[these, None], length, axis=1), quo])
        values = model.plan_values(request.app, rows, names * 4, request.interval)
        n = len(these)
        value = valuation_of(values, np.tile(np.arange(3 * n, 4 * n), 3), decision.objective, decision.cost)
        net, net_paths = value.net.reshape(3, n), value.net_paths.reshape(3, n, -1)
        point[these] = request.arm_share * (2 * net[0] - net[1] - net[2])
        if paths is None:
            paths = np.zeros((len(markets), net_paths.shape[-1]))
        paths[these] = request.arm_share * (2 * net_paths[0] - net_paths[1] - net_paths[2])
    return point, paths


def design_test(model: ImpactModel, request: DesignTestRequest) -> dict:
    """The candidates ranked, the best, the runner-up and the set of `tests` to run together (see
    the module docstring); RequestError naming the field for a request that cannot be answered."""
    markets = markets_of(model, request.app, request.markets, forecast=True)
    longest = max(request.durations_weeks)
    check_horizon(model, longest)
    decision = decision_paths(model, request)
    current = model.status_quo(request.app, 1, markets)[:, 0]
    rows, skipped = [], []
    for (m, market), share, length in itertools.product(enumerate(markets), request.test_shares,
                                                       request.durations_weeks):
        reference = current[m] if request.reference_share is None else request.reference_share
        if abs(share - reference) < 1e-9:
            skipped.append({"market": market, "test_share": share, "reason": f"the reference arm is at {reference:g} too"})
            continue
        rows.append((m, market, share, float(reference), length))
    if not rows:
        raise RequestError("test_shares: every candidate's test arm equals its reference arm "
                           f"({'the markets’ current shares' if request.reference_share is None else 'reference_share'})")
    position, names, test, reference, weeks = (np.array(column) for column in zip(*rows))
    names = [str(name) for name in names]
    with field("durations_weeks"):
        predicted, lift_paths = model.test_lifts(request.app, names, test, reference, weeks, request.interval)
    forecast = model.forecast(request.app, model.status_quo(request.app, longest, markets), markets)
    dau = forecast.per_market["dau"]["status_quo"]
    mean_dau = np.array([dau[p, :w].mean() for p, w in zip(position, weeks)])
    se = arm_standard_error(mean_dau, weeks, request.arm_share, request.user_sd)
    lo, hi = interval(lift_paths, request.interval)
    read_as = se * model.path_widening(request.app, request.interval)      # on the widened paths (see path_widening)
    narrowing = expected_narrowing(decision.net_paths, lift_paths, read_as)
    cost, cost_paths = test_costs(model, request, decision, names, test, reference, weeks)
    cost_lo, cost_hi = interval(cost_paths, request.interval)
    order = np.lexsort((cost, -np.round(narrowing, 4)))
    d_lo, d_hi = interval(decision.net_paths, request.interval)
    width = float(d_hi - d_lo)
    first = forecast.weeks[0]
    table = []
    for rank, c in enumerate(order, start=1):
        table.append({
            "rank": rank, "market": names[c], "test_share": float(test[c]), "reference_share": round(float(reference[c]), 6),
            "weeks": int(weeks[c]), "first_week": first, "last_week": forecast.weeks[int(weeks[c]) - 1],
            "arm_dau": float(request.arm_share * mean_dau[c]), "standard_error": float(se[c]),
            "predicted_lift": {"mean": float(predicted[c]), "lo": float(lo[c]), "hi": float(hi[c])},
            "power": float(power((hi[c] - lo[c]) / 2, se[c])), "power_vs_zero": float(power(predicted[c], se[c])),
            "narrowing": float(narrowing[c]), "expected_width": width * float(1.0 - narrowing[c]),
            "cost": {"mean": float(cost[c]), "lo": float(cost_lo[c]), "hi": float(cost_hi[c])}})
    together, joint = greedy_set(decision.net_paths, lift_paths, read_as, position, order, request.tests)
    rank_of = {int(c): r for r, c in enumerate(order)}
    return {
        "app": request.app, "interval": request.interval, "first_week": first,
        "decision": {"kind": decision.kind, "markets": decision.markets, "objective": decision.objective,
                     "horizon_weeks": decision.shares.shape[1],
                     "net": {"mean": decision.net, "lo": float(d_lo), "hi": float(d_hi)}, "width": width},
        "best": table[0], "runner_up": table[1] if len(table) > 1 else None,
        "chosen": {"tests": [table[rank_of[c]] for c in together], "narrowing": joint,
                   "expected_width": width * (1.0 - joint)},
        "candidates": table, "skipped": skipped,
        "assumptions": {"arm_share": request.arm_share, "user_sd": request.user_sd,
                        "standard_error": "user_sd x sqrt(2 / (arm_share x DAU x weeks)), DAU the market's forecast "
                                          "over the test's weeks",
                        "narrowing": "1 - sqrt(1 - rho^2): a Gaussian update of the decision's paths on the test's "
                                     "predicted result plus its error",
                        "cost": "the decision's net value the two arms forgo during the test"},
    }
