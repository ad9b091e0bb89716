"""Request types of the forecast service: each field once, with its bounds and an example.

A plan point, the market list and the forecast body are the model's own types
(`training.model.scenario`), so a request's plan reaches `plan_shares` as it was validated, and
the warehouse's scenarios are the same bodies.

The API methods take these as flat JSON fields; `ForecastRequest` is the same set of fields as
one object, for `/forecast_batch`. The optimiser's request (`training.optimiser.request`) is
shared with `impact optimise`, so both refuse the same things with the same messages.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from training.model.scenario import (MAX_PLAN_POINTS, App, CurvePoints, ForecastRequest, HistoryWeeks, Horizon,
                                     Interval, Market, Markets, Plan, PlanPoint, Week)
from training.optimiser.request import Constraints, Cost, Objective, OptimiseMarkets, OptimiseRequest, Risk, TimeLimit

__all__ = ["MAX_PLAN_POINTS", "App", "Constraints", "Cost", "CurvePoints", "ForecastRequest", "Horizon", "Interval",
           "HistoryWeeks", "Market", "Markets",
           "Objective", "OptimiseMarkets", "OptimiseRequest", "OptionalWeek", "Plan", "PlanPoint", "Risk", "Scenarios",
           "TimeLimit", "Week"]

MAX_SCENARIOS = 100
# BentoML answers 504 to a request not done within this many seconds (queueing included). It also
# keeps each request's timer, and through it the request's tracing span (about 5 kB), until then,
# so a worker's memory rises for this long under load and is flat after: keep it short.
REQUEST_TIMEOUT_SECONDS = 20
MAX_BATCH_ROWS = 20_000   # weekly rows one /forecast_batch answer may hold: about 9 MB of JSON, 0.5 s of work

Scenarios = Annotated[list[ForecastRequest], Field(min_length=1, max_length=MAX_SCENARIOS,
                                                   description=f"1..{MAX_SCENARIOS} forecast bodies, together at most "
                                                               f"{MAX_BATCH_ROWS:,} weekly rows ((markets + 1) x horizon_weeks, "
                                                               "summed over the scenarios)")]
OptionalWeek = Annotated[str | None, Field(max_length=32, description="YYYY-MM-DD; default: the whole history",
                                           json_schema_extra={"example": "2025-01-06"})]
