"""Questions to one fitted app: forecasts, attribution, effect summaries, read off its `AppFit`.

`AppQueries` holds the query maths (effect paths under each draw's shape, baseline paths with
conformal noise scales) and nothing fitted: it only reads the plain arrays of an `AppFit`.
What does not depend on the question is computed once and kept: the unscaled noise paths, the
shape tables, the adstock operator and the status quo's point forecast (cached properties), and
the small per-level factors (max-t widening, noise scales; least-recently-used caches). The
sample paths themselves are built per question for the asked markets only (`scenario_paths`),
so a worker's memory grows with neither the interval levels asked nor the markets a model has:
the status quo is evaluated on the same paths as the plan, in the same call. Every question
reads its interval level rounded to 4 decimals, the caches' key, so 0.9 and 0.9000000001 get
the same answer. Point forecasts are the baselines' noise-free forecast plus the point effects,
the mean of the paths' effects (`point_forecast`): moving the level moves only the band.

Thread safety: the instance may be shared by threads. Cached properties and `lru_cache` are
safe to read concurrently, and a question writes only to arrays it created.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd

from data.exposure import adstock, adstock_operator, hill
from training.model.attribution import attribution_paths
from training.model.backtest import QUANTITY_OF_OUTCOME
from training.model.baseline import future_weeks
from training.model.effects import interval_inflation
from training.model.experiments import LIFTS, draw_lifts
from training.model.fitted import AppFit
from training.model.paths import (ADDITIVE, EFFECT_NAMES, QUANTITIES, VALUED, baseline_logs, combined_levels, interval, path_log_effects,
                                  point_weights, slopes, with_time_per_dau)

ROWS_PER_CHUNK = 128                     # plan rows valued at once (bounds memory: rows x weeks x paths)
HISTORY_CHUNK = 32                       # markets attributed at once (memory: markets x history weeks x paths)


def level_key(level: float) -> float:
    """The cache key of an interval level: rounded, so 0.9 and 0.9000000001 share an entry."""
    return round(float(level), 4)


@dataclass
class Forecast:
    """A scenario against the status quo, from joint sample paths."""

    app: str
    markets: list[str]
    weeks: list[str]         # YYYY-MM-DD
    level: float
    per_market: dict         # rollout_share, and quantity -> {status_quo, scenario, lo, hi}: markets x weeks arrays
    combined: dict           # the same for the chosen markets together: 1 x weeks arrays
    totals: dict             # quantity -> status_quo, scenario, incremental: each {mean, lo, hi} over the horizon

    @property
    def weekly(self) -> pd.DataFrame:
        """One row per week and market, then the "ALL" rows: `<quantity>_<status_quo|scenario|lo|hi>`."""
        return pd.concat([_forecast_rows(self.per_market, self.markets, self.weeks),
                          _forecast_rows(self.combined, ["ALL"], self.weeks)], ignore_index=True)


@dataclass
class RowValues:
    """What each row (one forecastable market under one share path) adds over that market's
    status quo, summed over the horizon, in the point forecast and on every joint sample path,
    with the rollout's exposure: DAU x share of the row's own forecast."""

    incremental: dict[str, float | np.ndarray]   # minutes, ad_revenue_usd -> rows (point forecast)
    incremental_paths: dict[str, np.ndarray]    # minutes, ad_revenue_usd -> rows x paths
    exposed_dau: np.ndarray                     # rows x weeks: share x the row's point DAU
    exposed_dau_weeks_paths: np.ndarray         # rows x paths: share x DAU summed over the weeks


@dataclass
class Attribution:
    """The history as observed against the same history with zero rollout."""

    app: str
    markets: list[str]
    weeks: pd.DatetimeIndex
    level: float
    totals: dict             # quantity -> observed, incremental {mean, lo, hi}, relative lift
    by_market: pd.DataFrame
    weekly: pd.DataFrame


class AppQueries:
    """Forecasts, attribution and summaries of one fitted app (see the module docstring)."""

    def __init__(self, fit: AppFit):
        self.fit = fit
        self._noise_scales = lru_cache(maxsize=64)(self._noise_scales_at)
        self._inflation = lru_cache(maxsize=64)(self._inflation_at)

    # ------------------------------------------------------------------ fixed parts

    @cached_property
    def forecast_rows(self) -> np.ndarray:
        """Positions (among all the app's markets) of the forecastable ones, in order."""
        return np.flatnonzero(self.fit.panel.forecastable)

    @cached_property
    def forecast_markets(self) -> list[str]:
        return [self.fit.panel.markets[i] for i in self.forecast_rows]

    @cached_property
    def future_weeks(self) -> pd.DatetimeIndex:
        """Every forecastable week."""
        return future_weeks(self.fit.panel.weeks, self.fit.baseline.mean.shape[-1])

    @cached_property
    def future_week_labels(self) -> list[str]:
        return [str(w.date()) for w in self.future_weeks]

    @cached_property
    def noise_parts(self) -> tuple[np.ndarray, np.ndarray]:
        """Unscaled baseline error paths: the app's common component (outcomes x 1 x max horizon x
        draws, each quantity's chosen kind), drawn once per path for all markets, and the markets'
        own parts (outcomes x forecastable markets x max horizon x draws).

        Fixed by the model's seed, so the same question always gets the same answer, and plan
        and status quo share them.
        """
        fit = self.fit
        rng = np.random.default_rng(fit.noise_seed)
        parts = fit.baseline.noise_parts(fit.baseline.mean.shape[-1], len(fit.draws["log_time"]), rng)
        common = np.stack([parts.common[fit.backtest.common_kind(q)][:, o] for o, q in enumerate(QUANTITY_OF_OUTCOME)],
                          axis=1)
        return _draws_last(common[:, :, None]), _draws_last(parts.own)

    @cached_property
    def shape_tables(self) -> dict:
        """Index tables over the shapes the draws use, and each quantity's weights of those shapes
        in the point effect (the mean over draws)."""
        fit = self.fit
        used = np.unique(fit.draws["shape_index"])
        carryover = np.array([fit.shapes[u].carryover for u in used])
        distinct = np.unique(carryover)
        return {
            "distinct": distinct,
            "first_of_carryover": [int(used[carryover == c][0]) for c in distinct],
            "carryover_of_used": np.searchsorted(distinct, carryover),
            "half_saturation": np.array([fit.shapes[u].half_saturation for u in used]),
            "hill_exponent": np.array([fit.shapes[u].hill_exponent for u in used]),
            "of_draw": np.searchsorted(used, fit.draws["shape_index"]),
            "point_weights": {name: w[used] for name, w in point_weights(fit.draws, len(fit.shapes)).items()},
            "market_point_weights": None if fit.market_draws is None else
            {name: w[:, used] for name, w in point_weights(fit.draws, len(fit.shapes), fit.market_draws).items()},
        }

    def inflation(self, level: float) -> float:
        """The max-t widening factor for a `level` interval."""
        return self._inflation(level_key(level))

    def _inflation_at(self, level: float) -> float:
        return interval_inflation(self.fit.max_t, level)

    # ------------------------------------------------------------------ effects

    @cached_property
    def forecast_adstock(self) -> tuple[np.ndarray, np.ndarray]:
        """`adstock_operator` of every distinct carry-over over the longest horizon."""
        return adstock_operator(self.shape_tables["distinct"], self.fit.baseline.mean.shape[-1])

    def responses(self, shares: np.ndarray, markets: np.ndarray, forecast: bool, dtype=np.float64) -> np.ndarray:
        """The response of a share path under every shape the draws use (markets x weeks x shapes).

        `markets` are positions among all the app's markets. `forecast=True` continues each
        shape's exposure from the end of the history (by the adstock operator: a forecast is
        short, and asked often); otherwise the shares are the history itself.
        """
        t = self.shape_tables
        # every distinct carry-over in one pass (markets x weeks x carry-overs), then every shape's saturation
        if forecast:
            weights, decay = self.forecast_adstock
            weeks = shares.shape[-1]
            initial = self.fit.last_exposure[t["first_of_carryover"]][:, markets].T       # markets x carry-overs
            exposure = (np.matmul(shares, weights[:, :weeks, :weeks]).transpose(1, 2, 0)
                        + initial[:, None, :] * decay[:, :weeks].T)
        else:
            exposure = np.moveaxis(adstock(shares[:, None, :], t["distinct"]), 1, -1)
        return hill(exposure[..., t["carryover_of_used"]], t["half_saturation"], t["hill_exponent"]).astype(dtype)

    def point_log_effects(self, responses: np.ndarray, markets: np.ndarray) -> dict[str, np.ndarray]:
        """Point log effects (markets x weeks x 1) from `responses` of the markets at positions
        `markets`: the mean over the draws of each draw's effect under its own shape (and in its
        market), the centre of the paths."""
        by_market = self.shape_tables["market_point_weights"]
        if by_market is not None:
            return {name: np.einsum("mws,ms->mw", responses, w[markets].astype(responses.dtype))[..., None]
                    for name, w in by_market.items()}
        weights = self.shape_tables["point_weights"]
        return {name: (responses @ w.astype(responses.dtype))[..., None] for name, w in weights.items()}

    def log_effects(self, shares: np.ndarray, markets: np.ndarray, level: float, forecast: bool,
                    dtype=np.float64, quantities: tuple[str, ...] | None = None) -> tuple[dict, dict]:
        """Point and per-path log effects (markets x weeks x 1 / x paths) of a share path (see
        `responses`); paths are widened for a `level` interval."""
        return self.effects_of(self.responses(shares, markets, forecast, dtype), markets, level, quantities)

    def effects_of(self, responses: np.ndarray, markets: np.ndarray, level: float,
                   quantities: tuple[str, ...] | None = None) -> tuple[dict, dict]:
        """Point and per-path log effects of `responses` of the markets at positions `markets`
        (see `log_effects`); each path takes its draw's relative effect of the market."""
        point = self.point_log_effects(responses, markets)
        each_draw = np.take(responses, self.shape_tables["of_draw"], axis=-1)   # C order, paths innermost
        if self.fit.market_draws is not None:
            each_draw *= self.fit.market_draws[markets][:, None, :].astype(each_draw.dtype)
        paths = path_log_effects(self.fit.draws, each_draw, point, self.inflation(level), quantities)
        return point, paths

    def effect_summary(self, level: float = 0.9) -> dict[str, dict[str, float]]:
        """Each effect parameter's estimate and `level` interval: the bootstrap draws widened
        around the estimate by the max-t factor, the same widening every forecast and
        attribution path uses."""
        level = level_key(level)
        point, factor = vars(self.fit.effect), self.inflation(level)
        out = {}
        for name in EFFECT_NAMES:
            widened = point[name] + factor * (self.fit.draws[name] - point[name])
            lo, hi = interval(widened, level)
            out[name] = {"estimate": float(point[name]), "lo": float(lo), "hi": float(hi)}
        return out

    def market_effect_summary(self, level: float = 0.9) -> pd.DataFrame:
        """Each market's effect: relative to the app's (posterior mean, and the market's own
        estimate before pooling), and on log time per DAU with a `level` interval: the widened
        draws of the app's effect times the market's relative effect in each draw, the same
        product every path uses, and the estimate their mean."""
        fit, level = self.fit, level_key(level)
        markets = fit.market_effects
        point = fit.effect.log_time
        widened = point + self.inflation(level) * (fit.draws["log_time"] - point)
        relative = np.ones((len(fit.panel.markets), len(widened))) if fit.market_draws is None else fit.market_draws
        per_market = widened * relative
        lo, hi = interval(per_market, level)
        return pd.DataFrame({"market": fit.panel.markets, "relative": markets.relative, "relative_sd": markets.sd,
                             "own_estimate": markets.own, "log_time": per_market.mean(axis=1), "lo": lo, "hi": hi})

    def experiment_predictions(self, level: float = 0.9) -> pd.DataFrame:
        """Each lift test of the app: what was measured, what the panel alone predicted for its
        lift of log time per DAU (`before`, with the z of the difference and whether the test was
        used), and what the fitted model predicts for each measured lift (`after`): per draw, its
        slope times its market's relative effect in that draw times the response the test adds
        under the draw's shape, widened like every path around their mean, the estimate."""
        fit, level = self.fit, level_key(level)
        tests = fit.tests
        if tests is None:
            return pd.DataFrame()
        x = tests.added_by_draw(fit.panel.share, fit.shapes, fit.draws["shape_index"])      # tests x draws
        frame = {"row": tests.rows, "market": [fit.panel.markets[m] for m in tests.market],
                 "first_week": [str(fit.panel.weeks[i].date()) for i in tests.first],
                 "last_week": [str(fit.panel.weeks[i].date()) for i in tests.last],
                 "test_share": tests.test, "reference_share": tests.reference, "source": list(tests.source),
                 "before": tests.before_mean, "before_sd": tests.before_sd, "z": tests.z, "used": tests.used}
        for k, name in enumerate(LIFTS):
            point, paths = self.lift_paths(x, tests.market, level, name)
            lo, hi = interval(paths, level)
            frame |= {f"lift_{name}": tests.lift[:, k], f"se_{name}": tests.se[:, k],
                      f"after_{name}": point, f"after_{name}_lo": lo, f"after_{name}_hi": hi}
        return pd.DataFrame(frame)

    def lift_paths(self, added: np.ndarray, markets: np.ndarray, level: float,
                   lift: str = "log_time") -> tuple[np.ndarray, np.ndarray]:
        """Predicted lifts of `lift` (one of LIFTS) from the response each test adds under each
        draw's shape (`added`, tests x draws) in the markets at positions `markets`: per draw its
        slope times the market's relative effect in that draw times the response added, widened for
        a `level` interval around their mean, the point (tests; tests x paths)."""
        paths = draw_lifts(self.fit.draws, self.fit.market_draws, added, markets, lift)
        point = paths.mean(axis=1)
        factor = self.inflation(level_key(level))
        return point, factor * paths + (1.0 - factor) * point[:, None]

    def future_lifts(self, index: np.ndarray, test: np.ndarray, reference: np.ndarray, weeks: np.ndarray,
                     level: float) -> tuple[np.ndarray, np.ndarray]:
        """Predicted lift of log time per DAU of tests starting in the first forecast week (see
        `lift_paths`): test c holds one arm of the forecastable market at `index[c]` at share
        `test[c]` and another at `reference[c]` for `weeks[c]` weeks, both arms continuing the
        market's exposure from the end of the history; its lift is the mean over those weeks of
        the difference of their responses."""
        n, longest = len(index), int(weeks.max())
        arms = np.repeat(np.concatenate([test, reference])[:, None], longest, axis=1)
        markets = np.tile(self.forecast_rows[index], 2)
        responses = self.responses(arms, markets, forecast=True)                 # 2n x weeks x shapes
        added = np.cumsum(responses[:n] - responses[n:], axis=1)[np.arange(n), weeks - 1] / weeks[:, None]
        return self.lift_paths(added[:, self.shape_tables["of_draw"]], self.forecast_rows[index], level)

    def dose_response(self, level: float = 0.9, n_points: int = 101) -> dict[str, np.ndarray]:
        """Steady-state effect on total minutes (%) against a share held long enough, with the
        `level` band of the widened draws."""
        fit, level = self.fit, level_key(level)
        share = np.linspace(0, 1, n_points)
        held = np.repeat(share[:, None], 200, axis=1)          # each share held for 200 weeks
        steady = {i: fit.shapes[i].response(held)[:, -1] for i in np.unique(fit.draws["shape_index"])}
        point = slopes(vars(fit.effect))["minutes"]
        widened = point + self.inflation(level) * (slopes(fit.draws)["minutes"] - point)
        curves = np.array([np.expm1(widened[b] * steady[i]) for b, i in enumerate(fit.draws["shape_index"])]) * 100
        lo, hi = interval(curves.T, level)
        return {"share": share, "estimate": curves.mean(axis=0), "lo": lo, "hi": hi}

    # ------------------------------------------------------------------ forecasts

    def status_quo(self, index: np.ndarray, horizon: int) -> np.ndarray:
        """Shares held at their last observed value: forecastable markets (positions) x horizon."""
        return np.repeat(self.fit.panel.share[self.forecast_rows[index], -1:], horizon, axis=1)

    def noise_scales(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated multipliers of the common and the own noise for a `level` interval, each
        outcomes x 1 x max horizon x 1 in the noise's dtype (time and DAU share the minutes
        scales); past the backtested horizon each law's growth continues."""
        return self._noise_scales(level_key(level))

    def _noise_scales_at(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        laws = [self.fit.backtest.scales[q] for q in QUANTITY_OF_OUTCOME]
        horizon, dtype = self.fit.baseline.mean.shape[-1], self.noise_parts[1].dtype
        return tuple(np.array([law[part].at(level, horizon) for law in laws]).astype(dtype)[:, None, :, None]
                     for part in ("common", "own"))

    def baseline_paths(self, index: np.ndarray, horizon: int, level: float) -> dict[str, np.ndarray]:
        """Baseline logs on every path (quantity -> markets x weeks x paths) of the forecastable
        markets at `index` over the first `horizon` weeks: the baselines' forecast plus the common
        and the own error paths, scaled for a `level` interval.

        Built for the asked markets on every question and not kept: a few multiply-adds per cell,
        against a cache that would hold every market's paths for every level asked.
        """
        common, own = self.noise_parts
        common_scale, own_scale = self.noise_scales(level)
        weeks = slice(None, horizon)
        base = own[:, index, weeks]                          # a copy (fancy index): scaled in place
        base *= own_scale[:, :, weeks]
        base += common[:, :, weeks] * common_scale[:, :, weeks]
        base += self.fit.baseline.mean[:, index, weeks].astype(own.dtype)[..., None]
        return baseline_logs(base)

    def scenario_paths(self, plans: list[np.ndarray], index: np.ndarray, level: float,
                       quantities: tuple[str, ...]) -> tuple[list[dict], np.ndarray]:
        """Levels on every joint sample path (quantity -> markets x weeks x paths) under each share
        array of `plans` (each: the forecastable markets at `index` x the same weeks), all on the
        same baseline paths, so their differences are paths too; and the plans' responses
        (plans x markets x weeks x shapes) for their point forecasts. A market may come back in
        several rows of `index`."""
        rows, horizon = plans[0].shape
        baseline = self.baseline_paths(index, horizon, level)
        markets = np.tile(self.forecast_rows[index], len(plans))
        responses = self.responses(np.concatenate(plans), markets, forecast=True)
        _, effects = self.effects_of(responses.astype(np.float32), markets, level, quantities)
        levels = [{q: effect[n * rows:(n + 1) * rows] for q, effect in effects.items()} for n in range(len(plans))]
        for plan in levels:                # in place (no new arrays): the log effects become exp(baseline + effect)
            for q, values in plan.items():
                values += baseline[q]
                np.exp(values, out=values)
        return levels, responses.reshape(len(plans), rows, *responses.shape[1:])

    def forecast(self, shares: np.ndarray, index: np.ndarray, level: float) -> Forecast:
        """Plan (`shares`, markets x horizon) of the forecastable markets at `index` against the
        status quo, on joint sample paths (see `ImpactModel.forecast`)."""
        return next(self.forecasts([shares], index, level))

    def forecasts(self, plans: list[np.ndarray], index: np.ndarray, level: float) -> Iterator[Forecast]:
        """Each plan of `plans` (each: the forecastable markets at `index` x the same weeks)
        against the status quo, one `Forecast` at a time, all on the same joint sample paths.

        The status quo's paths are built once. A plan's paths are built only for the markets it
        moves (a share that differs from the status quo in some week), ROWS_PER_CHUNK at a time;
        every other market's rows are the status quo's, and the markets together are the status
        quo's sum plus the moved markets' differences, path by path (in float64). So a plan that
        moves one market of many costs one market's paths.
        """
        horizon, level = plans[0].shape[1], level_key(level)
        quo_shares = self.status_quo(index, horizon)
        (quo,), _ = self.scenario_paths([quo_shares], index, level, QUANTITIES)
        point_quo = {q: v[index, :horizon] for q, v in self.status_quo_point.items()}
        quo_lo, quo_hi = interval(np.stack([quo[q] for q in QUANTITIES]), level)
        quo_sums = {q: quo[q].sum(axis=0, dtype=np.float64) for q in ADDITIVE}
        names = [self.forecast_markets[i] for i in index]
        weeks = self.future_week_labels[:horizon]
        for shares in plans:
            moved = np.flatnonzero((shares != quo_shares).any(axis=1))
            point_plan = {q: v.copy() for q, v in point_quo.items()}
            lo, hi = quo_lo.copy(), quo_hi.copy()
            sums = {q: v.copy() for q, v in quo_sums.items()}
            one = {q: v[:1] for q, v in quo.items()} if len(index) == 1 else None    # the one market's paths
            for first in range(0, len(moved), ROWS_PER_CHUNK):
                rows = moved[first:first + ROWS_PER_CHUNK]
                (plan,), responses = self.scenario_paths([shares[rows]], index[rows], level, QUANTITIES)
                for q, values in self._point_levels(responses[0], index[rows]).items():
                    point_plan[q][rows] = values
                lo[:, rows], hi[:, rows] = interval(np.stack([plan[q] for q in QUANTITIES]), level)
                for q in ADDITIVE:
                    sums[q] += plan[q].sum(axis=0, dtype=np.float64)
                    sums[q] -= quo[q][rows].sum(axis=0, dtype=np.float64)
                if one is not None:
                    one = plan
            per_market = {"rollout_share": shares} | {
                q: {"status_quo": point_quo[q], "scenario": point_plan[q], "lo": lo[n], "hi": hi[n]}
                for n, q in enumerate(QUANTITIES)}
            quo_all, plan_all = with_time_per_dau(quo_sums), with_time_per_dau(sums)
            if one is not None:        # the chosen markets together are the one market: its rows and paths
                combined, plan_all, quo_all = per_market, _only_market(one), _only_market(quo)
            else:
                point_plan_all, point_quo_all = combined_levels(point_plan), combined_levels(point_quo)
                lo_all, hi_all = interval(np.stack([plan_all[q] for q in QUANTITIES]), level)
                combined = {q: {"status_quo": point_quo_all[q][None], "scenario": point_plan_all[q][None],
                                "lo": lo_all[n][None], "hi": hi_all[n][None]} for n, q in enumerate(QUANTITIES)}
                combined["rollout_share"] = ((point_quo["dau"] * shares).sum(axis=0, keepdims=True)    # DAU-weighted
                                             / combined["dau"]["status_quo"])
            totals = _totals(point_quo, point_plan, quo_all, plan_all, level)
            yield Forecast(self.fit.panel.app, names, weeks, level, per_market, combined, totals)

    def point_forecast(self, shares: np.ndarray, index: np.ndarray) -> dict[str, np.ndarray]:
        """The point forecast of a share path (forecastable markets at `index` x weeks): the
        baselines' forecast plus the point estimate's effects, quantity -> markets x weeks.

        It is what the backtest scores (the forecast without its noise, the median of a path's
        log), so it does not move with the interval level or the width of the band; a mean over
        paths would, by the convexity of exp, where the band is wide.
        """
        return self._point_levels(self.responses(shares, self.forecast_rows[index], forecast=True), index)

    def _point_levels(self, responses: np.ndarray, index: np.ndarray) -> dict[str, np.ndarray]:
        base = baseline_logs(self.fit.baseline.mean[:, index, :responses.shape[1]])
        effects = self.point_log_effects(responses, self.forecast_rows[index])
        return {q: np.exp(base[q] + effects[q][..., 0]) for q in QUANTITIES}

    @cached_property
    def status_quo_point(self) -> dict[str, np.ndarray]:
        """The status quo's point forecast, every forecastable market, the longest horizon (the
        same for every question, so computed once and sliced)."""
        index = np.arange(len(self.forecast_rows))
        return self.point_forecast(self.status_quo(index, self.fit.baseline.mean.shape[-1]), index)

    def row_values(self, shares: np.ndarray, index: np.ndarray, level: float) -> RowValues:
        """Each row of `shares` (rows x weeks) is the share path of the forecastable market at
        `index[row]` (a market may come back in several rows): what it adds over that market's
        status quo, point and per path, on the `level` paths (see `RowValues`).

        A plan's value is the sum of its markets' rows, path by path: markets do not interact.
        The status quo's paths are built once per distinct market, the rows' in chunks of
        ROWS_PER_CHUNK (memory: rows x weeks x paths).
        """
        horizon, level = shares.shape[1], level_key(level)
        markets, of_row = np.unique(index, return_inverse=True)
        (status_quo,), _ = self.scenario_paths([self.status_quo(markets, horizon)], markets, level, VALUED)
        status_quo_point = {q: self.status_quo_point[q][index, :horizon] for q in ("dau",) + VALUED}
        n_paths = status_quo[VALUED[0]].shape[-1]
        incremental = {q: np.empty(len(index)) for q in VALUED}
        paths = {q: np.empty((len(index), n_paths)) for q in VALUED}
        exposed_dau = np.empty(shares.shape)
        exposed = np.empty((len(index), n_paths))
        for first in range(0, len(index), ROWS_PER_CHUNK):
            rows = slice(first, first + ROWS_PER_CHUNK)
            (plan,), responses = self.scenario_paths([shares[rows]], index[rows], level, ("dau",) + VALUED)
            point = self._point_levels(responses[0], index[rows])
            for q in VALUED:
                incremental[q][rows] = (point[q] - status_quo_point[q][rows]).sum(axis=1)
                paths[q][rows] = (plan[q] - status_quo[q][of_row[rows]]).sum(axis=1, dtype=np.float64)
            exposed_dau[rows] = shares[rows] * point["dau"]
            exposed[rows] = (shares[rows, :, None] * plan["dau"]).sum(axis=1, dtype=np.float64)
        return RowValues(incremental, paths, exposed_dau, exposed)

    # ------------------------------------------------------------------ attribution

    def attribute(self, index: np.ndarray, start: str | None, end: str | None, level: float) -> Attribution:
        """Incremental minutes and revenue of the markets at `index` over the observed rows in
        [start, end] (see `ImpactModel.attribute`)."""
        return self._attribution(index, self._history_window(start, end), level_key(level))

    def attribute_market_weeks(self, level: float) -> pd.DataFrame:
        """Every market's attribution week by week within its own window (market, week, then the
        columns of `Attribution.weekly`), each cell's band from its own paths, then the markets
        together (market ALL, `attribute` of every market's `weekly`): in one pass over the markets."""
        panel, level = self.fit.panel, level_key(level)
        cells = []
        together = self._attribution(np.arange(len(panel.markets)), np.ones(len(panel.weeks), dtype=bool), level, cells)
        weekly = together.weekly.assign(market="ALL")
        return pd.concat([*cells, weekly[["market", *together.weekly.columns]]], ignore_index=True)

    def _attribution(self, index: np.ndarray, in_window: np.ndarray, level: float,
                     cells: list | None = None) -> Attribution:
        """`attribute` of the markets at `index` over the weeks `in_window`, HISTORY_CHUNK markets at
        a time; with `cells`, each market-week row within the market's window is appended to it
        too, a DataFrame per chunk (see `attribute_market_weeks`)."""
        panel = self.fit.panel
        point, by_market_paths, weekly_paths = {}, {}, {}     # markets x weeks; markets x paths; weeks x paths
        for rows, observed, chunk_point, chunk_paths in self._attribution_chunks(index, in_window, level):
            for quantity, values in chunk_paths.items():
                point.setdefault(quantity, []).append(chunk_point[quantity])
                by_market_paths.setdefault(quantity, []).append(values.sum(axis=1))
                weekly_paths[quantity] = weekly_paths.get(quantity, 0.0) + values.sum(axis=0)
            if cells is not None:
                cells.append(self._cell_rows(index[rows], in_window, observed, chunk_point, chunk_paths, level))
        point = {q: np.concatenate(v) for q, v in point.items()}
        by_market_paths = {q: np.concatenate(v) for q, v in by_market_paths.items()}
        observed = {"minutes": panel.minutes[index][:, in_window], "ad_revenue_usd": panel.revenue[index][:, in_window]}
        totals = {}
        for quantity, values in weekly_paths.items():
            lo, hi = interval(values.sum(axis=0), level)
            totals[quantity] = {"mean": float(point[quantity].sum()), "lo": float(lo), "hi": float(hi)}
        for quantity, seen in observed.items():
            added = totals[quantity]["mean"]
            totals[quantity] = {"observed": float(seen.sum()), "incremental": totals[quantity],
                                "relative_lift": added / (float(seen.sum()) - added)}
        revenue_totals = totals["ad_revenue_usd"]
        revenue_totals["via_engagement"] = totals.pop("via_engagement")
        revenue_totals["direct"] = totals.pop("direct")
        names = [panel.markets[i] for i in index]
        weeks = panel.weeks[in_window]
        by_market = _attribution_rows(point, by_market_paths, observed, level, axis=1, labels=("market", names))
        weekly = _attribution_rows(point, weekly_paths, observed, level, axis=0, labels=("week", weeks))
        return Attribution(panel.app, names, weeks, level, totals, by_market, weekly)

    def _cell_rows(self, markets: np.ndarray, in_window: np.ndarray, observed: dict, point: dict, paths: dict,
                   level: float) -> pd.DataFrame:
        """Each market-week of `markets` within the market's window, with its own band."""
        panel = self.fit.panel
        market, week = np.nonzero(panel.observed[markets][:, in_window])     # each window is contiguous
        frame = {"market": np.array(panel.markets, dtype=object)[markets][market],
                 "week": np.asarray(panel.weeks[in_window].strftime("%Y-%m-%d"), dtype=object)[week]}
        for quantity in ("minutes", "ad_revenue_usd", "via_engagement", "direct"):
            if quantity in observed:
                frame[f"observed_{quantity}"] = observed[quantity][market, week]
            name = f"incremental_{quantity}" if quantity in observed else f"ad_revenue_usd_{quantity}"
            lo, hi = interval(paths[quantity][market, week], level)
            frame[name], frame[f"{name}_lo"], frame[f"{name}_hi"] = point[quantity][market, week], lo, hi
        return pd.DataFrame(frame)

    def _history_window(self, start: str | None, end: str | None) -> np.ndarray:
        """The history's weeks in [start, end], or ValueError when there are none."""
        weeks = self.fit.panel.weeks
        in_window = np.ones(len(weeks), dtype=bool)
        if start is not None:
            in_window &= weeks >= pd.Timestamp(start)
        if end is not None:
            in_window &= weeks <= pd.Timestamp(end)
        if not in_window.any():
            raise ValueError(f"no modelled week between {start} and {end} "
                             f"(the history runs {weeks[0]:%Y-%m-%d}..{weeks[-1]:%Y-%m-%d})")
        return in_window

    def _attribution_chunks(self, index: np.ndarray, in_window: np.ndarray, level: float) -> Iterator[tuple]:
        """The markets at `index`, HISTORY_CHUNK at a time (memory: a chunk's paths): their rows (a
        slice of `index`), observed minutes and revenue, point (markets x weeks) and paths (x paths)
        of what the rollout added in the window's weeks (`attribution_paths`)."""
        panel = self.fit.panel
        window = (slice(None), slice(None) if in_window.all() else in_window)    # a view where no week is left out
        for first in range(0, len(index), HISTORY_CHUNK):
            rows = slice(first, first + HISTORY_CHUNK)
            observed = {"minutes": panel.minutes[index[rows]][:, in_window],     # 0 where a market has no row
                        "ad_revenue_usd": panel.revenue[index[rows]][:, in_window]}
            point_effects, path_effects = self.log_effects(panel.share[index[rows]], index[rows], level, forecast=False)
            point = attribution_paths(observed["minutes"], observed["ad_revenue_usd"],
                                      {k: v[window] for k, v in point_effects.items()})
            paths = attribution_paths(observed["minutes"], observed["ad_revenue_usd"],
                                      {k: v[window] for k, v in path_effects.items()})
            yield rows, observed, {k: v[..., 0] for k, v in point.items()}, paths


# ---------------------------------------------------------------------- helpers

def _draws_last(paths: np.ndarray) -> np.ndarray:
    """Paths (draws on axis 0) with the draws last, as contiguous float32 (fast; ample precision)."""
    return np.ascontiguousarray(np.moveaxis(paths, 0, -1), dtype=np.float32)


def _only_market(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`combined_levels` of one market: the market itself (its own time per DAU, the same to rounding)."""
    return {q: v[0] for q, v in values.items()}


def _totals(point_quo: dict, point_plan: dict, quo_all: dict, plan_all: dict, level: float) -> dict:
    """Minutes' and revenue's status_quo, scenario and incremental totals over the horizon, each
    {mean, lo, hi}: the mean is the sum of the weekly rows (the point forecasts), the band is read
    off the chosen markets' weekly paths (weeks x paths) summed path by path."""
    parts = []                 # (quantity, part, mean, paths)
    for q in VALUED:
        mean_quo, mean_plan = float(point_quo[q].sum()), float(point_plan[q].sum())
        paths_quo, paths_plan = quo_all[q].astype(float).sum(axis=0), plan_all[q].astype(float).sum(axis=0)
        parts += [(q, "status_quo", mean_quo, paths_quo), (q, "scenario", mean_plan, paths_plan),
                  (q, "incremental", mean_plan - mean_quo, paths_plan - paths_quo)]
    lo, hi = interval(np.stack([paths for *_, paths in parts]), level)          # every band in one sort
    out = {q: {} for q in VALUED}
    for (q, part, mean, _), low, high in zip(parts, lo, hi):
        out[q][part] = {"mean": mean, "lo": float(low), "hi": float(high)}
    return out


def _forecast_rows(values: dict, names: list[str], weeks: list[str]) -> pd.DataFrame:
    """Long rows (week, market) with `<quantity>_<status_quo|scenario|lo|hi>` columns."""
    frame = {"week": np.tile(weeks, len(names)), "market": np.repeat(names, len(weeks)),
             "rollout_share": values["rollout_share"].reshape(-1)}
    for quantity in QUANTITIES:
        for column, array in values[quantity].items():
            frame[f"{quantity}_{column}"] = array.reshape(-1)
    return pd.DataFrame(frame)


def _attribution_rows(point: dict, path_sums: dict, observed: dict, level: float, axis: int,
                      labels: tuple[str, object]) -> pd.DataFrame:
    """Per market (sum over weeks, axis=1) or per week (sum over markets, axis=0): observed and
    incremental minutes and ad revenue, and the incremental revenue's split
    (`ad_revenue_usd_via_engagement`, `ad_revenue_usd_direct`), each with its band; `point` is
    markets x weeks, `path_sums` the paths already summed over that axis (rows x paths)."""
    name, values = labels
    frame = {name: [str(v.date()) if isinstance(v, pd.Timestamp) else v for v in values]}
    for quantity in ("minutes", "ad_revenue_usd", "via_engagement", "direct"):
        if quantity in observed:
            frame[f"observed_{quantity}"] = observed[quantity].sum(axis=axis)
        name = f"incremental_{quantity}" if quantity in observed else f"ad_revenue_usd_{quantity}"
        lo, hi = interval(path_sums[quantity], level)
        frame[name] = point[quantity].sum(axis=axis)
        frame[f"{name}_lo"] = lo
        frame[f"{name}_hi"] = hi
    return pd.DataFrame(frame)
