"""Requests: every question a caller can ask, as one typed model each, and their checks against a
fitted model.

The service's endpoints take these models as their bodies (so the OpenAPI document, the
validation and the docs are one object), the command line reads its `--request` and scenario
files into them, and the warehouse's scenarios are `ForecastRequest`s. A request is checked
here once and becomes what the model's queries take (market names it knows, share arrays); every
problem is a `RequestError` whose message starts with the field's path (`plan[0].week: ...`).

A field a model does not declare is refused at every depth, with the nearest known name when
one is close (`horizon_week: unknown field; did you mean horizon_weeks?`).
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from training.model.estimator import ImpactModel, QueryError
from training.model.scenario import PlanError, parse_week, plan_shares

MAX_MARKETS = 64
MAX_PLAN_POINTS = 5000     # an optimiser's plan: a point per market and week of its ramp (at most 20 weeks)
MAX_RAMP_WEEKS = 52
MAX_SCENARIOS = 100
MAX_BATCH_ROWS = 20_000    # weekly rows one /forecast_batch answer may hold: about 9 MB of JSON, 0.5 s of work
MAX_TARGET_SHARES = 5      # target shares the optimiser may choose among (each multiplies the candidates)
MIN_STEP = 0.05            # the slowest ramp is 20 weeks, so a plan stays within /forecast's plan points
MAX_TIME_LIMIT = 15.0      # seconds for the solver; the service answers 504 after 20 s
UNKNOWN_FIELD = "unknown_field"


class RequestError(ValueError):
    """A request the model cannot answer as asked; the message starts with the field it names."""


# ------------------------------------------------------------------ the request models

class Request(BaseModel):
    """A request body: frozen, strict (no `false` for a number, no "1" for an integer), and every
    field it is sent must be one it declares. A field that may be left out but not sent as null is
    typed without None and defaults to None (the API documents the first type of a union only)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data):
        if isinstance(data, dict):
            for name in data:
                if name not in cls.model_fields:
                    raise PydanticCustomError(UNKNOWN_FIELD, "{message}",
                                              {"message": unknown_field(str(name), list(cls.model_fields))})
        return data


RENAMED = {"levels": "target_shares"}
"""Fields renamed since an earlier release (the README's "Changes"): old name -> new name."""


def unknown_field(name: str, known: list[str]) -> str:
    """`name: unknown field`, with the closest of `known` when one is close, else the known names."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if RENAMED.get(name) in known:
        hint = f"it is now called {RENAMED[name]}"
    elif close:
        hint = f"did you mean {close[0]}?"
    elif known:
        hint = f"known: {', '.join(known)}"
    else:
        hint = "this request takes no fields"
    return f"{name}: unknown field; {hint}"


App = Annotated[str, Field(min_length=1, max_length=40, description="facebook, instagram or whatsapp",
                           json_schema_extra={"example": "instagram"})]
Horizon = Annotated[int, Field(ge=1, le=104, description="weeks after the last trained week", json_schema_extra={"example": 26})]
Interval = Annotated[float, Field(ge=0.5, le=0.99, description="central interval level", json_schema_extra={"example": 0.9})]
Week = Annotated[str, Field(min_length=8, max_length=32, description="a Monday, YYYY-MM-DD",
                            json_schema_extra={"example": "2026-11-02"})]
# null and omitted mean the same; documented as OpenAPI 3.0 does (BentoML keeps only a union's first type)
HistoryWeek = Annotated[str | None, Field(max_length=32),
                        WithJsonSchema({"type": "string", "nullable": True, "maxLength": 32, "example": "2025-01-06",
                                        "description": "YYYY-MM-DD; null or omitted: the whole history"})]
Market = Annotated[str, Field(min_length=2, max_length=2, description="an ISO country code the app can forecast",
                              json_schema_extra={"example": "BR"})]
Markets = Annotated[list[Annotated[str, Field(min_length=2, max_length=2)]],
                    Field(max_length=MAX_MARKETS, description="ISO country codes; omitted or [] = every market of the app",
                          json_schema_extra={"example": ["BR", "IN"]})]
HistoryWeeks = Annotated[int, Field(ge=0, le=156, description="observed weeks before the forecast to add as `history` "
                                    "(each chosen market and ALL); 0: none", json_schema_extra={"example": 52})]
CurvePoints = Annotated[int, Field(ge=2, le=51, description="target shares from the market's current share to 1",
                                   json_schema_extra={"example": 11})]


class PlanPoint(Request):
    """From `week` on, the chosen markets (or `markets`) run at `share`, reached in `ramp_weeks`
    equal weekly steps from the share of the week before (1: at once)."""

    week: Week
    share: Annotated[float, Field(ge=0.0, le=1.0, json_schema_extra={"example": 1.0})]
    markets: Markets | None = None
    ramp_weeks: Annotated[int, Field(ge=1, le=MAX_RAMP_WEEKS, description="weeks to reach `share` in equal steps "
                                     "from the week before's share; 1 = at once", json_schema_extra={"example": 1})] = 1


Plan = Annotated[list[PlanPoint], Field(max_length=MAX_PLAN_POINTS, description="[] = status quo",
                                        json_schema_extra={"example": [
                                            {"week": "2026-11-02", "share": 0.5},
                                            {"week": "2026-12-07", "share": 1.0, "markets": ["BR"]}]})]


class ForecastRequest(Request):
    """One scenario: a rollout plan against the status quo (the body of /forecast, each of
    /forecast_batch's scenarios, and a warehouse scenario)."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "app": "instagram", "markets": ["BR", "IN"], "horizon_weeks": 26,
        "plan": [{"week": "2026-11-02", "share": 1.0}], "interval": 0.9}})

    app: App
    markets: Markets = []
    horizon_weeks: Horizon = 13
    plan: Plan = []
    interval: Interval = 0.9


class ForecastHistoryRequest(ForecastRequest):
    """The body of /forecast: a scenario, and optionally the observed weeks before it."""

    history_weeks: HistoryWeeks = 0


class BatchRequest(Request):
    """The body of /forecast_batch: several scenarios answered in order."""

    scenarios: Annotated[list[ForecastRequest], Field(
        min_length=1, max_length=MAX_SCENARIOS,
        description=f"1..{MAX_SCENARIOS} forecast bodies, together at most {MAX_BATCH_ROWS:,} weekly rows "
                    "((markets + 1) x horizon_weeks, summed over the scenarios)")]


class ResponseCurveRequest(Request):
    """The body of /response_curve: one market taken from its current share to each target share."""

    app: App
    market: Market
    horizon_weeks: Horizon = 26
    interval: Interval = 0.9
    points: CurvePoints = 11


class AttributionRequest(Request):
    """The body of /attribution: the observed history against the same history with zero rollout."""

    app: App
    markets: Markets = []
    start: HistoryWeek = None
    end: HistoryWeek = None
    interval: Interval = 0.9


class ModelRequest(Request):
    """The body of /model: nothing to ask but the served model's description ({})."""


class CostRange(Request):
    """A cost known only to lie between `low` and `high` (drawn uniformly per sample path)."""

    low: Annotated[float, Field(ge=0.0, le=1e3, json_schema_extra={"example": 0.01})]
    high: Annotated[float, Field(ge=0.0, le=1e3, json_schema_extra={"example": 0.03})]

    @model_validator(mode="after")
    def _ordered(self) -> "CostRange":
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self


class Cost(Request):
    """The cost of serving the assistant, in USD."""

    model_config = ConfigDict(json_schema_extra={"example": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.03}}})

    per_exposed_dau_week_usd: Annotated[CostRange, Field(
        description="serving one exposed daily user (share x DAU) for one week")]


class Constraints(Request):
    """What a plan may do. Every field is optional; the defaults leave the plan free."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "max_launches_per_week": 2, "target_shares": [1.0], "earliest": {"DE": "2027-03-01"}, "fixed": ["FR"]}})

    max_launches_per_week: Annotated[int | None, Field(
        ge=1, le=64, description="markets whose share rises in any one week")] = None
    max_step: Annotated[float, Field(
        ge=MIN_STEP, le=1.0, description="largest weekly rise of a market's share (a slower rise ramps)")] = 1.0
    target_shares: Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(
        min_length=1, max_length=MAX_TARGET_SHARES, description="shares a market may be taken to")] = [1.0]
    earliest: Annotated[dict[str, Week], Field(
        max_length=64, description="market -> the first week its share may rise")] = {}
    fixed: Annotated[Markets, Field(description="markets held at the status quo")] = []
    max_exposed_dau: Annotated[float | None, Field(
        ge=1.0, le=1e11, description="cap on exposed DAU (share x DAU) summed over the markets, any week")] = None
    allow_decrease: Annotated[bool, Field(description="target shares below a market's current share are allowed")] = False

    @model_validator(mode="after")
    def _consistent(self) -> "Constraints":
        if len(set(self.target_shares)) != len(self.target_shares):
            raise ValueError("target_shares: a share is listed twice")
        if len(set(self.fixed)) != len(self.fixed):
            raise ValueError("fixed: a market is listed twice")
        both = sorted(set(self.fixed) & set(self.earliest))
        if both:
            raise ValueError(f"fixed and earliest both name {', '.join(both)}: a fixed market never rises")
        return self


Objective = Annotated[Literal["ad_revenue_usd", "minutes"], Field(
    description="what the plan maximises; the serving cost is subtracted from ad revenue only",
    json_schema_extra={"example": "ad_revenue_usd"})]
RISK_HELP = ('"mean" (the point forecast\'s net value), or a quantile q in 0.01..0.5: maximise the mean of the worst q '
             "share of the sample paths (CVaR, a cautious planner's choice)")
# one schema for both forms: BentoML documents only the first member of a union (_bentoml_sdk.method._flatten_field)
Risk = Annotated[Literal["mean"] | Annotated[float, Field(ge=0.01, le=0.5)],
                 WithJsonSchema({"description": RISK_HELP, "example": "mean"}), Field(description=RISK_HELP)]
TimeLimit = Annotated[float, Field(ge=0.1, le=MAX_TIME_LIMIT, description="solver time limit in seconds; when it "
                                   "runs out the best plan found is returned with status time_limit and its gap",
                                   json_schema_extra={"example": 10.0})]
Gap = Annotated[float, Field(ge=0.0, le=0.1, description="stop when the plan is proven within this relative gap of "
                             "the best on the sample paths (0 = exactly the best)", json_schema_extra={"example": 0.001})]
OptimiseMarkets = Annotated[Markets, Field(description="markets the plan may change; omitted or [] = every "
                                           "forecastable market", json_schema_extra={"example": ["BR", "IN", "DE"]})]


class OptimiseRequest(Request):
    """The body of /optimise and the options of `impact optimise`."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "app": "instagram", "horizon_weeks": 26, "objective": "ad_revenue_usd",
        "cost": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.03}},
        "constraints": {"max_launches_per_week": 2}, "risk": "mean", "interval": 0.9}})

    app: App
    markets: OptimiseMarkets = []
    horizon_weeks: Horizon = 26
    interval: Interval = 0.9
    objective: Objective = "ad_revenue_usd"
    cost: Cost = None
    constraints: Constraints = Constraints()
    risk: Risk = "mean"
    time_limit_seconds: TimeLimit = 10.0
    optimality_gap: Gap = 0.001


MAX_TEST_WEEKS = 26
MAX_TESTS = 5              # tests chosen to run together (each a market of its own)


class Decision(Request):
    """The decision a lift test should inform, exactly one of: finishing rollouts (`finish`: the
    markets taken to share 1 in the first forecast week, valued over `horizon_weeks` net of
    `cost`), or the plan /optimise chooses for `optimise`."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "finish": ["BR", "IN"], "horizon_weeks": 26, "cost": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.03}}}})

    finish: Annotated[Markets, Field(description="the markets whose rollouts are finished (taken to share 1)")] = None
    horizon_weeks: Annotated[Horizon, Field(description="weeks `finish` is valued over")] = 26
    cost: Cost = None
    optimise: Annotated[OptimiseRequest, Field(description="an /optimise body (its app is the request's); "
                                               "the decision is the plan it chooses")] = None

    @model_validator(mode="after")
    def _one_kind(self) -> "Decision":
        if (self.finish is None) == (self.optimise is None):
            raise ValueError("give exactly one of finish (markets) and optimise (an /optimise body)")
        if self.finish is not None and not self.finish:
            raise ValueError("finish: name at least one market")
        if self.optimise is not None:
            sent = sorted({"horizon_weeks", "cost"} & self.model_fields_set)
            if sent:
                raise ValueError(f"{sent[0]}: belongs in optimise (the decision's own request) when optimise is given")
        return self


class DesignTestRequest(Request):
    """The body of /design_test and the options of `impact design-test`: candidate lift tests, each
    a market x test share x duration starting in the first forecast week, and the decision they
    should inform."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "app": "instagram", "markets": ["BR", "IN", "DE"], "test_shares": [0.5, 1.0], "durations_weeks": [4, 8],
        "decision": {"finish": ["BR", "IN"], "horizon_weeks": 26}, "tests": 1, "interval": 0.9}})

    app: App
    markets: Annotated[Markets, Field(description="candidate markets; omitted or [] = every forecastable market")] = []
    test_shares: Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(
        min_length=1, max_length=MAX_TARGET_SHARES, description="shares the test arm may run at")] = [1.0]
    reference_share: Annotated[float, Field(ge=0.0, le=1.0, description="the reference arm's share; omitted: each "
                                            "market's current share")] = None
    durations_weeks: Annotated[list[Annotated[int, Field(ge=1, le=MAX_TEST_WEEKS)]], Field(
        min_length=1, max_length=5, description="test lengths in weeks")] = [6]
    arm_share: Annotated[float, Field(ge=0.0001, le=0.5, description="each arm's share of the market's daily users")] = 0.01
    user_sd: Annotated[float, Field(ge=0.001, le=10.0, description="sd of one user's weekly log time per DAU "
                                    "(sets the tests' standard errors)")] = 1.0
    decision: Decision
    tests: Annotated[int, Field(ge=1, le=MAX_TESTS, description="tests to run at once (in different markets), "
                                "chosen together")] = 1
    interval: Interval = 0.9

    @model_validator(mode="after")
    def _distinct(self) -> "DesignTestRequest":
        for name in ("markets", "test_shares", "durations_weeks"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name}: a value is listed twice")
        return self


# ------------------------------------------------------------------ reading and checking

def message(exc: ValidationError) -> str:
    """A validation error as one line that starts with the field's path (`plan[0].share: ...`)."""
    return "; ".join(describe(problem) for problem in exc.errors(include_context=False, include_input=False)[:3])


def describe(problem: dict) -> str:
    """One of pydantic's error records (loc, msg, type) as `path: message`."""
    path = field_path(problem.get("loc", ()))
    text = str(problem.get("msg", "invalid"))
    if problem.get("type") == UNKNOWN_FIELD:       # the message starts with the unknown name
        return f"{path}.{text}" if path else text
    return f"{path or 'body'}: {text.removeprefix('Value error, ')}"


def field_path(loc) -> str:
    """('plan', 0, 'week') -> plan[0].week."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith(("literal[", "constrained-", "function-")):     # a union's member
            path += f".{part}" if path else str(part)
    return path


def parse(kind: type[Request], data, where: str = ""):
    """`data` (a decoded JSON body, a file's mapping) as a `kind`, or RequestError naming the field."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise RequestError(f"{where}{message(exc)}") from None


@contextmanager
def field(name: str):
    """Refusals of the model's queries (QueryError, PlanError) as RequestError naming `name`."""
    try:
        yield
    except (QueryError, PlanError) as exc:
        text = str(exc)
        named = text.startswith(name) and text[len(name):len(name) + 1] in (":", ".", "[")
        raise RequestError(text if named else f"{name}: {text}") from None


def check_app(model: ImpactModel, app: str) -> None:
    if app not in model.apps:
        raise RequestError(f"app: unknown app '{app}'; the model knows {', '.join(sorted(model.apps))}")


def markets_of(model: ImpactModel, app: str, markets: list[str], forecast: bool, name: str = "markets") -> list[str]:
    """The request's markets, checked once (default: every one, or every forecastable one for a forecast)."""
    check_app(model, app)
    if len(set(markets)) != len(markets):
        raise RequestError(f"{name}: a market is listed twice")
    with field(name):
        model.market_index(app, markets, forecastable=forecast)
    return list(markets) or model.markets(app, forecastable=forecast)


def check_horizon(model: ImpactModel, horizon_weeks: int) -> None:
    if horizon_weeks > model.max_horizon:
        raise RequestError(f"horizon_weeks: the model forecasts at most {model.max_horizon} weeks")


def weekly_rows(model: ImpactModel, request: ForecastRequest) -> int:
    """How many weekly rows the answer to `request` holds ((markets + 1) x horizon_weeks): the
    measure of its work, read before doing any."""
    every = model.markets(request.app, forecastable=True) if request.app in model.apps else []
    return (len(request.markets or every) + 1) * request.horizon_weeks


def check_batch(model: ImpactModel, request: BatchRequest) -> None:
    """Refuse a batch whose answer would exceed MAX_BATCH_ROWS weekly rows, before any work."""
    rows = sum(weekly_rows(model, scenario) for scenario in request.scenarios)
    if rows > MAX_BATCH_ROWS:
        raise RequestError(f"scenarios: the batch asks for {rows:,} weekly rows ((markets + 1) x horizon_weeks, "
                           f"summed over scenarios); the limit is {MAX_BATCH_ROWS:,}: split it into smaller batches")


def plan_of(model: ImpactModel, request: ForecastRequest) -> tuple[list[str], np.ndarray]:
    """The request's markets and their shares (markets x horizon weeks), checked against the model."""
    chosen = markets_of(model, request.app, request.markets, forecast=True)
    check_horizon(model, request.horizon_weeks)
    weeks = model.forecast_weeks(request.app, request.horizon_weeks)
    with field("plan"):
        return chosen, plan_shares(model.status_quo(request.app, request.horizon_weeks, chosen), chosen, weeks,
                                   request.plan)


def history_bounds(request: AttributionRequest) -> dict[str, str | None]:
    """The attribution's start and end as ISO Mondays (None: the history's own), in order."""
    bounds = {}
    for name in ("start", "end"):
        value = getattr(request, name)
        with field(name):
            bounds[name] = None if value is None else str(parse_week(value, name).date())
    if bounds["start"] and bounds["end"] and bounds["start"] > bounds["end"]:
        raise RequestError(f"start: {bounds['start']} is after end {bounds['end']}")
    return bounds


def rows_to_points(rows: pd.DataFrame) -> list[PlanPoint]:
    """Scenario rows (market, week, rollout_share) as plan points, one market each."""
    missing = {"market", "week", "rollout_share"} - set(rows.columns)
    if missing:
        raise RequestError(f"scenario rows need the column(s) {', '.join(sorted(missing))}")
    points = []
    for n, (m, w, s) in enumerate(rows[["market", "week", "rollout_share"]].itertuples(index=False)):
        week = str(pd.Timestamp(w).date()) if isinstance(w, pd.Timestamp) else str(w)
        points.append(parse(PlanPoint, {"week": week, "share": float(s), "markets": [str(m)]}, f"row {n}: "))
    return points
