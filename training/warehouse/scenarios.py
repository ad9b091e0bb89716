"""The scenarios published with every model version: /forecast requests with a name.

Standard, per app: the status quo, full rollout now in every market, and each market not yet
at full rollout taken to full rollout alone (the other markets at their status quo, so its
`ALL` rows are the app's total under that one move). More come from a JSON or YAML file of
named requests:

    brazil_india_january:
      description: Instagram to 100% in Brazil and India from January
      request: {app: instagram, horizon_weeks: 26,
                plan: [{week: "2027-01-04", share: 1.0, markets: [BR, IN]}]}

Every scenario is published at each of the publish's interval levels, so a definition is stored
without its `interval`: sending it to /forecast with `interval` set to a row's `level` gives that
row.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, RootModel, ValidationError

from training.model.estimator import ImpactModel
from training.requests import ForecastRequest, PlanPoint, Request, RequestError, message, plan_of

MAX_CUSTOM_SCENARIOS = 200
ScenarioName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")]


class ScenarioFileError(ValueError):
    """A scenario file that cannot be read or names a request the model cannot answer."""


@dataclass(frozen=True)
class Scenario:
    scenario_id: str        # standard ones: <app>.status_quo, <app>.full_now, <app>.full_now.<market>
    kind: str               # status_quo, full_now, market_full_now, custom
    name: str
    description: str
    request: ForecastRequest

    @property
    def definition(self) -> str:
        """The /forecast body as JSON, without its interval (see the module docstring)."""
        return json.dumps(self.request.model_dump(exclude={"interval"}), sort_keys=True)


def standard_scenarios(model: ImpactModel, horizon_weeks: int) -> list[Scenario]:
    """Status quo, full rollout now, and each not-fully-rolled-out market alone, for every app."""
    scenarios = []
    for app in model.apps:
        first = str(model.forecast_weeks(app, 1)[0].date())
        markets = model.markets(app, forecastable=True)
        now = model.status_quo(app, 1, markets)[:, 0]

        def request(*plan: PlanPoint) -> ForecastRequest:
            return ForecastRequest(app=app, horizon_weeks=horizon_weeks, plan=list(plan))

        scenarios += [
            Scenario(f"{app}.status_quo", "status_quo", f"{app}: status quo",
                     "every market's rollout share held at its last observed value", request()),
            Scenario(f"{app}.full_now", "full_now", f"{app}: full rollout now",
                     f"every market at share 1 from {first}", request(PlanPoint(week=first, share=1.0))),
        ]
        scenarios += [
            Scenario(f"{app}.full_now.{market}", "market_full_now", f"{app}: {market} to full rollout now",
                     f"{market} at share 1 from {first} (now {share:.2f}), the other markets at their status quo",
                     request(PlanPoint(week=first, share=1.0, markets=[market])))
            for market, share in zip(markets, now) if share < 1.0]
    return scenarios


class _Named(Request):
    description: Annotated[str, Field(max_length=500)] = ""
    request: ForecastRequest


class _ScenarioFile(RootModel):
    root: Annotated[dict[ScenarioName, _Named], Field(min_length=1, max_length=MAX_CUSTOM_SCENARIOS)]


def load_scenario_file(path: Path) -> dict[str, "_Named"]:
    """The file's named requests, checked against the request schema (not yet the model)."""
    text = _read(path)
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else _yaml(text)
    except ValueError as exc:
        raise ScenarioFileError(f"--scenarios {path}: not valid {path.suffix.lstrip('.') or 'JSON/YAML'}: "
                                f"{str(exc).splitlines()[0]}") from None
    try:
        return _ScenarioFile.model_validate(raw).root
    except ValidationError as exc:
        raise ScenarioFileError(f"--scenarios {path}: {message(exc)} (a mapping of names [a-z0-9_-] to "
                                "{description, request})") from None


def read_scenarios(path: Path, model: ImpactModel) -> list[Scenario]:
    """Named requests from a JSON or YAML file, each checked against the model (so a publish
    refuses a bad file before it writes anything). ScenarioFileError names the problem."""
    scenarios = []
    for name, spec in load_scenario_file(path).items():
        try:
            plan_of(model, spec.request)
        except RequestError as exc:
            raise ScenarioFileError(f"--scenarios {path}: {name}.request.{exc}") from None
        scenarios.append(Scenario(name, "custom", name, spec.description, spec.request))
    return scenarios


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ScenarioFileError(f"--scenarios {path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioFileError(f"--scenarios {path}: not a text file") from None


def _yaml(text: str):
    """YAML with its dates read as the ISO strings a request takes."""
    import yaml
    try:
        return _dates_as_text(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def _dates_as_text(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _dates_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(v) for v in value]
    return value
