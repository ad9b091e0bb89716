"""What a planner asks the optimiser: the request's fields, each with its bounds and an example.

The same type serves `POST /optimise` (its flat JSON fields) and `impact optimise` (its options),
so both refuse the same things with the same messages. Checks that need the fitted model
(unknown markets, a cap the status quo already breaks) are in `optimiser.check_request`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from training.model.scenario import App, Horizon, Interval, Markets, Week

MAX_LEVELS = 5              # allowed target shares (each multiplies the candidates)
MIN_STEP = 0.05             # the slowest ramp is 20 weeks, so a plan stays within /forecast's plan points
MAX_TIME_LIMIT = 15.0       # seconds for the solver; the service answers 504 after 20 s


class CostRange(BaseModel):
    """A cost known only to lie between `low` and `high` (drawn uniformly per sample path)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: Annotated[float, Field(ge=0.0, le=1e3, json_schema_extra={"example": 0.01})]
    high: Annotated[float, Field(ge=0.0, le=1e3, json_schema_extra={"example": 0.03})]

    @model_validator(mode="after")
    def _ordered(self) -> "CostRange":
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self


class Cost(BaseModel):
    """The cost of serving the assistant, in USD."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={
        "example": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.03}}})

    per_exposed_dau_week_usd: Annotated[CostRange, Field(
        description="serving one exposed daily user (share x DAU) for one week")]


class Constraints(BaseModel):
    """What a plan may do. Every field is optional; the defaults leave the plan free."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"example": {
        "max_launches_per_week": 2, "levels": [1.0], "earliest": {"DE": "2027-03-01"}, "fixed": ["FR"]}})

    max_launches_per_week: Annotated[int | None, Field(
        ge=1, le=64, description="markets whose share rises in any one week")] = None
    max_step: Annotated[float, Field(
        ge=MIN_STEP, le=1.0, description="largest weekly rise of a market's share (a slower rise ramps)")] = 1.0
    levels: Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(
        min_length=1, max_length=MAX_LEVELS, description="target shares a market may be taken to")] = [1.0]
    earliest: Annotated[dict[str, Week], Field(
        max_length=64, description="market -> the first week its share may rise")] = {}
    fixed: Annotated[Markets, Field(description="markets held at the status quo")] = []
    max_exposed_dau: Annotated[float | None, Field(
        ge=1.0, le=1e11, description="cap on exposed DAU (share x DAU) summed over the markets, any week")] = None
    allow_decrease: Annotated[bool, Field(description="levels below a market's current share are allowed")] = False

    @model_validator(mode="after")
    def _consistent(self) -> "Constraints":
        if len(set(self.levels)) != len(self.levels):
            raise ValueError("levels: a level is listed twice")
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

class OptimiseRequest(BaseModel):
    """The body of /optimise and the options of `impact optimise`."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"example": {
        "app": "instagram", "horizon_weeks": 26, "objective": "ad_revenue_usd",
        "cost": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.03}},
        "constraints": {"max_launches_per_week": 2}, "risk": "mean", "interval": 0.9}})

    app: App
    markets: OptimiseMarkets = []
    horizon_weeks: Horizon = 26
    interval: Interval = 0.9
    objective: Objective = "ad_revenue_usd"
    cost: Cost | None = None
    constraints: Constraints = Constraints()
    risk: Risk = "mean"
    time_limit_seconds: TimeLimit = 10.0
    optimality_gap: Gap = 0.001
