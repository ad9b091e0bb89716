"""Rollout plans: from plan points (`training.requests.PlanPoint`) to the share array a forecast takes.

A plan point sets the rollout share from its week on, for its markets (default: every chosen
market), in one step or, with `ramp_weeks` r > 1, in r equal weekly steps from the share the
week before: share(week + k) = before + (share - before)(k + 1)/r for k < r (the optimiser's
ramps, `training.optimiser.candidates.share_row`). Weeks before the first point keep the status
quo (each market's last observed share). Points apply in week order, so a later point
overrides an earlier one from its week.
Every check raises `PlanError` with a message that names the field and the reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class PlanError(ValueError):
    """A plan that cannot be applied; the message says which field and why."""


def parse_week(value: str, field: str) -> pd.Timestamp:
    """A Monday from an ISO date string, or PlanError."""
    try:
        week = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        week = pd.NaT
    if week is pd.NaT:          # also "" and "NaT", which pandas reads as no date
        raise PlanError(f"{field}: '{value}' is not a date (use YYYY-MM-DD)")
    if week.tzinfo is not None or week != week.normalize():
        raise PlanError(f"{field}: '{value}' must be a plain date (YYYY-MM-DD)")
    if week.day_of_week != 0:
        raise PlanError(f"{field}: {week:%Y-%m-%d} is a {week:%A}; weeks start on Mondays")
    return week


def plan_shares(status_quo: np.ndarray, markets: list[str], weeks: pd.DatetimeIndex,
                points: list) -> np.ndarray:
    """The markets x weeks shares of a plan, starting from the status quo (`weeks`: consecutive Mondays)."""
    shares = np.array(status_quo, dtype=float, copy=True)
    first, last = weeks[0], weeks[-1]
    position = {m: i for i, m in enumerate(markets)}
    parsed = []
    for n, point in enumerate(points):
        field = f"plan[{n}]"
        week = parse_week(point.week, f"{field}.week")
        if week < first:
            raise PlanError(f"{field}.week: {week:%Y-%m-%d} is before the forecast starts ({first:%Y-%m-%d})")
        if week > last:
            raise PlanError(f"{field}.week: {week:%Y-%m-%d} is after the last forecast week ({last:%Y-%m-%d}); "
                            "raise horizon_weeks to reach it")
        share = float(point.share)
        chosen = list(point.markets) if point.markets else markets
        unknown = [m for m in chosen if m not in position]
        if unknown:
            raise PlanError(f"{field}.markets: {', '.join(map(str, unknown))} not among the chosen markets "
                            f"({', '.join(markets)})")
        parsed.append(((week - first).days // 7, n, share, [position[m] for m in chosen], point.ramp_weeks))
    for start, _, share, rows, ramp in sorted(parsed, key=lambda p: (p[0], p[1])):
        before = shares[rows, start - 1] if start > 0 else np.asarray(status_quo, dtype=float)[rows, 0]
        for k in range(min(ramp - 1, len(weeks) - start)):
            shares[rows, start + k] = before + (share - before) * (k + 1) / ramp
        shares[rows, start + ramp - 1:] = share
    return shares
