"""Counterfactual baselines: one seasonal statsmodels model per (app, market, outcome) series.

Each series, with the estimated rollout effect removed, gets an AutoReg(1) model with a
constant, a linear trend, yearly Fourier terms and a holiday-week indicator, fitted on the last
`fit_weeks` weeks (so the trend is the recent one). Forecasts go up to `max_horizon` weeks.
Noise for sample paths is the model's AR(1) recursion driven by in-sample residuals resampled
by whole weeks (all markets and outcomes of a week together, so the cross-market correlation of
common shocks is kept), times a scale calibrated on rolling-origin backtests.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.tsa.ar_model import AutoReg

from data.calendar import holiday_weeks
from training.arrays import seasonal_basis

FOURIER_ORDER = 4


def exogenous(weeks: pd.DatetimeIndex, origin: pd.Timestamp) -> np.ndarray:
    """Seasonal regressors (no intercept, no trend: AutoReg adds those)."""
    return np.column_stack([seasonal_basis(weeks, origin, FOURIER_ORDER, trend=False)[:, 1:], holiday_weeks(weeks)])


def future_weeks(weeks: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    return pd.date_range(weeks[-1] + pd.Timedelta(days=7), periods=horizon, freq="7D", unit="ns")


@dataclass
class BaselineFit:
    """Baselines of several outcomes (axis 0) for an app's markets (axis 1)."""

    mean: np.ndarray        # outcomes x markets x horizon: the point forecast (log scale)
    phi: np.ndarray         # outcomes x markets: the AR(1) coefficient
    residuals: np.ndarray   # outcomes x markets x fit weeks - 1: in-sample one-step residuals

    def noise_paths(self, horizon: int, n_paths: int, rng: np.random.Generator,
                    scale: np.ndarray | float = 1.0) -> np.ndarray:
        """Zero-mean forecast-error paths, paths x outcomes x markets x horizon (log scale).

        `scale` (one value per outcome, or one for all) multiplies the noise.
        """
        n_weeks = self.residuals.shape[-1]
        picks = rng.integers(0, n_weeks, size=(n_paths, horizon))
        shocks = np.moveaxis(self.residuals[:, :, picks], 2, 0)     # paths x outcomes x markets x horizon
        shocks = shocks * np.asarray(scale, dtype=float).reshape(1, -1, 1, 1)
        paths = np.empty_like(shocks)
        level = np.zeros(shocks.shape[:-1])
        for h in range(horizon):
            level = self.phi[None] * level + shocks[..., h]
            paths[..., h] = level
        return paths


def fit_baselines(series: np.ndarray, weeks: pd.DatetimeIndex, max_horizon: int = 104,
                  fit_weeks: int = 156) -> BaselineFit:
    """Fit every series (outcomes x markets x weeks, log scale) and forecast `max_horizon` weeks."""
    start = max(0, len(weeks) - fit_weeks)
    fit_index = weeks[start:]
    origin = weeks[0]
    x_fit = exogenous(fit_index, origin)
    x_future = exogenous(future_weeks(weeks, max_horizon), origin)
    n_out, n_mk = series.shape[:2]
    mean = np.empty((n_out, n_mk, max_horizon))
    phi = np.empty((n_out, n_mk))
    residuals = np.empty((n_out, n_mk, len(fit_index) - 1))
    for o in range(n_out):
        for m in range(n_mk):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = AutoReg(series[o, m, start:], lags=1, trend="ct", exog=x_fit).fit()
                n = len(fit_index)
                mean[o, m] = result.predict(start=n, end=n + max_horizon - 1, exog_oos=x_future)
            phi[o, m] = result.params[2]
            residuals[o, m] = result.resid
    phi = np.clip(phi, -0.99, 0.99)
    return BaselineFit(mean=mean, phi=phi, residuals=residuals)
