"""Rollout candidates: each market's possible moves as share rows, and plan points from them.

A candidate takes one market from its status-quo share s0 to a target share l (one of the
allowed `target_shares`), starting in week `start` and rising by equal steps over `ramp` weeks, the
fewest `max_step` allows: ramp = ceil((l - s0) / max_step). A decrease (only with
`allow_decrease`) happens in one week. Before `start` the share stays s0. A plan chooses at
most one candidate per market; a market without one keeps its status quo.

Start weeks run every week from the market's earliest allowed week, or every k weeks when
markets x weeks x target shares would exceed `MAX_CANDIDATES` (k is reported with the answer), which
bounds the work of valuing them on every sample path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from training.requests import PlanPoint

MAX_CANDIDATES = 4000
SAME_SHARE = 1e-9            # a target this close to the status quo is no move


@dataclass
class Candidates:
    """Every candidate of every market (arrays over candidates, `shares` candidates x weeks)."""

    markets: list[str]           # the markets a plan may change; `market` holds positions in it
    status_quo: np.ndarray       # markets: the share each holds now
    market: np.ndarray
    start: np.ndarray            # week index of the first change
    level: np.ndarray            # target share
    ramp: np.ndarray             # weeks the change takes
    shares: np.ndarray
    start_every: int             # weeks between candidate starts

    def __len__(self) -> int:
        return len(self.market)

    @cached_property
    def rises(self) -> np.ndarray:
        """Candidates x weeks: whether the share rises that week (a launch, in the launch limit)."""
        before = np.concatenate([self.status_quo[self.market][:, None], self.shares[:, :-1]], axis=1)
        return self.shares > before + SAME_SHARE

    def of_market(self, position: int) -> np.ndarray:
        return np.flatnonzero(self.market == position)

    def points(self, selection: np.ndarray, weeks: pd.DatetimeIndex) -> list[PlanPoint]:
        """The plan points (the /forecast `plan`) of the selected candidates: one point per market
        and week its share changes, so `plan_shares` rebuilds exactly these rows."""
        points = []
        for c in selection:
            row, market = self.shares[c], self.markets[self.market[c]]
            for t in range(self.start[c], min(self.start[c] + self.ramp[c], len(weeks))):
                points.append((t, market, PlanPoint(week=str(weeks[t].date()), share=float(row[t]), markets=[market])))
        return [point for _, _, point in sorted(points, key=lambda p: (p[0], p[1]))]


def share_row(status_quo: float, level: float, start: int, ramp: int, horizon: int) -> np.ndarray:
    """A market's shares over the horizon: s0 before `start`, then `ramp` equal steps to `level`."""
    row = np.full(horizon, status_quo, dtype=float)
    for k in range(ramp):
        if start + k < horizon:
            row[start + k] = status_quo + (level - status_quo) * (k + 1) / ramp
    row[start + ramp:] = level
    return row


def ramp_weeks(status_quo: float, level: float, max_step: float) -> int:
    """Weeks to go from `status_quo` to `level` rising at most `max_step` a week (a decrease: 1)."""
    if level <= status_quo:
        return 1
    return max(1, math.ceil((level - status_quo) / max_step - SAME_SHARE))


def market_targets(status_quo: float, target_shares: list[float], allow_decrease: bool) -> list[float]:
    """The targets a market at `status_quo` may move to."""
    return [lv for lv in sorted(target_shares)
            if abs(lv - status_quo) > SAME_SHARE and (lv > status_quo or allow_decrease)]


def build_candidates(markets: list[str], status_quo: np.ndarray, horizon: int, target_shares: list[float],
                     max_step: float, allow_decrease: bool, earliest: dict[str, int],
                     fixed: set[str]) -> Candidates:
    """Every candidate of the markets that may change (`earliest`: market -> first week index a
    rise may start; `fixed` markets get none)."""
    moves = {i: market_targets(float(status_quo[i]), target_shares, allow_decrease) if m not in fixed else []
             for i, m in enumerate(markets)}
    slots = sum(len(targets) * (horizon - earliest.get(markets[i], 0)) for i, targets in moves.items())
    every = max(1, math.ceil(slots / MAX_CANDIDATES))
    rows = []
    for i, targets in moves.items():
        s0 = float(status_quo[i])
        for level in targets:
            ramp = ramp_weeks(s0, level, max_step)
            for start in range(earliest.get(markets[i], 0), horizon, every):
                rows.append((i, start, level, ramp))
    if not rows:
        return Candidates(markets, status_quo, np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0, int),
                          np.zeros((0, horizon)), every)
    market, start, level, ramp = (np.array(column) for column in zip(*rows))
    shares = np.array([share_row(float(status_quo[i]), lv, s, r, horizon) for i, s, lv, r in rows])
    return Candidates(markets, status_quo, market, start, level.astype(float), ramp, shares, every)
