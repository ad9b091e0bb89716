"""Request types of the forecast service: each field once, with its bounds and an example.

A plan point and the market list are the model's own types (`training.model.scenario`), so a
request's plan reaches `plan_shares` as it was validated.

The API methods take these as flat JSON fields; `ForecastRequest` is the same set of fields as
one object, for `/forecast_batch`. The optimiser's request (`training.optimiser.request`) is
shared with `impact optimise`, so both refuse the same things with the same messages.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from training.model.scenario import App, Horizon, Interval, Markets, PlanPoint, Week
from training.optimiser.request import Constraints, Cost, Objective, OptimiseMarkets, OptimiseRequest, Risk, TimeLimit

__all__ = ["App", "Constraints", "Cost", "ForecastRequest", "Horizon", "Interval", "Markets", "Objective",
           "OptimiseMarkets", "OptimiseRequest", "OptionalWeek", "Plan", "PlanPoint", "Risk", "Scenarios", "TimeLimit",
           "Week"]

MAX_PLAN_POINTS = 5000     # an optimiser's plan: a point per market and week of its ramp (at most 20 weeks)
MAX_SCENARIOS = 100
# BentoML answers 504 to a request not done within this many seconds (queueing included). It also
# keeps each request's timer, and through it the request's tracing span (about 5 kB), until then,
# so a worker's memory rises for this long under load and is flat after: keep it short.
REQUEST_TIMEOUT_SECONDS = 20
MAX_BATCH_ROWS = 20_000   # weekly rows one /forecast_batch answer may hold: about 9 MB of JSON, 0.5 s of work

Plan = Annotated[list[PlanPoint], Field(max_length=MAX_PLAN_POINTS, description="[] = status quo",
                                        json_schema_extra={"example": [
                                            {"week": "2026-11-02", "share": 0.5},
                                            {"week": "2026-12-07", "share": 1.0, "markets": ["BR"]}]})]


class ForecastRequest(BaseModel):
    """The body of /forecast, as one scenario of /forecast_batch."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "app": "instagram", "markets": ["BR", "IN"], "horizon_weeks": 26,
        "plan": [{"week": "2026-11-02", "share": 1.0}], "interval": 0.9}})

    app: App
    markets: Markets = []
    horizon_weeks: Horizon = 13
    plan: Plan = []
    interval: Interval = 0.9


Scenarios = Annotated[list[ForecastRequest], Field(min_length=1, max_length=MAX_SCENARIOS,
                                                   description=f"1..{MAX_SCENARIOS} forecast bodies, together at most "
                                                               f"{MAX_BATCH_ROWS:,} weekly rows ((markets + 1) x horizon_weeks, "
                                                               "summed over the scenarios)")]
OptionalWeek = Annotated[str | None, Field(max_length=32, description="YYYY-MM-DD; default: the whole history",
                                           json_schema_extra={"example": "2025-01-06"})]
