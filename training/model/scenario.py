"""Rollout plans: from plan points (or scenario rows) to the share array a forecast takes.

A plan point sets the rollout share from its week on, for its markets (default: every chosen
market), in one step or, with `ramp_weeks` r > 1, in r equal weekly steps from the share the
week before: share(week + k) = before + (share - before)(k + 1)/r for k < r (the optimiser's
ramps, `training.optimiser.candidates.share_row`). Weeks before the first point keep the status
quo (each market's last observed share). Points apply in week order, so a later point
overrides an earlier one from its week.
Every check raises `PlanError` with a message that names the field and the reason.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_MARKETS = 64
MAX_PLAN_POINTS = 5000     # an optimiser's plan: a point per market and week of its ramp (at most 20 weeks)
MAX_RAMP_WEEKS = 52

App = Annotated[str, Field(min_length=1, max_length=40, description="facebook, instagram or whatsapp",
                           json_schema_extra={"example": "instagram"})]
Horizon = Annotated[int, Field(ge=1, le=104, description="weeks after the last trained week", json_schema_extra={"example": 26})]
Interval = Annotated[float, Field(ge=0.5, le=0.99, description="central interval level", json_schema_extra={"example": 0.9})]
Week = Annotated[str, Field(min_length=8, max_length=32, description="a Monday, YYYY-MM-DD",
                            json_schema_extra={"example": "2026-11-02"})]
Market = Annotated[str, Field(min_length=2, max_length=2, description="an ISO country code the app can forecast",
                              json_schema_extra={"example": "BR"})]
HistoryWeeks = Annotated[int, Field(ge=0, le=156, description="observed weeks before the forecast to add as `history` "
                                    "(each chosen market and ALL); 0: none", json_schema_extra={"example": 52})]
CurvePoints = Annotated[int, Field(ge=2, le=51, description="target shares from the market's current share to 1",
                                   json_schema_extra={"example": 11})]
Markets = Annotated[list[Annotated[str, Field(min_length=2, max_length=2)]],
                    Field(max_length=MAX_MARKETS, description="ISO country codes; omitted or [] = every market of the app",
                          json_schema_extra={"example": ["BR", "IN"]})]


class PlanError(ValueError):
    """A plan that cannot be applied; the message says which field and why."""


class PlanPoint(BaseModel):
    """From `week` on, the chosen markets (or `markets`) run at `share`, reached in `ramp_weeks`
    equal weekly steps from the share of the week before (1: at once)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    week: Week
    share: Annotated[float, Field(ge=0.0, le=1.0, json_schema_extra={"example": 1.0})]
    markets: Markets | None = None
    ramp_weeks: Annotated[int, Field(ge=1, le=MAX_RAMP_WEEKS, description="weeks to reach `share` in equal steps "
                                     "from the week before's share; 1 = at once", json_schema_extra={"example": 1})] = 1


Plan = Annotated[list[PlanPoint], Field(max_length=MAX_PLAN_POINTS, description="[] = status quo",
                                        json_schema_extra={"example": [
                                            {"week": "2026-11-02", "share": 0.5},
                                            {"week": "2026-12-07", "share": 1.0, "markets": ["BR"]}]})]


class ForecastRequest(BaseModel):
    """The body of /forecast: one scenario (as in /forecast_batch and the warehouse's scenarios)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "app": "instagram", "markets": ["BR", "IN"], "horizon_weeks": 26,
        "plan": [{"week": "2026-11-02", "share": 1.0}], "interval": 0.9}})

    app: App
    markets: Markets = []
    horizon_weeks: Horizon = 13
    plan: Plan = []
    interval: Interval = 0.9


def parse_week(value: str, field: str) -> pd.Timestamp:
    """A Monday from an ISO date string, or PlanError."""
    try:
        week = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        raise PlanError(f"{field}: '{value}' is not a date (use YYYY-MM-DD)") from None
    if week.tzinfo is not None or week != week.normalize():
        raise PlanError(f"{field}: '{value}' must be a plain date (YYYY-MM-DD)")
    if week.day_of_week != 0:
        raise PlanError(f"{field}: {week:%Y-%m-%d} is a {week:%A}; weeks start on Mondays")
    return week


def plan_shares(status_quo: np.ndarray, markets: list[str], weeks: pd.DatetimeIndex,
                points: list[PlanPoint]) -> np.ndarray:
    """The markets x weeks shares of a plan, starting from the status quo (`weeks`: consecutive Mondays)."""
    shares = np.array(status_quo, dtype=float, copy=True)
    first, last = weeks[0], weeks[-1]
    position = {m: i for i, m in enumerate(markets)}
    parsed = []
    for n, point in enumerate(points):
        field = f"plan[{n}]"
        week = parse_week(point.week, f"{field}.week")
        if week < first:
            raise PlanError(f"{field}.week: {week:%Y-%m-%d} is before the forecast starts ({first:%Y-%m-%d})")
        if week > last:
            raise PlanError(f"{field}.week: {week:%Y-%m-%d} is after the last forecast week ({last:%Y-%m-%d}); "
                            "raise horizon_weeks to reach it")
        share = float(point.share)
        chosen = list(point.markets) if point.markets else markets
        unknown = [m for m in chosen if m not in position]
        if unknown:
            raise PlanError(f"{field}.markets: {', '.join(map(str, unknown))} not among the chosen markets "
                            f"({', '.join(markets)})")
        parsed.append(((week - first).days // 7, n, share, [position[m] for m in chosen], point.ramp_weeks))
    for start, _, share, rows, ramp in sorted(parsed, key=lambda p: (p[0], p[1])):
        before = shares[rows, start - 1] if start > 0 else np.asarray(status_quo, dtype=float)[rows, 0]
        for k in range(min(ramp - 1, len(weeks) - start)):
            shares[rows, start + k] = before + (share - before) * (k + 1) / ramp
        shares[rows, start + ramp - 1:] = share
    return shares


def rows_to_points(rows: pd.DataFrame) -> list[PlanPoint]:
    """Scenario rows (market, week, rollout_share) as plan points, one market each."""
    missing = {"market", "week", "rollout_share"} - set(rows.columns)
    if missing:
        raise PlanError(f"scenario rows need the column(s) {', '.join(sorted(missing))}")
    points = []
    for n, (m, w, s) in enumerate(rows[["market", "week", "rollout_share"]].itertuples(index=False)):
        try:
            points.append(PlanPoint(week=str(pd.Timestamp(w).date()) if isinstance(w, pd.Timestamp) else str(w),
                                    share=float(s), markets=[str(m)]))
        except ValidationError as exc:
            problem = exc.errors()[0]
            raise PlanError(f"row {n}: {'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None
    return points
