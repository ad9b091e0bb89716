"""Questions to one fitted app: forecasts, attribution, effect summaries, read off its `AppFit`.

`AppQueries` holds the query maths (effect paths under each draw's shape, status-quo paths,
conformal noise scales) and nothing fitted: it only reads the plain arrays of an `AppFit`.
What does not depend on the question is computed once: the noise paths, the shape tables and
the status quo's point forecast as cached properties, the status-quo paths and max-t factors
per interval level in bounded least-recently-used caches. Every question reads its interval level rounded to 4 decimals, the
caches' key, so 0.9 and 0.9000000001 get the same answer. Point forecasts come from the
baselines' forecast and the point effects, not from the paths (`point_forecast`): moving the
level moves only the band.

Thread safety: the instance may be shared by threads. Cached properties and `lru_cache` are
safe to read concurrently, and the status-quo paths (the one large cache) are built under a
lock, so each level is computed once however many requests ask for it at the same time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd

from data.exposure import adstock, hill
from training.model.attribution import attribution_paths
from training.model.backtest import QUANTITY_OF_OUTCOME
from training.model.baseline import future_weeks
from training.model.effects import interval_inflation
from training.model.fitted import AppFit
from training.model.paths import (QUANTITIES, baseline_logs, combined_levels, interval, path_log_effects,
                                  point_log_effects, scenario_logs, slopes)

EFFECT_NAMES = ("log_time", "log_dau", "revenue_elasticity", "direct_log_revenue")
VALUED = ("minutes", "ad_revenue_usd")   # the additive quantities a plan is valued in
ROWS_PER_CHUNK = 128                     # plan rows valued at once (bounds memory: rows x weeks x paths)
STATUS_QUO_LEVELS_KEPT = 4       # interval levels whose status-quo paths stay in memory


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
    per_market: dict         # rollout_share, and quantity -> {baseline, scenario, lo, hi}: markets x weeks arrays
    combined: dict           # the same for the chosen markets together: 1 x weeks arrays
    totals: dict             # quantity -> baseline, scenario, incremental: each {mean, lo, hi} over the horizon

    @property
    def weekly(self) -> pd.DataFrame:
        """One row per week and market, then the "ALL" rows: `<quantity>_<baseline|scenario|lo|hi>`."""
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
        self._lock = threading.Lock()
        self._status_quo = lru_cache(maxsize=STATUS_QUO_LEVELS_KEPT)(self._status_quo_paths)
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
        """Index tables over the shapes the draws use."""
        fit = self.fit
        used = np.union1d(np.unique(fit.draws["shape_index"]), [fit.shapes.index(fit.shape)])
        carryover = np.array([fit.shapes[u].carryover for u in used])
        distinct = np.unique(carryover)
        return {
            "distinct": distinct,
            "first_of_carryover": [int(used[carryover == c][0]) for c in distinct],
            "carryover_of_used": np.searchsorted(distinct, carryover),
            "half_saturation": np.array([fit.shapes[u].half_saturation for u in used]),
            "hill_exponent": np.array([fit.shapes[u].hill_exponent for u in used]),
            "selected": int(np.searchsorted(used, fit.shapes.index(fit.shape))),
            "of_draw": np.searchsorted(used, fit.draws["shape_index"]),
        }

    def inflation(self, level: float) -> float:
        """The max-t widening factor for a `level` interval."""
        return self._inflation(level_key(level))

    def _inflation_at(self, level: float) -> float:
        return interval_inflation(self.fit.max_t, level)

    # ------------------------------------------------------------------ effects

    def responses(self, shares: np.ndarray, markets: np.ndarray, forecast: bool, dtype=np.float64) -> np.ndarray:
        """The response of a share path under every shape the draws use (markets x weeks x shapes).

        `markets` are positions among all the app's markets. `forecast=True` continues each
        shape's exposure from the end of the history; otherwise the shares are the history itself.
        """
        t = self.shape_tables
        # every distinct carry-over in one pass (markets x carry-overs x weeks), then every shape's saturation
        initial = self.fit.last_exposure[t["first_of_carryover"]][:, markets].T if forecast else 0.0
        exposure = adstock(shares[:, None, :], t["distinct"], initial)
        exposure = np.moveaxis(exposure, 1, -1)[..., t["carryover_of_used"]]         # markets x weeks x used shapes
        return hill(exposure, t["half_saturation"], t["hill_exponent"]).astype(dtype)

    def point_log_effects(self, responses: np.ndarray) -> dict[str, np.ndarray]:
        """Log effects of the point estimate (markets x weeks x 1) from `responses`."""
        return point_log_effects(vars(self.fit.effect), responses[..., self.shape_tables["selected"]])

    def log_effects(self, shares: np.ndarray, markets: np.ndarray, level: float, forecast: bool,
                    dtype=np.float64, quantities: tuple[str, ...] | None = None) -> tuple[dict, dict]:
        """Point and per-path log effects (markets x weeks x 1 / x paths) of a share path (see
        `responses`); paths are widened for a `level` interval."""
        responses = self.responses(shares, markets, forecast, dtype)
        point = self.point_log_effects(responses)
        paths = path_log_effects(self.fit.draws, responses[..., self.shape_tables["of_draw"]], point,
                                 self.inflation(level), quantities)
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
        return {"share": share, "estimate": np.expm1(point * fit.shape.response(held)[:, -1]) * 100,
                "lo": lo, "hi": hi}

    # ------------------------------------------------------------------ forecasts

    def status_quo(self, index: np.ndarray, horizon: int) -> np.ndarray:
        """Shares held at their last observed value: forecastable markets (positions) x horizon."""
        return np.repeat(self.fit.panel.share[self.forecast_rows[index], -1:], horizon, axis=1)

    def status_quo_paths(self, level: float) -> dict:
        """Baseline logs and status-quo levels on every path, forecastable markets, the longest
        horizon. They do not depend on the plan, so each level is built once; a forecast slices
        them and adds only the plan's effects."""
        key = level_key(level)
        with self._lock:
            return self._status_quo(key)

    def _status_quo_paths(self, level: float) -> dict:
        common, own = self.noise_parts
        horizon = own.shape[2]
        common_scale, own_scale = (scale.astype(own.dtype)[:, None, :, None] for scale in self.noise_scale(level, horizon))
        base = own * own_scale
        base += common * common_scale
        base += self.fit.baseline.mean.astype(own.dtype)[..., None]
        index = np.arange(len(self.forecast_rows))
        _, effects = self.log_effects(self.status_quo(index, horizon), self.forecast_rows, level, forecast=True,
                                      dtype=own.dtype, quantities=QUANTITIES)
        baseline = baseline_logs(base)
        levels = {q: np.exp(v) for q, v in scenario_logs(baseline, effects).items()}
        return {"baseline": baseline, "levels": levels}

    def noise_scale(self, level: float, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated multipliers of the common and the own noise, each outcomes x horizon (time and
        DAU share the minutes scales); past the backtested horizon each law's growth continues."""
        laws = [self.fit.backtest.scales[q] for q in QUANTITY_OF_OUTCOME]
        return tuple(np.array([law[part].at(level, horizon) for law in laws]) for part in ("common", "own"))

    def forecast(self, shares: np.ndarray, index: np.ndarray, level: float) -> Forecast:
        """Plan (`shares`, markets x horizon) of the forecastable markets at `index` against the
        status quo, on joint sample paths (see `ImpactModel.forecast`)."""
        horizon, level = shares.shape[1], level_key(level)
        quo, plan = self._scenario_paths(shares, index, level)
        point_quo = {q: v[index, :horizon] for q, v in self.status_quo_point.items()}
        point_plan = self.point_forecast(shares, index)

        names = [self.forecast_markets[i] for i in index]
        weeks = self.future_week_labels[:horizon]
        plan_all, quo_all = combined_levels(plan), combined_levels(quo)
        point_plan_all, point_quo_all = combined_levels(point_plan), combined_levels(point_quo)
        per_market, combined = {"rollout_share": shares}, {}
        for quantity in QUANTITIES:
            lo, hi = interval(plan[quantity], level)
            per_market[quantity] = {"baseline": point_quo[quantity], "scenario": point_plan[quantity], "lo": lo, "hi": hi}
            lo, hi = interval(plan_all[quantity], level)
            combined[quantity] = {"baseline": point_quo_all[quantity][None], "scenario": point_plan_all[quantity][None],
                                  "lo": lo[None], "hi": hi[None]}
        combined["rollout_share"] = ((per_market["dau"]["baseline"] * shares).sum(axis=0, keepdims=True)
                                     / combined["dau"]["baseline"])
        totals = {}
        for quantity in ("minutes", "ad_revenue_usd"):
            baseline_paths = quo_all[quantity].astype(float).sum(axis=0)     # the horizon's total on each path
            scenario_paths = plan_all[quantity].astype(float).sum(axis=0)
            baseline_total = float(per_market[quantity]["baseline"].sum())
            scenario_total = float(per_market[quantity]["scenario"].sum())
            totals[quantity] = {"baseline": _total(baseline_total, baseline_paths, level),
                                "scenario": _total(scenario_total, scenario_paths, level),
                                "incremental": _total(scenario_total - baseline_total,
                                                      scenario_paths - baseline_paths, level)}
        return Forecast(self.fit.panel.app, names, weeks, level, per_market, combined, totals)

    def point_forecast(self, shares: np.ndarray, index: np.ndarray) -> dict[str, np.ndarray]:
        """The point forecast of a share path (forecastable markets at `index` x weeks): the
        baselines' forecast plus the point estimate's effects, quantity -> markets x weeks.

        It is what the backtest scores (the forecast without its noise, the median of a path's
        log), so it does not move with the interval level or the width of the band; a mean over
        paths would, by the convexity of exp, where the band is wide.
        """
        base = baseline_logs(self.fit.baseline.mean[:, index, :shares.shape[1]])
        effects = self.point_log_effects(self.responses(shares, self.forecast_rows[index], forecast=True))
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
        """
        horizon, level = shares.shape[1], level_key(level)
        status_quo = self.status_quo_paths(level)
        point = self.point_forecast(shares, index)
        incremental = {q: (point[q] - self.status_quo_point[q][index, :horizon]).sum(axis=1) for q in VALUED}
        n_paths = status_quo["levels"]["dau"].shape[-1]
        paths = {q: np.empty((len(index), n_paths)) for q in VALUED}
        exposed = np.empty((len(index), n_paths))
        kept = ("dau",) + VALUED
        for first in range(0, len(index), ROWS_PER_CHUNK):
            rows = slice(first, first + ROWS_PER_CHUNK)
            at = index[rows]
            baseline = {q: status_quo["baseline"][q][at, :horizon] for q in kept}
            _, effects = self.log_effects(shares[rows], self.forecast_rows[at], level, forecast=True, dtype=np.float32,
                                          quantities=kept)
            plan = scenario_logs(baseline, effects)
            for q in VALUED:
                paths[q][rows] = (np.exp(plan[q]) - status_quo["levels"][q][at, :horizon]).sum(axis=1, dtype=np.float64)
            exposed[rows] = (shares[rows, :, None] * np.exp(plan["dau"])).sum(axis=1, dtype=np.float64)
        return RowValues(incremental, paths, shares * point["dau"], exposed)

    def _scenario_paths(self, shares: np.ndarray, index: np.ndarray, level: float) -> tuple[dict, dict]:
        """Status-quo and plan levels on every path (quantity -> markets x weeks x paths) for a
        `level` interval: the status quo sliced from its cache, the plan's effects added to the
        same baseline paths."""
        horizon = shares.shape[1]
        every = len(index) == len(self.forecast_rows) and (index == np.arange(len(index))).all()
        rows = slice(None) if every else index
        status_quo = self.status_quo_paths(level)
        baseline = {q: v[rows, :horizon] for q, v in status_quo["baseline"].items()}   # markets x weeks x paths
        quo = {q: v[rows, :horizon] for q, v in status_quo["levels"].items()}
        _, plan_effects = self.log_effects(shares, self.forecast_rows[index], level, forecast=True, dtype=np.float32,
                                           quantities=QUANTITIES)
        return quo, {q: np.exp(v) for q, v in scenario_logs(baseline, plan_effects).items()}

    # ------------------------------------------------------------------ attribution

    def attribute(self, index: np.ndarray, start: str | None, end: str | None, level: float) -> Attribution:
        """Incremental minutes and revenue of the markets at `index` over the observed rows in
        [start, end] (see `ImpactModel.attribute`)."""
        panel, level = self.fit.panel, level_key(level)
        weeks = panel.weeks
        in_window = np.ones(len(weeks), dtype=bool)
        if start is not None:
            in_window &= weeks >= pd.Timestamp(start)
        if end is not None:
            in_window &= weeks <= pd.Timestamp(end)
        if not in_window.any():
            raise ValueError(f"no modelled week between {start} and {end} "
                             f"(the history runs {weeks[0]:%Y-%m-%d}..{weeks[-1]:%Y-%m-%d})")
        minutes = panel.minutes[index][:, in_window]          # 0 where a market has no row
        revenue = panel.revenue[index][:, in_window]
        point_effects, path_effects = self.log_effects(panel.share[index], index, level, forecast=False)
        window = (slice(None), in_window)
        point = {k: v[..., 0] for k, v in attribution_paths(
            minutes, revenue, {k: v[window] for k, v in point_effects.items()}).items()}
        paths = attribution_paths(minutes, revenue, {k: v[window] for k, v in path_effects.items()})
        observed = {"minutes": minutes, "ad_revenue_usd": revenue}
        totals = {}
        for quantity, values in paths.items():
            lo, hi = interval(values.sum(axis=(0, 1)), level)
            totals[quantity] = {"mean": float(point[quantity].sum()), "lo": float(lo), "hi": float(hi)}
        for quantity, seen in observed.items():
            added = totals[quantity]["mean"]
            totals[quantity] = {"observed": float(seen.sum()), "incremental": totals[quantity],
                                "relative_lift": added / (float(seen.sum()) - added)}
        revenue_totals = totals["ad_revenue_usd"]
        revenue_totals["via_engagement"] = totals.pop("via_engagement")
        revenue_totals["direct"] = totals.pop("direct")
        names = [panel.markets[i] for i in index]
        by_market = _attribution_rows(point, paths, observed, level, axis=1, labels=("market", names))
        weekly = _attribution_rows(point, paths, observed, level, axis=0, labels=("week", weeks[in_window]))
        return Attribution(panel.app, names, weeks[in_window], level, totals, by_market, weekly)


# ---------------------------------------------------------------------- helpers

def _draws_last(paths: np.ndarray) -> np.ndarray:
    """Paths (draws on axis 0) with the draws last, as contiguous float32 (fast; ample precision)."""
    return np.ascontiguousarray(np.moveaxis(paths, 0, -1), dtype=np.float32)


def _total(mean: float, paths: np.ndarray, level: float) -> dict[str, float]:
    """A total's {mean, lo, hi}: the mean as given (the sum of the weekly rows), the band of its paths."""
    lo, hi = interval(paths, level)
    return {"mean": mean, "lo": float(lo), "hi": float(hi)}


def _forecast_rows(values: dict, names: list[str], weeks: list[str]) -> pd.DataFrame:
    """Long rows (week, market) with `<quantity>_<baseline|scenario|lo|hi>` columns."""
    frame = {"week": np.tile(weeks, len(names)), "market": np.repeat(names, len(weeks)),
             "rollout_share": values["rollout_share"].reshape(-1)}
    for quantity in QUANTITIES:
        for column, array in values[quantity].items():
            frame[f"{quantity}_{column}"] = array.reshape(-1)
    return pd.DataFrame(frame)


def _attribution_rows(point: dict, paths: dict, observed: dict, level: float, axis: int,
                      labels: tuple[str, object]) -> pd.DataFrame:
    """Per market (sum over weeks, axis=1) or per week (sum over markets, axis=0): observed and
    incremental minutes and ad revenue, and the incremental revenue's split
    (`ad_revenue_usd_via_engagement`, `ad_revenue_usd_direct`), each with its band."""
    name, values = labels
    frame = {name: [str(v.date()) if isinstance(v, pd.Timestamp) else v for v in values]}
    for quantity in ("minutes", "ad_revenue_usd", "via_engagement", "direct"):
        if quantity in observed:
            frame[f"observed_{quantity}"] = observed[quantity].sum(axis=axis)
        name = f"incremental_{quantity}" if quantity in observed else f"ad_revenue_usd_{quantity}"
        lo, hi = interval(paths[quantity].sum(axis=axis), level)
        frame[name] = point[quantity].sum(axis=axis)
        frame[f"{name}_lo"] = lo
        frame[f"{name}_hi"] = hi
    return pd.DataFrame(frame)
