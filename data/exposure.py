"""Exposure-response transforms shared by the simulator and the model.

Rollout share -> carried-over exposure (a geometric adstock normalised so that a share held
at s converges to exposure s) -> saturating response (a Hill curve normalised so that full
exposure gives 1). Arrays run along their last axis in time.
"""

from __future__ import annotations

import numpy as np


def adstock(share: np.ndarray, carryover: float | np.ndarray, initial: np.ndarray | float = 0.0) -> np.ndarray:
    """Exposure e_t = carryover * e_{t-1} + (1 - carryover) * share_t, from e_{-1} = `initial`.

    `carryover` in [0, 1): 0 is no memory; 0.75 reaches 90% of a new level after 8 weeks.
    Works for withdrawals too: exposure decays when the share falls. `initial` (the exposure
    reached before the first week, one value per series) continues a history into a forecast.
    An array of carry-overs broadcasts against `share` without its time axis (several at once).
    """
    carryover = np.asarray(carryover, dtype=float)
    if not np.all((0.0 <= carryover) & (carryover < 1.0)):
        raise ValueError(f"carryover must be in [0, 1), got {carryover}")
    share = np.asarray(share, dtype=float)
    shape = np.broadcast_shapes(share.shape[:-1], carryover.shape)
    exposure = np.empty(shape + share.shape[-1:])
    level = np.broadcast_to(np.asarray(initial, dtype=float), shape).copy()
    keep, add = carryover, 1.0 - carryover
    for t in range(share.shape[-1]):
        level = keep * level + add * share[..., t]
        exposure[..., t] = level
    return exposure


def hill(exposure: np.ndarray, half_saturation: float, hill_exponent: float) -> np.ndarray:
    """Saturating response in [0, 1] with hill(0) = 0 and hill(1) = 1.

    `half_saturation` is where the un-normalised curve reaches half its maximum; smaller means
    earlier saturation. `hill_exponent` > 0 sets how steep the curve is. Both may be arrays that
    broadcast against `exposure` (several curves at once).
    """
    if np.any(np.asarray(half_saturation) <= 0) or np.any(np.asarray(hill_exponent) <= 0):
        raise ValueError("half_saturation and hill_exponent must be positive")
    x = np.clip(np.asarray(exposure, dtype=float), 0.0, None) ** hill_exponent
    k = half_saturation ** hill_exponent
    return x / (x + k) * (1.0 + k)


def rollout_response(share: np.ndarray, carryover: float, half_saturation: float,
                     hill_exponent: float) -> np.ndarray:
    """hill(adstock(share)): the 0..1 response that multiplies an effect size."""
    return hill(adstock(share, carryover), half_saturation, hill_exponent)
