"""Requests to answers: the model's arrays and tables as the JSON the API returns.

Pure functions of a loaded `ImpactModel`, shared by the service, the command line and the
warehouse, so the three give the same numbers for the same request and model. Each takes one
request model (`training.requests`), checks it there once, and asks the model's public queries.
Problems with the request raise `RequestError` with a message naming the field.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from data.regions import by_region
from training.model.estimator import ImpactModel
from training.model.experiments import LIFTS
from training.model.paths import QUANTITIES
from training.model.queries import Forecast, level_key
from training.design_test import design_test as design
from training.optimiser import optimise as optimise_plan
from training.requests import (AttributionRequest, BatchRequest, DesignTestRequest, ForecastHistoryRequest, ForecastRequest,
                               OptimiseRequest, RequestError, ResponseCurveRequest, check_batch, field,
                               history_bounds, markets_of, plan_of)

__all__ = ["RequestError", "attribution", "batch", "describe", "design_test", "forecast", "forecasts", "optimise",
           "response_curve"]

COLUMNS = ("status_quo", "scenario", "lo", "hi")


def forecast_of(model: ImpactModel, request: ForecastRequest) -> Forecast:
    """The request's plan against the status quo at its interval level (see `ImpactModel.forecast`)."""
    chosen, shares = plan_of(model, request)
    return model.forecast(request.app, shares, chosen, request.interval)


def forecasts(model: ImpactModel, requests: list[ForecastRequest]) -> Iterator[Forecast]:
    """`forecast_of` each request, in order. Requests of one app, markets, horizon and interval that
    follow one another are answered together (`ImpactModel.forecasts`: the status quo's paths once,
    each plan's only for the markets it moves), so the warehouse's many one-market scenarios cost
    about one forecast each app and level."""
    def question(request: ForecastRequest) -> tuple:
        return request.app, tuple(request.markets), request.horizon_weeks, level_key(request.interval)

    for (app, markets, _, level), group in itertools.groupby(requests, key=question):
        plans = [plan_of(model, request) for request in group]
        yield from model.forecasts(app, [shares for _, shares in plans], list(markets), level)


def forecast(model: ImpactModel, version: str, request: ForecastRequest) -> dict:
    """The /forecast answer; with `history_weeks` (a ForecastHistoryRequest), the observed weeks
    before the forecast as `history`."""
    result = forecast_of(model, request)
    answer = {"model_version": version, "app": request.app, "interval": request.interval, "first_week": result.weeks[0],
              "weekly": _weekly_rows(result.per_market, result.markets, result.weeks)
                        + _weekly_rows(result.combined, ["ALL"], result.weeks),
              "totals": result.totals}
    weeks = request.history_weeks if isinstance(request, ForecastHistoryRequest) else 0
    if weeks:
        answer["history"] = history(model, request.app, result.markets, weeks)
    return answer


def batch(model: ImpactModel, version: str, request: BatchRequest) -> dict:
    """The /forecast_batch answer: each scenario's /forecast answer in order; a bad one fails the
    batch with its position in the message."""
    check_batch(model, request)
    answers = []
    for n, scenario in enumerate(request.scenarios):
        try:
            answers.append(forecast(model, version, scenario))
        except RequestError as exc:
            raise RequestError(f"scenarios[{n}].{exc}") from None
    return {"answers": answers}


def history(model: ImpactModel, app: str, markets: list[str], weeks: int) -> list[dict]:
    """The last `weeks` observed weeks of `markets` (rows week, market, rollout_share and the four
    quantities), then ALL: their DAU, minutes and revenue summed, time per DAU-day and the
    DAU-weighted share of the markets together, as the forecast's ALL rows."""
    frame = model.history(app, markets, weeks)
    together = frame.assign(exposed=frame["rollout_share"] * frame["dau"]).groupby("week", sort=True)[
        ["dau", "minutes", "ad_revenue_usd", "exposed"]].sum()
    together = together.assign(market="ALL", time_spent_min=together["minutes"] / (7 * together["dau"]),
                               rollout_share=together["exposed"] / together["dau"]).reset_index()
    rows = []
    for part in (frame.sort_values(["market", "week"]), together):
        for record in part[["week", "market", "rollout_share", *QUANTITIES]].to_dict("records"):
            rows.append({**record, "week": str(record["week"].date())})
    return rows


def response_curve(model: ImpactModel, version: str, request: ResponseCurveRequest) -> dict:
    """A market's response curve from its current share to 1 (`ImpactModel.response_curve`)."""
    markets_of(model, request.app, [request.market], forecast=True, name="market")
    with field("horizon_weeks"):
        curve = model.response_curve(request.app, request.market, request.horizon_weeks, request.interval,
                                     request.points)
    return {"model_version": version, "app": request.app, "first_week": str(model.forecast_weeks(request.app, 1)[0].date()),
            **curve}


def optimise(model: ImpactModel, version: str, request: OptimiseRequest) -> dict:
    """The optimiser's answer (see `training.optimiser`), with the model version and the request as
    checked (every field, defaults filled in)."""
    return {"model_version": version, "request": request.model_dump(mode="json"), **optimise_plan(model, request)}


def design_test(model: ImpactModel, version: str, request: DesignTestRequest) -> dict:
    """The lift-test design's answer (see `training.design_test`), with the model version and the
    request as checked."""
    return {"model_version": version, "request": request.model_dump(mode="json"), **design(model, request)}


def _weekly_rows(values: dict, markets: list[str], weeks: list[str]) -> list[dict]:
    """Rows (week, market) with one object per quantity: {status_quo, scenario, lo, hi}."""
    cells = [[{"status_quo": status_quo, "scenario": scenario, "lo": lo, "hi": hi}     # a literal: the fastest to build
              for status_quo, scenario, lo, hi in zip(*(values[q][c].ravel().tolist() for c in COLUMNS))]
             for q in QUANTITIES]
    shares = np.round(values["rollout_share"], 6).ravel().tolist()
    labels = [(week, market) for market in markets for week in weeks]
    return [{"week": week, "market": market, "rollout_share": share, **dict(zip(QUANTITIES, row))}
            for (week, market), share, *row in zip(labels, shares, *cells)]


def attribution(model: ImpactModel, version: str, request: AttributionRequest) -> dict:
    """The /attribution answer: the observed history against the same history with zero rollout."""
    chosen = markets_of(model, request.app, request.markets, forecast=False)
    bounds = history_bounds(request)
    try:
        result = model.attribute(request.app, chosen, bounds["start"], bounds["end"], request.interval)
    except ValueError as exc:
        raise RequestError(f"start/end: {exc}") from None
    return {"model_version": version, "app": request.app, "interval": request.interval,
            "start": str(result.weeks[0].date()), "end": str(result.weeks[-1].date()),
            "totals": result.totals,
            "by_market": result.by_market.to_dict("records"),
            "weekly": result.weekly.to_dict("records")}


def market_effects(model: ImpactModel, app: str) -> dict:
    """How much the app's markets' effects differ, and each market's effect on log time per DAU
    with its 90% interval (`ImpactModel.market_effect_summary`)."""
    pooling, table = model.market_effect_summary(app, 0.9)
    return {"pooled": pooling.pooled, "spread": pooling.spread, "spread_z": pooling.spread_z,
            "variance_factor": pooling.variance_factor,
            "markets": [{"market": row.market, "relative": float(row.relative), "relative_sd": float(row.relative_sd),
                         "own_estimate": None if np.isnan(row.own_estimate) else float(row.own_estimate),
                         "log_time": {"estimate": float(row.log_time), "lo90": float(row.lo), "hi90": float(row.hi)}}
                        for row in table.itertuples()]}


def experiments(model: ImpactModel, app: str) -> list[dict]:
    """The app's lift tests: what each measured, what the panel alone predicted for its lift of log
    time per DAU (with the z of the difference; a test beyond 3 is left out of the calibration),
    and what the calibrated model predicts for each measured lift, with its 90% band."""
    out = []
    for row in model.experiment_predictions(app, 0.9).to_dict("records"):      # plain Python values
        measured = {name: {"lift": row[f"lift_{name}"], "se": row[f"se_{name}"]} for name in LIFTS
                    if not np.isnan(row[f"lift_{name}"])}
        out.append({"row": row["row"], "market": row["market"], "first_week": row["first_week"],
                    "last_week": row["last_week"], "test_share": row["test_share"],
                    "reference_share": row["reference_share"], "source": row["source"], "measured": measured,
                    "before": {"log_time": {"estimate": row["before"], "sd": row["before_sd"]}},
                    "z": row["z"], "used": row["used"],
                    "after": {name: {"estimate": row[f"after_{name}"], "lo90": row[f"after_{name}_lo"],
                                     "hi90": row[f"after_{name}_hi"]} for name in measured}})
    return out


def describe(model: ImpactModel, version: str, run_id: str) -> dict:
    """What the served model is: version, run, training window and first forecast week, apps, each
    market's window, the forecastable markets by world region, response shape, effects with their 90%
    intervals, backtest figures, what was left out."""
    apps = {}
    for app in model.apps:
        bt = model.backtest_summary(app)
        forecastable = model.markets(app, forecastable=True)
        apps[app] = {
            "training_window": model.training_window(app),
            "forecast_start": str(model.forecast_weeks(app, 1)[0].date()),
            "markets": model.markets(app),
            "forecastable_markets": forecastable,
            "regions": by_region(forecastable),
            "market_windows": model.windows(app).to_dict("records"),
            "response_shape": {name: {"estimate": v["estimate"], "lo90": v["lo"], "hi90": v["hi"]}
                               for name, v in model.shape_summary(app, 0.9).items()},
            "effects": {name: {"estimate": e["estimate"], "lo90": e["lo"], "hi90": e["hi"]}
                        for name, e in model.effect_summary(app, 0.9).items()},
            "market_effects": market_effects(model, app),
            "experiments": experiments(model, app),
            "backtest": {"mase": bt.mase, "seasonal_naive_mase": bt.mase_seasonal_naive, "coverage90": bt.coverage,
                         "coverage90_all": bt.coverage_all, "coverage_by_level": bt.coverage_levels,
                         "coverage_by_weeks_ahead": bt.coverage_weeks_ahead,
                         "baseline_trend": bt.trend, "common_component": bt.common,
                         "calibration_skipped": bt.calibration_skipped},
        }
    steps = getattr(model, "step_backtest_", None)
    for app in apps if steps else ():      # the rollout-step backtest impact train ran, when it did
        apps[app]["step_backtest"] = {"weeks": steps["weeks"], "first_week": steps["first_week"], "level": steps["level"],
                                      "steps": sum(r["app"] == app and r["quantity"] == "minutes" for r in steps["steps"]),
                                      **steps["summary"].get(app, {})}
    return {"model_version": version, "run_id": run_id, "apps": apps, "left_out": model.left_out_,
            "params": model.get_params() | {"grid": len(model.grid)}}
