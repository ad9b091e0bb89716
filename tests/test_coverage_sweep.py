"""Issue 3's statistical acceptance over many simulated worlds (slow: `make test-slow`).

- 20 seeds with the effect: the 90% interval for incremental minutes covers the truth in
  85-97% of (seed, app) cases, and the median relative error is at most 10%.
- 20 null worlds: the 90% interval contains zero in at least 85% of (seed, app) cases.
"""

from __future__ import annotations

import numpy as np
import pytest

from data import simulate_world
from training.arrays import app_panels, seasonal_basis
from training.attribution import attribution_draws, incremental
from training.effects import DEFAULT_GRID, bootstrap_effects, estimate_effects, market_bootstrap_weights, select_shape

pytestmark = pytest.mark.slow


def attributed_minutes(seed: int, null: bool) -> list[tuple[float, float, float, float]]:
    """(estimate, lo, hi, truth) of incremental minutes per app for one world."""
    world = simulate_world(seed=seed, null=null)
    rows = []
    for app, panel in app_panels(world.panel).items():
        basis = seasonal_basis(panel.weeks, panel.weeks[0], 2)
        shape, _ = select_shape(panel, basis)
        response = shape.response(panel.share)
        estimate = estimate_effects(panel, response, basis)
        draws = bootstrap_effects(panel, list(DEFAULT_GRID), basis,
                                  market_bootstrap_weights(len(panel.markets), 200, np.random.default_rng(seed)))
        samples = attribution_draws(panel, draws, list(DEFAULT_GRID))["minutes"]
        lo, hi = np.quantile(samples, [0.05, 0.95])
        point = incremental(panel.minutes, estimate.log_minutes, response).sum()
        rows.append((point, lo, hi, world.truth["incremental"][app]["minutes"]))
    return rows


def test_interval_coverage_and_error_over_20_seeds():
    rows = np.array([r for seed in range(1, 21) for r in attributed_minutes(seed, null=False)])
    covered = (rows[:, 1] <= rows[:, 3]) & (rows[:, 3] <= rows[:, 2])
    error = np.abs(rows[:, 0] / rows[:, 3] - 1)
    assert 0.85 <= covered.mean() <= 0.97, covered.mean()
    assert np.median(error) <= 0.10, np.median(error)


def test_null_worlds_interval_contains_zero():
    rows = np.array([r for seed in range(101, 121) for r in attributed_minutes(seed, null=True)])
    contains_zero = (rows[:, 1] <= 0) & (0 <= rows[:, 2])
    assert contains_zero.mean() >= 0.85, contains_zero.mean()
