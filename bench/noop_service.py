"""A BentoML service that parses the same /forecast body and does nothing: the load baseline."""

from __future__ import annotations

import os

import bentoml

from serving.schemas import App, Horizon, Interval, Markets, Plan


@bentoml.service(name="noop", workers=int(os.environ.get("IMPACT_WORKERS", "1")),
                 traffic={"timeout": 60, "max_concurrency": 512})
class Noop:
    @bentoml.api
    def forecast(self, app: App, markets: Markets = [], horizon_weeks: Horizon = 13, plan: Plan = [],
                 interval: Interval = 0.9) -> dict:
        return {"app": app}
