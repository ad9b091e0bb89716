"""BentoML services that parse the same /forecast body and do nothing: the load baselines.

`Noop` is a plain (sync) method, which BentoML runs in its worker thread; `NoopAsync` is an
async one, run on the event loop: the cheapest endpoint BentoML offers for this body.
"""

from __future__ import annotations

import os

import bentoml

from training.requests import App, Horizon, Interval, Markets, Plan


CONFIG = {"workers": int(os.environ.get("IMPACT_WORKERS", "1")), "traffic": {"timeout": 60, "max_concurrency": 512}}


@bentoml.service(name="noop", **CONFIG)
class Noop:
    @bentoml.api
    def forecast(self, app: App, markets: Markets = [], horizon_weeks: Horizon = 13, plan: Plan = [],
                 interval: Interval = 0.9) -> dict:
        return {"app": app}


@bentoml.service(name="noop-async", **CONFIG)
class NoopAsync:
    @bentoml.api
    async def forecast(self, app: App, markets: Markets = [], horizon_weeks: Horizon = 13, plan: Plan = [],
                       interval: Interval = 0.9) -> dict:
        return {"app": app}
