"""The information bound: how closely an estimator could know a rollout step's gain from a history.

For one app of a simulated world, three outcomes of the history (log time per DAU, log DAU, and log
ad revenue less the elasticity times log minutes) follow

    y_o[m, t] = a_om . z_t  +  g_ot  +  b_o u_m r(s_m; theta)[t]  +  e_o[m, t]

with z_t the intercept, trend and two yearly harmonics, g_ot week effects, r = hill(adstock(share))
the world's response (theta shared by the apps) and e_o the world's AR(1) noise (rho_o, marginal
sd_o). The Fisher information I of (b, theta, u) is that of generalised least squares with the true
noise law (Prais-Winsten whitening), the nuisance a, g profiled out exactly. Where every market has
its app's effect (u = 1), I^-1 is the Cramer-Rao bound: no estimator unbiased for a quantity q has a
smaller variance than grad q' I^-1 grad q (delta method). Where markets differ, the multipliers'
prior (uniform +-spread: variance spread^2 / 3) adds its precision and the efficient estimate is the
posterior mean, shrunk towards the app's effect. The holidays and the revenue elasticity are taken
as known, which only favours the efficient estimate.

The quantities are those of `evaluation.response_cases`: case "all" (every market to share 1 for
`horizon` weeks from the end of the history) and case "step" (each partial market alone to 1),
in minutes and ad revenue, each against the status quo."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from data.calendar import DAYS_PER_WEEK, year_angle, years_since
from data.exposure import rollout_response
from data.simulator import EffectTruth, SimulatedWorld, WorldSpec, simulate_world
from testkit.evaluation import true_best_plan
from training.model.estimator import ImpactModel
from training.requests import OptimiseRequest

HARMONICS = 2


def whitened(values: np.ndarray, rho: float) -> np.ndarray:
    """Prais-Winsten along the last axis: x_t - rho x_{t-1}, and sqrt(1 - rho^2) x_0."""
    out = values.copy()
    out[..., 1:] = values[..., 1:] - rho * values[..., :-1]
    out[..., 0] = np.sqrt(1.0 - rho**2) * values[..., 0]
    return out


def profiled_information(columns: np.ndarray, basis: np.ndarray, rho: float, sd: float) -> np.ndarray:
    """The Fisher information of parameters whose mean derivatives are `columns` (k x markets x weeks),
    with each market's `basis` (b x weeks) and week effects profiled out, under AR(1) noise."""
    k, n_markets, n_weeks = columns.shape
    g = whitened(columns, rho).reshape(k, -1).T
    nuisance = np.zeros((n_markets * n_weeks, n_markets * len(basis) + n_weeks))
    own, weeks = whitened(basis, rho).T, whitened(np.eye(n_weeks), rho).T
    for m in range(n_markets):
        rows = slice(m * n_weeks, (m + 1) * n_weeks)
        nuisance[rows, m * len(basis):(m + 1) * len(basis)] = own
        nuisance[rows, n_markets * len(basis):] = weeks
    coef = np.linalg.lstsq(nuisance, g, rcond=None)[0]
    residual = g - nuisance @ coef
    return residual.T @ residual / (sd**2 * (1.0 - rho**2))


def _outcomes(spec: WorldSpec, app: str) -> list[tuple[float, float, float]]:
    """(effect size, noise AR, noise marginal sd) of log time per DAU, log DAU and the direct revenue term."""
    e = spec.effects
    return [(e.log_time_per_dau[app], spec.noise_time_ar, spec.noise_time_sd),
            (e.log_dau[app], spec.noise_dau_ar, spec.noise_dau_sd),
            (e.direct_log_revenue[app], spec.noise_revenue_ar, spec.noise_revenue_sd)]


@dataclass
class EfficientEstimate:
    """One app's parameters phi = (b_time, b_dau, b_direct, carry-over, half-saturation, Hill exponent,
    then the market multipliers where markets differ) at their true values, and how an efficient
    estimate of them is distributed on this history: phi + `shift` + N(0, `covariance`)."""

    app: str
    markets: list[str]
    share: np.ndarray             # the history's rollout shares, markets x weeks
    phi: np.ndarray
    shift: np.ndarray
    covariance: np.ndarray

    @property
    def varied(self) -> bool:
        return len(self.phi) > 6

    def effects(self, phi: np.ndarray, spec: WorldSpec) -> EffectTruth:
        """The world's effects with this app's sizes and the shape taken from phi."""
        e, app = spec.effects, self.app
        return replace(e, carryover=float(phi[3]), half_saturation=float(phi[4]), hill_exponent=float(phi[5]),
                       log_time_per_dau={**e.log_time_per_dau, app: float(phi[0])},
                       log_dau={**e.log_dau, app: float(phi[1])},
                       direct_log_revenue={**e.direct_log_revenue, app: float(phi[2])})

    def multipliers(self, phi: np.ndarray) -> np.ndarray:
        """The markets' effect multipliers under phi (the app's effect for all where markets share it)."""
        return phi[6:] if self.varied else np.ones(len(self.markets))

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` efficient estimates (rows), each shape kept inside its parameters' domain."""
        drawn = rng.multivariate_normal(self.phi + self.shift, self.covariance, size=size, method="eigh")
        drawn[:, 3] = np.clip(drawn[:, 3], 0.0, 0.99)
        drawn[:, 4:6] = np.maximum(drawn[:, 4:6], 1e-3)
        return drawn


def efficient_estimates(seed: int, spec: WorldSpec | None = None, horizon: int = 26,
                        world: SimulatedWorld | None = None) -> dict[str, EfficientEstimate]:
    """Per app, how an efficient estimate from the world's history less its last `horizon` weeks (as
    `response_cases` trains on) is distributed. The apps share the shape (as in the world and the
    model's default), so the information is summed over the apps for it. With data information I
    and the prior's precision P (on the market multipliers, centred at 1), the estimate is the
    posterior mean: phi + (I + P)^-1 P (1 - u) + N(0, (I + P)^-1 I (I + P)^-1); without markets
    that differ, P = 0 and this is the Cramer-Rao bound of an unbiased estimate. `world`: the world
    already simulated for `seed` and `spec`, if the caller has it."""
    spec = spec or WorldSpec()
    world = world or simulate_world(seed=seed, spec=spec)
    e = spec.effects
    weeks = spec.weeks()[:-horizon]
    t = years_since(weeks, pd.Timestamp(spec.start))
    angle = year_angle(weeks)
    basis = np.vstack([np.ones(len(weeks)), t] + [f(h * angle) for h in range(1, HARMONICS + 1) for f in (np.cos, np.sin)])
    theta = np.array([e.carryover, e.half_saturation, e.hill_exponent])
    steps = 1e-4 * np.maximum(np.abs(theta), 0.1)
    parts, blocks = {}, []
    for app in spec.apps:
        panel = world.panel[(world.panel["app"] == app) & (world.panel["week"] <= weeks[-1])]
        wide = panel.pivot(index="market", columns="week", values="rollout_share")
        markets, share = list(wide.index), wide.to_numpy()
        u = np.array([world.truth["market_effect"][app][m] for m in markets])
        outcomes = _outcomes(spec, app)
        n_u = len(markets) if e.market_spread else 0
        n = 6 + n_u                                   # this app's phi: sizes, the shape, multipliers
        r0 = rollout_response(share, *theta)
        dr = [(rollout_response(share, *(theta + np.eye(3)[j] * steps[j]))
               - rollout_response(share, *(theta - np.eye(3)[j] * steps[j]))) / (2 * steps[j]) for j in range(3)]
        info = np.zeros((n, n))
        for o, (b, rho, sd) in enumerate(outcomes):
            columns = np.zeros((n,) + share.shape)
            columns[o] = u[:, None] * r0
            for j in range(3):
                columns[3 + j] = b * u[:, None] * dr[j]
            for m in range(n_u):
                columns[6 + m, m] = b * r0[m]
            info += profiled_information(columns, basis, rho, sd)
        parts[app] = (markets, share, np.concatenate([[o[0] for o in outcomes], theta, u[:n_u]]))
        blocks.append(info)
    index, size = {}, 3                  # the joint parameters: the shape, then each app's others
    for app, info in zip(spec.apps, blocks):
        index[app] = np.r_[size:size + 3, 0:3, size + 3:size + len(info) - 3]
        size += len(info) - 3
    data, prior, gap = np.zeros((size, size)), np.zeros((size, size)), np.zeros(size)
    for app, info in zip(spec.apps, blocks):
        data[np.ix_(index[app], index[app])] += info
        multipliers = index[app][6:]
        prior[multipliers, multipliers] = 3.0 / e.market_spread**2 if len(multipliers) else 0.0
        gap[multipliers] = 1.0 - parts[app][2][6:]
    inverse = np.linalg.inv(data + prior)
    shift, covariance = inverse @ prior @ gap, inverse @ data @ inverse
    return {app: EfficientEstimate(app, markets, share, phi, shift[index[app]],
                                   covariance[np.ix_(index[app], index[app])])
            for app, (markets, share, phi) in parts.items()}


def information_bound(seed: int, spec: WorldSpec | None = None, horizon: int = 26, low: float = 0.05,
                      high: float = 0.95, draws: int = 400) -> pd.DataFrame:
    """Per app, case, market (or ALL) and quantity: the true gain `gain` (linear in the effect sizes)
    and, relative to it, the mean `bound_mean`, standard deviation `bound_sd` and median absolute value
    `bound_abs` of an efficient estimate's error, over `draws` efficient estimates
    (`efficient_estimates`; the gain is far from linear in the shape, so it is not linearised). Cases
    as in `response_cases`: "all" every market to 1, "step" each partial market alone to 1."""
    spec = spec or WorldSpec()
    world = simulate_world(seed=seed, spec=spec)
    e = spec.effects
    rows = []
    for app, post in efficient_estimates(seed, spec, horizon, world).items():
        last_week = world.panel[(world.panel["app"] == app)
                                & (world.panel["week"] == spec.weeks()[-horizon - 1])].set_index("market")
        last_week = last_week.reindex(post.markets)
        level = {"minutes": (last_week["dau"] * last_week["time_spent_min"] * DAYS_PER_WEEK).to_numpy(),
                 "ad_revenue_usd": last_week["ad_revenue_usd"].to_numpy()}
        share = post.share
        stay = np.hstack([share, np.repeat(share[:, -1:], horizon, axis=1)])
        go = np.hstack([share, np.ones((len(post.markets), horizon))])

        def gains(phi: np.ndarray) -> dict[str, np.ndarray]:
            """Per market and quantity: the gain of going to 1 under parameters phi (linear in the sizes)."""
            lift = ((rollout_response(go, *phi[3:6]) - rollout_response(stay, *phi[3:6]))[:, -horizon:].sum(axis=1)
                    * post.multipliers(phi))
            return {"minutes": level["minutes"] * (phi[0] + phi[1]) * lift,
                    "ad_revenue_usd": level["ad_revenue_usd"] * (e.revenue_elasticity * (phi[0] + phi[1]) + phi[2]) * lift}

        truth = gains(post.phi)
        drawn = [gains(phi) for phi in post.draw(np.random.default_rng(seed), draws)]
        partial = np.where((share[:, -1] >= low) & (share[:, -1] <= high))[0]
        for q, value in truth.items():
            each = np.stack([d[q] for d in drawn])                      # draws x markets
            cases = [("all", "ALL", each.sum(axis=1) / value.sum() - 1, value.sum())]
            cases += [("step", post.markets[m], each[:, m] / value[m] - 1, value[m]) for m in partial]
            rows += [{"app": app, "case": case, "market": market, "quantity": q, "gain": gain,
                      "bound_mean": float(np.mean(error)), "bound_sd": float(np.std(error)),
                      "bound_abs": float(np.median(np.abs(error)))} for case, market, error, gain in cases]
    return pd.DataFrame(rows).assign(response=e.response, seed=seed)


def efficient_planner(model: ImpactModel, request: OptimiseRequest, seed: int, spec: WorldSpec, unit_cost: float,
                      draws: int = 16) -> np.ndarray:
    """The true net values of the plans of `draws` planners, each planning on one efficient estimate
    (`efficient_estimates`): what plans made from this history's information earn. Each values the
    optimiser's candidates in the world with the drawn shape and sizes (times the drawn market
    multipliers over the true ones where markets differ) and solves the same program
    (`evaluation.true_best_plan`); each plan is valued in the true world."""
    post = efficient_estimates(seed, spec, request.horizon_weeks)[request.app]
    order = [post.markets.index(m) for m in model.markets(request.app, forecastable=True)]
    out = []
    for phi in post.draw(np.random.default_rng(seed), draws):
        planning = replace(spec, effects=post.effects(phi, spec))
        scale = (post.multipliers(phi) / post.multipliers(post.phi))[order]
        out.append(true_best_plan(model, request, seed, spec, unit_cost, planning=(planning, scale))[1])
    return np.array(out)


def beside_efficient_planner(model: ImpactModel, request: OptimiseRequest, seed: int, spec: WorldSpec,
                             unit_cost: float, result: dict, below: float = 0.9, short: float = 0.95,
                             draws: int = 16) -> dict:
    """For `evaluation.optimiser_on_response_world`: where the chosen plan earns less than `below` of
    the true best, the efficient planners' shares of the true best (`efficient_planner`): their median,
    the share of them that earn less than the model's plan and the share that earn less than `short`
    of the true best; NaN elsewhere."""
    if not result["share_of_best"] < below:
        return {"efficient_median": np.nan, "efficient_below_model": np.nan, "efficient_short": np.nan}
    shares = efficient_planner(model, request, seed, spec, unit_cost, draws) / result["best"]
    return {"efficient_median": float(np.median(shares)),
            "efficient_below_model": float(np.mean(shares < result["share_of_best"])),
            "efficient_short": float(np.mean(shares < short))}


def short_of_efficient(plans: pd.DataFrame, short: float = 0.95, level: float = 0.95) -> dict:
    """Plans (`optimiser_on_response_world` with every case beside the efficient planners) against a
    target `short` of the true best: how many earn less than it, the share of the efficient planners'
    plans that do, and how many of these cases efficient planners would miss at most (the `level`
    quantile of a binomial at their rate): no estimator meets a target every time that efficient
    estimates miss at some rate."""
    missed, rate = int((plans["share_of_best"] < short).sum()), float(plans["efficient_short"].mean())
    return {"cases": len(plans), "missed": missed, "efficient_rate": rate,
            "allowed": int(stats.binom.ppf(level, len(plans), rate))}


def bound_errors(cases: pd.DataFrame, bounds: pd.DataFrame) -> pd.DataFrame:
    """Per response design, case and quantity, over the model's cases (`response_cases`, not the
    oracle's) with their bound (`information_bound`): the model's median |error|, `bound` the median
    over the same cases of an efficient estimate's median |error|, and `spread` the root mean square
    of the model's error less the efficient estimate's mean error, in its standard deviations."""
    keys = ["response", "seed", "app", "case", "market", "quantity"]
    model = cases[~cases["oracle"]].merge(bounds[keys + ["bound_mean", "bound_sd", "bound_abs"]], on=keys, how="left",
                                          validate="one_to_one")
    if model["bound_sd"].isna().any():
        raise ValueError("a case without its bound: " + str(model.loc[model["bound_sd"].isna(), keys].head()))
    model = model.assign(abs_error=model["error"].abs(), bound=model["bound_abs"],
                         z2=((model["error"] - model["bound_mean"]) / model["bound_sd"]) ** 2)
    grouped = model.groupby(["response", "case", "quantity"], sort=False)
    return grouped[["abs_error", "bound"]].median().assign(spread=np.sqrt(grouped["z2"].mean()))
