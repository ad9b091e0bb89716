"""A forecast request answered by a fitted model: the one path from a `/forecast` body to a
`Forecast`, shared by the service, the warehouse and the command line, so the three give the same
numbers for the same request and model.

Problems with the request raise `RequestError` with a message that names the field.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from training.model.estimator import ImpactModel, QueryError
from training.model.queries import Forecast, level_key
from training.model.scenario import ForecastRequest, PlanError, plan_shares


class RequestError(ValueError):
    """A request the model cannot answer as asked (unknown app or market, bad plan, ...)."""


def check_app(model: ImpactModel, app: str) -> None:
    if app not in model.apps:
        raise RequestError(f"app: unknown app '{app}'; the model knows {', '.join(sorted(model.apps))}")


def check_markets(model: ImpactModel, app: str, markets: list[str], forecast: bool = False) -> list[str]:
    """The chosen markets (default: every one, or every forecastable one for a forecast)."""
    known = model.markets(app)
    unknown = [m for m in markets if m not in known]
    if unknown:
        raise RequestError(f"markets: unknown market(s) {', '.join(unknown)} for {app}; known: {', '.join(known)}")
    if len(set(markets)) != len(markets):
        raise RequestError("markets: a market is listed twice")
    if forecast:
        try:
            model.forecast_index(app, markets)
        except QueryError as exc:
            raise RequestError(f"markets: {exc}") from None
    return list(markets) or model.markets(app, forecastable=forecast)


def plan_of(model: ImpactModel, request: ForecastRequest) -> tuple[list[str], np.ndarray]:
    """The request's markets and their shares (markets x horizon weeks), checked against the model."""
    check_app(model, request.app)
    chosen = check_markets(model, request.app, request.markets, forecast=True)
    weeks = model.forecast_weeks(request.app, request.horizon_weeks)
    try:
        return chosen, plan_shares(model.status_quo(request.app, request.horizon_weeks, chosen), chosen, weeks,
                                   request.plan)
    except PlanError as exc:
        raise RequestError(str(exc)) from None


def forecast(model: ImpactModel, request: ForecastRequest) -> Forecast:
    """The request's plan against the status quo at its interval level (see `ImpactModel.forecast`)."""
    chosen, shares = plan_of(model, request)
    return model.forecast(request.app, shares, chosen, request.interval)


def forecasts(model: ImpactModel, requests: list[ForecastRequest]) -> Iterator[Forecast]:
    """`forecast` of each request, in order. Requests of one app, markets, horizon and interval that
    follow one another are answered together (`ImpactModel.forecasts`: the status quo's paths once,
    each plan's only for the markets it moves), so the warehouse's many one-market scenarios cost
    about one forecast each app and level."""
    def question(request: ForecastRequest) -> tuple:
        return request.app, tuple(request.markets), request.horizon_weeks, level_key(request.interval)

    for (app, markets, _, level), group in itertools.groupby(requests, key=question):
        plans = [plan_of(model, request) for request in group]
        yield from model.forecasts(app, [shares for _, shares in plans], list(markets), level)
