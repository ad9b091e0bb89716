"""Exposure-response transforms shared by the simulator and the model.

Rollout share -> carried-over exposure (a geometric adstock normalised so that a share held
at s converges to exposure s) -> saturating response (a Hill curve normalised so that full
exposure gives 1). Arrays run along their last axis in time.
"""

from __future__ import annotations

import numpy as np


def _checked_carryover(carryover: float | np.ndarray) -> np.ndarray:
    """Carry-over(s) as floats, or ValueError outside [0, 1)."""
    carryover = np.asarray(carryover, dtype=float)
    if not np.all((0.0 <= carryover) & (carryover < 1.0)):
        raise ValueError(f"carryover must be in [0, 1), got {carryover}")
    return carryover


def adstock(share: np.ndarray, carryover: float | np.ndarray, initial: np.ndarray | float = 0.0) -> np.ndarray:
    """Exposure e_t = carryover * e_{t-1} + (1 - carryover) * share_t, from e_{-1} = `initial`.

    `carryover` in [0, 1): 0 is no memory; 0.75 reaches 90% of a new level after 8 weeks.
    Works for withdrawals too: exposure decays when the share falls. `initial` (the exposure
    reached before the first week, one value per series) continues a history into a forecast.
    An array of carry-overs broadcasts against `share` without its time axis (several at once).
    """
    carryover = _checked_carryover(carryover)
    share = np.asarray(share, dtype=float)
    shape = np.broadcast_shapes(share.shape[:-1], carryover.shape)
    share = np.broadcast_to(share, shape + share.shape[-1:])
    initial = np.broadcast_to(np.asarray(initial, dtype=float), shape)
    if share.shape[-1] == 0:
        return np.empty(share.shape)
    if carryover.ndim == 0:
        return _recursion(share, float(carryover), initial)
    carryover = np.broadcast_to(carryover, shape)
    exposure = np.empty(share.shape)
    for value in np.unique(carryover):          # one filter per distinct carry-over
        rows = carryover == value
        exposure[rows] = _recursion(share[rows], float(value), initial[rows])
    return exposure


def _recursion(share: np.ndarray, carryover: float, initial: np.ndarray) -> np.ndarray:
    """e_t = c e_{t-1} + (1 - c) s_t along the last axis, as a first-order IIR filter: the same
    two products and one sum per step as the loop it replaces, so the same bits, in compiled code."""
    from scipy.signal import lfilter        # here: scipy.signal takes most of a second to import
    return lfilter([1.0 - carryover], [1.0, -carryover], share, axis=-1,
                          zi=(carryover * initial)[..., None])[0]


def adstock_operator(carryover: np.ndarray, weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """`adstock` over `weeks` weeks as a linear map, for many short paths at once (a forecast's):
    with weights[k, s, t] = (1 - c_k) c_k^(t - s) for s <= t (0 otherwise) and decay[k, t] =
    c_k^(t + 1), the exposure under carry-over c_k is share @ weights[k] + initial * decay[k].

    One matrix product instead of a step per week: the same numbers to rounding (about 1e-15),
    and the top-left corner of a longer operator is the operator of fewer weeks.
    """
    carryover = _checked_carryover(carryover).reshape(-1)
    lag = np.arange(weeks)[None, :] - np.arange(weeks)[:, None]          # t - s
    c = carryover[:, None, None]
    weights = np.where(lag >= 0, (1.0 - c) * c ** np.maximum(lag, 0), 0.0)
    decay = carryover[:, None] ** np.arange(1, weeks + 1)
    return weights, decay


def hill(exposure: np.ndarray, half_saturation: float, hill_exponent: float) -> np.ndarray:
    """Saturating response in [0, 1] with hill(0) = 0 and hill(1) = 1.

    `half_saturation` is where the un-normalised curve reaches half its maximum; smaller means
    earlier saturation. `hill_exponent` > 0 sets how steep the curve is. Both may be arrays that
    broadcast against `exposure` (several curves at once).
    """
    if np.any(np.asarray(half_saturation) <= 0) or np.any(np.asarray(hill_exponent) <= 0):
        raise ValueError("half_saturation and hill_exponent must be positive")
    exposure = np.clip(np.asarray(exposure, dtype=float), 0.0, None)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        x, k = exposure**hill_exponent, np.power(half_saturation, hill_exponent)
        value = x / (x + k) * (1.0 + k)
        if np.all(np.isfinite(value)):
            return value
        # steep curves overflow x^n or k^n (inf / inf): the same ratio in logs
        log_x, log_k = hill_exponent * np.log(exposure), hill_exponent * np.log(half_saturation)
        stable = np.exp(log_x + np.logaddexp(0.0, log_k) - np.logaddexp(log_x, log_k))
    return np.where(np.isfinite(value), value, stable)


def rollout_response(share: np.ndarray, carryover: float, half_saturation: float,
                     hill_exponent: float) -> np.ndarray:
    """hill(adstock(share)): the 0..1 response that multiplies an effect size."""
    return hill(adstock(share, carryover), half_saturation, hill_exponent)


def lift_response(share: np.ndarray, first: np.ndarray, last: np.ndarray, test: np.ndarray, reference: np.ndarray,
                  carryover: float, half_saturation: float, hill_exponent: float) -> np.ndarray:
    """What lift tests add to the response, one per row of `share` (tests x weeks: each test's
    market's shares): from week `first` both arms leave those shares, the test arm for `test`
    and the reference arm for `reference`; the result is the mean over weeks `first`..`last` of
    the test arm's `rollout_response` less the reference's."""
    share = np.asarray(share, dtype=float)
    weeks = np.arange(share.shape[-1])
    during = weeks >= np.asarray(first)[:, None]
    arms = np.stack([np.where(during, np.asarray(test, dtype=float)[:, None], share),
                     np.where(during, np.asarray(reference, dtype=float)[:, None], share)], axis=1)
    response = rollout_response(arms, carryover, half_saturation, hill_exponent)
    inside = during & (weeks <= np.asarray(last)[:, None])
    return np.sum((response[:, 0] - response[:, 1]) * inside, axis=1) / inside.sum(axis=1)

