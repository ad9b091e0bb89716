"""Requests to answers: the model's arrays and tables as the JSON the API returns.

Pure functions of a loaded `ImpactModel`; the service only adds transport. Problems with the
request raise `RequestError` (`training.forecast`'s, re-exported) with a message naming the field.
"""

from __future__ import annotations

import numpy as np

from data.regions import by_region
from serving.schemas import MAX_BATCH_ROWS, ForecastRequest
from training.forecast import RequestError, check_app, check_markets
from training.forecast import forecast as forecast_request
from training.model.estimator import ImpactModel
from training.model.paths import QUANTITIES
from training.model.scenario import PlanError, parse_week
from training.optimiser import OptimiseError, OptimiseRequest
from training.optimiser import optimise as optimise_plan

__all__ = ["RequestError", "attribution", "check_batch_size", "describe", "forecast", "optimise", "response_curve",
           "weekly_rows"]

COLUMNS = ("baseline", "scenario", "lo", "hi")


def weekly_rows(model: ImpactModel, request: ForecastRequest) -> int:
    """How many weekly rows the answer to `request` holds ((markets + 1) x horizon_weeks): the
    measure of its work, read before doing any."""
    every = model.markets(request.app, forecastable=True) if request.app in model.apps else []
    return (len(request.markets or every) + 1) * request.horizon_weeks


def check_batch_size(model: ImpactModel, scenarios: list[ForecastRequest]) -> None:
    """Refuse a batch whose answer would exceed MAX_BATCH_ROWS weekly rows, before any work: each
    scenario is bounded, but 100 of them over every market for 104 weeks would be a 160 MB answer
    that holds a worker for seconds."""
    rows = sum(weekly_rows(model, scenario) for scenario in scenarios)
    if rows > MAX_BATCH_ROWS:
        raise RequestError(f"scenarios: the batch asks for {rows:,} weekly rows ((markets + 1) x horizon_weeks, "
                           f"summed over scenarios); the limit is {MAX_BATCH_ROWS:,}: split it into smaller batches")


def forecast(model: ImpactModel, version: str, request: ForecastRequest, history_weeks: int = 0) -> dict:
    """The /forecast answer; with `history_weeks`, the observed weeks before the forecast as `history`."""
    result = forecast_request(model, request)
    answer = {"model_version": version, "app": request.app, "interval": request.interval, "first_week": result.weeks[0],
              "weekly": _weekly_rows(result.per_market, result.markets, result.weeks)
                        + _weekly_rows(result.combined, ["ALL"], result.weeks),
              "totals": result.totals}
    if history_weeks:
        answer["history"] = history(model, request.app, result.markets, history_weeks)
    return answer


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


def response_curve(model: ImpactModel, version: str, app: str, market: str, horizon_weeks: int, interval: float,
                   points: int) -> dict:
    """A market's response curve from its current share to 1 (`ImpactModel.response_curve`)."""
    check_app(model, app)
    check_markets(model, app, [market], forecast=True)
    return {"model_version": version, "app": app, "first_week": str(model.forecast_weeks(app, 1)[0].date()),
            **model.response_curve(app, market, horizon_weeks, interval, points)}


def optimise(model: ImpactModel, version: str, request: OptimiseRequest) -> dict:
    """The optimiser's answer (see `training.optimiser`), with the model version."""
    try:
        return {"model_version": version, **optimise_plan(model, request)}
    except OptimiseError as exc:
        raise RequestError(str(exc)) from None


def _weekly_rows(values: dict, markets: list[str], weeks: list[str]) -> list[dict]:
    """Rows (week, market) with one object per quantity: {baseline, scenario, lo, hi}."""
    cells = [[{"baseline": baseline, "scenario": scenario, "lo": lo, "hi": hi}     # a literal: the fastest to build
              for baseline, scenario, lo, hi in zip(*(values[q][c].ravel().tolist() for c in COLUMNS))]
             for q in QUANTITIES]
    shares = np.round(values["rollout_share"], 6).ravel().tolist()
    labels = [(week, market) for market in markets for week in weeks]
    return [{"week": week, "market": market, "rollout_share": share, **dict(zip(QUANTITIES, row))}
            for (week, market), share, *row in zip(labels, shares, *cells)]


def attribution(model: ImpactModel, version: str, app: str, markets: list[str], start: str | None,
                end: str | None, interval: float) -> dict:
    check_app(model, app)
    chosen = check_markets(model, app, markets)
    try:
        bounds = {name: (None if value is None else str(parse_week(value, name).date()))
                  for name, value in (("start", start), ("end", end))}
    except PlanError as exc:
        raise RequestError(str(exc)) from None
    if bounds["start"] and bounds["end"] and bounds["start"] > bounds["end"]:
        raise RequestError(f"start: {bounds['start']} is after end {bounds['end']}")
    try:
        result = model.attribute(app, chosen, bounds["start"], bounds["end"], interval)
    except ValueError as exc:
        raise RequestError(f"start/end: {exc}") from None
    return {"model_version": version, "app": app, "interval": interval,
            "start": str(result.weeks[0].date()), "end": str(result.weeks[-1].date()),
            "totals": result.totals,
            "by_market": result.by_market.to_dict("records"),
            "weekly": result.weekly.to_dict("records")}


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
