"""Rolling-origin backtests of the baselines on the default world's zero-rollout series."""

from __future__ import annotations

import numpy as np
import pytest

from training.arrays import app_panels
from training.backtest import conformal_quantile, rolling_origin_backtest


def test_conformal_quantile_is_the_finite_sample_rank():
    scores = np.arange(1, 20, dtype=float)            # 19 scores: rank ceil(20 * 0.9) = 18
    assert conformal_quantile(scores, 0.9) == 18.0


@pytest.mark.parametrize("app", ["facebook", "instagram", "whatsapp"])
def test_baseline_beats_seasonal_naive_at_13_weeks(default_world, app):
    panel = app_panels(default_world.counterfactual)[app]    # the zero-rollout series
    series = np.stack([panel.log_time, panel.log_dau, panel.log_revenue])
    result = rolling_origin_backtest(series, panel.weeks, horizon=13, n_origins=8)
    assert len(result.origins) == 8
    for quantity in ("minutes", "revenue"):
        assert result.mase[quantity] < result.mase_seasonal_naive[quantity], (quantity, result.mase)
    assert len(result.noise_scale["minutes"]) == 13 and min(result.noise_scale["minutes"]) > 0
