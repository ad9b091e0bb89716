"""The warehouse's rows, computed from a fitted model through its public queries: one long
DataFrame per batch (a scenario at one level, one market's attribution), never a whole table.

Column names are the tables' (`tables.py`), and /forecast's: `status_quo`, `scenario`, `lo`, `hi`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from training.model.estimator import ImpactModel
from training.model.paths import QUANTITIES
from training.model.queries import Forecast


def with_all(result: Forecast, quantity: str, column: str | None = None) -> np.ndarray:
    """A forecast's `quantity` (its `column`: status_quo, scenario, lo, hi), markets x weeks with
    the markets together (ALL) as the last row."""
    part = (lambda values: values[quantity]) if column is None else (lambda values: values[quantity][column])
    return np.vstack([part(result.per_market), part(result.combined)])


def forecast_rows(result: Forecast, version: str, scenario_id: str, moved: np.ndarray | None = None) -> pd.DataFrame:
    """A forecast as rows (market incl. ALL, week, quantity): as_of, horizon, rollout share,
    status_quo, scenario, lo, hi at the forecast's level; with `moved` (a mask of its markets), only
    those markets' rows and ALL's."""
    keep = np.append(np.ones(len(result.markets), dtype=bool) if moved is None else moved, True)
    names = np.array([*result.markets, "ALL"], dtype=object)[keep]
    weeks = [dt.date.fromisoformat(w) for w in result.weeks]
    n_series, n_weeks, n_quantities = len(names), len(weeks), len(QUANTITIES)

    values = {column: np.stack([with_all(result, q, column)[keep] for q in QUANTITIES], axis=-1).reshape(-1)
              for column in ("status_quo", "scenario", "lo", "hi")}
    shares = with_all(result, "rollout_share")[keep]
    as_of = weeks[0] - dt.timedelta(weeks=1)
    per_row = n_weeks * n_quantities
    return pd.DataFrame({
        "model_version": version, "scenario_id": scenario_id, "app": result.app,
        "market": np.repeat(names, per_row),
        "week": np.tile(np.repeat(np.array(weeks, dtype=object), n_quantities), n_series),
        "quantity": np.tile(QUANTITIES, n_series * n_weeks),
        "level": result.level, "as_of": as_of,
        "horizon": np.tile(np.repeat(np.arange(1, n_weeks + 1), n_quantities), n_series),
        "rollout_share": np.repeat(shares.reshape(-1), n_quantities),
        **values,
    })


def attribution_rows(model: ImpactModel, version: str, app: str, level: float) -> pd.DataFrame:
    """The history's attribution week by week: each market within its window, then the app's
    markets together (market ALL)."""
    rows = model.attribute_market_weeks(app, level)
    rows["week"] = [dt.date.fromisoformat(w) for w in rows["week"]]
    return rows.assign(model_version=version, app=app, level=level)
