"""The MLflow pyfunc of a fitted ImpactModel, logged "from code" (no pickle of project classes).

`mlflow.pyfunc.load_model(uri).predict(rows)` takes scenario rows (app, market, week,
rollout_share): each row sets that market's share from that week on (weeks after the last
trained week; markets and weeks not given keep the status quo). It returns one row per input
row with the forecast for that market and week: status_quo, scenario, lo and hi of time per DAU,
DAU, total minutes and ad revenue. Rows keep their order, so it works as a Spark UDF.
Parameter `interval` (default 0.9) sets the interval level.
"""

from __future__ import annotations

import mlflow
import pandas as pd

from training.model.persist import load_model
from training.model.scenario import plan_shares
from training.requests import rows_to_points

ARTIFACT = "impact_model"


def predict_rows(model, rows: pd.DataFrame, level: float = 0.9) -> pd.DataFrame:
    """Forecast columns for each scenario row (app, market, week, rollout_share)."""
    rows = rows.reset_index(drop=True)
    weeks = pd.to_datetime(rows["week"])
    out = []
    for app, group in rows.groupby("app", sort=False):
        markets = list(dict.fromkeys(group["market"].astype(str)))
        horizon = int(((weeks[group.index].max() - model.forecast_weeks(app, 1)[0]).days // 7) + 1)
        future = model.forecast_weeks(app, max(horizon, 1))
        shares = plan_shares(model.status_quo(app, len(future), markets), markets, future, rows_to_points(group))
        weekly = model.forecast(app, shares, markets, level).weekly
        wanted = group.assign(week=weeks[group.index].dt.strftime("%Y-%m-%d"), market=group["market"].astype(str))
        merged = wanted[["market", "week"]].reset_index().merge(weekly, on=["market", "week"], how="left")
        out.append(merged.set_index("index").drop(columns=["rollout_share"]))
    result = pd.concat(out).sort_index()
    return pd.concat([rows[["app", "market", "week", "rollout_share"]], result.drop(columns=["market", "week"])], axis=1)


class ImpactPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.model = load_model(context.artifacts[ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return predict_rows(self.model, model_input, float((params or {}).get("interval", 0.9)))


mlflow.models.set_model(ImpactPyfunc())
