"""Held-out evaluation of forecast bands against a simulated world's own future.

A world's last `horizon` weeks are held back, the model is trained on the rest, and the status
quo (every share held at its last value) is forecast for every forecastable market. The same
world, with the same noise, is then played forward at that status quo by the simulator: that
is the truth the bands are held against, per market and week and for the markets together
(`ALL`), the rows planners and dashboards read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.simulator import WorldSpec, simulate_world
from training.model.estimator import ImpactModel

LEVELS = (0.5, 0.9)


def status_quo_truth(model: ImpactModel, app: str, seed: int, spec: WorldSpec, horizon: int) -> np.ndarray:
    """Weekly total minutes (forecastable markets x horizon) of the world played forward at the status quo."""
    markets = model.markets(app, forecastable=True)
    weeks = model.forecast_weeks(app, horizon)
    quo = model.status_quo(app, horizon)
    rows = pd.DataFrame([{"app": app, "market": m, "week": w, "rollout_share": float(quo[i, j])}
                         for i, m in enumerate(markets) for j, w in enumerate(weeks)])
    played = simulate_world(seed=seed, spec=spec, rollout=rows).panel
    played = played[(played["app"] == app) & played["week"].isin(weeks)]
    minutes = played.assign(minutes=played["dau"] * played["time_spent_min"] * 7.0)
    return minutes.pivot(index="market", columns="week", values="minutes").loc[markets, weeks].to_numpy()


def band_scores(model: ImpactModel, app: str, truth: np.ndarray, level: float) -> dict[str, float]:
    """Coverage of the `level` band of total minutes for market rows and ALL rows, the median
    absolute percentage error of each, and the median |error| / half-width of ALL rows."""
    horizon = truth.shape[1]
    forecast = model.forecast(app, model.status_quo(app, horizon), level=level)
    per_market = {k: forecast.per_market["minutes"][k] for k in ("scenario", "lo", "hi")}
    combined = {k: forecast.combined["minutes"][k][0] for k in ("scenario", "lo", "hi")}
    total = truth.sum(axis=0)
    return {
        "market_coverage": float(((per_market["lo"] <= truth) & (truth <= per_market["hi"])).mean()),
        "all_coverage": float(((combined["lo"] <= total) & (total <= combined["hi"])).mean()),
        "market_ape": float(np.median(np.abs(per_market["scenario"] / truth - 1))),
        "all_ape": float(np.median(np.abs(combined["scenario"] / total - 1))),
        "all_error_per_halfwidth": float(np.median(np.abs(total - combined["scenario"])
                                                   / ((combined["hi"] - combined["lo"]) / 2))),
    }


def held_out_band_coverage(seed: int, spec: WorldSpec | None = None, horizon: int = 26,
                           levels: tuple[float, ...] = LEVELS, **params) -> pd.DataFrame:
    """One world: a row per (app, level) with `band_scores`; `params` go to ImpactModel."""
    spec = spec or WorldSpec()
    panel = simulate_world(seed=seed, spec=spec).panel
    cutoff = np.sort(panel["week"].unique())[-horizon]
    model = ImpactModel(**{"seed": seed, **params}).fit(panel[panel["week"] < cutoff])
    rows = []
    for app in model.apps:
        truth = status_quo_truth(model, app, seed, spec, horizon)
        rows += [{"design": spec.design, "seed": seed, "app": app, "level": level,
                  **band_scores(model, app, truth, level)} for level in levels]
    return pd.DataFrame(rows)
