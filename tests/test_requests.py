"""The request layer: every field a caller sends is used or refused, at every depth, by name."""

from __future__ import annotations

import copy
import typing

import pytest
from pydantic import BaseModel

from training.requests import (AttributionRequest, BatchRequest, DesignTestRequest, ForecastHistoryRequest,
                               OptimiseRequest, Request, RequestError, ResponseCurveRequest, parse, unknown_field)

# a valid body of each endpoint's request model, with every nested model present once
BODIES = {
    ForecastHistoryRequest: {"app": "facebook", "plan": [{"week": "2026-11-02", "share": 0.5}]},
    BatchRequest: {"scenarios": [{"app": "facebook", "plan": [{"week": "2026-11-02", "share": 0.5}]}]},
    ResponseCurveRequest: {"app": "facebook", "market": "US"},
    AttributionRequest: {"app": "facebook"},
    OptimiseRequest: {"app": "facebook", "cost": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.02}},
                      "constraints": {"fixed": ["FR"]}},
    DesignTestRequest: {"app": "facebook", "decision": {"finish": ["BR"], "cost": {
        "per_exposed_dau_week_usd": {"low": 0.01, "high": 0.02}}}},
}
# a decision is one of two kinds: the other one's fields, checked in a body of their own
OTHER_DECISION = {"app": "facebook", "decision": {"optimise": {
    "app": "facebook", "cost": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.02}}, "constraints": {"fixed": ["FR"]}}}}


def nested_models(annotation) -> list[type[BaseModel]]:
    """The request models inside a field's type (list[PlanPoint], Cost | None, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in nested_models(arg)]


def field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field of `model`, nested ones as `plan.week` (a list's items share their field's name)."""
    paths = []
    for name, info in model.model_fields.items():
        paths.append(prefix + name)
        for inner in nested_models(info.annotation):
            paths += field_paths(inner, f"{prefix}{name}.")
    return paths


def container(body: dict, path: str) -> dict:
    """The object in `body` that holds the last part of `path` (a list's first item for a list)."""
    node = body
    for part in path.split(".")[:-1]:
        node = node[part]
        node = node[0] if isinstance(node, list) else node
    return node


def test_every_request_model_refuses_a_misspelt_field_at_every_depth_naming_it_and_the_field_meant():
    for model, body in [*BODIES.items(), (DesignTestRequest, OTHER_DECISION)]:
        parse(model, body)      # the body itself is valid
        for path in field_paths(model):
            parts = path.split(".")
            if parts[0] == "decision" and len(parts) > 2 and parts[1] not in body["decision"]:
                continue        # inside the other kind of decision
            head, _, leaf = path.rpartition(".")
            wrong = leaf[:-1] + leaf[-1] * 2            # horizon_weeks -> horizon_weekss
            spelt = copy.deepcopy(body)
            holder = container(spelt, path) if head else spelt
            holder[wrong] = holder.pop(leaf, 1)
            with pytest.raises(RequestError) as refused:
                parse(model, spelt)
            assert f"{wrong}: unknown field; did you mean {leaf}?" in str(refused.value), (model, path)
            where = str(refused.value).split(f"{wrong}:")[0]
            assert where.replace("[0]", "").rstrip(".") == head, (model, path, str(refused.value))


def test_a_far_off_name_lists_the_known_fields_and_a_renamed_one_says_its_new_name():
    assert unknown_field("colour", ["app", "markets"]) == "colour: unknown field; known: app, markets"
    with pytest.raises(RequestError, match=r"^constraints\.levels: unknown field; it is now called target_shares$"):
        parse(OptimiseRequest, {"app": "facebook", "constraints": {"levels": [1.0]}})


def test_a_bad_value_is_named_by_its_path_and_a_union_by_its_field():
    with pytest.raises(RequestError, match=r"^plan\[1\]\.share: Input should be less than or equal to 1$"):
        parse(ForecastHistoryRequest, {"app": "x", "plan": [{"week": "2026-11-02", "share": 1},
                                                               {"week": "2026-11-09", "share": 2}]})
    with pytest.raises(RequestError, match=r"^risk: "):
        parse(OptimiseRequest, {"app": "x", "risk": "cautious"})
    with pytest.raises(RequestError, match=r"^body: Input should be a valid dictionary"):
        parse(AttributionRequest, [1, 2])


def test_every_request_model_is_a_strict_request():
    for model in BODIES:
        for path_model in [model, *[m for info in model.model_fields.values() for m in nested_models(info.annotation)]]:
            assert issubclass(path_model, Request) and path_model.model_config["extra"] == "forbid", path_model
