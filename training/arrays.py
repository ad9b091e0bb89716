"""From the long panel to per-app arrays (markets x weeks), the form the estimators work on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.calendar import year_angle, years_since

# Floors that keep logs finite where the contract allows zeros.
MIN_MINUTES_PER_DAY = 1e-3
MIN_REVENUE_USD = 1.0


class PanelShapeError(ValueError):
    """The panel is valid but cannot be modelled (e.g. too short a window common to all markets)."""


@dataclass
class AppPanel:
    """One app's history on the weeks every one of its markets has (the balanced window)."""

    app: str
    markets: list[str]
    weeks: pd.DatetimeIndex
    share: np.ndarray        # rollout share, markets x weeks
    log_time: np.ndarray     # log minutes per DAU per day
    log_dau: np.ndarray
    log_revenue: np.ndarray

    @property
    def log_minutes(self) -> np.ndarray:
        """Log total minutes per week: DAU x 7 x minutes per day."""
        return self.log_time + self.log_dau + np.log(7.0)

    @property
    def minutes(self) -> np.ndarray:
        return np.exp(self.log_minutes)

    @property
    def revenue(self) -> np.ndarray:
        return np.exp(self.log_revenue)


def app_panels(panel: pd.DataFrame, min_weeks: int = 104) -> dict[str, AppPanel]:
    """Split a validated panel into one balanced `AppPanel` per app.

    Series may start and end on different weeks; each app is modelled on the weeks all of its
    markets share, which must be at least `min_weeks` long.
    """
    out = {}
    for app, rows in panel.groupby("app", sort=True):
        first = rows.groupby("market")["week"].min().max()
        last = rows.groupby("market")["week"].max().min()
        rows = rows[(rows["week"] >= first) & (rows["week"] <= last)]
        n_weeks = rows["week"].nunique()
        if n_weeks < min_weeks:
            raise PanelShapeError(f"app '{app}': its markets share only {n_weeks} weeks "
                                  f"({first:%Y-%m-%d}..{last:%Y-%m-%d}); at least {min_weeks} are needed")
        wide = rows.pivot(index="market", columns="week")
        out[str(app)] = AppPanel(
            app=str(app),
            markets=[str(m) for m in wide.index],
            weeks=pd.DatetimeIndex(wide["rollout_share"].columns),
            share=wide["rollout_share"].to_numpy(dtype=float),
            log_time=np.log(np.maximum(wide["time_spent_min"].to_numpy(dtype=float), MIN_MINUTES_PER_DAY)),
            log_dau=np.log(wide["dau"].to_numpy(dtype=float)),
            log_revenue=np.log(np.maximum(wide["ad_revenue_usd"].to_numpy(dtype=float), MIN_REVENUE_USD)),
        )
    return out


def seasonal_basis(weeks: pd.DatetimeIndex, origin: pd.Timestamp, fourier_order: int,
                   trend: bool = True) -> np.ndarray:
    """Columns: intercept, (linear trend in years,) sin/cos of the year up to `fourier_order`."""
    years = years_since(weeks, origin)
    angle = year_angle(weeks)
    columns = [np.ones(len(weeks))] + ([years] if trend else [])
    for k in range(1, fourier_order + 1):
        columns += [np.sin(k * angle), np.cos(k * angle)]
    return np.column_stack(columns)
