"""Counterfactual baselines: one seasonal AR(1) model per (app, market, outcome) series.

Each series, with the estimated rollout effect removed, gets an AutoReg(1) model with yearly
Fourier terms and a holiday-week indicator, fitted on the last `fit_weeks` weeks of its own
window: around a constant and a linear trend ("ct") or on weekly changes without drift ("level",
robust to a past ramp or level shift); or ("factor") the app-wide factor of all markets on
weekly changes with a drift, and each market "ct" around it (where app-wide shocks accumulate);
or ("ct_monthly") "ct" with a season of calendar months in place of the Fourier terms, for ad
prices that step when a month starts; the model chooses per app and quantity by backtest.
Forecasts go up to `max_horizon` weeks.

Noise for sample paths is the model's AR(1) recursion driven by in-sample residuals resampled
by whole weeks (all markets and outcomes of a week together, so the cross-market correlation of
common shocks is kept), split in two parts that are scaled apart (see `backtest`):

- the app-level common component C: the paths' average over markets, weighted by each market's
  share of the app's quantity (minutes for time and DAU, revenue for revenue). It is one path
  for all markets, either as the AR recursion makes it ("ar", mean-reverting where the series
  are) or as a local level ("walk": the weighted common innovations accumulate, so a shared
  movement of the whole app persists), chosen per quantity by backtest;
- each market's own deviation from the "ar" common path, I_m = P_m - C_ar.

A market's error path is s_c(h) C + s_i(h) I_m; the markets' total moves by about s_c(h) C,
since the weighted I_m sum to zero.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.tsa.ar_model import AutoReg

from data.calendar import holiday_weeks
from training.model.panel import seasonal_basis, window_bounds

FOURIER_ORDER = 4


def exogenous(weeks: pd.DatetimeIndex, origin: pd.Timestamp, monthly: bool = False) -> np.ndarray:
    """Seasonal regressors (no intercept, no trend: AutoReg adds those): yearly Fourier terms, or
    (`monthly`) an indicator of each calendar month but January, so the season may step when a
    month starts; and the holiday weeks."""
    if monthly:
        month = weeks.month.to_numpy()
        season = (month[:, None] == np.arange(2, 13)[None, :]).astype(float)
    else:
        season = seasonal_basis(weeks, origin, FOURIER_ORDER, trend=False)[:, 1:]
    return np.column_stack([season, holiday_weeks(weeks)])


def future_weeks(weeks: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    return pd.date_range(weeks[-1] + pd.Timedelta(days=7), periods=horizon, freq="7D", unit="ns")


COMMON_KINDS = ("ar", "walk")
WEIGHT_WEEKS = 13       # a market's weight in the common component: its share over the last quarter


@dataclass
class NoiseParts:
    """Unscaled error paths of a `BaselineFit` (log scale): the common component of each kind,
    paths x outcomes x horizon, and the markets' own deviations, paths x outcomes x markets x horizon."""

    common: dict[str, np.ndarray]
    own: np.ndarray


@dataclass
class BaselineFit:
    """Baselines of several outcomes (axis 0) for an app's markets (axis 1)."""

    mean: np.ndarray        # outcomes x markets x horizon: the point forecast (log scale)
    phi: np.ndarray         # outcomes x markets: the AR(1) coefficient
    residuals: np.ndarray   # outcomes x markets x fit weeks - 2: in-sample one-step residuals
    integrated: np.ndarray  # outcomes: True where the model is on weekly changes ("level")
    weights: np.ndarray     # outcomes x markets: each market's share of the app's quantity (rows sum to 1)

    def noise_parts(self, horizon: int, n_paths: int, rng: np.random.Generator) -> NoiseParts:
        """Zero-mean error paths split into the common component (each kind) and the markets' own parts."""
        residuals = self.residuals - self.residuals.mean(axis=-1, keepdims=True)   # errors are zero-mean
        picks = rng.integers(0, residuals.shape[-1], size=(n_paths, horizon))
        shocks = np.moveaxis(residuals[:, :, picks], 2, 0)     # paths x outcomes x markets x horizon
        paths = np.empty_like(shocks)
        level = np.zeros(shocks.shape[:-1])
        for h in range(horizon):
            level = self.phi[None] * level + shocks[..., h]
            paths[..., h] = level
        paths[:, self.integrated] = np.cumsum(paths[:, self.integrated], axis=-1)
        weights = self.weights[None, :, :, None]
        common_ar = (paths * weights).sum(axis=2)
        common_walk = np.cumsum((shocks * weights).sum(axis=2), axis=-1)
        return NoiseParts(common={"ar": common_ar, "walk": common_walk}, own=paths - common_ar[:, :, None, :])


def quantity_weights(series: np.ndarray, weeks: int = WEIGHT_WEEKS) -> np.ndarray:
    """Each market's share of the app's quantity over the last `weeks` weeks, per outcome.

    For the (log time, log dau, log revenue) stack, time and DAU are weighted by minutes (time x
    DAU) and revenue by revenue; any other stack weights each outcome by its own level.
    """
    level = np.exp(series[..., -weeks:])
    if series.shape[0] == 3:
        level = np.stack([level[0] * level[1], level[0] * level[1], level[2]])
    totals = level.mean(axis=-1)
    return totals / totals.sum(axis=1, keepdims=True)


SERIES_KINDS = ("ct", "level", "drift")   # how `fit_many` models a series
INTEGRATED = ("level", "drift")           # the kinds modelled on weekly changes
FACTOR = "factor"                         # the app-wide factor with drift, each market "ct" around it
MONTHLY = "ct_monthly"                    # "ct" with a season that steps when a month starts
TRENDS = ("ct", "level", FACTOR, MONTHLY)  # every kind the backtest fits


def fit_many(values: np.ndarray, x_fit: np.ndarray, x_future: np.ndarray, trend: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Series sharing one window (series x weeks): (forecasts, AR(1) coefficients, one-step residuals)
    for a trend kind, all in one batched least-squares solve.

    "ct": AR(1) around a constant, a linear trend and the seasonal terms: shocks fade back to
    the trend line.
    "level": the same on weekly changes without drift (a seasonal random walk with AR(1)
    changes): it does not extrapolate a past ramp or level shift, where "ct" would.
    "drift": weekly changes with a constant, ARIMA(1,1,0) with drift: shocks persist, as under
    "level", and the growth continues at its average over the fit window, as under "ct". Where
    app-wide shocks accumulate, "ct" pulls a forecast back to a trend line the series has left
    and "level" drops its growth; this one does neither.

    Each is statsmodels' `AutoReg(y, lags=1, trend, exog)` (`fit_series`, the reference the tests
    hold this to within 1e-8): y_t = d_t'gamma + phi y_{t-1} + e_t for t = 1..n-1, where d_t holds
    the constant, the trend t + 1 (AutoReg counts time from 1) and the seasonal terms, shared by
    every series. By Frisch-Waugh-Lovell, with Q R = D (one QR for all series) and M = I - Q Q',
    phi = <M y_lag, M y> / <M y_lag, M y_lag> and gamma = R^-1 Q'(y - phi y_lag); the forecast runs
    the recursion on from the last week, and the integrated kinds cumulate it from the last level.
    """
    if trend not in SERIES_KINDS:
        raise ValueError(f"unknown trend '{trend}': use one of {SERIES_KINDS}")
    integrated = trend in INTEGRATED
    y = np.diff(values, axis=1) if integrated else np.asarray(values, dtype=float)
    x = np.diff(x_fit, axis=0) if integrated else x_fit
    x_ahead = np.diff(np.vstack([x_fit[-1:], x_future]), axis=0) if integrated else x_future
    n, horizon = y.shape[1], len(x_future)

    def deterministic(time: np.ndarray, exog: np.ndarray) -> np.ndarray:
        columns = {"ct": [np.ones_like(time), time + 1.0], "drift": [np.ones_like(time)], "level": []}[trend]
        return np.column_stack([*columns, exog])

    design = deterministic(np.arange(1, n, dtype=float), x[1:])
    target, lag = y[:, 1:], y[:, :-1]
    q, r = np.linalg.qr(design)
    target_off, lag_off = target - (target @ q) @ q.T, lag - (lag @ q) @ q.T
    phi = (lag_off * target_off).sum(axis=1) / (lag_off * lag_off).sum(axis=1)
    gamma = np.linalg.solve(r, q.T @ (target - phi[:, None] * lag).T).T
    residuals = target - gamma @ design.T - phi[:, None] * lag
    ahead = gamma @ deterministic(np.arange(n, n + horizon, dtype=float), x_ahead).T
    forecast = np.empty((len(y), horizon))
    previous = y[:, -1]
    for h in range(horizon):
        previous = ahead[:, h] + phi * previous
        forecast[:, h] = previous
    if integrated:
        forecast = values[:, -1:] + np.cumsum(forecast, axis=1)
    return forecast, phi, residuals


def fit_series(values: np.ndarray, x_fit: np.ndarray, x_future: np.ndarray, trend: str) -> tuple[np.ndarray, float, np.ndarray]:
    """One series through statsmodels' AutoReg: (forecast, AR(1) coefficient, one-step residuals).

    The reference `fit_many` is tested against (it fitted every series until the batched solve
    replaced it; about 12 ms a series against well under 1 ms batched)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if trend == "ct":
            result = AutoReg(values, lags=1, trend="ct", exog=x_fit).fit()
            n = len(values)
            forecast = result.predict(start=n, end=n + len(x_future) - 1, exog_oos=x_future)
            return forecast, float(result.params[2]), result.resid
        if trend in INTEGRATED:
            changes, x_changes = np.diff(values), np.diff(x_fit, axis=0)
            drift = trend == "drift"
            result = AutoReg(changes, lags=1, trend="c" if drift else "n", exog=x_changes).fit()
            n = len(changes)
            future_changes = np.diff(np.vstack([x_fit[-1:], x_future]), axis=0)
            steps = result.predict(start=n, end=n + len(x_future) - 1, exog_oos=future_changes)
            return values[-1] + np.cumsum(steps), float(result.params[int(drift)]), result.resid
    raise ValueError(f"unknown trend '{trend}': use one of {SERIES_KINDS}")


def fit_baselines(series: np.ndarray, weeks: pd.DatetimeIndex, max_horizon: int = 104,
                  fit_weeks: int = 156, trends: tuple[str, ...] | None = None, seed: int = 0,
                  breaks: dict[int, list[tuple[int, int]]] | None = None) -> BaselineFit:
    """Fit every series (outcomes x markets x weeks, log scale) and forecast `max_horizon` weeks.

    Each series is fitted on its own window (its finite values, which must run to the last
    week) up to its last `fit_weeks` weeks. `trends` gives each outcome's trend kind (see
    `fit_many`), or FACTOR: the app's common factor (`common_factor`) forecast with drift, and
    each market's deviation from it around its own trend ("ct"), so that app-wide shocks that
    accumulate carry on in every market while each market's own shocks fade; its residuals are
    the factor's plus the deviation's. "ct" by default. Residuals sit on the calendar of the last
    weeks; a market with a shorter history has the weeks before it filled with its own residuals drawn at random
    (`seed`), so whole weeks can still be resampled across markets. The residuals of known one-off
    breaks (`breaks`: outcome -> week index spans) and of the week after each (the AR(1) lag
    carries a break one week on) are not ordinary noise: they are replaced the same way, so the
    sample paths do not resample a launch.
    """
    trends = tuple(trends or ("ct",) * series.shape[0])
    n_out, n_mk, n_weeks = series.shape
    origin = weeks[0]
    later = future_weeks(weeks, max_horizon)
    seasons = {monthly: (exogenous(weeks, origin, monthly), exogenous(later, origin, monthly))
               for monthly in {t == MONTHLY for t in trends}}
    observed = np.isfinite(series).all(axis=0)
    if not observed[:, -1].all():
        raise ValueError("every series given to fit_baselines must be observed on the last week")
    starts = np.maximum(window_bounds(observed)[0], n_weeks - fit_weeks)
    n_resid = n_weeks - starts.min() - 2            # the integrated kinds lose one more week to differencing
    mean = np.empty((n_out, n_mk, max_horizon))
    phi = np.empty((n_out, n_mk))
    residuals = np.full((n_out, n_mk, n_resid), np.nan)
    weights = quantity_weights(series)
    first = starts.min()
    for o in range(n_out):
        kind = "ct" if trends[o] in (FACTOR, MONTHLY) else trends[o]
        season_fit, season_future = seasons[trends[o] == MONTHLY]
        ramps_fit, ramps_future = break_ramps((breaks or {}).get(o, []), n_weeks, max_horizon)
        x_all, x_future = np.column_stack([season_fit, ramps_fit]), np.column_stack([season_future, ramps_future])
        if trends[o] == FACTOR:
            factor = common_factor(series[o], weights[o])
            keep = _identified(x_all[first:], season_fit.shape[1])
            factor_mean, _, factor_resid = (a[0] for a in fit_many(factor[None, first:], x_all[first:, keep],
                                                                   x_future[:, keep], "drift"))
        for start in np.unique(starts):              # the markets that share a window, in one solve
            group = np.flatnonzero(starts == start)
            own = n_weeks - start - 2
            values = series[o, group, start:] - (factor[start:] if trends[o] == FACTOR else 0.0)
            keep = _identified(x_all[start:], season_fit.shape[1])
            mean[o, group], phi[o, group], resid = fit_many(values, x_all[start:, keep], x_future[:, keep], kind)
            residuals[o, group, -own:] = resid[:, -own:]
            if trends[o] == FACTOR:
                mean[o, group] += factor_mean
                residuals[o, group, -own:] += factor_resid[-own:]
    first_residual_week = n_weeks - n_resid
    for o, spans in (breaks or {}).items():
        in_break = np.zeros(n_resid, dtype=bool)
        for first, last in spans:
            in_break[max(first - first_residual_week, 0):max(last + 2 - first_residual_week, 0)] = True
        if (np.isfinite(residuals[o]) & ~in_break).any(axis=-1).all():     # every series keeps some residuals
            residuals[o, :, in_break] = np.nan
    _fill_from_own(residuals, np.random.default_rng(seed))
    phi = np.clip(phi, -0.99, 0.99)
    integrated = np.array([t in INTEGRATED for t in trends])
    return BaselineFit(mean=mean, phi=phi, residuals=residuals, integrated=integrated, weights=weights)


def break_ramps(spans: list[tuple[int, int]], n_weeks: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Each known break (first and last week index) as a regressor: 0 before it, rising evenly
    through its weeks, 1 after; in the fitted weeks, then in the `horizon` weeks forecast. A
    series' level moves by the break's coefficient across the span instead of bending its trend,
    and a forecast from inside the span finishes the declared ramp."""
    t = np.arange(n_weeks + horizon)[:, None]
    spans = [(first, last) for first, last in spans if last >= first]      # a span that covers no week has no ramp
    ramps = np.clip((t - np.array([first for first, _ in spans]) + 1)
                    / np.array([last - first + 1 for first, last in spans]), 0.0, 1.0) if spans else np.empty((len(t), 0))
    return ramps[:n_weeks], ramps[n_weeks:]


def _identified(x_fit: np.ndarray, n_season: int) -> np.ndarray:
    """The columns of `x_fit` (seasonal terms, then break ramps) a window can estimate: every
    seasonal term, and each ramp that moves within the window (one that is over before it, or
    starts after it, is a constant or nothing there)."""
    return np.concatenate([np.ones(n_season, dtype=bool), np.ptp(x_fit[:, n_season:], axis=0) > 0])


def common_factor(series: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The app-wide factor of markets x weeks (log scale): the weighted mean of the weekly changes
    of the markets observed in both weeks (weights renormalised over them), cumulated from 0.
    Chained like a price index, so a market entering or leaving does not move it."""
    changes = np.diff(series, axis=1)
    present = np.isfinite(changes)
    w = np.where(present, weights[:, None], 0.0)
    mean_change = (np.where(present, changes, 0.0) * w).sum(axis=0) / np.maximum(w.sum(axis=0), 1e-12)
    return np.concatenate([[0.0], np.cumsum(mean_change)])


def _fill_from_own(residuals: np.ndarray, rng: np.random.Generator) -> None:
    """Replace the missing (NaN) residuals of each series by draws from its own residuals."""
    for series in residuals.reshape(-1, residuals.shape[-1]):
        missing = np.isnan(series)
        if missing.any():
            series[missing] = rng.choice(series[~missing], size=int(missing.sum()))

