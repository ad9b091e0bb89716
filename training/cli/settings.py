"""`impact train --set key=value`: model parameters from text, each parsed by its type."""

from __future__ import annotations

from training.cli.common import fail

NOT_SETTABLE = {"seed": "use --seed"}


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("needs true or false")


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("needs a whole number") from None


def _parse_grid(text: str) -> tuple:
    """A JSON list of [carryover, half_saturation, hill_exponent] triples."""
    import json

    from training.model.effects import ResponseShape
    try:
        points = json.loads(text)
        return tuple(ResponseShape(*map(float, point)) for point in points)
    except (ValueError, TypeError):
        raise ValueError("needs a JSON list of [carryover, half_saturation, hill_exponent] triples, "
                         "e.g. [[0.7,0.35,1.5],[0.5,0.6,1.0]]") from None


def _parse_known_breaks(text: str) -> tuple[str, ...]:
    """Comma-separated app:quantity:first:last spans (see `backtest.parse_known_break`)."""
    from training.model.backtest import parse_known_break
    breaks = tuple(item.strip() for item in text.split(",") if item.strip())
    for item in breaks:
        parse_known_break(item)
    return breaks


PARSERS_BY_NAME = {"grid": _parse_grid, "known_breaks": _parse_known_breaks, "n_jobs": _parse_int}


def settable_parameters() -> dict:
    """`--set` keys and their parsers, from the model's own parameters and their default types."""
    from training.model.estimator import ImpactModel
    parsers = {bool: _parse_bool, int: _parse_int}
    return {key: PARSERS_BY_NAME.get(key) or parsers[type(default)]
            for key, default in ImpactModel().get_params().items() if key not in NOT_SETTABLE}


def parse_settings(settings: list[str]) -> dict:
    """`--set key=value` model parameters, each parsed by its type; exit 2 with one line if wrong."""
    parsers = settable_parameters()
    params = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if key in NOT_SETTABLE:
            fail(f"--set {item}: {key} is not set with --set ({NOT_SETTABLE[key]})")
        if not sep or key not in parsers:
            fail(f"--set {item}: use key=value with key one of {', '.join(parsers)}")
        try:
            params[key] = parsers[key](value)
        except ValueError as exc:
            fail(f"--set {item}: {key} {exc}")
    return params
