"""The rollout-step backtest: does the curve predict what the panel's own last rollout steps did?

With a real panel there is no known truth, but its last rollout steps are a test: the model is
refitted (same parameters) on the panel less its last `weeks` weeks, and every forecastable
market whose share moved in those weeks by at least `min_move` is forecast under the shares it
actually had, against its status quo (its share held at the refit's last value). What the panel
shows for the step is the observed total over those weeks minus the status quo's point forecast;
the model's increment is its point forecast minus the same, with the plan's `level` band (the
scenario band of the market's total, less the same status quo point, so it carries the
baseline's forecast error as the observed increment does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from data.calendar import DAYS_PER_WEEK
from training.model.estimator import ImpactModel
from training.model.paths import VALUED

COLUMNS = ("app", "market", "share_from", "share_to", "share_mean", "quantity", "predicted", "lo", "hi", "observed",
           "covered", "error")


@dataclass
class StepBacktest:
    """One row per held-out step and quantity, and the weeks held out."""

    weeks: int
    level: float
    first_week: str          # the first held-out week
    rows: pd.DataFrame       # COLUMNS

    def summary(self) -> dict:
        """Per app and quantity: steps, median |error| (relative to the observed increment), the
        share of observed increments inside the band, and the median predicted / observed ratio."""
        out: dict = {}
        for (app, quantity), group in self.rows.groupby(["app", "quantity"], sort=False):
            out.setdefault(app, {})[quantity] = {
                "steps": int(len(group)),
                "median_abs_error": float(group["error"].abs().median()),
                "coverage": float(group["covered"].mean()),
                "median_ratio": float((group["predicted"] / group["observed"]).median())}
        return out

    def to_dict(self) -> dict:
        """Plain data for model.json and /model."""
        return {"weeks": self.weeks, "level": self.level, "first_week": self.first_week,
                "summary": self.summary(), "steps": self.rows.to_dict("records")}

    @classmethod
    def from_dict(cls, values: dict) -> "StepBacktest":
        return cls(values["weeks"], values["level"], values["first_week"],
                   pd.DataFrame(values["steps"], columns=list(COLUMNS)))


def rollout_step_backtest(model: ImpactModel, panel: pd.DataFrame, weeks: int = 26, level: float = 0.9,
                          min_move: float = 0.05) -> StepBacktest:
    """Refit `model`'s parameters on `panel` less its last `weeks` weeks and score each held-out
    rollout step (see the module docstring). A panel with no step in those weeks gives no rows."""
    all_weeks = np.sort(panel["week"].unique())
    held = all_weeks[-weeks:]
    if not _any_step(panel, held[0], min_move):         # nothing to score: no refit
        return StepBacktest(weeks, level, str(pd.Timestamp(held[0]).date()), pd.DataFrame([], columns=list(COLUMNS)))
    refit = clone(model).fit(panel[panel["week"] < held[0]])
    rows = []
    for app in refit.apps:
        markets = refit.markets(app, forecastable=True)
        future = refit.forecast_weeks(app, weeks)
        actual = panel[(panel["app"] == app) & panel["market"].isin(markets) & panel["week"].isin(future)]
        actual = actual.assign(minutes=actual["dau"] * actual["time_spent_min"] * DAYS_PER_WEEK)
        wide = {q: actual.pivot(index="market", columns="week", values=q) for q in ("rollout_share", *VALUED)}
        quo = refit.status_quo(app, weeks)[:, 0]
        for market, last in zip(markets, quo):
            if market not in wide["rollout_share"].index:
                continue
            shares = wide["rollout_share"].loc[market].reindex(future).to_numpy()
            if np.isnan(shares).any() or np.abs(shares - last).max() < min_move:
                continue
            forecast = refit.forecast(app, shares[None, :], [market], level)
            for quantity in VALUED:
                base = forecast.totals[quantity]["status_quo"]["mean"]
                scenario = forecast.totals[quantity]["scenario"]
                observed = float(wide[quantity].loc[market].reindex(future).sum()) - base
                predicted = scenario["mean"] - base
                lo, hi = scenario["lo"] - base, scenario["hi"] - base
                rows.append({"app": app, "market": market, "share_from": float(last),
                             "share_to": float(shares[-1]), "share_mean": float(shares.mean()),
                             "quantity": quantity, "predicted": predicted, "lo": lo, "hi": hi,
                             "observed": observed, "covered": bool(lo <= observed <= hi),
                             "error": predicted / observed - 1 if observed else float("nan")})
    return StepBacktest(weeks, level, str(pd.Timestamp(held[0]).date()), pd.DataFrame(rows, columns=list(COLUMNS)))


def _any_step(panel: pd.DataFrame, first_held: pd.Timestamp, min_move: float) -> bool:
    """Whether some market's share moves by `min_move` or more from its last value before
    `first_held` within the held-out weeks (the steps `rollout_step_backtest` would score)."""
    before = panel[panel["week"] < first_held].sort_values("week").groupby(["app", "market"])["rollout_share"].last()
    after = panel[panel["week"] >= first_held].set_index(["app", "market"])["rollout_share"]
    moved = np.abs(after.to_numpy() - before.reindex(after.index).to_numpy())
    return bool((moved >= min_move).any())
