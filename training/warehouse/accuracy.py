"""Forecasts held against what happened: an earlier vintage's forecasts for the weeks a newer
training panel has actuals for.

What the vintage is held to is its forecast of the rollout that happened: each market's realised
shares over the weeks scored (the status quo where the rollout stayed at it, so those rows are
the vintage's published status-quo forecast, and the realised plan otherwise, forecast by the
vintage's own model as if the planner had sent it). `plan` says which, per market; `ALL` is
`status_quo` only if every market stayed at it.

Each row's `scaled_abs_error` is |actual - forecast| over the series' in-sample seasonal-naive
MAE on the vintage's own training history, the scale of the model's backtest MASE; the mean over
rows is the MASE. `ALL` is the vintage's forecastable markets together, scored in the weeks
where every one of them has an actual; its time per DAU is total minutes / (7 x DAU).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.calendar import DAYS_PER_WEEK
from training.model.backtest import SEASON
from training.model.estimator import ImpactModel
from training.model.paths import QUANTITIES
from training.warehouse.rows import with_all

ADDITIVE = ("dau", "minutes", "ad_revenue_usd")


def actuals(history: pd.DataFrame, markets: list[str], weeks: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """quantity -> (markets + ALL) x weeks of observed values (NaN where a market has no row;
    ALL only where every market has one). Also "rollout_share" (markets x weeks)."""
    rows = history[history["market"].isin(markets)]
    out = {}
    for column in ("rollout_share", *QUANTITIES):
        wide = rows.pivot(index="market", columns="week", values=column).reindex(index=markets, columns=weeks)
        out[column] = wide.to_numpy(dtype=float)
    complete = ~np.isnan(out["dau"]).any(axis=0)
    totals = {q: np.where(complete, out[q].sum(axis=0), np.nan) for q in ADDITIVE}
    totals["time_spent_min"] = totals["minutes"] / (DAYS_PER_WEEK * totals["dau"])
    for q in QUANTITIES:
        out[q] = np.vstack([out[q], totals[q][None]])
    return out


def seasonal_naive_scale(history: pd.DataFrame, markets: list[str]) -> dict[str, np.ndarray]:
    """quantity -> (markets + ALL): mean |y_t - y_{t-52}| over the history's weeks."""
    weeks = pd.DatetimeIndex(sorted(history["week"].unique()))
    values = actuals(history, markets, weeks)
    return {q: np.nanmean(np.abs(values[q][:, SEASON:] - values[q][:, :-SEASON]), axis=1) for q in QUANTITIES}


def realised_shares(status_quo: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """The shares that happened (markets x weeks): observed ones, the last known carried on where
    a market has no row, the status quo before its first."""
    shares = np.array(status_quo, dtype=float, copy=True)
    for row, seen in zip(shares, observed):
        known = ~np.isnan(seen)
        if known.any():
            filled = pd.Series(np.where(known, seen, np.nan)).ffill().to_numpy()
            row[:] = np.where(np.isnan(filled), row, filled)
    return shares


def accuracy_rows(vintage: ImpactModel, version: str, newer: ImpactModel, actuals_version: str,
                  app: str, levels: tuple[float, ...], horizon_weeks: int) -> pd.DataFrame | None:
    """One vintage's forecast-vs-actual rows for one app (None when the newer panel holds no
    actual for any week the vintage forecast)."""
    if app not in vintage.apps or app not in newer.apps:
        return None
    seen = newer.history(app)
    weeks = vintage.forecast_weeks(app, horizon_weeks)
    weeks = weeks[weeks <= seen["week"].max()]
    if len(weeks) == 0:
        return None
    markets = vintage.markets(app, forecastable=True)
    happened = actuals(seen, markets, weeks)
    quo = vintage.status_quo(app, len(weeks), markets)
    shares = realised_shares(quo, happened["rollout_share"])
    held = np.isclose(shares, quo, atol=1e-9).all(axis=1)
    plan = np.where(np.append(held, held.all()), "status_quo", "realised_plan")
    scale = seasonal_naive_scale(vintage.history(app), markets)
    as_of = vintage.forecast_weeks(app, 1)[0] - pd.Timedelta(weeks=1)
    names = np.array([*markets, "ALL"])
    frames = []
    for level in levels:
        result = vintage.forecast(app, shares, markets, level)
        for quantity in QUANTITIES:
            forecast, lo, hi = (with_all(result, quantity, column) for column in ("scenario", "lo", "hi"))
            actual = happened[quantity]
            series, week = np.nonzero(~np.isnan(actual))
            error = actual[series, week] - forecast[series, week]
            frames.append(pd.DataFrame({
                "model_version": version, "actuals_version": actuals_version, "app": app,
                "market": names[series], "week": weeks[week].date, "quantity": quantity, "level": result.level,
                "as_of": as_of.date(), "actuals_as_of": seen["week"].max().date(), "horizon": week + 1,
                "plan": plan[series], "forecast": forecast[series, week], "lo": lo[series, week],
                "hi": hi[series, week], "actual": actual[series, week], "error": error,
                "scaled_abs_error": np.abs(error) / scale[quantity][series],
                "covered": (lo[series, week] <= actual[series, week]) & (actual[series, week] <= hi[series, week])}))
    return pd.concat(frames, ignore_index=True)
