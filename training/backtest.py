"""Rolling-origin backtests of the baselines, and the conformal scale of their intervals.

At each origin the baselines are refitted on the history up to it and forecast `horizon`
weeks; errors are scored on weekly total minutes and ad revenue per market, against
seasonal-naive (the value 52 weeks earlier). MASE uses each series' in-sample seasonal-naive
error as its scale. Interval scale: split conformal, calibrated on every other origin and
evaluated on the rest; the scale kept for serving is calibrated on all origins, one value per
horizon step (multi-step errors grow faster than the AR(1) noise alone says).
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


@dataclass
class BacktestResult:
    horizon: int
    origins: list[str]
    mase: dict[str, float]                 # quantity -> the baseline's MASE
    mase_seasonal_naive: dict[str, float]
    coverage: dict[str, float]             # held-out coverage of the calibrated interval
    noise_scale: dict[str, list[float]]    # per horizon step: what serving multiplies the noise by
    level: float


def rolling_origin_backtest(log_series: np.ndarray, weeks: pd.DatetimeIndex, horizon: int = 13,
                            n_origins: int = 8, fit_weeks: int = 156, n_paths: int = 300,
                            level: float = 0.9, seed: int = 0) -> BacktestResult:
    """Backtest baselines of de-effected (log time, log dau, log revenue) x markets x weeks."""
    n_weeks = log_series.shape[-1]
    origins = [n_weeks - horizon * (k + 1) for k in range(n_origins)][::-1]
    origins = [o for o in origins if o - fit_weeks // 2 > SEASON]
    rng = np.random.default_rng(seed)
    tail = (1 - level) / 2
    scores = {q: [] for q in QUANTITIES}
    errors = {q: [] for q in QUANTITIES}
    naive_errors = {q: [] for q in QUANTITIES}
    for k, origin in enumerate(origins):
        fit = fit_baselines(log_series[:, :, :origin], weeks[:origin], horizon, fit_weeks)
        noise = fit.noise_paths(horizon, n_paths, rng)
        point = _quantities(fit.mean)
        spread = {"minutes": noise[:, 0] + noise[:, 1], "revenue": noise[:, 2]}   # paths x markets x horizon
        actual = _quantities(log_series[:, :, origin:origin + horizon])
        history = _quantities(log_series[:, :, max(0, origin - fit_weeks):origin])
        for q in QUANTITIES:
            lo, hi = np.quantile(spread[q], [tail, 1 - tail], axis=0)
            half_width = (hi - lo) / 2
            scores[q].append(np.abs(actual[q] - point[q] - (hi + lo) / 2) / half_width)   # markets x horizon
            level_hist = np.exp(history[q])
            scale = np.mean(np.abs(level_hist[:, SEASON:] - level_hist[:, :-SEASON]), axis=1, keepdims=True)
            naive = np.exp(_quantities(log_series[:, :, origin - SEASON:origin - SEASON + horizon])[q])
            errors[q].append(np.abs(np.exp(point[q]) - np.exp(actual[q])) / scale)
            naive_errors[q].append(np.abs(naive - np.exp(actual[q])) / scale)
    idx_cal, idx_eval = slice(0, None, 2), slice(1, None, 2)   # interleaved origins
    coverage, noise_scale = {}, {}
    for q in QUANTITIES:
        by_origin = np.stack(scores[q])                                   # origins x markets x horizon
        cal = by_origin[idx_cal]
        held = by_origin[idx_eval] if len(origins) > 1 else by_origin
        c_cal = np.array([conformal_quantile(cal[:, :, h].ravel(), level) for h in range(horizon)])
        coverage[q] = float(np.mean(held <= c_cal[None, None, :]))
        noise_scale[q] = [conformal_quantile(by_origin[:, :, h].ravel(), level) for h in range(horizon)]
    return BacktestResult(
        horizon=horizon,
        origins=[str(weeks[o - 1].date()) for o in origins],   # last week each fit saw
        mase={q: float(np.mean(np.concatenate(errors[q]))) for q in QUANTITIES},
        mase_seasonal_naive={q: float(np.mean(np.concatenate(naive_errors[q]))) for q in QUANTITIES},
        coverage=coverage,
        noise_scale=noise_scale,
        level=level,
    )
