"""Rolling-origin backtests of the baselines, and the conformal scale of their intervals.

At each origin the baselines are refitted on the history up to it and forecast `horizon`
weeks; errors are scored on weekly total minutes and ad revenue per market, against
seasonal-naive (the value 52 weeks earlier). MASE uses each series' in-sample seasonal-naive
error as its scale. Interval scale: split conformal, one value per horizon step and interval
level (multi-step errors grow faster than the AR(1) noise alone says); its coverage is
measured leaving each origin out of the calibration in turn, and the scale kept for serving
is calibrated on all origins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.calendar import DAYS_PER_WEEK
from training.model.baseline import fit_baselines
from training.model.panel import PanelShapeError, window_bounds

SEASON = 52
QUANTITIES = ("minutes", "ad_revenue_usd")
HEADLINE_HORIZON = 13   # weeks: the promotion gate's MASE


def reported_horizons(horizon: int) -> tuple[int, ...]:
    """The horizons a backtest of `horizon` weeks reports: 13, 26 where reached, and its own."""
    return tuple(sorted({h for h in (HEADLINE_HORIZON, 26) if h <= horizon} | {horizon}))


def _quantities(log_series: np.ndarray) -> dict[str, np.ndarray]:
    """Log weekly minutes and log ad revenue from (log time, log dau, log revenue) on axis 0."""
    return {"minutes": log_series[0] + log_series[1] + np.log(DAYS_PER_WEEK), "ad_revenue_usd": log_series[2]}


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ceil((n + 1) level)-th smallest score."""
    scores = np.sort(scores[np.isfinite(scores)])
    rank = min(int(np.ceil((len(scores) + 1) * level)), len(scores)) - 1
    return float(scores[rank])


SCALE_LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)


@dataclass
class BacktestResult:
    horizon: int
    origins: list[str]
    mase: dict[str, dict[int, float]]                 # quantity -> {horizon: the baseline's MASE}
    mase_seasonal_naive: dict[str, dict[int, float]]
    coverage: dict[str, dict[int, float]]             # held-out coverage of the calibrated interval
    noise_scale: dict[str, np.ndarray]                # quantity -> levels x horizon steps
    level: float
    trend: dict[str, str] | None = None               # quantity -> the baseline's trend kind
    example: dict | None = None                       # last origin, all markets: weeks, actual, forecast, lo, hi

    def scale_at(self, quantity: str, level: float) -> np.ndarray:
        """Noise multiplier per horizon step for a `level` interval (interpolated between levels)."""
        table = self.noise_scale[quantity]
        return np.array([np.interp(level, SCALE_LEVELS, table[:, h]) for h in range(table.shape[1])])


def rolling_origin_backtest(log_series: np.ndarray, weeks: pd.DatetimeIndex, horizon: int = 26,
                            n_origins: int = 8, spacing: int = 13, fit_weeks: int = 156,
                            n_paths: int = 300, level: float = 0.9, report_at: tuple[int, ...] | None = None,
                            trends: tuple[str, ...] | None = None, seed: int = 0) -> BacktestResult:
    """Backtest baselines of de-effected (log time, log dau, log revenue) x markets x weeks.

    Origins are `spacing` weeks apart, the last one `horizon` weeks before the end. At each
    origin, every series with enough history of its own before it (a season plus half the fit
    window) and `horizon` observed weeks after it is scored; the others sit that origin out.
    Scores are reported over the first h steps for each h in `report_at` (default
    `reported_horizons(horizon)`). Raises PanelShapeError when no origin has a series to score.
    """
    report_at = tuple(report_at or reported_horizons(horizon))
    first, last = window_bounds(np.isfinite(log_series).all(axis=0))
    n_weeks = log_series.shape[-1]
    candidates = [n_weeks - horizon - spacing * k for k in range(n_origins)][::-1]
    plan = [(o, np.flatnonzero((o - first - fit_weeks // 2 > SEASON) & (last >= o + horizon - 1)))
            for o in candidates]
    plan = [(o, markets) for o, markets in plan if len(markets)]
    if not plan:
        raise PanelShapeError(f"no backtest origin: no series has {SEASON + fit_weeks // 2 + 1} weeks of history "
                              f"and {horizon} more after any of the {n_origins} origins; lower backtest_horizon "
                              "or baseline_fit_weeks, or set backtest_origins=0")
    rng = np.random.default_rng(seed)
    scores = {lv: {q: [] for q in QUANTITIES} for lv in SCALE_LEVELS}
    errors = {q: [] for q in QUANTITIES}
    naive_errors = {q: [] for q in QUANTITIES}
    for origin, markets in plan:
        series = log_series[:, markets]
        fit = fit_baselines(series[:, :, :origin], weeks[:origin], horizon, fit_weeks, trends, seed=seed)
        noise = fit.noise_paths(horizon, n_paths, rng)
        point = _quantities(fit.mean)
        spread = {"minutes": noise[:, 0] + noise[:, 1], "ad_revenue_usd": noise[:, 2]}   # paths x markets x horizon
        actual = _quantities(series[:, :, origin:origin + horizon])
        history = _quantities(series[:, :, max(0, origin - fit_weeks):origin])
        for q in QUANTITIES:
            for lv in SCALE_LEVELS:
                lo, hi = np.quantile(spread[q], [(1 - lv) / 2, (1 + lv) / 2], axis=0)
                scores[lv][q].append(np.abs(actual[q] - point[q] - (hi + lo) / 2) / ((hi - lo) / 2))
            level_hist = np.exp(history[q])
            scale = np.nanmean(np.abs(level_hist[:, SEASON:] - level_hist[:, :-SEASON]), axis=1, keepdims=True)
            naive = np.exp(_quantities(series[:, :, origin - SEASON:origin - SEASON + horizon])[q])
            errors[q].append(np.abs(np.exp(point[q]) - np.exp(actual[q])) / scale)          # markets x horizon
            naive_errors[q].append(np.abs(naive - np.exp(actual[q])) / scale)
        last_origin = {"origin": origin, "point": point["minutes"], "actual": actual["minutes"],
                       "spread": spread["minutes"]}
    coverage, noise_scale = {}, {}
    for q in QUANTITIES:
        noise_scale[q] = np.array([[conformal_quantile(np.concatenate(scores[lv][q])[:, h], lv)
                                    for h in range(horizon)] for lv in SCALE_LEVELS])
        coverage[q] = {h: held_out_coverage([s[:, :h] for s in scores[level][q]], level) for h in report_at}
    mase = {q: {h: _mean_over_steps(errors[q], h) for h in report_at} for q in QUANTITIES}
    naive = {q: {h: _mean_over_steps(naive_errors[q], h) for h in report_at} for q in QUANTITIES}
    # total minutes over the scored markets at the last origin, with the calibrated band
    scale = noise_scale["minutes"][SCALE_LEVELS.index(level)]
    totals = np.exp(last_origin["point"][None] + last_origin["spread"] * scale[None, None, :]).sum(axis=1)
    lo, hi = np.quantile(totals, [(1 - level) / 2, (1 + level) / 2], axis=0)
    start = last_origin["origin"]
    example = {"weeks": [str(w.date()) for w in weeks[start:start + horizon]],
               "actual": np.exp(last_origin["actual"]).sum(axis=0).tolist(),
               "forecast": np.exp(last_origin["point"]).sum(axis=0).tolist(), "lo": lo.tolist(), "hi": hi.tolist()}
    return BacktestResult(
        horizon=horizon,
        origins=[str(weeks[o - 1].date()) for o, _ in plan],   # last week each fit saw
        mase=mase,
        mase_seasonal_naive=naive,
        coverage=coverage,
        noise_scale=noise_scale,
        level=level,
        trend={q: (trends or ("ct",) * 3)[0 if q == "minutes" else 2] for q in QUANTITIES},
        example=example,
    )


def _mean_over_steps(per_origin: list[np.ndarray], steps: int) -> float:
    """Mean of every (origin, market, step < steps) error."""
    return float(np.mean(np.concatenate([e[:, :steps].ravel() for e in per_origin])))


def held_out_coverage(scores: list[np.ndarray], level: float) -> float:
    """Coverage of intervals calibrated without the origin they are scored on (leave one origin out).

    `scores` holds one markets x horizon steps array per origin (the markets scored there);
    each step has its own conformal scale.
    """
    if len(scores) < 2:
        return float("nan")
    covered = []
    for k in range(len(scores)):
        calibration = np.concatenate(scores[:k] + scores[k + 1:])
        scale = np.array([conformal_quantile(calibration[:, h], level) for h in range(scores[k].shape[1])])
        covered.append((scores[k] <= scale[None, :]).ravel())
    return float(np.mean(np.concatenate(covered)))


def choose_trends(results: dict[str, BacktestResult], at: int) -> tuple[tuple[str, ...], BacktestResult]:
    """Per quantity, the trend kind with the lowest MASE at `at` weeks; the outcome trends and
    the backtest of that choice (minutes are time per DAU and DAU, revenue is revenue).
    """
    best = {q: min(results, key=lambda kind: results[kind].mase[q][at]) for q in QUANTITIES}
    chosen = {q: results[best[q]] for q in QUANTITIES}
    first = next(iter(results.values()))
    combined = BacktestResult(
        horizon=first.horizon, origins=first.origins, level=first.level,
        mase={q: chosen[q].mase[q] for q in QUANTITIES},
        mase_seasonal_naive={q: chosen[q].mase_seasonal_naive[q] for q in QUANTITIES},
        coverage={q: chosen[q].coverage[q] for q in QUANTITIES},
        noise_scale={q: chosen[q].noise_scale[q] for q in QUANTITIES},
        trend={q: best[q] for q in QUANTITIES},
        example=chosen["minutes"].example,
    )
    return (best["minutes"], best["minutes"], best["ad_revenue_usd"]), combined


def headline_mase(backtests: dict[str, BacktestResult], at: int = HEADLINE_HORIZON) -> tuple[float, float]:
    """Mean 13-week MASE over apps and quantities (minutes, ad revenue): the model's and seasonal-naive's."""
    model = [b.mase[q][at] for b in backtests.values() for q in QUANTITIES]
    naive = [b.mase_seasonal_naive[q][at] for b in backtests.values() for q in QUANTITIES]
    return float(np.mean(model)), float(np.mean(naive))


def uncalibrated_backtest(horizon: int) -> BacktestResult:
    """No backtest run: unit noise scale, no scores (for attribution-only fits)."""
    nan = {q: {h: float("nan") for h in reported_horizons(horizon)} for q in QUANTITIES}
    return BacktestResult(horizon=horizon, origins=[], mase=nan, mase_seasonal_naive=nan, coverage=nan,
                          noise_scale={q: np.ones((len(SCALE_LEVELS), horizon)) for q in QUANTITIES},
                          level=0.9, trend={q: "ct" for q in QUANTITIES})
