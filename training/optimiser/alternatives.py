"""The plans a chosen plan is held against: what a planner would do without an optimiser.

- `status_quo`: every market keeps its share (no candidate).
- `everything_now`: every market that may change goes to the highest allowed target share at
  its earliest allowed week, at the fastest ramp (it may break a launch limit or the exposure
  cap; the answer says which).
- `largest_first`: markets in order of DAU, each to the highest target at the earliest week
  at which it fits the launch limit and the exposure cap and is not before the previous
  market's start, so the constraints set the pace; a market that never fits keeps its share.
"""

from __future__ import annotations

import numpy as np

from training.optimiser.candidates import Candidates
from training.optimiser.program import Limits


def status_quo(candidates: Candidates) -> np.ndarray:
    return np.zeros(0, dtype=int)


def _top_level(candidates: Candidates, position: int) -> np.ndarray:
    """The market's candidates at its highest target share, earliest start first."""
    own = candidates.of_market(position)
    if not len(own):
        return own
    top = own[candidates.level[own] == candidates.level[own].max()]
    return top[np.argsort(candidates.start[top], kind="stable")]


def everything_now(candidates: Candidates) -> np.ndarray:
    chosen = [top[0] for i in range(len(candidates.markets)) if len(top := _top_level(candidates, i))]
    return np.array(chosen, dtype=int)


def largest_first(candidates: Candidates, size: np.ndarray, added: np.ndarray, limits: Limits) -> np.ndarray:
    """`size`: each market's DAU (the order); `added`: candidates x weeks added exposed DAU."""
    launches = np.zeros(candidates.shares.shape[1])
    exposure = np.zeros(candidates.shares.shape[1])
    chosen, not_before = [], 0
    for position in np.argsort(-size, kind="stable"):
        for c in _top_level(candidates, position):
            if candidates.start[c] < not_before:
                continue
            rises = candidates.rises[c]
            if limits.max_launches_per_week is not None and (launches + rises > limits.max_launches_per_week).any():
                continue
            if limits.room is not None and (exposure + added[c] > limits.room).any():
                continue
            chosen.append(c)
            launches += rises
            exposure += added[c]
            not_before = candidates.start[c]
            break
    return np.array(chosen, dtype=int)
