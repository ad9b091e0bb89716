"""Attribution: what the rollout added to observed minutes and ad revenue.

With a log effect `b` at full exposure and the 0..1 response `x`, the zero-rollout level of an
observed value `y` is y * exp(-b x), so the rollout added y * (1 - exp(-b x)). Bootstrap draws
of the effects (each with its own response shape) give the interval for any sum of those.
"""

from __future__ import annotations

import numpy as np

from training.arrays import AppPanel
from training.effects import ResponseShape


def incremental(observed: np.ndarray, log_effect: float, response: np.ndarray) -> np.ndarray:
    """The part of `observed` the rollout caused."""
    return observed * (1.0 - np.exp(-log_effect * response))


def attribution_draws(app_panel: AppPanel, draws: dict[str, np.ndarray],
                      shapes: list[ResponseShape]) -> dict[str, np.ndarray]:
    """Total incremental minutes and ad revenue over the history, one value per bootstrap draw."""
    responses = {i: shapes[i].response(app_panel.share) for i in np.unique(draws["shape_index"])}
    minutes, revenue = [], []
    for b, i in enumerate(draws["shape_index"]):
        log_minutes = draws["log_time"][b] + draws["log_dau"][b]
        log_revenue = draws["revenue_elasticity"][b] * log_minutes + draws["direct_log_revenue"][b]
        minutes.append(incremental(app_panel.minutes, log_minutes, responses[i]).sum())
        revenue.append(incremental(app_panel.revenue, log_revenue, responses[i]).sum())
    return {"minutes": np.array(minutes), "ad_revenue_usd": np.array(revenue)}
