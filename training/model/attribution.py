"""Attribution: what the rollout added to observed minutes and ad revenue.

With a log effect L (effect at full exposure times the 0..1 response) the zero-rollout level
of an observed value y is y * exp(-L), so the rollout added y * (1 - exp(-L)). Revenue splits
into "via engagement" (what the extra minutes earn through the elasticity) and "direct" (the
rest), the same split the simulator's truth uses.
"""

from __future__ import annotations

import numpy as np


def incremental(observed: np.ndarray, log_effect: np.ndarray) -> np.ndarray:
    """The part of `observed` the rollout caused, given its log effect (effect size x response)."""
    return observed * -np.expm1(-log_effect)


def attribution_paths(minutes: np.ndarray, revenue: np.ndarray, effects: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Incremental minutes and revenue (and its split) per path, from `paths` log effects.

    `minutes` and `revenue` are the observed markets x weeks; effects are markets x weeks x paths.
    """
    minutes, revenue = minutes[..., None], revenue[..., None]
    counterfactual_revenue = revenue * np.exp(-effects["ad_revenue_usd"])
    added_revenue = revenue - counterfactual_revenue
    via_engagement = counterfactual_revenue * np.expm1(effects["via_engagement"])
    return {"minutes": incremental(minutes, effects["minutes"]),
            "ad_revenue_usd": added_revenue,
            "via_engagement": via_engagement,
            "direct": added_revenue - via_engagement}
