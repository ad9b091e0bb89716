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

from training.baseline import fit_baselines

SEASON = 52
QUANTITIES = ("minutes", "revenue")


def _quantities(log_series: np.ndarray) -> dict[str, np.ndarray]:
    """Log weekly minutes and log revenue from (log time, log dau, log revenue) on axis 0."""
    return {"minutes": log_series[0] + log_series[1] + np.log(7.0), "revenue": log_series[2]}


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
                            n_paths: int = 300, level: float = 0.9, report_at: tuple[int, ...] = (13, 26),
                            trends: tuple[str, ...] | None = None, seed: int = 0) -> BacktestResult:
    """Backtest baselines of de-effected (log time, log dau, log revenue) x markets x weeks.

    Origins are `spacing` weeks apart, the last one `horizon` weeks before the end. Scores are
    reported over the first h steps for each h in `report_at`.
    """
    n_weeks = log_series.shape[-1]
    origins = [n_weeks - horizon - spacing * k for k in range(n_origins)][::-1]
    origins = [o for o in origins if o - fit_weeks // 2 > SEASON]
    rng = np.random.default_rng(seed)
    scores = {lv: {q: [] for q in QUANTITIES} for lv in SCALE_LEVELS}
    errors = {q: [] for q in QUANTITIES}
    naive_errors = {q: [] for q in QUANTITIES}
    last = {}
    for origin in origins:
        fit = fit_baselines(log_series[:, :, :origin], weeks[:origin], horizon, fit_weeks, trends)
        noise = fit.noise_paths(horizon, n_paths, rng)
        point = _quantities(fit.mean)
        spread = {"minutes": noise[:, 0] + noise[:, 1], "revenue": noise[:, 2]}   # paths x markets x horizon
        actual = _quantities(log_series[:, :, origin:origin + horizon])
        history = _quantities(log_series[:, :, max(0, origin - fit_weeks):origin])
        for q in QUANTITIES:
            for lv in SCALE_LEVELS:
                lo, hi = np.quantile(spread[q], [(1 - lv) / 2, (1 + lv) / 2], axis=0)
                scores[lv][q].append(np.abs(actual[q] - point[q] - (hi + lo) / 2) / ((hi - lo) / 2))
            level_hist = np.exp(history[q])
            scale = np.mean(np.abs(level_hist[:, SEASON:] - level_hist[:, :-SEASON]), axis=1, keepdims=True)
            naive = np.exp(_quantities(log_series[:, :, origin - SEASON:origin - SEASON + horizon])[q])
            errors[q].append(np.abs(np.exp(point[q]) - np.exp(actual[q])) / scale)          # markets x horizon
            naive_errors[q].append(np.abs(naive - np.exp(actual[q])) / scale)
        last = {"origin": origin, "point": point["minutes"], "actual": actual["minutes"], "spread": spread["minutes"]}
    coverage, noise_scale = {}, {}
    for q in QUANTITIES:
        noise_scale[q] = np.array([[conformal_quantile(np.stack(scores[lv][q])[:, :, h].ravel(), lv)
                                    for h in range(horizon)] for lv in SCALE_LEVELS])
        coverage[q] = {h: held_out_coverage(np.stack(scores[level][q])[:, :, :h], level) for h in report_at}
    mase = {q: {h: float(np.mean(np.stack(errors[q])[:, :, :h])) for h in report_at} for q in QUANTITIES}
    example = None
    if last:   # total minutes over markets at the last origin, with the calibrated 90% band
        scale = noise_scale["minutes"][SCALE_LEVELS.index(level)]
        totals = np.exp(last["point"][None] + last["spread"] * scale[None, None, :]).sum(axis=1)
        lo, hi = np.quantile(totals, [(1 - level) / 2, (1 + level) / 2], axis=0)
        example = {"weeks": [str(w.date()) for w in weeks[last["origin"]:last["origin"] + horizon]],
                   "actual": np.exp(last["actual"]).sum(axis=0).tolist(),
                   "forecast": np.exp(last["point"]).sum(axis=0).tolist(), "lo": lo.tolist(), "hi": hi.tolist()}
    naive = {q: {h: float(np.mean(np.stack(naive_errors[q])[:, :, :h])) for h in report_at} for q in QUANTITIES}
    return BacktestResult(
        horizon=horizon,
        origins=[str(weeks[o - 1].date()) for o in origins],   # last week each fit saw
        mase=mase,
        mase_seasonal_naive=naive,
        coverage=coverage,
        noise_scale=noise_scale,
        level=level,
        trend={q: (trends or ("ct",) * 3)[0 if q == "minutes" else 2] for q in QUANTITIES},
        example=example,
    )


def held_out_coverage(scores: np.ndarray, level: float) -> float:
    """Coverage of intervals calibrated without the origin they are scored on (leave one origin out).

    `scores` is origins x markets x horizon steps; each step has its own conformal scale.
    """
    n_origins = scores.shape[0]
    if n_origins < 2:
        return float("nan")
    covered = []
    for k in range(n_origins):
        calibration = np.delete(scores, k, axis=0)
        scale = np.array([conformal_quantile(calibration[:, :, h].ravel(), level) for h in range(scores.shape[2])])
        covered.append(scores[k] <= scale[None, :])
    return float(np.mean(covered))


def choose_trends(results: dict[str, BacktestResult], at: int = 26) -> tuple[tuple[str, ...], BacktestResult]:
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
    return (best["minutes"], best["minutes"], best["revenue"]), combined


def uncalibrated_backtest(horizon: int) -> BacktestResult:
    """No backtest run: unit noise scale, no scores (for attribution-only fits)."""
    nan = {q: {horizon: float("nan")} for q in QUANTITIES}
    return BacktestResult(horizon=horizon, origins=[], mase=nan, mase_seasonal_naive=nan, coverage=nan,
                          noise_scale={q: np.ones((len(SCALE_LEVELS), horizon)) for q in QUANTITIES},
                          level=0.9, trend={q: "ct" for q in QUANTITIES})
