"""Held-out evaluation of forecast bands against a simulated world's own future.

A world's last `horizon` weeks are held back, the model is trained on the rest, and the status
quo (every share held at its last value) is forecast for every forecastable market. The same
world, with the same noise, is then played forward at that status quo by the simulator: that
is the truth the bands are held against, per market and week, for the markets together
(`ALL`) per week, and for the horizon's total (the `/forecast` totals): the rows planners and
dashboards read. Total minutes and ad revenue are both scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.calendar import DAYS_PER_WEEK
from data.simulator import WorldSpec, simulate_world
from training.model.backtest import QUANTITIES, SCALE_LEVELS
from training.model.estimator import ImpactModel


def status_quo_truth(model: ImpactModel, app: str, seed: int, spec: WorldSpec, horizon: int) -> dict[str, np.ndarray]:
    """Weekly total minutes and ad revenue (forecastable markets x horizon) of the world played
    forward at the status quo."""
    markets = model.markets(app, forecastable=True)
    weeks = model.forecast_weeks(app, horizon)
    quo = model.status_quo(app, horizon)
    rows = pd.DataFrame([{"app": app, "market": m, "week": w, "rollout_share": float(quo[i, j])}
                         for i, m in enumerate(markets) for j, w in enumerate(weeks)])
    played = simulate_world(seed=seed, spec=spec, rollout=rows).panel
    played = played[(played["app"] == app) & played["week"].isin(weeks)]
    played = played.assign(minutes=played["dau"] * played["time_spent_min"] * DAYS_PER_WEEK)
    return {q: played.pivot(index="market", columns="week", values=q).loc[markets, weeks].to_numpy()
            for q in QUANTITIES}


def band_scores(model: ImpactModel, app: str, truth: dict[str, np.ndarray], level: float) -> list[dict]:
    """Per quantity: coverage of the `level` band for market rows, ALL rows and the horizon's
    total, the median absolute percentage error of market and ALL rows, and the median |error| /
    half-width of market and ALL rows (about 0.4 for a calibrated 90% band of normal errors)."""
    horizon = next(iter(truth.values())).shape[1]
    forecast = model.forecast(app, model.status_quo(app, horizon), level=level)
    rows = []
    for quantity, actual in truth.items():
        market = {k: forecast.per_market[quantity][k] for k in ("baseline", "lo", "hi")}
        combined = {k: forecast.combined[quantity][k][0] for k in ("baseline", "lo", "hi")}
        total = forecast.totals[quantity]["baseline"]
        everything = actual.sum(axis=0)
        rows.append({
            "quantity": quantity,
            "market_coverage": _held(actual, market),
            "all_coverage": _held(everything, combined),
            "total_covered": float(total["lo"] <= everything.sum() <= total["hi"]),
            "market_ape": float(np.median(np.abs(market["baseline"] / actual - 1))),
            "all_ape": float(np.median(np.abs(combined["baseline"] / everything - 1))),
            "market_error_per_halfwidth": _error_per_halfwidth(actual, market),
            "all_error_per_halfwidth": _error_per_halfwidth(everything, combined),
        })
    return rows


def _held(actual: np.ndarray, band: dict) -> float:
    return float(((band["lo"] <= actual) & (actual <= band["hi"])).mean())


def _error_per_halfwidth(actual: np.ndarray, band: dict) -> float:
    return float(np.median(np.abs(actual - band["baseline"]) / ((band["hi"] - band["lo"]) / 2)))


@dataclass
class HeldOutWorld:
    """A world with its last `horizon` weeks held back: the history, the model trained on it, and
    per app the truth played forward at the status quo (quantity -> forecastable markets x weeks)."""

    design: str
    seed: int
    history: pd.DataFrame
    model: ImpactModel
    truth: dict[str, dict[str, np.ndarray]]


def held_out_world(seed: int, spec: WorldSpec | None = None, horizon: int = 26, **params) -> HeldOutWorld:
    """Simulate, hold back, train (`params` go to ImpactModel) and play the status quo forward.

    The model is told the world's known one-off breaks (`WorldSpec.known_breaks`), as a user who
    knows of WhatsApp's ads launch would tell it, unless `params` say otherwise."""
    spec = spec or WorldSpec()
    panel = simulate_world(seed=seed, spec=spec).panel
    cutoff = np.sort(panel["week"].unique())[-horizon]
    history = panel[panel["week"] < cutoff]
    model = ImpactModel(**{"seed": seed, "known_breaks": spec.known_breaks, **params}).fit(history)
    truth = {app: status_quo_truth(model, app, seed, spec, horizon) for app in model.apps}
    return HeldOutWorld(spec.design, seed, history, model, truth)


def held_out_band_coverage(seed: int, spec: WorldSpec | None = None, horizon: int = 26,
                           levels: tuple[float, ...] = SCALE_LEVELS, **params) -> pd.DataFrame:
    """One world: a row per (app, quantity, level) with `band_scores`; `params` go to ImpactModel."""
    world = held_out_world(seed, spec, horizon, **params)
    return pd.DataFrame([{"design": world.design, "seed": seed, "app": app, "level": level, **scores}
                         for app, truth in world.truth.items()
                         for level in levels for scores in band_scores(world.model, app, truth, level)])
