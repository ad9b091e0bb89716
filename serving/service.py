"""The forecast service: the champion model behind seven JSON endpoints, and the planner page at `/`.

`bentoml serve` (from the repo root, via bentofile.yaml), `impact serve` and `make run` start
it. The model is the newest `engagement-impact` in the BentoML store (promotion makes the
champion the newest); it is loaded once per worker, and requests only read it. Without a
model the service still starts: /readyz says not ready and the API answers 503 with how to
train one.
"""

from __future__ import annotations

import os
from functools import partial

import anyio
import bentoml
import orjson
from starlette.responses import Response

from serving.guard import Guard
from serving.long import LongQuestions, Unavailable
from serving.planner import planner_app
from training import answers
from training.model.persist import ModelFileError, load_model
from training.requests import (AttributionRequest, BatchRequest, DesignTestRequest, ForecastHistoryRequest, ModelRequest,
                               OptimiseRequest, ResponseCurveRequest, weekly_rows)
from training.tracking import MODEL_NAME

# BentoML answers 504 to a request not done within this many seconds (queueing included). It also
# keeps each request's timer, and through it the request's tracing span (about 5 kB), until then,
# so a worker's memory rises for this long under load and is flat after: keep it short.
REQUEST_TIMEOUT_SECONDS = 20
# A /forecast of at most this many weekly rows ((markets + 1) x horizon_weeks: one market for a year, or
# ten for a quarter) is answered on the event loop, in about a millisecond, and larger ones in a worker
# thread: handing a small answer to a thread and back costs about as much as computing it.
INLINE_WEEKLY_ROWS = 150

NO_MODEL = ("no champion model in the BentoML store{home}: train one with `impact train` "
            "(or `make run`), then restart the service")


def _champion() -> bentoml.models.BentoModel | None:
    """The newest engagement-impact in the store, declared so `bentoml build` packs it; None
    when the store has none (BentoML refuses to serve a declared model it cannot find)."""
    reference = bentoml.models.BentoModel(f"{MODEL_NAME}:latest")
    return reference if reference.stored is not None else None


def _json(answer: dict | bytes) -> Response:
    """The answer serialised once with orjson (several times faster than BentoML's generic
    serialisation of large nested dicts, which would cost more than the forecast itself;
    NaN, e.g. a metric a model was fitted without, becomes null)."""
    body = answer if isinstance(answer, bytes) else orjson.dumps(answer, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, media_type="application/json")


def _refused(ctx: bentoml.Context, status: int, message: str) -> dict:
    """{"error": message} with `status` (BentoML would hide a 5xx message of its own)."""
    ctx.response.status_code = status
    return {"error": message}


def _resolve(reference):
    """The stored model behind the class-level reference, or None when the store has none.

    In a server worker BentoML hands the instance the resolved model itself; elsewhere it is
    still the reference.
    """
    if reference is None:
        return None
    if hasattr(reference, "path") and hasattr(reference, "info"):
        return reference
    return getattr(reference, "stored", None)


@bentoml.service(
    name="engagement-impact",
    workers=int(os.environ.get("IMPACT_WORKERS", "1")),
    traffic={"timeout": REQUEST_TIMEOUT_SECONDS, "max_concurrency": 512},
    http={"cors": {"enabled": False}},
)
class EngagementImpact:
    """Scenario forecasts and attribution of AI-feature rollouts.

    Each endpoint takes one request model (`training.requests`) as its JSON body and hands it to
    `training.answers`; optimisations run apart (`serving.long`).
    """

    model_ref = _champion()

    def __init__(self) -> None:
        self.impact, self.version, self.run_id, self.problem, self.long = None, None, None, None, None
        self._thread = anyio.CapacityLimiter(1)      # large forecasts, one at a time, as BentoML runs sync APIs
        stored = _resolve(self.model_ref)
        if stored is None:
            home = os.environ.get("BENTOML_HOME")
            self.problem = NO_MODEL.format(home=f" ({home})" if home else "")
            return
        try:
            self.impact = load_model(stored.path)
        except ModelFileError as exc:
            self.problem = f"the stored model {stored.tag} is unusable: {exc}"
            return
        self.version = str(stored.info.labels.get("mlflow_version", stored.tag.version))
        self.run_id = stored.info.labels.get("run_id", "")
        self.long = LongQuestions(stored.path, int(os.environ.get("IMPACT_LONG_QUESTIONS", "1")))
        for app in self.impact.apps:      # build the noise paths and tables now, not on the first request
            self.impact.forecast(app, self.impact.status_quo(app, 1))

    def __is_ready__(self) -> bool:
        return self.impact is not None

    @bentoml.on_shutdown
    def _close(self) -> None:
        if self.long is not None:
            self.long.close()

    def _answer(self, ctx: bentoml.Context, compute) -> dict:
        """Run `compute(model)`; 503 without a model and 400 for a request it cannot answer."""
        if self.impact is None:
            return _refused(ctx, 503, self.problem)
        try:
            return _json(compute(self.impact))
        except answers.RequestError as exc:
            return _refused(ctx, 400, str(exc))

    @bentoml.api
    async def forecast(self, request: ForecastHistoryRequest, /, ctx: bentoml.Context) -> dict:
        """A rollout plan against the status quo: weekly per market and for all chosen markets, with totals;
        with `history_weeks`, the observed weeks before it too."""
        compute = partial(answers.forecast, version=self.version, request=request)
        if self.impact is None or weekly_rows(self.impact, request) <= INLINE_WEEKLY_ROWS:
            return self._answer(ctx, compute)
        return await anyio.to_thread.run_sync(self._answer, ctx, compute, limiter=self._thread)

    @bentoml.api
    def response_curve(self, request: ResponseCurveRequest, /, ctx: bentoml.Context) -> dict:
        """A market's response curve from where it stands: incremental minutes and ad revenue over the horizon
        for target shares from its current share to 1 (reached in the first forecast week), with bands."""
        return self._answer(ctx, partial(answers.response_curve, version=self.version, request=request))

    @bentoml.api
    def forecast_batch(self, request: BatchRequest, /, ctx: bentoml.Context) -> dict:
        """Several forecast bodies in one call (1..100, within a limit on weekly rows in all), answered in
        order; a bad one fails the call with its position in the message."""
        return self._answer(ctx, partial(answers.batch, version=self.version, request=request))

    @bentoml.api
    def attribution(self, request: AttributionRequest, /, ctx: bentoml.Context) -> dict:
        """The history as observed against the same history with zero rollout."""
        return self._answer(ctx, partial(answers.attribution, version=self.version, request=request))

    @bentoml.api
    async def optimise(self, request: OptimiseRequest, /, ctx: bentoml.Context) -> dict:
        """The best rollout plan under constraints, net of its serving cost: the plan (send it to /forecast),
        per market, its value with bands, the alternatives and regret, how sure the choice is, the solver.
        Runs apart from the other endpoints; 429 with Retry-After while as many as the service runs at once
        are running (503 with Retry-After if its process died mid-answer)."""
        if self.impact is None:
            return _refused(ctx, 503, self.problem)
        try:
            return _json(await self.long.optimise(self.version, request.model_dump(exclude_unset=True),
                                                   request.time_limit_seconds))
        except answers.RequestError as exc:
            return _refused(ctx, 400, str(exc))
        except Unavailable as exc:
            ctx.response.headers["Retry-After"] = str(exc.retry_after)
            return _refused(ctx, exc.status, str(exc))

    @bentoml.api
    async def design_test(self, request: DesignTestRequest, /, ctx: bentoml.Context) -> dict:
        """Candidate lift tests (market x test share x duration, from the first forecast week) ranked by how much
        their result is expected to narrow the interval of a decision (finishing rollouts, or an /optimise plan):
        each with its standard error, power, predicted lift and cost in forgone value; the best, the runner-up
        and the set of `tests` to run together. A decision that is an /optimise body runs apart, as /optimise."""
        if self.impact is None:
            return _refused(ctx, 503, self.problem)
        if request.decision.optimise is None:
            compute = partial(answers.design_test, version=self.version, request=request)
            return await anyio.to_thread.run_sync(self._answer, ctx, compute, limiter=self._thread)
        try:
            return _json(await self.long.design_test(self.version, request.model_dump(exclude_unset=True),
                                                     request.decision.optimise.time_limit_seconds))
        except answers.RequestError as exc:
            return _refused(ctx, 400, str(exc))
        except Unavailable as exc:
            ctx.response.headers["Retry-After"] = str(exc.retry_after)
            return _refused(ctx, exc.status, str(exc))

    @bentoml.api
    def model(self, request: ModelRequest, /, ctx: bentoml.Context) -> dict:
        """The served model: version, run, training window, apps, markets, metrics, effects."""
        return self._answer(ctx, lambda model: answers.describe(model, self.version, self.run_id))


# the page at /, and /docs without BentoML's trackers and outside badges
EngagementImpact.mount_asgi_app(planner_app(openapi=lambda: EngagementImpact.openapi_spec.asdict()), path="/",
                                name="planner")
EngagementImpact.add_asgi_middleware(Guard, token=os.environ.get("IMPACT_API_TOKEN"),
                                     max_body_bytes=int(os.environ.get("IMPACT_MAX_BODY_BYTES", "1000000")))
