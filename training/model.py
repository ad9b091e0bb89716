"""The rollout-impact model: one object per training run, holding every app.

`ImpactModel(...).fit(panel)` runs, per app: the response shape by time-blocked CV and the
effect estimates (`effects`), the market bootstrap (`effects`), the counterfactual baselines
of the de-effected series (`baseline`), their rolling-origin backtest and conformal scale
(`backtest`), and the Callaway-Sant'Anna event study of the launch (`did`). `attribute` and
`forecast` only read the fitted state, so a loaded model answers without refitting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training import did
from training.arrays import AppPanel, app_panels, seasonal_basis
from training.attribution import attribution_paths
from training.backtest import BacktestResult, choose_trends, rolling_origin_backtest, uncalibrated_backtest
from training.baseline import TRENDS, BaselineFit, fit_baselines, future_weeks
from data.exposure import adstock, hill
from training.effects import (DEFAULT_GRID, EffectEstimate, ResponseShape, bootstrap_effects, bootstrap_fit_gain,
                              estimate_effects, interval_inflation, market_bootstrap_weights, max_t_over_shapes,
                              select_shape)
from training.paths import (QUANTITIES, baseline_logs, combined_levels, interval, path_log_effects,
                            point_log_effects, scenario_logs)

STAGES = ("effects", "bootstrap", "backtest", "baselines", "event_study")
EVENT_WINDOW = (-26, 52)       # event weeks kept for the event-study diagnostics


@dataclass
class AppFit:
    """Everything fitted for one app."""

    panel: AppPanel                  # the modelled history (balanced window)
    shape: ResponseShape             # carry-over and saturation chosen by CV
    cv_scores: np.ndarray            # CV error of every grid point, in grid order
    effect: EffectEstimate           # point estimates
    shapes: tuple[ResponseShape, ...]  # the candidate grid; draws["shape_index"] points into it
    draws: dict[str, np.ndarray]     # bootstrap replicates of the effects, each with its own shape
    max_t: np.ndarray                # per replicate: max |t| over the shape grid
    last_exposure: np.ndarray        # grid shapes x markets: carried-over exposure at the last week
    baseline: BaselineFit            # de-effected baselines, max_horizon weeks ahead
    backtest: BacktestResult
    event_study: dict                # dynamic aggregation table, overall ATT and the pre-trend test
    noise_seed: int = 0

    def future_weeks(self) -> pd.DatetimeIndex:
        """Every forecastable week (computed once)."""
        if "_future" not in self.__dict__:
            self._future = future_weeks(self.panel.weeks, self.baseline.mean.shape[-1])
            self._future_labels = [str(w.date()) for w in self._future]
        return self._future

    def future_week_labels(self) -> list[str]:
        self.future_weeks()
        return self._future_labels

    def noise_paths(self) -> np.ndarray:
        """Unscaled baseline error paths (outcomes x markets x max horizon x draws), made once.

        Fixed by the model's seed, so the same question always gets the same answer, and plan
        and status quo share them.
        """
        if getattr(self, "_noise", None) is None:
            rng = np.random.default_rng(self.noise_seed)
            paths = self.baseline.noise_paths(self.baseline.mean.shape[-1], len(self.draws["log_time"]), rng)
            self._noise = np.ascontiguousarray(np.moveaxis(paths, 0, -1), dtype=np.float32)  # fast; ample precision
        return self._noise

    def log_effects(self, shares: np.ndarray, markets: np.ndarray, level: float, forecast: bool,
                    dtype=np.float64, quantities: tuple[str, ...] | None = None) -> tuple[dict, dict]:
        """Point and per-path log effects (markets x weeks x 1 / x paths) of a share path.

        `forecast=True` continues each shape's exposure from the end of the history; otherwise
        the shares are the history itself. Paths are widened for a `level` interval.
        """
        t = self._shape_tables()
        # every distinct carry-over in one pass (markets x carry-overs x weeks), then every shape's saturation
        initial = self.last_exposure[t["first_of_carryover"]][:, markets].T if forecast else 0.0
        exposure = adstock(shares[:, None, :], t["distinct"], initial)
        exposure = np.moveaxis(exposure, 1, -1)[..., t["carryover_of_used"]]         # markets x weeks x used shapes
        responses = hill(exposure, t["half_saturation"], t["shape"]).astype(dtype)
        point = point_log_effects(vars(self.effect), responses[..., t["selected"]])
        paths = path_log_effects(self.draws, responses[..., t["of_draw"]], point, self.inflation(level), quantities)
        return point, paths

    def _shape_tables(self) -> dict:
        """Index tables over the shapes the draws use (computed once)."""
        if "_tables" not in self.__dict__:
            used = np.union1d(np.unique(self.draws["shape_index"]), [self.shapes.index(self.shape)])
            carryover = np.array([self.shapes[u].carryover for u in used])
            distinct = np.unique(carryover)
            self._tables = {
                "distinct": distinct,
                "first_of_carryover": [int(used[carryover == c][0]) for c in distinct],
                "carryover_of_used": np.searchsorted(distinct, carryover),
                "half_saturation": np.array([self.shapes[u].half_saturation for u in used]),
                "shape": np.array([self.shapes[u].shape for u in used]),
                "selected": int(np.searchsorted(used, self.shapes.index(self.shape))),
                "of_draw": np.searchsorted(used, self.draws["shape_index"]),
            }
        return self._tables

    def inflation(self, level: float) -> float:
        """The max-t widening factor for a `level` interval (kept per level)."""
        cache = self.__dict__.setdefault("_inflation", {})
        if level not in cache:
            cache[level] = interval_inflation(self.max_t, level)
        return cache[level]

    def status_quo(self, markets: np.ndarray, horizon: int) -> np.ndarray:
        """Shares held at their last observed value: markets (indices) x horizon."""
        return np.repeat(self.panel.share[markets, -1:], horizon, axis=1)

    def status_quo_paths(self, level: float) -> dict:
        """Baseline logs and status-quo levels on every path, all markets, the longest horizon.

        They do not depend on the plan, so each interval level is computed once and kept (the
        few most recent levels); a forecast slices them and adds only the plan's effects.
        """
        cache = self.__dict__.setdefault("_status_quo", {})
        if level not in cache:
            noise = self.noise_paths()
            horizon = noise.shape[2]
            base = noise * self.noise_scale(level, horizon).astype(noise.dtype)[:, None, :, None]
            base += self.baseline.mean.astype(noise.dtype)[..., None]
            markets = np.arange(len(self.panel.markets))
            shares = self.status_quo(markets, horizon)
            _, effects = self.log_effects(shares, markets, level, forecast=True, dtype=noise.dtype,
                                          quantities=QUANTITIES)
            baseline = baseline_logs(base)
            levels = {q: np.exp(v) for q, v in scenario_logs(baseline, effects).items()}
            if len(cache) >= 4:
                cache.pop(next(iter(cache)))
            cache[level] = {"baseline": baseline, "levels": levels,
                            "means": {q: _path_mean(v) for q, v in levels.items()}}
        return cache[level]

    def noise_scale(self, level: float, horizon: int) -> np.ndarray:
        """Conformal noise multiplier, outcomes x horizon (time and DAU share the minutes scale).

        Beyond the backtested horizon the last step's scale is kept for baselines on weekly
        changes (their random-walk error already grows) and grows with the square root of the
        horizon for the others (stationary AR(1) error would not), a conservative continuation.
        """
        rows = []
        steps = np.arange(1, horizon + 1)
        for outcome, quantity in enumerate(("minutes", "minutes", "revenue")):
            scale = self.backtest.scale_at(quantity, level)
            tested = len(scale)
            growth = 1.0 if self.baseline.integrated[outcome] else np.sqrt(steps / tested)
            rows.append(np.where(steps <= tested, scale[np.minimum(steps, tested) - 1], scale[-1] * growth))
        return np.array(rows)


@dataclass
class Forecast:
    """A scenario against the status quo, from joint sample paths."""

    app: str
    markets: list[str]
    weeks: list[str]         # YYYY-MM-DD
    level: float
    per_market: dict         # rollout_share, and quantity -> {baseline, scenario, lo, hi}: markets x weeks arrays
    combined: dict           # the same for the chosen markets together: 1 x weeks arrays
    totals: dict             # quantity -> baseline, scenario, incremental {mean, lo, hi}

    @property
    def weekly(self) -> pd.DataFrame:
        """One row per week and market, then the "ALL" rows: `<quantity>_<baseline|scenario|lo|hi>`."""
        return pd.concat([_forecast_rows(self.per_market, self.markets, self.weeks),
                          _forecast_rows(self.combined, ["ALL"], self.weeks)], ignore_index=True)


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


class ImpactModel:
    """Staggered dose-response effects, counterfactual baselines and scenario forecasts."""

    def __init__(self, n_bootstrap: int = 200, fourier_order: int = 2, grid: tuple[ResponseShape, ...] = DEFAULT_GRID,
                 baseline_fit_weeks: int = 156, max_horizon: int = 104, backtest_horizon: int = 26,
                 backtest_origins: int = 8, min_weeks: int = 104, shared_shape: bool = True, seed: int = 0):
        self.n_bootstrap = n_bootstrap
        self.fourier_order = fourier_order
        self.grid = grid
        self.baseline_fit_weeks = baseline_fit_weeks
        self.max_horizon = max_horizon
        self.backtest_horizon = backtest_horizon
        self.backtest_origins = backtest_origins
        self.min_weeks = min_weeks
        self.shared_shape = shared_shape
        self.seed = seed

    def get_params(self) -> dict:
        return {"n_bootstrap": self.n_bootstrap, "fourier_order": self.fourier_order,
                "grid": [[s.carryover, s.half_saturation, s.shape] for s in self.grid],
                "baseline_fit_weeks": self.baseline_fit_weeks, "max_horizon": self.max_horizon,
                "backtest_horizon": self.backtest_horizon, "backtest_origins": self.backtest_origins,
                "min_weeks": self.min_weeks, "shared_shape": self.shared_shape, "seed": self.seed}

    # ------------------------------------------------------------------ fitting

    def fit(self, panel: pd.DataFrame, progress: Callable[[str, str], None] | None = None) -> "ImpactModel":
        """Fit every app of a validated panel. `progress(stage, app)` is called after each stage."""
        progress = progress or (lambda stage, app: None)
        self.apps_: dict[str, AppFit] = {}
        self.stage_seconds_ = {stage: 0.0 for stage in STAGES}
        panels = app_panels(panel, self.min_weeks)
        clock = time.perf_counter()
        scores = {}
        for app, app_panel in panels.items():
            _, cv_error = select_shape(app_panel, self._basis(app_panel), self.grid)
            scores[app] = np.array([cv_error[shape] for shape in self.grid])
        self.stage_seconds_["effects"] += time.perf_counter() - clock
        shapes = self._choose_shapes(scores)
        clock = time.perf_counter()
        weights, choice = self._bootstrap_design(panels)
        self.stage_seconds_["bootstrap"] += time.perf_counter() - clock
        for app, app_panel in panels.items():
            self.apps_[app] = self._fit_app(app_panel, shapes[app], scores[app], weights[app], choice[app], progress)
        return self

    def _basis(self, app_panel: AppPanel) -> np.ndarray:
        return seasonal_basis(app_panel.weeks, app_panel.weeks[0], self.fourier_order)

    def _bootstrap_design(self, panels: dict[str, AppPanel]) -> tuple[dict, dict]:
        """Market resampling shared by all apps (a market is one cluster for every app) and each
        replicate's response shape: per app, or (shared_shape) the best summed over apps.
        """
        rng = np.random.default_rng(self.seed)
        markets = sorted({m for p in panels.values() for m in p.markets})
        drawn = market_bootstrap_weights(len(markets), self.n_bootstrap, rng)
        column = {m: i for i, m in enumerate(markets)}
        weights = {app: drawn[:, [column[m] for m in p.markets]] for app, p in panels.items()}
        gains = {app: bootstrap_fit_gain(p, list(self.grid), self._basis(p), weights[app]) for app, p in panels.items()}
        if not self.shared_shape:
            return weights, {app: np.argmax(g, axis=0) for app, g in gains.items()}
        pooled = np.argmax(sum(gains.values()), axis=0)
        return weights, {app: pooled for app in panels}

    def _choose_shapes(self, scores: dict[str, np.ndarray]) -> dict[str, ResponseShape]:
        """Each app's response shape: its own CV minimum, or (shared_shape) the grid point with the
        lowest CV error summed over apps, each app's errors relative to its own best. Apps with a
        weak signal have flat CV curves and barely move the choice, so they borrow the shape
        the strong apps identify instead of fitting noise.
        """
        if not self.shared_shape:
            return {app: self.grid[int(np.nanargmin(s))] for app, s in scores.items()}
        pooled = sum(s / np.nanmin(s) for s in scores.values())
        return {app: self.grid[int(np.nanargmin(pooled))] for app in scores}

    def _fit_app(self, app_panel: AppPanel, shape: ResponseShape, scores: np.ndarray, weights: np.ndarray,
                 choice: np.ndarray, progress: Callable[[str, str], None]) -> AppFit:
        app = app_panel.app
        clock = time.perf_counter()

        def done(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            self.stage_seconds_[stage] += now - clock
            clock = now
            progress(stage, app)

        basis = self._basis(app_panel)
        response = shape.response(app_panel.share)
        effect = estimate_effects(app_panel, response, basis)
        done("effects")

        draws = bootstrap_effects(app_panel, list(self.grid), basis, weights, choice)
        max_t = max_t_over_shapes(app_panel, list(self.grid), basis, weights)
        done("bootstrap")

        de_effected = de_effect(app_panel, effect, response)
        if self.backtest_origins > 0:
            trends, backtest = choose_trends({
                kind: rolling_origin_backtest(de_effected, app_panel.weeks, self.backtest_horizon,
                                              self.backtest_origins, fit_weeks=self.baseline_fit_weeks,
                                              trends=(kind,) * 3, seed=self.seed)
                for kind in TRENDS}, at=self.backtest_horizon)
        else:   # attribution-only fits (statistical sweeps): uncalibrated forecast noise
            trends, backtest = ("ct",) * 3, uncalibrated_backtest(self.backtest_horizon)
        done("backtest")

        baseline = fit_baselines(de_effected, app_panel.weeks, self.max_horizon, self.baseline_fit_weeks, trends)
        done("baselines")

        event_study = launch_event_study(app_panel)
        done("event_study")
        return AppFit(panel=app_panel, shape=shape, cv_scores=scores,
                      effect=effect, shapes=tuple(self.grid), draws=draws, max_t=max_t,
                      last_exposure=np.array([s.exposure(app_panel.share)[:, -1] for s in self.grid]),
                      baseline=baseline,
                      backtest=backtest, event_study=event_study,
                      noise_seed=self.seed * 1_000_003 + _stable_hash(app) % 1_000_003)

    def backtest_on(self, panel: pd.DataFrame) -> dict[str, BacktestResult]:
        """This fitted model backtested on another panel (the promotion gate's comparison): its
        effect estimates de-effect the new data, and baselines of its chosen trend kinds are
        refitted at each origin with its settings. Apps it does not know are skipped.
        """
        out = {}
        for app, app_panel in app_panels(panel, self.min_weeks).items():
            if app not in self.apps_:
                continue
            fit = self.apps_[app]
            series = de_effect(app_panel, fit.effect, fit.shape.response(app_panel.share))
            trend = fit.backtest.trend or {"minutes": "ct", "revenue": "ct"}
            out[app] = rolling_origin_backtest(series, app_panel.weeks, self.backtest_horizon, self.backtest_origins,
                                               fit_weeks=self.baseline_fit_weeks, seed=self.seed,
                                               trends=(trend["minutes"], trend["minutes"], trend["revenue"]))
        return out

    # ------------------------------------------------------------------ questions

    def _app(self, app: str) -> AppFit:
        if app not in self.apps_:
            raise KeyError(f"unknown app '{app}': the model has {', '.join(sorted(self.apps_))}")
        return self.apps_[app]

    def market_index(self, app: str, markets: list[str] | None) -> np.ndarray:
        """Positions of `markets` among the app's markets (all of them for None or [])."""
        known = self._app(app).panel.markets
        if not markets:
            return np.arange(len(known))
        unknown = [m for m in markets if m not in known]
        if unknown:
            raise KeyError(f"unknown market(s) {', '.join(unknown)} for app '{app}'")
        return np.array([known.index(m) for m in markets])

    def forecast_weeks(self, app: str, horizon: int) -> pd.DatetimeIndex:
        """The `horizon` weeks after the app's last trained week."""
        return self._app(app).future_weeks()[:horizon]

    def status_quo(self, app: str, horizon: int, markets: list[str] | None = None) -> np.ndarray:
        """Shares held at their last observed value: markets x horizon."""
        return self._app(app).status_quo(self.market_index(app, markets), horizon)

    def forecast(self, app: str, shares: np.ndarray, markets: list[str] | None = None,
                 level: float = 0.9) -> Forecast:
        """Plan (`shares`, markets x horizon weeks) against the status quo, on joint sample paths.

        Baseline and scenario are means over the paths (so totals are sums of weekly rows and
        the incremental mean is their difference); `lo`/`hi` bound the scenario; incremental
        totals are summed path by path before their quantiles are taken.
        """
        fit = self._app(app)
        index = self.market_index(app, markets)
        shares = np.asarray(shares, dtype=float)
        horizon = shares.shape[1] if shares.ndim == 2 else 0
        if shares.ndim != 2 or shares.shape[0] != len(index) or not 1 <= horizon <= self.max_horizon:
            raise ValueError(f"shares must be {len(index)} markets x 1..{self.max_horizon} weeks, got {shares.shape}")
        rows = slice(None) if len(index) == len(fit.panel.markets) and (index == np.arange(len(index))).all() else index
        status_quo = fit.status_quo_paths(level)
        baseline = {q: v[rows, :horizon] for q, v in status_quo["baseline"].items()}   # markets x weeks x paths
        quo = {q: v[rows, :horizon] for q, v in status_quo["levels"].items()}
        quo_means = {q: v[rows, :horizon] for q, v in status_quo["means"].items()}
        _, plan_effects = fit.log_effects(shares, index, level, forecast=True, dtype=np.float32,
                                          quantities=QUANTITIES)
        plan = {q: np.exp(v) for q, v in scenario_logs(baseline, plan_effects).items()}

        names = [fit.panel.markets[i] for i in index]
        weeks = fit.future_week_labels()[:horizon]
        plan_all, quo_all = combined_levels(plan), combined_levels(quo)
        per_market, combined = {"rollout_share": shares}, {}
        for quantity in QUANTITIES:
            lo, hi = interval(plan[quantity], level)
            per_market[quantity] = {"baseline": quo_means[quantity], "scenario": _path_mean(plan[quantity]),
                                    "lo": lo, "hi": hi}
            lo, hi = interval(plan_all[quantity], level)
            combined[quantity] = {"baseline": _path_mean(quo_all[quantity])[None],
                                  "scenario": _path_mean(plan_all[quantity])[None], "lo": lo[None], "hi": hi[None]}
        for column in ("baseline", "scenario"):      # time per DAU of the total: a ratio of means
            combined["time_spent_min"][column] = combined["minutes"][column] / (7.0 * combined["dau"][column])
        combined["rollout_share"] = ((per_market["dau"]["baseline"] * shares).sum(axis=0, keepdims=True)
                                     / combined["dau"]["baseline"])
        totals = {}
        for quantity in ("minutes", "ad_revenue_usd"):
            added = (plan_all[quantity].astype(float) - quo_all[quantity]).sum(axis=0)
            lo, hi = interval(added, level)
            baseline = float(per_market[quantity]["baseline"].sum())
            scenario = float(per_market[quantity]["scenario"].sum())
            totals[quantity] = {"baseline": baseline, "scenario": scenario,
                                "incremental": {"mean": scenario - baseline, "lo": float(lo), "hi": float(hi)}}
        return Forecast(app, names, weeks, level, per_market, combined, totals)

    def attribute(self, app: str, markets: list[str] | None = None, start: str | None = None,
                  end: str | None = None, level: float = 0.9) -> Attribution:
        """Incremental minutes and revenue over [start, end] (default: the whole history)."""
        fit = self._app(app)
        index = self.market_index(app, markets)
        weeks = fit.panel.weeks
        in_window = np.ones(len(weeks), dtype=bool)
        if start is not None:
            in_window &= weeks >= pd.Timestamp(start)
        if end is not None:
            in_window &= weeks <= pd.Timestamp(end)
        if not in_window.any():
            raise ValueError(f"no modelled week between {start} and {end} "
                             f"(the history runs {weeks[0]:%Y-%m-%d}..{weeks[-1]:%Y-%m-%d})")
        minutes = fit.panel.minutes[index][:, in_window]
        revenue = fit.panel.revenue[index][:, in_window]
        point_effects, path_effects = fit.log_effects(fit.panel.share[index], index, level, forecast=False)
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
        names = [fit.panel.markets[i] for i in index]
        by_market = _attribution_rows(point, paths, observed, level, axis=1, labels=("market", names))
        weekly = _attribution_rows(point, paths, observed, level, axis=0,
                                   labels=("week", weeks[in_window]))
        return Attribution(app, names, weeks[in_window], level, totals, by_market, weekly)


# ---------------------------------------------------------------------- helpers

def de_effect(app_panel: AppPanel, effect: EffectEstimate, response: np.ndarray) -> np.ndarray:
    """(log time, log DAU, log revenue) x markets x weeks with the estimated rollout effect removed."""
    return np.stack([app_panel.log_time - effect.log_time * response,
                     app_panel.log_dau - effect.log_dau * response,
                     app_panel.log_revenue - effect.log_revenue_total * response])


def headline_mase(backtests: dict[str, BacktestResult], at: int = 13) -> tuple[float, float]:
    """Mean 13-week MASE over apps and quantities (minutes, revenue): the model's and seasonal-naive's."""
    model = [b.mase[q][at] for b in backtests.values() for q in ("minutes", "revenue")]
    naive = [b.mase_seasonal_naive[q][at] for b in backtests.values() for q in ("minutes", "revenue")]
    return float(np.mean(model)), float(np.mean(naive))


def _stable_hash(text: str) -> int:
    """A seed part from a string that does not change between runs (unlike hash())."""
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little")


def _path_mean(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=-1).astype(np.float64)


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
    """Per market (sum over weeks, axis=1) or per week (sum over markets, axis=0)."""
    name, values = labels
    frame = {name: [str(v.date()) if isinstance(v, pd.Timestamp) else v for v in values]}
    for quantity in ("minutes", "ad_revenue_usd"):
        frame[f"observed_{quantity}"] = observed[quantity].sum(axis=axis)
        lo, hi = interval(paths[quantity].sum(axis=axis), level)
        frame[f"incremental_{quantity}"] = point[quantity].sum(axis=axis)
        frame[f"incremental_{quantity}_lo"] = lo
        frame[f"incremental_{quantity}_hi"] = hi
    return pd.DataFrame(frame)


def launch_event_study(app_panel: AppPanel) -> dict:
    """Callaway-Sant'Anna event study of the launch on log time per DAU, never-launched as controls.

    A market's group is its first week with a positive share (withdrawals do not undo a launch).
    """
    launched = app_panel.share > 0
    periods = np.arange(1, launched.shape[1] + 1)
    first = np.where(launched.any(axis=1), launched.argmax(axis=1) + 1, 0)
    if (first == 0).sum() < 2 or not (first > 1).any():
        return {"available": False, "reason": "needs at least 2 never-launched markets and a launch after the first week"}
    gt = did.group_time_att(app_panel.log_time, first, periods)
    dynamic = did.aggregate(gt, "dynamic")
    keep = (dynamic.labels >= EVENT_WINDOW[0]) & (dynamic.labels <= EVENT_WINDOW[1])
    pretrend = did.pretrend_test(gt, max_lead=-EVENT_WINDOW[0])
    return {"available": True,
            "event_week": dynamic.labels[keep].astype(int).tolist(),
            "att": dynamic.att[keep].tolist(), "se": dynamic.se[keep].tolist(),
            "overall_att": dynamic.overall_att, "overall_se": dynamic.overall_se,
            "pretrend": pretrend,
            "groups": {str(app_panel.weeks[g - 1].date()): [m for m, f in zip(app_panel.markets, first) if f == g]
                       for g in np.unique(first[first > 0])}}
