"""From the long panel to per-app arrays (markets x weeks), the form the estimators work on.

Real panels are unbalanced: a market enters the data late, stops reporting early, an app
starts mid-panel. Each app gets its own calendar (every week from its first observed row to
its last) and a mask of the cells the panel holds; nothing observed is dropped to balance the
arrays. The estimators read the mask: the effects regression runs on the observed cells,
baselines and backtests run per series on its own window.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from data.calendar import DAYS_PER_WEEK, year_angle, years_since
from data.contract import MIN_MARKETS_PER_APP

# Floors that keep logs finite where the contract allows zeros.
MIN_MINUTES_PER_DAY = 1e-3
MIN_REVENUE_USD = 1.0


class PanelShapeError(ValueError):
    """The panel is valid but cannot be modelled (e.g. every series of every app is too short)."""


@dataclass
class AppPanel:
    """One app's history on its own calendar, with the observed cells marked.

    Outcomes are NaN where the panel holds no row. The share is filled outside a market's
    window (its first observed share before, its last after) so that carried-over exposure
    can run along the whole calendar; those cells are never used as observations.
    """

    app: str
    markets: list[str]
    weeks: pd.DatetimeIndex  # every week from the app's first observed week to its last
    observed: np.ndarray     # markets x weeks, True where the panel holds the row
    share: np.ndarray        # rollout share, markets x weeks (filled outside each window)
    log_time: np.ndarray     # log minutes per DAU per day (NaN where not observed)
    log_dau: np.ndarray
    log_revenue: np.ndarray

    @property
    def balanced(self) -> bool:
        return bool(self.observed.all())

    @cached_property
    def first_index(self) -> np.ndarray:
        """Each market's first observed week (index into `weeks`)."""
        return window_bounds(self.observed)[0]

    @cached_property
    def last_index(self) -> np.ndarray:
        """Each market's last observed week (index into `weeks`)."""
        return window_bounds(self.observed)[1]

    @property
    def forecastable(self) -> np.ndarray:
        """Markets observed on the app's last week: their forecasts start right after it."""
        return self.last_index == len(self.weeks) - 1

    def windows(self) -> pd.DataFrame:
        """Per market: the first and last week used, how many weeks, and whether it can be forecast."""
        return pd.DataFrame({"market": self.markets,
                             "first_week": [str(self.weeks[i].date()) for i in self.first_index],
                             "last_week": [str(self.weeks[i].date()) for i in self.last_index],
                             "n_weeks": self.observed.sum(axis=1).astype(int),
                             "forecastable": self.forecastable})

    def history(self, markets: list[str] | None = None, last_weeks: int | None = None) -> pd.DataFrame:
        """The observed rows, long: week, market, rollout_share and the four quantities; of
        `markets` only (default all, in the panel's order) and the last `last_weeks` weeks only."""
        rows = np.arange(len(self.markets)) if markets is None else np.array([self.markets.index(m) for m in markets],
                                                                             dtype=int)
        first = 0 if last_weeks is None else max(len(self.weeks) - last_weeks, 0)
        market, week = np.nonzero(self.observed[rows, first:])
        market, week = rows[market], week + first
        logs = {"time_spent_min": self.log_time, "dau": self.log_dau, "minutes": self.log_minutes,
                "ad_revenue_usd": self.log_revenue}
        return pd.DataFrame({"week": self.weeks[week], "market": np.asarray(self.markets)[market],
                             "rollout_share": self.share[market, week],
                             **{name: np.exp(values[market, week]) for name, values in logs.items()}})

    @property
    def log_minutes(self) -> np.ndarray:
        """Log total minutes per week: DAU x 7 x minutes per day."""
        return self.log_time + self.log_dau + np.log(DAYS_PER_WEEK)

    @property
    def minutes(self) -> np.ndarray:
        """Weekly total minutes, 0 where not observed (so sums cover the observed rows)."""
        return np.where(self.observed, np.exp(self.log_minutes), 0.0)

    @property
    def revenue(self) -> np.ndarray:
        """Weekly ad revenue, 0 where not observed."""
        return np.where(self.observed, np.exp(self.log_revenue), 0.0)


def window_bounds(observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's first and last observed position (windows are contiguous by the contract)."""
    return observed.argmax(axis=1), observed.shape[1] - 1 - observed[:, ::-1].argmax(axis=1)


def fill_outside_windows(values: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Each row's first observed value before its window and its last after it."""
    filled = np.array(values, dtype=float, copy=True)
    for row, mask in zip(filled, observed):
        index = np.flatnonzero(mask)
        row[:index[0]] = row[index[0]]
        row[index[-1] + 1:] = row[index[-1]]
    return filled


def app_panels(panel: pd.DataFrame, min_weeks: int = 104) -> tuple[dict[str, AppPanel], list[str]]:
    """Split a validated panel into one `AppPanel` per app, and the notes on what was left out.

    Every observed row of a series with at least `min_weeks` weeks is kept. A shorter series is
    left out of its app (a note says so), never truncating the others; an app left with fewer
    than the contract's minimum of markets is left out too. Raises PanelShapeError when no app
    remains.
    """
    out, notes = {}, []
    for app, rows in panel.groupby("app", sort=True):
        app = str(app)
        length = rows.groupby("market")["week"].size()
        short = length[length < min_weeks]
        notes += [f"{app}/{market}: {n} weeks, fewer than min_weeks={min_weeks}; left out of {app}"
                  for market, n in short.items()]
        rows = rows[~rows["market"].isin(short.index)]
        if rows["market"].nunique() < MIN_MARKETS_PER_APP:
            notes.append(f"{app}: only {rows['market'].nunique()} market(s) with at least {min_weeks} weeks "
                         f"(at least {MIN_MARKETS_PER_APP} are needed); {app} left out")
            continue
        calendar = pd.date_range(rows["week"].min(), rows["week"].max(), freq="7D", unit="ns")
        wide = {column: rows.pivot(index="market", columns="week", values=column).reindex(columns=calendar)
                for column in ("rollout_share", "time_spent_min", "dau", "ad_revenue_usd")}
        observed = wide["rollout_share"].notna().to_numpy()
        out[app] = AppPanel(
            app=app,
            markets=[str(m) for m in wide["rollout_share"].index],
            weeks=calendar,
            observed=observed,
            share=fill_outside_windows(wide["rollout_share"].to_numpy(dtype=float), observed),
            log_time=np.log(np.maximum(wide["time_spent_min"].to_numpy(dtype=float), MIN_MINUTES_PER_DAY)),
            log_dau=np.log(wide["dau"].to_numpy(dtype=float)),
            log_revenue=np.log(np.maximum(wide["ad_revenue_usd"].to_numpy(dtype=float), MIN_REVENUE_USD)),
        )
    if not out:
        raise PanelShapeError("no app can be modelled: " + "; ".join(notes))
    return out, notes


def seasonal_basis(weeks: pd.DatetimeIndex, origin: pd.Timestamp, fourier_order: int,
                   trend: bool = True) -> np.ndarray:
    """Columns: intercept, (linear trend in years,) sin/cos of the year up to `fourier_order`."""
    years = years_since(weeks, origin)
    angle = year_angle(weeks)
    columns = [np.ones(len(weeks))] + ([years] if trend else [])
    for k in range(1, fourier_order + 1):
        columns += [np.sin(k * angle), np.cos(k * angle)]
    return np.column_stack(columns)
