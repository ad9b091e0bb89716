"""Joint sample paths: effect draws x baseline forecast errors, and what is read off them.

One path pairs one bootstrap draw of the effects with one
forecast-error path of every series of the app (weeks resampled together across markets). A
plan and the status quo are evaluated on the same paths, so their difference (the incremental
part) is a path too, and every sum over markets and weeks is summed path by path before its
quantiles are taken: the interval of a total is an interval for that total.
"""

from __future__ import annotations

import numpy as np

from data.calendar import DAYS_PER_WEEK

QUANTITIES = ("time_spent_min", "dau", "minutes", "ad_revenue_usd")
ADDITIVE = ("dau", "minutes", "ad_revenue_usd")   # summed over markets; time per DAU is their ratio
VALUED = ("minutes", "ad_revenue_usd")   # the totals a plan is valued in and a backtest scores
EFFECT_NAMES = ("log_time", "log_dau", "revenue_elasticity", "direct_log_revenue")   # the effect parameters


def slopes(params: dict) -> dict[str, np.ndarray]:
    """Log effect at full response on each quantity, from effect parameters (arrays or floats).

    Revenue moves with total minutes through the elasticity ("via engagement") and directly.
    """
    minutes = np.asarray(params["log_time"]) + np.asarray(params["log_dau"])
    via_engagement = np.asarray(params["revenue_elasticity"]) * minutes
    return {"time_spent_min": np.asarray(params["log_time"]), "dau": np.asarray(params["log_dau"]),
            "minutes": minutes, "via_engagement": via_engagement,
            "ad_revenue_usd": via_engagement + np.asarray(params["direct_log_revenue"])}


def point_weights(draws: dict[str, np.ndarray], n_shapes: int,
                  markets: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per quantity, the weight of each shape in the mean over draws: sum of the slopes of the
    draws under shape k, over the number of draws (a vector over the `n_shapes` shapes); with
    `markets` (markets x draws: each market's relative effect in each draw), per market
    (markets x shapes)."""
    index, count = draws["shape_index"], len(draws["shape_index"])
    if markets is None:
        return {name: np.bincount(index, weights=slope, minlength=n_shapes) / count
                for name, slope in slopes(draws).items()}
    of_shape = np.eye(n_shapes)[index]                                   # draws x shapes
    return {name: (markets * slope) @ of_shape / count for name, slope in slopes(draws).items()}


def mean_log_effects(draws: dict[str, np.ndarray], responses: np.ndarray,
                     markets: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The point log effects: the mean over the draws of each draw's slope times its own shape's
    response (and, with `markets`, its market's relative effect in that draw; responses then
    markets x ... x shapes). `responses` is (..., shapes) in the order `draws["shape_index"]`
    points into; the result drops that axis. The centre of the paths (`path_log_effects`), so
    a point and its band are one model."""
    weights = point_weights(draws, responses.shape[-1], markets)
    if markets is None:
        return {name: responses @ w for name, w in weights.items()}
    return {name: np.einsum("m...s,ms->m...", responses, w) for name, w in weights.items()}


def path_log_effects(draws: dict[str, np.ndarray], response: np.ndarray, point: dict[str, np.ndarray],
                     factor: float, quantities: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Log effects per path (markets x weeks x paths), widened `factor` times around `point`.

    `response` (markets x weeks x paths) is each draw's response under its own shape, so the
    paths carry the uncertainty of carry-over and saturation as well as of the effect sizes;
    `factor` (from the max-t over shapes) widens them around `point`, their mean. Computed as
    factor * slope * response + (1 - factor) * point, only for `quantities` (default all).
    """
    dtype = response.dtype
    out = {}
    for name, slope in slopes(draws).items():
        if quantities is not None and name not in quantities:
            continue
        if name == "minutes" and "time_spent_min" in out and "dau" in out:
            out[name] = out["time_spent_min"] + out["dau"]          # the same sum, one operation
            continue
        widened = response * (factor * slope).astype(dtype)
        widened += ((1.0 - factor) * point[name]).astype(dtype)
        out[name] = widened
    return out


def baseline_logs(base: np.ndarray) -> dict[str, np.ndarray]:
    """Baseline logs per quantity from (time per DAU, DAU, revenue) on axis 0."""
    return {"time_spent_min": base[0], "dau": base[1],
            "minutes": base[0] + base[1] + np.asarray(np.log(DAYS_PER_WEEK), dtype=base.dtype),
            "ad_revenue_usd": base[2]}


def combined_levels(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The markets (axis 0) together: summed DAU, minutes and revenue; time per DAU-day."""
    return with_time_per_dau({q: values[q].sum(axis=0) for q in ADDITIVE})


def with_time_per_dau(sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Summed DAU, minutes and revenue with the time per DAU-day they imply."""
    return {"time_spent_min": sums["minutes"] / (DAYS_PER_WEEK * sums["dau"]), **sums}


def interval(paths: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The central `level` interval over the last (paths) axis (numpy's linear quantiles).

    A full sort of the short paths axis is several times faster than np.quantile's partition.
    """
    ordered = np.sort(paths, axis=-1)
    tail = (1.0 - level) / 2.0
    return _at(ordered, tail), _at(ordered, 1.0 - tail)


def _at(ordered: np.ndarray, q: float) -> np.ndarray:
    position = q * (ordered.shape[-1] - 1)
    below = int(np.floor(position))
    above = min(below + 1, ordered.shape[-1] - 1)
    weight = position - below
    return ordered[..., below] * (1.0 - weight) + ordered[..., above] * weight
